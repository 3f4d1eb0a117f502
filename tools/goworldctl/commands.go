package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goworld-engine/goworld/internal/proc"
)

// startOptions are the flags of start.
type startOptions struct {
	timeout time.Duration // per process, for readiness and for clean-up stops
	noBuild bool          // use DIR/bin as it is
	down    bool          // start only the processes that are down
	// progress gets a note when the build is slow (a cold cache);
	// nil: none.
	progress io.Writer
}

// started is a process started by this invocation of start.
type started struct {
	process
	*proc.Started
}

// start builds the server unless told not to, then starts the processes of
// c in order, each waited for until ready. Games and gates get the actual
// addresses of the dispatchers. It refuses to start if any process of the
// cluster runs already. If a process fails, it stops those it started, in
// reverse order, and returns the failure, which carries the failing
// process's log tail.
//
// With o.down, it starts only the processes that are down (after a crash)
// and leaves the running ones alone: games and gates it starts get the
// running dispatchers' addresses from their READY records, each checked
// against the process holding its PID-file lock.
func start(ctx context.Context, out io.Writer, c *cluster, o startOptions) error {
	var live map[string]string // with -down: running dispatcher -> address
	if o.down {
		var err error
		if live, err = runningDispatchers(c); err != nil {
			return err
		}
	} else if running := runningProcs(c); len(running) > 0 {
		return fmt.Errorf("cluster in %s is already running%s (%s); run goworldctl stop first, or start -down to start only what is down",
			c.Dir, onHost(c.Host), strings.Join(running, ", "))
	}
	if o.noBuild {
		if _, err := os.Stat(c.Binary()); err != nil {
			return fmt.Errorf("-no-build: %w (run goworldctl build first)", err)
		}
	} else if _, err := buildNoting(ctx, out, o.progress, c.Dir); err != nil {
		return err
	}
	var todo []process
	for _, p := range c.LocalProcs() {
		if o.down {
			if pid, running, err := proc.Probe(c.Paths(p).PIDFile); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			} else if running {
				fmt.Fprintf(out, "%s already running pid=%d\n", p.Name, pid)
				continue
			}
		}
		removeReadyFile(c.Paths(p)) // from an earlier run: it describes no live process
		todo = append(todo, p)
	}

	var done []started
	// The dispatchers' addresses, in config order (they shard by index):
	// those of other hosts from the config, those of this one as they
	// report when started (or, with -down, reported when they were).
	dispIndex := map[string]int{}
	dispatchers := make([]string, len(c.ProcsOf(roleDispatcher)))
	for i, p := range c.ProcsOf(roleDispatcher) {
		dispIndex[p.Name] = i
		dispatchers[i] = c.dispatcherAddr(p, live[p.Name])
	}
	for _, p := range todo {
		s, err := startProcess(ctx, c, p, dispatchers, o.timeout)
		if s != nil {
			done = append(done, started{p, s})
		}
		if err != nil {
			cleanUp(out, c, done, o.timeout)
			return fmt.Errorf("start failed: %w", err)
		}
		if p.Role == roleDispatcher {
			dispatchers[dispIndex[p.Name]] = c.dispatcherAddr(p, s.Ready.Addr)
		}
		fmt.Fprintf(out, "started %s pid=%d%s%s%s\n", p.Name, s.PID, addrField(s.Ready.Addr), wsField(s.Ready.WSURL), hostField(p.Host))
	}
	return nil
}

// startProcess starts process p, waits until it is ready, checks what it
// reported and records it in DIR/run/NAME.json. Every process runs its own
// copy of the binary, DIR/run/NAME.bin, installed first (see
// cluster.ProcBinary). A non-nil *proc.Started is returned whenever the
// process runs, even with an error.
func startProcess(ctx context.Context, c *cluster, p process, dispatchers []string, timeout time.Duration) (*proc.Started, error) {
	bin, err := installBinary(c.Binary(), c.ProcBinary(p))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	s, err := launch(ctx, c, p, bin, dispatchers, nil, timeout)
	if err != nil {
		return s, err
	}
	if err := writeReadyFile(c.Paths(p).ReadyFile, s.Ready); err != nil {
		return s, err
	}
	return s, nil
}

