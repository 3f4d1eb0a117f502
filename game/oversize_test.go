package game_test

import (
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// TestOversizedFrameIsDroppedNotTheLink: a frame over max_packet_size
// (game code creating an entity elsewhere with a huge attribute) is
// dropped by the game that would send it, with an error in its log: the
// dispatcher would have closed the game's link for it, and every player
// of the game would have gone. What follows goes through.
func TestOversizedFrameIsDroppedNotTheLink(t *testing.T) {
	c, logs := startCluster(t, cluster.Options{Games: 2, MaxPacketSize: 4096})
	caller := c.Games[0]
	sk := newSink(t)
	var big, small rpc.EntityID
	onLoopErr(t, caller, func() (err error) {
		big, err = caller.World().CreateEntityOnGame(2, "Probe", map[string]any{"tag": strings.Repeat("x", 8000)})
		if err == nil {
			small, err = caller.World().CreateEntityOnGame(2, "Probe", map[string]any{"tag": sk.tag})
		}
		return err
	})
	logs.wait(t, "CreateEntityOnGame of ", "bytes to dispatcher 1 dropped: over max_packet_size (4096)")
	ev := sk.expect(t, "created")
	if ev.id != small {
		t.Fatalf("created %s, want %s (not %s)", ev.id, small, big)
	}
	onLoop(t, caller, func() { caller.World().Call(small, "Ping", 1) })
	if ev := sk.expect(t, "Ping"); ev.args[0] != 1 {
		t.Fatalf("Ping%v", ev.args)
	}
	if logs.has("peer disconnected") || logs.has("disconnected from dispatcher") {
		t.Error("a link was closed")
	}
}
