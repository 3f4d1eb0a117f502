package dispatcher_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// waitLimit bounds every wait in these tests. Nothing here takes long on a
// healthy dispatcher; the limit only turns a hang into a failure.
const waitLimit = 10 * time.Second

// dispatcherID is the ID every test dispatcher runs with, so that the
// HelloAck can be checked.
const dispatcherID = 7

// logHook records the dispatcher's log entries with their fields.
type logHook struct {
	mu      sync.Mutex
	entries []logEntry
}

type logEntry struct {
	level  logrus.Level
	msg    string
	fields logrus.Fields
}

func (h *logHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *logHook) Fire(e *logrus.Entry) error {
	f := make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		f[k] = v
	}
	h.mu.Lock()
	h.entries = append(h.entries, logEntry{e.Level, e.Message, f})
	h.mu.Unlock()
	return nil
}

// find returns the first entry for which match is true.
func (h *logHook) find(match func(logEntry) bool) (logEntry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if match(e) {
			return e, true
		}
	}
	return logEntry{}, false
}

// wait polls until an entry matches, or fails the test after waitLimit.
func (h *logHook) wait(t testing.TB, what string, match func(logEntry) bool) logEntry {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if e, ok := h.find(match); ok {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log entry: %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// server is a dispatcher under test, running on 127.0.0.1.
type server struct {
	d      *dispatcher.Dispatcher
	cfg    dispatcher.Config
	addr   string
	logs   *logHook
	runErr chan error
	once   sync.Once
	err    error // Run's result, once stop returned
}

func startDispatcher(t testing.TB, cfg dispatcher.Config) *server {
	t.Helper()
	h := &logHook{}
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.DebugLevel)
	l.AddHook(h)
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.ID == 0 {
		cfg.ID = dispatcherID
	}
	cfg.Logger = l
	d, err := dispatcher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{d: d, cfg: cfg, addr: d.Addr().String(), logs: h, runErr: make(chan error, 1)}
	go func() { s.runErr <- d.Run(context.Background()) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop closes the dispatcher and returns what Run returned.
func (s *server) stop(t testing.TB) error {
	t.Helper()
	s.once.Do(func() {
		if err := s.d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case s.err = <-s.runErr:
		case <-time.After(waitLimit):
			t.Fatalf("Run did not return after Close")
		}
	})
	return s.err
}

type frame struct {
	t    rpc.MsgType
	body []byte
}

// peer is a fake game or gate speaking the server protocol on a plain TCP
// connection. A goroutine reads its frames into a channel.
type peer struct {
	name   string
	nc     net.Conn
	frames chan frame
	done   chan struct{} // closed when the reader stops (connection closed)
	quit   chan struct{}
	err    error // the read error, valid once done is closed
}

// dial connects without saying hello.
func dial(t testing.TB, s *server, name string) *peer {
	t.Helper()
	nc, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{name: name, nc: nc, frames: make(chan frame, 1024), done: make(chan struct{}), quit: make(chan struct{})}
	go p.read()
	t.Cleanup(p.close)
	return p
}

func (p *peer) read() {
	defer close(p.done)
	var hdr [rpc.HeaderSize]byte
	for {
		typ, body, err := rpc.ReadFrame(p.nc, hdr[:], 64<<20)
		if err != nil {
			p.err = err
			return
		}
		select {
		case p.frames <- frame{typ, body}:
		case <-p.quit:
			return
		}
	}
}

// close closes the connection from our side and waits for the reader.
func (p *peer) close() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	p.nc.Close()
	<-p.done
}

// connect dials and completes the hello handshake as role/id.
func connect(t testing.TB, s *server, role rpc.Role, id uint16) *peer {
	t.Helper()
	p := dial(t, s, fmt.Sprintf("%s%d", role, id))
	p.hello(t, role, id)
	return p
}

func helloBody(role rpc.Role, id uint16) []byte {
	return rpc.AppendUint16([]byte{byte(role)}, id)
}

func (p *peer) hello(t testing.TB, role rpc.Role, id uint16) {
	t.Helper()
	p.send(t, rpc.MsgHello, helloBody(role, id))
	body := p.expect(t, rpc.MsgHelloAck)
	r := rpc.NewReader(body)
	if got := r.Uint16(); r.Err() != nil || got != dispatcherID || len(body) != 10 || r.Uint64() == 0 {
		t.Fatalf("%s: HelloAck body %x, want dispatcher ID %d", p.name, body, dispatcherID)
	}
}

func (p *peer) send(t testing.TB, typ rpc.MsgType, body []byte) {
	t.Helper()
	p.sendRaw(t, rpc.AppendFrame(nil, typ, body))
}

func (p *peer) sendRaw(t testing.TB, b []byte) {
	t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := p.nc.Write(b); err != nil {
		t.Fatalf("%s: write: %v", p.name, err)
	}
}

// next returns the next frame, failing if the connection closes first.
func (p *peer) next(t testing.TB) frame {
	t.Helper()
	select {
	case f := <-p.frames:
		return f
	case <-p.done:
		select {
		case f := <-p.frames:
			return f
		default:
		}
		t.Fatalf("%s: connection closed (%v) while waiting for a frame", p.name, p.err)
	case <-time.After(waitLimit):
		t.Fatalf("%s: no frame after %v", p.name, waitLimit)
	}
	return frame{}
}

// expect returns the body of the next frame, which must be of type want.
func (p *peer) expect(t testing.TB, want rpc.MsgType) []byte {
	t.Helper()
	f := p.next(t)
	if f.t != want {
		t.Fatalf("%s: got %v (%x), want %v", p.name, f.t, f.body, want)
	}
	return f.body
}

// expectFrame checks that the next frame is exactly (want, body).
func (p *peer) expectFrame(t testing.TB, want rpc.MsgType, body []byte) {
	t.Helper()
	if got := p.expect(t, want); !bytes.Equal(got, body) {
		t.Fatalf("%s: %v body\n got  %x\n want %x", p.name, want, got, body)
	}
}

// expectPeerGone checks that the next frame is MsgPeerGone(role, id).
func (p *peer) expectPeerGone(t testing.TB, role rpc.Role, id uint16) {
	t.Helper()
	p.expectFrame(t, rpc.MsgPeerGone, helloBody(role, id))
}

// expectClosed waits until the dispatcher closes the connection. Any frame
// received meanwhile fails the test.
func (p *peer) expectClosed(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
	case f := <-p.frames:
		t.Fatalf("%s: got %v (%x), want the connection closed", p.name, f.t, f.body)
	case <-time.After(waitLimit):
		t.Fatalf("%s: still open after %v", p.name, waitLimit)
	}
	select {
	case f := <-p.frames:
		t.Fatalf("%s: got %v (%x) before the close", p.name, f.t, f.body)
	default:
	}
	if p.err == nil || !(errors.Is(p.err, io.EOF) || errors.Is(p.err, io.ErrUnexpectedEOF) || strings.Contains(p.err.Error(), "reset")) {
		t.Fatalf("%s: reader stopped with %v, want EOF from the dispatcher closing", p.name, p.err)
	}
}

