package dispatcher_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []dispatcher.Config{
		{ID: 1, Index: 1, Count: 1, ListenAddr: "127.0.0.1:0"},
		{ID: 1, Index: -1, Count: 2, ListenAddr: "127.0.0.1:0"},
		{ID: 1, Index: 2, Count: 2, ListenAddr: "127.0.0.1:0"},
	} {
		if d, err := dispatcher.New(cfg); err == nil || !strings.Contains(err.Error(), "out of range") {
			if d != nil {
				d.Close()
			}
			t.Errorf("New(index %d, count %d) = %v, want an out-of-range error", cfg.Index, cfg.Count, err)
		}
	}

	s := startDispatcher(t, dispatcher.Config{})
	if d, err := dispatcher.New(dispatcher.Config{ID: 2, ListenAddr: s.addr}); err == nil {
		d.Close()
		t.Fatalf("New on an address in use succeeded")
	} else if !strings.Contains(err.Error(), "dispatcher2") {
		t.Fatalf("error %q does not name the dispatcher", err)
	}
}

func TestHelloAck(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g := connect(t, s, rpc.RoleGame, 1)
	// A gate may share its number with a game: roles have separate tables.
	gw := connect(t, s, rpc.RoleGate, 1)
	msg := toClientBody(1, 9, rpc.MsgCallClient, []byte("x"))
	g.send(t, rpc.MsgToClient, msg)
	gw.expectFrame(t, rpc.MsgToClient, msg)
	// The highest ID is fine too.
	connect(t, s, rpc.RoleGame, 65535)
}

func TestBadHelloClosesOnlyThatConnection(t *testing.T) {
	const helloTimeout = 200 * time.Millisecond
	s := startDispatcher(t, dispatcher.Config{HelloTimeout: helloTimeout})
	g := connect(t, s, rpc.RoleGame, 1)
	gw := connect(t, s, rpc.RoleGate, 1)
	e := rpc.NewEntityID()
	register(t, g, e)
	n := 0
	stillServed := func(t *testing.T) {
		t.Helper()
		n++
		call := clientCallBody(e, 1, uint64(n), "Ping", n)
		gw.send(t, rpc.MsgClientCall, call)
		g.expectFrame(t, rpc.MsgClientCall, call)
	}

	// A whole first frame that is not a good hello is refused with a
	// reason (MsgHelloRefused); one that cannot be read is just closed.
	for _, tc := range []struct {
		name    string
		raw     []byte
		refused rpc.RefusalCode
	}{
		{"a call before hello", rpc.AppendFrame(nil, rpc.MsgCallEntityMethod, callBody(e, "Sneak")), rpc.RefusedBadHello},
		{"a client call before hello", rpc.AppendFrame(nil, rpc.MsgClientCall, clientCallBody(e, 1, 1, "Sneak")), rpc.RefusedBadHello},
		{"hello with another type", rpc.AppendFrame(nil, rpc.MsgHelloAck, helloBody(rpc.RoleGame, 2)), rpc.RefusedBadHello},
		{"role 0", rpc.AppendFrame(nil, rpc.MsgHello, helloBody(0, 2)), rpc.RefusedBadHello},
		{"role 3", rpc.AppendFrame(nil, rpc.MsgHello, helloBody(3, 2)), rpc.RefusedBadHello},
		{"game id 0", rpc.AppendFrame(nil, rpc.MsgHello, helloBody(rpc.RoleGame, 0)), rpc.RefusedBadHello},
		{"gate id 0", rpc.AppendFrame(nil, rpc.MsgHello, helloBody(rpc.RoleGate, 0)), rpc.RefusedBadHello},
		{"short hello", rpc.AppendFrame(nil, rpc.MsgHello, []byte{byte(rpc.RoleGame), 2}), rpc.RefusedBadHello},
		{"empty hello", rpc.AppendFrame(nil, rpc.MsgHello, nil), rpc.RefusedBadHello},
		{"frame length 0", []byte{0, 0, 0, 0, 0, 0}, 0},
		{"4 GiB first frame", []byte{0xff, 0xff, 0xff, 0xff, byte(rpc.MsgHello & 0xff), byte(rpc.MsgHello >> 8)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dial(t, s, "bad")
			p.sendRaw(t, tc.raw)
			if tc.refused != 0 {
				p.expectRefused(t, tc.refused)
			} else {
				p.expectClosed(t)
			}
			stillServed(t)
		})
	}
	if _, ok := s.logs.find(func(e logEntry) bool { return strings.Contains(e.msg, "bad hello") }); !ok {
		t.Errorf("no 'bad hello' warning logged")
	}

	t.Run("silence past HelloTimeout", func(t *testing.T) {
		// A peer that said hello is no longer subject to the hello timeout.
		q := connect(t, s, rpc.RoleGame, 2)
		qe := rpc.NewEntityID()
		register(t, q, qe)

		began := time.Now()
		silent := dial(t, s, "silent")
		silent.expectClosed(t)
		if el := time.Since(began); el < helloTimeout {
			t.Fatalf("closed after %v, before the %v hello timeout", el, helloTimeout)
		}
		// Half a header is silence too.
		partial := dial(t, s, "partial")
		partial.sendRaw(t, []byte{2, 0})
		partial.expectClosed(t)

		stillServed(t)
		call := callBody(qe, "StillThere")
		g.send(t, rpc.MsgCallEntityMethod, call)
		q.expectFrame(t, rpc.MsgCallEntityMethod, call)
	})
}

