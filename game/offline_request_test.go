package game_test

import (
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/game"

	"github.com/goworld-engine/goworld/rpc"
)

// TestRequestOfflineThroughADispatcher: an entity on game 2 asks for
// offline calls to a hero that is stored but live nowhere: the first is
// stored (answer nil), the second finds the mailbox full (limit 1), one
// to an ID storage does not hold is refused, each answer reaching the
// caller through the dispatcher; the hero's next load runs the stored
// call.
func TestRequestOfflineThroughADispatcher(t *testing.T) {
	e := newSvcEnv(t, 1, 2)
	cfg1, cfg2 := e.config(1, e.d.addr, nil), e.config(2, e.d.addr, nil)
	cfg1.MailboxLimit, cfg2.MailboxLimit = 1, 1
	g1 := startGame(t, cfg1).g
	g2 := startGame(t, cfg2).g
	sk := newSink(t)
	hero := createLocally(t, g1, "Hero", map[string]any{"tag": sk.tag, "level": 3})
	sk.expect(t, "created")
	onLoop(t, g1, func() { g1.World().Entity(hero).Destroy() }) // saved, then live nowhere
	waitSaved(t, g1)

	asker := createLocally(t, g2, "SvcAsker", nil)
	request := func(id rpc.EntityID, answers int64) any {
		onLoopErr(t, g2, func() error {
			return g2.World().Entity(asker).RequestOffline("Hero", id, "Ping", "OnDone", 41)
		})
		waitAttr(t, g2, asker, "answers", answers)
		var last any
		onLoop(t, g2, func() { last = g2.World().Entity(asker).Attrs.Get("last") })
		return last
	}
	if got := request(hero, 1); got != "ok" {
		t.Fatalf("first offline request answered %v, want nil (stored)", got)
	}
	if got, _ := request(hero, 2).(string); !strings.Contains(got, "mailbox is full") {
		t.Fatalf("second offline request answered %q, want the full mailbox", got)
	}
	if got, _ := request(rpc.NewEntityID(), 3).(string); !strings.Contains(got, "storage holds no such entity") {
		t.Fatalf("offline request to nobody answered %q", got)
	}
	onLoopErr(t, g2, func() error { return g2.World().LoadEntitySomewhere("Hero", hero) })
	if ev := sk.expect(t, "created"); ev.id != hero {
		t.Fatalf("created %s", ev.id)
	}
	if ev := sk.expect(t, "Ping"); ev.args[0] != 41 {
		t.Fatalf("the stored call ran with %v", ev.args)
	}
}

// waitSaved waits until g has no save in flight.
func waitSaved(t *testing.T, g *game.Game) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var n int
		onLoop(t, g, func() { n = g.World().SavesInFlight() })
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d saves still in flight", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
