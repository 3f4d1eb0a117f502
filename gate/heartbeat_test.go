package gate_test

import (
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// TestHeartbeatSettingsReachTheClients: the gate's heartbeat_interval
// and heartbeat_timeout reach its clients on every transport, in the
// answer to the heartbeat a client sends right after its hello, and the
// Go client follows them: the interval, and a silence timeout of
// min(4 intervals, heartbeat_timeout). A client's own settings win. The
// defaults stay as they were: 5 s and 20 s.
func TestHeartbeatSettingsReachTheClients(t *testing.T) {
	def := startQuitters(t, cluster.Options{KCP: true})
	x, _ := dialQuitter(t, def.GateAddr(0), client.Options{})
	// The gate answered the client's first heartbeat when it read it,
	// before it read the call that the echo answers.
	x.CallPlayer("Echo", "hi")
	expect(t, x, "OnEcho")
	if iv, to := x.Heartbeat(); iv != 5*time.Second || to != 20*time.Second {
		t.Fatalf("with the defaults: heartbeat every %v, silence timeout %v; want 5s and 20s", iv, to)
	}

	c := startQuitters(t, cluster.Options{KCP: true, WebSocket: true, HeartbeatInterval: 500 * time.Millisecond, HeartbeatTimeout: 1500 * time.Millisecond})
	for _, tc := range []struct {
		name       string
		addr       string
		opts       client.Options
		wantIV     time.Duration
		wantSilent time.Duration
	}{
		{"tcp", c.GateAddr(0), client.Options{}, 500 * time.Millisecond, 1500 * time.Millisecond},
		{"kcp", c.GateAddr(0), client.Options{KCP: true}, 500 * time.Millisecond, 1500 * time.Millisecond},
		{"websocket", c.GateWSURL(0), client.Options{}, 500 * time.Millisecond, 1500 * time.Millisecond},
		// Its own interval: the gate's timeout still bounds the silence.
		{"own interval", c.GateAddr(0), client.Options{HeartbeatInterval: 300 * time.Millisecond}, 300 * time.Millisecond, 1200 * time.Millisecond},
		{"own timeout", c.GateAddr(0), client.Options{HeartbeatTimeout: 7 * time.Second}, 500 * time.Millisecond, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x, _ := dialQuitter(t, tc.addr, tc.opts)
			waitFor(t, "the client follows the gate's heartbeat settings", func() bool {
				iv, to := x.Heartbeat()
				return iv == tc.wantIV && to == tc.wantSilent
			})
			// Heartbeats at that pace keep the connection: with nothing
			// else sent, it outlives the gate's timeout (six intervals,
			// 1.8 s at least) and still echoes.
			sent := x.Stats().FramesOut
			waitFor(t, "six more heartbeats", func() bool { return x.Stats().FramesOut >= sent+6 })
			x.CallPlayer("Echo", "still here")
			expect(t, x, "OnEcho")
		})
	}
}

// TestSilentPeerNoticedWithinTheHeartbeatTimeout: with heartbeat_interval
// 250ms and heartbeat_timeout 1s, a KCP client whose network goes dead
// (the relay between it and the gate drops everything, both ways; no
// goodbye) is noticed on both sides within about a second: the gate
// tells the client's entity it left, and the client reports that the
// server stopped answering. With the defaults each side waited 20 to
// 30 s; the 10 s deadline is generous.
func TestSilentPeerNoticedWithinTheHeartbeatTimeout(t *testing.T) {
	c := startQuitters(t, cluster.Options{KCP: true, HeartbeatInterval: 250 * time.Millisecond, HeartbeatTimeout: time.Second})
	relay := newRelay(t, c.GateAddr(0), false)
	x, id := dialQuitter(t, relay.addr(), client.Options{KCP: true})
	waitFor(t, "the client follows the gate's heartbeat settings", func() bool {
		iv, to := x.Heartbeat()
		return iv == 250*time.Millisecond && to == time.Second
	})
	relay.SetDown(true)
	awaitGone(t, id, 10*time.Second)
	d := disconnected(t, x)
	if d.Reason != "the server stopped answering" {
		t.Fatalf("Disconnected %q (%v), want the server stopped answering", d.Reason, d.Err)
	}
	waitFor(t, "the gate counts no client", func() bool { return c.Gates[0].NumClients() == 0 })
}
