package entity

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
	"github.com/vmihailenco/msgpack/v5"
)

// ---------------------------------------------------------------------------
// Client connection and client calls

func TestClientConnected(t *testing.T) {
	const nd = 4
	e := newEnv(t, withDispatchers(nd))
	id := rpc.NewEntityID()
	gate, client := rpc.GateID(2), rpc.ClientID(1<<40+5)
	e.eng.Handle(rpc.MsgClientConnected, clientConnectedBody(id, gate, client))
	acc := e.w.Entity(id)
	if acc == nil || acc.TypeName() != "Account" || acc.ID() != id {
		t.Fatalf("boot entity: %v", acc)
	}
	deepEqual(t, "hooks", e.eventsOf(id), []string{"OnCreated", "OnClientConnected"})
	if ref, ok := acc.Client(); !ok || ref != (ClientRef{gate, client}) {
		t.Fatalf("client %v %v", ref, ok)
	}
	frames := e.out.take()
	if len(frames) != 2 {
		t.Fatalf("%d frames: %v", len(frames), frames)
	}
	if frames[0].typ != rpc.MsgSetClientOwner || frames[0].disp != gate.Shard(nd) {
		t.Fatalf("first frame %v to %d", frames[0].typ, frames[0].disp)
	}
	deepEqual(t, "SetClientOwner", decodeSetOwner(t, frames[0].body), setOwnerMsg{gate, client, id, testGameID})
	m := decodeToClient(t, frames[1])
	if m.typ != rpc.MsgCreateEntity || m.ref() != (ClientRef{gate, client}) || m.disp != gate.Shard(nd) {
		t.Fatalf("second frame: %+v", m)
	}
	c := decodeCreate(t, m.body)
	deepEqual(t, "CreateEntity", c, createMsg{id: id, isPlayer: 1, typeName: "Account",
		attrs: map[string]any{"user": map[string]any{"name": "guest"}, "pub": int64(1)}})

	// The same boot ID again: refused, the first entity is untouched.
	e.eng.Handle(rpc.MsgClientConnected, clientConnectedBody(id, gate, client+1))
	if ref, _ := acc.Client(); ref.ID != client || e.w.NumEntities() != 1 {
		t.Fatal("duplicate boot ID replaced the entity or its client")
	}
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("duplicate boot ID ran hooks: %v", ev)
	}
}

func TestClientConnectedNoBootType(t *testing.T) {
	e := newEnv(t, withBoot(""))
	e.eng.Handle(rpc.MsgClientConnected, clientConnectedBody(rpc.NewEntityID(), 1, 9))
	if e.w.NumEntities() != 0 {
		t.Fatal("entity created without a boot type")
	}
	if k := kicks(t, e.out.take()); len(k) != 1 || k[0].client != 9 {
		t.Fatalf("client not kicked: %v", k)
	}
}

func TestClientCalls(t *testing.T) {
	e := newEnv(t, withDispatchers(2))
	a := e.connect(1, 100)
	b := e.connect(2, 200)
	c := e.create("Account", nil) // no client
	e.events()
	e.out.take()

	type call struct {
		name     string
		target   *Entity
		gate     rpc.GateID
		client   rpc.ClientID
		method   string
		args     []any
		runs     string // the event recorded on target; "" for refused
		kickWhy  string // substring of the kick reason
		kickedTo rpc.ClientID
	}
	p := 42
	calls := []call{
		{"own exposed", a, 1, 100, "Echo", []any{"hi"}, "Echo(hi)", "", 0},
		{"own exposed, converted args", a, 1, 100, "Typed",
			[]any{-3, 65535, 2, []any{"x", "y"}, map[string]any{"k": 1}, p}, "Typed(-3,65535,2,[x y],map[k:1],42)", "", 0},
		{"unexposed", a, 1, 100, "Secret", []any{1}, "", "not exposed", 100},
		{"hook", a, 1, 100, "OnClientConnected", nil, "", "not exposed", 100},
		{"unknown method", a, 1, 100, "Nope", nil, "", "not exposed", 100},
		{"engine method", a, 1, 100, "Destroy", nil, "", "not exposed", 100},
		{"engine method with args", a, 1, 100, "Kick", []any{"x"}, "", "not exposed", 100},
		{"wrong arg type", a, 1, 100, "Echo", []any{1}, "", "Echo", 100},
		{"wrong arg count", a, 1, 100, "Echo", []any{"a", "b"}, "", "Echo", 100},
		{"overflow", a, 1, 100, "Typed", []any{1000, 1, 1, []any{}, map[string]any{}, 1}, "", "Typed", 100},
		{"other client's entity", b, 1, 100, "Echo", []any{"x"}, "", "not this client's", 100},
		{"same client ID, other gate", a, 2, 100, "Echo", []any{"x"}, "", "not this client's", 100},
		{"entity without client", c, 1, 100, "Echo", []any{"x"}, "", "not this client's", 100},
		{"public on other's entity", b, 1, 100, "Ping", []any{"a"}, "Ping(a)", "", 0},
		{"public on own entity", a, 1, 100, "Ping", []any{"a"}, "Ping(a)", "", 0},
		{"public on clientless entity", c, 2, 200, "Ping", []any{"b"}, "Ping(b)", "", 0},
		{"public, wrong args", c, 2, 200, "Ping", []any{}, "", "Ping", 200},
	}
	for _, cl := range calls {
		body := clientCallBody(t, cl.target.ID(), cl.gate, cl.client, cl.method, cl.args...)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s: Handle panicked: %v", cl.name, p)
				}
			}()
			e.eng.Handle(rpc.MsgClientCall, body)
		}()
		ev := e.events()
		frames := e.out.take()
		k := kicks(t, frames)
		if cl.runs != "" {
			deepEqual(t, cl.name+": events", ev, []string{string(cl.target.ID()) + " " + cl.runs})
			if len(frames) != 0 {
				t.Errorf("%s: %d frames", cl.name, len(frames))
			}
			continue
		}
		if len(ev) != 0 {
			t.Errorf("%s: refused call ran: %v", cl.name, ev)
		}
		if len(k) != 1 || len(frames) != 1 {
			t.Fatalf("%s: want one kick, got frames %v", cl.name, frames)
		}
		if k[0].client != cl.kickedTo || k[0].gate != cl.gate || frames[0].disp != cl.gate.Shard(2) {
			t.Errorf("%s: kicked %+v via %d", cl.name, k[0], frames[0].disp)
		}
		if !strings.Contains(k[0].reason, cl.kickWhy) || !strings.Contains(k[0].reason, cl.method) {
			t.Errorf("%s: kick reason %q", cl.name, k[0].reason)
		}
	}
	// Kicking is the gate's business: the entities keep their clients.
	if !a.HasClient() || !b.HasClient() {
		t.Fatal("refused calls unbound a client")
	}
	// A client call to an entity that is not here is dropped quietly.
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, rpc.NewEntityID(), 1, 100, "Echo", "x"))
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("call to unknown entity: %v", f)
	}
}

