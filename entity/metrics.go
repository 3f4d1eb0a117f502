package entity

import "time"

// aoiCost counts the AOI grid moves of a world's spaces and the time they
// took (the grid update and the enter/leave decisions, not the hooks that
// run after). Only the game loop touches it.
type aoiCost struct {
	moves uint64
	spent time.Duration
}

func (c *aoiCost) add(start time.Time) {
	c.moves++
	c.spent += time.Since(start)
}

// AOIStats returns how many times an entity moved within a space's AOI
// grid so far (moves that changed x or z), and the time those moves took.
// Use it on the game loop.
func (en *Engine) AOIStats() (moves uint64, spent time.Duration) {
	w := en.w
	return w.aoiCost.moves, w.aoiCost.spent
}
