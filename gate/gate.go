// Package gate terminates client connections and relays their packets to
// and from the dispatchers.
//
// A gate listens on one port for TCP and, optionally, KCP (over UDP, with
// github.com/xtaci/kcp-go/v5), and on a port of its own for WebSocket
// clients (browsers; github.com/gorilla/websocket, optionally over TLS);
// all three carry the same frames (docs/protocol.md).
// For every client it:
//
//   - tells a dispatcher it connected, which places a boot entity for it on a game;
//   - forwards its calls (MsgCallEntity) with the client's gate and client
//     IDs attached, so the game can check that the client may call that
//     entity — the gate does not decode arguments;
//   - delivers what games send it, including filtered broadcasts by client
//     property (chat rooms: a game sets property "room" on a client and
//     broadcasts to room = "lobby");
//   - disconnects it when it sends nothing for the heartbeat timeout, sends
//     a frame the protocol does not allow, sends faster than its rate
//     limits, or reads too slowly; and refuses clients beyond MaxClients
//     and new KCP sessions beyond KCPSessionRate.
//
// KCP sessions open only after a stateless cookie handshake (kcpfilter.go,
// docs/protocol.md section 3.2), and become clients at their first
// complete frame (kcp.go).
//
// The gate holds no game state. Each client costs one reader goroutine and
// a small struct; a writer goroutine exists only while a client has
// something to receive.
package gate

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"go/token"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/internal/fdlimit"
	"github.com/goworld-engine/goworld/internal/lograte"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/rpc/link"
	"github.com/sirupsen/logrus"
	kcp "github.com/xtaci/kcp-go/v5"
)

// Config configures a Gate. Zero values take the defaults noted.
type Config struct {
	// ID is the gate's number ([gate1] is 1). Required.
	ID int
	// ListenAddr is the client address, for TCP and (with KCP) UDP.
	ListenAddr string
	// KCP also serves KCP on the same port as TCP.
	KCP bool
	// WSAddr, if set, is where the gate serves WebSocket clients (its own
	// port: an HTTP server that upgrades requests on any path). The
	// clients speak the same frames as over TCP, in binary messages.
	WSAddr string
	// TLSCertFile and TLSKeyFile, if set, make the TCP client port speak
	// TLS (PEM certificate chain and key): clients then dial it with TLS
	// (client.Options.TLS). KCP, on the same port number, stays plain.
	TLSCertFile, TLSKeyFile string
	// TLSHandshakeTimeout bounds a TLS client's handshake (default 10s):
	// a client that has not completed it by then is closed, before it
	// costs a boot entity.
	TLSHandshakeTimeout time.Duration
	// WSTLSCertFile and WSTLSKeyFile, if set, make the WebSocket port
	// serve TLS (wss://) with this PEM certificate chain and key.
	WSTLSCertFile, WSTLSKeyFile string
	// WSOrigins lists the browser origins (e.g. "https://game.example")
	// allowed to open a WebSocket; empty allows any. Requests without an
	// Origin header (programs, not browsers) are always allowed.
	WSOrigins []string
	// Dispatchers are the addresses of all dispatchers, in config order.
	Dispatchers []string
	// HeartbeatTimeout disconnects a client that sends nothing for this
	// long (default 30s).
	HeartbeatTimeout time.Duration
	// HeartbeatInterval is how often clients should send a heartbeat
	// (default 5s; at least rpc.MinHeartbeatInterval, and cut to half of
	// HeartbeatTimeout). The gate announces it, with HeartbeatTimeout, in
	// every MsgHeartbeatAck; the Go and JavaScript clients adopt both, and
	// take the gate as gone after min(4 intervals, HeartbeatTimeout)
	// without a frame from it.
	HeartbeatInterval time.Duration
	// MaxClientPacketSize is the largest frame body a client may send (default 64 KiB).
	MaxClientPacketSize int
	// ClientSendBufferSize bounds the bytes queued for one client (default 1 MiB).
	ClientSendBufferSize int
	// MaxPacketSize is the largest frame body accepted from a dispatcher (default 16 MiB).
	MaxPacketSize int
	// Secret is the cluster secret (nil: none): the links to the
	// dispatchers prove they hold it, and refuse a dispatcher that cannot
	// prove it too (see link.Config.Secret).
	Secret []byte
	// SendBufferSize is the bytes queued for a dispatcher past which the
	// clients whose frames fill it wait for it to drain (back-pressure;
	// default 64 MiB).
	SendBufferSize int
	// ClientMsgRate and ClientMsgBurst bound the frames one client may send
	// per second (token bucket; defaults 1000/s, burst 2000). ClientByteRate
	// and ClientByteBurst do the same for bytes, headers included (defaults
	// 1 MiB/s, burst 2 MiB; a burst below one largest frame is raised to it).
	// Zero takes the default, negative means unlimited. A client over a limit
	// is kicked with "rate limit: ...".
	ClientMsgRate, ClientMsgBurst   int
	ClientByteRate, ClientByteBurst int
	// MaxClients bounds the connected clients (default 50000; negative:
	// as many as the open-file limit allows). Connections beyond are
	// kicked with "server full". New clamps it to the process's open-file
	// limit (RLIMIT_NOFILE, raised to its hard limit first) less
	// FDReserve descriptors and one per dispatcher, with a warning, and
	// fails if that leaves fewer than MinClients: at the limit, accept
	// would fail for players and for the admin server alike.
	MaxClients int
	// MaxClientRequests bounds the requests (MsgRequest) one client may
	// have waiting for their answers (default 64): the gate answers one
	// beyond with rpc.CodeOverloaded at once, without forwarding it.
	MaxClientRequests int
	// KCPSessionRate and KCPSessionBurst bound new KCP sessions per second
	// (defaults 500/s, burst 2500; negative: unlimited). The first
	// datagram of a session beyond is dropped before KCP sees it (the
	// client's KCP resends it), and the drops logged at most once a second.
	KCPSessionRate, KCPSessionBurst int
	// KCPHelloRate bounds the KCP handshake hellos the gate answers per
	// second, in all (default 2000/s, burst the same; negative:
	// unlimited). The rest go unanswered; clients resend theirs.
	KCPHelloRate int
	// KCPHandshakeTimeout is how long a new KCP session has to deliver its
	// first complete frame (default 3s; at most HeartbeatTimeout). Until
	// then it is pending, not a client: it does not count against
	// MaxClients. Then it is closed.
	KCPHandshakeTimeout time.Duration
	// KCPInterval is how often KCP looks at each session for
	// retransmissions (default 10ms; 10ms to 1s, whole milliseconds). Each
	// look costs every session a little CPU, idle or not; a lost packet
	// waits up to an interval longer for its resend.
	KCPInterval time.Duration
	// ResumeWindow is how long the gate holds a resumable session (a
	// client that asked for one with rpc.HelloResume) after its
	// connection dropped without a quit, for the client to resume it with
	// MsgResume (default 60s; negative: sessions are not resumable, and
	// the hello's flag is ignored). At most MaxResumeWindow.
	ResumeWindow time.Duration
	// ResumeLimit bounds the bytes of session frames the gate keeps for
	// one resumable client: unacknowledged while it is connected (past
	// it the oldest are forgotten), everything sent while it is away
	// (past it the held session ends). Default 1 MiB; at least
	// MinResumeLimit.
	ResumeLimit int
	// ShutdownReason is the kick reason a graceful Shutdown gives every
	// client (default "server shutting down").
	ShutdownReason string
	// ShutdownGrace bounds the graceful shutdown that cancelling Run's
	// context starts (default 3s; see Shutdown).
	ShutdownGrace time.Duration
	// Logger receives the gate's logs (default: logrus's standard logger).
	Logger logrus.FieldLogger
}

