package main

import "github.com/goworld-engine/goworld"

// Size of the demo world: players spawn, and bots walk, within
// [0, WorldSize) on x and z. The space itself is unbounded.
const WorldSize = 1000

// CellSize is the World's AOI grid cell: about the players' AOI radius.
const CellSize = 100

// World is the space every player enters.
type World struct {
	goworld.Entity
}

// DescribeEntityType makes World a space.
func (w *World) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.DefineSpace(CellSize)
}

// worldSpace returns this game's World space, creating it the first time.
// It is looked up among the game's entities rather than remembered in a
// variable, so that it is found again after a hot reload (which rebuilds
// the entities but not package state), and so that several games in one
// process (as in tests) would never share anything. The scan costs one
// pass over the game's entities per connection, which is nothing next to
// what a connection costs anyway.
func worldSpace(w *goworld.World) (*goworld.Entity, error) {
	var found *goworld.Entity
	w.Entities(func(e *goworld.Entity) {
		if found == nil && e.IsSpace() && e.TypeName() == "World" && !e.IsDestroyed() {
			found = e
		}
	})
	if found != nil {
		return found, nil
	}
	return w.CreateSpaceLocally("World", nil)
}
