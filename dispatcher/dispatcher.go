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
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/internal/lograte"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Config configures a Dispatcher.
type Config struct {
	// ID is the dispatcher's number (its config section, e.g. 1 for [dispatcher1]).
	ID int
	// Index and Count place this dispatcher among all of the cluster's
	// dispatchers (0 <= Index < Count; Count 0 means 1). Entity IDs and gate
	// IDs are sharded over them.
	Index, Count int
	// ListenAddr is where games and gates connect (port 0: any free port).
	ListenAddr string
	// MaxPacketSize is the largest frame body accepted from a peer (default 16 MiB).
	MaxPacketSize int
	// SendBufferSize is the bytes queued for one peer past which the
	// peers whose frames fill it wait for it to drain (back-pressure); a
	// peer is closed as a slow consumer only past twice that, or when it
	// reads nothing for the write timeout (default 64 MiB).
	SendBufferSize int
	// HelloTimeout is how long a new connection has to say MsgHello and,
	// with a Secret, to complete the challenge–response (default 10s).
	HelloTimeout time.Duration
	// Secret is the cluster secret (nil: none). With it, a game or gate
	// joins only by proving it holds the same secret (and the dispatcher
	// proves it too: see rpc/linkauth.go); a hello without that proof is
	// refused. Without it, only peers connecting from a loopback address
	// (this machine) are accepted, as Redis's protected mode does.
	Secret []byte
	// FreezeQueueLimit bounds the bytes queued for a game frozen for a hot
	// reload (default 64 MiB). Packets beyond it are dropped and counted,
	// with an error in the log.
	FreezeQueueLimit int
	// RestoreTimeout is how long a frozen game that disconnected may take
	// to come back before the dispatcher gives up on it and tells its peers
	// it is gone (default 60s).
	RestoreTimeout time.Duration
	// RecoverWindow is how long a restarted dispatcher (one that a peer
	// says was not the dispatcher it knew) holds frames for entities not
	// registered yet, gates not connected yet, and new clients while no
	// game is connected (default 20s; negative: never). What is still held
	// at its end is dropped, with an error in the log.
	RecoverWindow time.Duration
	// RecoverQueueLimit bounds the bytes held during RecoverWindow
	// (default 64 MiB). Frames beyond it are dropped and counted.
	RecoverQueueLimit int
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

	wg  sync.WaitGroup
	met dispatcherMetrics // see metrics.go
	// forwardHook, if set, runs on each frame forwarded to a game (tests
	// only: see SetForwardHook).
	forwardHook atomic.Pointer[func(t rpc.MsgType, body []byte)]
}

// recovery holds, for a restarted dispatcher, the frames for what it does
// not know yet. The maps and slices are changed under mu while d.mu is
// held for reading, and read and emptied under d.mu held for writing.
type recovery struct {
	mu       sync.Mutex
	timer    *time.Timer
	since    time.Time
	bytes    int                     // held in total
	dropped  int                     // frames refused over RecoverQueueLimit
	entities map[rpc.EntityID][]byte // frames for entities not registered yet
	// gateLog holds, in arrival order, gate-routed frames for gates not
	// connected since the restart and every filtered broadcast: each gate
	// gets its part when it first connects.
	gateLog []byte
	seen    map[rpc.GateID]bool // gates connected since the restart
	clients [][]byte            // MsgClientConnected bodies, while no game is connected
	// loads marks the entities whose held frames include a
	// MsgLoadEntitySomewhere: they are placed on a game once every game
	// of Config.Games is back (back), or when the window ends, unless
	// their game re-registers them first.
	loads map[rpc.EntityID]bool
	back  map[rpc.GameID]bool // games that said MsgRegistered since the restart
}

// reserveLocked counts n more bytes held, within RecoverQueueLimit; false
// means the frame must be dropped (it is counted). The caller holds d.mu
// and, unless it holds d.mu for writing, r.mu.
func (d *Dispatcher) reserveLocked(r *recovery, n int) bool {
	if r.bytes+n > d.cfg.RecoverQueueLimit {
		if r.dropped++; r.dropped == 1 || r.dropped%1000 == 0 {
			d.log.Errorf("recovering from a restart and the hold queue is full (recover_queue_limit %d bytes): %d packets dropped so far", d.cfg.RecoverQueueLimit, r.dropped)
		}
		return false
	}
	r.bytes += n
	return true
}

// holdLocked appends a frame to *q within RecoverQueueLimit (see
// reserveLocked).
func (d *Dispatcher) holdLocked(r *recovery, q *[]byte, t rpc.MsgType, body []byte) {
	if d.reserveLocked(r, rpc.HeaderSize+len(body)) {
		*q = rpc.AppendFrame(*q, t, body)
	}
}

