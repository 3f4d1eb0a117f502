package client_test

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/internal/wsconn"
	"github.com/goworld-engine/goworld/rpc"
)

// sessionGate is a fake gate that speaks resumable sessions
// (docs/protocol.md, 8.1) over TCP, and over WebSocket (wsURL): it hands
// out a token, counts the session frames both ways, keeps what it sends
// until the client acknowledges it, acknowledges what it receives, takes
// resumes up (or refuses them, or says nothing), and lets a test drop
// the connection mid-stream. It holds one session at a time; a new hello
// starts a new one.
type sessionGate struct {
	t      *testing.T
	ln     net.Listener
	http   *httptest.Server
	window time.Duration
	ackN   int // acknowledge the client's session frames every ackN of them (0: never)
	// deferReplies: requests wait for answerRequests, rather than being
	// answered at once.
	deferReplies bool
	wg           sync.WaitGroup

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change, for waits
	token    rpc.ResumeToken
	sessions int      // hellos that started a session
	out      [][]byte // session frames sent to the client: out[i] is number i+1
	acked    uint64   // the client's last MsgAck
	acks     int      // MsgAcks received in this session
	in       [][]byte // session frames received from the client, whole frames
	cur      *gateConn
	conns    map[*gateConn]bool
	accepts  []time.Time // when each connection was accepted
	resumes  int         // resumes taken up
	mute     int         // close this many further resumes without an answer (-1: all)
	hold     chan struct{}
	refuse   string              // refuse further resumes with this kick reason
	byes     int                 // MsgBye received (and answered)
	drops    int                 // connections the test dropped
	requests []rpc.ClientRequest // waiting for answerRequests
	unexpect []string
}

// gateConn is one connection to the fake gate.
type gateConn struct {
	nc     net.Conn
	done   chan struct{} // its reader has stopped
	silent bool          // writes nothing more (under the gate's lock): a path gone dead one way
}

func newSessionGate(t *testing.T, window time.Duration) *sessionGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &sessionGate{t: t, ln: ln, window: window, ackN: 8, changed: make(chan struct{}), conns: map[*gateConn]bool{}}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			g.serve(nc)
		}
	}()
	up := websocket.Upgrader{}
	g.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		g.serve(wsconn.New(ws))
	}))
	t.Cleanup(g.close)
	return g
}

func (g *sessionGate) addr() string  { return g.ln.Addr().String() }
func (g *sessionGate) wsURL() string { return "ws" + strings.TrimPrefix(g.http.URL, "http") + "/" }

// close stops the gate: its listeners, connections and goroutines.
func (g *sessionGate) close() {
	g.ln.Close()
	g.mu.Lock()
	if g.hold != nil {
		close(g.hold)
		g.hold = nil
	}
	for gc := range g.conns {
		gc.nc.Close()
	}
	g.mu.Unlock()
	g.http.CloseClientConnections()
	g.http.Close()
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.unexpect) > 0 {
		g.t.Errorf("the fake gate saw: %s", strings.Join(g.unexpect, "; "))
	}
}

// changedLocked wakes the waits.
func (g *sessionGate) changedLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// waitFor waits until cond (called under the gate's lock) holds.
func (g *sessionGate) waitFor(what string, cond func() bool) {
	g.t.Helper()
	deadline := time.After(eventTimeout)
	for {
		g.mu.Lock()
		ok, ch := cond(), g.changed
		g.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			g.t.Fatalf("the fake gate waited in vain for %s", what)
		}
	}
}

// serve runs one connection on its own goroutine.
func (g *sessionGate) serve(nc net.Conn) {
	gc := &gateConn{nc: nc, done: make(chan struct{})}
	g.mu.Lock()
	g.accepts = append(g.accepts, time.Now())
	g.conns[gc] = true
	g.changedLocked()
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(gc.done)
		defer nc.Close()
		defer func() {
			g.mu.Lock()
			delete(g.conns, gc)
			if g.cur == gc {
				g.cur = nil // a drop: the session is held
			}
			g.changedLocked()
			g.mu.Unlock()
		}()
		var hdr [rpc.HeaderSize]byte
		nc.SetReadDeadline(time.Now().Add(eventTimeout))
		t, body, err := rpc.ReadFrame(nc, hdr[:], 1<<20)
		if err != nil {
			return
		}
		switch t {
		case rpc.MsgClientHello:
			if !g.hello(gc, body) {
				return
			}
		case rpc.MsgResume:
			if !g.resume(gc, body) {
				return
			}
		default:
			g.fail("first frame %v", t)
			return
		}
		for {
			nc.SetReadDeadline(time.Now().Add(eventTimeout))
			t, body, err := rpc.ReadFrame(nc, hdr[:], 1<<20)
			if err != nil {
				return
			}
			if !g.frame(gc, t, body) {
				return
			}
		}
	}()
}