// FDReserve is the number of descriptors a gate keeps out of
// max_clients for itself (besides one per dispatcher link): its
// listeners (TCP, KCP, WebSocket), the admin server and its scrapes, the
// log file, the ready pipe, kicked clients' lingering closes, and the
// runtime's own (epoll, timers).
const FDReserve = 64

// MinClients is the fewest clients a gate agrees to start with: an
// open-file limit that leaves fewer after the reserve is a configuration
// error (New fails) rather than a gate that refuses nearly everyone.
const MinClients = 16

// LogInterval and LogBurst bound the log lines that clients can cause: at
// most LogBurst lines of each kind (bad input, rate limits, disconnects,
// kicks...) per LogInterval, then one line counting the rest.
const (
	LogInterval = lograte.DefaultInterval
	LogBurst    = lograte.DefaultBurst
)

// ErrServerClosed is returned by Run after Close.
var ErrServerClosed = errors.New("gate: closed")

type client struct {
	id rpc.ClientID
	// conn is the client's connection. Only a resumable session's
	// changes, when a resume takes it up (under the session's lock).
	conn atomic.Pointer[rpc.Conn]
	// sess is the client's resumable session, nil for a client that did
	// not ask for one. Set at the hello, under Gate.mu (see beginSession).
	sess      atomic.Pointer[session]
	kcp       bool
	announced bool // MsgClientConnected sent (reader goroutine only)
	// adopted is the client whose session this connection resumed: its
	// reader serves that client from then on (reader goroutine only).
	adopted *client
	// overflow: admitted beyond max_clients because sessions are held,
	// on the condition that it resumes one (guarded by Gate.mu).
	overflow bool
	// Guarded by Gate.mu:
	owner     rpc.EntityID
	ownerGame rpc.GameID
	props     map[string]string
	// kicked: a kick or a bye ends the connection (and a resumable
	// session with it: a quit).
	kicked atomic.Bool
	// Reader goroutine only:
	msgs, bytes bucket
	out         rpc.Batch // what handling the client's frames sends, flushed per frame
	// reqs: the client's requests waiting for their answers, by request
	// ID, with when they were sent (see request).
	reqMu sync.Mutex
	reqs  map[uint32]time.Time
}

// cur returns the client this connection's reader serves: c, or the
// session it resumed. Reader goroutine only.
func (c *client) cur() *client {
	if c.adopted != nil {
		return c.adopted
	}
	return c
}

// linkQueueLimit bounds, per dispatcher link, the bytes of client frames
// (calls, positions, connect and disconnect notices) kept while the link
// is down, for a restarted dispatcher.
const linkQueueLimit = 8 << 20

// Gate is one gate process's server. Create it with New.
type Gate struct {
	cfg   Config
	log   logrus.FieldLogger
	tcp   net.Listener
	kcp   *kcp.Listener
	udp   *kcpFilter  // what kcp reads (nil without KCP)
	ws    *wsListener // nil without WSAddr
	links []*link.Link

	nextID atomic.Uint64

	mu      sync.RWMutex
	clients map[rpc.ClientID]*client
	// index[key][value] is the set of clients whose property key = value.
	index  map[string]map[string]map[*client]struct{}
	closed bool
	// leaving is the kick reason of a gate shutting down (see Shutdown):
	// new clients get it at once.
	leaving string
	// overflow counts the connections admitted beyond max_clients to
	// resume a held session (see startClient).
	overflow int

	// held counts the resumable sessions held (no connection); ended
	// remembers, for a window, why recent sessions ended (see
	// rememberEnded), endedOrder their order.
	held       atomic.Int64
	endedMu    sync.Mutex
	ended      map[rpc.ClientID]ended
	endedOrder []rpc.ClientID

	// changed is poked (never blocking) when a client leaves or a
	// lingering close ends, for Shutdown's wait; lingers counts the
	// lingering closes under way.
	changed chan struct{}
	lingers atomic.Int64

	// KCP sessions waiting for their first frame, and those closed for
	// not sending one in time (see admitKCP); what the filter and the
	// handshake turned away is logged through kcpDrops.
	kcpPending  atomic.Int64
	kcpTimeouts atomic.Uint64
	kcpDrops    *dropLog

	// Client requests answered "overloaded" by the gate, and answers
	// dropped because their request was not outstanding (forgotten
	// after clientRequestForget, or a second answer).
	reqOverloaded, reqUnmatched atomic.Uint64

	// hbAck is the body of every MsgHeartbeatAck: the heartbeat settings.
	hbAck []byte

	tlsConf     *tls.Config // TCP clients' TLS; nil: plain TCP
	ready       chan struct{}
	stopped     chan struct{}   // closed once Close has ended every client and goroutine
	closing     context.Context // done once Close starts: lingering connections end
	stopClosing context.CancelFunc
	wg          sync.WaitGroup
	met         gateMetrics // see metrics.go
	// lines rate-limits the log lines clients can cause (see LogBurst).
	lines *lograte.Limiter
}

// New validates cfg and binds the client listeners, so Addr is known as
// soon as New returns. Clients are accepted once Run has connected to
// every dispatcher.
func New(cfg Config) (*Gate, error) {
	if cfg.ID <= 0 || cfg.ID > 65535 {
		return nil, fmt.Errorf("gate: ID %d out of range 1..65535", cfg.ID)
	}
	if len(cfg.Dispatchers) == 0 {
		return nil, errors.New("gate: no dispatcher addresses")
	}
	cfg.fill()
	if err := cfg.fitOpenFiles(); err != nil {
		return nil, err
	}

	g := &Gate{
		cfg:     cfg,
		log:     cfg.Logger.WithField("gate", cfg.ID),
		clients: map[rpc.ClientID]*client{},
		index:   map[string]map[string]map[*client]struct{}{},
		ready:   make(chan struct{}),
		stopped: make(chan struct{}),
		changed: make(chan struct{}, 1),
		hbAck:   rpc.AppendHeartbeatAck(nil, rpc.HeartbeatParams{Interval: cfg.HeartbeatInterval, Timeout: cfg.HeartbeatTimeout}),
	}
	g.lines = lograte.New(g.log, LogInterval, LogBurst)
	g.closing, g.stopClosing = context.WithCancel(context.Background())
	// Client IDs start at a random point so that a restarted gate does not
	// reuse the IDs of its previous life while games still hold them.
	g.nextID.Store(rand.Uint64() >> 16)
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("gate%d: TLS certificate: %w", cfg.ID, err)
		}
		g.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if err := g.listen(); err != nil {
		return nil, err
	}
	if cfg.WSAddr != "" {
		ws, err := g.listenWS()
		if err != nil {
			g.tcp.Close()
			if g.kcp != nil {
				g.kcp.Close()
				g.udp.Close()
				g.kcpDrops.close()
			}
			return nil, err
		}
		g.ws = ws
	}
	for _, addr := range cfg.Dispatchers {
		// What a dispatcher's frames send to clients (a broadcast: many)
		// waits until the frames of one read are handled, then goes out
		// in one write per client, on the link's goroutine.
		out := &rpc.Batch{}
		g.links = append(g.links, link.New(link.Config{
			Addr: addr, Role: rpc.RoleGate, ID: uint16(cfg.ID), Secret: cfg.Secret, AuthStats: &g.met.linkAuth,
			Conn: rpc.ConnConfig{
				MaxBody: cfg.MaxPacketSize, MaxPending: cfg.SendBufferSize, Backpressure: true,
				ReadBufferSize: 64 << 10, RetainBuffer: 1 << 20, Stats: &g.met.links,
				AfterBatch: out.Flush,
				OnPanic: func(t rpc.MsgType, _ []byte, p any, stack []byte) error {
					g.met.panics.Record(g.log, "handling a dispatcher's frame (dropped)", p, stack, logrus.Fields{"msg": t.String()})
					return nil
				},
			},
			Handler: func(t rpc.MsgType, body []byte) error { return g.handleDispatcher(out, t, body) },
			// While the link is down, the clients stay connected and what
			// they send waits in the link's queue, for a dispatcher that
			// restarted (it knows nothing of this gate's departure).
			QueueLimit: linkQueueLimit,
			OnConnect: func(_ *rpc.Conn, same bool) {
				if same {
					// The same dispatcher saw us leave: it told every game
					// this gate was gone, and they unbound its clients. A
					// client kept now would talk to no one.
					g.kickAll("connection to the server lost, please reconnect")
				}
			},
			Logger: g.log,
		}))
	}
	return g, nil
}