func TestEntityRouting(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	gw := connect(t, s, rpc.RoleGate, 3)
	e, f, own2 := rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g1, f)
	register(t, g2, own2)

	t.Run("call from another game arrives byte-identical", func(t *testing.T) {
		call := callBody(e, "TakeDamage", 12, "sword", map[string]any{"crit": true}, []any{1.5, nil})
		g2.send(t, rpc.MsgCallEntityMethod, call)
		g1.expectFrame(t, rpc.MsgCallEntityMethod, call)
	})
	t.Run("client call from a gate", func(t *testing.T) {
		call := clientCallBody(e, 3, 1<<40|5, "Move", 1, 2)
		gw.send(t, rpc.MsgClientCall, call)
		g1.expectFrame(t, rpc.MsgClientCall, call)
		gone := clientBody(e, 3, 1<<40|5)
		gw.send(t, rpc.MsgClientDisconnected, gone)
		g1.expectFrame(t, rpc.MsgClientDisconnected, gone)
	})
	t.Run("unknown entity is dropped and the sender kept", func(t *testing.T) {
		unknown := rpc.NewEntityID()
		g2.send(t, rpc.MsgCallEntityMethod, callBody(unknown, "Lost"))
		gw.send(t, rpc.MsgClientCall, clientCallBody(unknown, 3, 1, "Lost"))
		gw.send(t, rpc.MsgClientDisconnected, clientBody(unknown, 3, 1))
		// The zero ID is nobody's.
		g2.send(t, rpc.MsgCallEntityMethod, callBody("", "Lost"))
		// Later frames from the same senders still arrive, and nothing
		// arrived before them.
		after := callBody(e, "After")
		g2.send(t, rpc.MsgCallEntityMethod, after)
		g1.expectFrame(t, rpc.MsgCallEntityMethod, after)
		afterClient := clientCallBody(e, 3, 1, "After")
		gw.send(t, rpc.MsgClientCall, afterClient)
		g1.expectFrame(t, rpc.MsgClientCall, afterClient)
		barrier(t, g2, own2)
	})
	t.Run("unregister", func(t *testing.T) {
		// Another game cannot unregister g1's entity.
		g2.send(t, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, f))
		barrier(t, g2, own2)
		call := callBody(f, "StillMine")
		g2.send(t, rpc.MsgCallEntityMethod, call)
		g1.expectFrame(t, rpc.MsgCallEntityMethod, call)

		// Its own game can.
		g1.send(t, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, f))
		barrier(t, g1, e)
		g2.send(t, rpc.MsgCallEntityMethod, callBody(f, "Gone"))
		after := callBody(e, "After")
		g2.send(t, rpc.MsgCallEntityMethod, after)
		g1.expectFrame(t, rpc.MsgCallEntityMethod, after)
	})
	t.Run("a new registration moves the entity", func(t *testing.T) {
		register(t, g2, e)
		call := callBody(e, "Moved")
		g1.send(t, rpc.MsgCallEntityMethod, call)
		g2.expectFrame(t, rpc.MsgCallEntityMethod, call)
		register(t, g1, e)
	})
	if e, ok := s.logs.find(func(e logEntry) bool { return e.level <= logrus.WarnLevel }); ok {
		t.Errorf("unexpected warning: %s %v", e.msg, e.fields)
	}
}

func TestGateRouting(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g := connect(t, s, rpc.RoleGame, 1)
	gates := map[uint16]*peer{1: connect(t, s, rpc.RoleGate, 1), 2: connect(t, s, rpc.RoleGate, 2)}
	own := rpc.NewEntityID()
	register(t, g, own)
	e := rpc.NewEntityID()
	for _, tc := range []struct {
		t    rpc.MsgType
		body func(gate uint16) []byte
	}{
		{rpc.MsgToClient, func(gate uint16) []byte {
			return toClientBody(gate, 77, rpc.MsgCallClient, callBody(e, "OnHit", 3))
		}},
		{rpc.MsgSetClientOwner, func(gate uint16) []byte {
			return rpc.AppendUint16(rpc.AppendEntityID(rpc.AppendUint64(rpc.AppendUint16(nil, gate), 77), e), 1)
		}},
		{rpc.MsgSetClientFilterProp, func(gate uint16) []byte {
			return rpc.AppendString(rpc.AppendString(rpc.AppendUint64(rpc.AppendUint16(nil, gate), 77), "room"), "lobby")
		}},
		{rpc.MsgKickClient, func(gate uint16) []byte { return kickBody(gate, 77, "bye") }},
	} {
		t.Run(tc.t.String(), func(t *testing.T) {
			// Each gate gets its own message and nothing else.
			g.send(t, tc.t, tc.body(2))
			g.send(t, tc.t, tc.body(1))
			gates[1].expectFrame(t, tc.t, tc.body(1))
			gates[2].expectFrame(t, tc.t, tc.body(2))
			// An unknown gate: dropped, and the game is kept.
			g.send(t, tc.t, tc.body(9))
			barrier(t, g, own)
		})
	}
}

