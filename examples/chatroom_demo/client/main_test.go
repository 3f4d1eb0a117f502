package main

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kcp-go (imported by the client package) runs process-wide
		// scheduler goroutines it never stops.
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"))
}

// TestFormatWho: /who's line for an answer that names every member, one
// that names only the first of them, and an empty room.
func TestFormatWho(t *testing.T) {
	for _, c := range []struct {
		answer map[string]any
		want   string
	}{
		{map[string]any{"room": "lobby", "members": []any{"alice", "bob"}, "total": int64(2)}, "[lobby] members: alice, bob"},
		{map[string]any{"room": "big", "members": []any{"a", "b"}, "total": int64(250)}, "[big] members: a, b, … (250 in all)"},
		{map[string]any{"room": "x", "members": []any{}, "total": int64(0)}, "[x] members: "},
	} {
		if got := formatWho(c.answer); got != c.want {
			t.Errorf("formatWho(%v) = %q, want %q", c.answer, got, c.want)
		}
	}
}
