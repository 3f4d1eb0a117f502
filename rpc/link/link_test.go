package link

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

const linkWait = 10 * time.Second

// fakeDispatcher is one dispatcher instance on a real socket: it accepts
// one connection at a time and answers MsgHello with its instance.
type fakeDispatcher struct {
	t        *testing.T
	ln       net.Listener
	instance uint64
}

func listenFake(t *testing.T, addr string, instance uint64) *fakeDispatcher {
	t.Helper()
	var ln net.Listener
	var err error
	// The previous instance's port may take a moment to be free again.
	for deadline := time.Now().Add(linkWait); ; time.Sleep(10 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeDispatcher{t: t, ln: ln, instance: instance}
}

// accept takes the next connection, checks its hello and acknowledges it;
// it returns the connection and the instance the peer said it knew.
func (f *fakeDispatcher) accept() (*rpc.Conn, uint64) {
	f.t.Helper()
	f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(linkWait))
	nc, err := f.ln.Accept()
	if err != nil {
		f.t.Fatalf("accept: %v", err)
	}
	c := rpc.NewConn(nc, rpc.ConnConfig{})
	f.t.Cleanup(func() { c.Close(nil); c.Wait() })
	nc.SetReadDeadline(time.Now().Add(linkWait))
	typ, body, err := c.ReadFrame()
	if err != nil || typ != rpc.MsgHello || len(body) != 11 {
		f.t.Fatalf("hello: %v %v %x", err, typ, body)
	}
	r := rpc.NewReader(body)
	if role, id := rpc.Role(r.Uint8()), r.Uint16(); role != rpc.RoleGate || id != 7 {
		f.t.Fatalf("hello from %v%d", role, id)
	}
	c.Send(rpc.MsgHelloAck, rpc.AppendUint64(rpc.AppendUint16(nil, 1), f.instance))
	return c, r.Uint64()
}

// expect reads the next frame and checks it.
func expectFrame(t *testing.T, c *rpc.Conn, typ rpc.MsgType, body string) {
	t.Helper()
	c.NetConn().SetReadDeadline(time.Now().Add(linkWait))
	got, b, err := c.ReadFrame()
	if err != nil || got != typ || string(b) != body {
		t.Fatalf("got %v %q (%v), want %v %q", got, b, err, typ, body)
	}
}

type linkEvents struct {
	connected chan bool // OnConnect's same
	down      chan struct{}
}

func startLink(t *testing.T, addr string, queueLimit int) (*Link, linkEvents) {
	t.Helper()
	ev := linkEvents{connected: make(chan bool, 4), down: make(chan struct{}, 4)}
	log := logrus.New()
	log.SetOutput(io.Discard)
	l := New(Config{
		Addr: addr, Role: rpc.RoleGate, ID: 7, QueueLimit: queueLimit, Logger: log,
		OnConnect:    func(_ *rpc.Conn, same bool) { ev.connected <- same },
		OnDisconnect: func(error) { ev.down <- struct{}{} },
		Handler:      func(rpc.MsgType, []byte) error { return nil },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return l, ev
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(linkWait):
		t.Fatalf("no %s after %v", what, linkWait)
	}
	var zero T
	return zero
}

// While the link is down, frames wait in its queue, within QueueLimit;
// a restarted dispatcher (a new instance) gets them first, in order, and
// is told which instance the link knew before.
func TestLinkQueueGoesToARestartedDispatcher(t *testing.T) {
	d1 := listenFake(t, "127.0.0.1:0", 11)
	addr := d1.ln.Addr().String()
	l, ev := startLink(t, addr, 2*(rpc.HeaderSize+3))
	c1, before := d1.accept()
	if before != 0 || await(t, ev.connected, "connect") {
		t.Fatalf("first hello: instance before %d, want 0, and same must be false", before)
	}
	c1.Close(nil)
	d1.ln.Close()
	await(t, ev.down, "disconnect")

	for _, s := range []string{"one", "two"} {
		if err := l.Send(rpc.MsgClientCall, []byte(s)); err != nil {
			t.Fatalf("Send while down: %v", err)
		}
	}
	if err := l.Send(rpc.MsgClientCall, []byte("three")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send over QueueLimit: %v, want ErrQueueFull", err)
	}

	d2 := listenFake(t, addr, 22)
	c2, before := d2.accept()
	if before != 11 {
		t.Fatalf("hello to the restarted dispatcher names instance %d, want 11", before)
	}
	if same := await(t, ev.connected, "reconnect"); same {
		t.Fatal("OnConnect said same for a new instance")
	}
	if err := l.Send(rpc.MsgClientCall, []byte("four")); err != nil {
		t.Fatal(err)
	}
	expectFrame(t, c2, rpc.MsgClientCall, "one")
	expectFrame(t, c2, rpc.MsgClientCall, "two")
	expectFrame(t, c2, rpc.MsgClientCall, "four")
}

// Back at the same instance (it saw us leave and told the others), the
// queue is dropped and OnConnect says same.
func TestLinkQueueDroppedForTheSameDispatcher(t *testing.T) {
	d := listenFake(t, "127.0.0.1:0", 33)
	l, ev := startLink(t, d.ln.Addr().String(), 1<<10)
	c1, _ := d.accept()
	await(t, ev.connected, "connect")
	c1.Close(nil)
	await(t, ev.down, "disconnect")
	if err := l.Send(rpc.MsgClientCall, []byte("stale")); err != nil {
		t.Fatal(err)
	}
	c2, before := d.accept()
	if before != 33 {
		t.Fatalf("hello names instance %d, want 33", before)
	}
	if !await(t, ev.connected, "reconnect") {
		t.Fatal("OnConnect did not say same for the same instance")
	}
	l.Send(rpc.MsgClientCall, []byte("fresh"))
	expectFrame(t, c2, rpc.MsgClientCall, "fresh")
}

// Without a queue, Send while down says so.
func TestLinkWithoutQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l, _ := startLink(t, addr, 0)
	if err := l.Send(rpc.MsgClientCall, nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send: %v, want ErrNotConnected", err)
	}
}
