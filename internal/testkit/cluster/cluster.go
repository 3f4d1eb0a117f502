// Package cluster starts a whole goworld cluster inside one process —
// dispatchers, games and gates on 127.0.0.1 with ports picked by the
// kernel — for tests and benchmarks. The servers are the real ones,
// talking over real sockets; only the process boundary is missing.
package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
)

// Options describes the cluster. Zero values take the defaults noted.
type Options struct {
	Registry   *entity.Registry // required
	BootEntity string           // required
	// Dispatchers, Games and Gates count the processes (default 1 each).
	Dispatchers, Games, Gates int
	// KCP serves KCP on the gates as well as TCP.
	KCP bool
	// WebSocket serves WebSocket clients on the gates too, each on a port
	// of its own (see GateWSURL).
	WebSocket bool
	// StorageDir holds one bbolt file per game (default: none, no storage).
	StorageDir string
	// GameDispatchers, if set, rewrites the dispatcher addresses the games
	// dial (say, through a proxy that injects faults); gates dial the
	// real ones.
	GameDispatchers func(addrs []string) []string
	// Storage, if set, is one backend every game shares, as games share a
	// networked store in production (StorageDir is then ignored). The
	// caller owns it: the cluster does not close it.
	Storage storage.Backend
	// OpenStorage, if set, opens game i's (1-based) storage instead:
	// several games can share one store (a Redis server), each with its
	// own backend. The cluster closes what it returns.
	OpenStorage func(game int) (storage.Backend, error)
	// HeartbeatTimeout for the gates (default 30s).
	HeartbeatTimeout time.Duration
	// HeartbeatInterval for the gates: what they tell clients (default 5s).
	HeartbeatInterval time.Duration
	// MaxClientPacketSize for the gates (default 64 KiB).
	MaxClientPacketSize int
	// ClientSendBufferSize for the gates (default 1 MiB).
	ClientSendBufferSize int
	// GateLimits, if set, supplies the gates' tunables: its GateTuning
	// (rates, client limits, KCP and resume settings...; its other fields
	// are ignored). HeartbeatTimeout, HeartbeatInterval,
	// MaxClientPacketSize, ClientSendBufferSize and MaxPacketSize above,
	// when set, win over its own.
	GateLimits *gate.Config
	// SaveInterval for the games (default 60s).
	SaveInterval time.Duration
	// PositionSyncInterval for the games (default 100ms).
	PositionSyncInterval time.Duration
	// StallThreshold for the games (default 1s).
	StallThreshold time.Duration
	// MaxPacketSize for every server: the largest frame body each accepts
	// from the others (default 16 MiB).
	MaxPacketSize int
	// AOISyncLimit for the games (default config.DefaultAOISyncLimit).
	AOISyncLimit int
	// ClientStringLimit for the games (game.Config.MaxClientString; 0:
	// the default, 4096 bytes; config.Unlimited: no limit).
	ClientStringLimit int
	// RequestTimeout and SlowCall for the games (0: the defaults).
	RequestTimeout, SlowCall time.Duration
	// MailboxLimit for the games (0: the default).
	MailboxLimit int
	// Secret is the cluster secret of every server (nil: none, and the
	// dispatchers accept only loopback peers, which these all are).
	Secret []byte
	// Logger for all servers (default: discards below warnings).
	Logger logrus.FieldLogger
}

// Cluster is a running in-process cluster.
type Cluster struct {
	Dispatchers []*dispatcher.Dispatcher
	Games       []*game.Game
	Gates       []*gate.Gate
	stores      []storage.Backend
	cancel      context.CancelFunc
	errs        chan error
	running     int
}

// Start starts the cluster and waits until every server is ready. It
// registers t.Cleanup to stop it.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("cluster: %v", err)
		}
	})
	return c
}

