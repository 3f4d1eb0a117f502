package main

// Benchmarks with real processes: the demo server built once, started by
// goworldctl on ports the kernel picks (as in e2e_test.go), driven by
// clients of the client package inside the benchmark process. They
// produce the figures in docs/performance.md; run them as shown there, e.g.
//
//	go test -run XXX -bench 'BenchmarkChat|BenchmarkIdleClientMemory|BenchmarkKCPMemoryUnderTraffic' -benchtime 1x ./examples/chatroom_demo/
//	go test -run XXX -bench BenchmarkIdleClientMemory -benchtime 1x -timeout 30m ./examples/chatroom_demo/ -idle.tcp 10000,15000 -idle.kcp 10000 -idle.ws 10000
//	go test -run XXX -bench BenchmarkPingPong -benchmem ./examples/chatroom_demo/
//	go test -run XXX -bench BenchmarkClusterStart -benchtime 8x ./examples/chatroom_demo/
//
// All but BenchmarkPingPong (an ordinary b.N benchmark) and
// BenchmarkClusterStart (b.N starts and stops) run their own fixed
// scenario once (fixed client counts, rates and durations) and report their
// figures with b.ReportMetric; b.N is ignored beyond that, so -benchtime 1x
// is the honest way to run them. Nothing here asserts a timing: the only
// failures are lost messages, disconnects and errors. Each takes under a
// minute at its default client counts.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/procstat"
	"github.com/goworld-engine/goworld/rpc"
	kcp "github.com/xtaci/kcp-go/v5"
)

