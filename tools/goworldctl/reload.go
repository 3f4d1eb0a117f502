package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/goworld-engine/goworld/internal/proc"
)

// reloadOptions are the flags of reload.
type reloadOptions struct {
	timeout time.Duration // per process, for readiness and for exits
	noBuild bool          // use DIR/bin as it is
}

// freezeMargin is added to a game's freeze_timeout to bound the wait for
// its freeze result: the game aborts its own freeze at freeze_timeout and
// says so in the result file, so the margin only covers a game that does
// not answer at all.
const freezeMargin = 2 * time.Second

// resultPoll bounds the interval at which reload looks for the freeze
// result: the game is paused meanwhile, so it starts at a millisecond.
const resultPoll = 10 * time.Millisecond

// reload hot-reloads the games of c with the binary in DIR/bin (built
// first unless o.noBuild), one at a time in ID order, so that each game's
// pause stays short and the players of the other games never wait, and a
// bad build is caught on the first game while the others still run the
// old one. For each game: SIGUSR1, wait for its freeze result, wait for
// it to exit, start the new binary with -restore-from; if that fails,
// start the binary the game ran before, from the same file, and stop. See
// docs/hot-reload.md.
func reload(ctx context.Context, out, errOut io.Writer, c *cluster, o reloadOptions) error {
	if err := reloadUnsupported(); err != nil {
		return err
	}
	var games []process
	for _, p := range c.ProcsOf(roleGame) {
		if c.Local(p) {
			games = append(games, p)
		}
	}
	if len(games) == 0 {
		return fmt.Errorf("%s configures no game%s: nothing to reload", c.ConfigPath, onHost(c.Host))
	}
	// Refuse at once, before building, what cannot work.
	for _, p := range games {
		if err := checkGame(c, p); err != nil {
			return err
		}
	}
	if _, err := liveDispatchers(c); err != nil {
		return err
	}

	lock, err := proc.AcquirePIDFile(filepath.Join(c.Dir, "run", "reload.lock"))
	if errors.Is(err, proc.ErrAlreadyRunning) {
		return fmt.Errorf("another goworldctl reload runs in %s: %w", c.Dir, err)
	} else if err != nil {
		return err
	}
	defer lock.Release()

	newBin := c.Binary()
	if o.noBuild {
		if _, err := os.Stat(newBin); err != nil {
			return fmt.Errorf("-no-build: %w (run goworldctl build first)", err)
		}
	} else if newBin, err = buildNoting(ctx, out, errOut, c.Dir); err != nil {
		return err
	}
	dispatchers, err := liveDispatchers(c)
	if err != nil {
		return err
	}
	for _, p := range games {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reload interrupted before %s: %w", p.Name, err)
		}
		if err := reloadGame(ctx, out, errOut, c, p, newBin, dispatchers, o); err != nil {
			return err
		}
	}
	return nil
}

// checkGame checks that game p runs and that its binary is known.
func checkGame(c *cluster, p process) error {
	pid, running, err := proc.Probe(c.Paths(p).PIDFile)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", p.Name, err)
	case !running:
		return fmt.Errorf("%s is not running", p.Name)
	}
	if _, err := os.Stat(c.ProcBinary(p)); err != nil {
		return fmt.Errorf("%s (pid %d) runs a binary goworldctl does not know (%w): it was started by an older goworldctl, "+
			"and without it there is nothing to roll back to; restart the cluster with goworldctl stop and start", p.Name, pid, err)
	}
	return nil
}

// liveDispatchers returns the addresses games dial to reach the
// dispatchers, in ID order: for those of this host, from the READY records
// start wrote, after checking that each record describes the dispatcher
// running now; for those of other hosts, from the config (they are not
// probed).
func liveDispatchers(c *cluster) ([]string, error) {
	var addrs []string
	for _, p := range c.ProcsOf(roleDispatcher) {
		if !c.Local(p) {
			addrs = append(addrs, c.dispatcherAddr(p, ""))
			continue
		}
		paths := c.Paths(p)
		pid, running, err := proc.Probe(paths.PIDFile)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		case !running:
			return nil, fmt.Errorf("%s is not running: games cannot freeze or restore without every dispatcher", p.Name)
		}
		r, err := readReadyFile(paths.ReadyFile)
		if err != nil || r.PID != pid || r.Addr == "" {
			return nil, fmt.Errorf("%s (pid %d) was not started by goworldctl start, or its record %s is lost (%v): its address is unknown",
				p.Name, pid, paths.ReadyFile, err)
		}
		addrs = append(addrs, c.dispatcherAddr(p, r.Addr))
	}
	return addrs, nil
}

