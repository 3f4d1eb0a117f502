package game_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// Mailer is a client's boot entity that sends offline calls for it.
type Mailer struct{ entity.Entity }

func (m *Mailer) DescribeEntityType(d *entity.TypeDesc) { d.ExposeToClient("Send") }

// Send sends Hero.Ping(n) to hero, whether it is loaded or not.
func (m *Mailer) Send(hero string, n int) {
	if err := m.CallOffline("Hero", rpc.EntityID(hero), "Ping", n); err != nil {
		panic(err)
	}
}

// offlineCluster starts games games on one Redis server (each with its
// own backend, as separate processes have) and returns the cluster and a
// backend of the test's own on the same server.
func offlineCluster(t *testing.T, srv *redistest.Server, games, mailboxLimit int) (*cluster.Cluster, *logHook, storage.Backend) {
	t.Helper()
	l, h := newLogger()
	r := registry(t)
	if err := r.Register("Mailer", &Mailer{}); err != nil {
		t.Fatal(err)
	}
	c := cluster.Start(t, cluster.Options{
		Registry: r, BootEntity: "Mailer", Logger: l, Games: games, MailboxLimit: mailboxLimit,
		SaveInterval: time.Hour,
		OpenStorage: func(int) (storage.Backend, error) {
			return storage.OpenRedis(&storage.RedisOptions{Addr: srv.Addr, KeyPrefix: "g:", DialTimeout: time.Second})
		},
	})
	return c, h, openRedis(t, srv.Addr, time.Second)
}

// offlineStats sums the offline-call counters of every game.
func offlineStats(c *cluster.Cluster) (stored, dropped, run uint64) {
	for _, g := range c.Games {
		s, d, r := g.World().OfflineStats()
		stored, dropped, run = stored+s, dropped+d, run+r
	}
	return
}

// storedHero creates a Hero on g, waits until storage holds it, and
// destroys it: it is in storage, not live.
func storedHero(t *testing.T, g *game.Game, b storage.Backend, sk *sink) rpc.EntityID {
	t.Helper()
	id := createLocally(t, g, "Hero", map[string]any{"tag": sk.tag, "level": 5})
	sk.expect(t, "created")
	waitFor(t, "the hero's first save", func() bool { _, err := b.LoadEntity("Hero", string(id)); return err == nil })
	onLoop(t, g, func() { g.World().Entity(id).Destroy() })
	return id
}

// expectPings reads the hero's next reports, which must be Pings of
// want, in that order.
func expectPings(t *testing.T, sk *sink, id rpc.EntityID, want ...int) {
	t.Helper()
	for _, n := range want {
		ev := sk.expect(t, "Ping")
		if ev.id != id || ev.args[0] != n {
			t.Fatalf("Ping%v from %s, want Ping(%d) from %s", ev.args, ev.id, n, id)
		}
	}
}

// sentinel calls Ping(-1) on the live hero with a plain call on g, its
// game, and expects it next: no offline call was run twice before it.
func sentinel(t *testing.T, g *game.Game, sk *sink, id rpc.EntityID) {
	t.Helper()
	onLoop(t, g, func() { g.World().Call(id, "Ping", -1) })
	expectPings(t, sk, id, -1)
}

// hostOf returns the game where id lives.
func hostOf(t *testing.T, c *cluster.Cluster, id rpc.EntityID) *game.Game {
	t.Helper()
	for _, g := range c.Games {
		here := false
		onLoop(t, g, func() { here = g.World().Entity(id) != nil })
		if here {
			return g
		}
	}
	t.Fatalf("%s lives on no game", id)
	return nil
}

// wantEmptyMailbox checks that storage holds no offline call for id.
func wantEmptyMailbox(t *testing.T, b storage.Backend, id rpc.EntityID) {
	t.Helper()
	if m, err := b.TakeMessages("Hero", string(id)); err != nil || len(m) != 0 {
		t.Fatalf("mailbox of %s after delivery: %d messages, %v; want none", id, len(m), err)
	}
}