// A client must not be able to call the internal handover method: that
// would let it bind itself to any entity (another player's avatar).
func TestClientCannotCallHandover(t *testing.T) {
	e := newEnv(t)
	a := e.connect(1, 100)
	victim := e.create("Avatar", nil)
	e.bind(victim, 1, 200)
	e.events()
	e.out.take()
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, victim.ID(), 1, 100, methodTakeClient, uint16(1), uint64(100)))
	if ref, _ := victim.Client(); ref.ID != 200 {
		t.Fatalf("regression: a client took over another entity by calling %q (World.deliver checks methodTakeClient before the client-call checks); victim's client is now %+v; see report", methodTakeClient, ref)
	}
	k := kicks(t, e.out.take())
	if len(k) != 1 || k[0].client != 100 {
		t.Fatalf("caller not kicked: %v", k)
	}
	if !a.HasClient() {
		t.Fatal("caller lost its entity")
	}
}

func TestServerCalls(t *testing.T) {
	e := newEnv(t)
	a := e.connect(1, 100)
	e.events()
	e.out.take()
	// Any RPC method, exposed or not.
	for _, c := range []struct {
		method string
		args   []any
		want   string
	}{{"Secret", []any{7}, "Secret(7)"}, {"Echo", []any{"e"}, "Echo(e)"}, {"Ping", []any{"p"}, "Ping(p)"}} {
		e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, a.ID(), c.method, c.args...))
		deepEqual(t, c.method, e.eventsOf(a.ID()), []string{c.want})
	}
	// Bad calls are logged and dropped; nobody is kicked.
	for _, b := range [][]byte{
		callBody(t, a.ID(), "Nope"),
		callBody(t, a.ID(), "Secret", "x"),
		callBody(t, a.ID(), "Secret"),
		callBody(t, rpc.NewEntityID(), "Secret", 1),
		append(callBody(t, a.ID(), "Secret", 1), 0xc0), // trailing byte
	} {
		e.eng.Handle(rpc.MsgCallEntityMethod, b)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("bad calls ran: %v", ev)
	}
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("bad server calls sent %v", f)
	}
	if !e.logged(logrus.WarnLevel, `has no method "Nope"`) || !e.logged(logrus.WarnLevel, "unknown entity") {
		t.Error("dropped calls not logged")
	}
}

func TestClientDisconnected(t *testing.T) {
	e := newEnv(t)
	a := e.connect(1, 100)
	e.events()
	e.out.take()
	// A different client (or gate) for the same entity: ignored.
	e.eng.Handle(rpc.MsgClientDisconnected, clientDisconnectedBody(a.ID(), 1, 101))
	e.eng.Handle(rpc.MsgClientDisconnected, clientDisconnectedBody(a.ID(), 2, 100))
	e.eng.Handle(rpc.MsgClientDisconnected, clientDisconnectedBody(rpc.NewEntityID(), 1, 100))
	if !a.HasClient() || len(e.events()) != 0 {
		t.Fatal("disconnect of another client changed the entity")
	}
	e.eng.Handle(rpc.MsgClientDisconnected, clientDisconnectedBody(a.ID(), 1, 100))
	if a.HasClient() {
		t.Fatal("client still bound")
	}
	deepEqual(t, "events", e.eventsOf(a.ID()), []string{"OnClientDisconnected"})
	// Twice: nothing more.
	e.eng.Handle(rpc.MsgClientDisconnected, clientDisconnectedBody(a.ID(), 1, 100))
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("second disconnect: %v", ev)
	}
	// The entity stays; later changes send nothing.
	e.out.take()
	a.Attrs.Set("user", 1)
	a.CallClient("X")
	if f := e.out.take(); len(f) != 0 || e.w.Entity(a.ID()) == nil {
		t.Fatalf("after disconnect: %v", f)
	}
}

func TestPeerGone(t *testing.T) {
	e := newEnv(t)
	a := e.connect(1, 100)
	b := e.connect(2, 100)
	c := e.connect(2, 101)
	e.events()
	e.eng.Handle(rpc.MsgPeerGone, peerGoneBody(rpc.RoleGame, 2))
	if !b.HasClient() || len(e.events()) != 0 {
		t.Fatal("a game going away unbound clients")
	}
	e.eng.Handle(rpc.MsgPeerGone, peerGoneBody(rpc.RoleGate, 2))
	if !a.HasClient() || b.HasClient() || c.HasClient() {
		t.Fatalf("after gate 2 gone: a=%v b=%v c=%v", a.HasClient(), b.HasClient(), c.HasClient())
	}
	ev := e.events()
	if len(ev) != 2 || !strings.HasSuffix(ev[0], "OnClientDisconnected") || !strings.HasSuffix(ev[1], "OnClientDisconnected") {
		t.Fatalf("events %v", ev)
	}
	e.eng.Handle(rpc.MsgPeerGone, peerGoneBody(rpc.RoleGate, 3))
	if !a.HasClient() {
		t.Fatal("unknown gate gone unbound a client")
	}
}

// ---------------------------------------------------------------------------
// Malformed frames

func validBodies(t *testing.T, id rpc.EntityID) map[rpc.MsgType][]byte {
	attrs, _ := rpc.AppendValue(nil, map[string]any{"name": "x"})
	return map[rpc.MsgType][]byte{
		rpc.MsgCallEntityMethod:      callBody(t, id, "Note", "x"),
		rpc.MsgClientCall:            clientCallBody(t, id, 1, 100, "Move", 1, 2),
		rpc.MsgClientConnected:       clientConnectedBody(rpc.NewEntityID(), 1, 300),
		rpc.MsgClientDisconnected:    clientDisconnectedBody(id, 1, 100),
		rpc.MsgCreateEntitySomewhere: append(rpc.AppendString(rpc.AppendEntityID(nil, rpc.NewEntityID()), "Avatar"), attrs...),
		rpc.MsgLoadEntitySomewhere:   loadBody(rpc.NewEntityID(), "Avatar"),
		rpc.MsgPeerGone:              peerGoneBody(rpc.RoleGate, 1),
	}
}

