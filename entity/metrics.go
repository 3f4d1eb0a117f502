package entity

import (
	"math/rand/v2"
	"time"
)

// aoiCost counts the AOI grid moves of a world's spaces and the time they
// took (the grid update and the enter/leave decisions, not the hooks that
// run after). Only the game loop touches it.
//
// Not every move is timed: two reads of the clock cost about a tenth of
// a server-side step, so one move in aoiSampleGap on average is, and its
// time stands for the moves until the next timed one (a gap drawn at
// random from 1 to 2*aoiSampleGap-1, so that no pattern in the order of
// the moves biases it). The first move is timed.
type aoiCost struct {
	moves uint64
	spent time.Duration
	// skip is the moves to count before the next timed one; gap the
	// moves the next timed one stands for.
	skip, gap uint32
}

// aoiSampleGap is the mean gap between timed moves.
const aoiSampleGap = 16

// timed reports whether the coming move is to be timed: then add gets
// its start time, else the zero time.
func (c *aoiCost) timed() bool {
	if c.skip > 0 {
		return false
	}
	if c.gap == 0 {
		c.gap = 1 // the first move
	}
	return true
}

// add counts a move. A timed one, which started at start, stands for
// the moves of its gap, and draws the next gap.
func (c *aoiCost) add(start time.Time) {
	c.moves++
	if start.IsZero() {
		c.skip--
		return
	}
	c.spent += time.Duration(c.gap) * time.Since(start)
	c.gap = 1 + rand.Uint32N(2*aoiSampleGap-1)
	c.skip = c.gap - 1
}

// AOIStats returns how many times an entity moved within a space's AOI
// grid so far (moves that changed x or z), and the time those moves took
// (an estimate: one move in 16 on average is timed, see aoiCost).
// Use it on the game loop.
func (en *Engine) AOIStats() (moves uint64, spent time.Duration) {
	w := en.w
	return w.aoiCost.moves, w.aoiCost.spent
}

// SyncDeferred counts, over all the position syncs of a world's spaces
// so far, what a bound made them leave for a later sync (see
// space.Deferred): Routes, clients whose neighbours' moves were not
// looked at (aoi_sync_work); Creates and Positions, entity creates and
// positions that waited for a client's share of the budget
// (aoi_sync_limit, aoi_sync_total). Nothing deferred is lost. Growing
// counts in a crowd say that its clients get positions less often than
// every sync; a game that wants them every sync raises the bounds.
type SyncDeferred struct{ Routes, Creates, Positions uint64 }

// SyncDeferred returns what the position syncs deferred so far. Use it
// on the game loop.
func (en *Engine) SyncDeferred() SyncDeferred { return en.w.syncDeferred }
