package space

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/procstat"
)

// pushRouter is the routing of moves as it was before 7 December, kept
// for side-by-side benchmarks: from the movers' side, each mover's
// watchers from the grid, oldest mover first, until SyncWork pairs. With
// countAll every watcher counts (as before); without, only those with a
// client (the other option the issue named).
type pushRouter struct {
	countAll bool
	queued   []bool // by ID: in moved
	moved    []ID
	last     uint64 // the last epoch collected
}

// sync routes with the old rule, then lets Sync send (its own routing
// then finds nothing to do).
func (p *pushRouter) sync(s *Space) {
	cur := s.epoch
	if len(p.queued) < len(s.slots) {
		p.queued = slices.Grow(p.queued, len(s.slots)-len(p.queued))[:len(s.slots)]
	}
	for i, m := range s.slots {
		if id := ID(i); m.used && m.movedAt > p.last && !p.queued[id] {
			p.queued[id] = true
			p.moved = append(p.moved, id)
		}
	}
	p.last = cur
	work, done := 0, 0
	for _, id := range p.moved {
		if work >= s.cfg.SyncWork {
			break
		}
		done++
		p.queued[id] = false
		s.grid.Watchers(id, func(w ID) bool {
			if p.countAll {
				work++
			}
			if v := s.slots[w].view; v != nil {
				if !p.countAll {
					work++
				}
				v.queuePos(id)
			}
			return true
		})
	}
	p.moved = p.moved[:copy(p.moved, p.moved[done:])]
	for _, v := range s.viewers {
		v.routed = s.lastMove
	}
	s.unlist()
	s.leftover = false
	s.Sync()
}

// gapOut records, per (viewer, target) pair, the Sync at which the
// viewer's client last got the target's position (a create carries one),
// and the gaps between them in Syncs.
type gapOut struct {
	tick int32
	last map[uint64]int32
	gaps []int32
	near []int32 // the gaps of neighbours within half the radius
	sent int
	// churn counts creates and destroys.
	churn int
	s     *Space
	// countOnly: count what is sent and record nothing, so that the time
	// measured is the Space's alone (the recorder's map of all pairs costs
	// about as much as the Sync it records).
	countOnly bool
}

func (o *gapOut) Create(viewer, target ID) {
	o.churn++
	if !o.countOnly {
		o.last[uint64(viewer)<<32|uint64(target)] = o.tick
	}
}
func (o *gapOut) Destroy(viewer, target ID) {
	o.churn++
	if !o.countOnly {
		delete(o.last, uint64(viewer)<<32|uint64(target))
	}
}
func (o *gapOut) Positions(viewer ID, targets []ID) {
	o.sent += len(targets)
	if o.countOnly {
		return
	}
	for _, t := range targets {
		k := uint64(viewer)<<32 | uint64(t)
		if l, ok := o.last[k]; ok && t != viewer {
			o.gaps = append(o.gaps, o.tick-l)
			vx, vz, _ := o.s.grid.Position(viewer)
			x, z, _ := o.s.grid.Position(t)
			if (x-vx)*(x-vx)+(z-vz)*(z-vz) < 50*50 {
				o.near = append(o.near, o.tick-l)
			}
		}
		o.last[k] = o.tick
	}
}
func (o *gapOut) AOI(watcher, target ID, enter bool) {}

// benchWalk: n members on a size×size map with radius 100, the first
// viewers of them clients, all walking a random step of up to 5 units on
// each axis per Sync (the end-to-end benchmark's 10 steps a second at one
// Sync per 100 ms). Each b.N is one Sync interval. It reports the gaps
// between the position updates a client gets of each neighbour, in Sync
// intervals (p50/p90/p99 over all updates; near-gap-p90: p90 of the
// neighbours within half the radius; open-max: the longest a pair
// still held at the end has waited), the positions sent per interval and
// the time Sync (routing and sending, with the recorder's bookkeeping)
// takes, in wall time and in the process's CPU time (sync-cpu-µs; on a
// shared machine the wall time includes waiting for a core). A mode
// ending in "+nop" records nothing, only counts: its times are the
// Space's alone, what a game pays besides encoding the messages.
func benchWalk(b *testing.B, n, viewers int, size float64, cfg Config, mode string) {
	benchWalkers(b, n, viewers, n, size, cfg, mode)
}