// reloadGame reloads game p with the binary newBin.
func reloadGame(ctx context.Context, out, errOut io.Writer, c *cluster, p process, newBin string, dispatchers []string, o reloadOptions) error {
	paths := c.Paths(p)
	gc, ok := c.Config.Game(p.ID)
	if !ok {
		return fmt.Errorf("no [%s] in %s", p.Name, c.ConfigPath)
	}
	if err := checkGame(c, p); err != nil {
		return err
	}
	prevBin := c.ProcBinary(p)
	// Copy the new binary next to the old one now, so that copying it is
	// not part of the game's pause.
	nextBin, err := installBinary(newBin, prevBin+".next")
	if err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	defer os.Remove(nextBin) // renamed to prevBin on success; a leftover otherwise

	freezeDir := gc.FreezeDir
	if !filepath.IsAbs(freezeDir) {
		freezeDir = filepath.Join(c.Dir, freezeDir)
	}
	resultFile := proc.FreezeResultPath(freezeDir, p.ID)
	if err := os.Remove(resultFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: removing the last freeze result: %w", p.Name, err)
	}

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reload interrupted before %s: %w", p.Name, err)
	}
	oldPID, err := proc.Signal(paths.PIDFile, freezeSignal)
	if errors.Is(err, proc.ErrNotRunning) {
		return fmt.Errorf("%s is not running", p.Name)
	} else if err != nil {
		return fmt.Errorf("%s: %w", p.Name, err)
	}
	// From here on the game is away: an interrupt must not leave it so.
	ctx = context.WithoutCancel(ctx)
	res, err := waitFreezeResult(resultFile, paths.PIDFile, oldPID, gc.FreezeTimeout+freezeMargin)
	if err != nil {
		return fmt.Errorf("%s (pid %d): %w", p.Name, oldPID, err)
	}
	if !res.OK {
		return fmt.Errorf("%s refused to freeze: %s; it is still serving (pid %d)", p.Name, res.Error, oldPID)
	}
	file := res.File
	if !filepath.IsAbs(file) {
		file = filepath.Join(c.Dir, file) // the game runs in DIR
	}
	// The game exits right after writing its result. One that does not
	// is stuck in its shutdown; the freeze file holds its world.
	if !proc.WaitReleased(paths.PIDFile, oldPID, o.timeout) {
		if _, err := proc.Stop(paths.PIDFile, syscall.SIGKILL, o.timeout); err != nil {
			return fmt.Errorf("%s (pid %d) froze to %s but does not exit, and cannot be killed: %w", p.Name, oldPID, file, err)
		}
		fmt.Fprintf(errOut, "%s (pid %d) froze but was still running after %v; killed it\n", p.Name, oldPID, o.timeout)
	}
	gone := time.Now()
	removeReadyFile(paths)

	// The dispatchers keep the game's packets for restore_timeout after it
	// left: the new binary and, if need be, the previous one must both fit.
	budget := restoreBudget(c)
	restoreArgs := []string{"-restore-from", file}
	s, err := launchRestored(ctx, c, p, nextBin, dispatchers, restoreArgs, min(o.timeout, budget/2))
	if err == nil {
		if err := os.Rename(nextBin, prevBin); err != nil {
			// The new binary runs; only the record of it failed.
			fmt.Fprintf(errOut, "warning: %s: %v (a later reload may roll back to the binary before this one)\n", p.Name, err)
		}
		if err := writeReadyFile(paths.ReadyFile, s.Ready); err != nil {
			fmt.Fprintf(errOut, "warning: %s: %v\n", p.Name, err)
		}
		fmt.Fprintf(out, "reloaded %s pid=%d->%d pause=%.1fms entities=%d freeze_file=%s\n",
			p.Name, oldPID, s.PID, s.Ready.PauseMS, s.Ready.Entities, file)
		if n := s.Ready.RestorePanics; n > 0 {
			// It serves (rolling back now would lose what it has done since),
			// but the reload is not a success.
			return fmt.Errorf("%s was reloaded, but OnRestore panicked for %d of %d entities (see %s): "+
				"the new build's OnRestore is broken; %s serves on with those entities as restored. "+
				"Fix the hook and reload again, or build and reload the previous code; the games after it were not reloaded",
				p.Name, n, s.Ready.RestoreHooks, paths.LogFile, p.Name)
		}
		return nil
	}

	fmt.Fprintf(errOut, "%s: the new binary failed to restore: %v\n", p.Name, err)
	left := budget - time.Since(gone) - time.Second
	rs, rerr := launchRestored(ctx, c, p, prevBin, dispatchers, restoreArgs, max(min(o.timeout, left), time.Second))
	if rerr != nil {
		return fmt.Errorf("%s is down: the new binary failed to restore (above), and so did the previous binary %s: %v\n"+
			"its world is in %s, and the dispatchers keep its packets for restore_timeout (%v) after it left; "+
			"once the cause is fixed, in %s, run\n    %s",
			p.Name, prevBin, rerr, file, budget, c.Dir, strings.Join(append([]string{prevBin}, procArgs(c, p, dispatchers, restoreArgs)...), " "))
	}
	if err := writeReadyFile(paths.ReadyFile, rs.Ready); err != nil {
		fmt.Fprintf(errOut, "warning: %s: %v\n", p.Name, err)
	}
	fmt.Fprintf(out, "rolled back %s to the previous binary (pid %d) pause=%.1fms entities=%d freeze_file=%s\n",
		p.Name, rs.PID, rs.Ready.PauseMS, rs.Ready.Entities, file)
	return fmt.Errorf("reload failed: the new binary could not restore %s (see above); it runs the previous binary again, "+
		"and the games after it were not reloaded", p.Name)
}