// perfConfig is the benchmark cluster: one of each, ports picked by the
// kernel, clients idle for up to a minute, saves every 5 s (so a 10 s
// window always holds two), KCP on, WebSocket on a port of its own.
const perfConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Account
save_interval = 5s
[game1]
[gate_common]
kcp = true
heartbeat_timeout = 60s
[gate1]
listen_addr = 127.0.0.1:0
ws_addr = 127.0.0.1:0
[storage]
path = chat.db
`

// perfCluster is a cluster of real processes started by goworldctl.
type perfCluster struct {
	ctl, dir, addr string
	wsURL          string         // gate1's WebSocket URL; "" without ws_addr
	pids           map[string]int // dispatcher1, game1, gate1
}

var perfStatusLine = regexp.MustCompile(`(?m)^(\w+) running pid=(\d+)(?: addr=(\S+))?(?: ws=(\S+))?$`)

// perfStart starts a perfConfig cluster in a new temporary directory;
// cleanup stops it (goworldctl stop, then kill, on that directory only).
func perfStart(b *testing.B) *perfCluster {
	b.Helper()
	return perfStartWith(b, perfConfig)
}

// perfStartWith is perfStart with config cfg (dispatcher1, game1, gate1).
func perfStartWith(b *testing.B, cfg string) *perfCluster {
	b.Helper()
	if runtime.GOOS != "linux" {
		b.Skip("these benchmarks read /proc")
	}
	ctl, server, _ := binaries(b)
	dir := serverDir(b, server)
	writeConfig(b, dir, cfg)
	c := &perfCluster{ctl: ctl, dir: dir, pids: map[string]int{}}
	b.Cleanup(func() {
		perfCtl(b, ctl, "stop", dir)
		perfCtl(b, ctl, "kill", dir)
	})
	if out, code := perfCtl(b, ctl, "start", "-no-build", dir); code != 0 {
		b.Fatalf("goworldctl start: exit %d\n%s", code, out)
	}
	out, code := perfCtl(b, ctl, "status", dir)
	if code != 0 {
		b.Fatalf("goworldctl status: exit %d\n%s", code, out)
	}
	for _, m := range perfStatusLine.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[2])
		c.pids[m[1]] = pid
		if m[1] == "gate1" {
			c.addr, c.wsURL = m[3], m[4]
		}
	}
	if len(c.pids) != 3 || c.addr == "" {
		b.Fatalf("unexpected status:\n%s", out)
	}
	return c
}

// perfCtl runs goworldctl (bounded by two minutes) and returns its
// combined output and exit code.
func perfCtl(b *testing.B, ctl string, args ...string) (string, int) {
	b.Helper()
	r := run(b, repoRoot, ctl, args...)
	return r.out + r.err, r.code
}

// runqWait is procstat.RunqWait for the cluster's processes and this one
// ("bench").
func (c *perfCluster) runqWait() map[string]time.Duration {
	m := map[string]time.Duration{"bench": procstat.RunqWait(os.Getpid())}
	for name, pid := range c.pids {
		m[name] = procstat.RunqWait(pid)
	}
	return m
}

func (c *perfCluster) ticks(b *testing.B) map[string]int64 {
	b.Helper()
	m := map[string]int64{}
	for name, pid := range c.pids {
		t, err := procstat.CPUTicks(pid)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		m[name] = t
	}
	return m
}

func (c *perfCluster) rss(b *testing.B) map[string]int64 {
	b.Helper()
	m := map[string]int64{}
	for name, pid := range c.pids {
		kb, err := procstat.RSSKB(pid)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		m[name] = kb
	}
	return m
}

// perfForEach runs f(i) for i in [0, n) on at most par goroutines and returns
// the first error.
func perfForEach(n, par int, f func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// perfWait returns the first event for which match is true, skipping
// others, or an error after timeout or on a disconnect.
func perfWait(c *client.Client, timeout time.Duration, what string, match func(client.Event) bool) error {
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return fmt.Errorf("events closed waiting for %s", what)
			}
			if match(ev) {
				return nil
			}
			switch ev := ev.(type) {
			case client.Disconnected:
				return fmt.Errorf("disconnected waiting for %s: %s", what, ev.Reason)
			case client.Call:
				if ev.Method == "OnLoginFailed" || ev.Method == "OnError" {
					return fmt.Errorf("waiting for %s: %s%v", what, ev.Method, ev.Args)
				}
			}
		case <-deadline:
			return fmt.Errorf("no %s after %v", what, timeout)
		}
	}
}

func perfIsCall(method string) func(client.Event) bool {
	return func(ev client.Event) bool {
		c, ok := ev.(client.Call)
		return ok && c.Method == method
	}
}

func perfIsBoot(ev client.Event) bool {
	e, ok := ev.(client.EntityCreated)
	return ok && e.IsPlayer && e.Type == "Account"
}

// ---------------------------------------------------------------------
// Chat throughput and latency

const (
	perfChatClients  = 200
	perfChatRoomSize = 50
	perfChatMsgLen   = 32
	perfChatDuration = 10 * time.Second
	// perfChatMaxSeq bounds the messages one client can send in one run
	// (saturation included); sends beyond it are refused and reported.
	perfChatMaxSeq = 1 << 12
)

// perfChatUser is one logged-in client in room r<i/50>.
type perfChatUser struct {
	i    int
	name string
	c    *client.Client
	done chan struct{} // its receiver exited
}

// perfChatRun is one measurement: its messages carry tag as their first byte.
type perfChatRun struct {
	tag       byte
	closed    bool      // closed loop: send again when the own copy is back
	end       time.Time // closed loop: no sends after it
	sentAt    [][]atomic.Int64
	rtts      [][]perfRTT // per sender, appended by its own receiver only
	sent      atomic.Int64
	received  atomic.Int64
	foreign   atomic.Int64 // deliveries of other runs' messages
	overflow  atomic.Int64 // sends refused for lack of sequence numbers
	sendErrs  atomic.Int64
	lastRecvN atomic.Int64 // UnixNano of the latest delivery
}

func newPerfChatRun(tag byte, closed bool) *perfChatRun {
	r := &perfChatRun{tag: tag, closed: closed,
		sentAt: make([][]atomic.Int64, perfChatClients), rtts: make([][]perfRTT, perfChatClients)}
	for i := range r.sentAt {
		r.sentAt[i] = make([]atomic.Int64, perfChatMaxSeq)
	}
	return r
}

// perfRTT is one own-message round trip.
type perfRTT struct {
	sent int64 // UnixNano
	rtt  time.Duration
}

// text is a 32-byte message: tag, sender (3 digits), sequence (8 digits),
// padding.
func (r *perfChatRun) text(sender, seq int) string {
	s := fmt.Sprintf("%c%03d%08d", r.tag, sender, seq)
	return s + strings.Repeat(".", perfChatMsgLen-len(s))
}

func (r *perfChatRun) send(u *perfChatUser, seq int) {
	if seq >= perfChatMaxSeq {
		r.overflow.Add(1)
		return
	}
	r.sentAt[u.i][seq].Store(time.Now().UnixNano())
	if err := u.c.CallPlayer("Say", r.text(u.i, seq)); err != nil {
		r.sendErrs.Add(1)
		return
	}
	r.sent.Add(1)
}

// receive reads u's events for the whole benchmark, counting chat
// deliveries for the current run.
func perfReceive(u *perfChatUser, cur *atomic.Pointer[perfChatRun], disconnects *atomic.Int64) {
	defer close(u.done)
	for ev := range u.c.Events() {
		switch ev := ev.(type) {
		case client.Disconnected:
			if !errors.Is(ev.Err, client.ErrClosed) {
				disconnects.Add(1)
			}
		case client.Call:
			if ev.Method != "OnChat" || len(ev.Args) != 3 {
				continue
			}
			now := time.Now()
			text, _ := ev.Args[2].(string)
			r := cur.Load()
			if r == nil || len(text) != perfChatMsgLen || text[0] != r.tag {
				if r != nil {
					r.foreign.Add(1)
				}
				continue
			}
			r.received.Add(1)
			r.lastRecvN.Store(now.UnixNano())
			sender, err1 := strconv.Atoi(text[1:4])
			seq, err2 := strconv.Atoi(text[4:12])
			if err1 != nil || err2 != nil || sender != u.i || seq >= perfChatMaxSeq {
				continue
			}
			sent := r.sentAt[u.i][seq].Load()
			r.rtts[u.i] = append(r.rtts[u.i], perfRTT{sent, now.Sub(time.Unix(0, sent))})
			if r.closed && now.Before(r.end) {
				r.send(u, seq+1)
			}
		}
	}
}

// BenchmarkChat measures chat end to end (client → gate → dispatcher →
// game → dispatcher → gate → clients) with 200 clients in 4 rooms of 50 on
// a cluster of real processes: at 200 and 1000 messages/s offered, spread
// evenly over time and clients, and at saturation (every client sends its
// next message when its own previous one comes back). Each run lasts 10 s;
// every message is delivered to the 50 members of its room.
func BenchmarkChat(b *testing.B) {
	cl := perfStart(b)
	rssEmpty := cl.rss(b)
	var (
		cur         atomic.Pointer[perfChatRun]
		disconnects atomic.Int64
	)
	users := make([]*perfChatUser, perfChatClients)
	b.Cleanup(func() {
		perfForEach(len(users), 50, func(i int) error {
			if u := users[i]; u != nil {
				u.c.Close()
				<-u.done
			}
			return nil
		})
	})
	// Register with a few at a time (a fresh cluster): each hashes the
	// password (PBKDF2, 100k iterations) on a game worker, and the game
	// admits at most 8 hashes from one address at a time (guard.go).
	loginStart := time.Now()
	err := perfForEach(perfChatClients, 8, func(i int) error {
		c, err := client.Dial(cl.addr, client.Options{})
		if err != nil {
			return err
		}
		u := &perfChatUser{i: i, name: fmt.Sprintf("b%d", i), c: c, done: make(chan struct{})}
		var id client.EntityCreated
		if err := perfWait(c, 60*time.Second, "boot entity", func(ev client.Event) bool {
			e, ok := ev.(client.EntityCreated)
			if ok && e.IsPlayer && e.Type == "Account" {
				id = e
			}
			return ok && e.IsPlayer && e.Type == "Account"
		}); err != nil {
			c.Close()
			return fmt.Errorf("%s: %w", u.name, err)
		}
		users[i] = u // from here on, cleanup closes it
		if err := c.Call(id.ID, "Register", u.name, "pw"); err != nil {
			return err
		}
		if err := perfWait(c, 60*time.Second, "OnLogin", perfIsCall("OnLogin")); err != nil {
			return fmt.Errorf("%s: %w", u.name, err)
		}
		if err := c.CallPlayer("JoinRoom", fmt.Sprintf("r%d", i/perfChatRoomSize)); err != nil {
			return err
		}
		if err := perfWait(c, 60*time.Second, "OnJoined", perfIsCall("OnJoined")); err != nil {
			return fmt.Errorf("%s: %w", u.name, err)
		}
		go perfReceive(u, &cur, &disconnects)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	loginTime := time.Since(loginStart)
	// The logins above are setup for the runs below, done whatever -bench
	// selects; this sub-benchmark only reports how long they took.
	b.Run("login", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(perfChatClients)/loginTime.Seconds(), "logins/s")
		b.Logf("%d clients (8 at a time) logged in and joined their rooms in %v; gate VmRSS %d KB before the first client",
			perfChatClients, loginTime.Round(time.Millisecond), rssEmpty["gate1"])
	})

	tag := byte('A')
	for _, sc := range []struct {
		name string
		rate int // messages per second offered in total; 0: closed loop
	}{{"rate=200", 200}, {"rate=1000", 1000}, {"saturate", 0}} {
		b.Run(sc.name, func(b *testing.B) {
			r := newPerfChatRun(tag, sc.rate == 0)
			tag++
			cur.Store(r)
			time.Sleep(500 * time.Millisecond) // let heartbeats and saves of the previous run pass
			before, selfBefore, waitBefore := cl.ticks(b), procstat.SelfCPU(), cl.runqWait()
			start := time.Now()
			var lastSend time.Time
			if sc.rate > 0 {
				// Message n goes out at start + n/rate from client n%200:
				// even spacing, clients in turn. Late sends catch up rather
				// than being skipped, so the count is fixed; the loop gives
				// up 5 s past the planned end.
				total := sc.rate * int(perfChatDuration/time.Second)
				for n := range total {
					due := start.Add(time.Duration(n) * time.Second / time.Duration(sc.rate))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
					if time.Since(start) > perfChatDuration+5*time.Second {
						b.Errorf("sender fell behind: %d of %d sent", n, total)
						break
					}
					r.send(users[n%perfChatClients], n/perfChatClients)
				}
				lastSend = time.Now()
			} else {
				r.end = start.Add(perfChatDuration)
				for _, u := range users {
					r.send(u, 0)
				}
				time.Sleep(time.Until(r.end))
				lastSend = r.end
			}
			// Wait (at most 20 s) for every delivery.
			expected := func() int64 { return r.sent.Load() * perfChatRoomSize }
			drainEnd := time.Now().Add(20 * time.Second)
			for r.received.Load() < expected() && time.Now().Before(drainEnd) {
				time.Sleep(10 * time.Millisecond)
			}
			after, selfAfter, waitAfter := cl.ticks(b), procstat.SelfCPU(), cl.runqWait()
			sent, received := r.sent.Load(), r.received.Load()
			last := time.Unix(0, r.lastRecvN.Load())
			var rtts []time.Duration
			slow := make([]int, int(perfChatDuration/time.Second)+1) // round trips over 20 ms, by second sent
			for _, s := range r.rtts {
				for _, x := range s {
					rtts = append(rtts, x.rtt)
					if x.rtt > 20*time.Millisecond {
						slow[min(int(time.Unix(0, x.sent).Sub(start)/time.Second), len(slow)-1)]++
					}
				}
			}
			slices.Sort(rtts)
			pct := func(p float64) float64 {
				if len(rtts) == 0 {
					return 0
				}
				return float64(rtts[int(p*float64(len(rtts)-1))]) / float64(time.Millisecond)
			}
			perDelivery := func(ticks int64) float64 {
				if received == 0 {
					return 0
				}
				return float64(time.Duration(ticks)*procstat.Tick) / float64(time.Microsecond) / float64(received)
			}
			var srv int64
			for name := range cl.pids {
				srv += after[name] - before[name]
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(sent)/lastSend.Sub(start).Seconds(), "sent-msg/s")
			b.ReportMetric(float64(received)/last.Sub(start).Seconds(), "deliveries/s")
			b.ReportMetric(pct(0.50), "rtt-p50-ms")
			b.ReportMetric(pct(0.99), "rtt-p99-ms")
			b.ReportMetric(float64(expected()-received), "lost")
			b.ReportMetric(perDelivery(srv), "srv-us/delivery")
			b.ReportMetric(perDelivery(after["gate1"]-before["gate1"]), "gate-us/delivery")
			b.ReportMetric(perDelivery(after["dispatcher1"]-before["dispatcher1"]), "disp-us/delivery")
			b.ReportMetric(perDelivery(after["game1"]-before["game1"]), "game-us/delivery")
			b.ReportMetric(float64(selfAfter-selfBefore)/float64(time.Microsecond)/float64(max(received, 1)), "bench-us/delivery")
			b.ReportMetric(float64(cl.rss(b)["gate1"])/1024, "gate-RSS-MB")
			b.Logf("sent %d, delivered %d of %d, own copies back %d, in %v; CPU ticks gate %d dispatcher %d game %d; bench process %v",
				sent, received, expected(), len(rtts), last.Sub(start).Round(time.Millisecond),
				after["gate1"]-before["gate1"], after["dispatcher1"]-before["dispatcher1"], after["game1"]-before["game1"],
				(selfAfter - selfBefore).Round(time.Millisecond))
			b.Logf("waiting for a CPU while runnable: gate %v, dispatcher %v, game %v, bench process %v",
				(waitAfter["gate1"] - waitBefore["gate1"]).Round(time.Millisecond),
				(waitAfter["dispatcher1"] - waitBefore["dispatcher1"]).Round(time.Millisecond),
				(waitAfter["game1"] - waitBefore["game1"]).Round(time.Millisecond),
				(waitAfter["bench"] - waitBefore["bench"]).Round(time.Millisecond))
			if len(rtts) > 0 {
				b.Logf("round trips over 20 ms, by second of the window they were sent in: %v; max %v", slow, rtts[len(rtts)-1].Round(time.Microsecond))
			}
			if lost := expected() - received; lost != 0 {
				b.Errorf("%d deliveries lost", lost)
			}
			if n := r.overflow.Load() + r.sendErrs.Load(); n > 0 {
				b.Errorf("%d sends failed or overflowed", n)
			}
			if n := r.foreign.Load(); n > 0 {
				b.Errorf("%d deliveries of another run's messages arrived late", n)
			}
			if n := disconnects.Load(); n > 0 {
				b.Fatalf("%d clients disconnected", n)
			}
		})
	}
	cur.Store(nil)
}

// ---------------------------------------------------------------------
// Memory per idle client

// perfIdleConfig is perfConfig with the gate's admin HTTP server (pprof) on
// a port the kernel picks.
var perfIdleConfig = strings.Replace(perfConfig, "[gate1]\n", "[gate1]\nhttp_addr = 127.0.0.1:0\n", 1)

// perfAdminLine finds the admin address in a process's log ("admin HTTP
// (metrics, pprof) listening"; before 8966d86, "admin HTTP (pprof)").
var perfAdminLine = regexp.MustCompile(`admin HTTP \([^)]*\) listening.*http_addr="?([0-9.]+:[0-9]+)`)