// benchWalkers is benchWalk where only the last walkers members walk.
func benchWalkers(b *testing.B, n, viewers, walkers int, size float64, cfg Config, mode string) {
	rng := rand.New(rand.NewPCG(3, 4))
	mode, nop := strings.CutSuffix(mode, "+nop")
	out := &gapOut{last: map[uint64]int32{}, countOnly: nop}
	cfg.CellSize = 100
	s := New(cfg, out)
	out.s = s
	var push *pushRouter
	switch mode {
	case "before":
		push = &pushRouter{countAll: true}
		s.old = true
	case "push-viewers":
		push = &pushRouter{}
	case "pull-only":
		s.pullOnly = true
	}
	sync := func() {
		if push != nil {
			push.sync(s)
		} else {
			s.Sync()
		}
		out.tick++
	}
	xs, zs := make([]float64, n), make([]float64, n)
	for i := range n {
		xs[i], zs[i] = rng.Float64()*size, rng.Float64()*size
		if _, err := s.Add(xs[i], zs[i], 100, i < viewers); err != nil {
			b.Fatal(err)
		}
	}
	walk := func() {
		for i := n - walkers; i < n; i++ {
			xs[i] = reflect(xs[i]+rng.Float64()*10-5, size)
			zs[i] = reflect(zs[i]+rng.Float64()*10-5, size)
			if err := s.Move(ID(i+1), xs[i], zs[i], true); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range 30 { // show everything, and reach the steady state
		walk()
		sync()
	}
	out.gaps, out.near, out.sent, out.churn = out.gaps[:0], out.near[:0], 0, 0
	var syncTime, syncCPU time.Duration
	b.ResetTimer()
	for range b.N {
		walk()
		t0, c0 := time.Now(), procstat.SelfCPU()
		sync()
		syncTime += time.Since(t0)
		syncCPU += procstat.SelfCPU() - c0
	}
	b.StopTimer()
	b.ReportMetric(float64(out.sent)/float64(b.N), "positions/sync")
	b.ReportMetric(float64(out.churn)/float64(b.N), "creates+destroys/sync")
	b.ReportMetric(float64(syncTime.Microseconds())/float64(b.N), "sync-µs")
	b.ReportMetric(float64(syncCPU.Microseconds())/float64(b.N), "sync-cpu-µs")
	if out.countOnly {
		return
	}
	open := int32(0)
	for _, l := range out.last {
		open = max(open, out.tick-l)
	}
	slices.Sort(out.gaps)
	slices.Sort(out.near)
	pct := func(g []int32, p float64) float64 {
		if len(g) == 0 {
			return 0
		}
		return float64(g[int(p*float64(len(g)-1))])
	}
	b.ReportMetric(pct(out.gaps, 0.5), "gap-p50")
	b.ReportMetric(pct(out.gaps, 0.9), "gap-p90")
	b.ReportMetric(pct(out.gaps, 0.99), "gap-p99")
	b.ReportMetric(pct(out.near, 0.9), "near-gap-p90")
	b.ReportMetric(float64(open), "open-max")
}

// reflect keeps v in [0, size].
func reflect(v, size float64) float64 {
	if v < 0 {
		return -v
	}
	if v > size {
		return 2*size - v
	}
	return v
}

// oldDefaults are the budgets that were the defaults before
// aoi_sync_total and aoi_sync_work became 128,000 (docs/performance.md,
// section 25).
var oldDefaults = Config{SyncTotal: 50_000, SyncWork: 50_000}

// BenchmarkWalkingViewers: 2,000 clients walking in one 1,000×1,000
// space (radius 100, ~57 in view each: 114,000 positions due per Sync),
// before (routing from the movers, every watcher counted, queued
// positions oldest first, SyncTotal first come, with the budgets that
// were the defaults then: oldDefaults) and now, with the default budgets,
// with the old ones, with aoi_sync_total and aoi_sync_work raised to what
// is due, and with those raised but aoi_sync_limit binding.
//
//	go test -run XXX -bench WalkingViewers -benchtime 100x -cpu 1 ./space/
func BenchmarkWalkingViewers(b *testing.B) {
	b.Run("n=2000/before", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, oldDefaults, "before") })
	b.Run("n=2000/now", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, Config{}, "now") })
	b.Run("n=2000/now/old-defaults", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, oldDefaults, "now") })
	b.Run("n=2000/now/cost", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, Config{}, "now+nop") })
	b.Run("n=2000/now/old-defaults/cost", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, oldDefaults, "now+nop") })
	raised := Config{SyncTotal: 120_000, SyncWork: 120_000}
	b.Run("n=2000/before/raised", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, raised, "before") })
	b.Run("n=2000/now/raised", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, raised, "now") })
	// The per-client budget binds: 24 of ~57 due.
	tight := Config{SyncLimit: 24, SyncTotal: 120_000, SyncWork: 120_000}
	b.Run("n=2000/before/limit=24", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, tight, "before") })
	b.Run("n=2000/now/limit=24", func(b *testing.B) { benchWalk(b, 2000, 2000, 1000, tight, "now") })
}

