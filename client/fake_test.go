package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

// quiet: no heartbeats, so that the fake server sees exactly the frames
// the test makes the client send.
var quiet = client.Options{HeartbeatInterval: -1}

func TestCreateEntityAndSnapshots(t *testing.T) {
	c, p := dialFake(t, quiet)
	player, npc := rpc.NewEntityID(), rpc.NewEntityID()

	if _, ok := c.Player(); ok {
		t.Fatal("Player() before any entity")
	}
	attrs := map[string]any{
		"name":  "alice",
		"level": 3,
		"hp":    -7,
		"big":   int64(1) << 40,
		"speed": 1.5,
		"ok":    true,
		"none":  nil,
		"stats": map[string]any{"str": 10, "tags": []any{"a", "b"}, "pos": map[string]any{"x": 0.25}},
		"bag":   []any{"potion", []any{1, 2}, map[string]any{"k": "v"}},
	}
	p.send(rpc.MsgCreateEntity, createBody(t, player, true, "Avatar", attrs))
	want := client.Entity{ID: player, Type: "Avatar", IsPlayer: true, Attrs: norm(attrs).(map[string]any)}
	ev := expectEvent[client.EntityCreated](t, c)
	deepEqual(t, "EntityCreated", ev.Entity, want)

	got, ok := c.Player()
	if !ok {
		t.Fatal("Player() false after the player was created")
	}
	deepEqual(t, "Player()", got, want)
	got, ok = c.Entity(player)
	if !ok {
		t.Fatal("Entity(player) false")
	}
	deepEqual(t, "Entity(player)", got, want)

	// Mutating snapshots (and the event) leaves the view alone.
	for _, s := range []client.Entity{got, ev.Entity} {
		s.Attrs["name"] = "mallory"
		delete(s.Attrs, "level")
		s.Attrs["stats"].(map[string]any)["str"] = int64(99)
		s.Attrs["stats"].(map[string]any)["tags"].([]any)[0] = "z"
		s.Attrs["stats"].(map[string]any)["pos"].(map[string]any)["x"] = 9.0
		s.Attrs["bag"].([]any)[1].([]any)[0] = "x"
		s.Attrs["bag"].([]any)[2].(map[string]any)["k"] = "w"
		s.Attrs["new"] = 1
	}
	got, _ = c.Player()
	deepEqual(t, "Player() after mutating snapshots", got, want)

	// Another entity, not the player: the player stays.
	p.send(rpc.MsgCreateEntity, createBody(t, npc, false, "Monster", map[string]any{"kind": "orc"}))
	ev = expectEvent[client.EntityCreated](t, c)
	wantNPC := client.Entity{ID: npc, Type: "Monster", Attrs: map[string]any{"kind": "orc"}}
	deepEqual(t, "EntityCreated (npc)", ev.Entity, wantNPC)
	got, ok = c.Entity(npc)
	if !ok {
		t.Fatal("Entity(npc) false")
	}
	deepEqual(t, "Entity(npc)", got, wantNPC)
	got, _ = c.Player()
	deepEqual(t, "Player() after another entity", got, want)
	if _, ok := c.Entity(rpc.NewEntityID()); ok {
		t.Fatal("Entity(unknown) true")
	}

	// An empty attribute map is an empty map, not nil.
	empty := rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, empty, false, "Rock", map[string]any{}))
	ev = expectEvent[client.EntityCreated](t, c)
	deepEqual(t, "EntityCreated (no attrs)", ev.Entity, client.Entity{ID: empty, Type: "Rock", Attrs: map[string]any{}})
}

func TestSnapshotBytesAreCopied(t *testing.T) {
	c, p := dialFake(t, quiet)
	id := rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, id, true, "Avatar", map[string]any{"blob": []byte{1, 2, 3}}))
	ev := expectEvent[client.EntityCreated](t, c)
	ev.Attrs["blob"].([]byte)[0] = 42
	s, _ := c.Player()
	s.Attrs["blob"].([]byte)[1] = 42
	p.send(rpc.MsgAttrChange, attrBody(t, id, rpc.AttrSet, path("more"), []byte{4, 5}))
	ch := expectEvent[client.AttrChanged](t, c)
	ch.Value.([]byte)[0] = 42
	s, _ = c.Player()
	deepEqual(t, "Player().Attrs", s.Attrs, map[string]any{"blob": []byte{1, 2, 3}, "more": []byte{4, 5}})
}

