package gate

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"
)

// wsHandshakeTimeout bounds reading a WebSocket client's HTTP request and
// writing the answer to it.
const wsHandshakeTimeout = 10 * time.Second

// wsPongTimeout bounds the write of a pong, as rpc.ConnConfig's default
// WriteTimeout bounds other writes: a client that reads nothing is closed
// after it.
const wsPongTimeout = 10 * time.Second

// wsLinger is how long a WebSocket client that the gate closes may take
// to accept the close message, after the last frames (a kick), before the
// socket is closed anyway.
const wsLinger = time.Second

// wsListener is the gate's WebSocket side: an HTTP server on its own
// port that upgrades every request (any path) to a WebSocket and hands
// the connection to Accept, so that the gate's accept loop serves
// WebSocket clients as it serves TCP and KCP ones.
type wsListener struct {
	g     *Gate
	ln    net.Listener // TCP, or TLS over TCP
	srv   *http.Server
	up    websocket.Upgrader
	conns chan net.Conn

	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup // upgrades under way
	done     chan struct{}  // closed by Close
}

// listenWS binds the WebSocket port (with TLS if configured). Serving
// starts with serve, once the gate accepts clients.
func (g *Gate) listenWS() (*wsListener, error) {
	cfg := g.cfg
	var tlsConf *tls.Config
	if cfg.WSTLSCertFile != "" || cfg.WSTLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.WSTLSCertFile, cfg.WSTLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("gate%d: WebSocket TLS certificate: %w", cfg.ID, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.WSAddr)
	if err != nil {
		return nil, fmt.Errorf("gate%d: WebSocket: %w", cfg.ID, err)
	}
	// Connections count against max_clients_per_ip from their accept,
	// so that handshakes that never finish cannot take every descriptor.
	l := &wsListener{g: g, ln: countedListener{ln, g.perAddr}, conns: make(chan net.Conn), done: make(chan struct{})}
	if tlsConf != nil {
		l.ln = tls.NewListener(l.ln, tlsConf)
	}
	l.up = websocket.Upgrader{
		HandshakeTimeout: wsHandshakeTimeout,
		// A small read buffer, and a write buffer only while writing: an
		// idle client then holds about 1 KiB here (see LIBRARIES.md).
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     originChecker(cfg.WSOrigins),
	}
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: wsHandshakeTimeout,
		ReadTimeout:       wsHandshakeTimeout, // an upgraded connection clears it
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(debugWriter{g.log}, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	return l, nil
}

// originChecker allows a browser's Origin header if it is one of origins
// (compared without case), or any origin if the list is empty. Requests
// without an Origin header (clients that are not browsers) are allowed:
// the protocol carries no cookies or other ambient credentials, so a page
// on another site gains nothing a program could not do itself.
func originChecker(origins []string) func(*http.Request) bool {
	if len(origins) == 0 {
		return func(*http.Request) bool { return true }
	}
	return func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		if o == "" {
			return true
		}
		for _, allowed := range origins {
			if strings.EqualFold(o, allowed) {
				return true
			}
		}
		return false
	}
}

// debugWriter sends the HTTP server's own messages (TLS handshake errors,
// bad requests) to the gate's log at debug level: they are the client's
// fault and come as fast as anyone cares to send them.
type debugWriter struct{ log logrus.FieldLogger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug("websocket: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// connKey is the request context's key of its connection (ConnContext).
type connKey struct{}

// overAddrLimit reports whether r came on a connection over
// max_clients_per_ip (see countedListener).
func overAddrLimit(r *http.Request) bool {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	cc, ok := c.(*countedConn)
	return ok && cc.over
}

// serve runs the HTTP server until Close.
func (l *wsListener) serve() { l.srv.Serve(l.ln) }

// ServeHTTP upgrades the request and hands the connection to Accept.
func (l *wsListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		http.Error(w, "goworld gate: shutting down", http.StatusServiceUnavailable)
		return
	}
	l.handlers.Add(1)
	l.mu.Unlock()
	defer l.handlers.Done()
	if overAddrLimit(r) {
		w.Header().Set("Connection", "close")
		http.Error(w, "goworld gate: "+tooManyFromAddr, http.StatusTooManyRequests)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "goworld gate: this port speaks WebSocket only (docs/protocol.md)", http.StatusUpgradeRequired)
		return
	}
	ws, err := l.up.Upgrade(w, r, nil) // answers the client itself on failure
	if err != nil {
		l.g.log.WithField("remote", r.RemoteAddr).WithError(err).Debug("websocket upgrade refused")
		return
	}
	select {
	case l.conns <- l.g.newWSConn(ws):
	case <-l.done:
		ws.Close()
	}
}

// Accept returns the next upgraded connection.
func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the HTTP server and waits for upgrades under way.
func (l *wsListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	err := l.srv.Close() // the listener and connections not upgraded yet
	l.ln.Close()         // in case serve never ran
	l.handlers.Wait()
	return err
}

// Addr returns the bound address.
func (l *wsListener) Addr() net.Addr { return l.ln.Addr() }
