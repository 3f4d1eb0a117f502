package game_test

import (
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/goid"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// World.Go runs work off the loop and done on it; a panic in work is
// logged and done still runs.
func TestWorldGo(t *testing.T) {
	c, logs := startCluster(t, cluster.Options{})
	g := c.Games[0]
	loop := make(chan uint64, 1)
	onLoop(t, g, func() { loop <- goid.Current() })
	loopID := <-loop

	type result struct{ workG, doneG uint64 }
	ok, failed := make(chan result, 1), make(chan result, 1)
	onLoop(t, g, func() {
		var r result
		g.World().Go(func() { r.workG = goid.Current() }, func() { r.doneG = goid.Current(); ok <- r })
		g.World().Go(func() { panic("work failed") }, func() { failed <- result{doneG: goid.Current()} })
	})
	for _, ch := range []chan result{ok, failed} {
		select {
		case r := <-ch:
			if r.doneG != loopID {
				t.Fatalf("done ran on goroutine %d, not the loop's %d", r.doneG, loopID)
			}
			if ch == ok && (r.workG == 0 || r.workG == loopID) {
				t.Fatalf("work ran on goroutine %d (the loop is %d)", r.workG, loopID)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("done did not run")
		}
	}
	logs.wait(t, "panic in World.Go work", "work failed")
	onLoop(t, g, func() {
		if n := g.World().StorageInFlight(); n != 0 {
			t.Errorf("%d operations still counted in flight", n)
		}
	})
}