// fill replaces the zero values of c with the defaults noted on Config,
// and brings the others within their bounds.
func (c *Config) fill() {
	if c.ShutdownReason == "" {
		c.ShutdownReason = "server shutting down"
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 3 * time.Second
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 30 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	c.HeartbeatInterval = min(max(c.HeartbeatInterval, rpc.MinHeartbeatInterval), c.HeartbeatTimeout/2, rpc.MaxHeartbeatInterval)
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = 10 * time.Second
	}
	if c.MaxClientPacketSize <= 0 {
		c.MaxClientPacketSize = 64 << 10
	}
	if c.ClientSendBufferSize <= 0 {
		c.ClientSendBufferSize = 1 << 20
	}
	if c.MaxPacketSize <= 0 {
		c.MaxPacketSize = 16 << 20
	}
	if c.SendBufferSize <= 0 {
		c.SendBufferSize = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	c.ClientMsgRate = limitOr(c.ClientMsgRate, 1000)
	c.ClientMsgBurst = limitOr(c.ClientMsgBurst, 2000)
	c.ClientByteRate = limitOr(c.ClientByteRate, 1<<20)
	c.ClientByteBurst = max(limitOr(c.ClientByteBurst, 2<<20), c.MaxClientPacketSize+rpc.HeaderSize)
	c.MaxClients = limitOr(c.MaxClients, 50000)
	if c.MaxClientRequests <= 0 {
		c.MaxClientRequests = 64
	}
	c.KCPSessionRate = limitOr(c.KCPSessionRate, 500)
	c.KCPSessionBurst = max(limitOr(c.KCPSessionBurst, 2500), 1)
	c.KCPHelloRate = limitOr(c.KCPHelloRate, 2000)
	if c.KCPHandshakeTimeout <= 0 {
		c.KCPHandshakeTimeout = 3 * time.Second
	}
	c.KCPHandshakeTimeout = min(c.KCPHandshakeTimeout, c.HeartbeatTimeout)
	if c.KCPInterval <= 0 {
		c.KCPInterval = 10 * time.Millisecond
	}
	c.KCPInterval = min(max(c.KCPInterval, 10*time.Millisecond), time.Second)
	c.ClientMsgBurst = max(c.ClientMsgBurst, 1)
	switch {
	case c.ResumeWindow == 0:
		c.ResumeWindow = DefaultResumeWindow
	case c.ResumeWindow < 0:
		c.ResumeWindow = 0
	}
	c.ResumeWindow = min(c.ResumeWindow, MaxResumeWindow)
	if c.ResumeLimit <= 0 {
		c.ResumeLimit = DefaultResumeLimit
	}
	c.ResumeLimit = max(c.ResumeLimit, MinResumeLimit)
}

// fitOpenFiles raises the process's open-file limit to its hard limit
// and lowers MaxClients to what that limit leaves for clients (see
// Config.MaxClients), with a warning.
func (c *Config) fitOpenFiles() error {
	if limit, ok := fdlimit.Raise(); ok {
		n, err := clampClients(c.MaxClients, limit, FDReserve+len(c.Dispatchers))
		if err != nil {
			return fmt.Errorf("gate%d: %w", c.ID, err)
		}
		if n != c.MaxClients {
			what := fmt.Sprintf("max_clients = %d", c.MaxClients)
			if c.MaxClients < 0 {
				what = "max_clients = 0 (unlimited)"
			}
			c.Logger.WithField("gate", c.ID).Warnf("%s does not fit the open-file limit (RLIMIT_NOFILE) of %d descriptors, %d of which are kept for the gate's own links, listeners and admin server: serving at most %d clients. Raise the limit (ulimit -n, LimitNOFILE= for systemd) or lower max_clients",
				what, limit, FDReserve+len(c.Dispatchers), n)
			c.MaxClients = n
		}
	}
	return nil
}

// clampClients returns the max_clients a gate can serve under an
// open-file limit of limit with reserve descriptors kept: maxClients if
// it fits, else what does; negative (unlimited) means what fits. It
// fails if fewer than MinClients fit.
func clampClients(maxClients int, limit uint64, reserve int) (int, error) {
	fits := fdlimit.ClientsFor(limit, reserve)
	if fits < MinClients {
		return 0, fmt.Errorf("the open-file limit (RLIMIT_NOFILE) is %d descriptors: a gate keeps %d for itself and needs room for at least %d clients; raise it (ulimit -n, LimitNOFILE= for systemd)",
			limit, reserve, MinClients)
	}
	if maxClients < 0 || maxClients > fits {
		return fits, nil
	}
	return maxClients, nil
}

// Addr returns the bound client address (TCP; KCP uses the same port on UDP).
func (g *Gate) Addr() net.Addr { return g.tcp.Addr() }

// WSAddr returns the bound WebSocket address, or nil if the gate serves
// no WebSocket clients.
func (g *Gate) WSAddr() net.Addr {
	if g.ws == nil {
		return nil
	}
	return g.ws.Addr()
}

// Ready is closed once the gate is connected to every dispatcher and
// accepting clients.
func (g *Gate) Ready() <-chan struct{} { return g.ready }

// NumClients returns the number of connected clients.
func (g *Gate) NumClients() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.clients)
}

