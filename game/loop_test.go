package game_test

import (
	"context"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/rpc"
)

// Busy has a timer always due (every millisecond, each run busy for a
// millisecond) and counts the calls it gets.
type Busy struct {
	entity.Entity
	ticks, calls, ticksAtLast int
	want                      int
}

func (b *Busy) OnCreated() { b.AddTimer(time.Millisecond, "Tick") }

// Tick holds the loop for a millisecond.
func (b *Busy) Tick() {
	b.ticks++
	for start := time.Now(); time.Since(start) < time.Millisecond; {
	}
}

// Count counts a call; the last one notes how many timer runs it took.
func (b *Busy) Count() {
	if b.calls++; b.calls == b.want {
		b.ticksAtLast = b.ticks
	}
}

// TestFramesAreNotStarvedByTimers: 300 frames waiting for a game whose
// timers are always due are handled in batches between timer runs, not
// one per timer run (the loop chose between them at random, one frame a
// turn: about a timer run per frame).
func TestFramesAreNotStarvedByTimers(t *testing.T) {
	const n = 300
	l, _ := newLogger()
	fake := startFakeDispatcher(t)
	reg := registry(t)
	if err := reg.Register("Busy", &Busy{}); err != nil {
		t.Fatal(err)
	}
	g, err := game.New(game.Config{ID: 1, Dispatchers: []string{fake.addr}, BootEntity: "Probe", Registry: reg, Logger: l})
	if err != nil {
		t.Fatal(err)
	}
	node := &gameNode{g: g, runErr: make(chan error, 1)}
	go func() { node.runErr <- g.Run(context.Background()) }()
	t.Cleanup(func() { node.stop(t) })
	fc := fake.accept(t)
	<-g.Ready()
	id := createLocally(t, g, "Busy", nil)
	onLoop(t, g, func() { g.World().Entity(id).Self().(*Busy).want = n })

	// Hold the loop while the frames queue, so that all wait at once.
	release := make(chan struct{})
	g.Post(func() { <-release })
	for range n {
		fc.send(t, rpc.MsgCallEntityMethod, fakeCall(id, "Count"))
	}
	deadline := time.Now().Add(waitLimit)
	for metric(t, g, `goworld_game_inbound_queue\{process="game1"\}`) < n {
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the frames did not reach the game's queue")
		}
		time.Sleep(time.Millisecond) // polling a gauge, bounded by deadline
	}
	close(release)

	var calls, ticks int
	for deadline := time.Now().Add(waitLimit); ; {
		onLoop(t, g, func() {
			b := g.World().Entity(id).Self().(*Busy)
			calls, ticks = b.calls, b.ticksAtLast
		})
		if calls == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d calls handled", calls, n)
		}
		time.Sleep(time.Millisecond) // polling the entity, bounded by deadline
	}
	// In batches of up to 64 (or 2 ms): a handful of timer runs. One a
	// turn: about one per frame. n/4 leaves room for a slow machine.
	if ticks > n/4 {
		t.Fatalf("%d timer runs while %d waiting frames were handled; want them in batches (at most %d)", ticks, n, n/4)
	}
	t.Logf("%d frames handled across %d timer runs", n, ticks)
}
