package client_test

// Spaces end to end, on an in-process cluster with real sockets: what the
// client's view holds as players enter, move, leave and migrate between
// games, checked against what the server's geometry says it should hold.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

const walkerRadius = 10

// Walker is the boot entity of the space tests: it sees 10 units around
// it, shows its name to everyone who sees it, and lets its client choose
// a space (Enter), be moved by the server (Teleport), count calls in
// order (Count) and run a timer (Tick).
type Walker struct{ entity.Entity }

func (w *Walker) DescribeEntityType(d *entity.TypeDesc) {
	d.SetAOIRadius(walkerRadius)
	d.DefineAttr("name", entity.AttrAllClients)
	d.DefineAttr("count", entity.AttrOwnClient)
	d.DefineAttr("order", entity.AttrOwnClient)
	d.DefineAttr("ticks", entity.AttrOwnClient)
	d.DefineAttr("hooks", entity.AttrOwnClient)
	d.ExposeToClient("Enter", "SetName", "Teleport", "Count", "StartTicking")
}

func (w *Walker) Enter(space string, x, z float64) {
	if err := w.EnterSpace(rpc.EntityID(space), entity.Vector3{X: float32(x), Z: float32(z)}); err != nil {
		w.CallClient("Error", err.Error())
	}
}

func (w *Walker) SetName(name string) { w.Attrs.Set("name", name) }

func (w *Walker) Teleport(x, z float64) {
	w.SetPosition(entity.Vector3{X: float32(x), Y: 1, Z: float32(z)})
}

// Count checks that calls arrive in the order they were sent.
func (w *Walker) Count(i int) {
	if int64(i) != w.Attrs.GetInt("count") {
		w.Attrs.Set("order", fmt.Sprintf("call %d arrived after %d", i, w.Attrs.GetInt("count")))
	}
	w.Attrs.Set("count", int64(i)+1)
}

func (w *Walker) StartTicking() { w.AddTimer(10*time.Millisecond, "Tick") }
func (w *Walker) Tick()         { w.Attrs.Set("ticks", w.Attrs.GetInt("ticks")+1) }

func (w *Walker) OnEnterAOI(other *entity.Entity) { w.hook("+" + other.Attrs.GetString("name")) }
func (w *Walker) OnLeaveAOI(other *entity.Entity) { w.hook("-" + other.Attrs.GetString("name")) }
func (w *Walker) OnEnterSpace()                   { w.hook("enter " + w.Space().TypeName()) }
func (w *Walker) OnLeaveSpace(sp *entity.Entity)  { w.hook("leave " + sp.TypeName()) }

func (w *Walker) hook(s string) {
	if w.Attrs.Has("hooks") {
		w.Attrs.GetList("hooks").Append(s)
	} else {
		w.Attrs.Set("hooks", []any{s})
	}
}

func (w *Walker) OnClientDisconnected() { w.Destroy() }

// Arena is the space type; it counts who comes and goes.
type Arena struct{ entity.Entity }

func (a *Arena) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineSpace(walkerRadius)
	d.DefineAttr("members", 0)
}
func (a *Arena) OnEntityEnter(e *entity.Entity) { a.Attrs.Set("members", a.Attrs.GetInt("members")+1) }
func (a *Arena) OnEntityLeave(e *entity.Entity) { a.Attrs.Set("members", a.Attrs.GetInt("members")-1) }

type spaceCluster struct {
	*cluster.Cluster
	spaces []rpc.EntityID // one Arena per game
}

func startSpaceCluster(t *testing.T, games int) *spaceCluster {
	t.Helper()
	reg := entity.NewRegistry()
	for name, proto := range map[string]any{"Walker": &Walker{}, "Arena": &Arena{}} {
		if err := reg.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	c := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "Walker", Games: games, KCP: true,
		PositionSyncInterval: 10 * time.Millisecond, AOISyncLimit: 16})
	sc := &spaceCluster{Cluster: c}
	for i := range c.Games {
		sc.spaces = append(sc.spaces, c.CreateSpace(t, i, "Arena"))
	}
	return sc
}

// bot is a client whose events are drained by a goroutine, so tests can
// await conditions on its view.
type bot struct {
	*client.Client
	name string
	mu   sync.Mutex
	errs []string
	kick string
	done chan struct{}
}