// Run connects to the dispatchers, then accepts clients until ctx is done
// or Shutdown or Close is called. When ctx is done it shuts the gate down
// gracefully (Shutdown, within Config.ShutdownGrace: every client is
// kicked with Config.ShutdownReason), returns once that is over, and
// returns ctx's error. After a Shutdown or Close called by someone else
// it returns ErrServerClosed once the listeners are closed; the caller
// of Shutdown or Close waits for the rest.
func (g *Gate) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownGrace)
		defer cancel()
		if err := g.Shutdown(sctx); err != nil {
			g.log.WithError(err).Warnf("graceful shutdown did not finish within %v; closed", g.cfg.ShutdownGrace)
		}
	})
	defer stop()
	// The links stay up until the gate is closed (the end of a graceful
	// shutdown included: its clients' entities are told they left) or
	// Run returns.
	linkCtx, stopLinks := context.WithCancel(g.closing)
	var linkWG sync.WaitGroup
	defer linkWG.Wait()
	defer stopLinks() // runs before linkWG.Wait
	for _, l := range g.links {
		linkWG.Add(1)
		go func() { defer linkWG.Done(); l.Run(linkCtx) }()
	}
	for _, l := range g.links {
		select {
		case <-l.Connected():
		case <-linkCtx.Done():
			return g.exitErr(ctx)
		}
	}
	log := g.log.WithField("addr", g.tcp.Addr().String()).WithField("tls", g.tlsConf != nil).WithField("kcp", g.kcp != nil)
	if g.ws != nil {
		log = log.WithField("websocket", g.ws.Addr().String()).WithField("ws_tls", g.cfg.WSTLSCertFile != "")
	}
	log.Info("gate accepting clients")
	close(g.ready)

	var acceptWG sync.WaitGroup
	if g.kcp != nil {
		acceptWG.Add(1)
		go func() { defer acceptWG.Done(); g.acceptLoop(g.kcp, true) }()
	}
	if g.ws != nil {
		acceptWG.Add(2)
		go func() { defer acceptWG.Done(); g.ws.serve() }()
		go func() { defer acceptWG.Done(); g.acceptLoop(g.ws, false) }()
	}
	g.acceptLoop(g.tcp, false)
	acceptWG.Wait()
	return g.exitErr(ctx)
}

// exitErr is what Run returns once the gate stopped accepting: ctx's
// error, after the graceful shutdown it started is over, or
// ErrServerClosed.
func (g *Gate) exitErr(ctx context.Context) error {
	if ctx.Err() != nil {
		<-g.stopped
		return ctx.Err()
	}
	return ErrServerClosed
}

func (g *Gate) acceptLoop(ln net.Listener, isKCP bool) {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			g.mu.RLock()
			closed := g.closed
			g.mu.RUnlock()
			if closed {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			g.lines.Logf(g.log.WithError(err), logrus.WarnLevel, "accept failed", "accept failed; retrying in %v", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		switch c := nc.(type) {
		case *net.TCPConn:
			c.SetNoDelay(true)
			if g.tlsConf != nil {
				nc = g.newTLSConn(c)
			} else {
				nc = g.newTCPConn(c) // a last kick is read before the close
			}
		case *kcp.UDPSession:
			c.SetNoDelay(1, int(g.cfg.KCPInterval/time.Millisecond), 2, 1)
			c.SetWindowSize(128, 128)
			c.SetACKNoDelay(true)
			g.admitKCP(c) // a client once its first frame is in (kcp.go)
			continue
		}
		g.startClient(nc, isKCP)
	}
}

// drainKCP closes the sessions that kcp-go had queued for Accept when its
// listener closed: kcp-go never closes them itself, and each would keep a
// goroutine for good. kcp-go's reader goroutine may still be handling a
// batch of datagrams it read before the close, and queue new sessions for
// them after it; it records its socket's read error as it returns. So
// Accept is asked until it has reported that error (the reader is gone:
// no session can be queued any more), and then until it has said closed
// 64 times in a row: once the listener is closed, Accept picks at random
// between a queued session and the errors, and none of these calls waits.
func (g *Gate) drainKCP() {
	readerGone := false
	deadline := time.Now().Add(5 * time.Second)
	for misses := 0; misses < 64 || !readerGone; {
		s, err := g.kcp.AcceptKCP()
		if err == nil {
			misses = 0
			s.Close()
			continue
		}
		if !errors.Is(err, io.ErrClosedPipe) { // not "closed": the reader's error
			readerGone = true
		}
		if readerGone {
			misses++
		} else {
			if time.Now().After(deadline) {
				g.log.Warn("KCP listener's reader still running 5s after close; sessions it opens later may leak")
				return
			}
			time.Sleep(time.Millisecond) // the reader finishes its batch
		}
	}
}

// poke wakes Shutdown's wait, if any.
func (g *Gate) poke() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// Shutdown ends the gate gracefully: it kicks every client with
// Config.ShutdownReason (new ones too, at once), waits until they are
// gone and their closes have lingered (see closeLinger; a KCP session
// lingers a second), and then closes the gate as Close does and waits
// for it. If ctx ends first, it closes at once and returns ctx's error.
// A process stopped with SIGTERM shuts its gate down this way, so that
// clients are told why rather than cut off. A second call, or one after
// Close, waits for the first to finish.
func (g *Gate) Shutdown(ctx context.Context) error {
	reason := g.cfg.ShutdownReason
	g.mu.Lock()
	if g.closed || g.leaving != "" {
		g.mu.Unlock()
		<-g.stopped
		return nil
	}
	g.leaving = reason
	cs := make([]*client, 0, len(g.clients))
	for _, c := range g.clients {
		cs = append(cs, c)
	}
	g.mu.Unlock()
	g.log.Infof("shutting down: kicking %d clients (%s)", len(cs), reason)
	for _, c := range cs {
		g.kick(c, reason)
	}
	for !g.drained() {
		select {
		case <-g.changed:
		case <-ctx.Done():
			g.log.Warnf("shutting down: %d clients still connected and %d closes lingering at the deadline; closing", g.NumClients(), g.lingers.Load())
			g.Close()
			return ctx.Err()
		}
	}
	return g.Close()
}

// drained reports whether no client is connected and no close lingers.
func (g *Gate) drained() bool {
	return g.NumClients() == 0 && g.lingers.Load() == 0
}

// Close stops accepting clients, disconnects every client and waits for
// their goroutines. Run then returns. Safe to call more than once.
func (g *Gate) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		<-g.stopped
		return nil
	}
	g.closed = true
	g.stopClosing()
	cs := make([]*client, 0, len(g.clients))
	for _, c := range g.clients {
		cs = append(cs, c)
	}
	g.mu.Unlock()
	err := g.tcp.Close()
	if g.kcp != nil {
		g.kcp.Close()
		g.udp.Close() // kcp-go leaves a socket it was given open
		g.drainKCP()
		g.kcpDrops.close()
	}
	if g.ws != nil {
		g.ws.Close()
	}
	for _, c := range cs {
		if s := c.sess.Load(); s != nil && g.endHeld(c, s, "the gate stopped", endClosed) {
			continue
		}
		c.conn.Load().Close(ErrServerClosed)
	}
	g.wg.Wait()
	g.lines.Close()
	close(g.stopped)
	return err
}

func (g *Gate) link(shard int) *link.Link { return g.links[shard] }

