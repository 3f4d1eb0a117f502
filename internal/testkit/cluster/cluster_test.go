package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/rpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// boot is a boot entity for the test cluster.
type boot struct{ entity.Entity }

// TestGamesKnowTheCluster: every game of an in-process cluster knows the
// cluster's games (World.Games), as a game started from config.ini does,
// so that services are placed as in a real cluster (shard k on game k).
// Without them each game took itself for the only one.
func TestGamesKnowTheCluster(t *testing.T) {
	reg := entity.NewRegistry()
	if err := reg.Register("Boot", &boot{}); err != nil {
		t.Fatal(err)
	}
	c := Start(t, Options{Registry: reg, BootEntity: "Boot", Games: 3})
	for i, g := range c.Games {
		got := make(chan []rpc.GameID, 1)
		g.Post(func() { got <- g.World().Games() })
		select {
		case gs := <-got:
			if !slices.Equal(gs, []rpc.GameID{1, 2, 3}) {
				t.Errorf("game%d: Games() = %v, want [1 2 3]", i+1, gs)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("game%d's loop did not answer", i+1)
		}
	}
}
