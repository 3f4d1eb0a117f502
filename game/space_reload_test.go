package game_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/rpc"
)

// Roamer walks in a Field; both exist only for the space reload test.
type Roamer struct{ entity.Entity }

func (r *Roamer) DescribeEntityType(d *entity.TypeDesc) {
	d.SetAOIRadius(10)
	d.DefineAttr("name", entity.AttrAllClients)
	d.ExposeToClient("Join")
}

// Join names the roamer and puts it in the space at (x, 0).
func (r *Roamer) Join(name, space string, x float64) {
	r.Attrs.Set("name", name)
	r.EnterSpace(rpc.EntityID(space), entity.Vector3{X: float32(x)})
}

type Field struct{ entity.Entity }

func (f *Field) DescribeEntityType(d *entity.TypeDesc) { d.DefineSpace(10) }

// viewer counts what its client is told about the view, and keeps the
// names of the entities it holds.
type viewer struct {
	c        *client.Client
	mu       sync.Mutex
	creates  int
	destroys int
	spaces   int
	gone     string
	moved    map[rpc.EntityID]rpc.Vector3 // the last position of each, as the events tell it
	done     chan struct{}
}

func newViewer(t *testing.T, addr string) *viewer {
	t.Helper()
	c, err := client.Dial(addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{c: c, moved: map[rpc.EntityID]rpc.Vector3{}, done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for ev := range c.Events() {
			v.mu.Lock()
			switch ev := ev.(type) {
			case client.EntityCreated:
				if !ev.IsPlayer {
					v.creates++
				}
			case client.EntityDestroyed:
				v.destroys++
			case client.SpaceEntered:
				v.spaces++
			case client.Moved:
				for _, u := range ev.Updates {
					v.moved[u.ID] = u.Pos
				}
			case client.Disconnected:
				v.gone = ev.Reason
			}
			v.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-v.done })
	until(t, "the player exists", func() bool { _, ok := c.Player(); return ok })
	return v
}

func (v *viewer) counts() (creates, destroys, spaces int, gone string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.creates, v.destroys, v.spaces, v.gone
}

func (v *viewer) sees() []string {
	var names []string
	for _, e := range v.c.Entities() {
		if !e.IsPlayer {
			names = append(names, e.Attrs["name"].(string))
		}
	}
	slices.Sort(names)
	return names
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSpacesSurviveHotReload: players in a space keep their views across
// a freeze and restore of their game, without any create or destroy
// being resent; after the reload the AOI works on as before.
func TestSpacesSurviveHotReload(t *testing.T) {
	r := newReloadEnv(t)
	for name, proto := range map[string]any{"Roamer": &Roamer{}, "Field": &Field{}} {
		if err := r.reg.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	cfg := r.config(nil)
	cfg.BootEntity = "Roamer"
	cfg.PositionSyncInterval = 10 * time.Millisecond
	g1 := startGame(t, cfg)
	field := createLocally(t, g1.g, "Field", nil)

	names := []string{"ann", "ben", "cat"}
	vs := make([]*viewer, len(names))
	for i, n := range names {
		vs[i] = newViewer(t, r.gw.g.Addr().String())
		if err := vs[i].c.CallPlayer("Join", n, string(field), float64(i*6)); err != nil {
			t.Fatal(err)
		}
	}
	// ann (0) sees ben (6); ben sees both; cat (12) sees ben.
	want := [][]string{{"ben"}, {"ann", "cat"}, {"ben"}}
	for i, v := range vs {
		until(t, names[i]+"'s view", func() bool { return slices.Equal(v.sees(), want[i]) })
		// The client's state changes before its events are counted (on
		// the viewer's goroutine): wait until they are, or the creates of
		// this view would count as resent by the reload (ben's two were,
		// once under load).
		until(t, names[i]+"'s events of the view counted", func() bool {
			c, d, s, _ := v.counts()
			return c-d == len(want[i]) && s == 1
		})
	}
	type snap struct{ creates, destroys, spaces int }
	before := make([]snap, len(vs))
	for i, v := range vs {
		c, d, s, _ := v.counts()
		before[i] = snap{c, d, s}
	}

	// Freeze and restore.
	g1.g.RequestFreeze()
	if err := g1.wait(t); !errors.Is(err, game.ErrFrozen) {
		t.Fatalf("Run returned %v, want ErrFrozen", err)
	}
	res := readResult(t, r.dir, r.gameID)
	f, err := game.LoadFreezeFile(res.File, r.gameID)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Restore = f
	g2 := startGame(t, cfg)
	onLoop(t, g2.g, func() {
		sp := g2.g.World().Entity(field)
		if sp == nil || !sp.IsSpace() || sp.NumMembers() != 3 {
			t.Errorf("the field did not come back with its 3 members")
		}
	})

	// After the reload the AOI goes on: ann walks next to cat, away from
	// ben. Her position goes through the restored game.
	if err := vs[0].c.MovePlayer(rpc.Vector3{X: 20}, 0); err != nil {
		t.Fatal(err)
	}
	until(t, "ann sees cat only", func() bool { return slices.Equal(vs[0].sees(), []string{"cat"}) })
	until(t, "cat sees ann and ben", func() bool { return slices.Equal(vs[2].sees(), []string{"ann", "ben"}) })
	until(t, "ben sees cat only", func() bool { return slices.Equal(vs[1].sees(), []string{"cat"}) })

	// Nothing was resent by the reload: the only creates and destroys are
	// those of ann's walk (ann: -ben +cat; ben: -ann; cat: +ann), and no
	// space message at all.
	// The views above are the clients' state, which changes before the
	// events are counted (on each viewer's goroutine): wait until the
	// walk's own events are counted. Anything the reload resent came
	// before them, on the same connection, and is counted by then.
	wantDelta := []snap{{1, 1, 0}, {0, 1, 0}, {1, 0, 0}}
	for i, v := range vs {
		until(t, names[i]+"'s events of the walk counted", func() bool {
			c, d, _, gone := v.counts()
			return gone != "" || (c-before[i].creates >= wantDelta[i].creates && d-before[i].destroys >= wantDelta[i].destroys)
		})
		c, d, s, gone := v.counts()
		if gone != "" {
			t.Fatalf("%s was disconnected: %s", names[i], gone)
		}
		got := snap{c - before[i].creates, d - before[i].destroys, s - before[i].spaces}
		if got != wantDelta[i] {
			t.Fatalf("%s got %+v creates/destroys/space messages across the reload, want %+v", names[i], got, wantDelta[i])
		}
	}
	if err := g2.stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestHotReloadWithWaitingDestroysAndPendingCreates: a game freezes
// between two position syncs, while a client's destroy of an entity that
// left its view waits and its create of another waits over the budget.
// The freeze sends the destroy (the restored views hold only what their
// members see, so the client would otherwise keep it for good), and the
// restored game sends the create it owed, once, at its first sync.
func TestHotReloadWithWaitingDestroysAndPendingCreates(t *testing.T) {
	r := newReloadEnv(t)
	for name, proto := range map[string]any{"Roamer": &Roamer{}, "Field": &Field{}} {
		if err := r.reg.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	cfg := r.config(nil)
	cfg.BootEntity = "Roamer"
	// The test runs the syncs itself, on the loop, between its steps.
	cfg.PositionSyncInterval = time.Hour
	cfg.AOISyncLimit = 1
	g1 := startGame(t, cfg)
	field := createLocally(t, g1.g, "Field", nil)
	syncOn := func(g *game.Game) { onLoop(t, g, game.EngineOf(g).SyncPositions) }

	// ann at 0 sees ben (6) and cat (3); she is shown one per sync, ben
	// first (he came into her view first).
	names := []string{"ann", "ben", "cat"}
	xs := []float64{0, 6, 3}
	vs := make([]*viewer, len(names))
	ids := make([]rpc.EntityID, len(names))
	for i, n := range names {
		vs[i] = newViewer(t, r.gw.g.Addr().String())
		p, _ := vs[i].c.Player()
		ids[i] = p.ID
		if err := vs[i].c.CallPlayer("Join", n, string(field), xs[i]); err != nil {
			t.Fatal(err)
		}
		until(t, n+" in the field", func() bool {
			in := false
			onLoop(t, g1.g, func() {
				e := g1.g.World().Entity(ids[i])
				in = e != nil && e.Space() != nil && e.Space().ID() == field
			})
			return in
		})
	}
	ann := vs[0]
	syncOn(g1.g)
	until(t, "ann is shown ben", func() bool { return slices.Equal(ann.sees(), []string{"ben"}) })

	// Ben walks off (server side): ann's destroy of him waits for the
	// next sync, which never comes on this game; cat's create waits too.
	onLoopErr(t, g1.g, func() error {
		return g1.g.World().Entity(ids[1]).SetPosition(entity.Vector3{X: 100})
	})
	g1.g.RequestFreeze()
	if err := g1.wait(t); !errors.Is(err, game.ErrFrozen) {
		t.Fatalf("Run returned %v, want ErrFrozen", err)
	}
	until(t, "the freeze's destroy of ben reaches ann", func() bool { return len(ann.sees()) == 0 })

	res := readResult(t, r.dir, r.gameID)
	f, err := game.LoadFreezeFile(res.File, r.gameID)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Restore = f
	g2 := startGame(t, cfg)
	syncOn(g2.g)
	until(t, "ann is shown cat after the reload", func() bool { return slices.Equal(ann.sees(), []string{"cat"}) })
	// More syncs send nothing more to ann: no second create of cat, and
	// ben stays away.
	syncOn(g2.g)
	syncOn(g2.g)
	// Anything sent to ann by now is counted once this call's answer is.
	onLoopErr(t, g2.g, func() error {
		return g2.g.World().Entity(ids[0]).SetPosition(entity.Vector3{X: 1})
	})
	syncOn(g2.g)
	until(t, "the event of ann's own move is counted", func() bool {
		ann.mu.Lock()
		defer ann.mu.Unlock()
		return ann.moved[ids[0]].X == 1
	})
	c, d, _, gone := ann.counts()
	if gone != "" {
		t.Fatalf("ann was disconnected: %s", gone)
	}
	if c != 2 || d != 1 || !slices.Equal(ann.sees(), []string{"cat"}) {
		t.Fatalf("ann got %d creates and %d destroys and holds %v; want ben and cat created, ben destroyed, cat held", c, d, ann.sees())
	}
	if err := g2.stop(t); err != nil {
		t.Fatal(err)
	}
}
