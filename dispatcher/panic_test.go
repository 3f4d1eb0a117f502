package dispatcher_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
)

// TestRoutingPanicCostsOneFrame: a panic while routing a frame, even with
// the routing table locked for writing (placing a new entity), drops that
// frame only: it is logged and counted, the lock is released, and the
// peer's connection and every other route go on. A panic used to end the
// connection (the game's, so the dispatcher forgot its entities), and a
// lock left held would have frozen the dispatcher.
func TestRoutingPanicCostsOneFrame(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	own := rpc.NewEntityID()
	register(t, g1, own)
	dispatcher.SetForwardHook(s.d, func(typ rpc.MsgType, body []byte) {
		if typ == rpc.MsgCreateEntitySomewhere && bytes.Contains(body, []byte("Poison")) {
			panic("routing invariant broken (test)")
		}
	})

	poisoned := rpc.NewEntityID()
	g1.send(t, rpc.MsgCreateEntitySomewhere, createBody(poisoned, "Poison", nil))
	s.logs.wait(t, "the recovered panic", func(e logEntry) bool {
		return strings.Contains(e.msg, "routing invariant broken (test)") &&
			strings.Contains(e.msg, "goroutine") && e.fields["peer"] == "game1" &&
			e.fields["msg"] == "CreateEntitySomewhere"
	})
	if n := dispatcher.Panics(s.d); n != 1 {
		t.Fatalf("%d panics counted, want 1", n)
	}

	// The write lock was released and the game is still connected: a
	// create (write lock) and a call (read lock) both go through.
	ok := createBody(rpc.NewEntityID(), "Monster", nil)
	g1.send(t, rpc.MsgCreateEntitySomewhere, ok)
	g1.expectFrame(t, rpc.MsgCreateEntitySomewhere, ok)
	barrier(t, g1, own)
}