// perfMemStats returns HeapAlloc and StackInuse of process name of c, in
// bytes, after a garbage collection: from /debug/pprof/heap?gc=1&debug=1 on
// the admin address the process logged.
func (c *perfCluster) perfMemStats(b *testing.B, name string) (heap, stack int64) {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(c.dir, "log", name+".log"))
	if err != nil {
		b.Fatal(err)
	}
	m := perfAdminLine.FindSubmatch(data)
	if m == nil {
		b.Fatalf("%s logged no admin HTTP address:\n%s", name, data)
	}
	hc := &http.Client{Timeout: time.Minute}
	resp, err := hc.Get("http://" + string(m[1]) + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("%s heap profile: %v %s", name, err, resp.Status)
	}
	num := func(re string) int64 {
		m := regexp.MustCompile(`(?m)^# ` + re + ` = (\d+)`).FindSubmatch(body)
		if m == nil {
			b.Fatalf("%s heap profile: no %s", name, re)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n
	}
	return num("HeapAlloc"), num("Stack")
}

var (
	idleTCP = flag.String("idle.tcp", "5000", "TCP client counts of BenchmarkIdleClientMemory, comma-separated (0: none)")
	idleKCP = flag.String("idle.kcp", "2000", "KCP client counts of BenchmarkIdleClientMemory, comma-separated (0: none)")
	// idleKCPInterval sets kcp_interval on the gate and the KCP clients.
	idleKCPInterval = flag.Duration("idle.kcpinterval", 0, "kcp_interval of BenchmarkIdleClientMemory's gate and KCP clients (0: the default, 10ms)")
	idleWS          = flag.String("idle.ws", "2000", "WebSocket client counts of BenchmarkIdleClientMemory, comma-separated (0: none)")
)

