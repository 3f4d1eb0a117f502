package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// devOptions are the flags of dev.
type devOptions struct {
	timeout time.Duration // per process, as for start and reload
	poll    time.Duration // how often DIR is looked at
	keep    bool          // leave the cluster running at the end
}

// devPoll is the default interval at which dev looks for changes.
const devPoll = 200 * time.Millisecond

func devCommand() *cli.Command {
	return &cli.Command{
		Name:      "dev",
		Usage:     "start the cluster, then rebuild and hot-reload its games on every save of DIR's Go files, until Ctrl-C",
		ArgsUsage: "DIR",
		Description: "Starts what is down (as start -down), then watches DIR's .go files, go.mod and go.sum.\n" +
			"On a change it builds and reloads every game (as reload): players stay connected, the\n" +
			"world keeps its state, and each game's pause is printed. A build that fails is printed,\n" +
			"and the games keep running the previous build until the next save. Ctrl-C stops the\n" +
			"cluster (gates, games, dispatchers), unless -keep. Linux and macOS only.",
		Flags: []cli.Flag{configFlag, hostFlag, timeoutFlag,
			&cli.DurationFlag{Name: "poll", Value: devPoll, Usage: "look for changes this often"},
			&cli.BoolFlag{Name: "keep", Usage: "leave the cluster running when dev ends"},
		},
		OnUsageError: onUsageError,
		Action: withCluster(func(c *cli.Context, cl *cluster) error {
			if p := c.Duration("poll"); p < 10*time.Millisecond || p > time.Minute {
				return usagef("dev: -poll must be from 10ms to 1m, not %v", p)
			}
			return dev(c.Context, c.App.Writer, c.App.ErrWriter, cl, devOptions{
				timeout: c.Duration(timeoutFlag.Name), poll: c.Duration("poll"), keep: c.Bool("keep"),
			})
		}),
	}
}

// dev runs the edit-reload loop of c until ctx ends.
func dev(ctx context.Context, out, errOut io.Writer, c *cluster, o devOptions) error {
	if err := reloadUnsupported(); err != nil {
		return err
	}
	if o.poll <= 0 {
		o.poll = devPoll
	}
	sig, err := sourceSignature(c.Dir)
	if err != nil {
		return err
	}
	if err := start(ctx, out, c, startOptions{timeout: o.timeout, down: true, progress: errOut}); err != nil {
		return err
	}
	if !o.keep {
		defer func() {
			fmt.Fprintln(out, "dev: stopping the cluster")
			if err := stop(out, c, syscall.SIGTERM, o.timeout); err != nil {
				fmt.Fprintln(errOut, "dev:", err)
			}
		}()
	}
	fmt.Fprintf(out, "dev: watching %s; save a .go file to rebuild and reload, Ctrl-C to stop\n", c.Dir)
	tick := time.NewTicker(o.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now, err := sourceSignature(c.Dir)
		if err != nil {
			fmt.Fprintln(errOut, "dev:", err)
			continue
		}
		if now == sig {
			continue
		}
		seen := time.Now()
		// An editor may write in steps: wait until a look finds nothing new.
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.poll / 2):
			}
			again, err := sourceSignature(c.Dir)
			if err != nil || again == now {
				break
			}
			now = again
		}
		sig = now
		if err := reload(ctx, out, errOut, c, reloadOptions{timeout: o.timeout}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(errOut, "dev: %v\ndev: the games keep running the previous build; save again to retry\n", err)
			continue
		}
		fmt.Fprintf(out, "dev: reloaded %.0fms after the change was seen\n", float64(time.Since(seen).Microseconds())/1000)
	}
}

// sourceSignature sums the names, sizes and modification times of the
// files a build of dir reads: .go files, go.mod and go.sum, outside the
// directories goworldctl and tools write (bin, run, log, freeze, hidden
// ones, node_modules, testdata).
func sourceSignature(dir string) ([32]byte, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p != dir {
				return nil // removed while walking: the next look sees it
			}
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "bin" || name == "run" || name == "log" || name == "freeze" || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed while walking
		}
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], uint64(info.Size()))
		binary.LittleEndian.PutUint64(b[8:], uint64(info.ModTime().UnixNano()))
		h.Write([]byte(p))
		h.Write(b[:])
		return nil
	})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}
