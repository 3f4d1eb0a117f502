package gate_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// TestWebSocketPingsCountAgainstRateLimits: WebSocket control messages
// cost the gate as much as frames (one connection once had 235,000 pings
// a second answered, holding a gate core at 97% and everyone's latency at
// 37 ms), so they count against the client's message rate: a ping flood
// is kicked like a frame flood, and the other clients chat on.
func TestWebSocketPingsCountAgainstRateLimits(t *testing.T) {
	c, logs := start(t, cluster.Options{WebSocket: true})
	p := newPair(t, c.GateWSURL(0))
	r := dialRawWS(t, c.GateWSURL(0), nil)
	r.player()
	var pongs atomic.Int64
	r.ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
	began := time.Now()
	for i := 0; i < 3000; i++ { // the default burst is 2000
		if err := r.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second)); err != nil {
			break // closed by the gate: the kick is read below
		}
	}
	reason, _ := r.kick()
	if !strings.Contains(reason, "rate limit: more than 1000 messages per second (WebSocket pings count)") {
		t.Fatalf("kick reason %q, want the message rate limit", reason)
	}
	// The burst of 2000, and 1000 more a second since the flood began.
	if n, most := pongs.Load(), 2000+int64(1000*time.Since(began).Seconds())+1; n == 0 || n > most {
		t.Errorf("%d pings answered, want some and at most %d", n, most)
	}
	logs.wait(t, "client over its rate limit", "WebSocket pings count")
	p.check(t)
}

// TestWebSocketPongWaitsLikeAnyWrite: a client that does not read its
// pongs for a while is given the write timeout (10 s) like any client
// that reads slowly, not the 1 s gorilla gives a pong by default, which
// closed it without a word: here it pings, unlimited, without reading
// until the gate's socket to it is full (a pong write blocks), stops for
// 3 s, then reads everything and chats on.
//
// Reading the 100,000 pongs takes about 1 s here, but once took more
// than the 10 s that frames allows (the whole module's tests under
// load): the read deadline moves on with every pong, 10 s without one
// fails, and 2 minutes in all.
func TestWebSocketPongWaitsLikeAnyWrite(t *testing.T) {
	c, _ := start(t, cluster.Options{WebSocket: true, GateLimits: &gate.Config{
		GateTuning: config.GateTuning{ClientMsgRate: config.Unlimited, ClientByteRate: config.Unlimited},
	}})
	r := dialRawWS(t, c.GateWSURL(0), nil)
	id := r.player()
	// 100,000 pongs (13 MB) are more than the kernel's buffers on both
	// sides hold: the gate's pong writes block, then its reads stop, then
	// our writes block, until we read. A call follows the pings: its
	// answer comes after every pong.
	const pings = 100000
	var pongs atomic.Int64
	var overall time.Time // set before the reads begin
	r.ws.SetPongHandler(func(string) error {
		pongs.Add(1)
		// On the reading goroutine, inside frames' ReadMessage: progress.
		return r.ws.SetReadDeadline(minTime(time.Now().Add(10*time.Second), overall))
	})
	defer func() {
		if t.Failed() {
			t.Logf("%d of %d pongs read", pongs.Load(), pings)
		}
	}()
	payload := []byte(strings.Repeat("p", 125)) // the largest a control message holds
	wrote := make(chan error, 1)
	go func() {
		for i := 0; i < pings; i++ {
			if err := r.ws.WriteControl(websocket.PingMessage, payload, time.Time{}); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- r.ws.WriteMessage(websocket.BinaryMessage, callFrame(id, "Echo", "after the pings"))
	}()
	time.Sleep(3 * time.Second) // the slow reader: the scenario, not a wait for an event
	began := time.Now()
	overall = began.Add(2 * time.Minute)
	r.frames(func(typ rpc.MsgType, body []byte) bool {
		if typ == rpc.MsgKick {
			t.Fatalf("kicked: %s", rpc.NewReader(body).String())
		}
		return typ != rpc.MsgCallClient
	})
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if n := pongs.Load(); n != pings {
		t.Fatalf("%d pongs, want %d", n, pings)
	}
	t.Logf("read %d pongs and the answer in %v", pings, time.Since(began).Round(time.Millisecond))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