// New starts a cluster; the caller must Close it.
func New(o Options) (*Cluster, error) {
	if o.Dispatchers <= 0 {
		o.Dispatchers = 1
	}
	if o.Games <= 0 {
		o.Games = 1
	}
	if o.Gates <= 0 {
		o.Gates = 1
	}
	if o.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		l.SetLevel(logrus.WarnLevel)
		o.Logger = l
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{cancel: cancel, errs: make(chan error, o.Dispatchers+o.Games+o.Gates)}
	run := func(f func(context.Context) error) {
		c.running++
		go func() { c.errs <- f(ctx) }()
	}
	fail := func(err error) (*Cluster, error) {
		c.Close()
		return nil, err
	}
	var addrs []string
	games := make([]rpc.GameID, o.Games)
	for i := range games {
		games[i] = rpc.GameID(i + 1)
	}
	for i := 0; i < o.Dispatchers; i++ {
		d, err := dispatcher.New(dispatcher.Config{
			ID: i + 1, Index: i, Count: o.Dispatchers, ListenAddr: "127.0.0.1:0", Logger: o.Logger,
			Games: games, DispatcherTuning: config.DispatcherTuning{MaxPacketSize: o.MaxPacketSize}, Secret: o.Secret,
		})
		if err != nil {
			return fail(err)
		}
		c.Dispatchers = append(c.Dispatchers, d)
		addrs = append(addrs, d.Addr().String())
		run(d.Run)
	}
	for i := 0; i < o.Games; i++ {
		st := o.Storage
		if st == nil && o.OpenStorage != nil {
			var err error
			if st, err = o.OpenStorage(i + 1); err != nil {
				return fail(err)
			}
			c.stores = append(c.stores, st)
		} else if st == nil && o.StorageDir != "" {
			var err error
			if st, err = storage.Open("bbolt", filepath.Join(o.StorageDir, fmt.Sprintf("game%d.db", i+1))); err != nil {
				return fail(err)
			}
			c.stores = append(c.stores, st)
		}
		gameAddrs := addrs
		if o.GameDispatchers != nil {
			gameAddrs = o.GameDispatchers(addrs)
		}
		g, err := game.New(game.Config{
			ID: i + 1, Games: games, Dispatchers: gameAddrs, BootEntity: o.BootEntity, Registry: o.Registry,
			Storage: st, Logger: o.Logger, Secret: o.Secret,
			GameTuning: config.GameTuning{
				SaveInterval: o.SaveInterval, MaxPacketSize: o.MaxPacketSize,
				PositionSyncInterval: o.PositionSyncInterval, AOISyncLimit: o.AOISyncLimit, StallThreshold: o.StallThreshold,
				MaxClientString: o.ClientStringLimit,
				RequestTimeout:  o.RequestTimeout, SlowCall: o.SlowCall, MailboxLimit: o.MailboxLimit,
			},
		})
		if err != nil {
			return fail(err)
		}
		c.Games = append(c.Games, g)
		run(g.Run)
	}
	for i := 0; i < o.Gates; i++ {
		var tun config.GateTuning
		if o.GateLimits != nil {
			tun = o.GateLimits.GateTuning
		}
		// The Options' own gate settings, when set, win over GateLimits'.
		tun.HeartbeatTimeout = cmp.Or(o.HeartbeatTimeout, tun.HeartbeatTimeout)
		tun.HeartbeatInterval = cmp.Or(o.HeartbeatInterval, tun.HeartbeatInterval)
		tun.MaxClientPacketSize = cmp.Or(o.MaxClientPacketSize, tun.MaxClientPacketSize)
		tun.ClientSendBufferSize = cmp.Or(o.ClientSendBufferSize, tun.ClientSendBufferSize)
		tun.MaxPacketSize = cmp.Or(o.MaxPacketSize, tun.MaxPacketSize)
		wsAddr := ""
		if o.WebSocket {
			wsAddr = "127.0.0.1:0"
		}
		g, err := gate.New(gate.Config{
			ID: i + 1, ListenAddr: "127.0.0.1:0", KCP: o.KCP, WSAddr: wsAddr, Dispatchers: addrs,
			GateTuning: tun, Logger: o.Logger, Secret: o.Secret,
		})
		if err != nil {
			return fail(err)
		}
		c.Gates = append(c.Gates, g)
		run(g.Run)
	}
	// Every game, then every gate, must say it is ready within 10s.
	var ready []<-chan struct{}
	for _, g := range c.Games {
		ready = append(ready, g.Ready())
	}
	for _, g := range c.Gates {
		ready = append(ready, g.Ready())
	}
	timeout := time.After(10 * time.Second)
	for _, r := range ready {
		select {
		case <-r:
		case err := <-c.errs:
			c.running--
			return fail(fmt.Errorf("cluster: a server stopped during start: %v", err))
		case <-timeout:
			return fail(errors.New("cluster: servers not ready after 10s"))
		}
	}
	return c, nil
}

// GateAddr returns gate i's client address (0-based).
func (c *Cluster) GateAddr(i int) string { return c.Gates[i].Addr().String() }

// GateWSURL returns the ws:// URL of gate i's WebSocket port (0-based);
// the cluster must have been started with WebSocket.
func (c *Cluster) GateWSURL(i int) string { return "ws://" + c.Gates[i].WSAddr().String() + "/" }

// Close stops every server (gates, games, dispatchers) and waits for them.
func (c *Cluster) Close() error {
	for _, g := range c.Gates {
		g.Close()
	}
	for _, g := range c.Games {
		g.Close()
	}
	// Games save on shutdown; give them until their Run returns before
	// the dispatchers go, by cancelling everything only after the gates
	// and games were asked to stop.
	c.cancel()
	var errs []error
	for ; c.running > 0; c.running-- {
		if err := <-c.errs; err != nil && !errors.Is(err, context.Canceled) &&
			!errors.Is(err, gate.ErrServerClosed) && !errors.Is(err, dispatcher.ErrServerClosed) &&
			!errors.Is(err, game.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	for _, d := range c.Dispatchers {
		d.Close()
	}
	for _, s := range c.stores {
		s.Close()
	}
	return errors.Join(errs...)
}

// CreateSpace creates a space of type typ on game i (CreateSpaceLocally,
// on its loop) and returns its ID; it fails the test if the game refuses
// or does not answer within 10 s.
func (c *Cluster) CreateSpace(t testing.TB, i int, typ string) rpc.EntityID {
	t.Helper()
	g := c.Games[i]
	type result struct {
		id  rpc.EntityID
		err error
	}
	done := make(chan result, 1)
	g.Post(func() {
		sp, err := g.World().CreateSpaceLocally(typ, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{id: sp.ID()}
	})
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("game %d: creating a %s: %v", i, typ, r.err)
		}
		return r.id
	case <-time.After(10 * time.Second):
		t.Fatalf("game %d: no %s after 10s", i, typ)
	}
	return ""
}