// launchRestored starts game p from bin with args (-restore-from FILE) and
// checks that it restored. A process that runs but did not restore is
// killed: it would serve an empty world while the file holds the real one.
func launchRestored(ctx context.Context, c *cluster, p process, bin string, dispatchers, args []string, timeout time.Duration) (*proc.Started, error) {
	s, err := launch(ctx, c, p, bin, dispatchers, args, timeout)
	if err == nil && !s.Ready.Restored {
		err = fmt.Errorf("%s (pid %d) became ready without restoring the freeze file (a binary without hot reload?)", p.Name, s.PID)
	}
	if err != nil && s != nil {
		if _, serr := proc.Stop(c.Paths(p).PIDFile, syscall.SIGKILL, timeout); serr != nil {
			err = fmt.Errorf("%w; stopping it: %v", err, serr)
		}
		select {
		case <-s.Done():
		case <-time.After(timeout):
		}
		return nil, err
	}
	return s, err
}

// restoreBudget is how long the dispatchers wait for a frozen game: the
// smallest restore_timeout among them.
func restoreBudget(c *cluster) time.Duration {
	var budget time.Duration
	for _, d := range c.Config.Dispatchers {
		if budget == 0 || (d.RestoreTimeout > 0 && d.RestoreTimeout < budget) {
			budget = d.RestoreTimeout
		}
	}
	if budget <= 0 {
		budget = time.Minute
	}
	return budget
}

// waitFreezeResult waits until the game holding pidfile as pid writes its
// freeze result to path, and returns it. It fails if the process exits
// without one, or after timeout.
func waitFreezeResult(path, pidfile string, pid int, timeout time.Duration) (proc.FreezeResult, error) {
	deadline := time.Now().Add(timeout)
	poll := time.Millisecond
	for {
		res, err := readFreezeResult(path)
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return res, err
		}
		if cur, running, perr := proc.Probe(pidfile); perr == nil && (!running || cur != pid) {
			// The result is written before the game exits: look once more.
			if res, err := readFreezeResult(path); err == nil {
				return res, nil
			}
			return res, errors.New("exited on SIGUSR1 without a freeze result (a binary without hot reload?); it is down")
		}
		left := time.Until(deadline)
		if left <= 0 {
			return res, fmt.Errorf("no freeze result in %s after %v: the game does not answer SIGUSR1 (a binary without hot reload?); it was left as it is", path, timeout)
		}
		time.Sleep(min(poll, left))
		poll = min(2*poll, resultPoll)
	}
}

// readFreezeResult reads a game's freeze result file.
func readFreezeResult(path string) (proc.FreezeResult, error) {
	var res proc.FreezeResult
	data, err := os.ReadFile(path)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("freeze result %s: %w", path, err)
	}
	return res, nil
}
