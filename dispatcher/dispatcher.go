// Package dispatcher routes packets between gates and games.
//
// A dispatcher holds, for its shard of entity IDs, the table entity → game.
// Games and gates connect to every dispatcher and say who they are with
// MsgHello, proving that they hold the cluster secret if there is one
// (Config.Secret, linkauth.go). From then on the dispatcher routes each frame by the field at
// offset 0 of its body, without decoding the rest:
//
//   - entity-routed messages (calls, client calls, register/unregister,
//     create/load somewhere) go to the game that hosts the entity;
//   - gate-routed messages (to-client packets, client owner and filter
//     updates, kicks) go to that gate;
//   - a new client (MsgClientConnected) gets a boot entity ID and a game,
//     the least loaded one this dispatcher knows;
//   - filtered broadcasts go to the gates this dispatcher is the route for.
//
// When a game or gate disconnects, the dispatcher forgets its entities and
// tells every other peer with MsgPeerGone.
//
// A dispatcher that restarted knows nothing: the games and gates redial it,
// say in MsgHello which instance they were connected to before, and games
// register their entities again. From the first such hello, for
// Config.RecoverWindow, the dispatcher holds what is routed to entities and
// gates it does not know yet (and new clients while no game is back), and
// delivers it when they register or connect (see recovery).
//
// Usage:
//
//	d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: "127.0.0.1:13001"})
//	if err != nil { ... }
//	go d.Run(ctx)
//	defer d.Close()
//
// Routing runs on each peer's reader goroutine; the tables are guarded by
// one RWMutex, so routing scales with peers and never waits on a socket.
package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/internal/lograte"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Config configures a Dispatcher. Zero values take the defaults noted.
//
// The tunables that config.ini sets (sizes, the freeze and recovery
// queues and windows) are those of the embedded config.DispatcherTuning,
// documented there: a zero field takes its default
// (config.DispatcherTuning.SetDefaults), and config.Off turns
// RecoverWindow off. The fields below are the dispatcher's identity, its
// place in the cluster, and settings config.ini does not have.
type Config struct {
	// ID is the dispatcher's number (its config section, e.g. 1 for [dispatcher1]).
	ID int
	// Index and Count place this dispatcher among all of the cluster's
	// dispatchers (0 <= Index < Count; Count 0 means 1). Entity IDs and gate
	// IDs are sharded over them.
	Index, Count int
	// ListenAddr is where games and gates connect (port 0: any free port).
	ListenAddr string
	// HelloTimeout is how long a new connection has to say MsgHello and,
	// with a Secret, to complete the challenge–response (default 10s).
	HelloTimeout time.Duration
	// Secret is the cluster secret (nil: none). With it, a game or gate
	// joins only by proving it holds the same secret (and the dispatcher
	// proves it too: see rpc/linkauth.go); a hello without that proof is
	// refused. Without it, only peers connecting from a loopback address
	// (this machine) are accepted, as Redis's protected mode does.
	Secret []byte
	// DispatcherTuning holds the tunables config.ini sets (see above).
	config.DispatcherTuning
	// Games lists the IDs of every game of the cluster (from the config).
	// During RecoverWindow a restarted dispatcher holds loads of entities
	// it does not know (one may live on a game that has not re-registered
	// it yet); once each of these games has re-registered
	// (MsgRegistered), it places them. Without the list, held loads are
	// placed when the window ends.
	Games []rpc.GameID
	// MigrateQueueLimit bounds the bytes queued for one entity while it
	// migrates between games (default 4 MiB). Packets beyond it are
	// dropped and counted, with an error in the log.
	MigrateQueueLimit int
	// ShutdownGrace bounds the graceful shutdown that cancelling Run's
	// context starts (default 10s; see Shutdown).
	ShutdownGrace time.Duration
	// Logger receives the dispatcher's logs (default: logrus's standard logger).
	Logger logrus.FieldLogger
}

// ErrServerClosed is returned by Run after Close.
var ErrServerClosed = errors.New("dispatcher: closed")

type peer struct {
	role rpc.Role
	id   uint16
	conn *rpc.Conn
	// out holds what routing this peer's frames sends, until the frames
	// of one read are handled (ConnConfig.AfterBatch): then each
	// destination gets one write. Reader goroutine only.
	out *rpc.Batch
	// registered: a game that said MsgRegistered on this connection.
	// Guarded by Dispatcher.mu.
	registered bool
}

func (p *peer) String() string { return fmt.Sprintf("%s%d", p.role, p.id) }

