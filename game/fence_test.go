package game_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/vmihailenco/msgpack/v5"
)

// FnBoot is a client's boot entity: Play loads a hero (wherever the
// dispatcher places it) and hands the client to it.
type FnBoot struct{ entity.Entity }

func (b *FnBoot) DescribeEntityType(d *entity.TypeDesc) { d.ExposeToClient("Play") }

// Play loads the hero id.
func (b *FnBoot) Play(id string) {
	if err := b.LoadEntitySomewhere("Hero", rpc.EntityID(id), "OnHero"); err != nil {
		b.Kick(err.Error())
	}
}

// OnHero hands the client to the loaded hero.
func (b *FnBoot) OnHero(id rpc.EntityID, err error) {
	if err != nil {
		b.Kick(err.Error())
		return
	}
	b.GiveClientTo(id)
}

// staleCopy is the set-up of the tests below: two games on one Redis, a
// hero loaded on game 1 with a client bound to it; the dispatcher
// restarted while game 1's path to it was down past the recovery window,
// and the hero loaded again on game 2, changed (level 50) and saved there.
// Game 1's path is still down; its copy is still live.
type staleCopy struct {
	g1, g2 *game.Game
	path   *gatedProxy
	st     storage.Backend
	sk     *sink
	hero   rpc.EntityID
	c      *client.Client
	logs   *logHook
}

