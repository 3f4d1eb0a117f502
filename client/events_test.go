package client_test

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

// sendCalls sends n calls OnSeq(from+i) in one write.
func sendCalls(t *testing.T, p *peer, id rpc.EntityID, from, n int) {
	t.Helper()
	var b []byte
	for i := range n {
		b = rpc.AppendFrame(b, rpc.MsgCallClient, callBody(t, id, "OnSeq", from+i))
	}
	p.write(b)
}

// waitFramesIn waits until the client has handled at least n frames.
func waitFramesIn(t *testing.T, c *client.Client, n int64) {
	t.Helper()
	for deadline := time.Now().Add(eventTimeout); c.Stats().FramesIn < n; {
		if time.Now().After(deadline) {
			t.Fatalf("the client handled %d frames, want %d", c.Stats().FramesIn, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// readSeq reads n OnSeq calls and checks they carry from, from+1, ...
func readSeq(t *testing.T, c *client.Client, from, n int) {
	t.Helper()
	for i := range n {
		ev := expectEvent[client.Call](t, c)
		if ev.Method != "OnSeq" || len(ev.Args) != 1 || ev.Args[0] != int64(from+i) {
			t.Fatalf("event %d: %#v, want OnSeq(%d)", i, ev, from+i)
		}
	}
}

// TestEventsHeldWhileTheApplicationIsBehind: the Events channel itself
// is small, but a client holds EventBuffer events (1024 by default)
// before its reader waits for the application, as when the channel held
// them all: 600 calls are all handled while the application reads none,
// then read in order; again after the queue has emptied, and again in
// bursts read as they come, so that the queue starts and empties many
// times.
func TestEventsHeldWhileTheApplicationIsBehind(t *testing.T) {
	c, p := dialFake(t, quiet)
	id := rpc.NewEntityID()
	const n = 600
	for round := range 2 {
		sendCalls(t, p, id, round*n, n)
		waitFramesIn(t, c, int64((round+1)*n))
		readSeq(t, c, round*n, n)
	}
	next := 2 * n
	for range 50 {
		sendCalls(t, p, id, next, 77)
		readSeq(t, c, next, 77)
		next += 77
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("unexpected event %#v", ev)
	default:
	}
}

// TestEventBufferBoundsWhatIsHeld: with EventBuffer 100, the client
// handles 100 frames and one more, whose event waits for room, and no
// further while the application reads nothing; every event then arrives
// in order.
func TestEventBufferBoundsWhatIsHeld(t *testing.T) {
	for _, size := range []int{100, 32, 5} {
		c, p := dialFake(t, client.Options{HeartbeatInterval: -1, EventBuffer: size})
		id := rpc.NewEntityID()
		const n = 300
		sendCalls(t, p, id, 0, n)
		waitFramesIn(t, c, int64(size+1))
		// Nothing can announce that the reader stays put: give it time to
		// go further, which it must not.
		time.Sleep(50 * time.Millisecond)
		if got := c.Stats().FramesIn; got != int64(size+1) {
			t.Fatalf("EventBuffer %d: the client handled %d frames while the application read none, want %d", size, got, size+1)
		}
		readSeq(t, c, 0, n)
	}
}

// TestCloseWhileEventsAreQueued: Close returns at once although the
// application reads nothing and hundreds of events wait; the events
// left to read are the first ones, in order, then the channel is closed
// (and TestMain finds no goroutine left behind).
func TestCloseWhileEventsAreQueued(t *testing.T) {
	c, p := dialFake(t, quiet)
	id := rpc.NewEntityID()
	sendCalls(t, p, id, 0, 500)
	waitFramesIn(t, c, 500)
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(eventTimeout):
		t.Fatal("Close blocked on the queued events")
	}
	i := 0
	for ev := range c.Events() {
		switch ev := ev.(type) {
		case client.Call:
			if ev.Args[0] != int64(i) {
				t.Fatalf("event %d after Close: %#v", i, ev)
			}
			i++
		case client.Disconnected:
		default:
			t.Fatalf("event after Close: %#v", ev)
		}
	}
	if i == 0 {
		t.Fatal("no event left to read after Close")
	}
}

// TestIdleClientHoldsOneGoroutine: a connected client with heartbeats
// on holds one goroutine, its reader: heartbeats (and a resumable
// session's acks) are sent by timers, and writers run only while there
// is something to write.
func TestIdleClientHoldsOneGoroutine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 20
	base := runtime.NumGoroutine()
	var clients []*client.Client
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
		for _, c := range clients {
			c.Close()
		}
	}()
	for range n {
		c, err := client.Dial(ln.Addr().String(), client.Options{HeartbeatInterval: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		p := &peer{t: t, nc: nc}
		for _, want := range []rpc.MsgType{rpc.MsgClientHello, rpc.MsgHeartbeat} {
			if typ, _, err := p.read(); err != nil || typ != want {
				t.Fatalf("got %v (%v), want %v", typ, err, want)
			}
		}
	}
	for deadline := time.Now().Add(eventTimeout); runtime.NumGoroutine() > base+n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle clients hold %d goroutines, want %d", n, runtime.NumGoroutine()-base, n)
		}
		time.Sleep(time.Millisecond)
	}
}