// BenchmarkManyMembersFewViewers: 100,000 members in one space (the
// density of 10,000 on 10,000×10,000), 1,000 of them clients, all
// walking. Routing moves three ways side by side: before (each mover's
// watchers, every watcher counted against SyncWork), the same counting
// only watchers with clients, and now (each viewer's neighbours).
//
//	go test -run XXX -bench ManyMembersFewViewers -benchtime 20x -cpu 1 ./space/
func BenchmarkManyMembersFewViewers(b *testing.B) {
	const n, viewers, size = 100_000, 1_000, 31_623
	b.Run("before", func(b *testing.B) { benchWalk(b, n, viewers, size, oldDefaults, "before") })
	b.Run("push-viewers", func(b *testing.B) { benchWalk(b, n, viewers, size, oldDefaults, "push-viewers") })
	b.Run("now", func(b *testing.B) { benchWalk(b, n, viewers, size, Config{}, "now") })
	b.Run("now/old-defaults", func(b *testing.B) { benchWalk(b, n, viewers, size, oldDefaults, "now") })
	b.Run("now/cost", func(b *testing.B) { benchWalk(b, n, viewers, size, Config{}, "now+nop") })
}

// BenchmarkStillCrowd: 2,000 members standing in a 300×300 square
// (~1,000 in view each), 500 of them clients, and 10 members walking
// through: routing from the viewers' side would examine 500,000 pairs per
// interval; from the movers', about 10,000. pull-only: this section's
// routing without the switch to the movers' side. open-max is meaningless
// here: members standing still are never sent a position.
//
//	go test -run XXX -bench StillCrowd -benchtime 50x -cpu 1 ./space/
func BenchmarkStillCrowd(b *testing.B) {
	b.Run("before", func(b *testing.B) { benchWalkers(b, 2000, 500, 10, 300, Config{}, "before") })
	b.Run("pull-only", func(b *testing.B) { benchWalkers(b, 2000, 500, 10, 300, Config{}, "pull-only") })
	b.Run("now", func(b *testing.B) { benchWalkers(b, 2000, 500, 10, 300, Config{}, "now") })
}

// BenchmarkCitySquare: 2,000 clients walking in a 300×300 square, each
// seeing about 700 of the others (radius 100): without a ViewLimit, and
// with one of 100 (each client holds its 100 nearest), with the default
// per-client budget (64) and with one that fits the limit (100), then
// with the space's budgets raised to what is due. The gaps are between
// the updates a client gets of the entities it holds; creates+destroys/sync
// is what the choosing costs the clients (all members walk up to 5 units
// a Sync on each axis: a restless crowd).
//
//	go test -run XXX -bench CitySquare -benchtime 50x -cpu 1 ./space/
func BenchmarkCitySquare(b *testing.B) {
	const n, size = 2000, 300
	b.Run("unlimited", func(b *testing.B) { benchWalk(b, n, n, size, Config{}, "now") })
	b.Run("unlimited/cost", func(b *testing.B) { benchWalk(b, n, n, size, Config{}, "now+nop") })
	b.Run("view=100", func(b *testing.B) { benchWalk(b, n, n, size, Config{ViewLimit: 100}, "now") })
	b.Run("view=100/limit=100", func(b *testing.B) { benchWalk(b, n, n, size, Config{ViewLimit: 100, SyncLimit: 100}, "now") })
	b.Run("view=100/limit=100/cost", func(b *testing.B) {
		benchWalk(b, n, n, size, Config{ViewLimit: 100, SyncLimit: 100}, "now+nop")
	})
	// aoi_sync_total and aoi_sync_work raised to what is due (2,000 × 100).
	raised := Config{ViewLimit: 100, SyncLimit: 100, SyncTotal: 200_000, SyncWork: 200_000}
	b.Run("view=100/limit=100/raised", func(b *testing.B) { benchWalk(b, n, n, size, raised, "now") })
	b.Run("view=100/limit=100/raised/cost", func(b *testing.B) { benchWalk(b, n, n, size, raised, "now+nop") })
}
