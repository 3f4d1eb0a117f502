package game_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/goid"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

func TestNewRejectsBadConfig(t *testing.T) {
	reg := registry(t)
	good := game.Config{ID: 1, Dispatchers: []string{"127.0.0.1:1"}, BootEntity: "Probe", Registry: reg}
	for _, tc := range []struct {
		name  string
		edit  func(c *game.Config)
		words []string
	}{
		{"ID 0", func(c *game.Config) { c.ID = 0 }, []string{"ID 0"}},
		{"negative ID", func(c *game.Config) { c.ID = -1 }, []string{"ID -1"}},
		{"ID over 65535", func(c *game.Config) { c.ID = 65536 }, []string{"ID 65536"}},
		{"no dispatchers", func(c *game.Config) { c.Dispatchers = nil }, []string{"dispatcher"}},
		{"no registry", func(c *game.Config) { c.Registry = nil }, []string{"registry"}},
		{"no boot entity", func(c *game.Config) { c.BootEntity = "" }, []string{"boot entity"}},
		{"unregistered boot entity", func(c *game.Config) { c.BootEntity = "Dragon" }, []string{`"Dragon"`, "not registered", "game1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			g, err := game.New(cfg)
			if err == nil {
				t.Fatalf("New succeeded: %v", g)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	g, err := game.New(good)
	if err != nil || g == nil || g.World() == nil {
		t.Fatalf("New(good) = %v, %v", g, err)
	}
}

func TestPostRunsFunctionsInOrderOnTheLoop(t *testing.T) {
	c, logs := startCluster(t, cluster.Options{})
	g := c.Games[0]

	t.Run("in order", func(t *testing.T) {
		const n = 2000
		var got []int // touched only on the loop
		for i := 0; i < n; i++ {
			g.Post(func() { got = append(got, i) })
		}
		var res []int
		onLoop(t, g, func() { res = got })
		if len(res) != n {
			t.Fatalf("%d functions ran, want %d", len(res), n)
		}
		for i, v := range res {
			if v != i {
				t.Fatalf("function %d ran at position %d", v, i)
			}
		}
	})

	t.Run("from many goroutines", func(t *testing.T) {
		const senders, each = 8, 300
		var got [senders][]int // touched only on the loop
		var wg sync.WaitGroup
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					g.Post(func() { got[s] = append(got[s], i) })
				}
			}()
		}
		wg.Wait()
		var res [senders][]int
		onLoop(t, g, func() { res = got })
		for s := range res {
			if len(res[s]) != each {
				t.Fatalf("sender %d: %d ran, want %d", s, len(res[s]), each)
			}
			for i, v := range res[s] {
				if v != i {
					t.Fatalf("sender %d: function %d ran at position %d", s, v, i)
				}
			}
		}
	})

	t.Run("on the loop goroutine", func(t *testing.T) {
		sk := newSink(t)
		id := createLocally(t, g, "Probe", map[string]any{"tag": sk.tag})
		sk.expect(t, "created")
		ids := make(chan uint64, 3)
		g.Post(func() { ids <- goid.Current() })
		g.Post(func() {
			ids <- goid.Current()
			if _, err := g.World().Entity(id).AddCallback(time.Millisecond, "Ping", 1); err != nil {
				panic(err)
			}
		})
		ping := sk.expect(t, "Ping")
		a, b := <-ids, <-ids
		if a != b || a != ping.goid || a == goid.Current() {
			t.Fatalf("posted functions ran on goroutines %d and %d, a timer on %d; the test runs on %d", a, b, ping.goid, goid.Current())
		}
	})

	t.Run("a panic is logged and the loop goes on", func(t *testing.T) {
		ran := make(chan int, 2)
		g.Post(func() { ran <- 1 })
		g.Post(func() { panic("posted boom") })
		g.Post(func() { ran <- 3 })
		for _, want := range []int{1, 3} {
			select {
			case got := <-ran:
				if got != want {
					t.Fatalf("function %d ran, want %d", got, want)
				}
			case <-time.After(waitLimit):
				t.Fatalf("function %d did not run after the panic", want)
			}
		}
		if !logs.has("panic in game callback", "posted boom") {
			t.Fatal("the panic was not logged")
		}
		// Entities, timers and dispatcher traffic still work.
		sk := newSink(t)
		id := createLocally(t, g, "Probe", map[string]any{"tag": sk.tag})
		sk.expect(t, "created")
		onLoop(t, g, func() { g.World().Call(id, "Ping", 7) })
		if ev := sk.expect(t, "Ping"); ev.args[0] != 7 {
			t.Fatalf("Ping%v", ev.args)
		}
	})

	t.Run("a panic in an entity method or timer is logged and the loop goes on", func(t *testing.T) {
		sk := newSink(t)
		id := createLocally(t, g, "Probe", map[string]any{"tag": sk.tag})
		sk.expect(t, "created")
		onLoopErr(t, g, func() error {
			g.World().Call(id, "Boom", "method boom")
			g.World().Call(id, "Ping", 1)
			_, err := g.World().Entity(id).AddCallback(time.Millisecond, "Boom", "timer boom")
			if err == nil {
				_, err = g.World().Entity(id).AddCallback(20*time.Millisecond, "Ping", 2)
			}
			return err
		})
		for _, want := range []int{1, 2} {
			if ev := sk.expect(t, "Ping"); ev.args[0] != want {
				t.Fatalf("Ping%v, want Ping(%d)", ev.args, want)
			}
		}
		for _, w := range []string{"method boom", "timer boom"} {
			if !logs.has("panic in", "Boom", w) {
				t.Errorf("panic %q not logged", w)
			}
		}
	})
}

func TestTimersFireThroughTheLoop(t *testing.T) {
	c, _ := startCluster(t, cluster.Options{})
	g := c.Games[0]
	sk := newSink(t)
	id := createLocally(t, g, "Probe", map[string]any{"tag": sk.tag})
	sk.expect(t, "created")
	ent := func() *entity.Entity { return g.World().Entity(id) }

	t.Run("AddCallback fires once after its delay", func(t *testing.T) {
		const delay = 30 * time.Millisecond
		began := time.Now()
		onLoopErr(t, g, func() error { _, err := ent().AddCallback(delay, "Ping", 42); return err })
		ev := sk.expect(t, "Ping")
		if el := time.Since(began); el < delay {
			t.Fatalf("fired after %v, before its %v delay", el, delay)
		}
		if ev.args[0] != 42 || ev.id != id {
			t.Fatalf("Ping%v on %s", ev.args, ev.id)
		}
		var left int
		onLoop(t, g, func() { left = ent().TimerCount() })
		if left != 0 {
			t.Fatalf("%d timers left after a one-shot fired", left)
		}
	})

	t.Run("callbacks fire in time order", func(t *testing.T) {
		// Each delay counts from its own AddCallback: the order below
		// holds if the four calls take less than the smallest gap between
		// delays (19 ms). A loaded machine can stall the loop for longer
		// (the 1 ms callback then fires after the 20 ms one, as it should);
		// such a round proves nothing, and is tried again.
		const gap = 19 * time.Millisecond
		for round := 1; ; round++ {
			var took time.Duration
			onLoopErr(t, g, func() error {
				began := time.Now()
				defer func() { took = time.Since(began) }()
				for _, ms := range []int{60, 20, 40, 1} {
					if _, err := ent().AddCallback(time.Duration(ms)*time.Millisecond, "Ping", ms); err != nil {
						return err
					}
				}
				return nil
			})
			var got [][]any
			for range 4 {
				got = append(got, sk.expect(t, "Ping").args)
			}
			if took >= gap && round < 10 {
				t.Logf("round %d: adding the callbacks took %v; again", round, took)
				continue
			}
			for i, want := range []int{1, 20, 40, 60} {
				if got[i][0] != want {
					t.Fatalf("Ping%v at %d (adding them took %v), want Ping(%d)", got[i], i, took, want)
				}
			}
			return
		}
	})

	t.Run("AddTimer repeats and CancelTimer stops it", func(t *testing.T) {
		var tid entity.TimerID
		onLoopErr(t, g, func() (err error) { tid, err = ent().AddTimer(10*time.Millisecond, "Tick", 5); return err })
		for i := 0; i < 3; i++ {
			if ev := sk.expect(t, "Tick"); ev.args[0] != 5 {
				t.Fatalf("Tick%v", ev.args)
			}
		}
		// Cancel it, and in the same loop turn set a callback five periods
		// later. Once the cancel has run, the callback must be the next
		// report: a tick after it means the timer was not stopped.
		cancelled := make(chan bool, 1)
		g.Post(func() {
			cancelled <- ent().CancelTimer(tid)
			report(ent(), "cancelled")
			if _, err := ent().AddCallback(50*time.Millisecond, "Ping", -1); err != nil {
				panic(err)
			}
		})
		for {
			ev := sk.next(t)
			if ev.what == "Tick" {
				continue // fired before the cancel ran
			}
			if ev.what != "cancelled" {
				t.Fatalf("got %s%v, want the cancel", ev.what, ev.args)
			}
			break
		}
		if !<-cancelled {
			t.Fatal("CancelTimer reported that the timer did not exist")
		}
		if ev := sk.next(t); ev.what != "Ping" || ev.args[0] != -1 {
			t.Fatalf("got %s%v after the cancel, want the Ping(-1) callback", ev.what, ev.args)
		}
		var again bool
		onLoop(t, g, func() { again = ent().CancelTimer(tid) })
		if again {
			t.Fatal("CancelTimer of a cancelled timer reported true")
		}
	})

	t.Run("a destroyed entity's timers do not fire", func(t *testing.T) {
		other := createLocally(t, g, "Probe", map[string]any{"tag": sk.tag})
		sk.expect(t, "created")
		onLoopErr(t, g, func() error {
			e := g.World().Entity(other)
			if _, err := e.AddCallback(5*time.Millisecond, "Ping", 1); err != nil {
				return err
			}
			if _, err := e.AddTimer(5*time.Millisecond, "Tick", 1); err != nil {
				return err
			}
			e.Destroy()
			_, err := ent().AddCallback(40*time.Millisecond, "Ping", 2)
			return err
		})
		if ev := sk.next(t); ev.what != "Ping" || ev.id != id || ev.args[0] != 2 {
			t.Fatalf("got %s%v from %s, want Ping(2) from the live entity", ev.what, ev.args, ev.id)
		}
	})

	t.Run("bad timers are refused when added", func(t *testing.T) {
		var errs []error
		onLoop(t, g, func() {
			_, e1 := ent().AddCallback(time.Millisecond, "NoSuchMethod")
			_, e2 := ent().AddCallback(time.Millisecond, "Ping", "not an int")
			_, e3 := ent().AddTimer(0, "Tick", 1)
			errs = []error{e1, e2, e3}
		})
		for i, err := range errs {
			if !errors.Is(err, entity.ErrTimer) {
				t.Errorf("case %d: error %v, want ErrTimer", i, err)
			}
		}
	})
}

// storageGame is a dispatcher and a game with a recording backend.
func storageGame(t *testing.T, saveInterval time.Duration) (*gameNode, *recBackend) {
	t.Helper()
	l, _ := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	b := newRecBackend(t)
	n := startGame(t, game.Config{
		ID: 1, Dispatchers: []string{d.addr}, BootEntity: "Probe", Registry: registry(t),
		Storage: b, GameTuning: config.GameTuning{SaveInterval: saveInterval},
		Logger: l,
	})
	return n, b
}

func TestPersistentEntityIsSavedAtOnceAndLoadsBack(t *testing.T) {
	n, b := storageGame(t, time.Hour)
	g := n.g
	sk := newSink(t)

	var id rpc.EntityID
	onLoopErr(t, g, func() (err error) {
		id, err = g.World().CreateEntitySomewhere("Hero", map[string]any{"tag": sk.tag, "level": 7, "scratch": "x"})
		return err
	})
	if ev := sk.expect(t, "created"); ev.id != id || ev.args[0] != int64(7) {
		t.Fatalf("created %s level %v, want %s level 7", ev.id, ev.args[0], id)
	}
	// Saved at once (the save interval is an hour), persistent attributes only.
	rec, ok := find(b.nextSave(t), id)
	if !ok || rec.Type != "Hero" {
		t.Fatalf("first save %+v does not hold Hero %s", rec, id)
	}
	if m := decode(t, rec.Data); m["level"] != int64(7) || m["tag"] != sk.tag || m["scratch"] != nil {
		t.Fatalf("saved %v, want level 7, the tag and no scratch", m)
	}
	if m := stored(t, b, "Hero", id); m["level"] != int64(7) {
		t.Fatalf("stored %v", m)
	}

	// Change it, destroy it (which saves it), and load it back.
	onLoop(t, g, func() {
		e := g.World().Entity(id)
		e.Attrs.Set("level", 8)
		e.Destroy()
	})
	if rec, ok := find(b.nextSave(t), id); !ok || decode(t, rec.Data)["level"] != int64(8) {
		t.Fatalf("destroy did not save level 8: %+v", rec)
	}
	onLoopErr(t, g, func() error {
		if g.World().Entity(id) != nil {
			return errors.New("the destroyed entity is still in the world")
		}
		if err := g.World().LoadEntitySomewhere("Hero", id); err != nil {
			return err
		}
		// A call sent right after the load waits for it.
		g.World().Call(id, "Ping", 1)
		return nil
	})
	if ev := sk.expect(t, "created"); ev.id != id || ev.args[0] != int64(8) {
		t.Fatalf("loaded %s level %v, want %s level 8", ev.id, ev.args[0], id)
	}
	if ev := sk.expect(t, "Ping"); ev.id != id || ev.args[1] != int64(8) {
		t.Fatalf("Ping%v on %s after the load", ev.args, ev.id)
	}
	// Loading a live entity again does nothing.
	onLoopErr(t, g, func() error { return g.World().LoadEntitySomewhere("Hero", id) })
	onLoop(t, g, func() { g.World().Call(id, "Ping", 2) })
	if ev := sk.next(t); ev.what != "Ping" || ev.args[0] != 2 {
		t.Fatalf("got %s%v, want Ping(2) and no second load", ev.what, ev.args)
	}
	var count int
	onLoop(t, g, func() { count = g.World().NumEntities() })
	if count != 1 {
		t.Fatalf("%d entities, want 1", count)
	}
}

func TestSaveIntervalSavesChangedPersistentAttributes(t *testing.T) {
	n, b := storageGame(t, 50*time.Millisecond)
	g := n.g
	sk := newSink(t)
	hero := createLocally(t, g, "Hero", map[string]any{"tag": sk.tag, "level": 1})
	other := createLocally(t, g, "Hero", map[string]any{"tag": sk.tag, "level": 100})
	for range 2 {
		sk.expect(t, "created")
	}
	// The creation saves.
	for _, id := range []rpc.EntityID{hero, other} {
		if _, ok := find(b.nextSave(t), id); !ok {
			t.Fatalf("creation of %s not saved", id)
		}
	}

	onLoop(t, g, func() { g.World().Entity(hero).Attrs.Set("level", 2) })
	recs := b.nextSave(t)
	if rec, ok := find(recs, hero); !ok || decode(t, rec.Data)["level"] != int64(2) {
		t.Fatalf("interval save %v does not hold level 2", recs)
	}
	if _, ok := find(recs, other); ok {
		t.Fatal("an unchanged entity was saved")
	}
	if m := stored(t, b, "Hero", hero); m["level"] != int64(2) {
		t.Fatalf("stored %v", m)
	}

	// A change of a non-persistent attribute does not make it dirty:
	// the save pass that picks up the other entity's change leaves it out.
	onLoop(t, g, func() {
		g.World().Entity(hero).Attrs.Set("scratch", "temp")
		g.World().Entity(other).Attrs.Set("level", 101)
	})
	recs = b.nextSave(t)
	if _, ok := find(recs, other); !ok {
		t.Fatalf("interval save %v does not hold the changed entity", recs)
	}
	if _, ok := find(recs, hero); ok {
		t.Fatal("a change of a non-persistent attribute caused a save")
	}
}

func TestShutdownSavesDirtyEntities(t *testing.T) {
	n, b := storageGame(t, time.Hour)
	g := n.g
	sk := newSink(t)
	hero := createLocally(t, g, "Hero", map[string]any{"tag": sk.tag, "level": 1})
	sk.expect(t, "created")
	b.nextSave(t)
	onLoop(t, g, func() { g.World().Entity(hero).Attrs.Set("level", 99) })
	if err := n.stop(t); err != nil {
		t.Fatalf("Run returned %v after a clean shutdown", err)
	}
	if rec, ok := find(b.nextSave(t), hero); !ok || decode(t, rec.Data)["level"] != int64(99) {
		t.Fatalf("shutdown save %+v", rec)
	}
	if m := stored(t, b, "Hero", hero); m["level"] != int64(99) {
		t.Fatalf("stored %v after shutdown, want level 99", m)
	}
}

func TestClusterStorageSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	l, _ := newLogger()
	opts := cluster.Options{Registry: registry(t), BootEntity: "Probe", StorageDir: dir, SaveInterval: 50 * time.Millisecond, Logger: l}
	c, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	g := c.Games[0]
	sk := newSink(t)
	var id rpc.EntityID
	onLoopErr(t, g, func() (err error) {
		id, err = g.World().CreateEntitySomewhere("Hero", map[string]any{"tag": sk.tag, "level": 3})
		return err
	})
	sk.expect(t, "created")
	onLoop(t, g, func() { g.World().Entity(id).Attrs.Set("level", 4) })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// The cluster closed its store: the file can be opened and read.
	st, err := storage.Open(storage.TypeBolt, filepath.Join(dir, "game1.db"))
	if err != nil {
		t.Fatal(err)
	}
	m := stored(t, st, "Hero", id)
	st.Close()
	if m["level"] != int64(4) || m["tag"] != sk.tag {
		t.Fatalf("stored %v, want level 4", m)
	}

	// A new cluster on the same directory loads it.
	c2, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c2.Close(); err != nil {
			t.Error(err)
		}
	}()
	g2 := c2.Games[0]
	onLoopErr(t, g2, func() error { return g2.World().LoadEntitySomewhere("Hero", id) })
	if ev := sk.expect(t, "created"); ev.id != id || ev.args[0] != int64(4) {
		t.Fatalf("loaded %s level %v", ev.id, ev.args[0])
	}
}

