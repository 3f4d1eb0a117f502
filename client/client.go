// Package client is the Go client for goworld servers: it connects to a
// gate over TCP, KCP or WebSocket, keeps a view of the entities the server shows it,
// calls their exposed methods, and delivers what the server sends as
// events on a channel or to a function.
//
//	c, err := client.Dial("127.0.0.1:14001", client.Options{}) // or "ws://127.0.0.1:14002/"
//	if err != nil { ... }
//	defer c.Close()
//	for ev := range c.Events() {
//		switch ev := ev.(type) {
//		case client.EntityCreated:
//			if ev.IsPlayer {
//				c.CallPlayer("Login", "alice", "secret")
//			}
//		case client.Call:
//			fmt.Println(ev.Method, ev.Args)
//		case client.Disconnected:
//			fmt.Println("disconnected:", ev.Reason)
//		}
//	}
//
// With Options.Resume the client asks the gate for a resumable session
// (docs/protocol.md, 8.1): when the connection drops it reconnects by
// itself, with backoff and jitter, and takes the session up where it
// stopped, nothing lost, duplicated or reordered either way; the
// application sees Reconnecting and Resumed events, and Disconnected only
// when the gate refuses (ErrResumeRefused: log in again) or stays out of
// reach for its resume window (ErrReconnectFailed).
//
//	c, err := client.Dial(addr, client.Options{Resume: true})
//	...
//	case client.Reconnecting:
//		fmt.Println("reconnecting…", ev.Err) // calls made now are sent on resume
//	case client.Resumed:
//		fmt.Println("reconnected")
//
// With Options.OnEvent, a function receives the events instead of the
// channel, called on the client's own goroutine, in the same order; the
// application needs no goroutine per client to read them (a load bot's
// clients then cost about 5 KB less each). It must not block for long,
// and it cannot wait for a Request (ErrRequestInHandler: use
// RequestAsync):
//
//	c, err := client.Dial(addr, client.Options{OnEvent: func(ev client.Event) {
//		if ev, ok := ev.(client.Call); ok && ev.Method == "OnChat" {
//			chats.Add(1)
//		}
//	}})
//
// A client holds one goroutine of its own, its reader, which decodes
// what the gate sends and delivers events; heartbeats and acks are sent
// by timers, and writes by a goroutine that runs only while there is
// something to write. Thousands of clients in one process (a load bot)
// cost about 18 KB of heap each with the application's goroutine
// reading Events, and about 13 KB with OnEvent (docs/performance.md).
//
// The package imports no server package: it speaks the protocol in
// docs/protocol.md through the shared wire layer (package rpc) only.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"go/token"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/internal/goid"
	"github.com/goworld-engine/goworld/internal/wsconn"
	"github.com/goworld-engine/goworld/rpc"
)

