package main

// BenchmarkMovingClients: many clients walking in one space, on real
// processes started by goworldctl (as in e2e_test.go). It gives the
// end-to-end figures of docs/perf/2026-12-04-spaces-position-sync.md and
// docs/perf/2026-12-07-walking-clients-end-to-end.md; run it as
//
//	go test -run XXX -bench BenchmarkMovingClients -benchtime 1x ./examples/aoi_demo/
//
// and -moving.clients N for another crowd size; -moving.walkers M adds M
// server-side walkers (demo.Walker) to the same space, spread over a
// square of the density of 10,000 entities on 10,000×10,000 (unless
// -moving.world says otherwise), as in space's BenchmarkManyMembersFewViewers:
//
//	go test -run XXX -bench BenchmarkMovingClients -benchtime 1x ./examples/aoi_demo/ -moving.clients 1000 -moving.walkers 99000
//
// It runs one fixed scenario (b.N is ignored, hence -benchtime 1x) and
// reports with b.ReportMetric. Nothing asserts a time: it fails only on a
// disconnect, an error, or views that do not end up matching where
// everyone stopped. Its main figure is the gap: per (client, neighbour)
// pair, the wall time between successive positions of the neighbour the
// client receives (gap-p50/p90/p99-ms; near-gap-p90-ms for neighbours
// within half the radius; gap-max-ms), over the measured window.

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/examples/aoi_demo/demo"
	"github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/internal/procstat"
	"github.com/goworld-engine/goworld/rpc"
)

var (
	movingClients  = flag.Int("moving.clients", 1000, "clients of BenchmarkMovingClients")
	movingWalkers  = flag.Int("moving.walkers", 0, "server-side walkers (demo.Walker) of BenchmarkMovingClients, in the clients' space")
	movingEvery    = flag.Duration("moving.walkevery", 100*time.Millisecond, "how often each server-side walker steps (AOI_DEMO_WALK_EVERY)")
	movingProf     = flag.String("moving.gameprofile", "", "write a CPU profile of the game over the window to this file (from its admin server's /debug/pprof/profile)")
	movingGateProf = flag.String("moving.gateprofile", "", "write a CPU profile of the gate over the window to this file, as -moving.gameprofile does for the game")
	movingView     = flag.Int("moving.viewlimit", 0, "aoi_view_limit of BenchmarkMovingClients' game (0: unlimited, the default)")
	movingWorld    = flag.Int("moving.world", 0, "side of the square the clients and walkers walk in (0: demo.WorldSize without walkers, else the density of 10,000 on 10,000×10,000)")
)

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
	// senderTick: the sender wakes this often and sends the moves due.
	senderTick = 10 * time.Millisecond
	// walkersFor is how long the server's walkers walk once they all
	// exist (AOI_DEMO_WALK_FOR): long enough for the clients to join
	// (waitTimeout at most) and walk through the warm-up and the window,
	// which the benchmark checks.
	walkersFor = waitTimeout + moveBudget + 5*time.Second
)

// statusLine matches a process of goworldctl status and its admin address
// (on the line under it).
var statusLine = regexp.MustCompile(`(?m)^(\w+) running pid=(\d+).*\n\s*admin=(\S+)`)

// Gap histogram: 1 ms buckets to a second, then 10 ms buckets to 10 s;
// longer gaps go to the last bucket (gap-max is exact).
const (
	gapFine    = 1000
	gapBuckets = gapFine + 900
)

func gapBucket(ms int64) int {
	if ms < gapFine {
		return int(max(ms, 0))
	}
	return min(gapFine+int(ms-gapFine)/10, gapBuckets-1)
}

// gapUpper is the largest gap (ms) in bucket i.
func gapUpper(i int) int64 {
	if i < gapFine {
		return int64(i)
	}
	return gapFine + int64(i-gapFine+1)*10 - 1
}

type gapHist [gapBuckets]uint32

func (h *gapHist) add(o *gapHist) {
	for i, v := range o {
		h[i] += v
	}
}

// below is the share of the gaps shorter than ms milliseconds.
func (h *gapHist) below(ms int) float64 {
	var total, under uint64
	for i, v := range h {
		total += uint64(v)
		if i < ms {
			under += uint64(v)
		}
	}
	if total == 0 {
		return math.NaN()
	}
	return float64(under) / float64(total)
}