func TestAttrChanges(t *testing.T) {
	c, p := dialFake(t, quiet)
	id := rpc.NewEntityID()
	want := norm(map[string]any{
		"name":  "alice",
		"level": 3,
		"stats": map[string]any{"hp": 100, "tags": []any{"a", "b"}},
		"bag":   []any{"potion", "rope"},
		"grid":  []any{[]any{0, 1}, []any{}},
	}).(map[string]any)
	p.send(rpc.MsgCreateEntity, createBody(t, id, true, "Avatar", want))
	expectEvent[client.EntityCreated](t, c)

	m := func(v any) map[string]any { return v.(map[string]any) }
	l := func(v any) []any { return v.([]any) }
	steps := []struct {
		op    rpc.AttrOp
		path  []any
		value any
		apply func(w map[string]any) // the change, done by hand on the expected view
	}{
		{rpc.AttrSet, path("name"), "bob", func(w map[string]any) { w["name"] = "bob" }},
		{rpc.AttrSet, path("gold"), 10, func(w map[string]any) { w["gold"] = int64(10) }},
		{rpc.AttrSet, path("stats", "hp"), 90, func(w map[string]any) { m(w["stats"])["hp"] = int64(90) }},
		{rpc.AttrSet, path("stats", "pos"), map[string]any{"x": 1.5}, func(w map[string]any) {
			m(w["stats"])["pos"] = map[string]any{"x": 1.5}
		}},
		{rpc.AttrSet, path("stats", "pos", "y"), -2, func(w map[string]any) { m(m(w["stats"])["pos"])["y"] = int64(-2) }},
		{rpc.AttrSet, path("bag", 1), "sword", func(w map[string]any) { l(w["bag"])[1] = "sword" }},
		{rpc.AttrAppend, path("bag"), "shield", func(w map[string]any) { w["bag"] = []any{"potion", "sword", "shield"} }},
		{rpc.AttrAppend, path("stats", "tags"), "c", func(w map[string]any) { m(w["stats"])["tags"] = []any{"a", "b", "c"} }},
		{rpc.AttrPop, path("bag"), nil, func(w map[string]any) { w["bag"] = []any{"potion", "sword"} }},
		{rpc.AttrPop, path("stats", "tags"), nil, func(w map[string]any) { m(w["stats"])["tags"] = []any{"a", "b"} }},
		{rpc.AttrDelete, path("stats", "hp"), nil, func(w map[string]any) { delete(m(w["stats"]), "hp") }},
		{rpc.AttrDelete, path("level"), nil, func(w map[string]any) { delete(w, "level") }},
		{rpc.AttrSet, path("grid", 0, 1), "x", func(w map[string]any) { l(l(w["grid"])[0])[1] = "x" }},
		{rpc.AttrAppend, path("grid", 1), "y", func(w map[string]any) { l(w["grid"])[1] = []any{"y"} }},
		{rpc.AttrAppend, path("grid", 1), 7, func(w map[string]any) { l(w["grid"])[1] = []any{"y", int64(7)} }},
		{rpc.AttrPop, path("grid", 0), nil, func(w map[string]any) { l(w["grid"])[0] = []any{int64(0)} }},
		{rpc.AttrPop, path("grid", 1), nil, func(w map[string]any) { l(w["grid"])[1] = []any{"y"} }},
		{rpc.AttrPop, path("grid", 1), nil, func(w map[string]any) { l(w["grid"])[1] = []any{} }},
		{rpc.AttrPop, path("grid", 1), nil, func(w map[string]any) {}}, // popping an empty list is a no-op
		{rpc.AttrSet, path("bag", 0), map[string]any{"k": []any{1}}, func(w map[string]any) {
			l(w["bag"])[0] = map[string]any{"k": []any{int64(1)}}
		}},
		{rpc.AttrAppend, path("bag", 0, "k"), 2, func(w map[string]any) { m(l(w["bag"])[0])["k"] = []any{int64(1), int64(2)} }},
		{rpc.AttrAppend, path("bag", 0, "k"), []any{3, "four"}, func(w map[string]any) {
			m(l(w["bag"])[0])["k"] = []any{int64(1), int64(2), []any{int64(3), "four"}}
		}},
		{rpc.AttrSet, path("bag", 0, "k", 2, 0), 33, func(w map[string]any) { l(l(m(l(w["bag"])[0])["k"])[2])[0] = int64(33) }},
		{rpc.AttrSet, path("stats", "pos"), nil, func(w map[string]any) { m(w["stats"])["pos"] = nil }},
		{rpc.AttrSet, path("stats"), map[string]any{}, func(w map[string]any) { w["stats"] = map[string]any{} }},
		{rpc.AttrAppend, path("grid"), []any{}, func(w map[string]any) { w["grid"] = append(l(w["grid"]), []any{}) }},
		{rpc.AttrAppend, path("grid", 2), true, func(w map[string]any) { l(w["grid"])[2] = []any{true} }},
	}
	for i, s := range steps {
		p.send(rpc.MsgAttrChange, attrBody(t, id, s.op, s.path, s.value))
		s.apply(want)
		ev := expectEvent[client.AttrChanged](t, c)
		deepEqual(t, fmt.Sprintf("step %d: AttrChanged", i),
			ev, client.AttrChanged{EntityID: id, Op: s.op, Path: s.path, Value: norm(s.value)})
		got, ok := c.Player()
		if !ok {
			t.Fatalf("step %d: no player", i)
		}
		deepEqual(t, fmt.Sprintf("step %d (%v %v): view", i, s.op, s.path), got.Attrs, want)
	}

	// The event's value is a copy: changing it leaves the view alone.
	p.send(rpc.MsgAttrChange, attrBody(t, id, rpc.AttrSet, path("stats", "inv"), []any{map[string]any{"id": 1}}))
	m(want["stats"])["inv"] = []any{map[string]any{"id": int64(1)}}
	ev := expectEvent[client.AttrChanged](t, c)
	ev.Value.([]any)[0].(map[string]any)["id"] = int64(2)
	got, _ := c.Player()
	deepEqual(t, "view after mutating an event's value", got.Attrs, want)
}

