package entity

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// Walker has a name for all clients and an AOI radius of 10, and no
// hooks: the benchmark measures the engine, not test bookkeeping.
type Walker struct{ Entity }

func (w *Walker) DescribeEntityType(d *TypeDesc) {
	d.SetAOIRadius(10)
	d.DefineAttr("name", AttrAllClients)
}

// nullOutbox counts bytes and drops them.
type nullOutbox struct{ msgs, bytes int }

func (o *nullOutbox) NumDispatchers() int { return 1 }
func (o *nullOutbox) Send(i int, t rpc.MsgType, body []byte) {
	o.msgs++
	o.bytes += len(body)
}

// walkerWorld returns a World with the Zone and Walker types, whose
// frames go to a nullOutbox.
func walkerWorld(b *testing.B) (*World, *Engine, *nullOutbox) {
	reg := NewRegistry()
	if err := reg.Register("Zone", &Zone{}); err != nil {
		b.Fatal(err)
	}
	if err := reg.Register("Walker", &Walker{}); err != nil {
		b.Fatal(err)
	}
	out := &nullOutbox{}
	en, err := NewEngine(WorldConfig{GameID: 1, Registry: reg, Outbox: out})
	if err != nil {
		b.Fatal(err)
	}
	return en.World(), en, out
}

// BenchmarkWorldSyncTick is one position-sync interval of a game: n
// players with clients (on 4 gates), each moved once by its client, then
// SyncPositions encodes what every client must hear. It is the game
// loop's cost per tick, including message encoding, without the network.
func BenchmarkWorldSyncTick(b *testing.B) {
	for _, c := range []struct {
		name  string
		n     int
		size  float64
		crowd bool
	}{
		{"players=1000/map=1000", 1000, 1000, false},
		{"players=1000/crowd", 1000, 5, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			w, en, out := walkerWorld(b)
			rng := rand.New(rand.NewPCG(1, 1))
			var zone *Entity
			ps := make([]*Entity, c.n)
			en.Run(func() {
				zone, _ = w.CreateSpaceLocally("Zone", nil)
				for i := range ps {
					ps[i], _ = w.CreateEntityLocally("Walker", map[string]any{"name": "p"})
					ps[i].setClient(&ClientRef{Gate: rpc.GateID(1 + i%4), ID: rpc.ClientID(i + 1)})
					ps[i].EnterSpace(zone.ID(), Vector3{X: float32(rng.Float64() * c.size), Z: float32(rng.Float64() * c.size)})
				}
			})
			for range 50 {
				en.SyncPositions()
			}
			*out = nullOutbox{}
			b.ResetTimer()
			for range b.N {
				for _, p := range ps {
					pos := p.Position()
					pos.X += float32(rng.Float64()*2 - 1)
					pos.Z += float32(rng.Float64()*2 - 1)
					w.clientPosition(p.ID(), *p.client, zone.ID(), pos, 0)
				}
				en.FlushClients()
				en.SyncPositions()
			}
			b.StopTimer()
			b.ReportMetric(float64(out.bytes)/float64(b.N)/float64(c.n), "bytes/client/tick")
			b.ReportMetric(float64(out.msgs)/float64(b.N), "msgs/tick")
		})
	}
}

// BenchmarkAttrFanOut is one synced attribute change of a player seen by
// 49 others (on 4 gates): encoding the change and grouping its receivers
// by gate, as the game loop does for every AttrAllClients change.
func BenchmarkAttrFanOut(b *testing.B) {
	en, ps, out := crowdOf50(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ps[i%len(ps)].Attrs.Set("name", "q")
		en.FlushClients()
	}
	b.StopTimer()
	if out.msgs < b.N {
		b.Fatalf("%d messages for %d changes", out.msgs, b.N)
	}
}

// crowdOf50 returns a world with 50 players with clients (on 4 gates)
// who all see each other, synced and flushed, its frames going to out
// (reset).
func crowdOf50(b *testing.B) (*Engine, []*Entity, *nullOutbox) {
	w, en, out := walkerWorld(b)
	ps := make([]*Entity, 50)
	en.Run(func() {
		zone, _ := w.CreateSpaceLocally("Zone", nil)
		for i := range ps {
			ps[i], _ = w.CreateEntityLocally("Walker", map[string]any{"name": "p"})
			ps[i].setClient(&ClientRef{Gate: rpc.GateID(1 + i%4), ID: rpc.ClientID(i + 1)})
			ps[i].EnterSpace(zone.ID(), Vector3{X: float32(i % 5), Z: float32(i / 5)})
		}
	})
	en.SyncPositions()
	en.FlushClients()
	*out = nullOutbox{}
	return en, ps, out
}