func TestMalformedFrames(t *testing.T) {
	e := newEnv(t, withDispatchers(3))
	av := e.create("Avatar", nil)
	e.bind(av, 1, 100)
	types := []rpc.MsgType{rpc.MsgCallEntityMethod, rpc.MsgClientCall, rpc.MsgClientConnected, rpc.MsgClientDisconnected,
		rpc.MsgCreateEntitySomewhere, rpc.MsgLoadEntitySomewhere, rpc.MsgPeerGone,
		rpc.MsgHello, rpc.MsgToClient, rpc.MsgCallEntity, rpc.MsgType(0), rpc.MsgType(65535)}
	handle := func(typ rpc.MsgType, body []byte) {
		t.Helper()
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Handle(%v, %x) panicked: %v", typ, body, p)
			}
		}()
		e.eng.Handle(typ, body)
		e.store.flush(e.eng)
	}
	// Every prefix of every valid body, and each with a corrupted byte.
	valid := validBodies(t, av.ID())
	for typ, body := range valid {
		for n := 0; n < len(body); n++ {
			handle(typ, body[:n])
			bad := append([]byte(nil), body...)
			bad[n] ^= 0xff
			handle(typ, bad)
		}
	}
	// Random bodies, and random bytes after a valid entity ID.
	r := rand.New(rand.NewPCG(11, 13))
	for i := 0; i < 3000; i++ {
		typ := types[r.IntN(len(types))]
		body := make([]byte, r.IntN(64))
		for j := range body {
			body[j] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 && len(body) >= rpc.EntityIDLength {
			copy(body, av.ID())
		}
		handle(typ, body)
	}
	// Specific malformed inputs.
	zero := make([]byte, rpc.EntityIDLength)
	badID := []byte("!!!!!!!!!!!!!!!!")
	handle(rpc.MsgClientConnected, append(append([]byte(nil), zero...), 1, 0, 1, 0, 0, 0, 0, 0, 0, 0))
	handle(rpc.MsgClientConnected, append(append([]byte(nil), badID...), 1, 0, 1, 0, 0, 0, 0, 0, 0, 0))
	handle(rpc.MsgCallEntityMethod, append(append([]byte(nil), badID...), 0, 0, 0x90))
	handle(rpc.MsgClientCall, append([]byte(av.ID()), 1, 0))
	handle(rpc.MsgClientCall, append(clientCallBody(t, av.ID(), 1, 100, "Move")[:26], 0xff, 0xff)) // string longer than the body
	for _, args := range [][]byte{{0xdc, 0xff, 0xff}, {0x91, 0xc1}, {0x92, 0x01}, {0x80}, {0xc0}, nil} {
		b := rpc.AppendString(rpc.AppendUint64(rpc.AppendUint16(rpc.AppendEntityID(nil, av.ID()), 1), 100), "Move")
		handle(rpc.MsgClientCall, append(b, args...))
		handle(rpc.MsgCallEntityMethod, append(callBody(t, av.ID(), "Note")[:len(callBody(t, av.ID(), "Note"))-1], args...))
	}
	// Deeply nested arguments.
	deep := rpc.AppendString(rpc.AppendEntityID(nil, av.ID()), "Note")
	for i := 0; i < 10000; i++ {
		deep = append(deep, 0x91)
	}
	handle(rpc.MsgCallEntityMethod, deep)
	if e.w.Entity(av.ID()) == nil {
		t.Fatal("the entity went away")
	}
}

// A frame with a well-formed layout but values the entity cannot hold must
// be dropped, not crash the game loop.
func TestCreateEntitySomewhereBadAttrs(t *testing.T) {
	e := newEnv(t)
	id := rpc.NewEntityID()
	attrs, err := rpc.AppendValue(nil, map[string]any{"name": uint64(math.MaxUint64)})
	if err != nil {
		t.Fatal(err)
	}
	body := append(rpc.AppendString(rpc.AppendEntityID(nil, id), "Avatar"), attrs...)
	var p any
	func() {
		defer func() { p = recover() }()
		e.eng.Handle(rpc.MsgCreateEntitySomewhere, body)
	}()
	if p != nil {
		t.Fatalf("regression: MsgCreateEntitySomewhere with an attribute > MaxInt64 panics in Handle: %v; see report", p)
	}
	if av := e.w.Entity(id); av != nil && av.Attrs.Has("name") {
		t.Fatalf("entity created with an attribute it cannot hold: %v", av.Attrs.Get("name"))
	}
	// The same data coming from storage.
	lid := rpc.NewEntityID()
	storeAvatar(t, e.store, lid, map[string]any{"name": uint64(math.MaxUint64)})
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(lid, "Avatar"))
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, lid, "Note", "x"))
	e.out.take()
	e.store.flush(e.eng) // Run recovers a panic, but the load must fail cleanly
	if av := e.w.Entity(lid); av == nil {
		if f := e.out.ofType(rpc.MsgUnregisterEntity); len(f) != 1 {
			t.Fatalf("failed load did not unregister: %v", e.out.frames)
		}
	} else if av.Attrs.Has("name") {
		t.Fatal("loaded an attribute it cannot hold")
	}
}

// A create or load with the all-zero ("no entity") ID is malformed.
func TestCreateEntitySomewhereZeroID(t *testing.T) {
	e := newEnv(t)
	attrs, _ := rpc.AppendValue(nil, map[string]any{})
	e.eng.Handle(rpc.MsgCreateEntitySomewhere, append(rpc.AppendString(rpc.AppendEntityID(nil, ""), "Plain"), attrs...))
	if e.w.Entity("") != nil {
		t.Fatal("regression: MsgCreateEntitySomewhere with the zero entity ID creates an entity whose ID is empty; see report")
	}
}