// Options configures a client. Zero values take the defaults noted.
type Options struct {
	// KCP connects over KCP (UDP) instead of TCP, after the gate's KCP
	// handshake (KCPHandshake; docs/protocol.md, 3.2). An address that is
	// a ws:// or wss:// URL connects over WebSocket instead, whatever KCP
	// says.
	KCP bool
	// TLS connects over TLS to a gate whose TCP port has a certificate
	// (tls_cert in config.ini). Not for KCP; for WebSocket, dial wss://.
	TLS bool
	// TLSConfig configures TLS and wss:// connections (default: the
	// system's roots, checking the server's name).
	TLSConfig *tls.Config
	// DialTimeout bounds the connection attempt (default 5s). Over KCP it
	// bounds the handshake (Dial fails with ErrNoAnswer if the gate
	// answers no hello), and then again the session's start: a KCP client
	// that has heard nothing more by then disconnects with ErrNoAnswer.
	DialTimeout time.Duration
	// HeartbeatInterval is how often the client sends a heartbeat. Zero
	// (the default) follows the gate: 5s until the gate's answer to the
	// first heartbeat (sent at once) announces its heartbeat_interval,
	// then that. A positive value is kept whatever the gate says;
	// negative disables heartbeats and the silence timeout, for tests of
	// the server's idle timeout.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a silent server may stay silent before
	// it is taken as gone (Disconnected "the server stopped answering").
	// Zero (the default): 4 heartbeat intervals, at most the gate's
	// heartbeat_timeout once it has announced it (20s with the gate's
	// defaults). See Heartbeat for the values in use.
	HeartbeatTimeout time.Duration
	// KCPInterval is how often KCP looks at the session for
	// retransmissions (default 10ms; 10ms to 1s). Longer costs less CPU
	// and resends a lost packet later.
	KCPInterval time.Duration
	// MaxPacketSize is the largest frame body accepted from the server (default 16 MiB).
	MaxPacketSize int
	// LocalIP is the local IP address to connect from, over TCP and
	// WebSocket (tests that play clients from several addresses use
	// 127.0.0.2 and so on: all of 127/8 is loopback on Linux). Empty: the
	// system picks. Not for KCP.
	LocalIP string
	// EventBuffer is how many events the client holds for the
	// application (default 1024). When it holds that many, reading from
	// the server waits for the application. The Events channel itself
	// holds up to 32 of them (cap(Events()) is the smaller of 32 and
	// EventBuffer); the rest wait in a queue that takes memory only while
	// the application is behind, so that a client whose application keeps
	// up costs 32 slots rather than 1024 (16 KB). On Close, events that
	// do not fit in the channel are dropped, as before those that did not
	// fit in it were. Unused with OnEvent.
	EventBuffer int

	// OnEvent, if set, receives the events instead of the Events channel
	// (which is then closed from the start: a loop over it ends at once).
	// It is called on the client's own goroutine, the one that reads
	// from the gate (and, with Resume, reconnects), one event at a time
	// and in the order the channel would give them, Disconnected last;
	// the application then needs no goroutine of its own per client, and
	// no event crosses a channel (a load bot's clients cost about 5 KB of
	// heap less each: docs/performance.md).
	//
	// The client reads nothing from the gate while the handler runs:
	// keep it short, and hand long work to a goroutine of your own.
	// From the handler, Call, CallPlayer, MovePlayer, RequestAsync,
	// Entity and the other methods that do not wait may be called;
	// Request, RequestEntity, RequestAs and RequestEntityAs return
	// ErrRequestInHandler at once (their answer would have to be read by
	// the goroutine waiting for it: use RequestAsync, whose done function
	// runs on the same goroutine); Close returns at once without waiting,
	// and the handler gets Disconnected once it has returned. Close
	// called elsewhere waits for a handler in progress, and for the
	// handler of Disconnected. A panic in the handler ends the session,
	// as a malformed frame does (Disconnected.Err wraps
	// ErrHandlerPanic; a panic in the handler of Disconnected is
	// recovered and dropped).
	OnEvent func(Event)

	// Resume asks the gate for a resumable session (docs/protocol.md,
	// 8.1): when the connection drops (end of stream, a reset, a write
	// error, the server's silence), the client does not end but
	// reconnects to the same address over the same transport and takes
	// the session up again, with the same entities and nothing lost,
	// duplicated or reordered in either direction. It emits Reconnecting
	// before each attempt and Resumed after, or Disconnected when the gate
	// refuses (ErrResumeRefused) or ReconnectMax passes
	// (ErrReconnectFailed). Calls made meanwhile are kept and sent on
	// resume; requests keep waiting (their contexts still apply). A kick,
	// Close and the gate's own goodbye end the session as without Resume.
	//
	// It is off by default: a resumable session costs the gate memory
	// for the frames it keeps for the client (resume_limit) and a seat
	// for the client (max_clients) for the whole resume window after a
	// drop, and the client memory for what it sent until the gate
	// acknowledges it (ResumeBuffer) and an acknowledgement about every
	// 100 ms while frames arrive. Bots and tests that want a drop to end
	// the session at once (and today's frames on the wire) leave it off.
	// A gate with resume_window = off, or one older than resumable
	// sessions, ignores the request: the session is then not resumable,
	// and a drop ends it as without Resume.
	Resume bool
	// ReconnectMax bounds how long a client with Resume keeps trying to
	// reconnect after a drop. Zero (the default): the resume window the
	// gate announced (60 s with the gate's defaults); past it the gate
	// would refuse anyway. Negative: do not reconnect (a drop ends the
	// session, although Close still says goodbye).
	ReconnectMax time.Duration
	// ReconnectDelay is the wait before the first reconnect attempt
	// (default 200 ms); it doubles with each further attempt up to
	// ReconnectDelayMax (default 5 s). Each wait is multiplied by a random
	// factor between 0.5 and 1.5, so that the clients of a gate that
	// comes back do not all dial it at the same moment.
	ReconnectDelay    time.Duration
	ReconnectDelayMax time.Duration
	// ResumeBuffer bounds the bytes of session frames (calls, positions,
	// requests, headers included) a client with Resume keeps until the
	// gate acknowledges them, counting those made while reconnecting
	// (default 4 MiB). A call that would pass it fails with
	// ErrResumeBufferFull and sends nothing.
	ResumeBuffer int
}

// Entity is the client's view of one entity.
type Entity struct {
	ID       rpc.EntityID
	Type     string
	IsPlayer bool
	// Attrs holds the client-visible attributes, as plain Go values
	// (map[string]any, []any, int64, float64, string, bool, []byte, nil).
	Attrs map[string]any
	// Pos and Yaw are where the entity is in the player's space (zero for
	// entities not in a space).
	Pos rpc.Vector3
	Yaw float32
}

// Event is one of EntityCreated, EntityDestroyed, Call, AttrChanged,
// SpaceEntered, Moved and Disconnected, and, for a client with
// Options.Resume, Reconnecting and Resumed.
type Event interface{ isEvent() }

// SpaceEntered: the player entered the space ID (of type Type) at Pos, or
// left its space when ID is empty. The entities of the new space arrive
// as EntityCreated events after it.
type SpaceEntered struct {
	ID   rpc.EntityID
	Type string
	Pos  rpc.Vector3
	Yaw  float32
}

