package entity

import (
	"slices"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// TestGames: World.Games lists the configured games sorted and without
// repeats, returns a copy, and is this game alone when none were given.
func TestGames(t *testing.T) {
	r := NewRegistry()
	cfg := []rpc.GameID{4, 2, 7, 2}
	en, err := NewEngine(WorldConfig{GameID: 2, Games: cfg, Registry: r, Outbox: &recOutbox{n: 1}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w := en.World()
	if w.GameID() != 2 {
		t.Fatalf("GameID %d, want 2", w.GameID())
	}
	g := w.Games()
	if !slices.Equal(g, []rpc.GameID{2, 4, 7}) {
		t.Fatalf("Games %v, want [2 4 7]", g)
	}
	g[0] = 99
	if !slices.Equal(w.Games(), []rpc.GameID{2, 4, 7}) || !slices.Equal(cfg, []rpc.GameID{4, 2, 7, 2}) {
		t.Fatalf("Games shares its slice: %v, config %v", w.Games(), cfg)
	}
	en, err = NewEngine(WorldConfig{GameID: 5, Registry: r, Outbox: &recOutbox{n: 1}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	alone := en.World()
	if !slices.Equal(alone.Games(), []rpc.GameID{5}) {
		t.Fatalf("Games without a list: %v, want [5]", alone.Games())
	}
}
