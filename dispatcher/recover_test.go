package dispatcher_test

import (
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
)

// connectAfter dials and says hello as role/id, naming the dispatcher
// instance the peer was connected to before; it returns this one's.
func connectAfter(t *testing.T, s *server, role rpc.Role, id uint16, before uint64) (*peer, uint64) {
	t.Helper()
	p := dial(t, s, role.String()+string(rune('0'+id)))
	p.send(t, rpc.MsgHello, rpc.AppendUint64(helloBody(role, id), before))
	r := rpc.NewReader(p.expect(t, rpc.MsgHelloAck))
	r.Uint16()
	return p, r.Uint64()
}

func logged(words ...string) func(logEntry) bool {
	return func(e logEntry) bool {
		for _, w := range words {
			if !strings.Contains(e.msg, w) {
				return false
			}
		}
		return true
	}
}

// A dispatcher that a peer says is not the one it knew has restarted: it
// holds what is for entities, gates and games that are not back yet, and
// delivers it, in order, when they are.
func TestRestartedDispatcherHoldsUntilPeersAreBack(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	const old = 0xdead
	gate1, _ := connectAfter(t, s, rpc.RoleGate, 1, old)
	s.logs.wait(t, "the restart noticed", logged("this one restarted"))

	e := rpc.NewEntityID()
	call := clientCallBody(e, 1, 5, "Say", "held")
	gone := clientBody(e, 1, 5)
	fresh := clientBody("", 1, 6)
	gate1.send(t, rpc.MsgClientCall, call)
	gate1.send(t, rpc.MsgClientDisconnected, gone)
	gate1.send(t, rpc.MsgClientConnected, fresh) // no game yet: it waits

	game1, _ := connectAfter(t, s, rpc.RoleGame, 1, old)
	body := game1.expect(t, rpc.MsgClientConnected)
	if len(body) != len(fresh) || string(body[rpc.EntityIDLength:]) != string(fresh[rpc.EntityIDLength:]) {
		t.Fatalf("the held new client reached the game as %x", body)
	}
	// For gate 2, which is not back yet, and for every gate.
	toGate2 := toClientBody(2, 9, rpc.MsgCallClient, []byte("x"))
	bc := broadcastBody(rpc.FilterEq, "room", "lobby", rpc.MsgCallClient, []byte("y"))
	game1.send(t, rpc.MsgToClient, toGate2)
	game1.send(t, rpc.MsgFilteredBroadcast, bc)
	gate1.expectFrame(t, rpc.MsgFilteredBroadcast, bc)

	// The game re-registers e: the held frames follow, in order.
	game1.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e))
	game1.expectFrame(t, rpc.MsgClientCall, call)
	game1.expectFrame(t, rpc.MsgClientDisconnected, gone)

	gate2, _ := connectAfter(t, s, rpc.RoleGate, 2, old)
	gate2.expectFrame(t, rpc.MsgToClient, toGate2)
	gate2.expectFrame(t, rpc.MsgFilteredBroadcast, bc)
	// And once back, gate 2 gets what comes next directly.
	game1.send(t, rpc.MsgToClient, toGate2)
	gate2.expectFrame(t, rpc.MsgToClient, toGate2)
}

// A peer that names no instance (a cold start) or this very one (it
// reconnects) starts no recovery: a call to an unknown entity is dropped.
func TestNoRecoveryWithoutARestart(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	game1, inst := connectAfter(t, s, rpc.RoleGame, 1, 0)
	game1.close()
	game1, _ = connectAfter(t, s, rpc.RoleGame, 1, inst)
	own := rpc.NewEntityID()
	register(t, game1, own)
	e := rpc.NewEntityID()
	game1.send(t, rpc.MsgCallEntityMethod, callBody(e, "lost"))
	s.logs.wait(t, "the drop", logged("unknown entity", string(e)))
	game1.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e))
	barrier(t, game1, own)
	if _, ok := s.logs.find(logged("restarted")); ok {
		t.Fatal("recovery started without a restart")
	}
}

// What is held is bounded, and what is left at the end of the window is
// dropped, with errors in the log.
func TestRecoveryIsBoundedInSizeAndTime(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{DispatcherTuning: config.DispatcherTuning{RecoverWindow: 300 * time.Millisecond, RecoverQueueLimit: 200}})
	gate1, _ := connectAfter(t, s, rpc.RoleGate, 1, 0xbeef)
	e := rpc.NewEntityID()
	for range 10 {
		gate1.send(t, rpc.MsgClientCall, clientCallBody(e, 1, 5, "Say", "0123456789"))
	}
	s.logs.wait(t, "the full queue", logged("hold queue is full"))
	s.logs.wait(t, "the end of the window", logged("recovery window over", "1 entities that never registered"))

	game1, _ := connectAfter(t, s, rpc.RoleGame, 1, 0xbeef)
	own := rpc.NewEntityID()
	game1.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e))
	register(t, game1, own) // the next frame is its own call: nothing held came
}