// perfCounts parses a comma-separated list of client counts; 0 entries are
// dropped.
func perfCounts(b *testing.B, name, list string) []int {
	b.Helper()
	var ns []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			b.Fatalf("-%s %q: want comma-separated client counts", name, list)
		}
		if n > 0 {
			ns = append(ns, n)
		}
	}
	return ns
}

// perfCheckLimits fails b if n clients cannot be held: the benchmark
// process holds one file per client (a TCP socket, or a KCP session's UDP
// socket) and the gate one per TCP or WebSocket client, both under the
// same open-file limit; TCP and WebSocket clients each take an ephemeral
// port of 127.0.0.1.
func perfCheckLimits(b *testing.B, n int, kcp bool) {
	b.Helper()
	// "Max open files            20000                20000                files"
	if data, err := os.ReadFile("/proc/self/limits"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			rest, ok := strings.CutPrefix(line, "Max open files")
			if f := strings.Fields(rest); ok && len(f) == 3 {
				if hard, err := strconv.Atoi(f[1]); err == nil && n+200 > hard {
					b.Fatalf("%d clients need more open files than the hard limit %d allows (ulimit -Hn)", n, hard)
				}
			}
		}
	}
	if kcp {
		return
	}
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(data), &lo, &hi); err == nil && n > hi-lo+1-1000 {
		b.Fatalf("%d TCP clients from one source address need more than the %d ephemeral ports (%d-%d)", n, hi-lo+1, lo, hi)
	}
}

