package game_test

import (
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// stallHere blocks the game loop, as an entity method that calls
// something slow would: the stall the watchdog must report.
func stallHere(d time.Duration) { time.Sleep(d) }

// TestStuckLoopIsLogged: a wake-up of the game loop that runs past
// stall_threshold is logged while it runs, with the loop's stack, counted,
// and logged again when the loop moves on. A game loop stopped for 8 s
// used to be logged by no process.
func TestStuckLoopIsLogged(t *testing.T) {
	c, logs := startCluster(t, cluster.Options{StallThreshold: 100 * time.Millisecond})
	g := c.Games[0]
	onLoop(t, g, func() { stallHere(600 * time.Millisecond) })
	logs.wait(t, "game loop stuck", "handling=posted", "stallHere", "stall_test.go")
	logs.wait(t, "game loop is moving again", "stalled_for=")
	if n := logs.count("game loop stuck"); n != 1 {
		t.Errorf("one stall logged %d times", n)
	}
	// Counted: at least this stall (a loaded machine may also delay the
	// watchdog itself by more than the threshold, which counts as well).
	m := metricsOf(t, g)
	if strings.Contains(m, `goworld_game_loop_stalls_total{process="game1"} 0`) ||
		!strings.Contains(m, `goworld_game_loop_stalls_total{process="game1"}`) {
		t.Errorf("stall not counted:\n%s", grepLines(m, "loop_"))
	}
}

// TestLaggingLoopIsLogged: a loop that is never stuck in one wake-up but
// falls behind (here: many short ones in a row) shows it in how long
// frames wait for it, and past stall_threshold in its log.
func TestLaggingLoopIsLogged(t *testing.T) {
	c, logs := startCluster(t, cluster.Options{Games: 2, StallThreshold: 100 * time.Millisecond})
	caller, g := c.Games[0], c.Games[1]
	sk := newSink(t)
	id := probeOn(t, caller, 2, sk)
	// 40 calls of 15ms each, each a frame of its own: one wake-up each.
	onLoop(t, caller, func() {
		for i := 0; i < 40; i++ {
			caller.World().Call(id, "Nap", 15)
		}
		caller.World().Call(id, "Ping", 1)
	})
	sk.expect(t, "Ping")
	logs.wait(t, "frames from the dispatchers waited up to", "stall_threshold 100ms", "cannot keep up")
	if logs.has("game loop stuck") {
		t.Error("short wake-ups were reported as a stuck loop")
	}
	m := metricsOf(t, g)
	if !strings.Contains(m, `goworld_game_frame_wait_seconds_bucket{process="game2",le="+Inf"}`) ||
		strings.Contains(m, `goworld_game_frame_wait_seconds_bucket{process="game2",le="0.1"} 4`) {
		t.Errorf("frame waits not observed, or none over 100ms:\n%s", grepLines(m, "frame_wait"))
	}
}

func metricsOf(t *testing.T, g *game.Game) string {
	t.Helper()
	var b strings.Builder
	if err := g.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
