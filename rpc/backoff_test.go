package rpc

import (
	"testing"
	"time"
)

func TestBackoffDoublesToItsCapWithJitter(t *testing.T) {
	d := MinBackoff
	var seq []time.Duration
	for range 10 {
		seq = append(seq, d)
		d = NextBackoff(d)
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000}
	for i := range want {
		if seq[i] != want[i]*time.Millisecond {
			t.Fatalf("backoff %d: %v, want %v (sequence %v)", i, seq[i], want[i]*time.Millisecond, seq)
		}
	}
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := Jitter(time.Second)
		if j < 500*time.Millisecond || j > time.Second {
			t.Fatalf("Jitter(1s) = %v, outside [500ms, 1s]", j)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Fatalf("Jitter(1s) gave %d distinct values in 1000", len(seen))
	}
}
