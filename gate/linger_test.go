package gate_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// floodLimits kicks a client after 100 messages.
var floodLimits = cluster.Options{WebSocket: true,
	GateLimits: &gate.Config{GateTuning: config.GateTuning{ClientMsgRate: 50, ClientMsgBurst: 100}}}

const floodKick = "rate limit: more than 50 messages per second"

// heartbeats returns n heartbeat frames.
func heartbeats(n int) []byte {
	return bytes.Repeat(rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil), n)
}

// A client kicked with input still unread by the gate reads the kick and
// then the end of the stream. Were the socket closed at once, its unread
// input would make it send a reset, and a client that had not yet read
// the kick would lose it to "connection reset by peer".
func TestKickedFlooderReadsTheKickThenEOF(t *testing.T) {
	c, l := start(t, floodLimits)
	p := newPair(t, c.GateAddr(0))
	for round := 0; round < 20; round++ {
		nc, err := net.Dial("tcp", c.GateAddr(0))
		if err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() { _, err := nc.Write(append(helloFrame(), heartbeats(10000)...)); wrote <- err }()
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var hdr [rpc.HeaderSize]byte
		kick := ""
		for {
			typ, body, err := rpc.ReadFrame(nc, hdr[:], 16<<20)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("round %d: read %v after kick %q; want the kick, then EOF", round, err, kick)
			}
			if typ == rpc.MsgKick {
				kick = rpc.NewReader(body).String()
			}
		}
		if kick != floodKick {
			t.Fatalf("round %d: kick %q", round, kick)
		}
		// The gate read and dropped what the flooder sent after the kick
		// (60 KB, under maxLingerDrain), so the write was not refused.
		if err := <-wrote; err != nil {
			t.Fatalf("round %d: write: %v", round, err)
		}
		nc.Close()
	}
	l.wait(t, "over its rate limit")
	p.check(t)
}

// The same over WebSocket: the kick, then a clean close message.
func TestKickedWebSocketFlooderReadsTheKickThenClose(t *testing.T) {
	c, _ := start(t, floodLimits)
	for round := 0; round < 20; round++ {
		r := dialRawWS(t, c.GateWSURL(0), nil)
		r.player()
		// One message of 10,000 frames: the gate stops reading it at the
		// 101st.
		r.send(heartbeats(10000))
		reason, code := r.kick()
		if reason != floodKick || code != websocket.CloseNormalClosure {
			t.Fatalf("round %d: kick %q, close code %d; want %q and %d", round, reason, code, floodKick, websocket.CloseNormalClosure)
		}
		r.ws.Close()
	}
}

// A kicked client that neither reads nor closes does not hold its socket
// for long: the gate closes it within closeLinger (1 s).
func TestLingeringCloseIsBounded(t *testing.T) {
	c, _ := start(t, floodLimits)
	nc, err := net.Dial("tcp", c.GateAddr(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(heartbeats(1000)); err != nil {
		t.Fatal(err)
	}
	// The client keeps writing and never reads: once the gate has closed
	// the socket, a write fails with a reset or a broken pipe.
	start := time.Now()
	nc.SetWriteDeadline(start.Add(10 * time.Second))
	one := heartbeats(1)
	for {
		if _, err := nc.Write(one); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the gate still had the socket open after 10 s")
			}
			break
		}
		time.Sleep(10 * time.Millisecond) // a pace, not a synchronisation
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the socket closed after %v; want about 1 s", d)
	}
}

// Shutdown tells every client, over each transport, why it is cut off,
// and returns once they are gone, before its deadline.
func TestShutdownKicksEveryClient(t *testing.T) {
	c, _ := start(t, cluster.Options{KCP: true, WebSocket: true})
	var clients []*client.Client
	for _, o := range []struct {
		addr string
		kcp  bool
	}{{c.GateAddr(0), false}, {c.GateAddr(0), true}, {c.GateWSURL(0), false}} {
		x, err := client.Dial(o.addr, client.Options{KCP: o.kcp})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		for {
			if ev, ok := next(t, x).(client.EntityCreated); ok && ev.IsPlayer {
				break
			}
		}
		clients = append(clients, x)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Gates[0].Shutdown(ctx) }()
	for i, x := range clients {
		if r := expectKick(t, x); r != "server shutting down" {
			t.Fatalf("client %d: kick reason %q", i, r)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Shutdown waited for its deadline although every client left")
	}
	if _, err := net.Dial("tcp", c.GateAddr(0)); err == nil {
		t.Fatal("the gate still accepts connections after Shutdown")
	}
}

// A client that never closes holds Shutdown only until its deadline.
func TestShutdownDeadline(t *testing.T) {
	c, l := start(t, cluster.Options{})
	nc, err := net.Dial("tcp", c.GateAddr(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(helloFrame())
	// The boot entity's creation proves the gate has the client.
	var hdr [rpc.HeaderSize]byte
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, _, err := rpc.ReadFrame(nc, hdr[:], 16<<20)
		if err != nil {
			t.Fatal(err)
		}
		if typ == rpc.MsgCreateEntity {
			break
		}
	}
	// It neither reads nor closes now: its close lingers (1 s), longer
	// than Shutdown may wait.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Gates[0].Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown past its deadline: %v, want context.DeadlineExceeded", err)
	}
	l.wait(t, "closes lingering at the deadline; closing")
}

// Cancelling a gate's Run is a graceful stop: its clients are kicked with
// the shutdown reason, and Run returns the context's error only once
// they are gone and the gate is closed.
func TestCancelRunShutsDownGracefully(t *testing.T) {
	c, _ := start(t, cluster.Options{})
	addrs := make([]string, len(c.Dispatchers))
	for i, d := range c.Dispatchers {
		addrs[i] = d.Addr().String()
	}
	g, err := gate.New(gate.Config{ID: 9, ListenAddr: "127.0.0.1:0", Dispatchers: addrs,
		ShutdownReason: "gate 9 going away", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(ctx) }()
	select {
	case <-g.Ready():
	case err := <-runErr:
		t.Fatalf("Run: %v", err)
	}
	x, err := client.Dial(g.Addr().String(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	for {
		if ev, ok := next(t, x).(client.EntityCreated); ok && ev.IsPlayer {
			break
		}
	}
	cancel()
	if r := expectKick(t, x); r != "gate 9 going away" {
		t.Fatalf("kick reason %q, want the configured ShutdownReason", r)
	}
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the graceful stop")
	}
	if g.NumClients() != 0 {
		t.Fatalf("%d clients left after Run returned", g.NumClients())
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close after the stop: %v", err)
	}
	if err := g.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after the stop: %v", err)
	}
}