// launch starts binary bin as process p with the usual flags, the
// dispatchers' addresses (for games and gates) and extra arguments, waits
// until it is ready and checks what it reported. A non-nil *proc.Started is
// returned whenever the process runs, even with an error.
func launch(ctx context.Context, c *cluster, p process, bin string, dispatchers, extra []string, timeout time.Duration) (*proc.Started, error) {
	paths := c.Paths(p)
	s, err := proc.Start(ctx, proc.StartSpec{
		Binary:  bin,
		Args:    procArgs(c, p, dispatchers, extra),
		Dir:     c.Dir,
		Name:    p.Name,
		LogFile: paths.LogFile,
		Timeout: timeout,
	})
	if err != nil {
		return nil, err
	}
	r := s.Ready
	switch {
	case r.Role != p.Role || r.ID != p.ID:
		return s, fmt.Errorf("%s (pid %d) reported itself as %s %d", p.Name, s.PID, r.Role, r.ID)
	case p.Role != roleGame && r.Addr == "":
		return s, fmt.Errorf("%s (pid %d) reported no listen address", p.Name, s.PID)
	}
	return s, nil
}

// procArgs returns the command-line arguments of process p: the usual
// flags, the dispatchers' addresses (for games and gates), then extra.
func procArgs(c *cluster, p process, dispatchers, extra []string) []string {
	paths := c.Paths(p)
	args := []string{
		"-role", p.Role,
		"-id", strconv.Itoa(p.ID),
		"-config", c.ConfigPath,
		"-pidfile", paths.PIDFile,
		"-log", paths.LogFile,
	}
	if p.Role != roleDispatcher && len(dispatchers) > 0 {
		args = append(args, "-dispatchers", strings.Join(dispatchers, ","))
	}
	return append(args, extra...)
}

// cleanUp stops the processes of a failed start, last started first, and
// waits until they are reaped.
func cleanUp(out io.Writer, c *cluster, done []started, timeout time.Duration) {
	for _, s := range slices.Backward(done) {
		paths := c.Paths(s.process)
		res, err := proc.Stop(paths.PIDFile, syscall.SIGTERM, timeout)
		if err != nil {
			fmt.Fprintf(out, "could not stop %s pid=%d: %v\n", s.Name, s.PID, err)
			continue
		}
		select {
		case <-s.Done():
		case <-time.After(timeout):
		}
		removeReadyFile(paths)
		if res.WasRunning {
			fmt.Fprintf(out, "stopped %s pid=%d\n", s.Name, res.PID)
		}
	}
}

// runningDispatchers returns the addresses of the running dispatchers of
// this host, by name, from the READY records start wrote, each checked
// against the process that holds the dispatcher's PID-file lock now.
func runningDispatchers(c *cluster) (map[string]string, error) {
	live := map[string]string{}
	for _, p := range c.ProcsOf(roleDispatcher) {
		if !c.Local(p) {
			continue
		}
		paths := c.Paths(p)
		pid, running, err := proc.Probe(paths.PIDFile)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		case !running:
			continue
		}
		r, err := readReadyFile(paths.ReadyFile)
		if err != nil || r.PID != pid || r.Addr == "" {
			return nil, fmt.Errorf("%s (pid %d) was not started by goworldctl start, or its record %s is lost (%v): its address is unknown",
				p.Name, pid, paths.ReadyFile, err)
		}
		live[p.Name] = r.Addr
	}
	return live, nil
}

// runningProcs returns "NAME (pid N)" for every process of this host that
// runs.
func runningProcs(c *cluster) []string {
	var running []string
	for _, p := range c.LocalProcs() {
		pid, ok, err := proc.Probe(c.Paths(p).PIDFile)
		switch {
		case err != nil:
			running = append(running, fmt.Sprintf("%s (%v)", p.Name, err))
		case ok:
			running = append(running, fmt.Sprintf("%s pid=%d", p.Name, pid))
		}
	}
	return running
}

