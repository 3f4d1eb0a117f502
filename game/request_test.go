package game_test

import (
	"errors"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/rpc"
)

// RqCaller asks; its callback counts and keeps the answers in attributes,
// which a hot reload carries.
type RqCaller struct{ entity.Entity }

func (c *RqCaller) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("answers", 0)
	d.DefineAttr("last", 0)
}

func (c *RqCaller) OnAnswer(n int, err error) {
	c.Attrs.Set("answers", c.Attrs.GetInt("answers")+1)
	if err != nil {
		c.Attrs.Set("last", err.Error())
		return
	}
	c.Attrs.Set("last", int64(n))
}

// RqWorker answers.
type RqWorker struct{ entity.Entity }

func (w *RqWorker) Triple(n int) (int, error) { return 3 * n, nil }

// blockLoop holds g's loop until the returned function is called (it
// returns once the loop is held), so that what is sent to g waits.
func blockLoop(t *testing.T, g *game.Game) (release func()) {
	t.Helper()
	held, rel := make(chan struct{}), make(chan struct{})
	g.Post(func() { close(held); <-rel })
	select {
	case <-held:
	case <-time.After(waitLimit):
		t.Fatal("the loop was not held")
	}
	return func() { close(rel) }
}

// TestRequestPendingAcrossHotReload: a request whose answer comes while
// the caller's game is frozen for a hot reload is carried: the restored
// process runs the callback, once, with the answer.
func TestRequestPendingAcrossHotReload(t *testing.T) {
	r := newReloadEnv(t)
	for name, proto := range map[string]any{"RqCaller": &RqCaller{}, "RqWorker": &RqWorker{}} {
		if err := r.reg.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	g1 := startGame(t, r.config(nil))
	cfg2 := r.config(nil)
	cfg2.ID, cfg2.FreezeDir = 2, t.TempDir()
	g2 := startGame(t, cfg2)

	caller := createLocally(t, g1.g, "RqCaller", nil)
	worker := createLocally(t, g2.g, "RqWorker", nil)

	// A first request answers at once, across the two games.
	onLoopErr(t, g1.g, func() error {
		return g1.g.World().Entity(caller).Request(worker, "Triple", "OnAnswer", 5)
	})
	waitAttr(t, g1.g, caller, "answers", 1)

	// The worker's game holds the second request until the caller's
	// game has frozen: its answer waits in the dispatcher's queue.
	release := blockLoop(t, g2.g)
	onLoopErr(t, g1.g, func() error {
		return g1.g.World().Entity(caller).Request(worker, "Triple", "OnAnswer", 7)
	})
	_, f := r.freeze(t, g1)
	var pending int
	for _, fe := range f.Entities {
		if fe.ID == string(caller) {
			for _, tm := range fe.Timers {
				if tm.Method == "@reqTimeout" {
					pending++
				}
			}
		}
	}
	if pending != 1 {
		t.Fatalf("%d pending requests in the freeze file, want 1", pending)
	}
	release()

	g1b := startGame(t, r.config(f))
	waitAttr(t, g1b.g, caller, "answers", 2)
	var last any
	onLoop(t, g1b.g, func() { last = g1b.g.World().Entity(caller).Attrs.Get("last") })
	if last != int64(21) {
		t.Fatalf("answer after the reload: %v, want 21", last)
	}
	// Exactly once: the timeout is gone with the answer.
	onLoop(t, g1b.g, func() {
		if n := g1b.g.World().Entity(caller).PendingRequests(); n != 0 {
			t.Errorf("%d requests still pending", n)
		}
	})
	sent, timedOut, late := g1b.g.World().RequestStats()
	if sent != 0 || timedOut != 0 || late != 0 {
		// The counters are the process's: the restored one sent nothing.
		t.Fatalf("restored process's counters %d %d %d", sent, timedOut, late)
	}
}

// waitAttr polls entity id's integer attribute key on g until it is want.
func waitAttr(t *testing.T, g *game.Game, id rpc.EntityID, key string, want int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var got int64
		var err error
		onLoop(t, g, func() {
			e := g.World().Entity(id)
			if e == nil {
				err = errors.New("entity gone")
				return
			}
			got = e.Attrs.GetInt(key)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", key, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