func newBot(t *testing.T, addr, name string, kcp bool) *bot {
	t.Helper()
	c, err := client.Dial(addr, client.Options{KCP: kcp})
	if err != nil {
		t.Fatal(err)
	}
	b := &bot{Client: c, name: name, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for ev := range c.Events() {
			switch ev := ev.(type) {
			case client.Call:
				if ev.Method == "Error" {
					b.mu.Lock()
					b.errs = append(b.errs, fmt.Sprint(ev.Args...))
					b.mu.Unlock()
				}
			case client.Disconnected:
				b.mu.Lock()
				b.kick = ev.Reason
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-b.done })
	waitFor(t, name+" has its player", func() bool { _, ok := c.Player(); return ok })
	if err := c.CallPlayer("SetName", name); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bot) id() rpc.EntityID {
	p, _ := b.Player()
	return p.ID
}

func (b *bot) enter(t *testing.T, space rpc.EntityID, x, z float64) {
	t.Helper()
	if err := b.CallPlayer("Enter", string(space), x, z); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b.name+" enters the space", func() bool { id, _ := b.Space(); return id == space })
}

func (b *bot) move(t *testing.T, x, z float64) {
	t.Helper()
	if err := b.MovePlayer(rpc.Vector3{X: float32(x), Z: float32(z)}, 0); err != nil {
		t.Fatal(err)
	}
}