func TestFilteredBroadcastReachesTheShardsGates(t *testing.T) {
	for index := 0; index < 2; index++ {
		t.Run(fmt.Sprintf("index %d of 2", index), func(t *testing.T) {
			s := startDispatcher(t, dispatcher.Config{Index: index, Count: 2})
			g := connect(t, s, rpc.RoleGame, 1)
			gates := map[uint16]*peer{}
			for id := uint16(1); id <= 4; id++ {
				gates[id] = connect(t, s, rpc.RoleGate, id)
			}
			msg := broadcastBody(rpc.FilterEq, "room", "lobby", rpc.MsgCallClient, callBody("", "OnSay", "hi"))
			g.send(t, rpc.MsgFilteredBroadcast, msg)
			all := broadcastBody(rpc.FilterAll, "", "", rpc.MsgCallClient, callBody("", "OnTick"))
			g.send(t, rpc.MsgFilteredBroadcast, all)
			// A gate-routed message to every gate marks the end: a gate of
			// the other shard must see it first.
			for id := range gates {
				g.send(t, rpc.MsgKickClient, kickBody(id, 1, "end"))
			}
			for id, gw := range gates {
				if rpc.GateID(id).Shard(2) == index {
					gw.expectFrame(t, rpc.MsgFilteredBroadcast, msg)
					gw.expectFrame(t, rpc.MsgFilteredBroadcast, all)
				}
				gw.expectFrame(t, rpc.MsgKickClient, kickBody(id, 1, "end"))
			}
		})
	}
}

func TestClientConnected(t *testing.T) {
	t.Run("boot ID is valid and in this shard", func(t *testing.T) {
		const index, count = 1, 3
		s := startDispatcher(t, dispatcher.Config{Index: index, Count: count})
		g := connect(t, s, rpc.RoleGame, 1)
		gw := connect(t, s, rpc.RoleGate, 5)
		seen := map[rpc.EntityID]bool{}
		for c := uint64(1); c <= 30; c++ {
			gw.send(t, rpc.MsgClientConnected, clientBody("", 5, c))
			body := g.expect(t, rpc.MsgClientConnected)
			r := rpc.NewReader(body)
			id, gate, client := r.EntityID(), r.Uint16(), r.Uint64()
			if r.Err() != nil || len(r.Rest()) != 0 {
				t.Fatalf("malformed ClientConnected %x: %v", body, r.Err())
			}
			if !id.Valid() || id.Shard(count) != index {
				t.Fatalf("boot ID %q: valid %v, shard %d of %d, want %d", id, id.Valid(), id.Shard(count), count, index)
			}
			if gate != 5 || client != c {
				t.Fatalf("gate %d client %d, want 5 %d", gate, client, c)
			}
			if seen[id] {
				t.Fatalf("boot ID %q handed out twice", id)
			}
			seen[id] = true
			// The ID is recorded: the client's calls reach the same game.
			call := clientCallBody(id, 5, c, "Login", "name", "pw")
			gw.send(t, rpc.MsgClientCall, call)
			g.expectFrame(t, rpc.MsgClientCall, call)
		}
	})

	t.Run("clients spread over the least-loaded games", func(t *testing.T) {
		s := startDispatcher(t, dispatcher.Config{})
		games := []*peer{connect(t, s, rpc.RoleGame, 2), connect(t, s, rpc.RoleGame, 1)}
		g1, g2 := games[1], games[0]
		gw := connect(t, s, rpc.RoleGate, 1)
		// Equal load: the lowest game ID first, then alternating.
		want := []*peer{g1, g2, g1, g2, g1, g2}
		var boot []rpc.EntityID
		for i, g := range want {
			gw.send(t, rpc.MsgClientConnected, clientBody("", 1, uint64(i)))
			body := g.expect(t, rpc.MsgClientConnected)
			boot = append(boot, rpc.EntityID(body[:rpc.EntityIDLength]))
		}
		for i, g := range want {
			call := clientCallBody(boot[i], 1, uint64(i), "Hello")
			gw.send(t, rpc.MsgClientCall, call)
			g.expectFrame(t, rpc.MsgClientCall, call)
		}

		// Entities count as load: g1 registers three more, so the next
		// three clients go to g2; then the loads are equal again and g1
		// (the lower ID) wins.
		var own rpc.EntityID
		for i := 0; i < 3; i++ {
			own = rpc.NewEntityID()
			register(t, g1, own)
		}
		for i, g := range []*peer{g2, g2, g2, g1} {
			gw.send(t, rpc.MsgClientConnected, clientBody("", 1, uint64(100+i)))
			g.expect(t, rpc.MsgClientConnected)
		}
		barrier(t, g1, own)
	})

	t.Run("no game: the client is kicked", func(t *testing.T) {
		s := startDispatcher(t, dispatcher.Config{})
		gw := connect(t, s, rpc.RoleGate, 4)
		for c := uint64(1); c <= 2; c++ {
			gw.send(t, rpc.MsgClientConnected, clientBody("", 4, c))
			body := gw.expect(t, rpc.MsgKickClient)
			r := rpc.NewReader(body)
			if gate, client, reason := r.Uint16(), r.Uint64(), r.String(); r.Err() != nil || gate != 4 || client != c || reason == "" {
				t.Fatalf("kick %x: gate %d client %d reason %q (%v)", body, gate, client, reason, r.Err())
			}
		}
		// Once a game is there, clients are placed on it.
		g := connect(t, s, rpc.RoleGame, 1)
		gw.send(t, rpc.MsgClientConnected, clientBody("", 4, 3))
		g.expect(t, rpc.MsgClientConnected)
	})
}

