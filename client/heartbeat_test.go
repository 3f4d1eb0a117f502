package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

// marker sends a call the client turns into an event, and waits for it:
// everything the fake gate sent before has been handled.
func marker(t *testing.T, c *client.Client, p *peer) {
	t.Helper()
	p.send(rpc.MsgCallClient, callBody(t, "", "OnMarker"))
	if ev := expectEvent[client.Call](t, c); ev.Method != "OnMarker" {
		t.Fatalf("got %#v, want the marker", ev)
	}
}

// TestFollowsTheGatesHeartbeat: a client with the default options takes
// the heartbeat settings a gate announces in its MsgHeartbeatAck, clamped
// to rpc's bounds, and ignores an answer without them (an older gate).
func TestFollowsTheGatesHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name       string
		body       []byte
		wantIV     time.Duration
		wantSilent time.Duration
	}{
		{"none (older gate)", nil, 5 * time.Second, 20 * time.Second},
		{"cut short", rpc.AppendHeartbeatAck(nil, rpc.HeartbeatParams{Interval: time.Second, Timeout: 3 * time.Second})[:7], 5 * time.Second, 20 * time.Second},
		{"1s and 3s", rpc.AppendHeartbeatAck(nil, rpc.HeartbeatParams{Interval: time.Second, Timeout: 3 * time.Second}), time.Second, 3 * time.Second},
		{"1s and 30s", rpc.AppendHeartbeatAck(nil, rpc.HeartbeatParams{Interval: time.Second, Timeout: 30 * time.Second}), time.Second, 4 * time.Second},
		{"trailing bytes", append(rpc.AppendHeartbeatAck(nil, rpc.HeartbeatParams{Interval: 2 * time.Second, Timeout: 5 * time.Second}), 9, 9), 2 * time.Second, 5 * time.Second},
		{"zeros", make([]byte, 8), rpc.MinHeartbeatInterval, 2 * rpc.MinHeartbeatInterval},
		{"all ones", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, rpc.MaxHeartbeatInterval, 4 * rpc.MaxHeartbeatInterval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := dialFake(t, client.Options{})
			p.send(rpc.MsgHeartbeatAck, tc.body)
			marker(t, c, p)
			if iv, to := c.Heartbeat(); iv != tc.wantIV || to != tc.wantSilent {
				t.Fatalf("Heartbeat() = %v, %v; want %v, %v", iv, to, tc.wantIV, tc.wantSilent)
			}
		})
	}
}

// TestAnnouncedTimeoutNoticesASilentGate: a gate that announces a
// heartbeat every 100ms and a 400ms timeout, then goes silent, is taken
// as gone after that timeout, not the default 20 s (eventTimeout, 10 s,
// would fail the test first); meanwhile the client sends its heartbeats
// at the announced pace.
func TestAnnouncedTimeoutNoticesASilentGate(t *testing.T) {
	c, p := dialFake(t, client.Options{})
	p.send(rpc.MsgHeartbeatAck, rpc.AppendHeartbeatAck(nil, rpc.HeartbeatParams{Interval: 100 * time.Millisecond, Timeout: 400 * time.Millisecond}))
	beats := make(chan int, 1)
	go func() {
		n := 0
		for {
			typ, _, err := p.read()
			if err != nil {
				beats <- n
				return
			}
			if typ == rpc.MsgHeartbeat {
				n++
			}
		}
	}()
	d := expectDisconnected(t, c)
	if d.Reason != "the server stopped answering" || !errors.Is(d.Err, rpc.ErrIdleTimeout) {
		t.Fatalf("got %#v, want the server stopped answering", d)
	}
	// 400ms of silence at one heartbeat per 100ms: a few (not one, as
	// at the default 5 s interval).
	if n := <-beats; n < 2 {
		t.Fatalf("%d heartbeats during the silence, want at least 2", n)
	}
}

// TestOwnHeartbeatOptionsWin: a client's own interval and timeout are
// kept whatever the gate announces, except that the gate's timeout
// bounds a silence the client left to the default.
func TestOwnHeartbeatOptionsWin(t *testing.T) {
	ack := rpc.AppendHeartbeatAck(nil, rpc.HeartbeatParams{Interval: time.Second, Timeout: 3 * time.Second})
	for _, tc := range []struct {
		opts       client.Options
		wantIV     time.Duration
		wantSilent time.Duration
	}{
		{client.Options{HeartbeatInterval: 2 * time.Second}, 2 * time.Second, 3 * time.Second},
		{client.Options{HeartbeatInterval: 500 * time.Millisecond}, 500 * time.Millisecond, 2 * time.Second},
		{client.Options{HeartbeatTimeout: 10 * time.Second}, time.Second, 10 * time.Second},
		{client.Options{HeartbeatInterval: 2 * time.Second, HeartbeatTimeout: 10 * time.Second}, 2 * time.Second, 10 * time.Second},
		{client.Options{HeartbeatInterval: time.Millisecond}, rpc.MinHeartbeatInterval, 4 * rpc.MinHeartbeatInterval},
		{quiet, 0, 0},
	} {
		c, p := dialFake(t, tc.opts)
		p.send(rpc.MsgHeartbeatAck, ack)
		marker(t, c, p)
		if iv, to := c.Heartbeat(); iv != tc.wantIV || to != tc.wantSilent {
			t.Fatalf("options %+v: Heartbeat() = %v, %v; want %v, %v", tc.opts, iv, to, tc.wantIV, tc.wantSilent)
		}
	}
}

// TestByeFromTheGateUnasked: a MsgBye the client did not ask for (it
// sent none) ends the connection as the server's close.
func TestByeFromTheGateUnasked(t *testing.T) {
	c, p := dialFake(t, quiet)
	p.send(rpc.MsgBye, nil)
	d := expectDisconnected(t, c)
	if d.Reason != "the server closed the connection" || !errors.Is(d.Err, rpc.ErrPeerClosed) {
		t.Fatalf("got %#v", d)
	}
	expectClosed(t, c)
}