// Dispatcher is one dispatcher process's server. Create it with New.
type Dispatcher struct {
	cfg Config
	log logrus.FieldLogger
	ln  net.Listener
	// lines rate-limits the log lines clients can cause (a client that
	// connects while no game is: one line per attempt otherwise).
	lines *lograte.Limiter

	mu       sync.RWMutex
	games    map[rpc.GameID]*peer
	gates    map[rpc.GateID]*peer
	entities map[rpc.EntityID]rpc.GameID
	// epochs: the fencing epoch (storage) of the copy that registered a
	// persistent entity of entities, when its registration said (see
	// MsgRegisterEntity); absent for other entities.
	epochs  map[rpc.EntityID]uint64
	load    map[rpc.GameID]int // entities per game in this shard
	frozen  map[rpc.GameID]*frozenGame
	blocked map[rpc.EntityID]*entityQueue // entities migrating between games
	conns   map[*rpc.Conn]struct{}
	closed  bool
	// instance identifies this dispatcher process in MsgHelloAck: random,
	// never 0.
	instance uint64
	// rec is what a restarted dispatcher holds during RecoverWindow; nil
	// before and after. recovered is set once a window has begun.
	rec       *recovery
	recovered bool

	wg sync.WaitGroup
	// stopped is closed once a Shutdown or Close has ended every
	// connection and goroutine.
	stopped     chan struct{}
	stoppedOnce sync.Once
	met         dispatcherMetrics // see metrics.go
	// forwardHook, if set, runs on each frame forwarded to a game (tests
	// only: see SetForwardHook).
	forwardHook atomic.Pointer[func(t rpc.MsgType, body []byte)]
}

// New validates cfg and binds the listen address, so Addr is known as soon
// as New returns.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Count <= 0 {
		cfg.Count = 1
	}
	if cfg.Index < 0 || cfg.Index >= cfg.Count {
		return nil, fmt.Errorf("dispatcher: index %d out of range for %d dispatchers", cfg.Index, cfg.Count)
	}
	cfg.DispatcherTuning.SetDefaults()
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.MigrateQueueLimit <= 0 {
		cfg.MigrateQueueLimit = 4 << 20
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("dispatcher%d: %w", cfg.ID, err)
	}
	log := cfg.Logger.WithField("dispatcher", cfg.ID)
	return &Dispatcher{
		cfg:      cfg,
		log:      log,
		lines:    lograte.New(log, lograte.DefaultInterval, lograte.DefaultBurst),
		ln:       ln,
		games:    map[rpc.GameID]*peer{},
		gates:    map[rpc.GateID]*peer{},
		entities: map[rpc.EntityID]rpc.GameID{},
		epochs:   map[rpc.EntityID]uint64{},
		load:     map[rpc.GameID]int{},
		frozen:   map[rpc.GameID]*frozenGame{},
		blocked:  map[rpc.EntityID]*entityQueue{},
		conns:    map[*rpc.Conn]struct{}{},
		instance: rand.Uint64() | 1,
		stopped:  make(chan struct{}),
	}, nil
}

// Addr returns the bound listen address.
func (d *Dispatcher) Addr() net.Addr { return d.ln.Addr() }

// Run accepts connections until ctx is done or Shutdown or Close is
// called. When ctx is done it shuts the dispatcher down gracefully
// (Shutdown, within Config.ShutdownGrace), returns once that is over,
// and returns ctx's error. After a Shutdown or Close called by someone
// else it returns ErrServerClosed at once, as net/http's Serve does:
// the caller of Shutdown or Close waits for the end.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.WithField("addr", d.ln.Addr().String()).Info("dispatcher listening")
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownGrace)
		defer cancel()
		if err := d.Shutdown(sctx); err != nil {
			d.log.WithError(err).Warnf("graceful shutdown did not finish within %v; closed", d.cfg.ShutdownGrace)
		}
	})
	defer stop()
	var delay time.Duration
	for {
		nc, err := d.ln.Accept()
		if err != nil {
			d.mu.RLock()
			closed := d.closed
			d.mu.RUnlock()
			if closed {
				if ctx.Err() != nil {
					<-d.stopped
					return ctx.Err()
				}
				return ErrServerClosed
			}
			// Temporary errors (out of file descriptors): back off, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			d.log.WithError(err).Warnf("accept failed; retrying in %v", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		// Routing waits (in the batch's flush, outside every lock) for a
		// peer it filled past SendBufferSize: back-pressure, not a cut.
		out := &rpc.Batch{Backpressure: true}
		conn := rpc.NewConn(nc, rpc.ConnConfig{
			MaxBody:        d.cfg.MaxPacketSize,
			MaxPending:     d.cfg.SendBufferSize,
			Backpressure:   true,
			ReadBufferSize: 64 << 10,
			RetainBuffer:   1 << 20,
			AfterBatch:     out.Flush,
		})
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			conn.Close(ErrServerClosed)
			continue
		}
		d.conns[conn] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.serveConn(conn, out)
	}
}

