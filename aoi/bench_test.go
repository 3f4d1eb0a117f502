package aoi

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/procstat"
)

// The benchmarks compare, in one run, the Grid, the cross-linked list
// (xzList, as in xiaonanln/go-aoi) and the brute-force reference, with
// benchN entities of radius benchRadius on square maps.
//
//	go test -run XXX -bench . -benchmem -cpu 1 ./aoi/

const (
	benchN      = 10000
	benchRadius = 100
	benchStep   = 5 // a small step: up to 5 units on each axis
)

type counter struct{ enters, leaves int }

func (c *counter) Enter(w, t ID) { c.enters++ }
func (c *counter) Leave(w, t ID) { c.leaves++ }

var benchImpls = []struct {
	name string
	mk   func(Callbacks) impl
}{
	{"grid", func(cb Callbacks) impl { return NewGrid(benchRadius, cb) }},
	{"oldgrid", func(cb Callbacks) impl { return newOldGrid(benchRadius, cb) }},
	{"xzlist", func(cb Callbacks) impl { return newXZList(cb) }},
	{"brute", func(cb Callbacks) impl { return newRef(cb) }},
}

var benchMaps = []float64{1000, 10000}

type benchState struct {
	mk     func(Callbacks) impl
	s      impl
	cb     *counter
	world  float64
	x, z   []float64
	rng    *rand.Rand
	steps  []float64 // precomputed random steps, so that timing excludes the generator
	stepAt int
	cpu0   time.Duration // procstat.SelfCPU at the start of the timed loop, if it has no pauses
}

func newBenchState(mk func(Callbacks) impl, world float64, insert bool) *benchState {
	st := &benchState{mk: mk, cb: &counter{}, world: world, rng: rand.New(rand.NewPCG(1, 2))}
	st.s = mk(st.cb)
	st.x, st.z = make([]float64, benchN), make([]float64, benchN)
	for i := range benchN {
		st.x[i], st.z[i] = st.rng.Float64()*world, st.rng.Float64()*world
		if insert {
			if err := st.s.Insert(ID(i), st.x[i], st.z[i], benchRadius); err != nil {
				panic(err)
			}
		}
	}
	st.steps = make([]float64, 1<<16+1)
	for i := range st.steps {
		st.steps[i] = (st.rng.Float64()*2 - 1) * benchStep
	}
	return st
}

func (st *benchState) step() float64 {
	st.stepAt = (st.stepAt + 1) & (1<<16 - 1)
	return st.steps[st.stepAt]
}

// bounce keeps v on the map by reflecting it at the edges.
func (st *benchState) bounce(v float64) float64 {
	if v < 0 {
		return -v
	}
	if v > st.world {
		return 2*st.world - v
	}
	return v
}

func (st *benchState) report(b *testing.B, per int, unit string) {
	ops := float64(b.N) * float64(per)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ops, "ns/"+unit)
	b.ReportMetric(float64(st.cb.enters+st.cb.leaves)/ops, "events/"+unit)
	if st.cpu0 > 0 {
		b.ReportMetric(float64(procstat.SelfCPU()-st.cpu0)/ops, "cpu-ns/"+unit)
	}
}

// forEach runs fn for every implementation on every map, keeping one state
// per sub-benchmark across the calls with growing b.N.
func forEach(b *testing.B, insert bool, fn func(b *testing.B, st *benchState)) {
	for _, world := range benchMaps {
		for _, im := range benchImpls {
			var st *benchState
			b.Run(fmt.Sprintf("map=%d/%s", int(world), im.name), func(b *testing.B) {
				if st == nil {
					st = newBenchState(im.mk, world, insert)
				}
				st.cb.enters, st.cb.leaves = 0, 0
				st.cpu0 = 0
				b.ResetTimer()
				fn(b, st)
			})
		}
	}
}

// BenchmarkMoveRound: one op is a round in which each of the 10,000
// entities moves once by a small random step. cpu-ns/move is the CPU time
// of the process per move: on a shared machine, what the wall time
// (ns/move) is without the waits for a core.
func BenchmarkMoveRound(b *testing.B) {
	forEach(b, true, func(b *testing.B, st *benchState) {
		st.cpu0 = procstat.SelfCPU()
		for range b.N {
			for i := range benchN {
				x, z := st.bounce(st.x[i]+st.step()), st.bounce(st.z[i]+st.step())
				st.x[i], st.z[i] = x, z
				if err := st.s.Move(ID(i), x, z); err != nil {
					b.Fatal(err)
				}
			}
		}
		st.report(b, benchN, "move")
	})
}

// BenchmarkTeleportRound: one op is a round in which each entity jumps to
// a random spot on the map.
func BenchmarkTeleportRound(b *testing.B) {
	forEach(b, true, func(b *testing.B, st *benchState) {
		for range b.N {
			b.StopTimer()
			for i := range benchN {
				st.x[i], st.z[i] = st.rng.Float64()*st.world, st.rng.Float64()*st.world
			}
			b.StartTimer()
			for i := range benchN {
				if err := st.s.Move(ID(i), st.x[i], st.z[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		st.report(b, benchN, "move")
	})
}

// BenchmarkInsertAll: one op inserts all 10,000 entities into an empty
// AOI.
func BenchmarkInsertAll(b *testing.B) {
	forEach(b, false, func(b *testing.B, st *benchState) {
		for range b.N {
			b.StopTimer()
			st.s = nil // let the previous one go before making the next
			st.s = st.mk(st.cb)
			b.StartTimer()
			for i := range benchN {
				if err := st.s.Insert(ID(i), st.x[i], st.z[i], benchRadius); err != nil {
					b.Fatal(err)
				}
			}
		}
		st.report(b, benchN, "insert")
	})
}