func TestDestroyEntity(t *testing.T) {
	c, p := dialFake(t, quiet)
	player, npc := rpc.NewEntityID(), rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, player, true, "Avatar", nil))
	p.send(rpc.MsgCreateEntity, createBody(t, npc, false, "Monster", nil))
	expectEvent[client.EntityCreated](t, c)
	expectEvent[client.EntityCreated](t, c)

	p.send(rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, npc))
	deepEqual(t, "EntityDestroyed", expectEvent[client.EntityDestroyed](t, c), client.EntityDestroyed{ID: npc, Type: "Monster"})
	if _, ok := c.Entity(npc); ok {
		t.Fatal("Entity(npc) after its destruction")
	}
	if _, ok := c.Player(); !ok {
		t.Fatal("the player went with another entity")
	}

	p.send(rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, player))
	deepEqual(t, "EntityDestroyed", expectEvent[client.EntityDestroyed](t, c), client.EntityDestroyed{ID: player, Type: "Avatar"})
	if _, ok := c.Player(); ok {
		t.Fatal("Player() true after the player was destroyed")
	}
	if _, ok := c.Entity(player); ok {
		t.Fatal("Entity(player) after its destruction")
	}
	if err := c.CallPlayer("Hello"); err == nil {
		t.Fatal("CallPlayer without a player: no error")
	}

	// An unknown entity: an event with no type, and the connection stays.
	ghost := rpc.NewEntityID()
	p.send(rpc.MsgDestroyEntity, rpc.AppendEntityID(nil, ghost))
	deepEqual(t, "EntityDestroyed", expectEvent[client.EntityDestroyed](t, c), client.EntityDestroyed{ID: ghost})

	// A new player (after login, the Avatar replaces the Account).
	avatar := rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, avatar, true, "Avatar", nil))
	expectEvent[client.EntityCreated](t, c)
	if e, ok := c.Player(); !ok || e.ID != avatar {
		t.Fatalf("Player() = %v, %v; want %s", e.ID, ok, avatar)
	}
}

func TestCallClient(t *testing.T) {
	c, p := dialFake(t, quiet)
	player, npc := rpc.NewEntityID(), rpc.NewEntityID()

	// A broadcast before there is a player targets no one in particular.
	p.send(rpc.MsgCallClient, callBody(t, "", "OnNews", "early"))
	deepEqual(t, "Call", expectEvent[client.Call](t, c),
		client.Call{Method: "OnNews", Args: []any{"early"}, Broadcast: true})

	p.send(rpc.MsgCreateEntity, createBody(t, player, true, "Avatar", nil))
	expectEvent[client.EntityCreated](t, c)

	args := []any{"hi", 1, -300, 2.5, true, nil, []byte{0, 1}, []any{"x", 2}, map[string]any{"k": map[string]any{"n": 1}}}
	p.send(rpc.MsgCallClient, callBody(t, player, "OnHello", args...))
	deepEqual(t, "Call", expectEvent[client.Call](t, c),
		client.Call{EntityID: player, Method: "OnHello", Args: norm(args).([]any)})

	p.send(rpc.MsgCallClient, callBody(t, npc, "OnRoar"))
	deepEqual(t, "Call", expectEvent[client.Call](t, c), client.Call{EntityID: npc, Method: "OnRoar", Args: []any{}})

	p.send(rpc.MsgCallClient, callBody(t, "", "OnSay", "bob", "hello all"))
	deepEqual(t, "Call", expectEvent[client.Call](t, c),
		client.Call{EntityID: player, Method: "OnSay", Args: []any{"bob", "hello all"}, Broadcast: true})

	// Heartbeat acks are not events.
	p.send(rpc.MsgHeartbeatAck, nil)
	p.send(rpc.MsgCallClient, callBody(t, player, "OnAfterAck"))
	if ev := expectEvent[client.Call](t, c); ev.Method != "OnAfterAck" {
		t.Fatalf("got %#v", ev)
	}
}