func (g *Gate) startClient(nc net.Conn, isKCP bool) {
	c := &client{
		id:    rpc.ClientID(g.nextID.Add(1)),
		kcp:   isKCP,
		msgs:  newBucket(g.cfg.ClientMsgRate, g.cfg.ClientMsgBurst),
		bytes: newBucket(g.cfg.ClientByteRate, g.cfg.ClientByteBurst),
	}
	// A client whose frames fill a dispatcher link past its send buffer
	// waits (its reader stops reading) until the link drains.
	c.out.Backpressure = true
	if lc, ok := nc.(*lingerConn); ok && !isKCP {
		lc.control = func(n int) bool { return g.chargeControl(c.cur(), n) }
	}
	// The closures below run on the connection's reader, which serves
	// the session it resumed, if it did (c.cur).
	conn := rpc.NewConn(nc, rpc.ConnConfig{
		MaxBody:     g.cfg.MaxClientPacketSize,
		MaxPending:  g.cfg.ClientSendBufferSize,
		IdleTimeout: g.cfg.HeartbeatTimeout,
		Farewell: func(reason error) (rpc.MsgType, []byte, bool) {
			if errors.Is(reason, rpc.ErrIdleTimeout) && c.cur().sess.Load() != nil {
				// A resumable session's silence is a drop, which holds
				// it: no kick, which would tell the client it ended.
				return 0, nil, false
			}
			return farewell(reason)
		},
		Stats: &g.met.clients,
		AfterBatch: func() {
			c.out.Flush()
			if c.adopted != nil {
				c.adopted.out.Flush()
			}
		},
		OnPanic: func(t rpc.MsgType, _ []byte, p any, stack []byte) error {
			g.met.panics.Record(g.log, "handling a client's frame", p, stack,
				logrus.Fields{"client": uint64(c.cur().id), "msg": t.String()})
			g.kick(c.cur(), "internal server error")
			return nil
		},
	})
	c.conn.Store(conn)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		conn.Close(ErrServerClosed)
		return
	}
	refusal := g.leaving
	if refusal == "" && g.cfg.MaxClients > 0 && len(g.clients) >= g.cfg.MaxClients {
		refusal = "server full"
		if g.overflow < int(g.held.Load()) {
			// Held sessions keep their places: a connection may come
			// in beyond the limit to resume one (see hello).
			refusal, c.overflow = "", true
			g.overflow++
		}
	}
	if refusal != "" {
		// Refused before it has a boot entity: the kick, then close.
		g.wg.Add(1)
		g.mu.Unlock()
		g.lines.Logf(g.log.WithField("remote", nc.RemoteAddr().String()), logrus.DebugLevel, "client refused", "client refused: %s", refusal)
		c.kicked.Store(true)
		conn.Send(rpc.MsgKick, rpc.AppendString(nil, refusal))
		conn.CloseAfterFlush(errors.New("kicked: " + refusal))
		go func() { defer g.wg.Done(); <-conn.Done(); conn.Wait() }()
		return
	}
	g.clients[c.id] = c
	g.wg.Add(1)
	g.mu.Unlock()
	go g.serveClient(c)
}

// clientBody encodes entityID | gateID | clientID, the body of
// MsgClientConnected and MsgClientDisconnected.
func (g *Gate) clientBody(id rpc.EntityID, cid rpc.ClientID) []byte {
	b := rpc.AppendEntityID(make([]byte, 0, rpc.EntityIDLength+2+8), id)
	return rpc.AppendUint64(rpc.AppendUint16(b, uint16(g.cfg.ID)), uint64(cid))
}

// farewell tells a client why the gate closes it for its own input.
func farewell(reason error) (rpc.MsgType, []byte, bool) {
	msg := "protocol error: " + reason.Error()
	if errors.Is(reason, rpc.ErrIdleTimeout) {
		msg = "heartbeat timeout: nothing received for too long"
	}
	return rpc.MsgKick, rpc.AppendString(nil, msg), true
}

// announce tells a dispatcher that the client connected, which creates
// its boot entity: at the client's MsgClientHello of the right version,
// its first frame, on every transport, so that a client of another
// version (or no client at all: a stray KCP datagram, a port scan) costs
// no boot entity.
func (g *Gate) announce(c *client) {
	if c.announced {
		return
	}
	c.announced = true
	addr := c.conn.Load().RemoteAddr().String() // the game's Entity.ClientAddr
	if len(addr) > 128 {
		addr = addr[:128]
	}
	body := rpc.AppendString(g.clientBody("", c.id), addr)
	if err := g.link(c.id.Shard(len(g.links))).Send(rpc.MsgClientConnected, body); err != nil {
		g.log.WithError(err).Warn("cannot announce new client")
		g.kick(c, "server unavailable, try again later")
	}
}

func (g *Gate) serveClient(c *client) {
	defer g.wg.Done()
	// Serve returns once the Conn is marked closed, which may be while
	// another goroutine (Close, a link kicking the client) is still
	// closing the socket, whose Close adds a lingering close to g.wg: the
	// Conn's Done comes after that, and holding g.wg until then keeps the
	// count from reaching zero, and Gate.Close's Wait from returning,
	// before the lingering close is counted.
	conn := c.conn.Load() // this reader's, whatever session it serves
	defer func() { <-conn.Done(); conn.Wait() }()
	n := len(g.links)
	if err := g.tlsHandshake(c); err != nil {
		conn.Close(err) // Serve returns at once, and it is logged below
	}
	// The client is announced at its hello (handleClient), on every
	// transport.
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", conn.RemoteAddr().String()), logrus.DebugLevel, "client connected", "client connected")

	reason := conn.Serve(func(t rpc.MsgType, body []byte) error { return g.handleClient(c.cur(), t, body) })
	<-conn.Done() // the socket's close (a lingering one) has begun

	c = c.cur()
	s := c.sess.Load()
	if s != nil && g.connEnded(c, s, conn, reason) {
		return // held, or resumed elsewhere
	}
	g.mu.Lock()
	delete(g.clients, c.id)
	g.unindexLocked(c)
	owner := c.owner
	if c.overflow {
		c.overflow = false
		g.overflow--
	}
	g.mu.Unlock()
	g.poke()
	if s != nil {
		s.mu.Lock()
		why := s.why
		s.mu.Unlock()
		g.rememberEnded(c, why)
	}
	// Every line here is one a client can cause by connecting again and
	// again: each kind is rate-limited (see LogBurst).
	log := g.log.WithField("client", uint64(c.id)).WithField("reason", reasonText(reason))
	switch {
	case errors.Is(reason, rpc.ErrPeerClosed), errors.Is(reason, ErrServerClosed):
		g.lines.Logf(log, logrus.DebugLevel, "client disconnected", "client disconnected")
	case errors.Is(reason, rpc.ErrIdleTimeout), c.kicked.Load():
		g.lines.Logf(log, logrus.InfoLevel, "client disconnected (kicked or timed out)", "client disconnected")
	case errors.Is(reason, rpc.ErrSlowConsumer):
		g.lines.Logf(log.WithField("remote", conn.RemoteAddr().String()), logrus.WarnLevel, "slow client",
			"client disconnected: it reads too slowly (more queued for it than client_send_buffer_size)")
	default:
		// Oversized or truncated frames, slow consumers, socket errors.
		g.lines.Logf(log.WithField("remote", conn.RemoteAddr().String()), logrus.WarnLevel, "client disconnected on error", "client disconnected on error")
	}
	if owner != "" {
		body := g.clientBody(owner, c.id)
		g.link(owner.Shard(n)).Send(rpc.MsgClientDisconnected, body)
	}
}

