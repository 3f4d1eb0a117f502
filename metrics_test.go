package goworld

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// pinger is the boot entity of the metrics test: it answers pings and
// walks in an arena when its client asks.
type pinger struct{ entity.Entity }

func (p *pinger) DescribeEntityType(d *entity.TypeDesc) {
	d.SetAOIRadius(10)
	d.ExposeToClient("Ping", "Enter", "Walk")
}

func (p *pinger) Ping(n int) { p.CallClient("Pong", n) }

func (p *pinger) Enter(space string) {
	if err := p.EnterSpace(rpc.EntityID(space), entity.Vector3{}); err != nil {
		p.CallClient("Error", err.Error())
	}
}

func (p *pinger) Walk(x, z float64) {
	p.SetPosition(entity.Vector3{X: float32(x), Z: float32(z)})
	p.CallClient("Walked")
}

type arena struct{ entity.Entity }

func (a *arena) DescribeEntityType(d *entity.TypeDesc) { d.DefineSpace(10) }

// awaitCall waits for a call to method on c, skipping other events.
func awaitCall(t *testing.T, c *client.Client, method string) client.Call {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("client closed while waiting for %s", method)
			}
			if call, ok := ev.(client.Call); ok {
				if call.Method == "Error" {
					t.Fatalf("server error: %v", call.Args)
				}
				if call.Method == method {
					return call
				}
			}
		case <-timeout:
			t.Fatalf("no %s within 10s", method)
		}
	}
}

// scrape fetches and parses http://addr/metrics.
func scrape(addr string) (metrics.Samples, error) {
	// No keep-alive: nothing of the client lingers for goleak.
	hc := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("status %d, content type %q: %.200s", resp.StatusCode, ct, body)
	}
	return metrics.Parse(resp.Body)
}