// Moved: the server sent new positions of entities in the view (the view
// is already updated). It may include the player, when the server moved it.
type Moved struct {
	Updates []PositionUpdate
}

// PositionUpdate is one entity's new position.
type PositionUpdate struct {
	ID  rpc.EntityID
	Pos rpc.Vector3
	Yaw float32
}

// EntityCreated: the server showed the client an entity. IsPlayer marks
// the entity that the client controls (its "player", e.g. Account, then
// Avatar after login).
type EntityCreated struct{ Entity }

// EntityDestroyed: an entity left the client's view: it left the
// player's area of interest, left the space or was destroyed, or (with the
// game's aoi_view_limit) nearer entities took its place; a later
// EntityCreated brings it back with its current state.
type EntityDestroyed struct {
	ID   rpc.EntityID
	Type string
}

// Call: the server called Method on the client's copy of an entity.
// Broadcast is true for filtered broadcasts, which target the player.
type Call struct {
	EntityID  rpc.EntityID
	Method    string
	Args      []any
	Broadcast bool
}

// AttrChanged: an attribute of an entity changed; the view is already
// updated. Path runs from the entity's top-level key to the key or index
// that changed (for AttrAppend and AttrPop, to the list itself).
type AttrChanged struct {
	EntityID rpc.EntityID
	Op       rpc.AttrOp
	Path     []any
	Value    any
}

// Disconnected is the last event: the connection is closed. Reason is the
// server's word when it kicked the client, otherwise a description of Err.
type Disconnected struct {
	Reason string
	Err    error
}

func (EntityCreated) isEvent()   {}
func (EntityDestroyed) isEvent() {}
func (Call) isEvent()            {}
func (AttrChanged) isEvent()     {}
func (Disconnected) isEvent()    {}
func (SpaceEntered) isEvent()    {}
func (Moved) isEvent()           {}

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("client: closed")

// ErrKicked is Disconnected.Err after the server kicked the client (the
// reason is Disconnected.Reason). A kick is the server's last word: the
// client closes the connection on receiving it, which matters over KCP,
// where the gate's close is not seen.
var ErrKicked = errors.New("client: kicked by the server")

// ErrNoAnswer is what a KCP client gets when the gate is silent: Dial's
// error (wrapped) when no hello of the handshake was answered within
// Options.DialTimeout, and Disconnected.Err when the gate answered the
// handshake but then nothing came within DialTimeout of Dial. A gate that
// is down or unreachable, one with KCP off, one too busy to answer, and
// one older than the handshake look alike: silence. Dial again, with
// backoff.
var ErrNoAnswer = errors.New("client: no answer from the gate over KCP")

// Client is a connection to a gate (or, with Options.Resume, a session
// over one connection after another). Its methods are safe for
// concurrent use.
type Client struct {
	opts   Options
	addr   string
	events chan Event

	// smu guards conn (the connection in use, replaced on resume) and the
	// resumable session's state; sends hold it, so that frames keep
	// their order across a resume.
	smu  sync.Mutex
	conn *rpc.Conn
	sess session

	evq eventQueue // events that found the channel full (events.go)

	mu        sync.Mutex
	entities  map[rpc.EntityID]*Entity
	player    rpc.EntityID
	space     rpc.EntityID
	spaceType string
	kicked    string

	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	answer  *time.Timer // KCP: gives up if the gate says nothing (ErrNoAnswer)

	isKCP   bool         // the connection is a KCP session (Close says goodbye)
	byeSent atomic.Bool  // Close sent MsgBye: the gate's MsgBye answers it
	follow  bool         // HeartbeatInterval follows the gate's (Options.HeartbeatInterval was 0)
	hbEvery atomic.Int64 // the heartbeat interval in use (time.Duration)
	hbIdle  atomic.Int64 // the silence timeout in use (time.Duration)

	// The timers that send heartbeats and acks (session.go), under tmu;
	// timersOff once the session has ended.
	tmu       sync.Mutex
	hbTimer   *time.Timer
	ackTimer  *time.Timer
	timersOff bool

	framesIn, bytesIn, framesOut, bytesOut atomic.Int64

	// Requests waiting for their answers (see Request), under mu.
	pending map[uint32]waiter
	nextReq uint32
	ended   bool // the read loop has ended: no answer will come

	// With Options.OnEvent (onevent.go): the ID of the run goroutine,
	// which calls the handler; the handler's panic, on the run goroutine
	// only; and the timer that bounds a Close from the handler (under
	// tmu).
	readerG    atomic.Uint64
	handlerErr error
	closeTimer *time.Timer
}

// Stats counts what a client has received and sent since it connected.
// Bytes include each frame's header; KCP's and TCP's own overhead is not
// counted.
type Stats struct {
	FramesIn, BytesIn   int64
	FramesOut, BytesOut int64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		FramesIn: c.framesIn.Load(), BytesIn: c.bytesIn.Load(),
		FramesOut: c.framesOut.Load(), BytesOut: c.bytesOut.Load(),
	}
}