func (g *sessionGate) fail(format string, args ...any) {
	g.mu.Lock()
	g.unexpect = append(g.unexpect, fmt.Sprintf(format, args...))
	g.mu.Unlock()
}

// write writes to one connection; a failure is a drop, seen by its reader.
func (gc *gateConn) write(b []byte) {
	if gc.silent {
		return
	}
	gc.nc.SetWriteDeadline(time.Now().Add(eventTimeout))
	gc.nc.Write(b)
}

// hello starts a session; without HelloResume (or with window 0) it is
// not resumable and the gate sends no MsgSession.
func (g *sessionGate) hello(gc *gateConn, body []byte) bool {
	_, flags, err := rpc.DecodeClientHelloFlags(body)
	if err != nil {
		g.fail("hello: %v", err)
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if old := g.cur; old != nil {
		old.nc.Close()
	}
	g.cur = gc
	g.sessions++
	g.out, g.in, g.acked, g.acks = nil, nil, 0, 0
	if flags&rpc.HelloResume != 0 && g.window > 0 {
		rand.Read(g.token[:])
		gc.write(rpc.AppendFrame(nil, rpc.MsgSession, rpc.AppendSession(nil, rpc.Session{Token: g.token, Window: g.window, Limit: 1 << 20})))
	} else {
		g.token = rpc.ResumeToken{}
	}
	g.changedLocked()
	return true
}

// resume takes a session up, or refuses, or says nothing, as the test set.
func (g *sessionGate) resume(gc *gateConn, body []byte) bool {
	r, err := rpc.DecodeResume(body)
	if err != nil {
		g.fail("resume: %v", err)
		return false
	}
	g.mu.Lock()
	hold := g.hold
	g.mu.Unlock()
	if hold != nil {
		<-hold
	}
	g.mu.Lock()
	kick := func(reason string) bool {
		gc.write(rpc.AppendFrame(nil, rpc.MsgKick, rpc.AppendString(nil, reason)))
		g.mu.Unlock()
		return false
	}
	switch {
	case g.mute != 0:
		if g.mute > 0 {
			g.mute--
		}
		g.mu.Unlock()
		return false
	case g.refuse != "":
		return kick(g.refuse)
	case g.token == (rpc.ResumeToken{}) || r.Token != g.token:
		return kick("resume refused: unknown or expired session")
	case r.Version != rpc.ProtocolVersion || r.Flags&rpc.HelloResume == 0:
		g.unexpect = append(g.unexpect, fmt.Sprintf("resume of version %d, flags %d", r.Version, r.Flags))
		return kick("protocol error: bad resume")
	case r.Received > uint64(len(g.out)) || r.Received < g.acked:
		g.unexpect = append(g.unexpect, fmt.Sprintf("resume that counts %d frames, %d sent, %d acknowledged", r.Received, len(g.out), g.acked))
		return kick("protocol error: bad count")
	}
	// The old connection, if the gate has not noticed its drop, is
	// closed, and its reader stopped before the count is taken.
	for g.cur != nil {
		old := g.cur
		g.mu.Unlock()
		old.nc.Close()
		<-old.done
		g.mu.Lock()
	}
	g.acked = r.Received
	rand.Read(g.token[:])
	b := rpc.AppendFrame(nil, rpc.MsgResumed, rpc.AppendResumed(nil, rpc.Resumed{Token: g.token, Received: uint64(len(g.in))}))
	for _, f := range g.out[r.Received:] {
		b = append(b, f...)
	}
	gc.write(b)
	g.cur = gc
	g.resumes++
	g.changedLocked()
	g.mu.Unlock()
	return true
}

// frame handles one frame of an established connection.
func (g *sessionGate) frame(gc *gateConn, t rpc.MsgType, body []byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.changedLocked()
	if g.cur != gc {
		return false // replaced by a resume
	}
	switch {
	case rpc.IsSessionFrame(t):
		g.in = append(g.in, rpc.AppendFrame(nil, t, body))
		if t == rpc.MsgRequest {
			// Answer every request with its method's name.
			q, err := rpc.DecodeClientRequest(body)
			if err != nil {
				g.unexpect = append(g.unexpect, fmt.Sprintf("request: %v", err))
				return false
			}
			g.requests = append(g.requests, q)
			if !g.deferReplies {
				g.answerLocked()
			}
		}
		if g.token != (rpc.ResumeToken{}) && g.ackN > 0 && len(g.in)%g.ackN == 0 {
			gc.write(rpc.AppendFrame(nil, rpc.MsgAck, rpc.AppendAck(nil, uint64(len(g.in)))))
		}
	case t == rpc.MsgAck:
		n, err := rpc.DecodeAck(body)
		if err != nil || g.token == (rpc.ResumeToken{}) || n < g.acked || n > uint64(len(g.out)) {
			g.unexpect = append(g.unexpect, fmt.Sprintf("Ack of %d frames (%v): %d sent, %d acknowledged", n, err, len(g.out), g.acked))
			return false
		}
		g.acked = n
		g.acks++
	case t == rpc.MsgHeartbeat:
		gc.write(rpc.AppendFrame(nil, rpc.MsgHeartbeatAck, nil))
	case t == rpc.MsgBye:
		g.byes++
		g.cur = nil
		g.token = rpc.ResumeToken{}
		gc.write(rpc.AppendFrame(nil, rpc.MsgBye, nil))
		return false
	default:
		g.unexpect = append(g.unexpect, fmt.Sprintf("frame %v", t))
		return false
	}
	return true
}

// send sends a session frame to the client: counted and kept, and
// written if it is connected.
func (g *sessionGate) send(t rpc.MsgType, body []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sendLocked(t, body)
	g.changedLocked()
}

func (g *sessionGate) sendLocked(t rpc.MsgType, body []byte) {
	f := rpc.AppendFrame(nil, t, body)
	g.out = append(g.out, f)
	if g.cur != nil {
		g.cur.write(f)
	}
}

// answerRequests answers the requests received, each with its method's
// name.
func (g *sessionGate) answerRequests() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.answerLocked()
	g.changedLocked()
}