func TestKick(t *testing.T) {
	c, p := dialFake(t, quiet)
	p.send(rpc.MsgCreateEntity, createBody(t, rpc.NewEntityID(), true, "Avatar", nil))
	expectEvent[client.EntityCreated](t, c)
	p.send(rpc.MsgKick, kickBody("logged in from another connection"))
	p.nc.Close()
	d := expectEvent[client.Disconnected](t, c)
	if d.Reason != "logged in from another connection" {
		t.Fatalf("reason %q", d.Reason)
	}
	if !errors.Is(d.Err, client.ErrKicked) {
		t.Fatalf("err %v, want ErrKicked", d.Err)
	}
	expectClosed(t, c)
	if err := c.CallPlayer("Hello"); err == nil {
		t.Fatal("CallPlayer after disconnection: no error")
	}
}

func TestServerCloses(t *testing.T) {
	c, p := dialFake(t, client.Options{})
	p.nc.Close()
	d := expectEvent[client.Disconnected](t, c)
	if d.Reason != "the server closed the connection" || !errors.Is(d.Err, rpc.ErrPeerClosed) {
		t.Fatalf("got %#v", d)
	}
	expectClosed(t, c)
	if err := c.Call(rpc.NewEntityID(), "Hello"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Call after disconnection: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMalformedFramesDisconnect(t *testing.T) {
	id := rpc.NewEntityID()
	create := rpc.AppendFrame(nil, rpc.MsgCreateEntity, createBody(t, id, true, "Avatar",
		map[string]any{"name": "a", "bag": []any{"x"}, "stats": map[string]any{"hp": 1}}))
	frame := rpc.AppendFrame
	attr := func(op rpc.AttrOp, path []any, value any) []byte {
		return frame(nil, rpc.MsgAttrChange, attrBody(t, id, op, path, value))
	}
	rawAttr := func(op rpc.AttrOp, rest ...byte) []byte {
		return frame(nil, rpc.MsgAttrChange, append(rpc.AppendUint8(rpc.AppendEntityID(nil, id), uint8(op)), rest...))
	}
	nested := bytes.Repeat([]byte{0x91}, 40) // 40 nested one-element arrays
	cases := []struct {
		name  string
		input []byte // after the player's creation
		want  string // in the reason
	}{
		{"path through a missing key", attr(rpc.AttrSet, path("nope", "x"), 1), `no key "nope"`},
		{"path through a scalar", attr(rpc.AttrSet, path("name", "x"), 1), "cannot set in string"},
		{"list index out of range", attr(rpc.AttrSet, path("bag", 5), 1), "out of range"},
		{"negative list index", attr(rpc.AttrSet, path("bag", -1), 1), "out of range"},
		{"string index into a list", attr(rpc.AttrSet, path("bag", "0"), 1), "out of range"},
		{"int key in a map", attr(rpc.AttrSet, path("stats", 0), 1), "not a string"},
		{"empty path", attr(rpc.AttrSet, path(), 1), "empty path"},
		{"path not an array", attr(rpc.AttrSet, nil, 1), "empty path"},
		{"delete from a list", attr(rpc.AttrDelete, path("bag", 0), nil), "cannot delete"},
		{"append to a map", attr(rpc.AttrAppend, path("stats"), 1), "append/pop on map"},
		{"pop a missing list", attr(rpc.AttrPop, path("missing"), nil), `no key "missing"`},
		{"unknown op", attr(9, path("name"), 1), "unknown op 9"},
		{"no path", rawAttr(rpc.AttrSet), "AttrChange path"},
		{"no value", rawAttr(rpc.AttrSet, 0x91, 0xa4, 'n', 'a', 'm', 'e'), "AttrChange value"},
		{"garbage path", rawAttr(rpc.AttrSet, 0xc1, 0x01), "AttrChange path"},
		{"truncated op", frame(nil, rpc.MsgAttrChange, rpc.AppendEntityID(nil, id)), "malformed AttrChange"},
		{"unknown message type", frame(nil, 999, []byte("hi")), "unexpected message type 999"},
		{"client-bound type from the server", frame(nil, rpc.MsgCallEntity, callBody(t, id, "X")), "unexpected message type 3"},
		{"heartbeat from the server", frame(nil, rpc.MsgHeartbeat, nil), "unexpected message type 1"},
		{"truncated create", frame(nil, rpc.MsgCreateEntity, []byte("0123456789")), "malformed CreateEntity"},
		{"create without type", frame(nil, rpc.MsgCreateEntity, rpc.AppendUint8(rpc.AppendEntityID(nil, id), 1)), "malformed CreateEntity"},
		{"create with garbage attrs", frame(nil, rpc.MsgCreateEntity,
			append(rpc.AppendString(rpc.AppendUint8(rpc.AppendEntityID(nil, id), 0), "T"), 0xc1)), "CreateEntity attributes"},
		{"create with a non-string key", frame(nil, rpc.MsgCreateEntity,
			append(rpc.AppendString(rpc.AppendUint8(rpc.AppendEntityID(nil, id), 0), "T"), 0x81, 0x01, 0x02)), "map key"},
		{"create with deep nesting", frame(nil, rpc.MsgCreateEntity,
			append(append(rpc.AppendString(rpc.AppendUint8(rpc.AppendEntityID(nil, id), 0), "T"), 0x81, 0xa1, 'k'), append(nested, 0x01)...)), "nesting deeper"},
		{"create with a huge map length", frame(nil, rpc.MsgCreateEntity,
			append(rpc.AppendString(rpc.AppendUint8(rpc.AppendEntityID(nil, id), 0), "T"), 0xdf, 0xff, 0xff, 0xff, 0xff)), "exceeds"},
		{"bad entity ID", frame(nil, rpc.MsgDestroyEntity, []byte("!!!!!!!!!!!!!!!!")), "malformed entity ID"},
		{"truncated destroy", frame(nil, rpc.MsgDestroyEntity, []byte(id[:8])), "malformed DestroyEntity"},
		{"truncated call", frame(nil, rpc.MsgCallClient, append(rpc.AppendEntityID(nil, id), 10, 0, 'a')), "malformed CallClient"},
		{"call with garbage args", frame(nil, rpc.MsgCallClient,
			append(rpc.AppendString(rpc.AppendEntityID(nil, id), "OnX"), 0xdd, 0xff, 0x0f, 0x00, 0x30)), "CallClient OnX"},
		{"call args not an array", frame(nil, rpc.MsgCallClient, append(rpc.AppendString(rpc.AppendEntityID(nil, id), "OnX"), 0x01)), "not an argument array"},
		{"call args with trailing bytes", frame(nil, rpc.MsgCallClient, append(rpc.AppendString(rpc.AppendEntityID(nil, id), "OnX"), 0x90, 0x01)), "trailing bytes"},
		{"call without args", frame(nil, rpc.MsgCallClient, rpc.AppendString(rpc.AppendEntityID(nil, id), "OnX")), "CallClient OnX"},
		{"frame too large", rpc.AppendHeader(nil, rpc.MsgCallClient, 4096), "frame too large"},
		{"4 GiB frame", []byte{0xff, 0xff, 0xff, 0xff, 12, 0}, "frame too large"},
		{"frame length below 2", []byte{1, 0, 0, 0, 12, 0}, "frame length below 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, p := dialFake(t, client.Options{HeartbeatInterval: -1, MaxPacketSize: 1024})
			p.write(create)
			expectEvent[client.EntityCreated](t, c)
			p.write(tc.input)
			// The fake server keeps the connection open: the client must
			// hang up by itself.
			d := expectDisconnected(t, c)
			if d.Err == nil || !strings.Contains(d.Reason, tc.want) || strings.Contains(d.Reason, "panic") {
				t.Fatalf("got %#v, want an error reason containing %q", d, tc.want)
			}
			// The client closed the connection.
			p.nc.SetReadDeadline(time.Now().Add(eventTimeout))
			_, err := io.Copy(io.Discard, p.nc)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the client did not close the connection")
			}
		})
	}

	t.Run("truncated frame", func(t *testing.T) {
		c, p := dialFake(t, quiet)
		p.write(create)
		expectEvent[client.EntityCreated](t, c)
		f := frame(nil, rpc.MsgCallClient, callBody(t, id, "OnX", "abcdef"))
		p.write(f[:len(f)-3])
		p.nc.Close()
		d := expectDisconnected(t, c)
		if !errors.Is(d.Err, io.ErrUnexpectedEOF) || d.Reason == "the server closed the connection" {
			t.Fatalf("got %#v, want an unexpected EOF", d)
		}
	})
}