// Dial connects to a gate at addr: host:port for TCP (or KCP with
// opts.KCP), or a ws:// or wss:// URL for the gate's WebSocket port
// (ws_addr in config.ini; any path).
func Dial(addr string, opts Options) (*Client, error) {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	follow := opts.HeartbeatInterval == 0
	if follow {
		opts.HeartbeatInterval = 5 * time.Second
	}
	if opts.HeartbeatInterval > 0 {
		opts.HeartbeatInterval = max(opts.HeartbeatInterval, rpc.MinHeartbeatInterval)
	}
	if opts.MaxPacketSize <= 0 {
		opts.MaxPacketSize = 16 << 20
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = 1024
	}
	if opts.ReconnectDelay <= 0 {
		opts.ReconnectDelay = 200 * time.Millisecond
	}
	if opts.ReconnectDelayMax <= 0 {
		opts.ReconnectDelayMax = 5 * time.Second
	}
	opts.ReconnectDelayMax = max(opts.ReconnectDelayMax, opts.ReconnectDelay)
	if opts.ResumeBuffer <= 0 {
		opts.ResumeBuffer = 4 << 20
	}
	if opts.LocalIP != "" {
		if ip := net.ParseIP(opts.LocalIP); ip == nil || (opts.KCP && !wsconn.IsURL(addr)) {
			return nil, fmt.Errorf("client: LocalIP %q: want an IP address, and TCP or WebSocket", opts.LocalIP)
		}
	}
	nc, err := dialNet(context.Background(), addr, opts, helloGapDial)
	if err != nil {
		return nil, err
	}
	idle := time.Duration(0)
	if opts.HeartbeatInterval > 0 {
		idle = 4 * opts.HeartbeatInterval
		if opts.HeartbeatTimeout > 0 {
			idle = opts.HeartbeatTimeout
		}
	}
	c := &Client{
		opts:     opts,
		addr:     addr,
		entities: map[rpc.EntityID]*Entity{},
		closing:  make(chan struct{}),
		isKCP:    opts.KCP && !wsconn.IsURL(addr),
		follow:   follow,
	}
	if opts.OnEvent != nil {
		c.events = closedEvents
	} else {
		chanCap := min(opts.EventBuffer, eventChanCap)
		c.events = make(chan Event, chanCap)
		c.evq = eventQueue{max: opts.EventBuffer - chanCap, room: make(chan struct{}, 1)}
	}
	c.hbEvery.Store(int64(opts.HeartbeatInterval))
	c.hbIdle.Store(int64(idle))
	c.conn = c.newConn(nc)
	// The first frame, on every transport: the protocol version (and
	// with Resume, the HelloResume flag). The gate creates the boot
	// entity only after it, and kicks a client of another version with a
	// reason (Disconnected.Reason).
	c.send(rpc.MsgClientHello, c.helloBody())
	if c.isKCP || opts.HeartbeatInterval > 0 {
		// The gate answers a heartbeat at once, with its heartbeat
		// settings (adopted in handle). Over KCP, silence means it
		// refused the session or went away.
		c.send(rpc.MsgHeartbeat, nil)
	}
	if c.isKCP {
		first := c.conn
		c.answer = time.AfterFunc(opts.DialTimeout, func() {
			if c.framesIn.Load() == 0 {
				first.Close(fmt.Errorf("%w within %v (it is down or unreachable, or refused the session)", ErrNoAnswer, opts.DialTimeout))
			}
		})
	}
	c.wg.Add(1)
	go c.run(c.conn)
	c.startHeartbeats()
	return c, nil
}

// readBufferSize is the size of a connection's read buffer: a few
// frames of a busy chat per read, as bufio's default. A frame larger
// than it is read past it, straight into its body. (It was 16 KiB, which
// made it the largest part of an idle client.)
const readBufferSize = 4 << 10

// newConn wraps a new connection to the gate.
func (c *Client) newConn(nc net.Conn) *rpc.Conn {
	return rpc.NewConn(nc, rpc.ConnConfig{
		MaxBody: c.opts.MaxPacketSize, MaxPending: 64 << 20, ReadBufferSize: readBufferSize,
		IdleTimeout: time.Duration(c.hbIdle.Load()),
		// A gate that kicks a client closes the socket after the kick:
		// a write of ours that fails meanwhile must not hide the reason.
		DrainAfterWriteError: time.Second,
	})
}

