package gate_test

import (
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// TestClientThatStopsReadingIsDisconnected: a real client, over TCP, KCP
// and WebSocket, asks for a 16 MB flood and stops taking its events, so it stops
// reading its connection. The gate's queue for it passes
// client_send_buffer_size, and the gate closes it as a slow consumer, logs
// why, forgets it, and keeps serving the others.
func TestClientThatStopsReadingIsDisconnected(t *testing.T) {
	for _, transport := range []string{"tcp", "kcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			c, l := start(t, cluster.Options{KCP: true, WebSocket: true, ClientSendBufferSize: 64 << 10})
			p := newPair(t, c.GateAddr(0))
			addr := c.GateAddr(0)
			if transport == "ws" {
				addr = c.GateWSURL(0)
			}
			slow, err := client.Dial(addr, client.Options{KCP: transport == "kcp", EventBuffer: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			for {
				if ev, ok := next(t, slow).(client.EntityCreated); ok && ev.IsPlayer {
					break
				}
			}
			slow.CallPlayer("Flood", 4000, 4000)
			// From here on nobody takes slow's events. The gate closes
			// it once what the sockets hold (megabytes over TCP) and
			// 64 KiB more have come through the race-enabled game and
			// dispatcher: as long as that takes (a subtest took 13 s in all
			// under load; l.wait gives 10 s).
			l.waitWhileFed(t, c.Gates[0], "slow consumer", "limit 65536", "client_send_buffer_size")
			p.check(t)
			for deadline := time.Now().Add(10 * time.Second); c.Gates[0].NumClients() != 2; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("gate has %d clients, want 2", c.Gates[0].NumClients())
				}
			}
		})
	}
}