// quantile is the upper bound (ms) of the bucket holding the q-quantile.
func (h *gapHist) quantile(q float64) float64 {
	var total uint64
	for _, v := range h {
		total += uint64(v)
	}
	if total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, v := range h {
		seen += uint64(v)
		if seen >= rank && v > 0 {
			return float64(gapUpper(i))
		}
	}
	return float64(gapUpper(gapBuckets - 1))
}

// epoch is the benchmark's time base for the gaps (nanoseconds since
// epoch, monotonic), and [winFrom, winTo) the window in which gaps are
// counted (winTo = 0: not ended; winFrom = 0: not started).
var (
	epoch              = time.Now()
	winFrom, winTo     atomic.Int64
	errWalkersTooEarly = fmt.Errorf("the server's walkers stopped before the window ended (AOI_DEMO_WALK_FOR %v too short?)", walkersFor)
)

// halfRadiusSquared: a neighbour this close (squared distance) counts
// for near-gap-p90-ms.
const halfRadiusSquared = float64(demo.AOIRadius*demo.AOIRadius) / 4

// walkerType is the entity type of the demo's server-side walkers.
const walkerType = "Walker"

func inWindow(now int64) bool {
	from, to := winFrom.Load(), winTo.Load()
	return from != 0 && now >= from && (to == 0 || now < to)
}

// gaps is one client's record of when it last got each neighbour's
// position (an EntityCreated carries one), and the histograms of the
// gaps that ended in the window. Updated by the walker's event pump;
// read by the benchmark once the window ends.
type gaps struct {
	mu   sync.Mutex
	last map[rpc.EntityID]int64 // nanoseconds since epoch
	all  gapHist
	near gapHist // neighbour within half the radius when the update came
	max  int64   // longest gap in the window, ns
	n    int64   // gaps counted
}

// walker is one moving client.
type walker struct {
	c    *client.Client
	id   rpc.EntityID
	pos  rpc.Vector3 // last position sent (or given by the server); the sender's
	xz   atomic.Uint64
	rng  *rand.Rand
	done chan struct{}
	gaps gaps

	updates atomic.Int64 // positions received in Moved events
	lost    atomic.Pointer[client.Disconnected]
}

// setPos records the player's own position for the pump (the near gaps).
func (w *walker) setPos(p rpc.Vector3) {
	w.pos = p
	w.xz.Store(uint64(math.Float32bits(p.X))<<32 | uint64(math.Float32bits(p.Z)))
}

func (w *walker) near(p rpc.Vector3) bool {
	xz := w.xz.Load()
	dx := float64(p.X) - float64(math.Float32frombits(uint32(xz>>32)))
	dz := float64(p.Z) - float64(math.Float32frombits(uint32(xz)))
	return dx*dx+dz*dz <= halfRadiusSquared
}

