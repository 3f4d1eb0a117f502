package dispatcher_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
)

// TestMigrationQueuesCallsInOrder: between MsgMigrateBlock and the new
// game's registration, calls for the entity wait at the dispatcher, and
// then reach the new game in the order they were sent, after the
// migrated entity itself.
func TestMigrationQueuesCallsInOrder(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	gw := connect(t, s, rpc.RoleGate, 1)
	e, space, own2 := rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g2, space)
	register(t, g2, own2)

	before := callBody(e, "Before")
	g2.send(t, rpc.MsgCallEntityMethod, before)
	g1.expectFrame(t, rpc.MsgCallEntityMethod, before)

	// g1 starts the migration: the ack comes after what was forwarded.
	g1.send(t, rpc.MsgMigrateBlock, rpc.AppendEntityID(nil, e))
	g1.expectFrame(t, rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, e))

	// Calls, client calls, client positions: all held.
	queued := [][]byte{
		callBody(e, "During", 1),
		clientCallBody(e, 1, 5, "Exposed", 2),
		callBody(e, "During", 3),
	}
	g2.send(t, rpc.MsgCallEntityMethod, queued[0])
	gw.send(t, rpc.MsgClientCall, queued[1])
	g2.send(t, rpc.MsgCallEntityMethod, queued[2])
	barrier(t, g2, own2)

	// The entity travels to the space's game.
	mig := append(rpc.AppendUint16(rpc.AppendEntityID(nil, space), 1), "frozen entity"...)
	g1.send(t, rpc.MsgMigrateEntity, mig)
	g2.expectFrame(t, rpc.MsgMigrateEntity, mig)

	// g2 registers it: the queue follows, in order (the gate's call may
	// be anywhere: it came on another connection), then new calls.
	g2.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e))
	var calls [][]byte
	gateCall := false
	for i := 0; i < 3; i++ {
		f := g2.next(t)
		switch {
		case f.t == rpc.MsgClientCall && bytes.Equal(f.body, queued[1]):
			gateCall = true
		case f.t == rpc.MsgCallEntityMethod:
			calls = append(calls, f.body)
		default:
			t.Fatalf("unexpected %v after the registration", f.t)
		}
	}
	if !gateCall || len(calls) != 2 || !bytes.Equal(calls[0], queued[0]) || !bytes.Equal(calls[1], queued[2]) {
		t.Fatalf("queued calls out of order or missing: gate call %v, calls %q", gateCall, calls)
	}
	after := callBody(e, "After")
	g1.send(t, rpc.MsgCallEntityMethod, after)
	g2.expectFrame(t, rpc.MsgCallEntityMethod, after)
	// Nothing for e went to g1 meanwhile.
	own1 := rpc.NewEntityID()
	register(t, g1, own1)
}

// TestMigrationIntoUnknownSpaceComesBack: the dispatcher returns the
// entity to the game it came from.
func TestMigrationIntoUnknownSpaceComesBack(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	mig := append(rpc.AppendUint16(rpc.AppendEntityID(nil, rpc.NewEntityID()), 1), "frozen entity"...)
	g1.send(t, rpc.MsgMigrateEntity, mig)
	g1.expectFrame(t, rpc.MsgMigrateEntity, mig)
}

// TestMigrationQueueIsBounded: past MigrateQueueLimit, packets for a
// migrating entity are dropped rather than queued without limit.
func TestMigrationQueueIsBounded(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{MigrateQueueLimit: 1000})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	e, own2 := rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g2, own2)
	g1.send(t, rpc.MsgMigrateBlock, rpc.AppendEntityID(nil, e))
	g1.expectFrame(t, rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, e))
	var kept [][]byte
	for i := 0; i < 40; i++ {
		b := callBody(e, "Fill", i)
		g2.send(t, rpc.MsgCallEntityMethod, b)
		if len(kept) < 1000/(rpc.HeaderSize+len(b)) {
			kept = append(kept, b)
		}
	}
	barrier(t, g2, own2)
	s.logs.wait(t, "queue full error", func(e logEntry) bool {
		return e.level == logrus.ErrorLevel && strings.Contains(e.msg, "is migrating and its queue is full")
	})
	g2.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e))
	for _, b := range kept {
		g2.expectFrame(t, rpc.MsgCallEntityMethod, b)
	}
	barrier(t, g2, own2)
}

// TestCreateEntityOnGame: the named game gets the entity; an unknown game
// drops it.
func TestCreateEntityOnGame(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	id := rpc.NewEntityID()
	b := rpc.AppendUint16(rpc.AppendEntityID(nil, id), 2)
	b = rpc.AppendString(b, "Arena")
	b = append(b, 0x80)
	g1.send(t, rpc.MsgCreateEntityOnGame, b)
	g2.expectFrame(t, rpc.MsgCreateEntityOnGame, b)
	call := callBody(id, "Hello")
	g1.send(t, rpc.MsgCallEntityMethod, call)
	g2.expectFrame(t, rpc.MsgCallEntityMethod, call)

	lost := rpc.NewEntityID()
	b = rpc.AppendUint16(rpc.AppendEntityID(nil, lost), 9)
	b = append(rpc.AppendString(b, "Arena"), 0x80)
	g1.send(t, rpc.MsgCreateEntityOnGame, b)
	s.logs.wait(t, "dropped create", func(e logEntry) bool { return strings.Contains(e.msg, "which is not connected: dropped") })
}