// tlsHandshake runs a TLS client's handshake, bounded by
// TLSHandshakeTimeout, before the client is announced: one that stalls it
// or speaks something else costs a slot for that long at most, and no
// boot entity (the handshake used to run at the first read, bounded only
// by the heartbeat timeout, after the announcement). Other clients: nil.
func (g *Gate) tlsHandshake(c *client) error {
	lc, ok := c.conn.Load().NetConn().(*lingerConn)
	if !ok {
		return nil
	}
	tc, ok := lc.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(g.closing, g.cfg.TLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	return nil
}

// maxReasonLog bounds a disconnect reason in a log line.
const maxReasonLog = 256

// reasonText is a disconnect reason for a log line, bounded.
func reasonText(err error) string {
	if err == nil {
		return ""
	}
	return clip.Text(err.Error(), maxReasonLog)
}

// kick sends the client a reason and closes it once that is written.
// A resumable session held (no connection) ends at once instead.
func (g *Gate) kick(c *client, reason string) {
	if s := c.sess.Load(); s != nil && g.endHeld(c, s, reason, endKicked) {
		return
	}
	if c.kicked.Swap(true) {
		return
	}
	conn := c.conn.Load()
	conn.Send(rpc.MsgKick, rpc.AppendString(nil, reason))
	conn.CloseAfterFlush(errors.New("kicked: " + clip.Text(reason, maxReasonLog)))
}

// chargeControl counts a WebSocket control message (ping or pong, n
// payload bytes, 6 of header as a frame's) against the client's rate
// limits, and kicks it past them; false means: do not answer it. On the
// client's reader goroutine (gorilla calls control handlers from reads).
func (g *Gate) chargeControl(c *client, n int) bool {
	if c.kicked.Load() {
		return false
	}
	now := time.Now()
	if !c.msgs.take(now, 1) {
		g.rateLimited(c, fmt.Sprintf("more than %d messages per second (WebSocket pings count)", g.cfg.ClientMsgRate))
		return false
	}
	if !c.bytes.take(now, float64(rpc.HeaderSize+n)) {
		g.rateLimited(c, fmt.Sprintf("more than %d bytes per second", g.cfg.ClientByteRate))
		return false
	}
	return true
}

// rateLimited logs a client over a rate limit (once: it is kicked) and kicks it.
func (g *Gate) rateLimited(c *client, msg string) error {
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", c.conn.Load().RemoteAddr().String()),
		logrus.WarnLevel, "client over its rate limit", "client over its rate limit: %s", msg)
	g.kick(c, "rate limit: "+msg)
	return nil
}

// maxProtocolError bounds the text of a protocol error, in the kick
// reason and the log line. Callers quote what the client sent with
// clip.Quote; this is the backstop.
const maxProtocolError = 200

// protocolError logs a client's bad frame and kicks it.
func (g *Gate) protocolError(c *client, format string, args ...any) error {
	msg := clip.Text(fmt.Sprintf(format, args...), maxProtocolError)
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", c.conn.Load().RemoteAddr().String()),
		logrus.WarnLevel, "bad client input", "bad client input: %s", msg)
	g.kick(c, "protocol error: "+msg)
	return nil
}

// handleClient handles one frame from a client, on its reader goroutine.
func (g *Gate) handleClient(c *client, t rpc.MsgType, body []byte) error {
	if c.kicked.Load() {
		return nil // on its way out: ignore the rest
	}
	now := time.Now()
	s := c.sess.Load()
	// A resumable session's acks count against the byte rate only.
	if (s == nil || t != rpc.MsgAck) && !c.msgs.take(now, 1) {
		return g.rateLimited(c, fmt.Sprintf("more than %d messages per second", g.cfg.ClientMsgRate))
	}
	if !c.bytes.take(now, float64(rpc.HeaderSize+len(body))) {
		return g.rateLimited(c, fmt.Sprintf("more than %d bytes per second", g.cfg.ClientByteRate))
	}
	if !c.announced {
		return g.hello(c, t, body)
	}
	if s != nil {
		if t == rpc.MsgAck {
			return g.clientAck(c, s, body)
		}
		if rpc.IsSessionFrame(t) {
			// Counted whatever becomes of it (a position for another
			// entity is dropped, but was received).
			g.countIn(c, s, len(body))
		}
	}
	switch t {
	case rpc.MsgHeartbeat:
		c.out.Send(c.conn.Load(), rpc.MsgHeartbeatAck, g.hbAck)
		if s != nil {
			s.mu.Lock()
			g.ackLocked(c, s, c.out.Send)
			s.mu.Unlock()
		}
		return nil
	case rpc.MsgBye:
		g.bye(c)
		return nil
	case rpc.MsgCallEntity:
		r := rpc.NewReader(body)
		id := r.EntityID()
		method := r.String()
		if r.Err() != nil || id == "" || method == "" {
			return g.protocolError(c, "malformed CallEntity (%d bytes)", len(body))
		}
		if len(method) > rpc.MaxMethodNameLen {
			return g.protocolError(c, "method name of %d bytes, over the limit of %d", len(method), rpc.MaxMethodNameLen)
		}
		if !token.IsIdentifier(method) {
			return g.protocolError(c, "method name %s is not an identifier", clip.QuoteDefault(method))
		}
		args := r.Rest()
		if n := rpc.EntityIDLength + 2 + 8 + 2 + len(method) + len(args); n > g.cfg.MaxPacketSize {
			// Forwarded, it would be over the dispatcher's frame limit,
			// which closes the link (and disconnects every client of this
			// gate): max_client_packet_size is too close to max_packet_size.
			return g.protocolError(c, "call of %d bytes, too large to forward (max_packet_size %d)", len(body), g.cfg.MaxPacketSize)
		}
		err := c.out.AppendLink(g.link(id.Shard(len(g.links))), func(b []byte) []byte {
			b = rpc.AppendHeader(b, rpc.MsgClientCall, rpc.EntityIDLength+2+8+2+len(method)+len(args))
			b = rpc.AppendEntityID(b, id)
			b = rpc.AppendUint16(b, uint16(g.cfg.ID))
			b = rpc.AppendUint64(b, uint64(c.id))
			b = rpc.AppendString(b, method)
			return append(b, args...)
		})
		if errors.Is(err, link.ErrQueueFull) {
			// Queued calls would be lost without a word: say so.
			g.lines.Logf(g.log.WithField("client", uint64(c.id)), logrus.WarnLevel, "link queue full",
				"client call refused: dispatcher link down and its queue full; kicking the client")
			g.kick(c, "the server is unreachable and too much is waiting for it; please reconnect")
		} else if err != nil {
			g.lines.Logf(g.log.WithError(err), logrus.DebugLevel, "client call dropped", "client call dropped")
		}
		return nil
	case rpc.MsgSyncPosition:
		return g.syncPosition(c, body)
	case rpc.MsgRequest:
		return g.request(c, body)
	}
	return g.protocolError(c, "unexpected message type %d", uint16(t))
}

// errClientBye is the reason of a client that said goodbye (MsgBye): a
// close by the peer, for the logs and the metrics.
var errClientBye = fmt.Errorf("%w (it said goodbye)", rpc.ErrPeerClosed)