// expectRefused checks that the next frame is a MsgHelloRefused with
// code and a reason, and that the connection closes after it.
func (p *peer) expectRefused(t testing.TB, code rpc.RefusalCode) string {
	t.Helper()
	got, reason := rpc.DecodeRefusal(p.expect(t, rpc.MsgHelloRefused))
	if got != code || reason == "" {
		t.Fatalf("%s: refused with %v %q, want %v and a reason", p.name, got, reason, code)
	}
	p.expectClosed(t)
	return reason
}

// Body builders. Each returns the exact body a real peer would send.

func callBody(id rpc.EntityID, method string, args ...any) []byte {
	b := rpc.AppendString(rpc.AppendEntityID(nil, id), method)
	b, err := rpc.AppendArgs(b, args)
	if err != nil {
		panic(err)
	}
	return b
}

func clientCallBody(id rpc.EntityID, gate uint16, client uint64, method string, args ...any) []byte {
	b := rpc.AppendUint64(rpc.AppendUint16(rpc.AppendEntityID(nil, id), gate), client)
	b = rpc.AppendString(b, method)
	b, err := rpc.AppendArgs(b, args)
	if err != nil {
		panic(err)
	}
	return b
}

func clientBody(id rpc.EntityID, gate uint16, client uint64) []byte {
	return rpc.AppendUint64(rpc.AppendUint16(rpc.AppendEntityID(nil, id), gate), client)
}

func toClientBody(gate uint16, client uint64, inner rpc.MsgType, innerBody []byte) []byte {
	b := rpc.AppendUint16(rpc.AppendUint64(rpc.AppendUint16(nil, gate), client), uint16(inner))
	return append(b, innerBody...)
}

func kickBody(gate uint16, client uint64, reason string) []byte {
	return rpc.AppendString(rpc.AppendUint64(rpc.AppendUint16(nil, gate), client), reason)
}

func broadcastBody(op rpc.FilterOp, key, value string, inner rpc.MsgType, innerBody []byte) []byte {
	b := rpc.AppendString(rpc.AppendString(rpc.AppendUint8(nil, uint8(op)), key), value)
	return append(rpc.AppendUint16(b, uint16(inner)), innerBody...)
}

func createBody(id rpc.EntityID, typ string, attrs map[string]any) []byte {
	b := rpc.AppendString(rpc.AppendEntityID(nil, id), typ)
	b, err := rpc.AppendValue(b, attrs)
	if err != nil {
		panic(err)
	}
	return b
}

func loadBody(id rpc.EntityID, typ string) []byte {
	return rpc.AppendString(rpc.AppendEntityID(nil, id), typ)
}

// register makes game g host id and waits until the dispatcher has
// recorded it: a call that g sends to id after the registration comes
// back to g only once the registration was processed (frames from one
// peer are routed in order).
func register(t testing.TB, g *peer, id rpc.EntityID) {
	t.Helper()
	g.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, id))
	b := callBody(id, "sync", g.name)
	g.send(t, rpc.MsgCallEntityMethod, b)
	g.expectFrame(t, rpc.MsgCallEntityMethod, b)
}

// barrier proves that everything g sent so far has been routed, by
// sending a call to one of g's own entities and waiting for it.
func barrier(t testing.TB, g *peer, own rpc.EntityID) {
	t.Helper()
	b := callBody(own, "barrier")
	g.send(t, rpc.MsgCallEntityMethod, b)
	g.expectFrame(t, rpc.MsgCallEntityMethod, b)
}