func TestZeroEntityIDIsRefused(t *testing.T) {
	c, p := dialFake(t, quiet)
	p.send(rpc.MsgCreateEntity, createBody(t, "", true, "Avatar", nil))
	ev := nextEvent(t, c)
	if d, ok := ev.(client.Disconnected); !ok || !strings.Contains(d.Reason, "CreateEntity") {
		e, _ := c.Player()
		t.Fatalf("got %#v, want Disconnected; Player() = %#v", ev, e)
	}
}

func TestHeartbeats(t *testing.T) {
	// Long enough that a busy machine's scheduling delays (tens of ms under
	// CI load) do not eat the heartbeats the silence must still carry.
	const interval = 150 * time.Millisecond
	began := time.Now()
	c, p := dialFake(t, client.Options{HeartbeatInterval: interval})

	// While the server answers, the client stays well past 4 intervals.
	const answered = 6
	var lastAck time.Time
	for i := 0; i < answered; i++ {
		typ, body, err := p.read()
		if err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
		if typ != rpc.MsgHeartbeat || len(body) != 0 {
			t.Fatalf("got %v %x, want an empty heartbeat", typ, body)
		}
		lastAck = time.Now()
		p.send(rpc.MsgHeartbeatAck, nil)
	}
	if el := time.Since(began); el < answered*interval {
		t.Fatalf("%d heartbeats in %v, faster than one per %v", answered, el, interval)
	}
	select {
	case ev := <-c.Events():
		t.Fatalf("event %#v while the server answers heartbeats", ev)
	default:
	}

	// Then it goes silent (but keeps reading).
	done := make(chan int)
	go func() {
		n := 0
		for {
			typ, _, err := p.read()
			if err != nil {
				done <- n
				return
			}
			if typ == rpc.MsgHeartbeat {
				n++
			}
		}
	}()
	d := expectEvent[client.Disconnected](t, c)
	silent := time.Since(lastAck)
	if d.Reason != "the server stopped answering" || !errors.Is(d.Err, rpc.ErrIdleTimeout) {
		t.Fatalf("got %#v", d)
	}
	if silent < 4*interval {
		t.Fatalf("gave up after %v of silence, before 4 intervals (%v)", silent, 4*interval)
	}
	expectClosed(t, c)
	if n := <-done; n < 2 {
		t.Fatalf("%d heartbeats during the silence, want at least 2", n)
	}
}

