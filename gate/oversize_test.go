package gate_test

import (
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// TestCallTooLargeToForwardIsRefused: with max_client_packet_size equal to
// max_packet_size, a client's largest call grows past the dispatcher's
// limit once the gate adds the client's identity. The gate refuses it
// (a kick), where forwarding it made the dispatcher close the gate's link
// and every client of the gate go with it.
func TestCallTooLargeToForwardIsRefused(t *testing.T) {
	c, logs := start(t, cluster.Options{MaxPacketSize: 8192, MaxClientPacketSize: 8192})
	p := newPair(t, c.GateAddr(0))
	big := dialPlayer(t, c.GateAddr(0))
	// The frame (16-byte entity ID, 2+4 of method, 1+3+8160 of
	// arguments: 8186 bytes) fits 8192; forwarded, with the gate's 10
	// bytes of client identity, it does not.
	if err := big.CallPlayer("Echo", strings.Repeat("x", 8160)); err != nil {
		t.Fatal(err)
	}
	if reason := expectKick(t, big); !strings.Contains(reason, "too large to forward (max_packet_size 8192)") {
		t.Fatalf("kick reason %q", reason)
	}
	p.check(t)
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, e := range logs.entries {
		if strings.Contains(e, "disconnected from dispatcher") {
			t.Errorf("a link was closed: %s", e)
		}
	}
}