func TestGameReregistersWithARestartedDispatcher(t *testing.T) {
	l, logs := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	addr := d.addr
	reg := registry(t)
	cfg := func(id int) game.Config {
		return game.Config{ID: id, Dispatchers: []string{addr}, BootEntity: "Probe", Registry: reg, Logger: l}
	}
	g1 := startGame(t, cfg(1)).g
	g2 := startGame(t, cfg(2)).g
	sk := newSink(t)
	a := createLocally(t, g1, "Probe", map[string]any{"tag": sk.tag})
	b := createLocally(t, g1, "Probe", map[string]any{"tag": sk.tag})
	sk.expect(t, "created")
	sk.expect(t, "created")

	// Before the restart: g2 reaches g1's entities through the dispatcher
	// (once g1's registrations, which race with g2's calls, are in).
	reachAll(t, g2, sk, a, b)
	if t.Failed() {
		return
	}

	d.stop(t)
	logs.wait(t, "disconnected from dispatcher", "game=1")
	logs.wait(t, "disconnected from dispatcher", "game=2")
	d2 := startDispatcher(t, addr, l)
	if d2.addr != addr {
		t.Fatalf("new dispatcher on %s, want %s", d2.addr, addr)
	}
	// The new dispatcher starts with an empty table; only g1's
	// re-registration can make these calls reach g1.
	logs.waitConnects(t, 1, 2)
	onLoop(t, g1, func() {}) // the re-registration posted on reconnecting has run
	if logs.has("RegisterEntity to dispatcher 0 dropped") {
		// See TestReregistrationIsNeverDropped.
	}
	reachAll(t, g2, sk, a, b)
}