// startRecoveryLocked begins the recovery window, once per process. The
// caller holds d.mu for writing.
func (d *Dispatcher) startRecoveryLocked(p *peer) {
	if d.recovered || d.cfg.RecoverWindow < 0 || d.closed {
		return
	}
	d.recovered = true
	r := &recovery{since: time.Now(), entities: map[rpc.EntityID][]byte{}, seen: map[rpc.GateID]bool{},
		loads: map[rpc.EntityID]bool{}, back: map[rpc.GameID]bool{}}
	for gid := range d.gates {
		r.seen[gid] = true
	}
	for gid, g := range d.games {
		if g.registered {
			r.back[gid] = true
		}
	}
	r.timer = time.AfterFunc(d.cfg.RecoverWindow, d.endRecovery)
	d.rec = r
	d.log.WithField("peer", p.String()).Warnf("%s was connected to another dispatcher instance: this one restarted; holding packets for what re-registers within %v", p, d.cfg.RecoverWindow)
}

// gamesBackLocked reports whether every game of Config.Games has
// re-registered since the restart. The caller holds d.mu.
func (d *Dispatcher) gamesBackLocked(r *recovery) bool {
	if len(d.cfg.Games) == 0 {
		return false
	}
	for _, gid := range d.cfg.Games {
		if !r.back[gid] {
			return false
		}
	}
	return true
}

// placeHeldLoadsLocked places the entities whose loads are held on games,
// as a load outside recovery does, and forwards what was held for each:
// no game has re-registered them, so none holds them. The caller holds
// d.mu for writing.
func (d *Dispatcher) placeHeldLoadsLocked(r *recovery, out *rpc.Batch) {
	for id := range r.loads {
		delete(r.loads, id)
		frames, ok := r.entities[id]
		if !ok {
			continue
		}
		gid, found := d.pickGameLocked()
		if !found {
			d.log.Warnf("load of %s held during recovery: no game connected; dropped", id)
			continue
		}
		delete(r.entities, id)
		r.bytes -= len(frames)
		d.entities[id] = gid
		d.load[gid]++
		d.forwardFramesLocked(out, gid, frames)
	}
}

// endRecovery ends the recovery window: held loads are placed, and what
// is still held for other entities is dropped.
func (d *Dispatcher) endRecovery() {
	defer d.recoverPanic("ending the recovery window", nil)
	var r *recovery
	d.locked(func() {
		r = d.rec
		d.rec = nil
		if r != nil {
			d.placeHeldLoadsLocked(r, nil)
		}
	})
	if r == nil {
		return
	}
	n := 0
	for _, q := range r.entities {
		n += len(q)
	}
	entry := d.log.WithField("recovered_for", time.Since(r.since).Round(time.Millisecond).String())
	if len(r.entities) > 0 || len(r.clients) > 0 || r.dropped > 0 {
		entry.Errorf("recovery window over: %d bytes for %d entities that never registered, %d new clients that found no game and %d packets over recover_queue_limit dropped",
			n, len(r.entities), len(r.clients), r.dropped)
	} else {
		entry.Info("recovery window over; nothing was left waiting")
	}
}

// frozenGame is the queue of a game frozen for a hot reload.
type frozenGame struct {
	mu      sync.Mutex
	frames  []byte // whole frames, in arrival order
	dropped int    // frames refused over FreezeQueueLimit
	since   time.Time
	expire  *time.Timer // runs giveUp once the frozen game's connection is gone
	// restoring is the new process that received the queue and has not yet
	// said MsgRestored. Frames still go to frames as well as to it, so that
	// if it dies before serving, the next process gets them all.
	restoring *peer
}