// bye ends the session of a client that sent MsgBye: the gate answers
// with MsgBye, its last frame, and closes once that is written; the
// client's owner entity is told at once (serveClient), rather than after
// heartbeat_timeout as when a KCP client just stops. A KCP session
// lingers (kcpLinger) so that a lost answer is resent. The rest of what
// the client sends is ignored, as after a kick.
func (g *Gate) bye(c *client) {
	if c.kicked.Swap(true) {
		return
	}
	if s := c.sess.Load(); s != nil {
		s.mu.Lock()
		s.why = "the client said goodbye"
		s.mu.Unlock()
	}
	conn := c.conn.Load()
	conn.Send(rpc.MsgBye, nil) // behind what is queued, batched or not
	conn.CloseAfterFlush(errClientBye)
}

// hello handles a client's first frame, which must be a MsgClientHello of
// rpc.ProtocolVersion: the client is then announced; anything else is
// refused with a kick that says why.
func (g *Gate) hello(c *client, t rpc.MsgType, body []byte) error {
	if t == rpc.MsgResume {
		return g.resume(c, body)
	}
	if c.overflow {
		// Admitted beyond max_clients for a resume, which this is not.
		g.lines.Logf(g.log.WithField("remote", c.conn.Load().RemoteAddr().String()), logrus.DebugLevel, "client refused", "client refused: server full")
		g.kick(c, "server full")
		return nil
	}
	if t != rpc.MsgClientHello {
		return g.protocolError(c, "the first frame must be a ClientHello (type %d) with the protocol version, not type %d: "+
			"this gate speaks protocol version %d; update the client (docs/protocol.md, Versioning)",
			uint16(rpc.MsgClientHello), uint16(t), rpc.ProtocolVersion)
	}
	v, flags, err := rpc.DecodeClientHelloFlags(body)
	if err != nil {
		return g.protocolError(c, "malformed ClientHello (%d bytes)", len(body))
	}
	if v != rpc.ProtocolVersion {
		return g.refuseVersion(c, v)
	}
	if flags&rpc.HelloResume != 0 && g.cfg.ResumeWindow > 0 {
		g.beginSession(c) // MsgSession before anything the session brings
	}
	g.announce(c)
	return nil
}

// refuseVersion kicks a client whose hello (or resume) names protocol
// version v, not the gate's.
func (g *Gate) refuseVersion(c *client, v uint16) error {
	g.met.versionRefused.Add(1)
	reason := fmt.Sprintf("unsupported protocol version %d: this gate speaks protocol version %d; update the client (docs/protocol.md, Versioning)", v, rpc.ProtocolVersion)
	g.lines.Logf(g.log.WithField("client", uint64(c.id)).WithField("remote", c.conn.Load().RemoteAddr().String()).WithField("version", v),
		logrus.InfoLevel, "client of another protocol version", "client refused: %s", reason)
	g.kick(c, reason)
	return nil
}

// syncPositionSize is the body of MsgSyncPosition: entity, space, x, y, z, yaw.
const syncPositionSize = 2*rpc.EntityIDLength + rpc.PositionSize

// syncPosition forwards a client's position for its player entity. A
// malformed body or a coordinate that is not a finite number is a protocol
// error; a position for an entity that is not (or no longer) the client's
// own is dropped, since a handover can race with it.
func (g *Gate) syncPosition(c *client, body []byte) error {
	if len(body) != syncPositionSize {
		return g.protocolError(c, "SyncPosition of %d bytes, want %d", len(body), syncPositionSize)
	}
	r := rpc.NewReader(body)
	id, _ := r.EntityID(), r.EntityID()
	pos, yaw := r.Position()
	if err := r.Err(); err != nil {
		return g.protocolError(c, "malformed SyncPosition: %v", err)
	}
	if id == "" {
		return g.protocolError(c, "SyncPosition without an entity ID (all zeros)")
	}
	if !pos.Finite() || math.IsNaN(float64(yaw)) || math.IsInf(float64(yaw), 0) {
		return g.protocolError(c, "SyncPosition with a coordinate that is not a finite number")
	}
	g.mu.RLock()
	owner := c.owner
	g.mu.RUnlock()
	if id != owner {
		g.lines.Logf(g.log.WithField("client", uint64(c.id)), logrus.DebugLevel, "position not for the client's entity",
			"position for %s, which is not the client's entity (%s), dropped", id, owner)
		return nil
	}
	err := c.out.AppendLink(g.link(id.Shard(len(g.links))), func(b []byte) []byte {
		b = rpc.AppendHeader(b, rpc.MsgClientSyncPosition, syncPositionSize+2+8)
		b = rpc.AppendEntityID(b, id)
		b = rpc.AppendUint16(b, uint16(g.cfg.ID))
		b = rpc.AppendUint64(b, uint64(c.id))
		return append(b, body[rpc.EntityIDLength:]...)
	})
	if err != nil {
		g.lines.Logf(g.log.WithError(err), logrus.DebugLevel, "position dropped", "position dropped: dispatcher link down")
	}
	return nil
}