// Shutdown stops the dispatcher gracefully: it stops accepting, lets
// each connection write what is queued for it (frames already routed),
// closes it and waits for every goroutine to end. The games and gates
// see the dispatcher leave and redial, as after a restart. What is held
// for a game frozen for a hot reload, or for a migrating entity, cannot
// be delivered by a dispatcher that stops: it is dropped, with a warning.
// If ctx ends first, Shutdown closes every connection at once (as Close)
// and returns ctx's error once everything has ended. Calling Shutdown or
// Close again waits for the first to finish.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	conns, first := d.stopAccepting()
	if !first {
		<-d.stopped
		return nil
	}
	err := d.ln.Close()
	for _, c := range conns {
		c.CloseAfterFlush(ErrServerClosed)
	}
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.Close(ErrServerClosed)
		}
		<-done
		err = ctx.Err()
	}
	d.finish()
	return err
}

// Close stops accepting, closes every connection at once (dropping what
// is queued for it) and waits for their goroutines to end. It is safe to
// call more than once, and with Shutdown: a later call waits for the
// first to finish.
func (d *Dispatcher) Close() error {
	conns, first := d.stopAccepting()
	if !first {
		<-d.stopped
		return nil
	}
	err := d.ln.Close()
	for _, c := range conns {
		c.Close(ErrServerClosed)
	}
	d.wg.Wait()
	d.finish()
	return err
}

// stopAccepting marks the dispatcher closed and stops its timers; it
// returns the open connections, and whether this was the first call.
func (d *Dispatcher) stopAccepting() (conns []*rpc.Conn, first bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, false
	}
	d.closed = true
	if d.rec != nil {
		d.rec.timer.Stop()
	}
	for id, fg := range d.frozen {
		if fg.expire != nil {
			fg.expire.Stop()
		}
		if n, _ := fg.size(); n > 0 {
			d.log.Warnf("stopping while game%d is frozen for a hot reload: %d queued bytes for it are dropped", id, n)
		}
	}
	if len(d.blocked) > 0 {
		d.log.Warnf("stopping while %d entities migrate: what is queued for them is dropped", len(d.blocked))
	}
	conns = make([]*rpc.Conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	return conns, true
}

// finish ends a Shutdown or Close: the log limiter stops and stopped is
// closed.
func (d *Dispatcher) finish() {
	d.stoppedOnce.Do(func() {
		d.lines.Close()
		close(d.stopped)
	})
}

func (d *Dispatcher) serveConn(conn *rpc.Conn, out *rpc.Batch) {
	defer d.wg.Done()
	defer conn.Wait()
	// A panic in the hello or in adding or removing the peer (routing has
	// its own guard) closes this connection, not the process.
	defer conn.Close(nil)
	defer d.recoverPanic("serving a connection", func(f logrus.Fields) { f["remote"] = conn.RemoteAddr().String() })
	defer func() {
		d.mu.Lock()
		delete(d.conns, conn)
		d.mu.Unlock()
	}()
	log := d.log.WithField("remote", conn.RemoteAddr().String())

	conn.NetConn().SetReadDeadline(time.Now().Add(d.cfg.HelloTimeout))
	h, proof, ok := d.hello(conn, log)
	if !ok {
		return
	}
	conn.NetConn().SetReadDeadline(time.Time{})
	p := &peer{role: h.Role, id: h.ID, conn: conn, out: out}
	conn.SetStats(d.met.stats(h.Role))
	log = log.WithField("peer", p.String())
	d.addPeer(p, h.Instance, proof, log)
	log.Info("peer connected")

	reason := conn.Serve(func(t rpc.MsgType, body []byte) error { return d.routeGuarded(p, t, body) })
	d.removePeer(p)
	log.WithField("reason", reason).Info("peer disconnected")
}

// addPeer records p, whose hello named the dispatcher instance before
// (0: none); proof, if not nil, ends the ack (an authenticated hello).
func (d *Dispatcher) addPeer(p *peer, before uint64, proof []byte, log logrus.FieldLogger) {
	if old := d.addPeerLocked(p, before, proof, log); old != nil {
		log.Warn("a new connection replaces the old one of the same peer")
		old.conn.Close(errors.New("dispatcher: replaced by a new connection"))
	}
}

