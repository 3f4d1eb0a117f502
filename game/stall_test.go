package game_test

import (
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/metrics"
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
// frames wait for it, and past stall_threshold in its log. The threshold
// is far above one wake-up (15 ms against 250 ms), so that a loaded
// machine that delays one wake-up does not make it look stuck, and the
// naps add up to far more than it (900 ms), so that frames do wait longer.
func TestLaggingLoopIsLogged(t *testing.T) {
	const threshold = 250 * time.Millisecond
	c, logs := startCluster(t, cluster.Options{Games: 2, StallThreshold: threshold})
	caller, g := c.Games[0], c.Games[1]
	sk := newSink(t)
	id := probeOn(t, caller, 2, sk)
	// 60 calls of 15ms each, each a frame of its own: one wake-up each.
	onLoop(t, caller, func() {
		for i := 0; i < 60; i++ {
			caller.World().Call(id, "Nap", 15)
		}
		caller.World().Call(id, "Ping", 1)
	})
	sk.expect(t, "Ping")
	logs.wait(t, "frames from the dispatchers waited up to", "stall_threshold 250ms", "cannot keep up")
	if logs.has("game loop stuck") {
		t.Error("short wake-ups were reported as a stuck loop")
	}
	// Some frames waited longer than the threshold: fewer are in its
	// bucket than in all of them.
	within, all := frameWaits(t, g, "0.25"), frameWaits(t, g, "+Inf")
	if all < 61 || within >= all {
		t.Errorf("frame waits: %v of %v within %v; want at least 61 frames, some waiting longer", within, all, threshold)
	}
}

// frameWaits returns game g's count of frames that waited at most le
// seconds (a bucket of goworld_game_frame_wait_seconds).
func frameWaits(t *testing.T, g *game.Game, le string) float64 {
	t.Helper()
	ss, err := metrics.Parse(strings.NewReader(metricsOf(t, g)))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Name == "goworld_game_frame_wait_seconds_bucket" && s.Labels["le"] == le {
			return s.Value
		}
	}
	t.Fatalf("no frame_wait bucket le=%q", le)
	return 0
}

func metricsOf(t *testing.T, g *game.Game) string {
	t.Helper()
	var b strings.Builder
	if err := g.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
