package space

import (
	"math/rand/v2"
	"testing"
)

// nullOut counts what a Space outputs and does nothing else.
type nullOut struct{ creates, destroys, positions int }

func (o *nullOut) Create(viewer, target ID)           { o.creates++ }
func (o *nullOut) Destroy(viewer, target ID)          { o.destroys++ }
func (o *nullOut) Positions(viewer ID, targets []ID)  { o.positions += len(targets) }
func (o *nullOut) AOI(watcher, target ID, enter bool) {}

// benchTick measures one position-sync interval of a space where every
// member moves a step and then Sync runs: the game loop's cost per tick.
func benchTick(b *testing.B, n int, size, radius float64, viewers int) {
	rng := rand.New(rand.NewPCG(1, 2))
	out := &nullOut{}
	s := New(Config{CellSize: radius}, out)
	xs, zs := make([]float64, n), make([]float64, n)
	for i := range n {
		xs[i], zs[i] = rng.Float64()*size, rng.Float64()*size
		if _, err := s.Add(xs[i], zs[i], radius, i < viewers); err != nil {
			b.Fatal(err)
		}
	}
	for range 50 { // show everything before measuring
		s.Sync()
	}
	*out = nullOut{}
	b.ResetTimer()
	for range b.N {
		for i := range n {
			xs[i] += rng.Float64()*2 - 1
			zs[i] += rng.Float64()*2 - 1
			if err := s.Move(ID(i+1), xs[i], zs[i], true); err != nil {
				b.Fatal(err)
			}
		}
		s.Sync()
	}
	b.StopTimer()
	b.ReportMetric(float64(out.positions)/float64(b.N), "positions/tick")
	b.ReportMetric(float64(out.creates+out.destroys)/float64(b.N), "creates+destroys/tick")
	m, c, p := s.Backlog()
	b.ReportMetric(float64(m+c+p), "backlog")
}

// BenchmarkTick: 10,000 entities on a 10,000×10,000 map (1,000 of them
// clients), and 1,000 on 1,000×1,000 (all clients, ~30 in view each).
func BenchmarkTick(b *testing.B) {
	b.Run("n=10000/map=10000/viewers=1000", func(b *testing.B) { benchTick(b, 10000, 10000, 100, 1000) })
	b.Run("n=1000/map=1000/viewers=1000", func(b *testing.B) { benchTick(b, 1000, 1000, 100, 1000) })
}

// BenchmarkCrowdTick: a thousand clients on one spot, all moving every
// tick: a million (mover, watcher) pairs. SyncWork and SyncLimit bound
// what one tick does; the backlog metric shows what waits.
func BenchmarkCrowdTick(b *testing.B) {
	b.Run("n=1000/default-bounds", func(b *testing.B) { benchTick(b, 1000, 10, 100, 1000) })
}