// dialNet connects to the gate at addr over the transport opts and addr
// say (TCP, TLS, KCP with its handshake, or WebSocket), within
// opts.DialTimeout and ctx; a KCP handshake resends its hello at most
// helloGap apart.
func dialNet(ctx context.Context, addr string, opts Options, helloGap time.Duration) (net.Conn, error) {
	dialer := &net.Dialer{Timeout: opts.DialTimeout}
	if opts.LocalIP != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(opts.LocalIP)}
	}
	if wsconn.IsURL(addr) {
		d := websocket.Dialer{
			HandshakeTimeout: opts.DialTimeout, TLSClientConfig: opts.TLSConfig,
			ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10,
			NetDialContext: dialer.DialContext,
		}
		ws, resp, err := d.DialContext(ctx, addr, nil)
		if err != nil {
			if resp != nil {
				return nil, fmt.Errorf("client: websocket dial %s: %w (HTTP %s)", addr, err, resp.Status)
			}
			return nil, fmt.Errorf("client: websocket dial %s: %w", addr, err)
		}
		return wsconn.New(ws), nil
	}
	if opts.KCP {
		if opts.TLS {
			return nil, errors.New("client: TLS is for TCP; KCP has none (and WebSocket dials wss://)")
		}
		s, err := dialKCP(ctx, addr, opts.DialTimeout, helloGap)
		if err != nil {
			return nil, err
		}
		s.SetNoDelay(1, int(min(max(opts.KCPInterval, 10*time.Millisecond), time.Second)/time.Millisecond), 2, 1)
		s.SetWindowSize(128, 128)
		s.SetACKNoDelay(true)
		return s, nil
	}
	nc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	nc.(*net.TCPConn).SetNoDelay(true)
	if opts.TLS {
		return tlsHandshake(ctx, nc, addr, opts)
	}
	return nc, nil
}

// tlsHandshake runs the TLS handshake over nc within DialTimeout and ctx.
func tlsHandshake(ctx context.Context, nc net.Conn, addr string, opts Options) (net.Conn, error) {
	conf := &tls.Config{}
	if opts.TLSConfig != nil {
		conf = opts.TLSConfig.Clone()
	}
	if conf.ServerName == "" && !conf.InsecureSkipVerify {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("client: %w", err)
		}
		conf.ServerName = host
	}
	tc := tls.Client(nc, conf)
	tc.SetDeadline(time.Now().Add(opts.DialTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("client: TLS handshake with %s: %w", addr, err)
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// Events returns the channel of events. It is closed after Disconnected;
// with Options.OnEvent, which receives the events instead, it is closed
// from the start.
func (c *Client) Events() <-chan Event { return c.events }

// Player returns the client's player entity, if the server has shown one.
func (c *Client) Player() (Entity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entities[c.player]; ok {
		return snapshot(e), true
	}
	return Entity{}, false
}

// Entity returns the view of entity id.
func (c *Client) Entity(id rpc.EntityID) (Entity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entities[id]; ok {
		return snapshot(e), true
	}
	return Entity{}, false
}

func snapshot(e *Entity) Entity {
	s := *e
	s.Attrs = deepCopy(e.Attrs).(map[string]any)
	return s
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	case []byte:
		return append(x[:0:0], x...)
	}
	return v
}

// Call calls an exposed method on entity id. It returns once the call is
// queued; the server's answer, if any, arrives as events.
func (c *Client) Call(id rpc.EntityID, method string, args ...any) error {
	if err := checkTarget(id, method); err != nil {
		return err
	}
	b := rpc.AppendString(rpc.AppendEntityID(nil, id), method)
	b, err := rpc.AppendArgs(b, args)
	if err != nil {
		return err
	}
	return sendErr(c.send(rpc.MsgCallEntity, b))
}

// sendErr is what a call returns for send's error: ErrResumeBufferFull
// as is, ErrClosed for a connection that is closed.
func sendErr(err error) error {
	if err == nil || errors.Is(err, ErrResumeBufferFull) {
		return err
	}
	return ErrClosed
}

// Entities returns a snapshot of every entity in the view, the player
// included.
func (c *Client) Entities() []Entity {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Entity, 0, len(c.entities))
	for _, e := range c.entities {
		out = append(out, snapshot(e))
	}
	return out
}

// NumEntities returns the number of entities in the view, the player included.
func (c *Client) NumEntities() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entities)
}

// Space returns the space the player is in and its type ("" if none).
func (c *Client) Space() (rpc.EntityID, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.space, c.spaceType
}

// MovePlayer tells the server the player moved to pos, heading yaw, in
// the space it is in, and updates the view's copy. The server applies it
// only while the player is in that space (a move sent just before a space
// change is dropped); other clients that see the player get it at the
// next position sync.
func (c *Client) MovePlayer(pos rpc.Vector3, yaw float32) error {
	if !pos.Finite() || !(rpc.Vector3{X: yaw}).Finite() {
		return fmt.Errorf("client: position %v yaw %v is not finite", pos, yaw)
	}
	c.mu.Lock()
	id, sp := c.player, c.space
	if e := c.entities[id]; e != nil {
		e.Pos, e.Yaw = pos, yaw
	}
	c.mu.Unlock()
	if id == "" {
		return errors.New("client: no player entity yet")
	}
	if sp == "" {
		return errors.New("client: the player is in no space")
	}
	b := rpc.AppendEntityID(nil, id)
	b = rpc.AppendEntityID(b, sp)
	b = rpc.AppendPosition(b, pos, yaw)
	return sendErr(c.send(rpc.MsgSyncPosition, b))
}