func TestReregistrationIsNeverDropped(t *testing.T) {
	// Reproduces within a few restarts under -race (the window is a few
	// microseconds; the race detector widens it).
	l, logs := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	addr := d.addr
	reg := registry(t)
	const games = 8
	var gs []*game.Game
	for i := 1; i <= games; i++ {
		g := startGame(t, game.Config{ID: i, Dispatchers: []string{addr}, BootEntity: "Probe", Registry: reg, Logger: l}).g
		createLocally(t, g, "Probe", nil)
		gs = append(gs, g)
	}
	for restart := 1; restart <= 40; restart++ {
		d.stop(t)
		d = startDispatcher(t, addr, l)
		for i, g := range gs {
			logs.waitConnects(t, i+1, restart+1)
			onLoop(t, g, func() {}) // its re-registration has run
		}
		if logs.has("RegisterEntity to dispatcher 0 dropped") {
			t.Fatalf("restart %d: a game's re-registration was dropped: the dispatcher lost its entities", restart)
		}
	}
}

// reachAll calls Ping from game from on each of ids, through the
// dispatcher, until every one has answered. It polls: calls sent before
// the route exists are dropped by the dispatcher. A call that answers late
// (after the next round was sent) counts too.
func reachAll(t *testing.T, from *game.Game, sk *sink, ids ...rpc.EntityID) {
	t.Helper()
	reached := map[rpc.EntityID]bool{}
	deadline := time.Now().Add(waitLimit)
	for round := 1; len(reached) < len(ids); round++ {
		if time.Now().After(deadline) {
			t.Fatalf("calls never reached %d of %d entities (reached: %v)", len(ids)-len(reached), len(ids), reached)
		}
		onLoop(t, from, func() {
			for _, id := range ids {
				if !reached[id] {
					from.World().Call(id, "Ping", round)
				}
			}
		})
		timeout := time.After(50 * time.Millisecond)
	wait:
		for len(reached) < len(ids) {
			select {
			case ev := <-sk.ch:
				if ev.what != "Ping" || !slices.Contains(ids, ev.id) {
					t.Fatalf("got %s%v from %s", ev.what, ev.args, ev.id)
				}
				reached[ev.id] = true
			case <-timeout:
				break wait
			}
		}
	}
	// Let late answers to this round land before the caller goes on.
	onLoop(t, from, func() {})
}