// sees returns the names of the entities in the view, besides the player.
func (b *bot) sees() []string {
	var names []string
	for _, e := range b.Entities() {
		if !e.IsPlayer {
			n, _ := e.Attrs["name"].(string)
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

func (b *bot) kicked() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kick
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func ownAttr(b *bot, key string) any {
	p, _ := b.Player()
	return p.Attrs[key]
}

func TestSpaceViewsFollowMoves(t *testing.T) {
	c := startSpaceCluster(t, 1)
	sp := c.spaces[0]
	alice := newBot(t, c.GateAddr(0), "alice", false)
	bob := newBot(t, c.GateAddr(0), "bob", true) // over KCP
	alice.enter(t, sp, 0, 0)
	bob.enter(t, sp, 5, 0)

	waitFor(t, "alice sees bob", func() bool { return slices.Equal(alice.sees(), []string{"bob"}) })
	waitFor(t, "bob sees alice", func() bool { return slices.Equal(bob.sees(), []string{"alice"}) })
	a, _ := bob.Entity(alice.id())
	if a.Type != "Walker" || a.Attrs["count"] != nil || a.Attrs["hooks"] != nil {
		t.Fatalf("bob's copy of alice shows own-client attributes or the wrong type: %+v", a)
	}
	b, _ := alice.Entity(bob.id())
	if b.Pos != (rpc.Vector3{X: 5}) {
		t.Fatalf("alice sees bob at %v, want (5, 0, 0)", b.Pos)
	}
	waitFor(t, "hooks ran", func() bool {
		h, _ := ownAttr(alice, "hooks").([]any)
		return slices.Equal(h, []any{"enter Arena", "+bob"})
	})

	// An all-clients attribute change reaches the other client.
	alice.CallPlayer("SetName", "alicia")
	waitFor(t, "bob sees the new name", func() bool { return slices.Equal(bob.sees(), []string{"alicia"}) })

	// Alice walks; bob follows her position.
	for i := 1; i <= 5; i++ {
		alice.move(t, float64(i), float64(i)/2)
	}
	waitFor(t, "bob gets alice's last position", func() bool {
		e, _ := bob.Entity(alice.id())
		return e.Pos == rpc.Vector3{X: 5, Z: 2.5}
	})

	// Alice leaves bob's view and comes back.
	alice.move(t, 100, 0)
	waitFor(t, "bob no longer sees alice", func() bool { return len(bob.sees()) == 0 })
	waitFor(t, "alice no longer sees bob", func() bool { return len(alice.sees()) == 0 })
	alice.move(t, 6, 0)
	waitFor(t, "they see each other again", func() bool {
		return slices.Equal(bob.sees(), []string{"alicia"}) && slices.Equal(alice.sees(), []string{"bob"})
	})

	// A server-side move reaches the mover's own client too.
	bob.CallPlayer("Teleport", 7.0, 1.0)
	waitFor(t, "bob's client learns where the server put him", func() bool {
		p, _ := bob.Player()
		return p.Pos == rpc.Vector3{X: 7, Y: 1, Z: 1}
	})
	waitFor(t, "alice sees bob teleported", func() bool {
		e, _ := alice.Entity(bob.id())
		return e.Pos == rpc.Vector3{X: 7, Y: 1, Z: 1}
	})

	// Leaving the space empties the view.
	bob.CallPlayer("Enter", string(rpc.NewEntityID()), 0.0, 0.0) // no such space: bob stays in none
	waitFor(t, "bob is in no space and sees no one", func() bool {
		id, _ := bob.Space()
		return id == "" && len(bob.sees()) == 0 && len(alice.sees()) == 0
	})
	if k := alice.kicked() + bob.kicked(); k != "" {
		t.Fatalf("kicked: %q", k)
	}
}

func TestClientCannotMoveAnothersEntity(t *testing.T) {
	c := startSpaceCluster(t, 1)
	sp := c.spaces[0]
	alice := newBot(t, c.GateAddr(0), "alice", false)
	mallory := newBot(t, c.GateAddr(0), "mallory", false)
	watcher := newBot(t, c.GateAddr(0), "watcher", false)
	alice.enter(t, sp, 1, 1)
	mallory.enter(t, sp, 2, 2)
	watcher.enter(t, sp, 0, 0)
	waitFor(t, "watcher sees both", func() bool { return len(watcher.sees()) == 2 })

	// Mallory sends positions for alice's entity, in the right space.
	for i := 0; i < 20; i++ {
		b := rpc.AppendEntityID(nil, alice.id())
		b = rpc.AppendEntityID(b, sp)
		b = rpc.AppendPosition(b, rpc.Vector3{X: 9, Z: 9}, 0)
		if err := mallory.SendRaw(rpc.MsgSyncPosition, b); err != nil {
			t.Fatal(err)
		}
	}
	// Then moves herself: once the watcher sees that, the forged positions,
	// sent earlier on the same connection, have been handled.
	mallory.move(t, 3, 3)
	waitFor(t, "watcher sees mallory's own move", func() bool {
		e, _ := watcher.Entity(mallory.id())
		return e.Pos == rpc.Vector3{X: 3, Z: 3}
	})
	if e, _ := watcher.Entity(alice.id()); e.Pos != (rpc.Vector3{X: 1, Z: 1}) {
		t.Fatalf("mallory moved alice to %v", e.Pos)
	}
	if k := mallory.kicked(); k != "" {
		t.Fatalf("mallory was kicked (%q); a position for another entity must only be dropped", k)
	}

	// A position that is not a number is a protocol error.
	b := rpc.AppendEntityID(nil, mallory.id())
	b = rpc.AppendEntityID(b, sp)
	b = rpc.AppendPosition(b, rpc.Vector3{X: float32(math.NaN())}, 0)
	mallory.SendRaw(rpc.MsgSyncPosition, b)
	waitFor(t, "mallory is kicked for a NaN", func() bool { return mallory.kicked() != "" })
	waitFor(t, "watcher no longer sees mallory", func() bool { return slices.Equal(watcher.sees(), []string{"alice"}) })

	// So is a position beyond max_client_coordinate (a million by
	// default), where the AOI's searches would grow: the client says why.
	alice.move(t, 1e6, 1)
	waitFor(t, "watcher no longer sees alice, at the edge", func() bool { return len(watcher.sees()) == 0 })
	alice.move(t, 1, 2)
	waitFor(t, "watcher sees alice back", func() bool {
		e, _ := watcher.Entity(alice.id())
		return e.Pos == rpc.Vector3{X: 1, Z: 2}
	})
	if k := alice.kicked(); k != "" {
		t.Fatalf("alice was kicked at the limit: %q", k)
	}
	alice.move(t, 3e38, 1)
	waitFor(t, "alice is kicked far out", func() bool { return alice.kicked() != "" })
	if k := alice.kicked(); !strings.Contains(k, "beyond ±1000000 (max_client_coordinate)") {
		t.Fatalf("alice's kick: %q", k)
	}
}

// TestViewConsistencyOverRandomMoves: clients walk and teleport at
// random; once they stop, each view must be exactly the players within
// the AOI radius, by the final positions.
func TestViewConsistencyOverRandomMoves(t *testing.T) {
	c := startSpaceCluster(t, 1)
	sp := c.spaces[0]
	const n, moves, size = 10, 150, 40.0
	rng := rand.New(rand.NewPCG(4, 2))
	bots := make([]*bot, n)
	pos := make([]rpc.Vector3, n)
	for i := range bots {
		bots[i] = newBot(t, c.GateAddr(0), fmt.Sprintf("b%02d", i), i%3 == 0)
		pos[i] = rpc.Vector3{X: float32(rng.Float64() * size), Z: float32(rng.Float64() * size)}
		bots[i].enter(t, sp, float64(pos[i].X), float64(pos[i].Z))
	}
	for m := 0; m < moves; m++ {
		for i, b := range bots {
			if rng.IntN(10) == 0 {
				pos[i] = rpc.Vector3{X: float32(rng.Float64() * size), Z: float32(rng.Float64() * size)}
			} else {
				pos[i].X = float32(math.Max(0, math.Min(size, float64(pos[i].X)+rng.Float64()*4-2)))
				pos[i].Z = float32(math.Max(0, math.Min(size, float64(pos[i].Z)+rng.Float64()*4-2)))
			}
			b.move(t, float64(pos[i].X), float64(pos[i].Z))
		}
	}
	want := func(i int) []string {
		var names []string
		for j := range bots {
			dx, dz := float64(pos[i].X-pos[j].X), float64(pos[i].Z-pos[j].Z)
			if j != i && dx*dx+dz*dz <= walkerRadius*walkerRadius {
				names = append(names, bots[j].name)
			}
		}
		return names
	}
	for i, b := range bots {
		waitFor(t, fmt.Sprintf("%s's view settles", b.name), func() bool {
			if !slices.Equal(b.sees(), want(i)) {
				return false
			}
			// Positions too: every entity held is where its client put it.
			for _, e := range b.Entities() {
				if e.IsPlayer {
					continue
				}
				j := slices.IndexFunc(bots, func(o *bot) bool { return o.name == e.Attrs["name"] })
				if e.Pos != pos[j] {
					return false
				}
			}
			return true
		})
	}
}

// TestMigrationKeepsStateAndCalls: a player enters a space on another
// game while calls to it are in flight and a timer runs; everything
// arrives, in order, and the views on both sides follow.
func TestMigrationKeepsStateAndCalls(t *testing.T) {
	c := startSpaceCluster(t, 2)
	s1, s2 := c.spaces[0], c.spaces[1]
	alice := newBot(t, c.GateAddr(0), "alice", false)
	bob := newBot(t, c.GateAddr(0), "bob", false)
	carol := newBot(t, c.GateAddr(0), "carol", false)
	alice.enter(t, s1, 0, 0)
	bob.enter(t, s1, 1, 0)
	carol.enter(t, s2, 0, 1)
	waitFor(t, "alice and bob see each other", func() bool {
		return slices.Equal(alice.sees(), []string{"bob"}) && slices.Equal(bob.sees(), []string{"alice"})
	})
	alice.CallPlayer("StartTicking")
	waitFor(t, "alice's timer ticks", func() bool { n, _ := ownAttr(alice, "ticks").(int64); return n > 2 })

	// Calls before, during and after the migration. If alice's entity
	// happened to be on the other game already, the test would prove
	// nothing: alice entered s1, so it lives where s1 lives.
	const calls = 300
	for i := 0; i < calls/2; i++ {
		alice.CallPlayer("Count", i)
	}
	alice.CallPlayer("Enter", string(s2), 2.0, 1.0)
	for i := calls / 2; i < calls; i++ {
		alice.CallPlayer("Count", i)
	}
	waitFor(t, "alice is in s2 and sees carol", func() bool {
		id, _ := alice.Space()
		return id == s2 && slices.Equal(alice.sees(), []string{"carol"})
	})
	waitFor(t, "bob lost alice, carol got her", func() bool {
		return len(bob.sees()) == 0 && slices.Equal(carol.sees(), []string{"alice"})
	})
	waitFor(t, "every call arrived", func() bool { n, _ := ownAttr(alice, "count").(int64); return n == calls })
	if o := ownAttr(alice, "order"); o != nil {
		t.Fatalf("calls out of order across the migration: %v", o)
	}
	before, _ := ownAttr(alice, "ticks").(int64)
	waitFor(t, "the timer ticks on the new game", func() bool { n, _ := ownAttr(alice, "ticks").(int64); return n > before+2 })
	if e, _ := carol.Entity(alice.id()); e.Pos != (rpc.Vector3{X: 2, Z: 1}) || e.Attrs["name"] != "alice" {
		t.Fatalf("carol sees alice as %+v", e)
	}
	// The migrated entity's client binding works: moves and calls.
	alice.move(t, 3, 1)
	waitFor(t, "carol sees alice move on the new game", func() bool {
		e, _ := carol.Entity(alice.id())
		return e.Pos == rpc.Vector3{X: 3, Z: 1}
	})
	h, _ := ownAttr(alice, "hooks").([]any)
	want := []any{"enter Arena", "+bob", "-bob", "leave Arena", "enter Arena", "+carol"}
	if !slices.Equal(h, want) {
		t.Fatalf("alice's hooks %v, want %v", h, want)
	}
	// And back again.
	alice.CallPlayer("Enter", string(s1), 1.0, 1.0)
	waitFor(t, "alice is back with bob", func() bool {
		return slices.Equal(alice.sees(), []string{"bob"}) && slices.Equal(bob.sees(), []string{"alice"}) && len(carol.sees()) == 0
	})
	for _, b := range []*bot{alice, bob, carol} {
		if k := b.kicked(); k != "" {
			t.Fatalf("%s kicked: %q", b.name, k)
		}
	}
}