func TestHeartbeatsDisabled(t *testing.T) {
	c, p := dialFake(t, quiet)
	id := rpc.NewEntityID()
	// The first frame the server receives is the call, not a heartbeat,
	// although the server waits for it.
	if err := c.Call(id, "Ping"); err != nil {
		t.Fatal(err)
	}
	typ, _, err := p.read()
	if err != nil || typ != rpc.MsgCallEntity {
		t.Fatalf("got %v, %v; want CallEntity", typ, err)
	}
}

func TestCallEncoding(t *testing.T) {
	c, p := dialFake(t, quiet)
	player, npc := rpc.NewEntityID(), rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, player, true, "Avatar", nil))
	expectEvent[client.EntityCreated](t, c)

	str := func(s string) []byte { return append([]byte{byte(len(s)), 0}, s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	calls := []struct {
		call func() error
		want []byte
	}{
		{func() error { return c.Call(npc, "Attack", "alice", 42, true, nil, -1) },
			cat([]byte(npc), str("Attack"), []byte{0x95, 0xa5, 'a', 'l', 'i', 'c', 'e', 0x2a, 0xc3, 0xc0, 0xff})},
		{func() error { return c.CallPlayer("Login") },
			cat([]byte(player), str("Login"), []byte{0x90})},
		{func() error { return c.CallPlayer("Move", map[string]any{"k": "v"}, []string{"a"}, false) },
			cat([]byte(player), str("Move"), []byte{0x93, 0x81, 0xa1, 'k', 0xa1, 'v', 0x91, 0xa1, 'a', 0xc2})},
		{func() error { return c.Call(npc, "Use", []byte{7}) },
			cat([]byte(npc), str("Use"), []byte{0x91, 0xc4, 0x01, 0x07})},
	}
	for i, tc := range calls {
		if err := tc.call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		typ, body := p.readFrame()
		if typ != rpc.MsgCallEntity || !bytes.Equal(body, tc.want) {
			t.Fatalf("call %d: server got %v % x\nwant CallEntity % x", i, typ, body, tc.want)
		}
	}
}

func TestCallErrors(t *testing.T) {
	c, p := dialFake(t, quiet)
	if err := c.CallPlayer("Hello"); err == nil {
		t.Fatal("CallPlayer before any player: no error")
	}
	for _, id := range []rpc.EntityID{"", "short", "!!!!!!!!!!!!!!!!", rpc.NewEntityID() + "x", "0123456789abcde\x00"} {
		if err := c.Call(id, "Hello"); err == nil {
			t.Fatalf("Call(%q): no error", id)
		}
	}
	for _, m := range []string{"", "no such method", "Hello!", "1st"} {
		if err := c.Call(rpc.NewEntityID(), m); err == nil {
			t.Fatalf("Call with method name %q: no error", m)
		}
	}
	if err := c.Call(rpc.NewEntityID(), "Hello", make(chan int)); !errors.Is(err, rpc.ErrArgs) {
		t.Fatalf("Call with a channel argument: %v, want ErrArgs", err)
	}
	// None of them sent anything: the first frame is the valid call.
	id := rpc.NewEntityID()
	if err := c.Call(id, "Valid"); err != nil {
		t.Fatal(err)
	}
	typ, body := p.readFrame()
	if typ != rpc.MsgCallEntity || !bytes.HasPrefix(body, []byte(id)) {
		t.Fatalf("first frame %v % x, want the valid call", typ, body)
	}

	c.Close()
	if err := c.Call(id, "Late"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Call after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCallLongMethodName(t *testing.T) {
	c, _ := dialFake(t, quiet)
	for _, n := range []int{70000, rpc.MaxMethodNameLen + 1} {
		if err := c.Call(rpc.NewEntityID(), strings.Repeat("x", n)); err == nil || !strings.Contains(err.Error(), "over the limit of 256") {
			t.Fatalf("a %d-byte method name: %v", n, err)
		}
	}
}

// readCalls collects the Move calls the fake server receives until the
// client closes the connection.
func readCalls(p *peer) <-chan []int64 {
	out := make(chan []int64, 1)
	go func() {
		var got []int64
		for {
			typ, body, err := p.read()
			if err != nil {
				out <- got
				return
			}
			if typ != rpc.MsgCallEntity {
				continue
			}
			r := rpc.NewReader(body)
			r.EntityID()
			if r.String() != "Move" {
				continue
			}
			args, err := rpc.DecodeAnyArgs(r.Rest())
			if err != nil || len(args) != 2 {
				got = append(got, -1)
				continue
			}
			got = append(got, args[0].(int64))
		}
	}()
	return out
}

func checkCalls(t *testing.T, got []int64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("the server received %d calls, want %d", len(got), n)
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("call %d carried %d", i, v)
		}
	}
}

func TestCloseFlushesQueuedCalls(t *testing.T) {
	c, p := dialFake(t, quiet)
	id := rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, id, true, "Avatar", nil))
	expectEvent[client.EntityCreated](t, c)
	received := readCalls(p)

	const n = 500
	pad := strings.Repeat("p", 1000)
	for i := 0; i < n; i++ {
		if err := c.CallPlayer("Move", i, pad); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, <-received, n)
	// Close has waited for the client's goroutines: the channel holds
	// exactly the Disconnected event, then is closed.
	var got []client.Event
	for ev := range c.Events() {
		got = append(got, ev)
	}
	if len(got) != 1 {
		t.Fatalf("events after Close: %#v", got)
	}
	if d, ok := got[0].(client.Disconnected); !ok || d.Reason != "closed by the client" {
		t.Fatalf("event after Close: %#v", got[0])
	}
}

