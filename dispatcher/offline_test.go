package dispatcher_test

import (
	"testing"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
)

// offlineBody is a MsgCallOffline body.
func offlineBody(id rpc.EntityID, typ, method string) []byte {
	return append(rpc.AppendString(rpc.AppendString(rpc.AppendEntityID(nil, id), typ), method), 0x90)
}

// TestCallOfflineRouting: an offline call of a registered entity goes to
// its game like a call (queued while it migrates); of an entity no game
// has, to the least loaded game, without registering it (a call after
// it is still dropped); only games may send one.
func TestCallOfflineRouting(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	hero, own1, own2, other := rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, own1)
	register(t, g2, hero)
	register(t, g2, own2)
	register(t, g2, other)

	// Live on g2: forwarded there, byte for byte.
	live := offlineBody(hero, "Hero", "Live")
	g1.send(t, rpc.MsgCallOffline, live)
	g2.expectFrame(t, rpc.MsgCallOffline, live)

	// Not registered: to the less loaded game (g1: 1, g2: 3), which
	// stores it; twice, still not registered.
	gone := rpc.NewEntityID()
	for _, m := range []string{"A", "B"} {
		b := offlineBody(gone, "Hero", m)
		g2.send(t, rpc.MsgCallOffline, b)
		g1.expectFrame(t, rpc.MsgCallOffline, b)
	}
	g2.send(t, rpc.MsgCallEntityMethod, callBody(gone, "Dropped"))
	barrier(t, g2, own2)
	g1.send(t, rpc.MsgCallEntityMethod, callBody(own1, "Next"))
	g1.expectFrame(t, rpc.MsgCallEntityMethod, callBody(own1, "Next")) // not the dropped call

	// Migrating: held with the entity's calls, then forwarded in order.
	g2.send(t, rpc.MsgMigrateBlock, rpc.AppendEntityID(nil, hero))
	g2.expectFrame(t, rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, hero))
	held := offlineBody(hero, "Hero", "Held")
	g1.send(t, rpc.MsgCallOffline, held)
	barrier(t, g1, own1)
	g1.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, hero))
	g1.expectFrame(t, rpc.MsgCallOffline, held)

	// Only games send them.
	gw := connect(t, s, rpc.RoleGate, 1)
	gw.send(t, rpc.MsgCallOffline, offlineBody(other, "Hero", "Forged"))
	gw.expectClosed(t)
	g1.expectPeerGone(t, rpc.RoleGate, 1)
	g2.expectPeerGone(t, rpc.RoleGate, 1)
	barrier(t, g2, other)
}

func requestOfflineBody(id, caller rpc.EntityID, reqID uint64, typ, method string) []byte {
	b := rpc.AppendUint64(rpc.AppendEntityID(rpc.AppendEntityID(nil, id), caller), reqID)
	return append(rpc.AppendString(rpc.AppendString(b, typ), method), 0x90)
}

// TestRequestOfflineRouting: an offline request is routed as an offline
// call: to the entity's game if registered, else to the least loaded
// game (no "no such entity" answer from the dispatcher: storage decides);
// only games send one.
func TestRequestOfflineRouting(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	hero, caller, own2 := rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g2, hero)
	register(t, g2, own2)
	register(t, g1, caller)

	live := requestOfflineBody(hero, caller, 1, "Hero", "Live")
	g1.send(t, rpc.MsgRequestOffline, live)
	g2.expectFrame(t, rpc.MsgRequestOffline, live)
	gone := requestOfflineBody(rpc.NewEntityID(), caller, 2, "Hero", "Mail")
	g2.send(t, rpc.MsgRequestOffline, gone)
	g1.expectFrame(t, rpc.MsgRequestOffline, gone) // g1: 1 entity, g2: 2
	barrier(t, g2, own2)                           // nothing came back to g2

	gw := connect(t, s, rpc.RoleGate, 1)
	gw.send(t, rpc.MsgRequestOffline, requestOfflineBody(hero, caller, 3, "Hero", "Forged"))
	gw.expectClosed(t)
}