// toClients delivers a MsgToClients body: after the gate ID, items of
// n u16 | n client IDs u64 | frame length u32 | frame.
func (g *Gate) toClients(out *rpc.Batch, body []byte) error {
	if len(body) < 2 {
		return fmt.Errorf("gate: malformed %v: short body", rpc.MsgToClients)
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for off := 2; off < len(body); {
		if len(body)-off < 2 {
			return fmt.Errorf("gate: malformed %v: truncated item", rpc.MsgToClients)
		}
		n := int(binary.LittleEndian.Uint16(body[off:]))
		ids := off + 2
		off = ids + 8*n
		if off+4 > len(body) {
			return fmt.Errorf("gate: malformed %v: truncated client list", rpc.MsgToClients)
		}
		flen := int(binary.LittleEndian.Uint32(body[off:]))
		off += 4
		if flen < 2 || flen > len(body)-off {
			return fmt.Errorf("gate: malformed %v: frame of %d bytes", rpc.MsgToClients, flen)
		}
		frame := body[off : off+flen]
		off += flen
		for i := 0; i < n; i++ {
			cid := rpc.ClientID(binary.LittleEndian.Uint64(body[ids+8*i:]))
			if c := g.clients[cid]; c != nil && g.answered(c, frame) {
				g.deliver(out, c, frame)
			}
		}
	}
	return nil
}

func (g *Gate) lookup(cid rpc.ClientID) *client {
	g.mu.RLock()
	c := g.clients[cid]
	g.mu.RUnlock()
	return c
}

// handleDispatcher handles one frame from a dispatcher, on its link's
// goroutine; what it sends waits in out.
func (g *Gate) handleDispatcher(out *rpc.Batch, t rpc.MsgType, body []byte) error {
	r := rpc.NewReader(body)
	switch t {
	case rpc.MsgToClient:
		r.Uint16()
		cid := rpc.ClientID(r.Uint64())
		frame := r.Rest() // client type u16 | client body
		if r.Err() != nil || len(frame) < 2 {
			return fmt.Errorf("gate: malformed %v", t)
		}
		g.mu.RLock()
		if c := g.clients[cid]; c != nil && g.answered(c, frame) {
			g.deliver(out, c, frame)
		}
		g.mu.RUnlock()
		return nil
	case rpc.MsgToClients:
		return g.toClients(out, body)
	case rpc.MsgSetClientOwner:
		r.Uint16()
		cid := rpc.ClientID(r.Uint64())
		owner := r.EntityID()
		game := rpc.GameID(r.Uint16())
		if r.Err() != nil {
			return fmt.Errorf("gate: malformed %v: %w", t, r.Err())
		}
		g.mu.Lock()
		c := g.clients[cid]
		if c != nil {
			c.owner, c.ownerGame = owner, game
		}
		g.mu.Unlock()
		if c == nil && owner != "" {
			// The client left before its owner was known: tell the owner.
			out.SendLink(g.link(owner.Shard(len(g.links))), rpc.MsgClientDisconnected, g.clientBody(owner, cid))
		}
		return nil
	case rpc.MsgSetClientFilterProp:
		r.Uint16()
		cid := rpc.ClientID(r.Uint64())
		key, val := r.String(), r.String()
		if r.Err() != nil {
			return fmt.Errorf("gate: malformed %v: %w", t, r.Err())
		}
		if len(key) > rpc.MaxFilterPropLen || len(val) > rpc.MaxFilterPropLen {
			// A game refuses these (Entity.SetClientFilterProp); one that
			// did not would make every client's properties a store.
			g.lines.Logf(g.log.WithField("client", uint64(cid)), logrus.WarnLevel, "filter property too long",
				"filter property %s = %s ignored: longer than %d bytes", clip.QuoteDefault(key), clip.QuoteDefault(val), rpc.MaxFilterPropLen)
			return nil
		}
		g.mu.Lock()
		if c := g.clients[cid]; c != nil {
			g.setPropLocked(c, key, val)
		}
		g.mu.Unlock()
		return nil
	case rpc.MsgKickClient:
		r.Uint16()
		cid := rpc.ClientID(r.Uint64())
		reason := r.String()
		if r.Err() != nil {
			return fmt.Errorf("gate: malformed %v: %w", t, r.Err())
		}
		if c := g.lookup(cid); c != nil {
			g.lines.Logf(g.log.WithField("client", uint64(cid)).WithField("reason", clip.Text(reason, maxReasonLog)),
				logrus.InfoLevel, "kick requested by a game", "kicking client on a game's request")
			g.kick(c, reason)
		}
		return nil
	case rpc.MsgFilteredBroadcast:
		op, key, val, frame, err := decodeBroadcast(body)
		if err != nil {
			return err
		}
		if len(key) > rpc.MaxFilterPropLen || len(val) > rpc.MaxFilterPropLen {
			// A game refuses these (World.CallFilteredClientsOp): no
			// property is that long, and comparing one with every client's
			// would cost its length each time.
			g.lines.Logf(g.log, logrus.WarnLevel, "filter property too long",
				"broadcast to %s %v %s dropped: longer than %d bytes", clip.QuoteDefault(key), op, clip.QuoteDefault(val), rpc.MaxFilterPropLen)
			return nil
		}
		if !op.Valid() {
			g.lines.Logf(g.log, logrus.WarnLevel, "unknown filter op", "broadcast dropped: unknown filter op %d", uint8(op))
			return nil
		}
		g.broadcast(out, op, key, val, frame)
		return nil
	case rpc.MsgPeerGone:
		role, id := rpc.Role(r.Uint8()), r.Uint16()
		if role == rpc.RoleGame {
			g.gameGone(rpc.GameID(id))
		}
		return nil
	}
	return fmt.Errorf("gate: unexpected %v from dispatcher", t)
}

// kickAll kicks every client (unless the gate is closing).
func (g *Gate) kickAll(reason string) {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return
	}
	cs := make([]*client, 0, len(g.clients))
	for _, c := range g.clients {
		cs = append(cs, c)
	}
	g.mu.RUnlock()
	if len(cs) > 0 {
		g.log.Warnf("a dispatcher saw this gate leave and told the games; disconnecting all %d clients", len(cs))
	}
	for _, c := range cs {
		g.kick(c, reason)
	}
}

// gameGone kicks the clients whose owner entity lived on a game that went
// away: their session is gone with it.
func (g *Gate) gameGone(game rpc.GameID) {
	g.mu.RLock()
	var victims []*client
	for _, c := range g.clients {
		if c.owner != "" && c.ownerGame == game {
			victims = append(victims, c)
		}
	}
	g.mu.RUnlock()
	if len(victims) > 0 {
		g.log.Warnf("game%d is gone; disconnecting its %d clients", game, len(victims))
	}
	for _, c := range victims {
		g.kick(c, fmt.Sprintf("the game hosting your entity stopped (game%d); please reconnect", game))
	}
}

// decodeBroadcast decodes MsgFilteredBroadcast: op u8 | key str | value
// str | client frame type u16 | client frame body.
func decodeBroadcast(body []byte) (op rpc.FilterOp, key, val string, frame []byte, err error) {
	r := rpc.NewReader(body)
	op = rpc.FilterOp(r.Uint8())
	key, val = r.String(), r.String()
	frame = r.Rest()
	if r.Err() != nil || len(frame) < 2 {
		return 0, "", "", nil, fmt.Errorf("gate: malformed %v (%d bytes)", rpc.MsgFilteredBroadcast, len(body))
	}
	return op, key, val, frame, nil
}

// broadcast sends frame to every client that matches key op val.
func (g *Gate) broadcast(out *rpc.Batch, op rpc.FilterOp, key, val string, frame []byte) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.eachRecipientLocked(op, key, val, func(c *client) { g.deliver(out, c, frame) })
}

// eachRecipientLocked calls fn for every client whose property key
// matches op and val (rpc.FilterOp.Match), each once; none for an unknown
// op. Equality uses the index; the other comparisons look at every client
// (each comparison bounded by rpc.MaxFilterPropLen).
func (g *Gate) eachRecipientLocked(op rpc.FilterOp, key, val string, fn func(*client)) {
	switch {
	case op == rpc.FilterEq:
		for c := range g.index[key][val] {
			fn(c)
		}
	case op == rpc.FilterAll:
		for _, c := range g.clients {
			fn(c)
		}
	case op.Valid():
		match := op.Matcher(val) // val read once, not once per client
		for _, c := range g.clients {
			if v, ok := c.props[key]; match(v, ok) {
				fn(c)
			}
		}
	}
}

func (g *Gate) setPropLocked(c *client, key, val string) {
	if old, ok := c.props[key]; ok {
		if old == val {
			return
		}
		delete(g.index[key][old], c)
		if len(g.index[key][old]) == 0 {
			delete(g.index[key], old)
		}
	}
	if val == "" {
		delete(c.props, key)
		return
	}
	if c.props == nil {
		c.props = map[string]string{}
	}
	c.props[key] = val
	byVal := g.index[key]
	if byVal == nil {
		byVal = map[string]map[*client]struct{}{}
		g.index[key] = byVal
	}
	set := byVal[val]
	if set == nil {
		set = map[*client]struct{}{}
		byVal[val] = set
	}
	set[c] = struct{}{}
}

func (g *Gate) unindexLocked(c *client) {
	for key := range c.props {
		g.setPropLocked(c, key, "")
	}
}