func TestCloseWithoutReadingEvents(t *testing.T) {
	c, p := dialFake(t, client.Options{HeartbeatInterval: -1, EventBuffer: 1})
	id := rpc.NewEntityID()

	// The server floods the client, which the application never reads.
	var flood sync.WaitGroup
	flood.Add(1)
	frame := rpc.AppendFrame(nil, rpc.MsgCallClient, callBody(t, id, "OnFlood", "x"))
	go func() {
		defer flood.Done()
		for i := 0; i < 10000; i++ {
			if _, err := p.nc.Write(frame); err != nil {
				return // the client hung up
			}
		}
	}()
	received := readCalls(p)
	// The flood is under way; from now on the client's reader fills the
	// one-event buffer and waits for the application.
	if ev := expectEvent[client.Call](t, c); ev.Method != "OnFlood" {
		t.Fatalf("got %#v", ev)
	}

	const n = 50
	for i := 0; i < n; i++ {
		if err := c.Call(id, "Move", i, ""); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(eventTimeout):
		t.Fatal("Close blocked on an application that does not read events")
	}
	checkCalls(t, <-received, n)
	p.nc.Close()
	flood.Wait()

	// What was buffered can still be read, then the channel is closed.
	for range c.Events() {
	}
}

func TestDisconnectedAfterClose(t *testing.T) {
	for i := 0; i < 50; i++ {
		c, _ := dialFake(t, quiet)
		c.Close()
		var evs []client.Event
		for ev := range c.Events() {
			evs = append(evs, ev)
		}
		if len(evs) != 1 || evs[0].(client.Disconnected).Reason != "closed by the client" {
			t.Fatalf("run %d: events after Close: %#v", i, evs)
		}
	}
}

func TestDialFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if c, err := client.Dial(addr, client.Options{DialTimeout: time.Second}); err == nil {
		c.Close()
		t.Fatal("Dial to a closed port: no error")
	}
}

func TestStatsCountFrames(t *testing.T) {
	c, p := dialFake(t, quiet)
	hello := int64(rpc.HeaderSize + 2) // its first frame, the ClientHello
	if s := c.Stats(); s != (client.Stats{FramesOut: 1, BytesOut: hello}) {
		t.Fatalf("Stats of a new client = %+v", s)
	}
	player := rpc.NewEntityID()
	create := createBody(t, player, true, "Avatar", map[string]any{"name": "alice"})
	p.send(rpc.MsgCreateEntity, create)
	expectEvent[client.EntityCreated](t, c)
	if err := c.CallPlayer("Hello", "x"); err != nil {
		t.Fatal(err)
	}
	_, body := p.readFrame()
	s := c.Stats()
	want := client.Stats{
		FramesIn: 1, BytesIn: int64(rpc.HeaderSize + len(create)),
		FramesOut: 2, BytesOut: hello + int64(rpc.HeaderSize+len(body)),
	}
	if s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}

