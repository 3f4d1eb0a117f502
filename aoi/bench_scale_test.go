package aoi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/goworld-engine/goworld/internal/procstat"
)

// Benchmarks of issue 18: crowds, mixed and wide radii, a cell size that
// does not match the radius, and 100,000 entities. Each compares, in one
// run, the Grid with the grid as it was before (oldgrid_test.go) and,
// where they fit in memory and time, the cross-linked list and the brute
// force.
//
//	go test -run XXX -bench 'Crowd|Radii|Scale' -benchmem -cpu 1 -timeout 60m ./aoi/

// scaleImpl makes an implementation with the given cell size (the
// cross-linked list and the brute force have none).
type scaleImpl struct {
	name string
	mk   func(cell float64, cb Callbacks) impl
}

var (
	implGrid    = scaleImpl{"grid", func(cell float64, cb Callbacks) impl { return NewGrid(cell, cb) }}
	implOldGrid = scaleImpl{"oldgrid", func(cell float64, cb Callbacks) impl { return newOldGrid(cell, cb) }}
	implXZList  = scaleImpl{"xzlist", func(_ float64, cb Callbacks) impl { return newXZList(cb) }}
	implBrute   = scaleImpl{"brute", func(_ float64, cb Callbacks) impl { return newRef(cb) }}
)

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCrowd: 5,000 entities of radius 100 (cell 100) uniformly in a
// disk of radius 50, so that each sees all the others (25 million pairs),
// or of radius 100 (disk=100: 58% of the pairs, and the moves change
// some). build: one op inserts all of them into an empty AOI; MiB is the
// heap the AOI holds then. move: one op is a round in which each moves by
// a small random step (up to 5 on each axis) that keeps it in the disk.
func BenchmarkCrowd(b *testing.B) {
	for _, spread := range []float64{50, 100} {
		b.Run(fmt.Sprintf("disk=%v", spread), func(b *testing.B) { benchCrowd(b, spread) })
	}
}

func benchCrowd(b *testing.B, spread float64) {
	const (
		n      = 5000
		radius = 100
	)
	rng := rand.New(rand.NewPCG(3, 4))
	x, z := make([]float64, n), make([]float64, n)
	for i := range n {
		for {
			x[i], z[i] = (rng.Float64()*2-1)*spread, (rng.Float64()*2-1)*spread
			if x[i]*x[i]+z[i]*z[i] <= spread*spread {
				break
			}
		}
	}
	steps := make([]float64, 1<<16)
	for i := range steps {
		steps[i] = (rng.Float64()*2 - 1) * benchStep
	}
	build := func(im scaleImpl, cb Callbacks) impl {
		s := im.mk(radius, cb)
		for i := range n {
			if err := s.Insert(ID(i), x[i], z[i], radius); err != nil {
				panic(err)
			}
		}
		return s
	}
	for _, im := range []scaleImpl{implGrid, implOldGrid, implBrute} {
		if spread > 50 {
			break // the same as disk=50
		}
		b.Run("build/"+im.name, func(b *testing.B) {
			cb := &counter{}
			var mib float64
			for range b.N {
				b.StopTimer()
				before := heapInUse()
				b.StartTimer()
				s := build(im, cb)
				b.StopTimer()
				mib = float64(heapInUse()-before) / (1 << 20)
				runtime.KeepAlive(s)
				b.StartTimer()
			}
			b.ReportMetric(mib, "MiB")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/insert")
			b.ReportMetric(float64(cb.enters)/float64(b.N*n), "events/insert")
		})
	}
	for _, im := range []scaleImpl{implGrid, implOldGrid, implBrute} {
		var s impl
		cb := &counter{}
		px, pz := slicesClone(x), slicesClone(z)
		at := 0
		b.Run("move/"+im.name, func(b *testing.B) {
			if s == nil {
				s = build(im, cb)
			}
			cb.enters, cb.leaves = 0, 0
			b.ResetTimer()
			cpu0 := procstat.SelfCPU()
			for range b.N {
				for i := range n {
					at = (at + 2) & (len(steps) - 1)
					nx, nz := px[i]+steps[at], pz[i]+steps[at+1]
					if nx*nx+nz*nz > spread*spread {
						nx, nz = px[i]-steps[at], pz[i]-steps[at+1]
						if nx*nx+nz*nz > spread*spread {
							nx, nz = px[i]*0.99, pz[i]*0.99
						}
					}
					px[i], pz[i] = nx, nz
					if err := s.Move(ID(i), nx, nz); err != nil {
						b.Fatal(err)
					}
				}
			}
			ops := float64(b.N) * n
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ops, "ns/move")
			b.ReportMetric(float64(cb.enters+cb.leaves)/ops, "events/move")
			b.ReportMetric(float64(procstat.SelfCPU()-cpu0)/ops, "cpu-ns/move")
		})
	}
}