func TestCreateEntitySomewhere(t *testing.T) {
	e := newEnv(t, withDispatchers(3))
	id, err := e.w.CreateEntitySomewhere("Avatar", map[string]any{"name": "n", "inv": map[string]any{"a": []any{1}}})
	if err != nil {
		t.Fatal(err)
	}
	f := e.out.take()
	if len(f) != 1 || f[0].typ != rpc.MsgCreateEntitySomewhere || f[0].disp != id.Shard(3) {
		t.Fatalf("frames %v", f)
	}
	if _, err := e.w.CreateEntitySomewhere("Nope", nil); err == nil {
		t.Error("unknown type accepted")
	}
	if err := e.w.CreateEntitySomewhereWithID("Avatar", "short", nil); err == nil {
		t.Error("invalid ID accepted")
	}
	if _, err := e.w.CreateEntitySomewhere("Avatar", map[string]any{"x": make(chan int)}); err == nil {
		t.Error("unencodable attrs accepted")
	}
	// The receiving game (here the same world) creates it, runs OnCreated
	// and saves it at once.
	e.eng.Handle(rpc.MsgCreateEntitySomewhere, f[0].body)
	av := e.w.Entity(id)
	if av == nil {
		t.Fatal("not created")
	}
	deepEqual(t, "attrs", av.Attrs.ToMap(), map[string]any{"name": "n", "inv": map[string]any{"a": []any{int64(1)}}})
	deepEqual(t, "events", e.eventsOf(id), []string{"OnCreated"})
	if len(e.store.saves) != 1 || e.store.saves[0][0].ID != string(id) {
		t.Fatalf("saves %v", e.store.saves)
	}
	// Unknown type on the receiving side: the dispatcher is told.
	e.out.take()
	other := rpc.NewEntityID()
	attrs, _ := rpc.AppendValue(nil, map[string]any{})
	e.eng.Handle(rpc.MsgCreateEntitySomewhere, append(rpc.AppendString(rpc.AppendEntityID(nil, other), "Nope"), attrs...))
	f = e.out.ofType(rpc.MsgUnregisterEntity)
	if len(f) != 1 || decodeEntityIDBody(t, f[0].body) != other {
		t.Fatalf("frames %v", e.out.frames)
	}
}

// ---------------------------------------------------------------------------
// Client handover

func TestGiveClientTo(t *testing.T) {
	e := newEnv(t, withDispatchers(2))
	acc := e.connect(3, 300)
	av := e.create("Avatar", map[string]any{"name": "bob", "inv": map[string]any{"gold": 5}, "srv": 1, "saved": 2})
	e.events()
	e.out.take()

	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, acc.ID(), 3, 300, "Login", string(av.ID())))
	deepEqual(t, "events", e.events(), []string{
		string(acc.ID()) + " Login(" + string(av.ID()) + ")",
		string(acc.ID()) + " OnClientDisconnected",
		string(av.ID()) + " OnClientConnected",
	})
	if acc.HasClient() {
		t.Fatal("giver kept the client")
	}
	if ref, ok := av.Client(); !ok || ref != (ClientRef{3, 300}) {
		t.Fatalf("receiver client %v %v", ref, ok)
	}
	frames := e.out.take()
	if len(frames) != 3 {
		t.Fatalf("frames: %v", frames)
	}
	for _, f := range frames {
		if f.typ == rpc.MsgCallEntityMethod {
			t.Fatal("local handover went through the Outbox")
		}
	}
	m := decodeToClient(t, frames[0])
	if m.typ != rpc.MsgDestroyEntity || decodeEntityIDBody(t, m.body) != acc.ID() || m.ref() != (ClientRef{3, 300}) {
		t.Fatalf("first frame: %+v", m)
	}
	if frames[1].typ != rpc.MsgSetClientOwner {
		t.Fatalf("second frame %v", frames[1].typ)
	}
	deepEqual(t, "SetClientOwner", decodeSetOwner(t, frames[1].body), setOwnerMsg{3, 300, av.ID(), testGameID})
	m = decodeToClient(t, frames[2])
	if m.typ != rpc.MsgCreateEntity {
		t.Fatalf("third frame %v", m.typ)
	}
	deepEqual(t, "CreateEntity", decodeCreate(t, m.body), createMsg{id: av.ID(), isPlayer: 1, typeName: "Avatar",
		attrs: map[string]any{"name": "bob", "inv": map[string]any{"gold": int64(5)}}})

	// A call from the client to its old entity is now refused.
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, acc.ID(), 3, 300, "Echo", "x"))
	if k := kicks(t, e.out.take()); len(k) != 1 {
		t.Fatal("call to the old entity not refused")
	}
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, av.ID(), 3, 300, "Move", 1, 2))
	deepEqual(t, "call to the new entity", e.eventsOf(av.ID()), []string{"Move(1,2)"})

	// Giving without a client: a warning, nothing else.
	e.eng.Run(func() { acc.GiveClientTo(av.ID()) })
	if len(e.out.take()) != 0 || len(e.events()) != 0 || !e.logged(logrus.WarnLevel, "no client to give") {
		t.Fatal("GiveClientTo without a client")
	}
}

func TestGiveClientToEntityWithClient(t *testing.T) {
	e := newEnv(t)
	newAcc := e.connect(1, 111) // the same player logs in again
	av := e.create("Avatar", nil)
	e.bind(av, 2, 222) // the old connection
	e.events()
	e.out.take()

	e.eng.Run(func() { newAcc.GiveClientTo(av.ID()) })
	deepEqual(t, "events", e.events(), []string{
		string(newAcc.ID()) + " OnClientDisconnected",
		string(av.ID()) + " OnClientConnected",
	})
	if ref, _ := av.Client(); ref != (ClientRef{1, 111}) {
		t.Fatalf("receiver has %v", ref)
	}
	frames := e.out.take()
	var sawDestroyOld, sawKickOld bool
	for _, f := range frames {
		switch f.typ {
		case rpc.MsgToClient:
			m := decodeToClient(t, f)
			if m.ref() == (ClientRef{2, 222}) {
				if m.typ != rpc.MsgDestroyEntity || decodeEntityIDBody(t, m.body) != av.ID() {
					t.Errorf("old client got %v", m.typ)
				}
				sawDestroyOld = true
			}
		case rpc.MsgKickClient:
			k := decodeKick(t, f.body)
			if k.client != 222 || k.gate != 2 {
				t.Errorf("kicked %+v", k)
			}
			sawKickOld = true
		}
	}
	if !sawDestroyOld || !sawKickOld {
		t.Fatalf("old client: destroy=%v kick=%v; frames %v", sawDestroyOld, sawKickOld, frames)
	}
	// Giving the same client again changes nothing.
	e.eng.Run(func() { av.setClient(&ClientRef{1, 111}) })
	if len(e.out.take()) != 0 || len(e.events()) != 0 {
		t.Fatal("re-binding the same client")
	}
}