// TestOfflineCallsDeliveredInOrderAtLoad: calls to a stored hero that is
// not live wait in its mailbox (on Redis) and run, in the order sent,
// once it is loaded again, on either game; the mailbox is empty then and
// nothing runs twice.
func TestOfflineCallsDeliveredInOrderAtLoad(t *testing.T) {
	srv := redistest.Start(t)
	c, _, b := offlineCluster(t, srv, 2, 0)
	g1, g2 := c.Games[0], c.Games[1]
	sk := newSink(t)
	hero := storedHero(t, g1, b, sk)

	const n = 20
	onLoopErr(t, g2, func() error {
		for i := range n {
			if err := g2.World().CallOffline("Hero", hero, "Ping", i); err != nil {
				return err
			}
		}
		return nil
	})
	waitFor(t, "the offline calls stored", func() bool { s, _, _ := offlineStats(c); return s == n })
	if len(sk.ch) != 0 {
		t.Fatalf("a report while the hero is not loaded: %v", <-sk.ch)
	}
	onLoopErr(t, g2, func() error { return g2.World().LoadEntitySomewhere("Hero", hero) })
	if ev := sk.expect(t, "created"); ev.id != hero {
		t.Fatalf("created %s, want the hero %s", ev.id, hero)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	expectPings(t, sk, hero, want...)
	sentinel(t, hostOf(t, c, hero), sk, hero)
	wantEmptyMailbox(t, b, hero)
	if s, d, r := offlineStats(c); s != n || d != 0 || r != n {
		t.Fatalf("offline calls stored %d, dropped %d, run %d; want %d, 0, %d", s, d, r, n, n)
	}
}

// TestOfflineCallToLiveEntity: an offline call to a live hero, on another
// game, runs at once as a call and is never stored.
func TestOfflineCallToLiveEntity(t *testing.T) {
	srv := redistest.Start(t)
	c, _, b := offlineCluster(t, srv, 2, 0)
	g1, g2 := c.Games[0], c.Games[1]
	sk := newSink(t)
	hero := createLocally(t, g1, "Hero", map[string]any{"tag": sk.tag, "level": 1})
	sk.expect(t, "created")
	waitFor(t, "the hero's first save", func() bool { _, err := b.LoadEntity("Hero", string(hero)); return err == nil })
	for i := range 3 {
		onLoopErr(t, g2, func() error { return g2.World().CallOffline("Hero", hero, "Ping", i) })
		expectPings(t, sk, hero, i)
	}
	// And from its own game: a local call.
	onLoopErr(t, g1, func() error { return g1.World().CallOffline("Hero", hero, "Ping", 3) })
	expectPings(t, sk, hero, 3)
	wantEmptyMailbox(t, b, hero)
	if s, d, r := offlineStats(c); s != 0 || d != 0 || r != 0 {
		t.Fatalf("offline calls stored %d, dropped %d, run %d; want none", s, d, r)
	}
}

// TestOfflineMailboxLimit: past mailbox_limit an offline call is dropped
// with an error in the log that names the entity and the method; the
// calls within the limit run at the next load, in order; a call to an
// entity storage does not hold is dropped with its own error; and
// CallOffline refuses at once what it can tell is wrong.
func TestOfflineMailboxLimit(t *testing.T) {
	srv := redistest.Start(t)
	c, logs, b := offlineCluster(t, srv, 2, 3)
	g1, g2 := c.Games[0], c.Games[1]
	sk := newSink(t)
	hero := storedHero(t, g1, b, sk)
	onLoopErr(t, g2, func() error {
		for i := range 5 {
			if err := g2.World().CallOffline("Hero", hero, "Ping", i); err != nil {
				return err
			}
		}
		return nil
	})
	waitFor(t, "3 calls stored, 2 dropped", func() bool { s, d, _ := offlineStats(c); return s == 3 && d == 2 })
	logs.wait(t, "offline call Ping to Hero<"+string(hero)+"> dropped", "mailbox is full (3 offline calls, mailbox_limit)")

	nobody := rpc.EntityID("0123456789abcdef")
	onLoopErr(t, g2, func() error { return g2.World().CallOffline("Hero", nobody, "Ping", 1) })
	logs.wait(t, "offline call Ping to Hero<"+string(nobody)+"> dropped", "storage holds no such entity")

	onLoop(t, g2, func() {
		w := g2.World()
		for what, err := range map[string]error{
			"unknown type":       w.CallOffline("Dragon", hero, "Ping", 1),
			"not persistent":     w.CallOffline("Probe", hero, "Ping", 1),
			"invalid ID":         w.CallOffline("Hero", "short", "Ping", 1),
			"no such method":     w.CallOffline("Hero", hero, "Fly", 1),
			"unencodable":        w.CallOffline("Hero", hero, "Ping", make(chan int)),
			"larger than a mail": w.CallOffline("Hero", hero, "Ping", make([]byte, storage.MaxMailboxMessage)),
		} {
			if err == nil {
				t.Errorf("CallOffline with %s: no error", what)
			}
		}
	})

	onLoopErr(t, g1, func() error { return g1.World().LoadEntitySomewhere("Hero", hero) })
	sk.expect(t, "created")
	expectPings(t, sk, hero, 0, 1, 2)
	sentinel(t, hostOf(t, c, hero), sk, hero)
	wantEmptyMailbox(t, b, hero)
}

// TestOfflineCallsWhileLoading sends offline calls from both games while
// the hero is being loaded, round after round (destroyed in between):
// every call runs exactly once, each game's in the order it sent them,
// whether it reached the mailbox before the load took it, after (the
// storing game's notice makes the live hero take it again), or the hero
// itself.
func TestOfflineCallsWhileLoading(t *testing.T) {
	srv := redistest.Start(t)
	c, logs, b := offlineCluster(t, srv, 2, 0)
	g1, g2 := c.Games[0], c.Games[1]
	sk := newSink(t)
	hero := storedHero(t, g1, b, sk)
	t.Cleanup(func() { // the servers' log, to read a failure by
		if t.Failed() {
			logs.mu.Lock()
			defer logs.mu.Unlock()
			t.Log(strings.Join(logs.lines, ""))
		}
	})
	for round := range 4 {
		base := round * 100
		done := make(chan error, 1)
		// g1 sends concurrently with g2's loop event.
		g1.Post(func() {
			var err error
			for i := range 3 {
				if e := g1.World().CallOffline("Hero", hero, "Ping", base+10+i); e != nil {
					err = e
				}
			}
			done <- err
		})
		onLoopErr(t, g2, func() error {
			w := g2.World()
			if err := w.CallOffline("Hero", hero, "Ping", base); err != nil {
				return err
			}
			if err := w.LoadEntitySomewhere("Hero", hero); err != nil {
				return err
			}
			return w.CallOffline("Hero", hero, "Ping", base+1)
		})
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitLimit):
			t.Fatal("g1's calls not sent")
		}
		sk.expect(t, "created")
		last := map[int]int{0: -1, 10: -1}
		for range 5 {
			ev := sk.expect(t, "Ping")
			n, _ := ev.args[0].(int)
			k, i := (n-base)/10*10, (n-base)%10
			prev, ok := last[k]
			if !ok || i <= prev {
				t.Fatalf("round %d: Ping(%d) after Ping(%d) of the same sender, or not sent", round, n, base+k+prev)
			}
			last[k] = i
		}
		if last[0] != 1 || last[10] != 2 {
			t.Fatalf("round %d: last Pings %v, want every call", round, last)
		}
		// The sentinel is a local call on the hero's game: the dispatcher
		// may not know yet where the hero lives (its registration after
		// the load is still on its way), and would drop a routed call.
		sentinel(t, hostOf(t, c, hero), sk, hero)
		wantEmptyMailbox(t, b, hero)
		for _, g := range c.Games {
			onLoop(t, g, func() {
				if e := g.World().Entity(hero); e != nil {
					e.Destroy()
				}
			})
		}
	}
}