func TestCreateAndLoadSomewhere(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	e := rpc.NewEntityID()
	register(t, g1, e) // load: g1 1, g2 0

	// Created on the least-loaded game, byte-identical.
	x := rpc.NewEntityID()
	create := createBody(x, "Monster", map[string]any{"hp": 100, "name": "orc"})
	g1.send(t, rpc.MsgCreateEntitySomewhere, create)
	g2.expectFrame(t, rpc.MsgCreateEntitySomewhere, create)
	// Recorded: calls reach it at once (before g2 registers anything).
	call := callBody(x, "Roar")
	g1.send(t, rpc.MsgCallEntityMethod, call)
	g2.expectFrame(t, rpc.MsgCallEntityMethod, call)
	// Creating it again is dropped.
	g1.send(t, rpc.MsgCreateEntitySomewhere, createBody(x, "Monster", nil))
	g1.send(t, rpc.MsgCallEntityMethod, call)
	g2.expectFrame(t, rpc.MsgCallEntityMethod, call)

	// Loads are equal (1, 1): the lowest ID takes the load.
	y := rpc.NewEntityID()
	load := loadBody(y, "Hero")
	g2.send(t, rpc.MsgLoadEntitySomewhere, load)
	g1.expectFrame(t, rpc.MsgLoadEntitySomewhere, load)
	callY := callBody(y, "Wake")
	g2.send(t, rpc.MsgCallEntityMethod, callY)
	g1.expectFrame(t, rpc.MsgCallEntityMethod, callY)

	// A load of a live entity goes to its game, which has it already (or
	// loads it again if it has just let it go): the one being loaded, a
	// registered one, a created one. It is not placed anywhere else.
	g2.send(t, rpc.MsgLoadEntitySomewhere, load)
	g1.expectFrame(t, rpc.MsgLoadEntitySomewhere, load)
	g2.send(t, rpc.MsgLoadEntitySomewhere, loadBody(e, "Hero"))
	g1.expectFrame(t, rpc.MsgLoadEntitySomewhere, loadBody(e, "Hero"))
	g1.send(t, rpc.MsgLoadEntitySomewhere, loadBody(x, "Monster"))
	g2.expectFrame(t, rpc.MsgLoadEntitySomewhere, loadBody(x, "Monster"))
	after := callBody(e, "After")
	g2.send(t, rpc.MsgCallEntityMethod, after)
	g1.expectFrame(t, rpc.MsgCallEntityMethod, after)
	afterX := callBody(x, "After")
	g1.send(t, rpc.MsgCallEntityMethod, afterX)
	g2.expectFrame(t, rpc.MsgCallEntityMethod, afterX)

	// When the loading game gives up (it unregisters), the entity can be
	// loaded again.
	g1.send(t, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, y))
	barrier(t, g1, e)
	g1.send(t, rpc.MsgLoadEntitySomewhere, load) // g1 1, g2 1 → g1
	g1.expectFrame(t, rpc.MsgLoadEntitySomewhere, load)
}

// A load that names a caller is answered: a load of a live entity goes to
// the game where it lives (which answers), not dropped; the answer,
// MsgLoadEntityResult, is routed by the caller's ID like a call; a load
// of an entity that lives nowhere is placed as before.
func TestLoadWithCallerIsAnswered(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	caller, hero, own2 := rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, caller)
	register(t, g2, hero)
	register(t, g2, own2)

	withCaller := func(id rpc.EntityID) []byte {
		return rpc.AppendString(rpc.AppendEntityID(loadBody(id, "Hero"), caller), "OnLoaded")
	}
	// Live on g2: forwarded there, byte for byte.
	g1.send(t, rpc.MsgLoadEntitySomewhere, withCaller(hero))
	g2.expectFrame(t, rpc.MsgLoadEntitySomewhere, withCaller(hero))
	// Without a caller too: the game loads it again if it has just let it
	// go (its final save pending), else the load is a no-op there.
	g1.send(t, rpc.MsgLoadEntitySomewhere, loadBody(hero, "Hero"))
	g2.expectFrame(t, rpc.MsgLoadEntitySomewhere, loadBody(hero, "Hero"))
	after := callBody(hero, "After")
	g1.send(t, rpc.MsgCallEntityMethod, after)
	g2.expectFrame(t, rpc.MsgCallEntityMethod, after)

	// g2 answers: routed to the caller's game.
	answer := rpc.AppendEntityID(rpc.AppendEntityID(nil, caller), hero)
	answer = rpc.AppendString(rpc.AppendString(answer, "Hero"), "OnLoaded")
	answer = rpc.AppendString(rpc.AppendUint8(answer, 0), "")
	g2.send(t, rpc.MsgLoadEntityResult, answer)
	g1.expectFrame(t, rpc.MsgLoadEntityResult, answer)

	// Not live: placed on the less loaded game (g1: 1, g2: 2).
	fresh := rpc.NewEntityID()
	g2.send(t, rpc.MsgLoadEntitySomewhere, withCaller(fresh))
	g1.expectFrame(t, rpc.MsgLoadEntitySomewhere, withCaller(fresh))

	// Only games send answers.
	gw := connect(t, s, rpc.RoleGate, 1)
	gw.send(t, rpc.MsgLoadEntityResult, answer)
	gw.expectClosed(t)
	g1.expectPeerGone(t, rpc.RoleGate, 1)
	g2.expectPeerGone(t, rpc.RoleGate, 1)
	barrier(t, g2, own2)
}