func (g *sessionGate) answerLocked() {
	for _, q := range g.requests {
		result, _ := rpc.AppendValue(nil, q.Method)
		g.sendLocked(rpc.MsgReply, rpc.AppendReplyOK(rpc.AppendUint32LE(nil, q.ID), result))
	}
	g.requests = nil
}

// kick kicks the client: the session ends.
func (g *sessionGate) kick(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur != nil {
		g.cur.write(rpc.AppendFrame(nil, rpc.MsgKick, rpc.AppendString(nil, reason)))
		g.cur.nc.Close()
		g.cur = nil
	}
	g.token = rpc.ResumeToken{}
	g.changedLocked()
}

// drop cuts the connection without a word, as a network would: a reset
// if reset, else an end of stream. It reports whether there was one.
func (g *sessionGate) drop(reset bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	gc := g.cur
	if gc == nil {
		return false
	}
	if tc, ok := gc.nc.(*net.TCPConn); ok && reset {
		tc.SetLinger(0)
	}
	gc.nc.Close()
	g.cur = nil
	g.drops++
	g.changedLocked()
	return true
}

// calls returns the arguments of the client's calls of method received,
// in order (the first argument, an int).
func (g *sessionGate) calls(method string) []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return callArgs(g.in, method)
}

// callArgs decodes the calls of method among frames (CallEntity or
// Request): the first argument of each.
func callArgs(frames [][]byte, method string) []int64 {
	var got []int64
	for _, f := range frames {
		t, body := rpc.MsgType(uint16(f[4])|uint16(f[5])<<8), f[rpc.HeaderSize:]
		var m string
		var args []byte
		switch t {
		case rpc.MsgCallEntity:
			r := rpc.NewReader(body)
			r.EntityID()
			m, args = r.String(), r.Rest()
		case rpc.MsgRequest:
			q, _ := rpc.DecodeClientRequest(body)
			m, args = q.Method, q.Args
		default:
			continue
		}
		if m != method {
			continue
		}
		a, err := rpc.DecodeAnyArgs(args)
		if err != nil || len(a) == 0 {
			got = append(got, -1)
			continue
		}
		n, _ := a[0].(int64)
		got = append(got, n)
	}
	return got
}

// checkSequence checks that got is 0, 1, … n-1: nothing lost,
// duplicated or reordered.
func checkSequence(t *testing.T, what string, got []int64, n int) {
	t.Helper()
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("%s: item %d is %d (of %d received)", what, i, v, len(got))
		}
	}
	if len(got) != n {
		t.Fatalf("%s: %d received, want %d", what, len(got), n)
	}
}