// status prints one line per process, "NAME running pid=N addr=A" or
// "NAME down", and fails if any is down. In a cluster over several hosts
// each line ends with "host=H", and the processes of other hosts are
// listed as "NAME remote host=H (not probed)": their PID files are on
// their machines; run status there. Under each running process it
// prints, indented, the key figures from its /metrics ("admin=A
// clients=3 ..."), or why there are none; a process whose metrics cannot
// be had is not a failure. With interval > 0 it scrapes twice, interval
// apart, and adds rates and the tick p99 over that interval.
func status(out io.Writer, c *cluster, interval time.Duration) error {
	down := 0
	var errs []error
	type row struct {
		line string
		scr  *scraped // nil for a process that does not run
	}
	var rows []row
	local := 0
	for _, p := range c.Procs {
		host := hostField(p.Host)
		if !c.Local(p) {
			rows = append(rows, row{line: p.Name + " remote" + host + " (not probed)"})
			continue
		}
		local++
		paths := c.Paths(p)
		pid, running, err := proc.Probe(paths.PIDFile)
		switch {
		case err != nil:
			rows = append(rows, row{line: p.Name + " unknown" + host})
			errs = append(errs, err)
		case running:
			addr, ws, admin, known := "", "", "", false
			if r, err := readReadyFile(paths.ReadyFile); err == nil && r.PID == pid {
				addr, ws, admin, known = r.Addr, r.WSURL, r.HTTPAddr, true
			}
			rows = append(rows, row{
				line: fmt.Sprintf("%s running pid=%d%s%s%s", p.Name, pid, addrField(addr), wsField(ws), host),
				scr:  scrapeProcess(p.Role, admin, known),
			})
		default:
			rows = append(rows, row{line: p.Name + " down" + host})
			down++
		}
	}
	if interval > 0 {
		time.Sleep(interval)
		for _, r := range rows {
			if r.scr != nil {
				r.scr.again(interval)
			}
		}
	}
	for _, r := range rows {
		fmt.Fprintln(out, r.line)
		if r.scr != nil {
			fmt.Fprintf(out, "    %s\n", r.scr.String())
		}
	}
	if down > 0 {
		errs = append(errs, fmt.Errorf("%d of %d processes%s down", down, local, onHost(c.Host)))
	}
	return errors.Join(errs...)
}

// stop sends sig to the processes of this host in reverse start order
// (gates, games, dispatchers), each waited for until it exits; after
// timeout a process gets SIGKILL. Processes that do not run are reported,
// not an error; those of other hosts are left alone.
func stop(out io.Writer, c *cluster, sig syscall.Signal, timeout time.Duration) error {
	verb := "stopped"
	if sig == syscall.SIGKILL {
		verb = "killed"
	}
	var errs []error
	for _, p := range slices.Backward(c.LocalProcs()) {
		paths := c.Paths(p)
		res, err := proc.Stop(paths.PIDFile, sig, timeout)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			continue
		case !res.WasRunning:
			fmt.Fprintf(out, "%s not running\n", p.Name)
		case res.Killed:
			fmt.Fprintf(out, "killed %s pid=%d (still running %v after %s)\n", p.Name, res.PID, timeout, sigName(sig))
		default:
			fmt.Fprintf(out, "%s %s pid=%d\n", verb, p.Name, res.PID)
		}
		removeReadyFile(paths)
	}
	return errors.Join(errs...)
}

func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return sig.String()
}

// addrField formats an address for an output line: " addr=A", or nothing
// when there is none (a game).
func addrField(addr string) string {
	if addr == "" {
		return ""
	}
	return " addr=" + addr
}

// hostField formats a process's host for an output line: " host=H", or
// nothing in a cluster on one machine.
func hostField(host string) string {
	if host == "" {
		return ""
	}
	return " host=" + host
}

// onHost is " on host H" for messages, or nothing in a cluster on one
// machine.
func onHost(host string) string {
	if host == "" {
		return ""
	}
	return " on host " + host
}

func wsField(url string) string {
	if url == "" {
		return ""
	}
	return " ws=" + url
}

// writeReadyFile records a process's READY info, atomically.
func writeReadyFile(path string, r proc.ReadyInfo) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readReadyFile reads what writeReadyFile wrote.
func readReadyFile(path string) (proc.ReadyInfo, error) {
	var r proc.ReadyInfo
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	err = json.Unmarshal(data, &r)
	return r, err
}

// removeReadyFile removes a process's READY record. Failing to is harmless:
// status only believes a record whose pid holds the PID file.
func removeReadyFile(paths proc.Paths) {
	os.Remove(paths.ReadyFile)
}

// watchPause is how long watchStatus waits between two statuses without
// -interval.
const watchPause = 2 * time.Second

// watchStatus shows the status of c again and again, each under a line
// with the time, until ctx ends (Ctrl-C): with interval, each shows the
// rates over it; without, one every watchPause. Processes that are down
// are shown as such and watching goes on.
func watchStatus(ctx context.Context, out, errOut io.Writer, c *cluster, interval time.Duration) error {
	for {
		fmt.Fprintf(out, "-- %s\n", time.Now().Format("15:04:05"))
		if err := status(out, c, interval); err != nil {
			fmt.Fprintln(errOut, "goworldctl:", err)
		}
		pause := watchPause
		if interval > 0 {
			pause = 0 // the scrape already took interval
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