// TestRegistrationsKeepTheNewerCopy: registrations of a persistent
// entity name its copy's fencing epoch. A game that registers an entity
// another game hosts with a greater epoch is told to retire its copy
// (MsgRetireEntity with the newer epoch), and the route stays; one that
// registers it with a greater epoch takes the route, and the other game
// is told to retire. Without epochs the last registration wins; and a
// migrating entity's registration is never refused.
func TestRegistrationsKeepTheNewerCopy(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	own1, own2 := rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, own1)
	register(t, g2, own2)
	withEpoch := func(id rpc.EntityID, epoch uint64) []byte {
		return rpc.AppendUint64(rpc.AppendEntityID(nil, id), epoch)
	}
	retire := func(id rpc.EntityID, epoch uint64) []byte { return withEpoch(id, epoch) }
	routedTo := func(g *peer, id rpc.EntityID, method string) {
		t.Helper()
		call := callBody(id, method)
		g1.send(t, rpc.MsgCallEntityMethod, call)
		g.expectFrame(t, rpc.MsgCallEntityMethod, call)
	}

	hero := rpc.NewEntityID()
	g1.send(t, rpc.MsgRegisterEntity, withEpoch(hero, 5))
	routedTo(g1, hero, "First")
	// An older copy on game 2 is refused and told to retire.
	g2.send(t, rpc.MsgRegisterEntity, withEpoch(hero, 3))
	g2.expectFrame(t, rpc.MsgRetireEntity, retire(hero, 5))
	routedTo(g1, hero, "StillGame1")
	// A newer copy on game 2 takes the route; game 1 retires its copy.
	g2.send(t, rpc.MsgRegisterEntity, withEpoch(hero, 9))
	g1.expectFrame(t, rpc.MsgRetireEntity, retire(hero, 9))
	routedTo(g2, hero, "NowGame2")
	// Game 1's unregistration, after retiring, leaves game 2's route.
	g1.send(t, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, hero))
	routedTo(g2, hero, "StillGame2")

	// Without an epoch on either side, the last registration wins, and
	// nobody is told to retire anything.
	plain := rpc.NewEntityID()
	register(t, g1, plain)
	register(t, g2, plain)
	routedTo(g2, plain, "Plain")
	// A migrating entity: the game it lands on registers it, whatever the
	// epochs say (the copy moved, it was not loaded twice).
	mover := rpc.NewEntityID()
	g1.send(t, rpc.MsgRegisterEntity, withEpoch(mover, 4))
	g1.send(t, rpc.MsgMigrateBlock, rpc.AppendEntityID(nil, mover))
	g1.expectFrame(t, rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, mover))
	g2.send(t, rpc.MsgRegisterEntity, withEpoch(mover, 4))
	routedTo(g2, mover, "Moved")
	barrier(t, g1, own1)
	barrier(t, g2, own2)
}

func TestProtocolErrorsCloseThePeer(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{DispatcherTuning: config.DispatcherTuning{MaxPacketSize: 1 << 10}})
	witnessGame := connect(t, s, rpc.RoleGame, 1)
	witnessGate := connect(t, s, rpc.RoleGate, 1)
	own := rpc.NewEntityID()
	register(t, witnessGame, own)
	e := rpc.NewEntityID()

	for i, tc := range []struct {
		name string
		role rpc.Role
		t    rpc.MsgType
		body []byte
	}{
		{"client call from a game", rpc.RoleGame, rpc.MsgClientCall, clientCallBody(own, 1, 1, "Forged")},
		{"client disconnected from a game", rpc.RoleGame, rpc.MsgClientDisconnected, clientBody(own, 1, 1)},
		{"client away from a game", rpc.RoleGame, rpc.MsgClientAway, append(clientBody(own, 1, 1), 1)},
		{"client connected from a game", rpc.RoleGame, rpc.MsgClientConnected, clientBody("", 1, 1)},
		{"register from a gate", rpc.RoleGate, rpc.MsgRegisterEntity, rpc.AppendEntityID(nil, e)},
		{"unregister from a gate", rpc.RoleGate, rpc.MsgUnregisterEntity, rpc.AppendEntityID(nil, own)},
		{"create somewhere from a gate", rpc.RoleGate, rpc.MsgCreateEntitySomewhere, createBody(e, "Monster", nil)},
		{"load somewhere from a gate", rpc.RoleGate, rpc.MsgLoadEntitySomewhere, loadBody(e, "Hero")},
		{"to-client from a gate", rpc.RoleGate, rpc.MsgToClient, toClientBody(1, 1, rpc.MsgCallClient, nil)},
		{"kick from a gate", rpc.RoleGate, rpc.MsgKickClient, kickBody(1, 1, "x")},
		{"broadcast from a gate", rpc.RoleGate, rpc.MsgFilteredBroadcast, broadcastBody(rpc.FilterAll, "", "", rpc.MsgCallClient, nil)},
		{"unknown type from a game", rpc.RoleGame, 4242, []byte("hello")},
		{"unknown type from a gate", rpc.RoleGate, 4242, nil},
		{"client protocol type", rpc.RoleGate, rpc.MsgHeartbeat, nil},
		{"a second hello", rpc.RoleGame, rpc.MsgHello, helloBody(rpc.RoleGame, 1)},
		{"peer gone from a game", rpc.RoleGame, rpc.MsgPeerGone, helloBody(rpc.RoleGame, 1)},
		{"short call", rpc.RoleGame, rpc.MsgCallEntityMethod, []byte(own)[:15]},
		{"short client call", rpc.RoleGate, rpc.MsgClientCall, []byte{1, 2, 3}},
		{"empty register", rpc.RoleGame, rpc.MsgRegisterEntity, nil},
		{"register with a short epoch", rpc.RoleGame, rpc.MsgRegisterEntity, append(rpc.AppendEntityID(nil, e), 7, 0, 0, 0)},
		{"short load", rpc.RoleGame, rpc.MsgLoadEntitySomewhere, []byte("abc")},
		{"short to-client", rpc.RoleGame, rpc.MsgToClient, []byte{1}},
		{"empty kick", rpc.RoleGame, rpc.MsgKickClient, nil},
		{"short client connected", rpc.RoleGate, rpc.MsgClientConnected, make([]byte, 10)},
		{"frame over MaxPacketSize", rpc.RoleGame, rpc.MsgCallEntityMethod, callBody(own, "Big", strings.Repeat("x", 2<<10))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := uint16(100 + i)
			bad := connect(t, s, tc.role, id)
			bad.send(t, tc.t, tc.body)
			bad.expectClosed(t)
			// The others are told, and nothing the bad peer sent was routed.
			witnessGame.expectPeerGone(t, tc.role, id)
			witnessGate.expectPeerGone(t, tc.role, id)
			barrier(t, witnessGame, own)
			msg := toClientBody(1, 1, rpc.MsgCallClient, []byte{byte(i)})
			witnessGame.send(t, rpc.MsgToClient, msg)
			witnessGate.expectFrame(t, rpc.MsgToClient, msg)
		})
	}
	if _, ok := s.logs.find(func(e logEntry) bool {
		r, _ := e.fields["reason"].(error)
		return r != nil && strings.Contains(r.Error(), "protocol error")
	}); !ok {
		t.Errorf("no disconnection logged with a protocol error as the reason")
	}
}