// BenchmarkIdleClientMemory connects N idle clients (heartbeat every 20 s;
// the gate allows 60 s) to a fresh cluster of real processes, waits until
// each has its boot entity, and reports the growth of the gate's and the
// game's VmRSS divided by N, and the gate's (and this process's) CPU use
// while they idle. Every transport is measured the same way, on the same
// config: N is 5,000 for TCP, 2,000 for KCP and 2,000 for WebSocket unless
// -idle.tcp, -idle.kcp and -idle.ws say otherwise, e.g.
//
//	go test -run XXX -bench BenchmarkIdleClientMemory -benchtime 1x -timeout 30m ./examples/chatroom_demo/ -idle.tcp 10000 -idle.ws 10000 -idle.kcp 0
func BenchmarkIdleClientMemory(b *testing.B) {
	type scenario struct {
		name string
		kcp  bool // over KCP, to the gate's TCP address
		ws   bool // over WebSocket, to its ws_addr
		n    int
	}
	var scs []scenario
	for _, n := range perfCounts(b, "idle.tcp", *idleTCP) {
		scs = append(scs, scenario{name: fmt.Sprintf("TCP-%d", n), n: n})
	}
	for _, n := range perfCounts(b, "idle.kcp", *idleKCP) {
		scs = append(scs, scenario{name: fmt.Sprintf("KCP-%d", n), kcp: true, n: n})
	}
	for _, n := range perfCounts(b, "idle.ws", *idleWS) {
		scs = append(scs, scenario{name: fmt.Sprintf("WS-%d", n), ws: true, n: n})
	}
	for _, sc := range scs {
		b.Run(sc.name, func(b *testing.B) {
			perfCheckLimits(b, sc.n, sc.kcp)
			cfg := perfIdleConfig
			if *idleKCPInterval > 0 {
				cfg = strings.Replace(cfg, "[gate1]\n", fmt.Sprintf("[gate1]\nkcp_interval = %v\n", *idleKCPInterval), 1)
			}
			cl := perfStartWith(b, cfg)
			addr := cl.addr
			if sc.ws {
				if addr = cl.wsURL; addr == "" {
					b.Fatal("goworldctl status shows no ws= URL for gate1")
				}
			}
			time.Sleep(2 * time.Second) // let the processes settle after start
			rss0 := cl.rss(b)
			heap0, stack0 := cl.perfMemStats(b, "gate1")
			clients := make([]*client.Client, sc.n)
			defer func() {
				perfForEach(len(clients), 64, func(i int) error {
					if clients[i] != nil {
						clients[i].Close()
					}
					return nil
				})
			}()
			connectStart := time.Now()
			err := perfForEach(sc.n, 32, func(i int) error {
				c, err := client.Dial(addr, client.Options{KCP: sc.kcp, HeartbeatInterval: 20 * time.Second, EventBuffer: 16, KCPInterval: *idleKCPInterval})
				if err != nil {
					return fmt.Errorf("client %d: %w", i, err)
				}
				clients[i] = c
				if err := perfWait(c, 60*time.Second, "boot entity", perfIsBoot); err != nil {
					return fmt.Errorf("client %d: %w", i, err)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			connected := time.Since(connectStart)
			// Settle, then measure the gate's CPU while everyone idles.
			time.Sleep(3 * time.Second)
			const idle = 5 * time.Second
			t0, self0, wait0 := cl.ticks(b), procstat.SelfCPU(), cl.runqWait()
			time.Sleep(idle)
			t1, self1, wait1 := cl.ticks(b), procstat.SelfCPU(), cl.runqWait()
			rss1 := cl.rss(b)
			heap1, stack1 := cl.perfMemStats(b, "gate1") // after RSS: it collects garbage first
			for i, c := range clients {
				select {
				case ev := <-c.Events():
					if d, ok := ev.(client.Disconnected); ok {
						b.Fatalf("client %d disconnected while idle: %s", i, d.Reason)
					}
				default:
				}
			}
			per := func(name string) float64 { return float64(rss1[name]-rss0[name]) / float64(sc.n) }
			pct := func(d time.Duration) float64 { return float64(d) / float64(idle) * 100 }
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(per("gate1"), "gate-KB/client")
			b.ReportMetric(float64(heap1-heap0)/1024/float64(sc.n), "gate-heap-KB/client")
			b.ReportMetric(float64(stack1-stack0)/1024/float64(sc.n), "gate-stack-KB/client")
			b.ReportMetric(per("game1"), "game-KB/client")
			b.ReportMetric(per("dispatcher1"), "disp-KB/client")
			b.ReportMetric(pct(time.Duration(t1["gate1"]-t0["gate1"])*procstat.Tick), "gate-idle-CPU-%")
			b.ReportMetric(pct(self1-self0), "bench-idle-CPU-%")
			b.Logf("%d clients connected in %v; VmRSS KB before/after: gate %d/%d, game %d/%d, dispatcher %d/%d",
				sc.n, connected.Round(time.Millisecond), rss0["gate1"], rss1["gate1"], rss0["game1"], rss1["game1"],
				rss0["dispatcher1"], rss1["dispatcher1"])
			b.Logf("gate after a GC, before/after: live heap %d/%d KB, goroutine stacks %d/%d KB",
				heap0>>10, heap1>>10, stack0>>10, stack1>>10)
			b.Logf("idle %v: CPU ticks gate %d, game %d, dispatcher %d, bench process %v; waiting for a CPU while runnable: gate %v, bench process %v",
				idle, t1["gate1"]-t0["gate1"], t1["game1"]-t0["game1"], t1["dispatcher1"]-t0["dispatcher1"],
				(self1 - self0).Round(time.Millisecond),
				(wait1["gate1"] - wait0["gate1"]).Round(time.Millisecond), (wait1["bench"] - wait0["bench"]).Round(time.Millisecond))
		})
	}
}

// ---------------------------------------------------------------------
// Round trip through the gate alone

// BenchmarkPingPong measures one round trip per op: a heartbeat frame to
// the gate process and its answer (the gate answers heartbeats itself),
// over TCP and over KCP with the gate's own KCP settings; and, for scale
// on the same machine, a bare TCP echo (one goroutine, a 4 KB buffer) in
// this process. This is a conventional b.N benchmark.
// perfPingConfig is perfConfig without the per-client rate limits:
// BenchmarkPingPong sends heartbeats as fast as the gate answers, far
// over client_msg_rate's default.
var perfPingConfig = strings.Replace(perfConfig, "heartbeat_timeout = 60s\n", "heartbeat_timeout = 60s\nclient_msg_rate = unlimited\nclient_byte_rate = unlimited\n", 1)

func BenchmarkPingPong(b *testing.B) {
	ping := rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil)
	roundTrips := func(b *testing.B, nc net.Conn) {
		hdr := make([]byte, rpc.HeaderSize)
		nc.SetDeadline(time.Now().Add(2 * time.Minute))
		// A client's first frame: its hello (docs/protocol.md, Versioning).
		if _, err := nc.Write(rpc.AppendFrame(nil, rpc.MsgClientHello, rpc.AppendClientHello(nil, rpc.ProtocolVersion))); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := nc.Write(ping); err != nil {
				b.Fatal(err)
			}
			for {
				t, _, err := rpc.ReadFrame(nc, hdr, 1<<20)
				if err != nil {
					b.Fatal(err)
				}
				if t == rpc.MsgHeartbeatAck {
					break
				}
				// anything else (the boot entity) is skipped
			}
		}
	}
	b.Run("gate-TCP", func(b *testing.B) {
		cl := perfStartWith(b, perfPingConfig)
		nc, err := net.Dial("tcp", cl.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		nc.(*net.TCPConn).SetNoDelay(true)
		roundTrips(b, nc)
	})
	b.Run("gate-KCP", func(b *testing.B) {
		cl := perfStartWith(b, perfPingConfig)
		// As client.Dial does: the handshake, then a session with the cookie.
		ga, err := net.ResolveUDPAddr("udp", cl.addr)
		if err != nil {
			b.Fatal(err)
		}
		uc, err := net.ListenUDP("udp", nil)
		if err != nil {
			b.Fatal(err)
		}
		conv, err := client.KCPHandshake(uc, ga, 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		s, err := kcp.NewConn4(conv, ga, nil, 0, 0, true, uc)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		s.SetNoDelay(1, 10, 2, 1)
		s.SetWindowSize(128, 128)
		s.SetACKNoDelay(true)
		roundTrips(b, s)
	})
	b.Run("bare-TCP-echo", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				// answer each heartbeat with an ack, as the gate does
				for i := 0; i+rpc.HeaderSize <= n; i += rpc.HeaderSize {
					c.Write(rpc.AppendFrame(nil, rpc.MsgHeartbeatAck, nil))
				}
			}
		}()
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		nc.(*net.TCPConn).SetNoDelay(true)
		roundTrips(b, nc)
		nc.Close()
		<-done
	})
}

