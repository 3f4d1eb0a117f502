package main

// BenchmarkMovingClients: many clients walking in one space, on real
// processes started by goworldctl (as in e2e_test.go). It gives the
// end-to-end figures of docs/perf/2026-12-04-spaces-position-sync.md; run it as
//
//	go test -run XXX -bench BenchmarkMovingClients -benchtime 1x ./examples/aoi_demo/
//
// and -moving.clients N for another crowd size. It runs one fixed scenario
// (b.N is ignored, hence -benchtime 1x) and reports with b.ReportMetric.
// Nothing asserts a time: it fails only on a disconnect, an error, or
// views that do not end up matching where everyone stopped.

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/examples/aoi_demo/demo"
	"github.com/goworld-engine/goworld/internal/procstat"
	"github.com/goworld-engine/goworld/rpc"
)

var movingClients = flag.Int("moving.clients", 1000, "clients of BenchmarkMovingClients")

// benchConfig is the benchmark cluster: one of each, ports picked by the
// kernel, position sync and AOI budgets at their defaults.
const benchConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Player
[game1]
[gate_common]
heartbeat_timeout = 60s
[gate1]
listen_addr = 127.0.0.1:0
[storage]
path = aoi.db
`

const (
	moveRate   = 10              // position updates each client sends per second
	moveStep   = 5               // world units per update: 50 units/s
	warmUp     = 2 * time.Second // moving, not measured
	window     = 10 * time.Second
	moveBudget = warmUp + window // how long the clients move
)

var statusLine = regexp.MustCompile(`(?m)^(\w+) running pid=(\d+)`)

// walker is one moving client.
type walker struct {
	c    *client.Client
	id   rpc.EntityID
	pos  rpc.Vector3 // last position sent (or given by the server)
	rng  *rand.Rand
	done chan struct{}

	updates atomic.Int64 // positions received in Moved events
	lost    atomic.Pointer[client.Disconnected]
}

func (w *walker) pump(h *hub, inWorld *atomic.Int64) {
	defer close(w.done)
	entered := false
	for ev := range w.c.Events() {
		switch ev := ev.(type) {
		case client.Moved:
			w.updates.Add(int64(len(ev.Updates)))
		case client.SpaceEntered:
			if !entered {
				entered = true
				inWorld.Add(1)
			}
		case client.Disconnected:
			w.lost.Store(&ev)
		}
		h.notify()
	}
}

// step walks a few units in a random direction, staying in the world.
func (w *walker) step() error {
	w.pos.X = min(max(w.pos.X+(w.rng.Float32()*2-1)*moveStep, 0), demo.WorldSize-1)
	w.pos.Z = min(max(w.pos.Z+(w.rng.Float32()*2-1)*moveStep, 0), demo.WorldSize-1)
	return w.c.MovePlayer(w.pos, 0)
}

func BenchmarkMovingClients(b *testing.B) {
	n := *movingClients
	addr, dir := startClusterConfig(b, benchConfig)
	ctl, _ := binaries(b)
	out, errOut, code := runCmd(b, ctl, "status", dir)
	pids := map[string]int{}
	for _, m := range statusLine.FindAllStringSubmatch(out, -1) {
		pids[m[1]], _ = strconv.Atoi(m[2])
	}
	if code != 0 || len(pids) != 3 {
		b.Fatalf("goworldctl status: exit %d\n%s%s", code, out, errOut)
	}

	h := newHub()
	var inWorld atomic.Int64
	ws := make([]*walker, n)
	seed := uint64(time.Now().UnixNano())
	b.Logf("%d clients, walks from seed %d", n, seed)
	b.Cleanup(func() {
		for _, w := range ws {
			if w != nil {
				w.c.Close()
				<-w.done
			}
		}
	})
	connectStart := time.Now()
	for i := range ws {
		c, err := client.Dial(addr, client.Options{})
		if err != nil {
			b.Fatalf("client %d: %v", i, err)
		}
		ws[i] = &walker{c: c, rng: rand.New(rand.NewPCG(seed, uint64(i))), done: make(chan struct{})}
		go ws[i].pump(h, &inWorld)
	}
	if !h.wait(func() bool { return inWorld.Load() == int64(n) }) {
		b.Fatalf("%d of %d clients in the world after %v", inWorld.Load(), n, waitTimeout)
	}
	b.ReportMetric(float64(n)/time.Since(connectStart).Seconds(), "joins/s")
	for i, w := range ws {
		pl, ok := w.c.Player()
		if !ok {
			b.Fatalf("client %d: in the world without a player", i)
		}
		w.id, w.pos = pl.ID, pl.Pos
	}

	// One goroutine sends every move, spread evenly: client k%n's move
	// number k/n is due at start + k·gap. It stops after moveBudget's
	// worth of moves, or 10 s later at the latest if it falls behind.
	gap := time.Second / time.Duration(moveRate*n)
	total := int(moveBudget/gap) / n * n
	moverErr := make(chan error, 1)
	start := time.Now()
	go func() {
		defer close(moverErr)
		next := start
		for k := range total {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			if time.Since(start) > moveBudget+10*time.Second {
				moverErr <- fmt.Errorf("sent %d of %d moves in %v", k, total, time.Since(start))
				return
			}
			if err := ws[k%n].step(); err != nil {
				moverErr <- fmt.Errorf("client %d: %v", k%n, err)
				return
			}
			next = next.Add(gap)
		}
	}()

	// The window: CPU of each process, bytes and positions received.
	time.Sleep(warmUp) // pacing: the load is defined by time
	cpu0, self0, stats0, upd0 := cpuOf(b, pids), procstat.SelfCPU(), sumStats(ws), sumUpdates(ws)
	t0 := time.Now()
	time.Sleep(window) // pacing: the load is defined by time
	cpu1, self1, stats1, upd1 := cpuOf(b, pids), procstat.SelfCPU(), sumStats(ws), sumUpdates(ws)
	secs := time.Since(t0).Seconds()
	if err := <-moverErr; err != nil {
		b.Fatal(err)
	}
	moved := time.Since(start)

	for i, w := range ws {
		if d := w.lost.Load(); d != nil {
			b.Fatalf("client %d disconnected: %s", i, d.Reason)
		}
	}

	// Everyone stopped: each view must come to hold exactly the players
	// within the AOI radius (the rule of package aoi), at their last
	// positions.
	converged := 0 // clients whose view matched; a matched view stays so
	var viewSum int
	match := func() bool {
		for ; converged < n; converged++ {
			v, ok := viewMatches(ws, converged)
			if !ok {
				return false
			}
			viewSum += v
		}
		return true
	}
	if !h.wait(match) {
		w := ws[converged]
		b.Fatalf("client %d at %v: view of %d entities does not match the final positions after %v",
			converged, w.pos, w.c.NumEntities(), waitTimeout)
	}

	avgView := float64(viewSum) / float64(n)
	b.ReportMetric(float64(total)/moved.Seconds(), "moves-sent/s")
	b.ReportMetric(avgView, "avg-view")
	perClient := float64(upd1-upd0) / secs / float64(n)
	b.ReportMetric(perClient, "positions-in/s/client")
	// Every neighbour moves moveRate times a second and each sync sends a
	// mover once: about avg-view × moveRate positions a second reach a
	// client unless a sync budget holds some back (or moves coalesce).
	b.ReportMetric(perClient/(avgView*moveRate)*100, "positions-%-of-moves")
	b.ReportMetric(float64(stats1.BytesIn-stats0.BytesIn)/secs/float64(n), "bytes-in/s/client")
	b.ReportMetric(float64(stats1.FramesIn-stats0.FramesIn)/secs/float64(n), "frames-in/s/client")
	b.ReportMetric(float64(stats1.BytesOut-stats0.BytesOut)/secs/float64(n), "bytes-out/s/client")
	var servers time.Duration
	for name := range pids {
		d := cpu1[name] - cpu0[name]
		servers += d
		b.ReportMetric(d.Seconds()/secs*100, name+"-CPU-%")
	}
	b.ReportMetric(servers.Seconds()/secs*100, "servers-CPU-%")
	b.ReportMetric((self1-self0).Seconds()/secs*100, "bench-CPU-%")
	// Server CPU per position delivered to a client.
	if d := upd1 - upd0; d > 0 {
		b.ReportMetric(float64(servers.Microseconds())/float64(d), "server-µs/position")
	}
}

// viewMatches reports whether client i's view holds exactly the others
// within demo.AOIRadius of it (dx²+dz² ≤ r² in float64, as package aoi
// decides), each at its last position, and returns the view's size.
func viewMatches(ws []*walker, i int) (int, bool) {
	w := ws[i]
	want := 0
	for j, q := range ws {
		if j == i {
			continue
		}
		dx := float64(q.pos.X) - float64(w.pos.X)
		dz := float64(q.pos.Z) - float64(w.pos.Z)
		if dx*dx+dz*dz > demo.AOIRadius*demo.AOIRadius {
			continue
		}
		want++
		e, ok := w.c.Entity(q.id)
		if !ok || e.Pos != q.pos {
			return 0, false
		}
	}
	// The view also holds the player itself.
	return want, w.c.NumEntities() == want+1
}

func cpuOf(b *testing.B, pids map[string]int) map[string]time.Duration {
	b.Helper()
	m := map[string]time.Duration{}
	for name, pid := range pids {
		d, err := procstat.CPU(pid)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		m[name] = d
	}
	return m
}

func sumStats(ws []*walker) client.Stats {
	var s client.Stats
	for _, w := range ws {
		t := w.c.Stats()
		s.FramesIn += t.FramesIn
		s.BytesIn += t.BytesIn
		s.FramesOut += t.FramesOut
		s.BytesOut += t.BytesOut
	}
	return s
}

func sumUpdates(ws []*walker) int64 {
	var n int64
	for _, w := range ws {
		n += w.updates.Load()
	}
	return n
}