func TestPeerGone(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	gw1 := connect(t, s, rpc.RoleGate, 1)
	gw2 := connect(t, s, rpc.RoleGate, 2)
	e, f, own2 := rpc.NewEntityID(), rpc.NewEntityID(), rpc.NewEntityID()
	register(t, g1, e)
	register(t, g1, f)
	register(t, g2, own2)
	// Clients placed by the dispatcher count too: the first goes to g2
	// (1 entity against 2), the second to g1 (2 against 2, lower ID).
	gw1.send(t, rpc.MsgClientConnected, clientBody("", 1, 1))
	g2.expect(t, rpc.MsgClientConnected)
	gw1.send(t, rpc.MsgClientConnected, clientBody("", 1, 2))
	boot := rpc.EntityID(g1.expect(t, rpc.MsgClientConnected)[:rpc.EntityIDLength])

	t.Run("game", func(t *testing.T) {
		g1.close()
		g2.expectPeerGone(t, rpc.RoleGame, 1)
		gw1.expectPeerGone(t, rpc.RoleGame, 1)
		gw2.expectPeerGone(t, rpc.RoleGame, 1)

		// Game 1 comes back without its entities: calls to the old ones
		// are dropped, not sent to the new connection.
		g1b := connect(t, s, rpc.RoleGame, 1)
		g2.send(t, rpc.MsgCallEntityMethod, callBody(e, "Stale"))
		g2.send(t, rpc.MsgCallEntityMethod, callBody(f, "Stale"))
		gw1.send(t, rpc.MsgClientCall, clientCallBody(e, 1, 1, "Stale"))
		gw1.send(t, rpc.MsgClientCall, clientCallBody(boot, 1, 2, "Stale"))
		fresh := rpc.NewEntityID()
		register(t, g1b, fresh)
		call := callBody(fresh, "Fresh")
		g2.send(t, rpc.MsgCallEntityMethod, call)
		g1b.expectFrame(t, rpc.MsgCallEntityMethod, call)
		clientCall := clientCallBody(fresh, 1, 1, "Fresh")
		gw1.send(t, rpc.MsgClientCall, clientCall)
		g1b.expectFrame(t, rpc.MsgClientCall, clientCall)
		// Its load is forgotten too: g1b (1 entity) is below g2 (2).
		gw1.send(t, rpc.MsgClientConnected, clientBody("", 1, 3))
		g1b.expect(t, rpc.MsgClientConnected)
		barrier(t, g2, own2)

		// The new connection's departure is announced as well.
		g1b.close()
		for _, p := range []*peer{g2, gw1, gw2} {
			p.expectPeerGone(t, rpc.RoleGame, 1)
		}
	})

	t.Run("gate", func(t *testing.T) {
		gw2.close()
		g2.expectPeerGone(t, rpc.RoleGate, 2)
		gw1.expectPeerGone(t, rpc.RoleGate, 2)
		// Messages for the gone gate are dropped.
		g2.send(t, rpc.MsgKickClient, kickBody(2, 1, "x"))
		msg := kickBody(1, 1, "y")
		g2.send(t, rpc.MsgKickClient, msg)
		gw1.expectFrame(t, rpc.MsgKickClient, msg)
	})
}