func setupStaleCopy(t *testing.T) *staleCopy {
	srv := redistest.Start(t)
	l, logs := newLogger()
	startD := func(addr string) *dispatcherNode {
		d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: addr, Logger: l, Games: []rpc.GameID{1, 2},
			DispatcherTuning: config.DispatcherTuning{RecoverWindow: 300 * time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		return runDispatcher(t, d)
	}
	d := startD("127.0.0.1:0")
	addr := d.addr
	path := startProxy(t, addr) // game 1's way to the dispatcher
	reg := registry(t)
	if err := reg.Register("FnBoot", &FnBoot{}); err != nil {
		t.Fatal(err)
	}
	cfg := func(id int, to string) game.Config {
		return game.Config{ID: id, Dispatchers: []string{to}, BootEntity: "FnBoot", Registry: reg,
			Storage: openRedis(t, srv.Addr, 0), GameTuning: config.GameTuning{SaveInterval: time.Hour},
			Logger: l}
	}
	g1 := startGame(t, cfg(1, path.ln.Addr().String())).g
	g2 := startGame(t, cfg(2, addr)).g
	gw := startGate(t, []string{addr}, l)
	st := openRedis(t, srv.Addr, 0)

	sk := newSink(t)
	hero := rpc.NewEntityID()
	data, err := msgpack.Marshal(map[string]any{"tag": sk.tag, "level": 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveEntities([]storage.EntityRecord{{Type: "Hero", ID: string(hero), Data: data}}); err != nil {
		t.Fatal(err)
	}
	// Game 2 is busier: the client's boot entity and the hero's load go
	// to game 1, the least loaded. The dispatcher must know it first:
	// game 2 sends the registrations after createLocally returns, and the
	// dispatcher reads each game on its own goroutine, so game 1's load
	// could be placed before them, on game 2 (seen once under load).
	for range 3 {
		createLocally(t, g2, "Probe", nil)
	}
	waitFor(t, "the dispatcher's record of game 2's entities", func() bool {
		return dispatcherMetric(t, d, "goworld_dispatcher_entities") == 3
	})
	c, err := client.Dial(gw.g.Addr().String(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	boot := waitPlayerID(t, c)
	if err := c.Call(boot, "Play", string(hero)); err != nil {
		t.Fatal(err)
	}
	if ev := sk.expect(t, "created"); ev.id != hero {
		t.Fatalf("created %s, want the hero %s", ev.id, hero)
	}
	if got := waitPlayerID(t, c); got != hero {
		t.Fatalf("client's player is %s, want the hero %s", got, hero)
	}
	// (t.Fatal must not run on the game's loop: it would end the loop's
	// goroutine, and the test would hang in the game's Close.)
	onGame1 := false
	onLoop(t, g1, func() { onGame1 = g1.World().Entity(hero) != nil })
	if !onGame1 {
		t.Fatal("the hero was not loaded on game 1")
	}

	// The dispatcher restarts; game 1 stays cut off past the window. The
	// dispatcher stops first: cut off while it still ran, game 1 would be
	// seen leaving, and the gate told, which kicks its client with "game
	// gone" before the fencing can tell it anything (the path is closed
	// before the new dispatcher listens, so game 1 cannot reach it).
	d.stop(t)
	path.setOpen(false)
	logs.wait(t, "disconnected from dispatcher", "game=1")
	logs.wait(t, "disconnected from dispatcher", "game=2")
	d2 := startD(addr)
	if d2.addr != addr {
		t.Fatalf("new dispatcher on %s, want %s", d2.addr, addr)
	}
	logs.waitConnects(t, 2, 2)
	logs.wait(t, "recovery window over")

	// The hero is loaded again, on game 2 (game 1 is not there), and
	// changed and saved there.
	onLoopErr(t, g2, func() error { return g2.World().LoadEntitySomewhere("Hero", hero) })
	if ev := sk.expect(t, "created"); ev.id != hero {
		t.Fatalf("created %s, want the hero %s", ev.id, hero)
	}
	onGame2 := false
	onLoop(t, g2, func() {
		if e := g2.World().Entity(hero); e != nil {
			onGame2 = true
			e.Attrs.Set("level", 50)
			game.EngineOf(g2).SaveDirty(nil)
		}
	})
	if !onGame2 {
		t.Fatal("the hero is not on game 2")
	}
	waitFor(t, "game 2's save", func() bool { return stored(t, st, "Hero", hero)["level"] == int64(50) })

	return &staleCopy{g1: g1, g2: g2, path: path, st: st, sk: sk, hero: hero, c: c, logs: logs}
}

// dispatcherMetric returns the value of the dispatcher's first sample of
// the gauge or counter name (whatever its labels), or -1 if it has none.
func dispatcherMetric(t *testing.T, d *dispatcherNode, name string) float64 {
	t.Helper()
	var buf bytes.Buffer
	if err := d.d.WriteMetrics(&buf); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{[^}]*\} (\S+)$`).FindStringSubmatch(buf.String())
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// expectTold waits for the client of the retired copy to be disconnected
// with the fencing reason.
func (s *staleCopy) expectTold(t *testing.T) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case ev := <-s.c.Events():
			if dc, ok := ev.(client.Disconnected); ok {
				if !strings.Contains(dc.Reason, entity.FencedLoggedElsewhere) {
					t.Fatalf("client disconnected with %q; want %q", dc.Reason, entity.FencedLoggedElsewhere)
				}
				return
			}
		case <-deadline:
			t.Fatal("the retired copy's client was not told")
		}
	}
}

// TestStaleCopyIsFencedAndRetired reproduces the gap fencing closes. Two
// games share one Redis. A hero is loaded on game 1, its player's client
// bound to it. The dispatcher restarts while game 1 cannot reach it (its
// path is down, Redis is not) for longer than the recovery window; after
// the window the hero is loaded again, on game 2, and changed and saved
// there. Game 1's copy, still live, saves its own change: the store
// refuses it (game 1 loaded with an older epoch), so game 2's state
// stays, and game 1 retires its copy — no further save, counted in
// /metrics — and, once its path is back, its client is told why.
// Without the fencing, game 1's save overwrites game 2's.
func TestStaleCopyIsFencedAndRetired(t *testing.T) {
	s := setupStaleCopy(t)
	g1, g2, path, st, hero, logs := s.g1, s.g2, s.path, s.st, s.hero, s.logs
	// Game 1's stale copy saves a change of its own: refused, retired.
	lost := false
	onLoop(t, g1, func() {
		e := g1.World().Entity(hero)
		if lost = e == nil; lost {
			return
		}
		e.Attrs.Set("level", 7)
		game.EngineOf(g1).SaveDirty(nil)
	})
	if lost {
		t.Fatal("game 1 lost its copy before saving")
	}
	waitFor(t, "game 1 retiring its copy", func() bool {
		gone := false
		onLoop(t, g1, func() { gone = g1.World().Entity(hero) == nil })
		return gone
	})
	if m := stored(t, st, "Hero", hero); m["level"] != int64(50) {
		t.Fatalf("stored %v: game 1's stale copy overwrote game 2's level 50", m)
	}
	onLoop(t, g1, func() {}) // the loop published its figures
	if n := metric(t, g1, `goworld_game_fenced_entities_total\{process="game1"\}`); n != 1 {
		t.Fatalf("goworld_game_fenced_entities_total on game 1 = %v; want 1", n)
	}
	if n := logs.count("loaded elsewhere", "this copy is retired"); n != 1 {
		t.Fatalf("%d log lines about the retired copy; want 1", n)
	}

	// Game 1 comes back: its client hears why it lost its hero, game 2
	// keeps the hero and its state.
	path.setOpen(true)
	logs.waitConnects(t, 1, 2)
	s.expectTold(t)
	onLoop(t, g1, func() { game.EngineOf(g1).SaveDirty(nil) })
	onLoop(t, g2, func() {
		if g2.World().Entity(hero) == nil {
			t.Error("game 2 lost the hero")
		}
	})
	if m := stored(t, st, "Hero", hero); m["level"] != int64(50) {
		t.Fatalf("stored %v after game 1 came back; want game 2's level 50", m)
	}
}

// TestStaleCopyRetiredWhenItReregisters: the same stale copy, but game
// 1's path comes back before the copy saves anything. Game 1 re-registers
// it with the restarted dispatcher, naming its epoch; the dispatcher has
// the hero on game 2 with a newer one, keeps that route and tells game 1
// to retire its copy (MsgRetireEntity): gone at once without a save, its
// client told, and calls to the hero reach game 2's copy. (The last
// registration used to win: calls went to game 1's stale copy until its
// next save was fenced, and its unregistration then left the hero
// unrouted.)
func TestStaleCopyRetiredWhenItReregisters(t *testing.T) {
	s := setupStaleCopy(t)
	onLoop(t, s.g1, func() { s.g1.World().Entity(s.hero).Attrs.Set("level", 7) }) // not saved
	s.path.setOpen(true)
	s.expectTold(t)
	gone := false
	onLoop(t, s.g1, func() { gone = s.g1.World().Entity(s.hero) == nil })
	if !gone {
		t.Fatal("game 1 still has its copy after its client was told")
	}
	if n := s.logs.count("loaded elsewhere", "this copy is retired"); n != 1 {
		t.Fatalf("%d log lines about the retired copy; want 1", n)
	}
	if n := s.logs.count("registered by game1", "game1 retires its copy"); n != 1 {
		t.Fatalf("%d dispatcher lines about game 1's copy; want 1", n)
	}
	// Calls to the hero, from game 1, reach game 2's copy (level 50).
	onLoop(t, s.g1, func() { s.g1.World().Call(s.hero, "Ping", 1) })
	if ev := s.sk.expect(t, "Ping"); fmt.Sprint(ev.args) != "[1 50]" {
		t.Fatalf("Ping answered with %v; want game 2's copy: [1 50]", ev.args)
	}
	onLoop(t, s.g1, func() { game.EngineOf(s.g1).SaveDirty(nil) })
	if m := stored(t, s.st, "Hero", s.hero); m["level"] != int64(50) {
		t.Fatalf("stored %v; want game 2's level 50", m)
	}
	if n := metric(t, s.g1, `goworld_game_fenced_entities_total\{process="game1"\}`); n != 1 {
		t.Fatalf("goworld_game_fenced_entities_total on game 1 = %v; want 1", n)
	}
}

// waitPlayerID waits for the client's next player entity and returns its ID.
func waitPlayerID(t *testing.T, c *client.Client) rpc.EntityID {
	t.Helper()
	for {
		select {
		case ev := <-c.Events():
			if e, ok := ev.(client.EntityCreated); ok && e.IsPlayer {
				return e.ID
			}
			if dc, ok := ev.(client.Disconnected); ok {
				t.Fatalf("client disconnected: %s", dc.Reason)
			}
		case <-time.After(waitLimit):
			t.Fatal("no player entity")
		}
	}
}
