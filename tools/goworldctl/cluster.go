package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/internal/proc"
)

// Process roles, as passed to the server binary's -role flag.
const (
	roleDispatcher = "dispatcher"
	roleGame       = "game"
	roleGate       = "gate"
)

// process is one configured server process.
type process struct {
	Role string // roleDispatcher, roleGame or roleGate
	ID   int    // N of its config section
	Name string // its config section, e.g. "gate1"
	Host string // its host key; empty in a cluster on one machine
}

// cluster is the server directory and its configured processes.
type cluster struct {
	Dir        string         // absolute server directory
	ConfigPath string         // absolute path of the config file
	Config     *config.Config // the loaded config file
	Procs      []process      // in start order: dispatchers, games, gates, each by ID
	// Host is the host this machine is (-host, else $GOWORLD_HOST); empty
	// for a cluster on one machine, whose processes name no host.
	Host string
}

// hostEnv names the environment variable that says which host of the
// config this machine is, when -host is not given.
const hostEnv = "GOWORLD_HOST"

// setHost makes host (the -host flag or $GOWORLD_HOST) the local host of
// c, after checking it against the config: a config that places its
// processes on hosts needs one of them, a config that does not needs none.
func (c *cluster) setHost(host string) error {
	hosts := c.Config.Hosts()
	switch {
	case len(hosts) == 0 && host != "":
		return fmt.Errorf("-host %s (or %s): %s names no hosts, so every process runs on this machine; "+
			"run without -host, or set host in the process sections", clip.Quote(host, 64), hostEnv, c.ConfigPath)
	case len(hosts) > 0 && host == "":
		return fmt.Errorf("%s places its processes on hosts %s: say which one this machine is with -host NAME "+
			"(or %s=NAME in the environment)", c.ConfigPath, strings.Join(hosts, ", "), hostEnv)
	case host != "" && !slices.Contains(hosts, host):
		return fmt.Errorf("-host %s (or %s): no process of %s runs on that host (hosts: %s)",
			clip.Quote(host, 64), hostEnv, c.ConfigPath, strings.Join(hosts, ", "))
	}
	c.Host = host
	return nil
}

// Local reports whether p runs on this machine: on c.Host.
func (c *cluster) Local(p process) bool { return p.Host == c.Host }

// LocalProcs returns the processes of c that run on this machine, in
// start order.
func (c *cluster) LocalProcs() []process {
	var ps []process
	for _, p := range c.Procs {
		if c.Local(p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// dispatcherAddr returns the address games and gates of this machine dial
// for dispatcher p: its advertise_addr if set; else for a dispatcher of
// this machine, ready, the address it reported (which may have a port
// picked at start-up); else its configured listen_addr, which the config
// checks is a fixed address other hosts can dial.
func (c *cluster) dispatcherAddr(p process, ready string) string {
	d, ok := c.Config.Dispatcher(p.ID)
	switch {
	case !ok:
		return ready
	case d.AdvertiseAddr != "":
		return d.AdvertiseAddr
	case c.Local(p):
		return ready
	}
	return d.ListenAddr
}

// Binary returns the server binary that build writes: DIR/bin/<base name
// of DIR>.
func (c *cluster) Binary() string { return binaryPath(c.Dir) }

// ProcBinary returns the copy of the server binary that process p runs:
// DIR/run/NAME.bin. start (and reload, for games) install it before
// starting the process. So DIR/bin/<base name of DIR> is never a running
// executable, and any way of replacing it works (go build, cp); and a
// reload knows, and can go back to, the binary a game runs whatever
// happened to DIR/bin since.
func (c *cluster) ProcBinary(p process) string {
	return filepath.Join(c.Dir, "run", p.Name+".bin")
}

// ProcsOf returns the processes of c with the given role, by ID.
func (c *cluster) ProcsOf(role string) []process {
	var ps []process
	for _, p := range c.Procs {
		if p.Role == role {
			ps = append(ps, p)
		}
	}
	return ps
}

func binaryPath(dir string) string {
	return filepath.Join(dir, "bin", filepath.Base(dir))
}

// Paths returns the conventional files of process p.
func (c *cluster) Paths(p process) proc.Paths { return proc.PathsFor(c.Dir, p.Name) }

// serverDir checks that arg names a directory and returns its absolute path.
func serverDir(arg string) (string, error) {
	dir, err := filepath.Abs(arg)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("server directory: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("server directory %s is not a directory", dir)
	}
	return dir, nil
}

// findConfig returns the absolute path of the config file: flagPath if
// set, else DIR/config.ini if it exists, else the nearest config.ini in
// the directories above DIR up to its Go module's root (the directory
// with go.mod), else ./config.ini if it exists.
func findConfig(dir, flagPath string) (string, error) {
	if flagPath != "" {
		return filepath.Abs(flagPath)
	}
	candidates := []string{filepath.Join(dir, "config.ini")}
	// Then the directories above DIR, up to its Go module's root: a
	// game in a repository whose config.ini sits at the top (the chat
	// demo's) is found from any directory.
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			candidates = candidates[:1] // no module: DIR alone
			break
		}
		d = parent
		candidates = append(candidates, filepath.Join(d, "config.ini"))
	}
	candidates = append(candidates, "config.ini")
	for _, c := range candidates {
		fi, err := os.Stat(c)
		if err == nil && !fi.IsDir() {
			return filepath.Abs(c)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("config file: %w", err)
		}
	}
	return "", fmt.Errorf("no config file: neither %s, one above it in its module, nor ./config.ini exists (use -config PATH)", candidates[0])
}

// loadCluster resolves the server directory and loads its configuration.
func loadCluster(dirArg, configFlag string) (*cluster, error) {
	dir, err := serverDir(dirArg)
	if err != nil {
		return nil, err
	}
	path, err := findConfig(dir, configFlag)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	c := &cluster{Dir: dir, ConfigPath: path, Config: cfg, Procs: processes(cfg)}
	if len(c.Procs) == 0 {
		return nil, fmt.Errorf("%s defines no processes", path)
	}
	return c, nil
}

// processes lists the processes of cfg in start order: dispatchers, games,
// gates, each kind by ID.
func processes(cfg *config.Config) []process {
	var ps []process
	add := func(role string, id int, name, host string) {
		if name == "" {
			name = role + strconv.Itoa(id)
		}
		ps = append(ps, process{Role: role, ID: id, Name: name, Host: host})
	}
	for _, d := range cfg.Dispatchers {
		add(roleDispatcher, d.ID, d.Name, d.Host)
	}
	for _, g := range cfg.Games {
		add(roleGame, g.ID, g.Name, g.Host)
	}
	for _, g := range cfg.Gates {
		add(roleGate, g.ID, g.Name, g.Host)
	}
	order := map[string]int{roleDispatcher: 0, roleGame: 1, roleGate: 2}
	slices.SortStableFunc(ps, func(a, b process) int {
		if c := cmp.Compare(order[a.Role], order[b.Role]); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return ps
}