func TestGiveClientToRemote(t *testing.T) {
	e := newEnv(t, withDispatchers(3))
	acc := e.connect(1, 100)
	e.out.take()
	remote := rpc.NewEntityID()
	e.eng.Run(func() { acc.GiveClientTo(remote) })
	calls := e.out.ofType(rpc.MsgCallEntityMethod)
	if len(calls) != 1 || calls[0].disp != remote.Shard(3) {
		t.Fatalf("handover frames %v", e.out.frames)
	}
	// The receiving game binds the client.
	e2 := newEnv(t, withDispatchers(3))
	av := e2.create("Avatar", nil)
	body := calls[0].body
	copy(body, av.ID()) // address the handover to e2's entity
	e2.events()
	e2.eng.Handle(rpc.MsgCallEntityMethod, body)
	if ref, _ := av.Client(); ref != (ClientRef{1, 100}) {
		t.Fatalf("remote receiver has %v", ref)
	}
	deepEqual(t, "events", e2.eventsOf(av.ID()), []string{"OnClientConnected"})
	// A malformed handover is logged and dropped.
	e2.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, av.ID(), methodTakeClient, "x"))
	if ref, _ := av.Client(); ref != (ClientRef{1, 100}) || !e2.logged(logrus.ErrorLevel, "bad client handover") {
		t.Fatal("malformed handover")
	}
}

// A client given to an entity destroyed before the handover arrives is
// kicked rather than left without an entity (as setClient does for a
// destroyed receiver).
func TestGiveClientToDestroyed(t *testing.T) {
	e := newEnv(t)
	acc := e.connect(1, 100)
	av := e.create("Avatar", nil)
	e.out.take()
	e.eng.Run(func() {
		acc.GiveClientTo(av.ID())
		av.Destroy()
	})
	if av.HasClient() {
		t.Fatal("destroyed entity got a client")
	}
	if !e.logged(logrus.WarnLevel, "unknown entity") {
		t.Error("dropped handover not logged")
	}
	k := kicks(t, e.out.take())
	if len(k) == 0 {
		t.Fatal("regression: a handover to a local entity destroyed before it arrives is dropped without kicking the client, which is left bound to no entity; see report")
	}
	if len(k) != 1 || k[0].client != 100 {
		t.Fatalf("kicks %v", k)
	}
}

// ---------------------------------------------------------------------------
// Entity client helpers

func TestEntityClientHelpers(t *testing.T) {
	const nd = 3
	e := newEnv(t, withDispatchers(nd))
	a := e.connect(4, 400)
	e.out.take()
	a.CallClient("Show", 1, "x")
	a.SetClientFilterProp("room", "r1")
	a.Kick("bye")
	f := e.out.take()
	if len(f) != 3 {
		t.Fatalf("frames %v", f)
	}
	for _, fr := range f {
		if fr.disp != rpc.GateID(4).Shard(nd) {
			t.Errorf("%v to dispatcher %d", fr.typ, fr.disp)
		}
	}
	m := decodeToClient(t, f[0])
	r := rpc.NewReader(m.body)
	id, method := r.EntityID(), r.String()
	args, err := rpc.DecodeAnyArgs(r.Rest())
	if m.typ != rpc.MsgCallClient || id != a.ID() || method != "Show" || err != nil {
		t.Fatalf("CallClient: %v %s %s %v", m.typ, id, method, err)
	}
	deepEqual(t, "CallClient args", args, []any{int64(1), "x"})
	r = rpc.NewReader(f[1].body)
	if f[1].typ != rpc.MsgSetClientFilterProp || r.Uint16() != 4 || r.Uint64() != 400 || r.String() != "room" || r.String() != "r1" {
		t.Fatal("SetClientFilterProp")
	}
	deepEqual(t, "Kick", decodeKick(t, f[2].body), kickMsg{4, 400, "bye"})

	// Broadcasts go to every dispatcher.
	e.w.CallAllClients("Hello", 1)
	e.w.CallFilteredClients("room", "r1", "Hi")
	f = e.out.take()
	if len(f) != 2*nd {
		t.Fatalf("broadcast frames %v", f)
	}
	for i, fr := range f {
		if fr.typ != rpc.MsgFilteredBroadcast || fr.disp != i%nd {
			t.Errorf("frame %d: %v to %d", i, fr.typ, fr.disp)
		}
	}
	r = rpc.NewReader(f[nd].body)
	if rpc.FilterOp(r.Uint8()) != rpc.FilterEq || r.String() != "room" || r.String() != "r1" || rpc.MsgType(r.Uint16()) != rpc.MsgCallClient {
		t.Fatal("filtered broadcast header")
	}
	// Without a client these do nothing.
	p := e.create("Plain", nil)
	e.out.take()
	p.CallClient("X")
	p.SetClientFilterProp("a", "b")
	p.Kick("x")
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("clientless helpers sent %v", f)
	}
	// Unencodable arguments are logged, not sent.
	a.CallClient("X", make(chan int))
	e.w.CallAllClients("X", make(chan int))
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("unencodable args sent %v", f)
	}
}

