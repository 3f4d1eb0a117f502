package gate_test

import (
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

func TestMessageRateLimitKicksOnlyTheFlooder(t *testing.T) {
	c, l := start(t, cluster.Options{GateLimits: &gate.Config{GateTuning: config.GateTuning{ClientMsgRate: 50, ClientMsgBurst: 100}}})
	p := newPair(t, c.GateAddr(0))
	flood := dialPlayer(t, c.GateAddr(0))
	for i := 0; i < 1000; i++ {
		flood.SendRaw(rpc.MsgHeartbeat, nil)
	}
	if r := expectKick(t, flood); r != "rate limit: more than 50 messages per second" {
		t.Fatalf("kick reason %q", r)
	}
	l.wait(t, "over its rate limit")
	p.check(t)
}

func TestByteRateLimitKicks(t *testing.T) {
	c, l := start(t, cluster.Options{MaxClientPacketSize: 1000,
		GateLimits: &gate.Config{GateTuning: config.GateTuning{ClientByteRate: 10000, ClientByteBurst: 20000}}})
	p := newPair(t, c.GateAddr(0))
	flood := dialPlayer(t, c.GateAddr(0))
	for i := 0; i < 100; i++ {
		flood.CallPlayer("Echo", strings.Repeat("x", 900))
	}
	if r := expectKick(t, flood); r != "rate limit: more than 10000 bytes per second" {
		t.Fatalf("kick reason %q", r)
	}
	l.wait(t, "over its rate limit")
	p.check(t)
}

func TestMaxClientsRefusesTheNextClient(t *testing.T) {
	c, _ := start(t, cluster.Options{KCP: true, WebSocket: true, GateLimits: &gate.Config{GateTuning: config.GateTuning{MaxClients: 2}}})
	a := dialPlayer(t, c.GateAddr(0))
	dialPlayer(t, c.GateAddr(0))
	for _, tc := range []struct {
		addr string
		kcp  bool
	}{{c.GateAddr(0), false}, {c.GateAddr(0), true}, {c.GateWSURL(0), false}} {
		x, err := client.Dial(tc.addr, client.Options{KCP: tc.kcp})
		if err != nil {
			t.Fatal(err)
		}
		if r := expectKick(t, x); r != "server full" {
			t.Fatalf("%s kcp=%v: kick reason %q", tc.addr, tc.kcp, r)
		}
		x.Close()
	}
	a.Close()
	// Once a leaves, a new client gets in (bounded by dialPlayer's waits).
	for i := 0; ; i++ {
		x, err := client.Dial(c.GateAddr(0), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ev := next(t, x)
		for {
			if _, ok := ev.(client.Disconnected); ok {
				break
			}
			if e, ok := ev.(client.EntityCreated); ok && e.IsPlayer {
				x.Close()
				return
			}
			ev = next(t, x)
		}
		x.Close()
		if i > 100 {
			t.Fatal("still full after a client left")
		}
	}
}