// BenchmarkKCPMemoryUnderTraffic connects 200 KCP clients, measures the
// gate's VmRSS growth per client once they idle, then after each has sent
// a heartbeat every 10 ms for 20 s (the gate answers each, so every
// session carries ~2,000 packets each way). kcp-go allocates some
// per-session buffers that an idle session never touches (so they are
// not resident) but a busy one does; this shows the difference.
func BenchmarkKCPMemoryUnderTraffic(b *testing.B) {
	const (
		n        = 200
		interval = 10 * time.Millisecond
		busy     = 20 * time.Second
	)
	cl := perfStart(b)
	time.Sleep(2 * time.Second)
	rss0 := cl.rss(b)
	clients := make([]*client.Client, n)
	defer perfForEach(n, 64, func(i int) error {
		if clients[i] != nil {
			clients[i].Close()
		}
		return nil
	})
	if err := perfForEach(n, 32, func(i int) error {
		c, err := client.Dial(cl.addr, client.Options{KCP: true, HeartbeatInterval: 20 * time.Second, EventBuffer: 16})
		if err != nil {
			return err
		}
		clients[i] = c
		return perfWait(c, 60*time.Second, "boot entity", perfIsBoot)
	}); err != nil {
		b.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	rss1 := cl.rss(b)
	end := time.Now().Add(busy)
	perfForEach(n, n, func(i int) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for time.Now().Before(end) {
			<-t.C
			clients[i].SendRaw(rpc.MsgHeartbeat, nil)
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	rss2 := cl.rss(b)
	for i, c := range clients {
		select {
		case ev := <-c.Events():
			if d, ok := ev.(client.Disconnected); ok {
				b.Fatalf("client %d disconnected: %s", i, d.Reason)
			}
		default:
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(rss1["gate1"]-rss0["gate1"])/n, "idle-gate-KB/client")
	b.ReportMetric(float64(rss2["gate1"]-rss0["gate1"])/n, "busy-gate-KB/client")
	b.Logf("gate VmRSS KB: no clients %d, %d idle clients %d, after traffic %d", rss0["gate1"], n, rss1["gate1"], rss2["gate1"])
}

// ---------------------------------------------------------------------
// Cluster start and stop

// perfConfig2 is perfConfig with two dispatchers and two gates. It keeps
// one game: games share the [storage] file, and bbolt lets only one
// process open it.
const perfConfig2 = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[dispatcher2]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Account
save_interval = 5s
[game1]
[gate_common]
kcp = true
heartbeat_timeout = 60s
[gate1]
listen_addr = 127.0.0.1:0
[gate2]
listen_addr = 127.0.0.1:0
[storage]
path = chat.db
`

// perfLine is a line of a command's standard output and when it arrived.
type perfLine struct {
	text string
	at   time.Duration // since the command was started
}

// perfCtlLines runs goworldctl (bounded by two minutes), timing each line
// of its standard output, and returns the lines, the combined output, the
// exit code and how long the command took.
func perfCtlLines(b *testing.B, ctl string, args ...string) ([]perfLine, string, int, time.Duration) {
	b.Helper()
	cmd := exec.Command(ctl, args...)
	cmd.Dir = repoRoot
	var errb bytes.Buffer
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var (
		lines []perfLine
		all   strings.Builder
	)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, perfLine{sc.Text(), time.Since(start)})
		all.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	took := time.Since(start)
	if !timer.Stop() {
		b.Fatalf("goworldctl %v: still running after 2 minutes", args)
	}
	if err != nil && cmd.ProcessState == nil {
		b.Fatal(err)
	}
	return lines, all.String() + errb.String(), cmd.ProcessState.ExitCode(), took
}

var perfStartedLine = regexp.MustCompile(`^started (\w+) pid=(\d+)`)

// BenchmarkClusterStart measures, on the chat demo's real processes, the
// wall time of `goworldctl start -no-build` (which starts the dispatchers,
// the games, then the gates, each waited for until it reports ready) and
// of `goworldctl stop`, for one of each and for two dispatchers, one game
// and two gates. Each iteration starts the cluster, logs a client in
// through every gate to its boot entity (first-client-ms counts from the
// start command to the last gate's boot entity), then stops it and checks
// that nothing runs. Run it with e.g. -benchtime 9x; the metrics are
// medians over the iterations (start also its minimum and maximum), each
// of which is logged.
func BenchmarkClusterStart(b *testing.B) {
	ctl, server, _ := binaries(b)
	for _, sc := range []struct {
		name  string
		cfg   string
		procs int
	}{{"1disp-1game-1gate", perfConfig, 3}, {"2disp-1game-2gates", perfConfig2, 5}} {
		b.Run(sc.name, func(b *testing.B) {
			if runtime.GOOS != "linux" {
				b.Skip("goworldctl status is checked on Linux")
			}
			dir := serverDir(b, server)
			writeConfig(b, dir, sc.cfg)
			b.Cleanup(func() {
				perfCtl(b, ctl, "stop", dir)
				perfCtl(b, ctl, "kill", dir)
			})
			var starts, firsts, stops []time.Duration
			ready := map[string][]time.Duration{} // per process: its "started" line
			for i := range b.N {
				t0 := time.Now()
				lines, out, code, startTook := perfCtlLines(b, ctl, "start", "-no-build", dir)
				if code != 0 {
					b.Fatalf("goworldctl start: exit %d\n%s", code, out)
				}
				n := 0
				for _, l := range lines {
					if m := perfStartedLine.FindStringSubmatch(l.text); m != nil {
						ready[m[1]] = append(ready[m[1]], l.at)
						n++
					}
				}
				if n != sc.procs {
					b.Fatalf("goworldctl start: %d started lines, want %d:\n%s", n, sc.procs, out)
				}
				out, code = perfCtl(b, ctl, "status", dir)
				if code != 0 {
					b.Fatalf("goworldctl status: exit %d\n%s", code, out)
				}
				var gates []string
				running := perfStatusLine.FindAllStringSubmatch(out, -1)
				for _, m := range running {
					if strings.HasPrefix(m[1], "gate") {
						gates = append(gates, m[3])
					}
				}
				if len(running) != sc.procs {
					b.Fatalf("%d processes running, want %d:\n%s", len(running), sc.procs, out)
				}
				// Every gate serves: a client gets its boot entity.
				if err := perfForEach(len(gates), len(gates), func(j int) error {
					c, err := client.Dial(gates[j], client.Options{})
					if err != nil {
						return err
					}
					defer c.Close()
					return perfWait(c, 30*time.Second, "boot entity", perfIsBoot)
				}); err != nil {
					b.Fatal(err)
				}
				first := time.Since(t0)
				stopStart := time.Now()
				if out, code := perfCtl(b, ctl, "stop", dir); code != 0 {
					b.Fatalf("goworldctl stop: exit %d\n%s", code, out)
				}
				stopTook := time.Since(stopStart)
				out, _ = perfCtl(b, ctl, "status", dir)
				if m := perfStatusLine.FindAllString(out, -1); len(m) > 0 {
					b.Fatalf("still running after goworldctl stop: %v", m)
				}
				starts, firsts, stops = append(starts, startTook), append(firsts, first), append(stops, stopTook)
				b.Logf("run %d: start %v (ready at %s), every gate's first client %v, stop %v", i+1,
					startTook.Round(time.Millisecond), perfReadyAt(lines), first.Round(time.Millisecond), stopTook.Round(time.Millisecond))
			}
			ms := func(ds []time.Duration) float64 {
				ds = slices.Clone(ds)
				slices.Sort(ds)
				return float64(ds[len(ds)/2]) / float64(time.Millisecond)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(starts), "start-ms")
			b.ReportMetric(float64(slices.Min(starts))/float64(time.Millisecond), "start-min-ms")
			b.ReportMetric(float64(slices.Max(starts))/float64(time.Millisecond), "start-max-ms")
			b.ReportMetric(ms(firsts), "first-client-ms")
			b.ReportMetric(ms(stops), "stop-ms")
			for name, ds := range ready {
				b.ReportMetric(ms(ds), name+"-ready-ms")
			}
		})
	}
}

// perfReadyAt lists when each process was reported started, e.g.
// "dispatcher1 45ms, game1 80ms, gate1 101ms".
func perfReadyAt(lines []perfLine) string {
	var s []string
	for _, l := range lines {
		if m := perfStartedLine.FindStringSubmatch(l.text); m != nil {
			s = append(s, fmt.Sprintf("%s %v", m[1], l.at.Round(time.Millisecond)))
		}
	}
	return strings.Join(s, ", ")
}