// CallPlayer calls an exposed method on the player entity.
func (c *Client) CallPlayer(method string, args ...any) error {
	c.mu.Lock()
	id := c.player
	c.mu.Unlock()
	if id == "" {
		return errors.New("client: no player entity yet")
	}
	return c.Call(id, method, args...)
}

// SendRaw sends one frame as is. It exists for tests of servers'
// handling of bad input.
func (c *Client) SendRaw(t rpc.MsgType, body []byte) error { return c.send(t, body) }

// closeWait bounds how long Close waits for what is queued to be
// written and, over KCP or in a resumable session, for the gate's answer
// to the client's goodbye.
const closeWait = time.Second

// Close flushes what is queued (for up to a second), closes the
// connection and waits for the client's goroutines. Over KCP, and in a
// session asked for with Options.Resume on every transport, it first
// says goodbye (MsgBye) and waits, within the same second, for the
// gate's answer, so that the gate ends the session at once: KCP has no
// close that the gate would see, and a resumable session's gate takes a
// close without goodbye as a drop and holds the session, and its
// entity, for its resume window. A client that is reconnecting has no
// connection to say goodbye on: it stops, and what it kept for the
// resume is dropped. Events still buffered can be read; the channel is
// then closed. With Options.OnEvent, Close waits for a handler in
// progress and the handler of Disconnected; called from the handler, it
// waits for nothing (see Options.OnEvent).
func (c *Client) Close() error {
	if c.onReader() {
		return c.closeFromHandler()
	}
	wait := time.NewTimer(closeWait)
	defer wait.Stop()
	c.smu.Lock()
	conn, away := c.conn, c.sess.away
	bye := c.isKCP || (c.opts.Resume && c.sess.state != sessNone)
	c.smu.Unlock()
	if !away {
		if bye && !c.byeSent.Swap(true) && c.send(rpc.MsgBye, nil) == nil {
			// The answer comes after everything sent before the bye was
			// received (the transports are reliable and ordered): the
			// reader then ends the connection (handle).
			select {
			case <-conn.Done():
			case <-wait.C:
			}
		}
		conn.CloseAfterFlush(ErrClosed)
		select {
		case <-conn.Done():
		case <-wait.C:
		}
	}
	c.once.Do(func() { close(c.closing) })
	// The connection in use now: a resume that swapped one in meanwhile
	// saw closing, or is seen here.
	c.smu.Lock()
	conn = c.conn
	c.smu.Unlock()
	conn.Close(ErrClosed)
	c.wg.Wait()
	return nil
}

// Heartbeat returns the heartbeat interval in use and how long the
// server may stay silent before the client takes it as gone (0 and 0
// with heartbeats off): Options.HeartbeatInterval and HeartbeatTimeout,
// or, where those are zero, what the gate announced (see Options).
func (c *Client) Heartbeat() (interval, timeout time.Duration) {
	if c.opts.HeartbeatInterval < 0 {
		return 0, 0
	}
	return time.Duration(c.hbEvery.Load()), time.Duration(c.hbIdle.Load())
}

// adopt applies the heartbeat settings a gate announced in a
// MsgHeartbeatAck, where the options leave them to the gate. On the
// reader goroutine.
func (c *Client) adopt(p rpc.HeartbeatParams) {
	if c.opts.HeartbeatInterval < 0 {
		return
	}
	every := c.opts.HeartbeatInterval
	if c.follow {
		every = p.Interval
	}
	idle := c.opts.HeartbeatTimeout
	if idle <= 0 {
		idle = min(4*every, p.Timeout)
	}
	if time.Duration(c.hbIdle.Swap(int64(idle))) != idle {
		c.smu.Lock()
		c.conn.SetIdleTimeout(idle)
		c.smu.Unlock()
	}
	if time.Duration(c.hbEvery.Swap(int64(every))) != every {
		c.resetHeartbeat()
	}
}

// run serves the client's connection, and with Options.Resume those
// that replace it after drops, until the session ends: then it stops
// the timers (heartbeats, acks), emits Disconnected and closes the
// events channel.
func (c *Client) run(conn *rpc.Conn) {
	defer c.wg.Done()
	defer c.closeEvents()
	if c.opts.OnEvent != nil {
		c.readerG.Store(goid.Current())
	}
	var d *Disconnected
	for {
		reason := conn.Serve(c.serve)
		if c.answer != nil {
			c.answer.Stop()
		}
		conn.Wait()
		if !c.mayResume(reason) {
			d = c.disconnected(reason)
			break
		}
		next, end := c.reconnect(reason)
		if end != nil {
			d = end
			break
		}
		conn = next
		if !c.emit(Resumed{}) && c.handlerErr != nil {
			conn.Close(c.handlerErr)
			conn.Wait()
			d = c.disconnected(c.handlerErr)
			break
		}
		if c.opts.HeartbeatInterval > 0 {
			// Heartbeats restart on the new connection, and its answer
			// tells the gate's settings again.
			c.send(rpc.MsgHeartbeat, nil)
			c.resetHeartbeat()
		}
	}
	c.stopTimers()
	c.smu.Lock()
	c.sess.over, c.sess.away = true, true
	c.sess.kept, c.sess.keptBytes = nil, 0
	c.smu.Unlock()
	c.mu.Lock()
	c.ended = true
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, w := range pending {
		w.deliver(reply{err: ErrClosed})
	}
	c.emit(*d)
}