func slicesClone(s []float64) []float64 { return append([]float64(nil), s...) }

// scaleCase is a move-round benchmark: n entities uniformly on a
// world×world map, cell size cell, radius(i) for entity i. A round moves
// them in ID order (which is also the order in which they were inserted,
// so the order of their records in memory), or, if shuffled, in a random
// order fixed before the timer starts, as clients move their players.
type scaleCase struct {
	name     string
	n        int
	world    float64
	cell     float64
	radius   func(i int) float64
	impls    []scaleImpl
	shuffled bool
}

func (sc scaleCase) run(b *testing.B) {
	for _, im := range sc.impls {
		var st *benchState
		var mib float64 // heap held by the AOI after inserting all
		var order []ID  // the IDs in the order a round moves them; st.x[k] is order[k]'s
		b.Run(sc.name+"/"+im.name, func(b *testing.B) {
			if st == nil {
				st = &benchState{cb: &counter{}, world: sc.world, rng: rand.New(rand.NewPCG(1, 2))}
				st.x, st.z = make([]float64, sc.n), make([]float64, sc.n)
				for i := range sc.n {
					st.x[i], st.z[i] = st.rng.Float64()*sc.world, st.rng.Float64()*sc.world
				}
				before := heapInUse()
				st.s = im.mk(sc.cell, st.cb)
				for i := range sc.n {
					if err := st.s.Insert(ID(i), st.x[i], st.z[i], sc.radius(i)); err != nil {
						b.Fatal(err)
					}
				}
				mib = float64(heapInUse()-before) / (1 << 20)
				st.steps = make([]float64, 1<<16+1)
				for i := range st.steps {
					st.steps[i] = (st.rng.Float64()*2 - 1) * benchStep
				}
				order = make([]ID, sc.n)
				for i := range order {
					order[i] = ID(i)
				}
				if sc.shuffled {
					// st.x and st.z follow the order, so that the
					// benchmark's own reads stay sequential.
					st.rng.Shuffle(len(order), func(i, j int) {
						order[i], order[j] = order[j], order[i]
						st.x[i], st.x[j] = st.x[j], st.x[i]
						st.z[i], st.z[j] = st.z[j], st.z[i]
					})
				}
			}
			st.cb.enters, st.cb.leaves = 0, 0
			b.ResetTimer()
			st.cpu0 = procstat.SelfCPU()
			for range b.N {
				for k, id := range order {
					x, z := st.bounce(st.x[k]+st.step()), st.bounce(st.z[k]+st.step())
					st.x[k], st.z[k] = x, z
					if err := st.s.Move(id, x, z); err != nil {
						b.Fatal(err)
					}
				}
			}
			st.report(b, sc.n, "move")
			b.ReportMetric(mib, "MiB")
		})
	}
}

// BenchmarkRadii: move rounds of 10,000 entities on a 10,000×10,000 map
// (as BenchmarkMoveRound), radius 100, with: one entity of radius 199 or
// 1000 (ten cells); 1% of radius 1000; radii uniform from 0 to 1000; and a
// cell of 40 for radius 100 (a cell size that does not match).
func BenchmarkRadii(b *testing.B) {
	all := []scaleImpl{implGrid, implOldGrid, implXZList}
	fixed := func(r float64) func(int) float64 { return func(int) float64 { return r } }
	uniform := func(i int) float64 { return float64((i * 7919) % 1001) } // 0..1000, spread evenly
	cases := []scaleCase{
		{"r=100", benchN, 10000, 100, fixed(100), all, false},
		{"r=100+one199", benchN, 10000, 100, func(i int) float64 {
			if i == 0 {
				return 199
			}
			return 100
		}, all, false},
		{"r=100+one1000", benchN, 10000, 100, func(i int) float64 {
			if i == 0 {
				return 1000
			}
			return 100
		}, all, false},
		{"r=100+1%1000", benchN, 10000, 100, func(i int) float64 {
			if i%100 == 0 {
				return 1000
			}
			return 100
		}, all, false},
		{"r=0..1000", benchN, 10000, 100, uniform, all, false},
		{"cell=40/r=100", benchN, 10000, 40, fixed(100), all, false},
	}
	for _, sc := range cases {
		sc.run(b)
	}
}