// A restarted dispatcher does not load an entity that may still live on a
// game that has not re-registered yet: the load waits, and when that game
// re-registers the entity, the load (and what followed it) goes there,
// where it does nothing. No second copy is made on the game that asked.
func TestRestartedDispatcherHoldsLoadsUntilGamesReregister(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{Games: []rpc.GameID{1, 2}})
	const old = 0xdead
	game2, _ := connectAfter(t, s, rpc.RoleGame, 2, old)
	own2 := rpc.NewEntityID()
	register(t, game2, own2)
	game2.send(t, rpc.MsgRegistered, nil) // game 2 is back; game 1 is not yet

	hero := rpc.NewEntityID() // lives on game 1
	load := loadBody(hero, "Hero")
	call := callBody(hero, "TakeClient", 7)
	game2.send(t, rpc.MsgLoadEntitySomewhere, load) // a login on game 2
	game2.send(t, rpc.MsgCallEntityMethod, call)
	barrier(t, game2, own2) // both were routed, and neither came back here

	game1, _ := connectAfter(t, s, rpc.RoleGame, 1, old)
	game1.send(t, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, hero))
	game1.expectFrame(t, rpc.MsgLoadEntitySomewhere, load)
	game1.expectFrame(t, rpc.MsgCallEntityMethod, call)
	game1.send(t, rpc.MsgRegistered, nil)

	// hero is game 1's: a call from game 2 goes there, and game 2 still
	// gets nothing but its own.
	next := callBody(hero, "Hello")
	game2.send(t, rpc.MsgCallEntityMethod, next)
	game1.expectFrame(t, rpc.MsgCallEntityMethod, next)
	barrier(t, game2, own2)
}

// A load held after a restart is placed, with what followed it, as soon
// as every game of the cluster has re-registered and none has the entity.
func TestHeldLoadIsPlacedOnceEveryGameIsBack(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{Games: []rpc.GameID{1, 2}})
	const old = 0xdead
	game1, _ := connectAfter(t, s, rpc.RoleGame, 1, old)
	own1 := rpc.NewEntityID()
	register(t, game1, own1) // game 1 hosts one entity: game 2 is the less loaded
	game1.send(t, rpc.MsgRegistered, nil)

	hero := rpc.NewEntityID() // saved, live nowhere
	load := loadBody(hero, "Hero")
	call := callBody(hero, "TakeClient", 7)
	game1.send(t, rpc.MsgLoadEntitySomewhere, load)
	game1.send(t, rpc.MsgCallEntityMethod, call)
	barrier(t, game1, own1)

	game2, _ := connectAfter(t, s, rpc.RoleGame, 2, old)
	game2.send(t, rpc.MsgRegistered, nil)
	game2.expectFrame(t, rpc.MsgLoadEntitySomewhere, load)
	game2.expectFrame(t, rpc.MsgCallEntityMethod, call)
	s.logs.wait(t, "the placement", logged("every game has re-registered", "placing 1 loads"))

	// Placed: a later load of it goes to game 2 (a no-op there), and so
	// do calls.
	game1.send(t, rpc.MsgLoadEntitySomewhere, load)
	game2.expectFrame(t, rpc.MsgLoadEntitySomewhere, load)
	next := callBody(hero, "Hello")
	game1.send(t, rpc.MsgCallEntityMethod, next)
	game2.expectFrame(t, rpc.MsgCallEntityMethod, next)
}

// Without the list of games, a load held after a restart is placed when
// the recovery window ends.
func TestHeldLoadIsPlacedAtTheEndOfTheWindow(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{DispatcherTuning: config.DispatcherTuning{RecoverWindow: 300 * time.Millisecond}})
	// The window opens when game 1's hello arrives, so the time is taken
	// before it is sent: the load must not be placed sooner than 300ms
	// after that.
	began := time.Now()
	game1, _ := connectAfter(t, s, rpc.RoleGame, 1, 0xdead)
	game1.send(t, rpc.MsgRegistered, nil)
	hero := rpc.NewEntityID()
	load := loadBody(hero, "Hero")
	game1.send(t, rpc.MsgLoadEntitySomewhere, load)
	game1.expectFrame(t, rpc.MsgLoadEntitySomewhere, load)
	if el := time.Since(began); el < 300*time.Millisecond {
		t.Fatalf("the load was placed after %v, inside the 300ms window", el)
	}
}

// A restarted dispatcher holds a service shard's MsgEnsureService as it
// holds a load: the shard may live on a game that has not re-registered
// yet. When that game re-registers it, the ensure goes there (a no-op);
// no second copy is made on the game that asked.
func TestRestartedDispatcherHoldsServiceEnsures(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{Games: []rpc.GameID{1, 2}})
	const old = 0xdead
	game2, _ := connectAfter(t, s, rpc.RoleGame, 2, old)
	own2 := rpc.NewEntityID()
	register(t, game2, own2)
	game2.send(t, rpc.MsgRegistered, nil)

	shard := rpc.ServiceEntityID("Svc", 0) // lives on game 1
	ensure := ensureBody(shard, 2, "Svc")
	game2.send(t, rpc.MsgEnsureService, ensure) // game 2 saw game 1 go, say
	barrier(t, game2, own2)                     // routed, and not placed here

	game1, _ := connectAfter(t, s, rpc.RoleGame, 1, old)
	game1.send(t, rpc.MsgRegisterEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, shard), 5))
	game1.expectFrame(t, rpc.MsgEnsureService, ensure)
	game1.send(t, rpc.MsgRegistered, nil)
	call := callBody(shard, "Hit")
	game2.send(t, rpc.MsgCallEntityMethod, call)
	game1.expectFrame(t, rpc.MsgCallEntityMethod, call)
	barrier(t, game2, own2)
}
