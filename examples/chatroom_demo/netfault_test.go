package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// faultProxy puts a toxiproxy between the game and the dispatcher, so
// that a test can add latency or reset the connection.
type faultProxy struct {
	t     *testing.T
	proxy *toxiproxy.Proxy
}

func newFaultProxy(t *testing.T) (*faultProxy, func([]string) []string) {
	fp := &faultProxy{t: t}
	return fp, func(addrs []string) []string {
		p, err := startToxiProxy("game-dispatcher", "127.0.0.1:0", addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		fp.proxy = p
		t.Cleanup(fp.proxy.Stop)
		return []string{fp.proxy.Listen}
	}
}

// add adds a toxic (toxiproxy's JSON) to both directions.
func (fp *faultProxy) add(typ, attrs string) {
	fp.t.Helper()
	if err := addToxic(fp.proxy, typ, attrs); err != nil {
		fp.t.Fatal(err)
	}
}

// clear removes every toxic add added.
func (fp *faultProxy) clear() { clearToxics(fp.proxy) }

// startToxiProxy starts a toxiproxy (as a library, its logs off) that
// listens on listen and forwards every connection to upstream.
func startToxiProxy(name, listen, upstream string) (*toxiproxy.Proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	p := toxiproxy.NewProxy(srv, name, listen, upstream)
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// toxicTypes are the toxics the tests add, each named TYPE_STREAM.
var toxicTypes = []string{"latency", "reset_peer"}

// addToxic adds a toxic of type typ with attrs (toxiproxy's JSON) to both
// directions of p.
func addToxic(p *toxiproxy.Proxy, typ, attrs string) error {
	for _, stream := range []string{"upstream", "downstream"} {
		js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, typ+"_"+stream, typ, stream, attrs)
		if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
			return fmt.Errorf("toxic %s: %w", js, err)
		}
	}
	return nil
}

// clearToxics removes every toxic addToxic added to p.
func clearToxics(p *toxiproxy.Proxy) {
	for _, typ := range toxicTypes {
		for _, stream := range []string{"upstream", "downstream"} {
			p.Toxics.RemoveToxic(context.Background(), typ+"_"+stream) // an error: it was not there
		}
	}
}

// TestChatThroughNetworkFaults puts latency (20 ms, then 200 ms each way)
// and then connection resets between the game and the dispatcher while
// four players chat. What a user is promised: every line is delivered
// once and in order, or the player is told it was disconnected; and once
// the fault is gone the cluster serves again without a restart.
func TestChatThroughNetworkFaults(t *testing.T) {
	fp, rewrite := newFaultProxy(t)
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", StorageDir: t.TempDir(),
		Gates: 2, GameDispatchers: rewrite})
	players := make([]*chatter, 4)
	for i := range players {
		players[i] = dial(t, c.GateAddr(i%2), fmt.Sprintf("p%d", i), false)
		players[i].register("pw", "lobby")
	}

	for _, latency := range []int{20, 200} {
		fp.add("latency", fmt.Sprintf(`{"latency":%d}`, latency))
		lines := 20
		if latency == 200 {
			lines = 5
		}
		var wg sync.WaitGroup
		for i, p := range players {
			for n := 0; n < lines; n++ {
				p.say(fmt.Sprintf("%dms %d %d", latency, i, n))
			}
		}
		// Each hears every line, once, each speaker's in order.
		errs := make(chan error, len(players))
		for _, p := range players {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- hearAll(p, len(players), lines, fmt.Sprintf("%dms", latency))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		fp.clear()
	}

	// Resets: the game's link to the dispatcher breaks. Its players are
	// told they were disconnected (nothing is lost without a word).
	fp.add("reset_peer", `{"timeout":0}`)
	players[0].say("into the fault") // a reset comes with the next bytes through
	for _, p := range players {
		if r := p.kicked(); !strings.Contains(r, "please reconnect") {
			t.Fatalf("%s: disconnected with %q, want to be told to reconnect", p.name, r)
		}
	}
	fp.clear()
	// Back to normal without a restart: the game redials, the players log
	// in again to their saved accounts and chat.
	deadline := time.Now().Add(30 * time.Second)
	for i := range players {
		for {
			p := dial(t, c.GateAddr(i%2), fmt.Sprintf("p%d", i), false)
			if err := tryLogin(p, "pw"); err == nil {
				players[i] = p
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("p%d cannot log in 30s after the fault: %v", i, err)
			}
			p.c.Close()
			time.Sleep(100 * time.Millisecond) // the game redials with backoff
		}
		players[i].join("lobby")
	}
	players[0].say("back")
	for _, p := range players {
		p.expectChat("[lobby] p0: back")
	}
}

// hearAll reads p's chat until it has heard lines lines from each of n
// speakers with the tag, each speaker's in order, once.
func hearAll(p *chatter, n, lines int, tag string) error {
	next := make([]int, n)
	got := 0
	timeout := time.After(60 * time.Second)
	for got < n*lines {
		select {
		case ev, ok := <-p.c.Events():
			if !ok {
				return fmt.Errorf("%s: events closed", p.name)
			}
			switch ev := ev.(type) {
			case client.Disconnected:
				return fmt.Errorf("%s: disconnected with no fault that should: %s", p.name, ev.Reason)
			case client.Call:
				if ev.Method != "OnChat" {
					continue
				}
				var ms string
				var who, seq int
				if _, err := fmt.Sscanf(fmt.Sprint(ev.Args[2]), "%s %d %d", &ms, &who, &seq); err != nil || ms != tag {
					return fmt.Errorf("%s: unexpected line %q", p.name, ev.Args[2])
				}
				if seq != next[who] {
					return fmt.Errorf("%s: from p%d got line %d, want %d (lost, duplicated or reordered)", p.name, who, seq, next[who])
				}
				next[who]++
				got++
			}
		case <-timeout:
			return fmt.Errorf("%s: %d of %d lines after 60s", p.name, got, n*lines)
		}
	}
	return nil
}

// tryLogin logs p in, returning the failure rather than failing the test.
func tryLogin(p *chatter, password string) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-p.c.Events():
			switch ev := ev.(type) {
			case client.EntityCreated:
				if ev.IsPlayer && ev.Type == "Account" {
					p.c.Call(ev.ID, "Login", p.name, password)
				}
			case client.Call:
				switch ev.Method {
				case "OnLogin":
					return nil
				case "OnLoginFailed":
					return fmt.Errorf("OnLoginFailed%v", ev.Args)
				}
			case client.Disconnected:
				return fmt.Errorf("disconnected: %s", ev.Reason)
			}
		case <-timeout:
			return fmt.Errorf("no answer within 10s")
		}
	}
}
