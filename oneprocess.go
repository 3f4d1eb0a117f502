package goworld

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/proc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
)

// One process for development.
//
// Run without -role starts every dispatcher, game and gate of the config
// in this one process (`go run .`): the same servers, talking over the
// same loopback sockets, as the processes goworldctl starts. What
// differs:
//
//   - no hot reload: a reload swaps a game's process for one of the new
//     binary, so it needs the split layout (goworldctl start); SIGUSR1 is
//     logged and ignored;
//   - one log, to stderr (or -log), each line naming its process;
//   - the games share one storage backend, opened once (a bbolt file
//     cannot be opened twice, even by one process);
//   - a dispatcher whose listen_addr has port 0 is dialled at the port it
//     got;
//   - SIGTERM or SIGINT stops the gates first (their clients are told),
//     then the games (which save), then the dispatchers.

// oneProcessStop bounds how long each server may take to stop.
const oneProcessStop = 15 * time.Second

// server is one server running in the process.
type server struct {
	name string
	stop func()     // asks it to stop
	done chan error // Run's result
}

// stopAll stops the servers tier by tier, gates first, each within
// oneProcessStop, then runs the closers in reverse; it returns what went
// wrong.
func stopAll(tiers *[3][]*server, closers []func()) []error {
	var errs []error
	for tier := 2; tier >= 0; tier-- {
		for _, s := range tiers[tier] {
			s.stop()
		}
		for _, s := range tiers[tier] {
			select {
			case e := <-s.done:
				if e != nil && !errors.Is(e, context.Canceled) && !errors.Is(e, gate.ErrServerClosed) &&
					!errors.Is(e, dispatcher.ErrServerClosed) && !errors.Is(e, game.ErrServerClosed) {
					errs = append(errs, fmt.Errorf("%s: %w", s.name, e))
				}
			case <-time.After(oneProcessStop):
				errs = append(errs, fmt.Errorf("%s did not stop within %v", s.name, oneProcessStop))
			}
		}
	}
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	return errs
}

// runAll runs every process of cfg in this process until ctx ends or a
// server fails; ready, if not nil, gets each gate's client address once
// every server is ready.
func runAll(ctx context.Context, cfg *config.Config, secret []byte, log *logrus.Logger, ready func(gates []string)) (err error) {
	entry := func(name string) *logrus.Entry { return log.WithField("process", name) }
	var tiers [3][]*server // dispatchers, games, gates: stopped in reverse
	failed := make(chan string, 64)
	run := func(tier int, name string, stop func(), fn func() error) *server {
		s := &server{name: name, stop: stop, done: make(chan error, 1)}
		go func() {
			err := fn()
			s.done <- err
			select {
			case failed <- name:
			default:
			}
		}()
		tiers[tier] = append(tiers[tier], s)
		return s
	}
	var closers []func()
	defer func() { err = errors.Join(append([]error{err}, stopAll(&tiers, closers)...)...) }()
	withAdmin := func(name, addr string, metrics func(io.Writer) error) error {
		a, err := startAdmin(addr, name, entry(name))
		if err != nil {
			return err
		}
		if a != nil {
			a.SetMetrics(metrics)
			closers = append(closers, a.Stop)
		}
		return nil
	}
	stopFreeze := onFreezeSignal(func() {
		log.Warn("SIGUSR1 ignored: a hot reload needs each game in a process of its own (goworldctl start, then goworldctl reload)")
	})
	closers = append(closers, stopFreeze)

	// Dispatchers first: the games and gates dial the addresses they got.
	var addrs []string
	for _, c := range cfg.Dispatchers {
		d, err := dispatcher.New(dispatcherConfig(cfg, c.ID, secret, entry(c.Name)))
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		addrs = append(addrs, d.Addr().String())
		run(0, c.Name, func() { d.Close() }, func() error { return d.Run(context.Background()) })
		if err := withAdmin(c.Name, c.HTTPAddr, d.WriteMetrics); err != nil {
			return err
		}
	}

	var backend storage.Backend
	if len(cfg.Games) > 0 && cfg.Storage.Type != config.StorageNone {
		b, err := openStorage(&cfg.Storage)
		if err != nil {
			return err
		}
		closers = append(closers, func() { b.Close() })
		backend = b
	}
	waitReady := func(s *server, readyc <-chan struct{}) error {
		select {
		case <-readyc:
			return nil
		case e := <-s.done:
			s.done <- e // for the stop
			return fmt.Errorf("%s stopped while starting: %v", s.name, e)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range cfg.Games {
		c := &cfg.Games[i]
		g, err := game.New(gameConfig(cfg, c, addrs, backend, secret, entry(c.Name)))
		if err != nil {
			return err
		}
		gctx, cancel := context.WithCancel(context.Background())
		s := run(1, c.Name, cancel, func() error { return g.Run(gctx) })
		if err := withAdmin(c.Name, c.HTTPAddr, g.WriteMetrics); err != nil {
			return err
		}
		if err := waitReady(s, g.Ready()); err != nil {
			return err
		}
	}
	var gateAddrs []string
	for i := range cfg.Gates {
		c := &cfg.Gates[i]
		g, err := gate.New(gateConfig(c, addrs, entry(c.Name)))
		if err != nil {
			return err
		}
		s := run(2, c.Name, func() {
			sctx, cancel := context.WithTimeout(context.Background(), gateShutdownGrace)
			defer cancel()
			g.Shutdown(sctx)
		}, func() error { return g.Run(context.Background()) })
		if err := withAdmin(c.Name, c.HTTPAddr, g.WriteMetrics); err != nil {
			return err
		}
		if err := waitReady(s, g.Ready()); err != nil {
			return err
		}
		gateAddrs = append(gateAddrs, g.Addr().String())
	}
	log.Infof("running %d dispatchers, %d games and %d gates in one process; clients connect to %s",
		len(cfg.Dispatchers), len(cfg.Games), len(cfg.Gates), strings.Join(gateAddrs, ", "))
	if ready != nil {
		ready(gateAddrs)
	}
	select {
	case <-ctx.Done():
		return nil
	case name := <-failed:
		return fmt.Errorf("%s stopped; stopping the others", name)
	}
}

// runOneProcess is Run without -role: logs to stderr (or logPath) at the
// first game's log_level, then runAll until SIGTERM or SIGINT.
func runOneProcess(cfg *config.Config, logPath, pidPath string) error {
	level := config.DefaultLogLevel
	if len(cfg.Games) > 0 {
		level = cfg.Games[0].LogLevel
	}
	log, closeLog, err := newLogger(logPath, level)
	if err != nil {
		return err
	}
	defer closeLog()
	if pidPath != "" {
		pf, err := proc.AcquirePIDFile(pidPath)
		if err != nil {
			return err
		}
		defer pf.Release()
	}
	secret, warn, err := cfg.Cluster.LoadSecret()
	if err != nil {
		return err
	}
	if warn != "" {
		log.Warn(warn)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runAll(ctx, cfg, secret, log, nil); err != nil {
		log.WithError(err).Error("exiting with error")
		return err
	}
	log.Info("stopped")
	return nil
}