func TestDestroy(t *testing.T) {
	e := newEnv(t, withDispatchers(2))
	a := e.connect(1, 100)
	p := e.create("Plain", nil)
	e.events()
	e.out.take()
	e.eng.Run(a.Destroy)
	deepEqual(t, "events", e.eventsOf(a.ID()), []string{"OnDestroy"})
	if !a.IsDestroyed() || e.w.Entity(a.ID()) != nil || a.HasClient() {
		t.Fatal("not destroyed")
	}
	var sawClient, sawUnregister bool
	for _, f := range e.out.take() {
		switch f.typ {
		case rpc.MsgToClient:
			m := decodeToClient(t, f)
			sawClient = m.typ == rpc.MsgDestroyEntity && decodeEntityIDBody(t, m.body) == a.ID()
		case rpc.MsgUnregisterEntity:
			sawUnregister = decodeEntityIDBody(t, f.body) == a.ID() && f.disp == a.ID().Shard(2)
		}
	}
	if !sawClient || !sawUnregister {
		t.Fatalf("client told %v, dispatcher told %v", sawClient, sawUnregister)
	}
	// Twice: nothing.
	e.eng.Run(a.Destroy)
	if len(e.out.take()) != 0 || len(e.events()) != 0 {
		t.Fatal("second Destroy")
	}
	// Calls to a destroyed entity are dropped.
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, a.ID(), "Secret", 1))
	e.eng.Run(func() { e.w.Call(p.ID(), "Kill"); e.w.Call(p.ID(), "Tick", 1) })
	deepEqual(t, "calls after Kill", e.eventsOf(p.ID()), []string{"Kill"})
	if e.w.NumEntities() != 0 {
		t.Fatalf("%d entities left", e.w.NumEntities())
	}
}

func TestReregister(t *testing.T) {
	const nd = 3
	e := newEnv(t, withDispatchers(nd))
	ids := map[rpc.EntityID]bool{}
	for i := 0; i < 20; i++ {
		ids[e.create("Plain", nil).ID()] = true
	}
	e.out.take()
	seen := map[rpc.EntityID]bool{}
	for i := 0; i < nd; i++ {
		e.eng.Reregister(i)
		for _, f := range e.out.take() {
			id := decodeEntityIDBody(t, f.body)
			if f.typ != rpc.MsgRegisterEntity || f.disp != i || id.Shard(nd) != i || seen[id] {
				t.Fatalf("Reregister(%d): %v to %d for %s", i, f.typ, f.disp, id)
			}
			seen[id] = true
		}
	}
	deepEqual(t, "reregistered", seen, ids)
	n := 0
	e.w.Entities(func(*Entity) { n++ })
	if n != 20 || e.w.NumEntities() != 20 {
		t.Fatalf("Entities visited %d", n)
	}
}

// ---------------------------------------------------------------------------
// Persistence