// TestOfflineCallsSurviveClusterRestart: a player's client sends offline
// calls through its boot entity to a hero that is not loaded; the whole
// cluster stops, Redis is killed -9 and restarted (its AOF, fsynced at
// every write, keeps the mailbox), a new
// cluster starts, and the hero's next load runs the calls in order.
func TestOfflineCallsSurviveClusterRestart(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c1, _, b := offlineCluster(t, srv, 2, 0)
	sk := newSink(t)
	hero := storedHero(t, c1.Games[0], b, sk)

	cl, err := client.Dial(c1.GateAddr(0), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	mailer := waitPlayerID(t, cl)
	const n = 5
	for i := range n {
		if err := cl.Call(mailer, "Send", string(hero), i); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the offline calls stored", func() bool { s, _, _ := offlineStats(c1); return s == n })
	cl.Close()
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Kill() // a crash: appendfsync always has every append on disk
	srv.Restart(t)

	c2, _, _ := offlineCluster(t, srv, 2, 0)
	g := c2.Games[1]
	onLoopErr(t, g, func() error { return g.World().LoadEntitySomewhere("Hero", hero) })
	if ev := sk.expect(t, "created"); fmt.Sprint(ev.args[0]) != "5" {
		t.Fatalf("hero created with level %v, want its stored 5", ev.args[0])
	}
	expectPings(t, sk, hero, 0, 1, 2, 3, 4)
	sentinel(t, hostOf(t, c2, hero), sk, hero)
	b2 := openRedis(t, srv.Addr, time.Second)
	wantEmptyMailbox(t, b2, hero)
	if _, _, r := offlineStats(c2); r != n {
		t.Fatalf("%d offline calls run after the restart, want %d", r, n)
	}
}
