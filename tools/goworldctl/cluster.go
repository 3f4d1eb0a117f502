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

	"github.com/goworld-engine/goworld/config"
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
}

// cluster is the server directory and its configured processes.
type cluster struct {
	Dir        string         // absolute server directory
	ConfigPath string         // absolute path of the config file
	Config     *config.Config // the loaded config file
	Procs      []process      // in start order: dispatchers, games, gates, each by ID
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
// set, else DIR/config.ini if it exists, else ./config.ini if it exists.
func findConfig(dir, flagPath string) (string, error) {
	if flagPath != "" {
		return filepath.Abs(flagPath)
	}
	candidates := []string{filepath.Join(dir, "config.ini"), "config.ini"}
	for _, c := range candidates {
		fi, err := os.Stat(c)
		if err == nil && !fi.IsDir() {
			return filepath.Abs(c)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("config file: %w", err)
		}
	}
	return "", fmt.Errorf("no config file: neither %s nor ./config.ini exists (use -config PATH)", candidates[0])
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
	add := func(role string, id int, name string) {
		if name == "" {
			name = role + strconv.Itoa(id)
		}
		ps = append(ps, process{Role: role, ID: id, Name: name})
	}
	for _, d := range cfg.Dispatchers {
		add(roleDispatcher, d.ID, d.Name)
	}
	for _, g := range cfg.Games {
		add(roleGame, g.ID, g.Name)
	}
	for _, g := range cfg.Gates {
		add(roleGate, g.ID, g.Name)
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
