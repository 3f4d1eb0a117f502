package client

import (
	"testing"
	"time"
)

// TestBackoffJitter: the wait before attempt n is ReconnectDelay doubled
// n-1 times, at most ReconnectDelayMax, times a random factor in [0.5,
// 1.5): every sample within those bounds, and spread over them (not one
// value for every client).
func TestBackoffJitter(t *testing.T) {
	c := &Client{opts: Options{ReconnectDelay: 100 * time.Millisecond, ReconnectDelayMax: time.Second}}
	for n := 1; n <= 70; n++ {
		d := min(c.opts.ReconnectDelay<<min(n-1, 20), c.opts.ReconnectDelayMax)
		lo, hi := time.Duration(1<<62), time.Duration(0)
		for range 1000 {
			w := c.backoff(n)
			if w < d/2 || w >= d*3/2 {
				t.Fatalf("attempt %d: waits %v, want within [%v, %v)", n, w, d/2, d*3/2)
			}
			lo, hi = min(lo, w), max(hi, w)
		}
		if hi-lo < d/2 {
			t.Fatalf("attempt %d: 1000 waits within [%v, %v]: hardly spread", n, lo, hi)
		}
	}
}
