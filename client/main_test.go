package client_test

import (
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// eventTimeout bounds every wait for something the client or the fake
// server should do; it is only reached when a test fails.
const eventTimeout = 10 * time.Second

// peer is the server side of one connection from a client to a fake gate.
type peer struct {
	t   testing.TB
	nc  net.Conn
	hdr [rpc.HeaderSize]byte
}

// dialFake starts a fake gate on 127.0.0.1, dials it with opts and returns
// the client and the server side of its connection. Both are closed when
// the test ends.
func dialFake(t testing.TB, opts client.Options) (*client.Client, *peer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := client.Dial(ln.Addr().String(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(eventTimeout))
	nc, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		c.Close()
	})
	p := &peer{t: t, nc: nc}
	// The client's first frame is always its hello with the protocol
	// version (docs/protocol.md, Versioning).
	typ, body, err := p.read()
	if v, herr := rpc.DecodeClientHello(body); err != nil || typ != rpc.MsgClientHello || herr != nil || v != rpc.ProtocolVersion || len(body) != 2 {
		t.Fatalf("the client's first frame: %v % x (%v), want ClientHello of version %d", typ, body, err, rpc.ProtocolVersion)
	}
	// With heartbeats on, a heartbeat follows at once: its answer tells
	// the client the gate's heartbeat settings.
	if opts.HeartbeatInterval >= 0 {
		if typ, body, err := p.read(); err != nil || typ != rpc.MsgHeartbeat || len(body) != 0 {
			t.Fatalf("the client's second frame: %v % x (%v), want an empty Heartbeat", typ, body, err)
		}
	}
	return c, p
}

// write writes raw bytes to the client.
func (p *peer) write(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Errorf("fake server write: %v", err)
	}
}

// send writes one frame to the client.
func (p *peer) send(typ rpc.MsgType, body []byte) {
	p.t.Helper()
	p.write(rpc.AppendFrame(nil, typ, body))
}

// read reads the next frame the client sent, heartbeats included.
func (p *peer) read() (rpc.MsgType, []byte, error) {
	p.nc.SetReadDeadline(time.Now().Add(eventTimeout))
	return rpc.ReadFrame(p.nc, p.hdr[:], 16<<20)
}

// readFrame reads the next frame that is not a heartbeat; it fails the
// test on error.
func (p *peer) readFrame() (rpc.MsgType, []byte) {
	p.t.Helper()
	for {
		typ, body, err := p.read()
		if err != nil {
			p.t.Fatalf("fake server read: %v", err)
		}
		if typ != rpc.MsgHeartbeat {
			return typ, body
		}
	}
}

// Bodies of the gate → client messages, built with the wire layer.

func createBody(t testing.TB, id rpc.EntityID, player bool, typ string, attrs map[string]any) []byte {
	t.Helper()
	b := rpc.AppendEntityID(nil, id)
	p := uint8(0)
	if player {
		p = 1
	}
	b = rpc.AppendString(rpc.AppendUint8(b, p), typ)
	b, err := rpc.AppendValue(b, attrs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func attrBody(t testing.TB, id rpc.EntityID, op rpc.AttrOp, path []any, value any) []byte {
	t.Helper()
	b := rpc.AppendUint8(rpc.AppendEntityID(nil, id), uint8(op))
	b, err := rpc.AppendValue(b, path)
	if err == nil {
		b, err = rpc.AppendValue(b, value)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func callBody(t testing.TB, id rpc.EntityID, method string, args ...any) []byte {
	t.Helper()
	b, err := rpc.AppendArgs(rpc.AppendString(rpc.AppendEntityID(nil, id), method), args)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func kickBody(reason string) []byte { return rpc.AppendString(nil, reason) }

// nextEvent returns the next event; it fails if the channel is closed or
// nothing arrives in time.
func nextEvent(t testing.TB, c *client.Client) client.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(eventTimeout):
		t.Fatal("no event in time")
	}
	return nil
}

// expectEvent returns the next event, which must be a T.
func expectEvent[T client.Event](t testing.TB, c *client.Client) T {
	t.Helper()
	ev := nextEvent(t, c)
	e, ok := ev.(T)
	if !ok {
		var want T
		t.Fatalf("got event %#v, want a %T", ev, want)
	}
	return e
}

// expectClosed checks that the events channel is closed (after Disconnected).
func expectClosed(t testing.TB, c *client.Client) {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if ok {
			t.Fatalf("event %#v after Disconnected", ev)
		}
	case <-time.After(eventTimeout):
		t.Fatal("events channel not closed after Disconnected")
	}
}

// expectDisconnected skips other events until Disconnected, then checks
// that the channel is closed.
func expectDisconnected(t testing.TB, c *client.Client) client.Disconnected {
	t.Helper()
	for {
		if d, ok := nextEvent(t, c).(client.Disconnected); ok {
			expectClosed(t, c)
			return d
		}
	}
}

// norm converts the ints in v (recursively) to int64, the type the client
// decodes every integer to.
func norm(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = norm(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = norm(e)
		}
		return out
	}
	return v
}

func path(keys ...any) []any { return norm(keys).([]any) }

func deepEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %#v\n want %#v", what, got, want)
	}
}