// entityQueue holds the packets for an entity that is migrating.
type entityQueue struct {
	mu      sync.Mutex
	frames  []byte
	dropped int
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
	if cfg.MaxPacketSize <= 0 {
		cfg.MaxPacketSize = 16 << 20
	}
	if cfg.SendBufferSize <= 0 {
		cfg.SendBufferSize = 64 << 20
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.MigrateQueueLimit <= 0 {
		cfg.MigrateQueueLimit = 4 << 20
	}
	if cfg.FreezeQueueLimit <= 0 {
		cfg.FreezeQueueLimit = 64 << 20
	}
	if cfg.RestoreTimeout <= 0 {
		cfg.RestoreTimeout = 60 * time.Second
	}
	if cfg.RecoverWindow == 0 {
		cfg.RecoverWindow = 20 * time.Second
	}
	if cfg.RecoverQueueLimit <= 0 {
		cfg.RecoverQueueLimit = 64 << 20
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
	}, nil
}

// Addr returns the bound listen address.
func (d *Dispatcher) Addr() net.Addr { return d.ln.Addr() }

// Run accepts connections until ctx is done or Close is called. It returns
// ErrServerClosed after Close, or ctx's error.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.WithField("addr", d.ln.Addr().String()).Info("dispatcher listening")
	stop := context.AfterFunc(ctx, func() { d.Close() })
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

// Close stops accepting, closes every connection and waits for their
// goroutines to end. It is safe to call more than once.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.wg.Wait()
		d.lines.Close()
		return nil
	}
	d.closed = true
	if d.rec != nil {
		d.rec.timer.Stop()
	}
	for _, fg := range d.frozen {
		if fg.expire != nil {
			fg.expire.Stop()
		}
	}
	conns := make([]*rpc.Conn, 0, len(d.conns))
	for c := range d.conns {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	err := d.ln.Close()
	for _, c := range conns {
		c.Close(ErrServerClosed)
	}
	d.wg.Wait()
	d.lines.Close()
	return err
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
				r.bytes -= rpc.HeaderSize + len(body)
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

// add appends a frame to the frozen game's queue within limit (see
// appendBounded).
func (fg *frozenGame) add(limit int, t rpc.MsgType, body []byte) (int, bool) {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	return appendBounded(&fg.frames, &fg.dropped, limit, t, body)
}

// size returns the bytes queued and the frames dropped over the bound.
func (fg *frozenGame) size() (n, dropped int) {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	return len(fg.frames), fg.dropped
}

// take empties the frozen game's queue and returns its frames.
func (fg *frozenGame) take() []byte {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	frames := fg.frames
	fg.frames = nil
	return frames
}

// sendTo sends the frozen game's queue to p, keeping it, and returns its
// bytes and the frames dropped over its bound.
func (fg *frozenGame) sendTo(p *peer) (n, dropped int) {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	p.conn.SendFrame(fg.frames)
	return len(fg.frames), fg.dropped
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

// replayGateLogLocked sends gate p the frames of the recovery's gate log
// that are for it: those routed to it and the filtered broadcasts of this
// dispatcher's shard. It returns their bytes. The caller holds d.mu for
// writing.
func (d *Dispatcher) replayGateLogLocked(r *recovery, p *peer) int {
	gid := rpc.GateID(p.id)
	mine := gid.Shard(d.cfg.Count) == d.cfg.Index
	n := 0
	for b := r.gateLog; len(b) >= rpc.HeaderSize; {
		t, size, err := rpc.ParseHeader(b[:rpc.HeaderSize], len(b))
		if err != nil || rpc.HeaderSize+size > len(b) {
			d.log.Errorf("dispatcher: corrupt recovery log (%v)", err)
			return n
		}
		body := b[rpc.HeaderSize : rpc.HeaderSize+size]
		b = b[rpc.HeaderSize+size:]
		to, _ := rpc.PeekGateID(body)
		if (t == rpc.MsgFilteredBroadcast && mine) || (t != rpc.MsgFilteredBroadcast && to == gid) {
			p.conn.Send(t, body)
			n += rpc.HeaderSize + size
		}
	}
	return n
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

// giveUp runs when a frozen game did not come back within RestoreTimeout:
// its queue is dropped and its peers are told it is gone.
func (d *Dispatcher) giveUp(id rpc.GameID) {
	defer d.recoverPanic("giving up on a frozen game", nil)
	var fg *frozenGame
	d.locked(func() {
		if fg = d.frozen[id]; fg == nil || d.games[id] != nil || d.closed {
			fg = nil
			return
		}
		delete(d.frozen, id)
		d.forgetGameLocked(id)
		d.announceGoneLocked(rpc.RoleGame, uint16(id))
	})
	if fg == nil {
		return
	}
	n, _ := fg.size()
	d.log.Errorf("game%d froze and did not come back within %v; %d queued bytes dropped, its clients will be disconnected", id, d.cfg.RestoreTimeout, n)
}

// toGameLocked forwards one frame to a game through out (nil: at once),
// or queues it while the game is frozen. The caller holds d.mu (read or write): freezing takes the
// write lock, so no frame can slip past the freeze acknowledgement.
func (d *Dispatcher) toGameLocked(out *rpc.Batch, id rpc.GameID, t rpc.MsgType, body []byte) {
	if h := d.forwardHook.Load(); h != nil {
		(*h)(t, body)
	}
	if fg := d.frozen[id]; fg != nil {
		if fg.restoring != nil {
			out.Send(fg.restoring.conn, t, body)
		}
		if n, ok := fg.add(d.cfg.FreezeQueueLimit, t, body); !ok && (n == 1 || n%1000 == 0) {
			d.log.Errorf("game%d is frozen and its queue is full (freeze_queue_limit %d bytes): %d packets dropped so far", id, d.cfg.FreezeQueueLimit, n)
		}
		return
	}
	if g := d.games[id]; g != nil {
		out.Send(g.conn, t, body)
		return
	}
	d.log.Debugf("%v for game%d, which is not connected, dropped", t, id)
}

// pickGameLocked returns the game with the fewest entities in this shard
// (lowest ID on ties, so placement is deterministic), preferring games that
// are not frozen for a reload; ok is false if there is no game at all.
func (d *Dispatcher) pickGameLocked() (best rpc.GameID, ok bool) {
	bestFrozen, bestLoad := true, 0
	consider := func(id rpc.GameID) {
		_, frozen := d.frozen[id]
		l := d.load[id]
		better := !ok || (bestFrozen && !frozen) ||
			(frozen == bestFrozen && (l < bestLoad || (l == bestLoad && id < best)))
		if better {
			best, bestLoad, bestFrozen, ok = id, l, frozen, true
		}
	}
	for id := range d.games {
		consider(id)
	}
	for id := range d.frozen {
		if d.games[id] == nil {
			consider(id)
		}
	}
	return best, ok
}

// newLocalEntityID returns a fresh entity ID in this dispatcher's shard, so
// that the dispatcher can record where it lives before anyone calls it.
func (d *Dispatcher) newLocalEntityID() rpc.EntityID {
	for {
		id := rpc.NewEntityID()
		if id.Shard(d.cfg.Count) == d.cfg.Index {
			return id
		}
	}
}

// freeze starts (on) or ends (off: the game's freeze failed) queueing for
// game p. The acknowledgement is sent under the write lock, after every
// frame already forwarded to p and before any that will be queued.
func (d *Dispatcher) freeze(p *peer, on bool) {
	id := rpc.GameID(p.id)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.games[id] != p {
		return // a stale connection
	}
	fg := d.frozen[id]
	if on {
		if fg == nil {
			d.frozen[id] = &frozenGame{since: time.Now()}
		}
		p.conn.Send(rpc.MsgFreezeAck, nil)
		d.log.WithField("peer", p.String()).Info("game freezing for a hot reload; queueing its packets")
		return
	}
	if fg == nil || (fg.restoring != nil && fg.restoring != p) {
		return
	}
	delete(d.frozen, id)
	if fg.restoring == p {
		return // it has received everything queued already
	}
	frames := fg.take()
	p.conn.SendFrame(frames)
	d.log.WithField("peer", p.String()).WithField("queued_bytes", len(frames)).Warn("game's freeze failed; it resumes with its queued packets")
}

// connectClientLocked places a new client (a MsgClientConnected body from
// a gate): a boot entity ID in this shard on the least loaded game. It
// returns false if there is no game. The caller holds d.mu for writing.
func (d *Dispatcher) connectClientLocked(out *rpc.Batch, body []byte) bool {
	gid, found := d.pickGameLocked()
	if !found {
		return false
	}
	id := d.newLocalEntityID()
	d.entities[id] = gid
	d.load[gid]++
	msg := append(rpc.AppendEntityID(make([]byte, 0, len(body)), id), body[rpc.EntityIDLength:]...)
	d.toGameLocked(out, gid, rpc.MsgClientConnected, msg)
	return true
}

// routeGuarded is route, with a panic turned into a dropped frame: it is
// logged with its stack, the peer and the message, counted in /metrics,
// and the peer's connection serves on. Every lock route takes is released
// by a defer, so a panic leaves none held.
func (d *Dispatcher) routeGuarded(p *peer, t rpc.MsgType, body []byte) (err error) {
	defer d.recoverPanic("routing a frame (dropped)", func(f logrus.Fields) {
		f["peer"], f["msg"] = p.String(), t.String()
		if t.IsEntityRouted() {
			if id, ok := rpc.PeekEntityID(body); ok {
				f["entity"] = fmt.Sprintf("%q", id)
			}
		}
	})
	return d.route(p, t, body)
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

// errProtocol closes a peer that sent something a correct peer never sends.
func errProtocol(p *peer, t rpc.MsgType, what string) error {
	return fmt.Errorf("dispatcher: protocol error from %s: %v: %s", p, t, what)
}

// route handles one frame from p, on p's reader goroutine.
func (d *Dispatcher) route(p *peer, t rpc.MsgType, body []byte) error {
	switch {
	case t.IsEntityRouted():
		return d.routeEntity(p, t, body)
	case t.IsGateRouted():
		gid, ok := rpc.PeekGateID(body)
		if !ok || p.role != rpc.RoleGame {
			return errProtocol(p, t, "short body or not from a game")
		}
		d.mu.RLock()
		defer d.mu.RUnlock()
		g := d.gates[gid]
		if g == nil {
			if r := d.rec; r != nil && !r.seen[gid] {
				// Restarted: the gate has not redialled yet.
				r.hold(d, &r.gateLog, t, body)
				return nil
			}
			d.log.Debugf("%v for unknown gate %d dropped", t, gid)
			return nil
		}
		p.out.Send(g.conn, t, body)
		return nil
	}
	switch t {
	case rpc.MsgClientConnected:
		if p.role != rpc.RoleGate || len(body) < rpc.EntityIDLength+2+8 {
			return errProtocol(p, t, "short body or not from a gate")
		}
		placed := true
		d.locked(func() {
			if d.rec != nil && len(d.games) == 0 && len(d.frozen) == 0 && d.reserveLocked(d.rec, rpc.HeaderSize+len(body)) {
				// Restarted, and no game is back yet: the client waits (or,
				// over the hold's bound, is kicked below).
				d.rec.clients = append(d.rec.clients, append([]byte(nil), body...))
				return
			}
			placed = d.connectClientLocked(p.out, body)
		})
		if !placed {
			d.lines.Logf(d.log, logrus.WarnLevel, "client kicked: no game", "a client connected but no game is connected; kicking it")
			r := rpc.NewReader(body[rpc.EntityIDLength:])
			gid, cid := r.Uint16(), r.Uint64()
			kick := rpc.AppendUint64(rpc.AppendUint16(nil, gid), cid)
			p.out.Send(p.conn, rpc.MsgKickClient, rpc.AppendString(kick, "no game server is available"))
		}
		return nil
	case rpc.MsgFreezeGame, rpc.MsgUnfreezeGame:
		if p.role != rpc.RoleGame {
			return errProtocol(p, t, "not from a game")
		}
		d.freeze(p, t == rpc.MsgFreezeGame)
		return nil
	case rpc.MsgRegistered:
		if p.role != rpc.RoleGame {
			return errProtocol(p, t, "not from a game")
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		p.registered = true
		if r := d.rec; r != nil && !r.back[rpc.GameID(p.id)] {
			r.back[rpc.GameID(p.id)] = true
			if len(r.loads) > 0 && d.gamesBackLocked(r) {
				d.log.WithField("peer", p.String()).Infof("every game has re-registered: placing %d loads held since the restart", len(r.loads))
				d.placeHeldLoadsLocked(r, p.out)
			}
		}
		return nil
	case rpc.MsgRestored:
		if p.role != rpc.RoleGame {
			return errProtocol(p, t, "not from a game")
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if fg := d.frozen[rpc.GameID(p.id)]; fg != nil && fg.restoring == p {
			delete(d.frozen, rpc.GameID(p.id))
			d.log.WithField("peer", p.String()).Info("restored game is serving; hot reload done")
		}
		return nil
	case rpc.MsgFilteredBroadcast:
		if p.role != rpc.RoleGame {
			return errProtocol(p, t, "not from a game")
		}
		d.mu.RLock()
		defer d.mu.RUnlock()
		if r := d.rec; r != nil {
			// For the gates that have not redialled yet.
			r.hold(d, &r.gateLog, t, body)
		}
		for gid, g := range d.gates {
			if gid.Shard(d.cfg.Count) == d.cfg.Index {
				p.out.Send(g.conn, t, body)
			}
		}
		return nil
	}
	return errProtocol(p, t, "unexpected message type")
}

func (d *Dispatcher) routeEntity(p *peer, t rpc.MsgType, body []byte) error {
	if len(body) < rpc.EntityIDLength {
		return errProtocol(p, t, "body shorter than an entity ID")
	}
	key := body[:rpc.EntityIDLength]
	switch t {
	case rpc.MsgRegisterEntity, rpc.MsgUnregisterEntity, rpc.MsgCreateEntitySomewhere, rpc.MsgLoadEntitySomewhere,
		rpc.MsgMigrateBlock, rpc.MsgMigrateEntity, rpc.MsgCreateEntityOnGame, rpc.MsgLoadEntityResult,
		rpc.MsgRequestEntityMethod, rpc.MsgRequestReply, rpc.MsgCallOffline, rpc.MsgEnsureService, rpc.MsgRequestOffline:
		if p.role != rpc.RoleGame {
			return errProtocol(p, t, "not from a game")
		}
	case rpc.MsgClientCall, rpc.MsgClientDisconnected, rpc.MsgClientSyncPosition, rpc.MsgClientRequest, rpc.MsgClientAway:
		if p.role != rpc.RoleGate {
			return errProtocol(p, t, "not from a gate")
		}
	}
	switch t {
	case rpc.MsgRegisterEntity:
		id := rpc.EntityID(key)
		gid := rpc.GameID(p.id)
		epoch, err := registerEpoch(body)
		if err != nil {
			return errProtocol(p, t, err.Error())
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		old, ok := d.entities[id]
		if ok && old != gid && d.blocked[id] == nil {
			// Another game has it, and it is not migrating: two copies of
			// one persistent entity, the newer of which is the one with
			// the greater epoch (its load claimed it later). The older is
			// retired by its game; its route, if it had it, goes to the
			// newer. Without epochs (an entity that is not persistent, or
			// not saved yet), the last registration wins, as a migration
			// does.
			switch was := d.epochs[id]; {
			case epoch != 0 && was > epoch:
				d.log.Warnf("entity %s registered by game%d (epoch %d) lives on game%d (epoch %d): game%d retires its copy", id, gid, epoch, old, was, gid)
				d.toGameLocked(p.out, gid, rpc.MsgRetireEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, id), was))
				return nil
			case epoch != 0 && was != 0 && was < epoch:
				d.log.Warnf("entity %s registered by game%d (epoch %d) lived on game%d (epoch %d): game%d retires its copy", id, gid, epoch, old, was, old)
				d.toGameLocked(p.out, old, rpc.MsgRetireEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, id), epoch))
			}
		}
		if ok {
			d.load[old]--
		}
		d.entities[id] = gid
		if epoch != 0 {
			d.epochs[id] = epoch
		} else {
			delete(d.epochs, id)
		}
		d.load[gid]++
		if q := d.blocked[id]; q != nil {
			// A migrated entity arrived: what waited for it follows, in order.
			delete(d.blocked, id)
			d.forwardFramesLocked(p.out, gid, q.take())
		}
		if r := d.rec; r != nil {
			if frames, ok := r.entities[id]; ok {
				// Re-registered after the restart: what waited for it
				// follows (a held load of it included, which the game
				// ignores: the entity is there).
				delete(r.entities, id)
				delete(r.loads, id)
				r.bytes -= len(frames)
				d.forwardFramesLocked(p.out, gid, frames)
			}
		}
		return nil
	case rpc.MsgUnregisterEntity:
		d.mu.Lock()
		defer d.mu.Unlock()
		if g, ok := d.entities[rpc.EntityID(key)]; ok && g == rpc.GameID(p.id) {
			delete(d.entities, rpc.EntityID(key))
			delete(d.epochs, rpc.EntityID(key))
			d.load[g]--
		}
		return nil
	case rpc.MsgMigrateBlock:
		id := rpc.EntityID(key)
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.blocked[id] == nil {
			d.blocked[id] = &entityQueue{}
		}
		// Under the write lock: every frame for the entity routed before
		// this is already on p's connection, and every later one queues.
		d.toGameLocked(p.out, rpc.GameID(p.id), rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, id))
		return nil
	case rpc.MsgMigrateEntity:
		if len(body) < rpc.EntityIDLength+2 {
			return errProtocol(p, t, "short body")
		}
		from := rpc.GameID(binary.LittleEndian.Uint16(body[rpc.EntityIDLength:]))
		d.mu.RLock()
		defer d.mu.RUnlock()
		gid, ok := d.entities[rpc.EntityID(key)]
		if !ok {
			d.log.Warnf("migration into unknown space %q: sending the entity back to game%d", key, from)
			gid = from
		}
		d.toGameLocked(p.out, gid, t, body)
		return nil
	case rpc.MsgCreateEntityOnGame:
		if len(body) < rpc.EntityIDLength+2 {
			return errProtocol(p, t, "short body")
		}
		id := rpc.EntityID(key)
		gid := rpc.GameID(binary.LittleEndian.Uint16(body[rpc.EntityIDLength:]))
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, live := d.entities[id]; live {
			d.log.Warnf("create of entity %s which already exists: dropped", id)
			return nil
		}
		if d.games[gid] == nil && d.frozen[gid] == nil {
			d.log.Warnf("create of %s on game%d, which is not connected: dropped", id, gid)
			return nil
		}
		d.placeLocked(p.out, id, gid, t, body)
		return nil
	case rpc.MsgCreateEntitySomewhere, rpc.MsgLoadEntitySomewhere, rpc.MsgEnsureService:
		if t == rpc.MsgEnsureService && len(body) < rpc.EntityIDLength+2 {
			return errProtocol(p, t, "short body")
		}
		if !d.placeEntity(p, t, body, rpc.EntityID(key)) {
			return nil
		}
		// A load that names a caller, of a live entity that is migrating:
		// it waits in the entity's queue with its calls (below).
	}
	// Calls and client notifications: forward to the hosting game.
	d.mu.RLock()
	defer d.mu.RUnlock()
	if q := d.blocked[rpc.EntityID(key)]; q != nil {
		if n, ok := q.add(d.cfg.MigrateQueueLimit, t, body); !ok && (n == 1 || n%1000 == 0) {
			d.log.Errorf("entity %s is migrating and its queue is full (%d bytes): %d packets dropped so far", key, d.cfg.MigrateQueueLimit, n)
		}
		return nil
	}
	gid, ok := d.entities[rpc.EntityID(key)]
	if !ok && (t == rpc.MsgCallOffline || t == rpc.MsgRequestOffline) {
		d.offlineToAnyGameLocked(p, t, body, rpc.EntityID(key))
		return nil
	}
	if !ok {
		if r := d.rec; r != nil {
			// Restarted: its game may not have re-registered it yet.
			r.holdFor(d, rpc.EntityID(key), t, body)
			return nil
		}
		d.log.Debugf("%v for unknown entity %q dropped", t, key)
		d.noSuchEntity(p, t, body)
		return nil
	}
	d.toGameLocked(p.out, gid, t, body)
	return nil
}

// noSuchEntity answers a request for an entity that no game hosts with
// rpc.CodeNoEntity, to the peer that sent it, so that the caller does not
// wait for its timeout: to the caller's game (MsgRequestReply, which that
// game routes on if the caller has moved) or to the client's gate (a
// MsgReply frame in a MsgToClient). Other messages get no answer.
func (d *Dispatcher) noSuchEntity(p *peer, t rpc.MsgType, body []byte) {
	r := rpc.NewReader(body)
	callee := r.EntityID()
	switch t {
	case rpc.MsgRequestEntityMethod:
		caller, reqID := r.EntityID(), r.Uint64()
		if r.Err() != nil || caller == "" {
			return
		}
		b := rpc.AppendUint64(rpc.AppendEntityID(nil, caller), reqID)
		p.out.Send(p.conn, rpc.MsgRequestReply, rpc.AppendReplyError(b, rpc.CodeNoEntity, "entity "+string(callee)+" does not exist"))
	case rpc.MsgClientRequest:
		gate, client, reqID := r.Uint16(), r.Uint64(), r.Uint32()
		if r.Err() != nil {
			return
		}
		b := rpc.AppendUint64(rpc.AppendUint16(nil, gate), client)
		b = rpc.AppendUint16(b, uint16(rpc.MsgReply))
		b = rpc.AppendUint32LE(b, reqID)
		p.out.Send(p.conn, rpc.MsgToClient, rpc.AppendReplyError(b, rpc.CodeNoEntity, "entity "+string(callee)+" does not exist"))
	}
}

// placeEntity handles a create or load somewhere of id, or a service
// shard's MsgEnsureService (handled as a load, placed on the game it
// prefers if that one serves): it places a new
// entity on the least loaded game, holds a load during a recovery, drops a
// create of a live entity, and sends a load of a live entity to its game,
// like a call: that game answers the caller if the load names one
// (MsgLoadEntityResult), or loads it again if it has just let it go (a
// destroyed persistent entity stays registered until its final save is
// done: the load waits behind that save there). It reports whether the
// frame must be routed as a call instead (a load of a live entity that is
// migrating: it waits in its queue).
func (d *Dispatcher) placeEntity(p *peer, t rpc.MsgType, body []byte, id rpc.EntityID) (route bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if gid, live := d.entities[id]; live {
		switch {
		case t == rpc.MsgCreateEntitySomewhere:
			d.log.Warnf("create of entity %s which already exists: dropped", id)
		case d.blocked[id] != nil:
			return true
		default:
			d.toGameLocked(p.out, gid, t, body)
		}
		return false
	}
	if r := d.rec; r != nil && t != rpc.MsgCreateEntitySomewhere && !d.gamesBackLocked(r) {
		// Restarted: the entity may live on a game that has not
		// re-registered it yet. Loading it elsewhere would make a
		// second copy; hold the load (and what follows for it).
		q := r.entities[id]
		before := len(q)
		d.holdLocked(r, &q, t, body)
		if len(q) > before { // held, not over the bound
			r.entities[id] = q
			r.loads[id] = true
		}
		return false
	}
	gid, found := d.pickGameLocked()
	if t == rpc.MsgEnsureService {
		// A service's shard goes to the game it prefers, if that game
		// is serving, so that shards spread over the games.
		pref := rpc.GameID(binary.LittleEndian.Uint16(body[rpc.EntityIDLength:]))
		if d.games[pref] != nil && d.frozen[pref] == nil {
			gid, found = pref, true
		}
	}
	if !found {
		d.log.Warnf("%v of %s: no game connected; dropped", t, id)
		return false
	}
	d.placeLocked(p.out, id, gid, t, body)
	return false
}

// offlineToAnyGameLocked sends an offline call of an entity that no game
// has registered (and that is not migrating) to the least loaded game,
// which stores it in the entity's mailbox. (An offline call of a
// registered entity is routed as a call.) It does not register the
// entity: nothing is loaded. During a recovery window the entity may live
// on a game that has not re-registered it yet: the call is stored all the
// same, and the storing game's notice to the entity (an internal call,
// held like any) makes that copy take its mailbox once it registers. The
// caller holds d.mu.
func (d *Dispatcher) offlineToAnyGameLocked(p *peer, t rpc.MsgType, body []byte, id rpc.EntityID) {
	gid, found := d.pickGameLocked()
	if !found {
		d.log.Warnf("%v of %s: no game connected; dropped", t, id)
		return
	}
	d.toGameLocked(p.out, gid, t, body)
}

// placeLocked records that entity id lives on game gid and forwards the
// frame that creates or loads it there. The caller holds d.mu for writing.
func (d *Dispatcher) placeLocked(out *rpc.Batch, id rpc.EntityID, gid rpc.GameID, t rpc.MsgType, body []byte) {
	d.entities[id] = gid
	d.load[gid]++
	d.toGameLocked(out, gid, t, body)
}

// locked runs fn with d.mu held for writing, and releases it even if fn
// panics (a recovered panic must not leave the routing table locked).
func (d *Dispatcher) locked(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn()
}

// hold appends a frame to *q (one of r's) under r.mu, within
// RecoverQueueLimit. The caller holds d.mu for reading.
func (r *recovery) hold(d *Dispatcher, q *[]byte, t rpc.MsgType, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d.holdLocked(r, q, t, body)
}

// holdFor holds a frame for entity id under r.mu. The caller holds d.mu
// for reading.
func (r *recovery) holdFor(d *Dispatcher, id rpc.EntityID, t rpc.MsgType, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.entities[id]
	d.holdLocked(r, &q, t, body)
	if q != nil {
		r.entities[id] = q
	}
}

// add appends a frame to the migration queue within limit (see
// appendBounded).
func (q *entityQueue) add(limit int, t rpc.MsgType, body []byte) (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return appendBounded(&q.frames, &q.dropped, limit, t, body)
}

// take empties the migration queue and returns its frames.
func (q *entityQueue) take() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	frames := q.frames
	q.frames = nil
	return frames
}

// registerEpoch returns the epoch a MsgRegisterEntity body ends with, or
// 0 if it has none.
func registerEpoch(body []byte) (uint64, error) {
	switch len(body) {
	case rpc.EntityIDLength:
		return 0, nil
	case rpc.EntityIDLength + 8:
		return binary.LittleEndian.Uint64(body[rpc.EntityIDLength:]), nil
	}
	return 0, fmt.Errorf("RegisterEntity body of %d bytes: want %d or %d", len(body), rpc.EntityIDLength, rpc.EntityIDLength+8)
}

// appendBounded appends one frame to a queue of at most limit bytes, or
// counts it as dropped; it returns the drop count and whether it was kept.
func appendBounded(frames *[]byte, dropped *int, limit int, t rpc.MsgType, body []byte) (int, bool) {
	if len(*frames)+rpc.HeaderSize+len(body) > limit {
		*dropped++
		return *dropped, false
	}
	*frames = rpc.AppendFrame(*frames, t, body)
	return *dropped, true
}

// forwardFramesLocked sends whole frames to game gid, one by one (through
// its freeze queue if it is frozen). The caller holds d.mu.
func (d *Dispatcher) forwardFramesLocked(out *rpc.Batch, gid rpc.GameID, frames []byte) {
	for len(frames) >= rpc.HeaderSize {
		t, n, err := rpc.ParseHeader(frames[:rpc.HeaderSize], len(frames))
		if err != nil || rpc.HeaderSize+n > len(frames) {
			d.log.Errorf("dispatcher: corrupt migration queue (%v); %d bytes dropped", err, len(frames))
			return
		}
		d.toGameLocked(out, gid, t, frames[rpc.HeaderSize:rpc.HeaderSize+n])
		frames = frames[rpc.HeaderSize+n:]
	}
}
