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
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/internal/fdlimit"
	"github.com/goworld-engine/goworld/internal/lograte"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/rpc/link"
	"github.com/sirupsen/logrus"
	kcp "github.com/xtaci/kcp-go/v5"
)

// Config configures a Gate. Zero values take the defaults noted.
//
// The tunables that config.ini sets (heartbeats, sizes, rates, client
// limits, KCP and resume settings) are those of the embedded
// config.GateTuning, documented there: a zero field takes its default
// (config.GateTuning.SetDefaults), and config.Unlimited or config.Off
// lifts a limit or turns a feature off where the field allows it. The
// fields below are the gate's identity, addresses and certificates, and
// settings config.ini does not have.
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
	// Secret is the cluster secret (nil: none): the links to the
	// dispatchers prove they hold it, and refuse a dispatcher that cannot
	// prove it too (see link.Config.Secret).
	Secret []byte
	// GateTuning holds the tunables config.ini sets (see above).
	config.GateTuning
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
	perAddr     *addrLimit  // max_clients_per_ip (peraddr.go)
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
		perAddr: newAddrLimit(cfg.MaxClientsPerIP, cfg.MaxClientsPerIPExempt),
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

// fill replaces the zero values of c with their defaults (those of
// config.GateTuning in one place, SetDefaults), brings the others within
// their bounds, and turns config.Unlimited and config.Off into the zero
// the gate's limiters and session code take for "none".
func (c *Config) fill() {
	if c.ShutdownReason == "" {
		c.ShutdownReason = "server shutting down"
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 3 * time.Second
	}
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	c.GateTuning.SetDefaults()
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = config.DefaultHeartbeatInterval
	}
	c.HeartbeatInterval = min(max(c.HeartbeatInterval, rpc.MinHeartbeatInterval), c.HeartbeatTimeout/2, rpc.MaxHeartbeatInterval)
	// Negative rates and bursts (config.Unlimited) become 0: unlimited.
	c.ClientMsgRate = max(c.ClientMsgRate, 0)
	c.ClientMsgBurst = max(c.ClientMsgBurst, 1)
	c.ClientByteRate = max(c.ClientByteRate, 0)
	c.ClientByteBurst = max(c.ClientByteBurst, c.MaxClientPacketSize+rpc.HeaderSize)
	c.KCPSessionRate = max(c.KCPSessionRate, 0)
	c.KCPSessionBurst = max(c.KCPSessionBurst, 1)
	c.KCPHelloRate = max(c.KCPHelloRate, 0)
	c.KCPHandshakeTimeout = min(c.KCPHandshakeTimeout, c.HeartbeatTimeout)
	c.KCPInterval = min(max(c.KCPInterval, 10*time.Millisecond), time.Second)
	c.ResumeWindow = min(max(c.ResumeWindow, 0), MaxResumeWindow) // config.Off: 0, not resumable
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
				what = "max_clients = unlimited"
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
		over := false
		switch c := nc.(type) {
		case *net.TCPConn:
			c.SetNoDelay(true)
			// Counted until its socket is closed; one over
			// max_clients_per_ip is kicked with the reason.
			release, ok := g.perAddr.take(c.RemoteAddr())
			over = !ok
			if g.tlsConf != nil {
				nc = g.newTLSConn(c, release)
			} else {
				nc = g.newTCPConn(c, release) // a last kick is read before the close
			}
		case *kcp.UDPSession:
			c.SetNoDelay(1, int(g.cfg.KCPInterval/time.Millisecond), 2, 1)
			c.SetWindowSize(128, 128)
			c.SetACKNoDelay(true)
			g.admitKCP(c) // a client once its first frame is in (kcp.go)
			continue
		}
		g.startClient(nc, isKCP, over)
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