// disconnected returns the Disconnected event for a connection that
// ended with reason.
func (c *Client) disconnected(reason error) *Disconnected {
	c.mu.Lock()
	kicked := c.kicked
	c.mu.Unlock()
	d := &Disconnected{Reason: kicked, Err: reason}
	if d.Reason == "" {
		switch {
		case errors.Is(reason, rpc.ErrIdleTimeout):
			d.Reason = "the server stopped answering"
		case errors.Is(reason, ErrNoAnswer):
			d.Reason = "the gate did not answer"
		case errors.Is(reason, rpc.ErrPeerClosed):
			d.Reason = "the server closed the connection"
		case errors.Is(reason, ErrClosed):
			d.Reason = "closed by the client"
		case errors.Is(reason, ErrHandlerPanic):
			d.Reason = "the event handler panicked"
		default:
			d.Reason = reason.Error()
		}
	}
	return d
}

// serve handles one frame from the gate (handle), counts it if it is a
// session frame of a resumable session, and marks the handler's errors
// other than the gate's last words as protocol errors, which end the
// session rather than resume it.
func (c *Client) serve(t rpc.MsgType, body []byte) error {
	err := c.handle(t, body)
	if c.handlerErr != nil {
		return c.handlerErr // OnEvent panicked: ends the session
	}
	if err != nil {
		if errors.Is(err, ErrKicked) || errors.Is(err, ErrClosed) || errors.Is(err, rpc.ErrPeerClosed) {
			return err
		}
		return protocolError{err}
	}
	if c.opts.Resume && rpc.IsSessionFrame(t) {
		c.received(t, rpc.HeaderSize+len(body))
	}
	return nil
}

func (c *Client) handle(t rpc.MsgType, body []byte) error {
	c.framesIn.Add(1)
	c.bytesIn.Add(int64(rpc.HeaderSize + len(body)))
	switch t {
	case rpc.MsgHeartbeatAck:
		if p, ok := rpc.DecodeHeartbeatAck(body); ok {
			c.adopt(p)
		}
		return nil
	case rpc.MsgBye:
		// The gate's answer to our goodbye: it has ended the session.
		if c.byeSent.Load() {
			return ErrClosed
		}
		return errGateBye
	case rpc.MsgSession:
		return c.gotSession(body)
	case rpc.MsgAck:
		return c.gotAck(body)
	case rpc.MsgCreateEntity:
		return c.createEntity(t, body)
	case rpc.MsgDestroyEntity:
		return c.destroyEntity(t, body)
	case rpc.MsgCallClient:
		return c.callClient(t, body)
	case rpc.MsgAttrChange:
		return c.attrChange(t, body)
	case rpc.MsgEnterSpace:
		return c.enterSpace(t, body)
	case rpc.MsgPositions:
		return c.positions(t, body)
	case rpc.MsgReply:
		return c.reply(body)
	case rpc.MsgKick:
		reason := rpc.NewReader(body).String()
		c.mu.Lock()
		c.kicked = reason
		c.mu.Unlock()
		return ErrKicked
	}
	return fmt.Errorf("client: unexpected message type %d from server", uint16(t))
}

// createEntity handles an entity entered the client's view, or became its player (MsgCreateEntity).
func (c *Client) createEntity(t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	id := r.EntityID()
	isPlayer := r.Uint8() != 0
	typ := r.String()
	if r.Err() != nil {
		return fmt.Errorf("client: malformed %v: %w", t, r.Err())
	}
	if id == "" {
		return fmt.Errorf("client: malformed %v: zero entity ID", t)
	}
	rest := r.Rest()
	v, n, err := rpc.DecodeAny(rest)
	if err != nil {
		return fmt.Errorf("client: %v attributes: %w", t, err)
	}
	attrs, _ := v.(map[string]any)
	if attrs == nil {
		attrs = map[string]any{}
	}
	e := &Entity{ID: id, Type: typ, IsPlayer: isPlayer, Attrs: attrs}
	if tail := rest[n:]; len(tail) > 0 {
		pr := rpc.NewReader(tail)
		e.Pos, e.Yaw = pr.Position()
		if pr.Err() != nil || pr.Remaining() != 0 {
			return fmt.Errorf("client: malformed %v: %d bytes after the attributes", t, len(tail))
		}
	}
	c.mu.Lock()
	if isPlayer {
		if old := c.entities[c.player]; old != nil && c.player != id {
			old.IsPlayer = false // handed over: no longer the player
		}
		c.player = id
	}
	// isPlayer = 0 leaves the player unchanged, even when it names the
	// player itself: the view must not hold a player that is not one.
	e.IsPlayer = id == c.player
	c.entities[id] = e
	ev := EntityCreated{snapshot(e)}
	c.mu.Unlock()
	c.emit(ev)
	return nil
}