func TestRunEndsWhenTheContextIsCancelled(t *testing.T) {
	l, _ := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	g, err := game.New(game.Config{ID: 1, Dispatchers: []string{d.addr}, BootEntity: "Probe", Registry: registry(t), Logger: l})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(ctx) }()
	select {
	case <-g.Ready():
	case <-time.After(waitLimit):
		t.Fatal("not ready")
	}
	cancel()
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the context was cancelled")
	}
}

func TestRunWithoutDispatcherStopsOnCancel(t *testing.T) {
	// Nothing listens on the address: the game never becomes ready, and
	// cancelling still ends Run.
	l, logs := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	addr := d.addr
	d.stop(t)
	g, err := game.New(game.Config{ID: 1, Dispatchers: []string{addr}, BootEntity: "Probe", Registry: registry(t), Logger: l})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(ctx) }()
	// Two failed dials, each logged.
	logs.wait(t, "dispatcher unreachable (attempt 2); redialling in")
	select {
	case <-g.Ready():
		t.Fatal("ready without a dispatcher")
	default:
	}
	cancel()
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the context was cancelled")
	}
}

func TestCloseBeforeRunStopsRun(t *testing.T) {
	l, _ := newLogger()
	d := startDispatcher(t, "127.0.0.1:0", l)
	g, err := game.New(game.Config{ID: 1, Dispatchers: []string{d.addr}, BootEntity: "Probe", Registry: registry(t), Logger: l})
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(ctx) }()
	select {
	case err := <-runErr:
		if !errors.Is(err, game.ErrServerClosed) {
			t.Fatalf("Run returned %v, want game.ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		cancel()
		<-runErr
		t.Fatal("Run did not return: the earlier Close was ignored")
	}
}