func decodeRecord(t *testing.T, r storage.EntityRecord) map[string]any {
	t.Helper()
	v, n, err := rpc.DecodeAny(r.Data)
	if err != nil || n != len(r.Data) {
		t.Fatalf("record data: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("record data is %T", v)
	}
	return m
}

func TestPersistentCreateSavesAtOnce(t *testing.T) {
	e := newEnv(t, withDispatchers(2))
	av := e.create("Avatar", map[string]any{"name": "bob", "inv": map[string]any{"a": []any{1.5}}, "bag": []any{1},
		"hp": 3, "srv": "s", "saved": map[string]any{}})
	if len(e.store.saves) != 1 || len(e.store.saves[0]) != 1 {
		t.Fatalf("saves %v", e.store.saves)
	}
	rec := e.store.saves[0][0]
	if rec.Type != "Avatar" || rec.ID != string(av.ID()) {
		t.Fatalf("record %s/%s", rec.Type, rec.ID)
	}
	deepEqual(t, "saved data", decodeRecord(t, rec), map[string]any{"name": "bob", "inv": map[string]any{"a": []any{1.5}}, "saved": map[string]any{}})
	if av.dirty || e.w.SavesInFlight() != 1 {
		t.Fatalf("dirty=%v inflight=%d", av.dirty, e.w.SavesInFlight())
	}
	e.store.flush(e.eng)
	if e.w.SavesInFlight() != 0 {
		t.Fatal("save still in flight")
	}
	reg := e.out.ofType(rpc.MsgRegisterEntity)
	if len(reg) != 1 || decodeEntityIDBody(t, reg[0].body) != av.ID() || reg[0].disp != av.ID().Shard(2) {
		t.Fatalf("register frames %v", reg)
	}
	// Non-persistent types are not saved.
	e.create("Account", nil)
	e.create("Plain", nil)
	if len(e.store.saves) != 1 {
		t.Fatalf("non-persistent saved: %v", e.store.saves)
	}
	// Without a Store, persistent entities still work.
	e2 := newEnv(t, withoutStore())
	e2.create("Avatar", map[string]any{"name": "x"})
	called := false
	e2.create("Avatar", nil).Attrs.Set("name", "y")
	if n := e2.eng.SaveDirty(func(err error) { called = err == nil }); n != 1 || !called {
		t.Fatalf("SaveDirty without store: %d %v", n, called)
	}
}

func TestSaveDirty(t *testing.T) {
	e := newEnv(t)
	a := e.create("Avatar", map[string]any{"inv": map[string]any{"l": []any{}}})
	b := e.create("Avatar", nil)
	e.store.flush(e.eng)
	e.store.saves = nil

	var results []error
	done := func(err error) { results = append(results, err) }
	if n := e.eng.SaveDirty(done); n != 0 || len(results) != 1 || results[0] != nil {
		t.Fatalf("clean SaveDirty: %d %v", n, results)
	}
	// Changes outside persistent attributes do not make an entity dirty.
	a.Attrs.Set("hp", 1)
	a.Attrs.Set("bag", []any{1})
	a.Attrs.GetList("bag").Append(2)
	a.Attrs.Set("srv", 1)
	if n := e.eng.SaveDirty(nil); n != 0 {
		t.Fatalf("non-persistent change saved %d", n)
	}
	// A nested persistent change does.
	a.Attrs.GetMap("inv").GetList("l").Append("x")
	results = nil
	if n := e.eng.SaveDirty(done); n != 1 {
		t.Fatalf("SaveDirty saved %d", n)
	}
	if len(e.store.saves) != 1 || len(e.store.saves[0]) != 1 || e.store.saves[0][0].ID != string(a.ID()) {
		t.Fatalf("saves %v", e.store.saves)
	}
	deepEqual(t, "data", decodeRecord(t, e.store.saves[0][0]), map[string]any{"inv": map[string]any{"l": []any{"x"}}})
	if len(results) != 0 {
		t.Fatal("done ran before the store finished")
	}
	e.store.flush(e.eng)
	deepEqual(t, "done", results, []error{nil})
	if n := e.eng.SaveDirty(nil); n != 0 {
		t.Fatalf("second SaveDirty saved %d", n)
	}
	// Both dirty: one batch of two.
	a.Attrs.Set("name", "a")
	b.Attrs.Delete("inv") // absent: not a change
	b.Attrs.Set("saved", 1)
	if n := e.eng.SaveDirty(nil); n != 2 || len(e.store.saves) != 2 || len(e.store.saves[1]) != 2 {
		t.Fatalf("SaveDirty of two: %d, %v", n, e.store.saves)
	}
	e.store.flush(e.eng)
}

func TestDestroySaves(t *testing.T) {
	e := newEnv(t)
	av := e.create("Avatar", map[string]any{"name": "n"})
	e.store.flush(e.eng)
	e.store.saves = nil
	e.eng.Run(av.Destroy)
	if len(e.store.saves) != 1 {
		t.Fatalf("saves %v", e.store.saves)
	}
	// OnDestroy's change is in the final save.
	deepEqual(t, "final data", decodeRecord(t, e.store.saves[0][0]), map[string]any{"name": "n", "saved": "bye"})
	e.store.flush(e.eng)
	if n := e.eng.SaveDirty(nil); n != 0 {
		t.Fatal("destroyed entity saved again")
	}
	// Non-persistent: no save.
	p := e.create("Account", nil)
	e.eng.Run(p.Destroy)
	if len(e.store.saves) != 1 {
		t.Fatal("non-persistent destroy saved")
	}
}

func TestFailedSaveRetried(t *testing.T) {
	e := newEnv(t)
	av := e.create("Avatar", nil)
	e.store.flush(e.eng)
	e.store.saves = nil
	boom := errors.New("disk full")
	e.store.saveErrs = []error{boom}
	av.Attrs.Set("name", "a")
	var got []error
	if n := e.eng.SaveDirty(func(err error) { got = append(got, err) }); n != 1 {
		t.Fatalf("saved %d", n)
	}
	e.store.flush(e.eng)
	if len(got) != 1 || !errors.Is(got[0], boom) {
		t.Fatalf("done got %v", got)
	}
	if !av.dirty || !e.logged(logrus.ErrorLevel, "retried") {
		t.Fatal("failed save did not leave the entity dirty")
	}
	if n := e.eng.SaveDirty(nil); n != 1 {
		t.Fatalf("retry saved %d", n)
	}
	e.store.flush(e.eng)
	deepEqual(t, "stored", decodeRecord(t, storage.EntityRecord{Data: e.store.entities[storeKey("Avatar", string(av.ID()))]}),
		map[string]any{"name": "a"})
	if n := e.eng.SaveDirty(nil); n != 0 {
		t.Fatalf("after a successful retry saved %d", n)
	}
	// A failed first save (at creation) is retried too.
	e.store.saveErrs = []error{boom}
	b := e.create("Avatar", map[string]any{"name": "b"})
	e.store.flush(e.eng)
	if !b.dirty {
		t.Fatal("failed first save did not leave the entity dirty")
	}
	if n := e.eng.SaveDirty(nil); n != 1 {
		t.Fatalf("failed first save not retried: %d", n)
	}
	e.store.flush(e.eng)
}

func storeAvatar(t *testing.T, s *memStore, id rpc.EntityID, data map[string]any) {
	t.Helper()
	b, err := msgpack.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	s.entities[storeKey("Avatar", string(id))] = b
}

func TestLoadEntity(t *testing.T) {
	e := newEnv(t, withDispatchers(2))
	id := rpc.NewEntityID()
	storeAvatar(t, e.store, id, map[string]any{"name": "loaded", "inv": map[string]any{"x": 1}, "bogus": 1})

	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar"))
	deepEqual(t, "loads", e.store.loads, []string{"Avatar/" + string(id)})
	if e.w.Entity(id) != nil {
		t.Fatal("entity exists before the load completes")
	}
	// Calls arriving meanwhile, from the dispatcher and locally, wait.
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, id, "Note", "1"))
	e.eng.Run(func() { e.w.Call(id, "Note", "2") })
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, id, "Note", "3"))
	e.eng.Handle(rpc.MsgClientCall, clientCallBody(t, id, 1, 1, "Poke", "4"))
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar")) // already loading
	if len(e.store.loads) != 1 {
		t.Fatalf("loaded twice: %v", e.store.loads)
	}
	if f := e.out.ofType(rpc.MsgCallEntityMethod); len(f) != 0 {
		t.Fatal("a call to a loading entity was sent away")
	}
	if ev := e.events(); len(ev) != 0 {
		t.Fatalf("ran before the load: %v", ev)
	}
	e.store.flush(e.eng)
	av := e.w.Entity(id)
	if av == nil {
		t.Fatal("not loaded")
	}
	deepEqual(t, "events", e.eventsOf(id), []string{"OnCreated", "Note(1)", "Note(2)", "Note(3)", "Poke(4)"})
	deepEqual(t, "attrs", av.Attrs.ToMap(), map[string]any{"name": "loaded", "inv": map[string]any{"x": int64(1)}})
	if av.dirty {
		t.Fatal("freshly loaded entity is dirty")
	}
	// Loading a live entity does nothing.
	e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar"))
	if len(e.store.loads) != 1 {
		t.Fatal("loaded a live entity")
	}
	// Calls now run at once.
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, id, "Note", "5"))
	deepEqual(t, "after", e.eventsOf(id), []string{"Note(5)"})
}

func TestLoadEntityFails(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(e *env, id rpc.EntityID)
	}{
		{"store error", func(e *env, id rpc.EntityID) { e.store.loadErr = errors.New("io error") }},
		{"not found", func(e *env, id rpc.EntityID) {}},
		{"not a map", func(e *env, id rpc.EntityID) { e.store.entities[storeKey("Avatar", string(id))] = []byte{0x91, 0x01} }},
		{"garbage", func(e *env, id rpc.EntityID) { e.store.entities[storeKey("Avatar", string(id))] = []byte{0xc1} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, withDispatchers(2))
			id := rpc.NewEntityID()
			c.setup(e, id)
			e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar"))
			e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, id, "Note", "1"))
			e.eng.Run(func() { e.w.Call(id, "Note", "2") })
			e.out.take()
			e.store.flush(e.eng)
			if e.w.Entity(id) != nil {
				t.Fatal("entity exists")
			}
			if ev := e.events(); len(ev) != 0 {
				t.Fatalf("queued calls ran: %v", ev)
			}
			f := e.out.take()
			if len(f) != 1 || f[0].typ != rpc.MsgUnregisterEntity || decodeEntityIDBody(t, f[0].body) != id || f[0].disp != id.Shard(2) {
				t.Fatalf("frames %v", f)
			}
			if !e.logged(logrus.ErrorLevel, "2 queued calls dropped") {
				t.Error("failure not logged")
			}
			// The load can be retried, and calls are no longer held.
			e.store.loadErr = nil
			storeAvatar(t, e.store, id, map[string]any{})
			e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar"))
			e.store.flush(e.eng)
			if e.w.Entity(id) == nil {
				t.Fatal("retry failed")
			}
		})
	}
}

