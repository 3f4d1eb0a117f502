package rpc

import (
	"testing"
	"time"
)

// TestHeartbeatAck: the gate's heartbeat settings encode in whole
// milliseconds and decode back; a short body announces nothing; what
// decodes is clamped to the bounds, whatever the bytes.
func TestHeartbeatAck(t *testing.T) {
	p := HeartbeatParams{Interval: 5 * time.Second, Timeout: 30 * time.Second}
	b := AppendHeartbeatAck(nil, p)
	if len(b) != 8 {
		t.Fatalf("%d bytes, want 8", len(b))
	}
	if got, ok := DecodeHeartbeatAck(b); !ok || got != p {
		t.Fatalf("decoded %+v, %v; want %+v", got, ok, p)
	}
	if got, ok := DecodeHeartbeatAck(append(b, 1, 2, 3)); !ok || got != p {
		t.Fatalf("with trailing bytes: %+v, %v", got, ok)
	}
	for n := 0; n < 8; n++ {
		if _, ok := DecodeHeartbeatAck(b[:n]); ok {
			t.Fatalf("a body of %d bytes decoded", n)
		}
	}
	for _, tc := range []struct {
		in, want HeartbeatParams
	}{
		{HeartbeatParams{}, HeartbeatParams{MinHeartbeatInterval, 2 * MinHeartbeatInterval}},
		{HeartbeatParams{Interval: time.Second, Timeout: time.Second}, HeartbeatParams{time.Second, 2 * time.Second}},
		{HeartbeatParams{Interval: 24 * time.Hour, Timeout: 1000 * time.Hour}, HeartbeatParams{MaxHeartbeatInterval, MaxHeartbeatTimeout}},
		{HeartbeatParams{Interval: -time.Second, Timeout: 1 << 62}, HeartbeatParams{MinHeartbeatInterval, MaxHeartbeatTimeout}},
	} {
		if got, ok := DecodeHeartbeatAck(AppendHeartbeatAck(nil, tc.in)); !ok || got != tc.want {
			t.Errorf("%+v: decoded %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