// BenchmarkScale: move rounds at 10,000 and 100,000 entities, radius 100,
// cell 100, at the same density (10,000×10,000 and 31,623×31,623). The
// brute force is left out at 100,000 (its visibility matrix alone would
// take 1.25 GB) and so is the cross-linked list (its inserts walk the
// lists from the head: about 5·10^9 steps to build). n=N/grid moves the
// entities in ID order, n=N/random/grid in a random order (fixed before
// the timer), as a game's clients do: at 100,000 every move's first
// loads then come from memory.
func BenchmarkScale(b *testing.B) {
	fixed := func(int) float64 { return benchRadius }
	for _, sc := range []scaleCase{
		{"n=10000", 10000, 10000, 100, fixed, []scaleImpl{implGrid, implOldGrid}, false},
		{"n=100000", 100000, 10000 * math.Sqrt(10), 100, fixed, []scaleImpl{implGrid, implOldGrid}, false},
		{"n=10000/random", 10000, 10000, 100, fixed, []scaleImpl{implGrid}, true},
		{"n=100000/random", 100000, 10000 * math.Sqrt(10), 100, fixed, []scaleImpl{implGrid}, true},
	} {
		sc.run(b)
	}
}

// BenchmarkWideMove: the moves of one entity of radius ten cells (cell
// 10) in steps of up to 3 units, among 6,561 small entities (radius 5,
// four in each cell of a 400×400 square): the case where searching the
// wide entity's whole square, rather than the cells its circle crosses,
// costs most. One op is one move of the wide entity.
//
//	go test -run XXX -bench WideMove -cpu 1 ./aoi/
func BenchmarkWideMove(b *testing.B) {
	for _, im := range []scaleImpl{implGrid, implOldGrid} {
		b.Run(im.name, func(b *testing.B) {
			cb := &counter{}
			s := im.mk(10, cb)
			id := ID(1)
			for x := -200.0; x <= 200; x += 5 {
				for z := -200.0; z <= 200; z += 5 {
					if err := s.Insert(id, x+0.5, z+0.5, 5); err != nil {
						b.Fatal(err)
					}
					id++
				}
			}
			if err := s.Insert(0, 0, 0, 100); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 8))
			x, z := 0.0, 0.0
			b.ResetTimer()
			cpu0 := procstat.SelfCPU()
			for range b.N {
				x, z = x+rng.Float64()*6-3, z+rng.Float64()*6-3
				// Stay within the square: turn back towards the centre.
				if math.Abs(x) > 80 || math.Abs(z) > 80 {
					x, z = x*0.9, z*0.9
				}
				if err := s.Move(0, x, z); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(procstat.SelfCPU()-cpu0)/float64(b.N), "cpu-ns/move")
			b.ReportMetric(float64(cb.enters+cb.leaves)/float64(b.N), "events/move")
		})
	}
}

// BenchmarkFarOutMove: the moves of one small entity (radius 10, cell
// 10) among n others of the same radius spread over 1000×1000, with the
// mover far from them at x = 1e6, 1e12 or 3e38 (the largest float32
// coordinate a client may send is about 3.4e38). Beyond about 10^9 cell
// sizes from the origin the searches' margin for rounding spans more
// cells than there are entities, and they compare every entity instead
// (the package doc): a move's cost grows with n there. One op is one
// move of the far entity, by a ten-millionth of its distance.
//
//	go test -run XXX -bench FarOutMove -cpu 1 ./aoi/
func BenchmarkFarOutMove(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		for _, far := range []float64{1e6, 1e12, 3e38} {
			b.Run(fmt.Sprintf("n=%d/x=%g", n, far), func(b *testing.B) {
				g := NewGrid(10, &counter{})
				rng := rand.New(rand.NewPCG(1, 2))
				for i := 1; i <= n; i++ {
					if err := g.Insert(ID(i), rng.Float64()*1000, rng.Float64()*1000, 10); err != nil {
						b.Fatal(err)
					}
				}
				if err := g.Insert(0, far, 0, 10); err != nil {
					b.Fatal(err)
				}
				step := far * 1e-7
				b.ResetTimer()
				for i := range b.N {
					if err := g.Move(0, far+float64(i%2)*step, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