// destroyEntity handles an entity left the client's view (MsgDestroyEntity).
func (c *Client) destroyEntity(t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	id := r.EntityID()
	if r.Err() != nil || id == "" {
		return fmt.Errorf("client: malformed %v: %v", t, r.Err())
	}
	c.mu.Lock()
	e := c.entities[id]
	delete(c.entities, id)
	if c.player == id {
		c.player = ""
	}
	c.mu.Unlock()
	typ := ""
	if e != nil {
		typ = e.Type
	}
	c.emit(EntityDestroyed{ID: id, Type: typ})
	return nil
}

// callClient handles a call of a client method (MsgCallClient).
func (c *Client) callClient(t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	id, method := r.EntityID(), r.String()
	if r.Err() != nil {
		return fmt.Errorf("client: malformed %v: %w", t, r.Err())
	}
	args, err := rpc.DecodeAnyArgs(r.Rest())
	if err != nil {
		return fmt.Errorf("client: %v %s: %w", t, method, err)
	}
	ev := Call{EntityID: id, Method: method, Args: args}
	if id == "" {
		c.mu.Lock()
		ev.EntityID, ev.Broadcast = c.player, true
		c.mu.Unlock()
	}
	c.emit(ev)
	return nil
}

// attrChange handles a change of an entity's attributes (MsgAttrChange).
func (c *Client) attrChange(t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	id, op := r.EntityID(), rpc.AttrOp(r.Uint8())
	if r.Err() != nil || id == "" {
		return fmt.Errorf("client: malformed %v: %v", t, r.Err())
	}
	rest := r.Rest()
	pv, n, err := rpc.DecodeAny(rest)
	if err != nil {
		return fmt.Errorf("client: %v path: %w", t, err)
	}
	value, _, err := rpc.DecodeAny(rest[n:])
	if err != nil {
		return fmt.Errorf("client: %v value: %w", t, err)
	}
	path, _ := pv.([]any)
	c.mu.Lock()
	if e := c.entities[id]; e != nil {
		if err := rpc.ApplyAttrChange(e.Attrs, op, path, value); err != nil {
			c.mu.Unlock()
			return fmt.Errorf("client: %v on %s: %w", t, id, err)
		}
	}
	c.mu.Unlock()
	c.emit(AttrChanged{EntityID: id, Op: op, Path: path, Value: deepCopy(value)})
	return nil
}

// enterSpace handles the player entered a space, or left its own (MsgEnterSpace).
func (c *Client) enterSpace(t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	id, typ := r.EntityID(), r.String()
	pos, yaw := r.Position()
	if r.Err() != nil || r.Remaining() != 0 {
		return fmt.Errorf("client: malformed %v (%d bytes)", t, len(body))
	}
	c.mu.Lock()
	c.space, c.spaceType = id, typ
	if e := c.entities[c.player]; e != nil {
		e.Pos, e.Yaw = pos, yaw
	}
	c.mu.Unlock()
	c.emit(SpaceEntered{ID: id, Type: typ, Pos: pos, Yaw: yaw})
	return nil
}

// positions handles where entities in view are now (MsgPositions).
func (c *Client) positions(t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	n := int(r.Uint16())
	if r.Err() != nil || r.Remaining() != n*(rpc.EntityIDLength+rpc.PositionSize) {
		return fmt.Errorf("client: malformed %v (%d bytes)", t, len(body))
	}
	ups := make([]PositionUpdate, n)
	for i := range ups {
		ups[i].ID = r.EntityID()
		ups[i].Pos, ups[i].Yaw = r.Position()
	}
	if r.Err() != nil {
		return fmt.Errorf("client: malformed %v: %w", t, r.Err())
	}
	c.mu.Lock()
	for _, u := range ups {
		if e := c.entities[u.ID]; e != nil {
			e.Pos, e.Yaw = u.Pos, u.Yaw
		}
	}
	c.mu.Unlock()
	c.emit(Moved{Updates: ups})
	return nil
}

// checkTarget checks the entity and method of a call or request before
// it is sent: the gate would kick the client for a method name that is
// too long or not an identifier (a protocol error).
func checkTarget(id rpc.EntityID, method string) error {
	if !id.Valid() {
		return fmt.Errorf("client: invalid entity ID %q", id)
	}
	if len(method) > rpc.MaxMethodNameLen {
		return fmt.Errorf("client: method name of %d bytes, over the limit of %d", len(method), rpc.MaxMethodNameLen)
	}
	if !token.IsIdentifier(method) {
		return fmt.Errorf("client: method name %q is not an identifier", method)
	}
	return nil
}