func TestSamePeerReconnectingReplacesTheOld(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g2 := connect(t, s, rpc.RoleGame, 2)
	witness := connect(t, s, rpc.RoleGate, 1)
	own2 := rpc.NewEntityID()
	register(t, g2, own2)

	// waitGone waits until the dispatcher has finished with the old
	// connection: it logs "peer disconnected" after forgetting the peer.
	waitGone := func(t *testing.T, old *peer) {
		t.Helper()
		local := old.nc.LocalAddr().String()
		s.logs.wait(t, "old connection's departure", func(e logEntry) bool {
			return e.msg == "peer disconnected" && e.fields["remote"] == local
		})
	}

	t.Run("game", func(t *testing.T) {
		a := connect(t, s, rpc.RoleGame, 5)
		h := rpc.NewEntityID()
		register(t, a, h)
		b := dial(t, s, "game5-b")
		b.hello(t, rpc.RoleGame, 5)
		a.expectClosed(t)
		waitGone(t, a)

		// Nobody was told game 5 left, and its entities stay: the new
		// connection gets their calls.
		call := callBody(h, "Hello")
		g2.send(t, rpc.MsgCallEntityMethod, call)
		b.expectFrame(t, rpc.MsgCallEntityMethod, call)
		register(t, b, rpc.NewEntityID())
		msg := kickBody(1, 1, "marker")
		g2.send(t, rpc.MsgKickClient, msg)
		witness.expectFrame(t, rpc.MsgKickClient, msg)
		barrier(t, g2, own2)

		// When the new connection goes, that is a departure.
		b.close()
		g2.expectPeerGone(t, rpc.RoleGame, 5)
		witness.expectPeerGone(t, rpc.RoleGame, 5)
	})

	t.Run("gate", func(t *testing.T) {
		a := connect(t, s, rpc.RoleGate, 9)
		b := dial(t, s, "gate9-b")
		b.hello(t, rpc.RoleGate, 9)
		a.expectClosed(t)
		waitGone(t, a)

		msg := kickBody(9, 1, "to the new one")
		g2.send(t, rpc.MsgKickClient, msg)
		b.expectFrame(t, rpc.MsgKickClient, msg)
		barrier(t, g2, own2)
		marker := kickBody(1, 1, "marker")
		g2.send(t, rpc.MsgKickClient, marker)
		witness.expectFrame(t, rpc.MsgKickClient, marker)
	})
}

func TestCloseEndsRunAndEveryConnection(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g := connect(t, s, rpc.RoleGame, 1)
	gw := connect(t, s, rpc.RoleGate, 1)
	silent := dial(t, s, "silent") // still in the hello phase
	register(t, g, rpc.NewEntityID())

	if err := s.stop(t); !errors.Is(err, dispatcher.ErrServerClosed) {
		t.Fatalf("Run returned %v, want ErrServerClosed", err)
	}
	g.expectClosed(t)
	gw.expectClosed(t)
	silent.expectClosed(t)
	if err := s.d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if nc, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		nc.Close()
		t.Fatalf("still accepting after Close")
	}
}

func TestRunReturnsContextErrorWhenCancelled(t *testing.T) {
	d, err := dispatcher.New(dispatcher.Config{ID: dispatcherID, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	s := &server{d: d, addr: d.Addr().String()}
	g := connect(t, s, rpc.RoleGame, 1)
	cancel()
	select {
	case err := <-runErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after the context was cancelled")
	}
	g.expectClosed(t)
	d.Close() // waits for the connection goroutines
}

func TestCloseBeforeRun(t *testing.T) {
	d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := d.Run(context.Background()); !errors.Is(err, dispatcher.ErrServerClosed) {
		t.Fatalf("Run after Close = %v, want ErrServerClosed", err)
	}
}

func quietLogger() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.PanicLevel)
	return l
}

func TestHelloAckIsTheFirstFrame(t *testing.T) {
	// Regression test: the HelloAck used to be queued after the peer was
	// published, so a frame routed to it in between could arrive first and
	// link.Link would drop the connection ("expected HelloAck").
	s := startDispatcher(t, dispatcher.Config{})
	g := connect(t, s, rpc.RoleGame, 1)
	// The game floods gate 7 while gate 7 keeps reconnecting (each
	// connection replacing the last), as a gate does after a network blip
	// while games keep sending to its clients.
	batch := bytes.Repeat(rpc.AppendFrame(nil, rpc.MsgKickClient, kickBody(7, 1, "flood")), 64)
	stop, flooded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(flooded)
		for {
			select {
			case <-stop:
				return
			default:
			}
			g.nc.SetWriteDeadline(time.Now().Add(waitLimit))
			if _, err := g.nc.Write(batch); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-flooded }()
	// 300 reconnections, or as many as fit in 2s on a slow machine: the
	// old code failed within a few dozen.
	end := time.Now().Add(2 * time.Second)
	for i := 0; i < 300 && time.Now().Before(end); i++ {
		p := dial(t, s, "gate7")
		p.send(t, rpc.MsgHello, helloBody(rpc.RoleGate, 7))
		if f := p.next(t); f.t != rpc.MsgHelloAck {
			t.Fatalf("connection %d: first frame %v, want HelloAck", i, f.t)
		}
		p.close()
	}
}

func TestShortClientConnectedIsAProtocolError(t *testing.T) {
	for _, withGame := range []bool{false, true} {
		t.Run(fmt.Sprintf("game connected %v", withGame), func(t *testing.T) {
			s := startDispatcher(t, dispatcher.Config{})
			var g *peer
			if withGame {
				g = connect(t, s, rpc.RoleGame, 1)
			}
			gw := connect(t, s, rpc.RoleGate, 1)
			gw.send(t, rpc.MsgClientConnected, make([]byte, rpc.EntityIDLength+3))
			gw.expectClosed(t)
			if g != nil {
				g.expectPeerGone(t, rpc.RoleGate, 1)
			}
		})
	}
}

