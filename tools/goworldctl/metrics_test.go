package main

import (
	"strings"
	"testing"

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