func TestLoadRefused(t *testing.T) {
	for _, c := range []struct {
		name, typ string
		opts      []envOpt
	}{{"unknown type", "Nope", nil}, {"non-persistent type", "Account", nil}, {"no store", "Avatar", []envOpt{withoutStore()}}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts...)
			id := rpc.NewEntityID()
			e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, c.typ))
			f := e.out.take()
			if len(f) != 1 || f[0].typ != rpc.MsgUnregisterEntity || len(e.store.loads) != 0 {
				t.Fatalf("frames %v loads %v", f, e.store.loads)
			}
			// Not left loading: calls go to the dispatcher again.
			e.eng.Run(func() { e.w.Call(id, "Note", "x") })
			if len(e.out.ofType(rpc.MsgCallEntityMethod)) != 1 {
				t.Fatal("calls held for a refused load")
			}
		})
	}
	e := newEnv(t, withDispatchers(2))
	if err := e.w.LoadEntitySomewhere("Account", rpc.NewEntityID()); err == nil {
		t.Error("LoadEntitySomewhere of a non-persistent type")
	}
	if err := e.w.LoadEntitySomewhere("Nope", rpc.NewEntityID()); err == nil {
		t.Error("LoadEntitySomewhere of an unknown type")
	}
	if err := e.w.LoadEntitySomewhere("Avatar", "bad"); err == nil {
		t.Error("LoadEntitySomewhere with a bad ID")
	}
	id := rpc.NewEntityID()
	if err := e.w.LoadEntitySomewhere("Avatar", id); err != nil {
		t.Fatal(err)
	}
	f := e.out.take()
	if len(f) != 1 || f[0].typ != rpc.MsgLoadEntitySomewhere || f[0].disp != id.Shard(2) {
		t.Fatalf("frames %v", f)
	}
	deepEqual(t, "body", f[0].body, loadBody(id, "Avatar"))
}

func TestKV(t *testing.T) {
	e := newEnv(t)
	var got []string
	e.w.KVPut("k", []byte("v"), nil)
	e.w.KVPutIfAbsent("k", []byte("w"), func(stored bool, existing []byte, err error) {
		got = append(got, fmt.Sprintf("putIfAbsent %v %s %v", stored, existing, err))
	})
	e.w.KVGet("k", func(v []byte, err error) { got = append(got, fmt.Sprintf("get %s %v", v, err)) })
	e.w.KVPut("k2", nil, func(err error) { got = append(got, fmt.Sprintf("put %v", err)) })
	if len(got) != 0 {
		t.Fatal("callbacks ran before the store finished")
	}
	e.store.flush(e.eng)
	deepEqual(t, "kv", got, []string{"putIfAbsent false v <nil>", "get v <nil>", "put <nil>"})
}

// ---------------------------------------------------------------------------
// Local calls

func TestLocalCalls(t *testing.T) {
	e := newEnv(t, withDispatchers(2))
	p := e.create("Plain", nil)
	q := e.create("Plain", nil)
	e.out.take()
	e.eng.Run(func() {
		e.w.Call(p.ID(), "Tick", 1)
		p.Call(q.ID(), "Chain", 1)
		e.w.Call(p.ID(), "Tick", 2)
		if ev := e.events(); len(ev) != 0 {
			t.Errorf("local calls ran during the event: %v", ev)
		}
	})
	P, Q := string(p.ID())+" ", string(q.ID())+" "
	// In order; the call made by Chain(1) runs after the ones queued before it.
	deepEqual(t, "events", e.events(), []string{P + "Tick(1)", Q + "Chain(1)", P + "Tick(2)", Q + "Chain(0)"})
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("local calls went through the Outbox: %v", f)
	}
	// Calls made while handling a frame run after it, too.
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, p.ID(), "Chain", 3))
	deepEqual(t, "chain", e.eventsOf(p.ID()), []string{"Chain(3)", "Chain(2)", "Chain(1)", "Chain(0)"})
	// A panicking Run callback still flushes the calls it made.
	e.eng.Run(func() {
		e.w.Call(p.ID(), "Tick", 9)
		panic("callback bug")
	})
	deepEqual(t, "after panic", e.eventsOf(p.ID()), []string{"Tick(9)"})
	if !e.logged(logrus.ErrorLevel, "panic in game callback: callback bug") {
		t.Error("panic not logged")
	}
	// A panicking method does not stop later calls.
	e.eng.Run(func() {
		e.w.Call(p.ID(), "Boom")
		e.w.Call(p.ID(), "Tick", 10)
	})
	deepEqual(t, "after panicking call", e.eventsOf(p.ID()), []string{"Boom", "Tick(10)"})

	// A remote target goes through the Outbox, to its shard.
	remote := rpc.NewEntityID()
	e.eng.Run(func() { e.w.Call(remote, "Tick", 1) })
	f := e.out.take()
	if len(f) != 1 || f[0].typ != rpc.MsgCallEntityMethod || f[0].disp != remote.Shard(2) {
		t.Fatalf("remote call frames %v", f)
	}
	deepEqual(t, "remote body", f[0].body, callBody(t, remote, "Tick", 1))
	// Unencodable arguments: logged, nothing queued or sent.
	e.eng.Run(func() { e.w.Call(p.ID(), "Tick", make(chan int)) })
	if len(e.events()) != 0 || len(e.out.take()) != 0 || !e.logged(logrus.ErrorLevel, "cannot encode arguments") {
		t.Fatal("unencodable call")
	}
}
