package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/metrics"
)

// TestStatusShowsSyncApart: a game's position syncs are shown apart
// (sync_mean, sync_p99) from its other wake-ups (tick_mean, tick_p99): a
// few slow syncs among many quick frames show in sync_p99, not lost in
// tick_p99.
func TestStatusShowsSyncApart(t *testing.T) {
	text := `# TYPE goworld_game_tick_seconds histogram
goworld_game_tick_seconds_bucket{kind="frame",le="0.0001"} 990
goworld_game_tick_seconds_bucket{kind="frame",le="0.1"} 1000
goworld_game_tick_seconds_bucket{kind="frame",le="+Inf"} 1000
goworld_game_tick_seconds_sum{kind="frame"} 0.05
goworld_game_tick_seconds_count{kind="frame"} 1000
goworld_game_tick_seconds_bucket{kind="sync",le="0.0001"} 0
goworld_game_tick_seconds_bucket{kind="sync",le="0.1"} 0
goworld_game_tick_seconds_bucket{kind="sync",le="0.2"} 10
goworld_game_tick_seconds_bucket{kind="sync",le="+Inf"} 10
goworld_game_tick_seconds_sum{kind="sync"} 1.5
goworld_game_tick_seconds_count{kind="sync"} 10
`
	ss, err := metrics.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	line := metricsLine(roleGame, ss)
	for _, want := range []string{"tick_mean=50µs", "sync_mean=150ms"} {
		if !strings.Contains(line, want) {
			t.Errorf("status line %q lacks %s", line, want)
		}
	}
	t.Logf("status line: %s", line)
	if strings.Contains(line, "sync_deferred") {
		t.Errorf("status line %q shows sync_deferred with nothing deferred", line)
	}
	// The frames' p99 is within their first bucket (<= 100µs); the
	// syncs', within (100ms, 200ms]. Mixed, the p99 would be 100µs and
	// the slow syncs invisible.
	if tick := regexpField(line, "tick_p99"); tick != "100µs" {
		t.Errorf("tick_p99=%q, want 100µs (the frames only)", tick)
	}
	if sync := regexpField(line, "sync_p99"); sync != "199ms" {
		t.Errorf("sync_p99=%q, want 199ms", sync)
	}
	rates := rateLine(roleGame, ss, 1e9)
	if !strings.Contains(rates, "sync_p99=") || !strings.Contains(rates, "tick_p99=") {
		t.Errorf("rate line %q", rates)
	}
}

func regexpField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestStatusShowsDeferred: what the position syncs left for later (the
// budgets binding in a crowd) shows as sync_deferred, the sum of its
// kinds, and as a rate under -watch.
func TestStatusShowsDeferred(t *testing.T) {
	sample := func(route, create, position int) metrics.Samples {
		t.Helper()
		text := fmt.Sprintf(`# TYPE goworld_game_aoi_deferred_total counter
goworld_game_aoi_deferred_total{what="route"} %d
goworld_game_aoi_deferred_total{what="create"} %d
goworld_game_aoi_deferred_total{what="position"} %d
`, route, create, position)
		ss, err := metrics.Parse(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	before, after := sample(1, 2, 40), sample(3, 2, 60)
	if got := regexpField(metricsLine(roleGame, after), "sync_deferred"); got != "65" {
		t.Errorf("sync_deferred=%q, want 65", got)
	}
	if got := regexpField(rateLine(roleGame, after.Delta(before), 2*time.Second), "sync_deferred"); got != "11.0/s" {
		t.Errorf("sync_deferred rate %q, want 11.0/s", got)
	}
	if line := rateLine(roleGame, after.Delta(after), time.Second); strings.Contains(line, "sync_deferred") {
		t.Errorf("rate line %q shows sync_deferred with nothing deferred over the interval", line)
	}
}