func (w *walker) pump(h *hub, inWorld *atomic.Int64) {
	defer close(w.done)
	entered := false
	var self rpc.EntityID // the player's ID (w.id is the benchmark's copy)
	g := &w.gaps
	g.last = map[rpc.EntityID]int64{}
	for ev := range w.c.Events() {
		switch ev := ev.(type) {
		case client.Moved:
			w.updates.Add(int64(len(ev.Updates)))
			now := int64(time.Since(epoch))
			count := inWindow(now)
			g.mu.Lock()
			for _, u := range ev.Updates {
				if u.ID == self {
					continue
				}
				if prev, ok := g.last[u.ID]; ok && count {
					d := now - prev
					b := gapBucket(d / int64(time.Millisecond))
					g.all[b]++
					if w.near(u.Pos) {
						g.near[b]++
					}
					g.max = max(g.max, d)
					g.n++
				}
				g.last[u.ID] = now
			}
			g.mu.Unlock()
		case client.EntityCreated:
			if ev.IsPlayer {
				self = ev.ID
			} else {
				g.mu.Lock()
				g.last[ev.ID] = int64(time.Since(epoch))
				g.mu.Unlock()
			}
		case client.EntityDestroyed:
			g.mu.Lock()
			delete(g.last, ev.ID)
			g.mu.Unlock()
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

// step walks a few units in a random direction, staying in the square.
func (w *walker) step(world float32) error {
	p := w.pos
	p.X = min(max(p.X+(w.rng.Float32()*2-1)*moveStep, 0), world-1)
	p.Z = min(max(p.Z+(w.rng.Float32()*2-1)*moveStep, 0), world-1)
	w.setPos(p)
	return w.c.MovePlayer(p, 0)
}

// gapFigures sums the walkers' gap records: the histograms, the longest
// gap, and the longest a pair in view at now had been waiting (open).
func gapFigures(ws []*walker, now int64) (all, near gapHist, maxGap, open time.Duration, n int64) {
	for _, w := range ws {
		g := &w.gaps
		g.mu.Lock()
		all.add(&g.all)
		near.add(&g.near)
		maxGap = max(maxGap, time.Duration(g.max))
		n += g.n
		for _, t := range g.last {
			open = max(open, time.Duration(now-t))
		}
		g.mu.Unlock()
	}
	return
}

func BenchmarkMovingClients(b *testing.B) {
	n, walkers := *movingClients, *movingWalkers
	if n < 1 || walkers < 0 || walkers > demo.MaxWalkers {
		b.Fatalf("-moving.clients %d -moving.walkers %d: want at least one client and 0 to %d walkers", n, walkers, demo.MaxWalkers)
	}
	if *movingView < 0 || *movingView > 0 && walkers > 0 {
		// The final check of the views knows the clients' positions,
		// not the walkers': it cannot tell which nearest a view holds.
		b.Fatalf("-moving.viewlimit %d: want 0 or more, and 0 with -moving.walkers", *movingView)
	}
	world := *movingWorld
	if world == 0 {
		world = demo.WorldSize
		if walkers > 0 {
			world = int(math.Round(math.Sqrt(float64(n+walkers)) * 100))
		}
	}
	if world < 100 || world > demo.MaxWorldSize {
		b.Fatalf("-moving.world %d: want 100 to %d", world, demo.MaxWorldSize)
	}
	// The game started by goworldctl inherits these (demo/walkers.go).
	b.Setenv("AOI_DEMO_WORLD_SIZE", strconv.Itoa(world))
	b.Setenv("AOI_DEMO_WALKERS", strconv.Itoa(walkers))
	b.Setenv("AOI_DEMO_WALK_FOR", walkersFor.String())
	b.Setenv("AOI_DEMO_WALK_EVERY", movingEvery.String())
	b.Logf("load average at the start: %s", loadAverage())
	// The load side's garbage collection is a tenth of its CPU at the
	// default GOGC (profile of a 2,000-client run): collect less often.
	defer debug.SetGCPercent(debug.SetGCPercent(400))

	config := benchConfig
	if *movingView > 0 {
		config = strings.Replace(config, "[game_common]\n", fmt.Sprintf("[game_common]\naoi_view_limit = %d\n", *movingView), 1)
	}
	addr, dir := startClusterConfig(b, config)
	ctl, _ := binaries(b)
	out, errOut, code := runCmd(b, ctl, "status", dir)
	pids, admins := map[string]int{}, map[string]string{}
	for _, m := range statusLine.FindAllStringSubmatch(out, -1) {
		pids[m[1]], _ = strconv.Atoi(m[2])
		admins[m[1]] = m[3]
	}
	if code != 0 || len(pids) != 3 || admins["game1"] == "" || admins["gate1"] == "" {
		b.Fatalf("goworldctl status: exit %d\n%s%s", code, out, errOut)
	}
	gameLog := filepath.Join(dir, "log", "game1.log")
	if walkers > 0 {
		want := fmt.Sprintf("zone %d: %d walkers walking", demo.EntryZone, walkers)
		if !pollLog(gameLog, want, time.Minute) {
			b.Fatalf("no %q in game1.log after a minute", want)
		}
	}

	h := newHub()
	var inWorld atomic.Int64
	ws := make([]*walker, n)
	seed := uint64(time.Now().UnixNano())
	b.Logf("%d clients and %d walkers (a step every %v) in a %d×%d square, aoi_view_limit %d (0: unlimited), walks from seed %d", n, walkers, *movingEvery, world, world, *movingView, seed)
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
		w.id = pl.ID
		w.setPos(pl.Pos)
	}

	// One goroutine sends every move, spread evenly: client k%n's move
	// number k/n is due at start + k·gap. It wakes every senderTick and
	// sends the moves due by then (a sleep per move cannot keep up with
	// 20,000 moves a second). It stops after moveBudget's worth of moves,
	// or a second later if it falls behind: a load side that cannot keep
	// up is reported (moves-sent-%-of-due, sender-lag-max-ms), not a
	// failure. lag is how late a move was sent, at worst, in the window
	// (up to a senderTick when on time).
	gap := time.Second / time.Duration(moveRate*n)
	total := int(moveBudget/gap) / n * n
	moverErr := make(chan error, 1)
	var lag, sent atomic.Int64
	start := time.Now()
	go func() {
		defer close(moverErr)
		tick := time.NewTicker(senderTick)
		defer tick.Stop()
		for k := 0; k < total; {
			elapsed := time.Since(start)
			if elapsed > moveBudget+time.Second {
				return // behind: sent is short of total
			}
			due := min(total, int(elapsed/gap)+1)
			for ; k < due; k++ {
				if err := ws[k%n].step(float32(world)); err != nil {
					moverErr <- fmt.Errorf("client %d: %v", k%n, err)
					return
				}
				sent.Store(int64(k + 1))
				if k%64 == 0 && inWindow(int64(time.Since(epoch))) {
					lag.Store(max(lag.Load(), int64(time.Since(start)-time.Duration(k)*gap)))
				}
			}
			if k < total {
				<-tick.C // pacing: the load is defined by time
			}
		}
	}()

	// The window: CPU of each process, bytes and positions received, the
	// game's ticks, and the gaps (counted by the pumps).
	time.Sleep(warmUp) // pacing: the load is defined by time
	met0 := scrape(b, admins["game1"])
	cpu0, self0, stats0, upd0, sent0 := cpuOf(b, pids), procstat.SelfCPU(), sumStats(ws), sumUpdates(ws), sent.Load()
	gr0, gw0 := syscallsOf(b, pids["gate1"])
	t0 := time.Now()
	winFrom.Store(int64(t0.Sub(epoch)))
	profErr := make(chan error, 2)
	profiles := 0
	for proc, path := range map[string]string{"game1": *movingProf, "gate1": *movingGateProf} {
		if path != "" {
			profiles++
			go func() {
				if err := fetchProfile(admins[proc], window-time.Second, path); err != nil {
					profErr <- fmt.Errorf("%s profile: %w", proc, err)
					return
				}
				profErr <- nil
			}()
		}
	}
	time.Sleep(window) // pacing: the load is defined by time
	t1 := time.Now()
	winTo.Store(int64(t1.Sub(epoch)))
	cpu1, self1, stats1, upd1, sent1 := cpuOf(b, pids), procstat.SelfCPU(), sumStats(ws), sumUpdates(ws), sent.Load()
	gr1, gw1 := syscallsOf(b, pids["gate1"])
	met1 := scrape(b, admins["game1"])
	all, near, maxGap, open, gapsN := gapFigures(ws, int64(t1.Sub(epoch)))
	secs := t1.Sub(t0).Seconds()
	b.Logf("load average after the window: %s", loadAverage())
	if walkers > 0 && logHas(gameLog, "walkers stopped") {
		b.Fatal(errWalkersTooEarly)
	}
	if err := <-moverErr; err != nil {
		b.Fatal(err)
	}
	for range profiles {
		if err := <-profErr; err != nil {
			b.Error(err)
		}
	}
	moved := time.Since(start)

	for i, w := range ws {
		if d := w.lost.Load(); d != nil {
			b.Fatalf("client %d disconnected: %s", i, d.Reason)
		}
	}

	// Everyone stopped: each view must come to hold exactly the players
	// within the AOI radius (the rule of package aoi), at their last
	// positions; and, with walkers, those of the walkers (see
	// walkersMatch).
	if walkers > 0 {
		if !pollLog(gameLog, "walkers stopped", walkersFor+waitTimeout) {
			b.Fatalf("the server's walkers did not stop")
		}
	}
	converged := 0 // clients whose view matched; a matched view stays so
	var viewSum int
	match := func() bool {
		for ; converged < n; converged++ {
			v, ok := viewMatches(ws, converged, walkers > 0, *movingView)
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
	if walkers > 0 {
		// The walkers' last steps reach the clients at the next syncs.
		var seen int
		var err error
		if !h.wait(func() bool { seen, err = walkersMatch(ws); return err == nil }) {
			b.Fatalf("after %v: %v", waitTimeout, err)
		}
		b.ReportMetric(float64(seen), "walkers-in-views")
	}

	avgView := float64(viewSum) / float64(n)
	b.ReportMetric(float64(sent.Load())/moved.Seconds(), "moves-sent/s")
	b.ReportMetric(float64(sent1-sent0)/secs/float64(moveRate*n)*100, "moves-sent-%-of-due")
	b.ReportMetric(float64(lag.Load())/1e6, "sender-lag-max-ms")
	b.ReportMetric(avgView, "avg-view")
	perClient := float64(upd1-upd0) / secs / float64(n)
	b.ReportMetric(perClient, "positions-in/s/client")
	if walkers == 0 {
		// Every neighbour moves moveRate times a second and each sync
		// sends a mover once: about avg-view × moveRate positions a
		// second reach a client unless a sync budget holds some back
		// (or moves coalesce). (With walkers, avg-view counts only the
		// players.)
		b.ReportMetric(perClient/(avgView*moveRate)*100, "positions-%-of-moves")
	}
	b.ReportMetric(all.quantile(0.5), "gap-p50-ms")
	b.ReportMetric(all.quantile(0.9), "gap-p90-ms")
	b.ReportMetric(all.quantile(0.99), "gap-p99-ms")
	b.ReportMetric(near.quantile(0.9), "near-gap-p90-ms")
	b.ReportMetric(float64(maxGap.Milliseconds()), "gap-max-ms")
	b.ReportMetric(float64(open.Milliseconds()), "open-max-ms")
	// The server sends a neighbour at most once per sync (100 ms): gaps
	// far shorter than that are positions that reached the benchmark's
	// event pump late and then together, a sign that the load side (or
	// the machine) lags rather than the servers.
	b.ReportMetric(all.below(50)*100, "gaps-under-50ms-%")
	b.ReportMetric(float64(gapsN)/secs/float64(n), "gaps/s/client")
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
	// The gate's system calls (its CPU is mostly them): a client's frames
	// of one sync interval should leave in one write.
	b.ReportMetric(float64(gw1-gw0)/secs/float64(n), "gate-writes/s/client")
	b.ReportMetric(float64(gr1-gr0)/secs/float64(n), "gate-reads/s/client")
	b.ReportMetric((self1-self0).Seconds()/secs*100, "bench-CPU-%")
	// Server CPU, and the load side's, per position delivered to a
	// client (the load side's includes sending the moves).
	if d := upd1 - upd0; d > 0 {
		b.ReportMetric(float64(servers.Microseconds())/float64(d), "server-µs/position")
		b.ReportMetric(float64((self1-self0).Microseconds())/float64(d), "bench-µs/position")
	}
	// The game's position syncs apart from its other wake-ups (its
	// metrics: goworld_game_tick_seconds by kind), over the window.
	dm := met1.Delta(met0)
	if c, _ := dm.Sum("goworld_game_tick_seconds_count", "kind", "sync"); c > 0 {
		sum, _ := dm.Sum("goworld_game_tick_seconds_sum", "kind", "sync")
		b.ReportMetric(sum/c*1e3, "sync-mean-ms")
		b.ReportMetric(c/secs, "syncs/s")
		b.ReportMetric(sum/secs*100, "sync-%-of-game-loop-time")
		if q, ok := dm.Quantile(0.99, "goworld_game_tick_seconds", "kind", "sync"); ok {
			b.ReportMetric(q*1e3, "sync-p99-ms")
		}
	}
	if c, _ := dm.Sum("goworld_game_tick_seconds_count", "kind", "timers"); c > 0 && walkers > 0 {
		sum, _ := dm.Sum("goworld_game_tick_seconds_sum", "kind", "timers")
		b.ReportMetric(sum/secs*100, "timers-%-of-game-loop-time") // the walkers' steps
	}
	if mv, _ := dm.Sum("goworld_game_aoi_moves_total"); mv > 0 {
		spent, _ := dm.Sum("goworld_game_aoi_move_seconds_total")
		b.ReportMetric(mv/secs, "aoi-moves/s")
		if walkers > 0 {
			// The walkers' steps: the game's moves less the clients'.
			steps := (mv - float64(sent1-sent0)) / secs
			b.ReportMetric(steps, "walker-steps/s")
			b.ReportMetric(steps/(float64(walkers)*float64(time.Second)/float64(*movingEvery))*100, "walker-steps-%-of-due")
		}
		b.ReportMetric(spent/mv*1e9, "ns/aoi-move")
	}
}

// viewMatches reports whether client i's view holds exactly the others
// within demo.AOIRadius of it (dx²+dz² ≤ r² in float64, as package aoi
// decides), each at its last position, and returns the number of those
// players. With walkers, the view may also hold walkers, which
// walkersMatch checks once every view has settled.
func viewMatches(ws []*walker, i int, walkers bool, limit int) (int, bool) {
	w := ws[i]
	want := 0
	var held, unheld []float64
	for j, q := range ws {
		if j == i {
			continue
		}
		dx := float64(q.pos.X) - float64(w.pos.X)
		dz := float64(q.pos.Z) - float64(w.pos.Z)
		d2 := dx*dx + dz*dz
		if d2 > demo.AOIRadius*demo.AOIRadius {
			continue
		}
		want++
		e, ok := w.c.Entity(q.id)
		switch {
		case ok && e.Pos != q.pos:
			return 0, false
		case ok:
			held = append(held, d2)
		case limit == 0:
			return 0, false
		default:
			unheld = append(unheld, d2)
		}
	}
	if limit > 0 {
		// The nearest, up to the limit (see TestViewLimitInACrowd).
		if nearestProblem(held, unheld, limit) != "" {
			return 0, false
		}
		want = len(held)
	}
	// The view also holds the player itself.
	if !walkers {
		return want, w.c.NumEntities() == want+1
	}
	players := 0
	for _, e := range w.c.Entities() {
		if e.Type != walkerType {
			players++
		}
	}
	return want, players == want+1
}

// walkersMatch checks the walkers in the clients' views once everyone
// stands still. The benchmark does not know where the server put its
// walkers, so it takes what the views say as the truth, checked for
// consistency: no two clients may hold a walker at different positions,
// each walker a client holds must be within its radius, and each walker
// some client holds within another client's radius must be in that one's
// view too. (A walker no client sees is not checked.) It returns how many
// distinct walkers the views hold.
func walkersMatch(ws []*walker) (int, error) {
	truth := map[rpc.EntityID]rpc.Vector3{}
	views := make([][]client.Entity, len(ws))
	for i, w := range ws {
		for _, e := range w.c.Entities() {
			if e.Type != walkerType {
				continue
			}
			views[i] = append(views[i], e)
			if p, ok := truth[e.ID]; ok && p != e.Pos {
				return 0, fmt.Errorf("walker %s: client %d holds it at %v, another at %v", e.ID, i, e.Pos, p)
			}
			truth[e.ID] = e.Pos
		}
	}
	within := func(w *walker, p rpc.Vector3) bool {
		dx := float64(p.X) - float64(w.pos.X)
		dz := float64(p.Z) - float64(w.pos.Z)
		return dx*dx+dz*dz <= demo.AOIRadius*demo.AOIRadius
	}
	for i, w := range ws {
		for _, e := range views[i] {
			if !within(w, e.Pos) {
				return 0, fmt.Errorf("client %d at %v holds walker %s at %v, out of its radius", i, w.pos, e.ID, e.Pos)
			}
		}
		held := make(map[rpc.EntityID]bool, len(views[i]))
		for _, e := range views[i] {
			held[e.ID] = true
		}
		for id, p := range truth {
			if within(w, p) && !held[id] {
				return 0, fmt.Errorf("client %d at %v does not hold walker %s at %v, which another client sees there", i, w.pos, id, p)
			}
		}
	}
	return len(truth), nil
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

// syscallsOf returns the read-like and write-like system calls pid made
// so far.
func syscallsOf(b *testing.B, pid int) (reads, writes int64) {
	b.Helper()
	r, w, err := procstat.Syscalls(pid)
	if err != nil {
		b.Fatalf("system calls of pid %d: %v", pid, err)
	}
	return r, w
}

// scrape fetches a process's metrics from its admin address.
func scrape(b *testing.B, admin string) metrics.Samples {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatalf("metrics of %s: %v", admin, err)
	}
	defer resp.Body.Close()
	ss, err := metrics.Parse(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		b.Fatalf("metrics of %s: %v", admin, err)
	}
	return ss
}

// fetchProfile writes a CPU profile of d of the process at admin to path.
func fetchProfile(admin string, d time.Duration, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// logHas reports whether the log file holds a line containing s.
func logHas(path, s string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(s)) {
			return true
		}
	}
	return false
}

// pollLog waits until the log file holds a line containing s, checking
// every 100 ms, for at most d (the game says so only in its log).
func pollLog(path, s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !logHas(path, s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond) // polling a file, with a deadline
	}
	return true
}

// loadAverage is /proc/loadavg's first three fields ("?" elsewhere).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
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