// BenchmarkCallNearby is one call that the 49 other players of a crowd
// of 50 (on 4 gates, all seeing each other) must get, as the game sends
// it and flushes it: "nearby" with CallOtherNearbyClients (one call on
// the actor, encoded once, one frame per gate for its clients), "each"
// as a game without it does, a CallClient on every neighbour's own
// player. bytes/call is what the game hands its dispatchers.
func BenchmarkCallNearby(b *testing.B) {
	for _, way := range []string{"nearby", "each"} {
		b.Run(way, func(b *testing.B) {
			en, ps, out := crowdOf50(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p := ps[i%len(ps)]
				if way == "nearby" {
					p.CallOtherNearbyClients("OnEmote", "wave")
				} else {
					id := string(p.ID())
					p.Neighbors(func(n *Entity) bool {
						n.CallClient("OnEmote", id, "wave")
						return true
					})
				}
				en.FlushClients()
			}
			b.StopTimer()
			if out.msgs < b.N {
				b.Fatalf("%d messages for %d calls", out.msgs, b.N)
			}
			b.ReportMetric(float64(out.bytes)/float64(b.N), "bytes/call")
		})
	}
}

// BigZone is a space of cell size 100, for BenchmarkServerStep.
type BigZone struct{ Entity }

func (z *BigZone) DescribeEntityType(d *TypeDesc) { d.DefineSpace(100) }

// Roamer is a member with the players' AOI radius of 100 and no hooks.
type Roamer struct{ Entity }

func (r *Roamer) DescribeEntityType(d *TypeDesc) {
	d.SetAOIRadius(100)
	d.DefineAttr("name", AttrAllClients)
}

// BenchmarkServerStep is one step of every member of a space of n
// (1 % of them with clients, on 4 gates) at the density of 10,000 on
// 10,000×10,000 with radius 100: SetPosition by up to 5 units on each
// axis, as the aoi demo's walkers step. The order of the steps is what
// decides the cost at 100,000 (memory, not arithmetic): "random" steps
// the members in a random order fixed before the timer starts (players
// moved by their clients), "created" in the order they were created at
// random spots (the aoi demo's walkers), "spatial" in the order they
// were created row of cells by row of cells (a spawner that fills the
// map region by region). It reports the step's cost on the game loop, and the
// share of it spent in the space (grid, views, AOI reports) as the
// engine's aoi_move metric measures it. A position sync runs every n/10
// steps, as it would at 10 steps a second per member.
func BenchmarkServerStep(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, order := range []string{"random", "created", "spatial"} {
			b.Run(fmt.Sprintf("n=%d/order=%s", n, order), func(b *testing.B) {
				reg := NewRegistry()
				if err := reg.Register("BigZone", &BigZone{}); err != nil {
					b.Fatal(err)
				}
				if err := reg.Register("Roamer", &Roamer{}); err != nil {
					b.Fatal(err)
				}
				out := &nullOutbox{}
				en, err := NewEngine(WorldConfig{GameID: 1, Registry: reg, Outbox: out})
				if err != nil {
					b.Fatal(err)
				}
				w := en.World()
				size := math.Sqrt(float64(n)) * 100
				rng := rand.New(rand.NewPCG(1, 1))
				ps := make([]*Entity, n)
				spots := make([]Vector3, n)
				for i := range spots {
					spots[i] = Vector3{X: float32(rng.Float64() * size), Z: float32(rng.Float64() * size)}
				}
				if order == "spatial" {
					// Rows of cells, each row's cells in turn.
					slices.SortFunc(spots, func(a, b Vector3) int {
						if c := cmp.Compare(int(a.Z/100), int(b.Z/100)); c != 0 {
							return c
						}
						return cmp.Compare(a.X, b.X)
					})
				}
				en.Run(func() {
					zone, _ := w.CreateSpaceLocally("BigZone", nil)
					for i := range ps {
						ps[i], _ = w.CreateEntityLocally("Roamer", map[string]any{"name": "p"})
						if i%100 == 0 {
							ps[i].setClient(&ClientRef{Gate: rpc.GateID(1 + i%4), ID: rpc.ClientID(i + 1)})
						}
						ps[i].EnterSpace(zone.ID(), spots[i])
					}
				})
				en.SyncPositions()
				if order == "random" {
					rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
				}
				moves0, spent0 := w.aoiCost.moves, w.aoiCost.spent
				b.ResetTimer()
				for range b.N {
					for i, p := range ps {
						pos := p.Position()
						pos.X = min(max(pos.X+float32(rng.Float64()*2-1)*5, 0), float32(size))
						pos.Z = min(max(pos.Z+float32(rng.Float64()*2-1)*5, 0), float32(size))
						if err := p.SetPosition(pos); err != nil {
							b.Fatal(err)
						}
						if i%(n/10) == n/10-1 {
							en.SyncPositions()
						}
					}
				}
				b.StopTimer()
				steps := float64(b.N) * float64(n)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/steps, "ns/step")
				b.ReportMetric(float64((w.aoiCost.spent-spent0).Nanoseconds())/float64(w.aoiCost.moves-moves0), "ns/space-move")
			})
		}
	}
}