// addPeerLocked is addPeer's work under d.mu; it returns the connection
// of the same peer that p replaces, if any.
func (d *Dispatcher) addPeerLocked(p *peer, before uint64, proof []byte, log logrus.FieldLogger) (old *peer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// The ack goes out under the lock, before anything routed to the peer.
	p.conn.Send(rpc.MsgHelloAck, append(rpc.AppendUint64(rpc.AppendUint16(nil, uint16(d.cfg.ID)), d.instance), proof...))
	if before != 0 && before != d.instance {
		d.startRecoveryLocked(p)
	}
	if p.role == rpc.RoleGame {
		id := rpc.GameID(p.id)
		old = d.games[id]
		d.games[id] = p
		if r := d.rec; r != nil && len(r.clients) > 0 {
			// New clients waited for a game: this one takes them.
			clients := r.clients
			r.clients = nil
			for _, body := range clients {
				r.budget.release(rpc.HeaderSize + len(body))
				d.connectClientLocked(nil, body)
			}
			log.Infof("%d new clients that waited for a game are placed", len(clients))
		}
		if fg := d.frozen[id]; fg != nil {
			// A frozen game is back (restored by a new process, or the same
			// one reconnecting): deliver what waited for it, in order, and
			// keep a copy until it says it serves (MsgRestored).
			if fg.expire != nil {
				fg.expire.Stop()
				fg.expire = nil
			}
			fg.restoring = p
			n, dropped := fg.sendTo(p)
			entry := log.WithField("queued_bytes", n).WithField("frozen_for", time.Since(fg.since).Round(time.Millisecond).String())
			if dropped > 0 {
				entry.Errorf("frozen game is back; %d packets over freeze_queue_limit were dropped", dropped)
			} else {
				entry.Info("frozen game is back; queued packets delivered")
			}
		}
	} else {
		gid := rpc.GateID(p.id)
		old = d.gates[gid]
		d.gates[gid] = p
		if r := d.rec; r != nil && !r.seen[gid] {
			r.seen[gid] = true
			n := d.replayGateLogLocked(r, p)
			log.WithField("held_bytes", n).Info("gate is back after the restart; what was held for it delivered")
		}
	}
	return old
}

func (d *Dispatcher) removePeer(p *peer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch p.role {
	case rpc.RoleGame:
		id := rpc.GameID(p.id)
		if d.games[id] != p {
			return // replaced: the new connection owns the entry
		}
		delete(d.games, id)
		if fg := d.frozen[id]; fg != nil && !d.closed {
			// Frozen for a hot reload: keep its entities and queue, and wait
			// for the restored process. Nobody is told it is gone. A
			// restoring process that dies before serving leaves the queue,
			// with everything sent to it since, for the next one.
			died := fg.restoring == p
			fg.restoring = nil
			fg.expire = time.AfterFunc(d.cfg.RestoreTimeout, func() { d.giveUp(id) })
			entry := d.log.WithField("peer", p.String())
			if died {
				entry.Warnf("restored game left before it was serving; keeping its packets for the next process for up to %v", d.cfg.RestoreTimeout)
			} else {
				entry.Infof("frozen game disconnected; queueing its packets for up to %v", d.cfg.RestoreTimeout)
			}
			return
		}
		d.forgetGameLocked(id)
	case rpc.RoleGate:
		if d.gates[rpc.GateID(p.id)] != p {
			return
		}
		delete(d.gates, rpc.GateID(p.id))
	}
	if !d.closed {
		d.announceGoneLocked(p.role, p.id)
	}
}

// forgetGameLocked drops a game's entities from the table.
func (d *Dispatcher) forgetGameLocked(id rpc.GameID) {
	for e, g := range d.entities {
		if g == id {
			delete(d.entities, e)
			delete(d.epochs, e)
		}
	}
	delete(d.load, id)
}

// announceGoneLocked tells every gate and game that a peer left (games
// through their freeze queue if frozen). The caller holds d.mu.
func (d *Dispatcher) announceGoneLocked(role rpc.Role, id uint16) {
	body := rpc.AppendUint16([]byte{byte(role)}, id)
	for _, g := range d.gates {
		g.conn.Send(rpc.MsgPeerGone, body)
	}
	games := map[rpc.GameID]bool{}
	for gid := range d.games {
		games[gid] = true
	}
	for gid := range d.frozen {
		games[gid] = true
	}
	for gid := range games {
		d.toGameLocked(nil, gid, rpc.MsgPeerGone, body)
	}
}

// recoverPanic, deferred, recovers a panic and records it (logged with
// its stack within a budget, counted in /metrics); fields, if set, adds
// what was being handled to the log line.
func (d *Dispatcher) recoverPanic(where string, fields func(logrus.Fields)) {
	p := recover()
	if p == nil {
		return
	}
	f := logrus.Fields{}
	if fields != nil {
		fields(f)
	}
	d.met.panics.Record(d.log, where, p, debug.Stack(), f)
}

// locked runs fn with d.mu held for writing, and releases it even if fn
// panics (a recovered panic must not leave the routing table locked).
func (d *Dispatcher) locked(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn()
}