func TestConcurrentRouting(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	const games, gates, perGame, calls = 4, 4, 8, 300
	gs := make([]*peer, games)
	var ids []rpc.EntityID
	host := map[rpc.EntityID]int{}
	for i := range gs {
		gs[i] = connect(t, s, rpc.RoleGame, uint16(i+1))
		for j := 0; j < perGame; j++ {
			id := rpc.NewEntityID()
			register(t, gs[i], id)
			ids = append(ids, id)
			host[id] = i
		}
	}
	gws := make([]*peer, gates)
	for i := range gws {
		gws[i] = connect(t, s, rpc.RoleGate, uint16(i+1))
	}
	// Every gate sends client calls to every entity at once; every game
	// also sends one to-client message per call back to the calling gate.
	errs := make(chan error, gates)
	for gi, gw := range gws {
		go func() {
			var b []byte
			for n := 0; n < calls; n++ {
				id := ids[n%len(ids)]
				b = rpc.AppendFrame(b, rpc.MsgClientCall, clientCallBody(id, uint16(gi+1), uint64(n), "Seq", n))
			}
			_, err := gw.nc.Write(b)
			errs <- err
		}()
	}
	for range gws {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Each game gets its share, and from each gate in the order sent.
	want := make([]int, games)
	for n := 0; n < calls; n++ {
		want[host[ids[n%len(ids)]]] += gates
	}
	for i, g := range gs {
		last := map[uint16]int{}
		for k := 0; k < want[i]; k++ {
			r := rpc.NewReader(g.expect(t, rpc.MsgClientCall))
			id, gate, client := r.EntityID(), r.Uint16(), r.Uint64()
			if r.Err() != nil || host[id] != i {
				t.Fatalf("game %d got a call for %s (host %d): %v", i+1, id, host[id], r.Err())
			}
			if prev, ok := last[gate]; ok && int(client) <= prev {
				t.Fatalf("game %d: call %d from gate %d after %d", i+1, client, gate, prev)
			}
			last[gate] = int(client)
			msg := toClientBody(gate, client, rpc.MsgCallClient, nil)
			g.send(t, rpc.MsgToClient, msg)
		}
	}
	for gi, gw := range gws {
		for k := 0; k < calls; k++ {
			r := rpc.NewReader(gw.expect(t, rpc.MsgToClient))
			if gate := r.Uint16(); gate != uint16(gi+1) {
				t.Fatalf("gate %d got a message for gate %d", gi+1, gate)
			}
		}
	}
}

func ensureBody(id rpc.EntityID, prefer uint16, typ string) []byte {
	return rpc.AppendString(rpc.AppendUint16(rpc.AppendEntityID(nil, id), prefer), typ)
}

// A service shard's MsgEnsureService is placed on the game it prefers
// when that game is connected (else on the least loaded), once: later
// ones go to the game that has it, as loads of a live entity do; calls
// sent after it find it placed.
func TestEnsureServicePlacesOnPreferredGame(t *testing.T) {
	s := startDispatcher(t, dispatcher.Config{})
	g1 := connect(t, s, rpc.RoleGame, 1)
	g2 := connect(t, s, rpc.RoleGame, 2)
	own := rpc.NewEntityID()
	register(t, g1, own)
	register(t, g2, rpc.NewEntityID())
	register(t, g2, rpc.NewEntityID()) // load: g1 1, g2 2

	// Preferred g2, though g1 is less loaded.
	a := rpc.ServiceEntityID("Svc", 0)
	g1.send(t, rpc.MsgEnsureService, ensureBody(a, 2, "Svc"))
	g2.expectFrame(t, rpc.MsgEnsureService, ensureBody(a, 2, "Svc"))
	call := callBody(a, "Hit")
	g1.send(t, rpc.MsgCallEntityMethod, call)
	g2.expectFrame(t, rpc.MsgCallEntityMethod, call)
	// Asked again, by either game: it goes to g2, which has it.
	g1.send(t, rpc.MsgEnsureService, ensureBody(a, 2, "Svc"))
	g2.expectFrame(t, rpc.MsgEnsureService, ensureBody(a, 2, "Svc"))

	// Preferred game 3 is not connected: the least loaded takes it (g1:
	// 1, g2: 3 with the shard).
	b := rpc.ServiceEntityID("Svc", 1)
	g2.send(t, rpc.MsgEnsureService, ensureBody(b, 3, "Svc"))
	g1.expectFrame(t, rpc.MsgEnsureService, ensureBody(b, 3, "Svc"))
	barrier(t, g1, own)

	// A short body is a protocol error: the game's link is closed.
	g1.send(t, rpc.MsgEnsureService, rpc.AppendEntityID(nil, b))
	g1.expectClosed(t)
	// The others are told; once g2 is, a gate connecting now gets no
	// PeerGone of its own before its answer.
	g2.expectPeerGone(t, rpc.RoleGame, 1)
	// From a gate too.
	gw := connect(t, s, rpc.RoleGate, 1)
	gw.send(t, rpc.MsgEnsureService, ensureBody(b, 1, "Svc"))
	gw.expectClosed(t)
}
