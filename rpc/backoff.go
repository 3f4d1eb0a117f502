package rpc

import (
	"math/rand/v2"
	"time"
)

// Reconnection backoff, of a server's link to a dispatcher (package
// link) and of a client's reconnection: the first redial waits about
// MinBackoff, each failed dial doubles the wait up to MaxBackoff. Every
// wait is jittered (a uniformly random 50% to 100% of it), so that the
// games and gates of a cluster do not all redial a restarted dispatcher
// at the same instant.
const (
	MinBackoff = 100 * time.Millisecond
	MaxBackoff = 5 * time.Second
)

// NextBackoff returns the backoff after d: twice d, at most MaxBackoff.
func NextBackoff(d time.Duration) time.Duration { return min(2*d, MaxBackoff) }

// Jitter returns a uniformly random duration in [d/2, d].
func Jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
