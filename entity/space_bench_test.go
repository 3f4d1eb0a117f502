package entity

import (
	"math/rand/v2"
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
