package gate_test

import (
	"net/netip"
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
	// Once a leaves, a new client gets in.
	awaitAdmitted(t, c.GateAddr(0), "still full after a client left")
}

// awaitAdmitted dials addr until a client gets its player (at most 100
// tries, each bounded by next's wait), failing with why if none does.
func awaitAdmitted(t *testing.T, addr, why string) {
	t.Helper()
	for range 100 {
		x, err := client.Dial(addr, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ok := playerOrKick(t, x)
		x.Close()
		if ok {
			return
		}
	}
	t.Fatal(why)
}

// TestClientsPerIP: with max_clients_per_ip = 2 (loopback not exempt),
// a third connection from the same address is refused with the reason,
// over TCP and KCP (a kick) and WebSocket (HTTP 429, before the upgrade),
// while another address gets in; when one of the first two leaves, its
// place is free again. Exempt addresses are not bounded.
func TestClientsPerIP(t *testing.T) {
	c, _ := start(t, cluster.Options{KCP: true, WebSocket: true, GateLimits: &gate.Config{GateTuning: config.GateTuning{
		MaxClientsPerIP: 2, MaxClientsPerIPExempt: []netip.Prefix{}}}})
	a := dialPlayer(t, c.GateAddr(0))
	dialPlayer(t, c.GateAddr(0))
	for _, kcp := range []bool{false, true} {
		x, err := client.Dial(c.GateAddr(0), client.Options{KCP: kcp})
		if err != nil {
			t.Fatal(err)
		}
		if r := expectKick(t, x); r != "too many connections from your address" {
			t.Fatalf("kcp=%v: kick reason %q", kcp, r)
		}
		x.Close()
	}
	if _, err := client.Dial(c.GateWSURL(0), client.Options{}); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a WebSocket over the limit: %v, want an HTTP 429 refusal", err)
	}
	// Another address is not affected.
	other, err := client.Dial(c.GateAddr(0), client.Options{LocalIP: "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if !playerOrKick(t, other) {
		t.Fatal("a client from 127.0.0.2 was refused")
	}
	other.Close()

	if got, _ := gateMetrics(t, c.Gates[0]).Sum("goworld_gate_clients_refused_per_ip_total"); got < 3 {
		t.Errorf("goworld_gate_clients_refused_per_ip_total = %v, want 3 at least", got)
	}
	// Once a leaves (its socket closed: after its lingering close), a
	// new client from the address gets in.
	a.Close()
	awaitAdmitted(t, c.GateAddr(0), "the address is still over its limit after a client left")

	// By default loopback is exempt: a gate with a limit of 1 takes three
	// clients from 127.0.0.1.
	d, _ := start(t, cluster.Options{GateLimits: &gate.Config{GateTuning: config.GateTuning{MaxClientsPerIP: 1}}})
	for range 3 {
		dialPlayer(t, d.GateAddr(0))
	}
}

// playerOrKick waits until c is shown its player (true) or disconnected
// (false).
func playerOrKick(t *testing.T, c *client.Client) bool {
	t.Helper()
	for {
		switch ev := next(t, c).(type) {
		case client.Disconnected:
			return false
		case client.EntityCreated:
			if ev.IsPlayer {
				return true
			}
		}
	}
}