// TestPlayerStaysAPlayer: fuzz crasher 9f1151f407760c3c, a create with
// isPlayer = 0 for the player's own ID, left Player() returning an
// entity with IsPlayer false. isPlayer = 0 leaves the player unchanged;
// a handover to another entity unmarks the old one.
func TestPlayerStaysAPlayer(t *testing.T) {
	c, p := dialFake(t, quiet)
	boot, avatar := rpc.NewEntityID(), rpc.NewEntityID()
	p.send(rpc.MsgCreateEntity, createBody(t, boot, true, "Account", nil))
	expectEvent[client.EntityCreated](t, c)
	p.send(rpc.MsgCreateEntity, createBody(t, boot, false, "Account", map[string]any{"v": 2}))
	if ev := expectEvent[client.EntityCreated](t, c); !ev.IsPlayer {
		t.Fatalf("re-created player reported as %#v", ev.Entity)
	}
	if e, ok := c.Player(); !ok || e.ID != boot || !e.IsPlayer || e.Attrs["v"] != int64(2) {
		t.Fatalf("Player() = %#v, %v", e, ok)
	}
	p.send(rpc.MsgCreateEntity, createBody(t, avatar, true, "Avatar", nil))
	expectEvent[client.EntityCreated](t, c)
	if e, ok := c.Player(); !ok || e.ID != avatar || !e.IsPlayer {
		t.Fatalf("Player() after the handover = %#v, %v", e, ok)
	}
	if e, ok := c.Entity(boot); !ok || e.IsPlayer {
		t.Fatalf("the old player after the handover: %#v, %v", e, ok)
	}
}

// TestKCPNoAnswer: a KCP client whose hellos nobody answers (here a UDP
// socket that swallows what it gets, as a gate that is down, too busy or
// older than the handshake would) gives up after DialTimeout: Dial fails
// with ErrNoAnswer and says what silence can mean.
func TestKCPNoAnswer(t *testing.T) {
	hole, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	hellos := make(chan []byte, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := hole.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case hellos <- append([]byte(nil), buf[:n]...):
			default:
			}
		}
	}()
	const timeout = 600 * time.Millisecond
	began := time.Now()
	c, err := client.Dial(hole.LocalAddr().String(), client.Options{KCP: true, DialTimeout: timeout})
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded with nobody there")
	}
	if !errors.Is(err, client.ErrNoAnswer) || !strings.Contains(err.Error(), "older than this client") {
		t.Fatalf("Dial: %v, want ErrNoAnswer saying what it may mean", err)
	}
	if waited := time.Since(began); waited < timeout {
		t.Fatalf("gave up after %v, before DialTimeout (%v)", waited, timeout)
	}
	// It asked more than once, with hellos.
	if n := len(hellos); n < 2 {
		t.Fatalf("%d datagrams sent in %v, want the hello and at least one resend", n, timeout)
	}
	for range len(hellos) {
		if _, _, ok := rpc.ParseKCPHello(<-hellos); !ok {
			t.Fatal("the client sent something else than a hello")
		}
	}
}

// fakeKCPGate answers each KCP hello with the datagrams answer returns
// for its nonce, and swallows everything else.
func fakeKCPGate(t *testing.T, answer func(nonce uint64) [][]byte) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, nonce, ok := rpc.ParseKCPHello(buf[:n]); ok {
				for _, a := range answer(nonce) {
					pc.WriteTo(a, from)
				}
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc
}

// TestKCPAnsweredHandshakeThenSilence: a gate that answers the handshake
// but nothing after it (one that dropped the session, say) leaves the
// client connected until DialTimeout, then Disconnected with ErrNoAnswer.
func TestKCPAnsweredHandshakeThenSilence(t *testing.T) {
	g := fakeKCPGate(t, func(nonce uint64) [][]byte { return [][]byte{rpc.AppendKCPCookie(nil, rpc.KCPCookieOK, nonce, 0x1234)} })
	const timeout = 300 * time.Millisecond
	began := time.Now()
	c, err := client.Dial(g.LocalAddr().String(), client.Options{KCP: true, DialTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := expectDisconnected(t, c)
	if !errors.Is(d.Err, client.ErrNoAnswer) || d.Reason != "the gate did not answer" {
		t.Fatalf("got %#v, want ErrNoAnswer", d)
	}
	if waited := time.Since(began); waited < timeout {
		t.Fatalf("gave up after %v, before DialTimeout (%v)", waited, timeout)
	}
}

// TestKCPHandshakeVersionMismatch: a gate that speaks another handshake
// version says so, and Dial fails at once with ErrKCPVersion; an answer
// to another hello (a wrong nonce) is ignored.
func TestKCPHandshakeVersionMismatch(t *testing.T) {
	g := fakeKCPGate(t, func(nonce uint64) [][]byte {
		bad := rpc.AppendKCPCookie(nil, rpc.KCPCookieBadVersion, nonce, 0)
		bad[8] = 7 // the version the gate speaks
		return [][]byte{rpc.AppendKCPCookie(nil, rpc.KCPCookieOK, nonce+1, 99), bad}
	})
	began := time.Now()
	c, err := client.Dial(g.LocalAddr().String(), client.Options{KCP: true, DialTimeout: 10 * time.Second})
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded with a gate of another version")
	}
	if !errors.Is(err, client.ErrKCPVersion) || !strings.Contains(err.Error(), "version 7") {
		t.Fatalf("Dial: %v, want ErrKCPVersion naming the gate's version", err)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Fatalf("Dial took %v: it waited for the timeout", waited)
	}
}
