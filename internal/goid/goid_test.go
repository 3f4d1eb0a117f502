package goid_test

import (
	"testing"

	"github.com/goworld-engine/goworld/internal/goid"
)

// TestCurrent: a goroutine's ID is not 0, stays the same, and differs
// from another goroutine's.
func TestCurrent(t *testing.T) {
	me := goid.Current()
	if me == 0 || goid.Current() != me {
		t.Fatalf("Current() = %d, then %d", me, goid.Current())
	}
	other := make(chan uint64)
	go func() { other <- goid.Current() }()
	if o := <-other; o == 0 || o == me {
		t.Fatalf("another goroutine's ID %d, this one's %d", o, me)
	}
}