// TestMetricsOfARunningCluster scrapes /metrics from the admin servers of
// a real dispatcher, game and gate (in this process, on 127.0.0.1) after
// clients pinged and walked, and checks that the figures match what the
// clients did.
func TestMetricsOfARunningCluster(t *testing.T) {
	reg := entity.NewRegistry()
	if err := reg.Register("Pinger", &pinger{}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("Arena", &arena{}); err != nil {
		t.Fatal(err)
	}
	cl := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "Pinger", PositionSyncInterval: 10 * time.Millisecond})
	log := logrus.New()
	log.SetOutput(io.Discard)
	addrs := map[string]string{}
	for name, fn := range map[string]func(io.Writer) error{
		"dispatcher1": cl.Dispatchers[0].WriteMetrics,
		"game1":       cl.Games[0].WriteMetrics,
		"gate1":       cl.Gates[0].WriteMetrics,
	} {
		a, err := startAdmin("127.0.0.1:0", name, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
		a.SetMetrics(fn)
		addrs[name] = a.Addr()
	}
	space := cl.CreateSpace(t, 0, "Arena")

	const clients, pings, walks = 3, 20, 5
	var sent, received client.Stats
	for i := 0; i < clients; i++ {
		c, err := client.Dial(cl.GateAddr(0), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		for ev := range c.Events() {
			if e, ok := ev.(client.EntityCreated); ok && e.IsPlayer {
				break
			}
		}
		for n := 0; n < pings; n++ {
			if err := c.CallPlayer("Ping", n); err != nil {
				t.Fatal(err)
			}
		}
		for n := 0; n < pings; n++ {
			if got := awaitCall(t, c, "Pong"); got.Args[0] != int64(n) {
				t.Fatalf("pong %v, want %d", got.Args, n)
			}
		}
		if err := c.CallPlayer("Enter", string(space)); err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= walks; n++ {
			if err := c.CallPlayer("Walk", float64(n), float64(i)); err != nil {
				t.Fatal(err)
			}
			awaitCall(t, c, "Walked")
		}
		s := c.Stats()
		sent.FramesOut += s.FramesOut
		sent.BytesOut += s.BytesOut
		received.FramesIn += s.FramesIn
		received.BytesIn += s.BytesIn
	}

	// What the servers publish may trail the replies the clients got by a
	// moment (the game publishes after handling a frame; its reply left
	// during it): check until everything holds, for at most 10s.
	type check struct {
		name  string
		match []string
		ok    func(v float64) bool
		want  string
	}
	atLeast := func(n int64) (func(float64) bool, string) {
		return func(v float64) bool { return v >= float64(n) }, fmt.Sprintf(">= %d", n)
	}
	equal := func(n float64) (func(float64) bool, string) {
		return func(v float64) bool { return v == n }, fmt.Sprintf("== %v", n)
	}
	c := func(name string, f func(float64) bool, want string, match ...string) check {
		return check{name, match, f, want}
	}
	var (
		gateSentIn, gateBytesIn   = atLeast(sent.FramesOut)
		gateBytesInF, gateBytesIW = atLeast(sent.BytesOut)
		gateOut, gateOutW         = atLeast(received.FramesIn)
		gateOutB, gateOutBW       = atLeast(received.BytesIn)
		three, threeW             = equal(clients)
		one, oneW                 = equal(1)
		entities, entitiesW       = equal(clients + 1) // and the arena
		moves, movesW             = atLeast(clients * walks)
		frames, framesW           = atLeast(clients * (pings + walks + 1))
		calls, callsW             = atLeast(clients * (pings + walks + 1))
		positive                  = func(v float64) bool { return v > 0 }
	)
	checks := map[string][]check{
		"gate1": {
			c("goworld_gate_clients", three, threeW),
			c("goworld_packets_in_total", gateSentIn, gateBytesIn, "link", "client"),
			c("goworld_bytes_in_total", gateBytesInF, gateBytesIW, "link", "client"),
			c("goworld_packets_out_total", gateOut, gateOutW, "link", "client"),
			c("goworld_bytes_out_total", gateOutB, gateOutBW, "link", "client"),
			c("goworld_packets_in_total", positive, "> 0", "link", "dispatcher"),
			c("goworld_packets_out_total", calls, callsW, "link", "dispatcher"),
			c("goworld_link_queue_bytes", func(v float64) bool { return v >= 0 }, "present", "dispatcher", "1"),
			c("goworld_gate_client_queue_bytes", func(v float64) bool { return v >= 0 }, "present"),
		},
		"game1": {
			c("goworld_game_entities", entities, entitiesW),
			c("goworld_game_spaces", one, oneW),
			c("goworld_game_aoi_moves_total", moves, movesW),
			c("goworld_game_aoi_move_seconds_total", positive, "> 0"),
			c("goworld_game_aoi_deferred_total", func(v float64) bool { return v >= 0 }, "present", "what", "route"),
			c("goworld_game_aoi_deferred_total", func(v float64) bool { return v >= 0 }, "present", "what", "create"),
			c("goworld_game_aoi_deferred_total", func(v float64) bool { return v >= 0 }, "present", "what", "position"),
			c("goworld_game_tick_seconds_count", frames, framesW, "kind", "frame"),
			c("goworld_game_tick_seconds_count", positive, "> 0", "kind", "sync"),
			c("goworld_game_tick_seconds_sum", positive, "> 0", "kind", "frame"),
			c("goworld_packets_in_total", frames, framesW, "link", "dispatcher"),
			c("goworld_game_inbound_queue", func(v float64) bool { return v >= 0 }, "present"),
		},
		"dispatcher1": {
			c("goworld_dispatcher_peers", one, oneW, "role", "game"),
			c("goworld_dispatcher_peers", one, oneW, "role", "gate"),
			c("goworld_dispatcher_entities", entities, entitiesW),
			c("goworld_packets_in_total", calls, callsW, "link", "gate"),
			c("goworld_packets_out_total", calls, callsW, "link", "game"),
			c("goworld_bytes_out_total", positive, "> 0", "link", "gate"),
			c("goworld_dispatcher_peer_queue_bytes", func(v float64) bool { return v >= 0 }, "present", "peer", "game1"),
		},
	}
	for name, cs := range checks {
		cs = append(cs, c("goworld_up", one, oneW), c("go_goroutines", positive, "> 0"),
			c("process_cpu_seconds_total", positive, "> 0"))
		var last error
		deadline := time.Now().Add(10 * time.Second)
		for {
			last = nil
			ss, err := scrape(addrs[name])
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, s := range ss {
				if s.Labels["process"] != name {
					t.Fatalf("%s: sample %s has process=%q", name, s.Name, s.Labels["process"])
				}
			}
			for _, ch := range cs {
				v, found := ss.Sum(ch.name, ch.match...)
				if !found || !ch.ok(v) {
					last = errors.Join(last, fmt.Errorf("%s%v = %v (found %v), want %s", ch.name, ch.match, v, found, ch.want))
				}
			}
			if name == "game1" {
				if q, ok := ss.Quantile(0.99, "goworld_game_tick_seconds"); !ok || q <= 0 {
					last = errors.Join(last, fmt.Errorf("tick p99 = %v %v", q, ok))
				}
			}
			if last == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling a condition, bounded by the deadline
		}
		if last != nil {
			t.Errorf("%s after %d clients × (%d pings + %d walks), sent %+v received %+v:\n%v", name, clients, pings, walks, sent, received, last)
		}
	}
}
