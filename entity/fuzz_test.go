package entity

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
	"github.com/vmihailenco/msgpack/v5"
)

// Fixed IDs, so that fuzzed frames can name the entities of the fuzz world.
const (
	fuzzZone    rpc.EntityID = "ZoneZoneZoneZone"
	fuzzAccount rpc.EntityID = "AccountAccount00"
	fuzzMover   rpc.EntityID = "MoverMoverMover0"
	fuzzAvatar  rpc.EntityID = "AvatarAvatarAvat"
	fuzzCaller  rpc.EntityID = "CallerCallerCall"
)

// fuzzCallerType asks for loads: its callback records the answer.
type fuzzCallerType struct{ Entity }

func (c *fuzzCallerType) OnLoaded(id rpc.EntityID, err error) {
	record(&c.Entity, "OnLoaded(%s,%v)", id, err)
}

// loadResultBody encodes a MsgLoadEntityResult.
func loadResultBody(caller, id rpc.EntityID, typeName, callback string, code LoadCode, reason string) []byte {
	b := rpc.AppendEntityID(rpc.AppendEntityID(nil, caller), id)
	b = rpc.AppendString(rpc.AppendString(b, typeName), callback)
	return rpc.AppendString(rpc.AppendUint8(b, uint8(code)), reason)
}

func clientBody(id rpc.EntityID, gate rpc.GateID, cid rpc.ClientID) []byte {
	return rpc.AppendUint64(rpc.AppendUint16(rpc.AppendEntityID(nil, id), uint16(gate)), uint64(cid))
}

// clientPosBody is MsgClientSyncPosition's body: client ref's position p
// and yaw for its entity id in space.
func clientPosBody(id rpc.EntityID, ref ClientRef, space rpc.EntityID, p Vector3, yaw float32) []byte {
	return rpc.AppendPosition(rpc.AppendEntityID(clientBody(id, ref.Gate, ref.ID), space), p, yaw)
}

func createOnGameBody(tb testing.TB, id rpc.EntityID, typeName string, attrs map[string]any) []byte {
	b := rpc.AppendString(rpc.AppendUint16(rpc.AppendEntityID(nil, id), uint16(testGameID)), typeName)
	b, err := rpc.AppendValue(b, attrs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// newFuzzWorld is a world as a dispatcher would have built it: a space
// (fuzzZone), a boot entity with a client (fuzzAccount, gate 1 client 10),
// a mover in the space with a client (fuzzMover, gate 1 client 11), a
// saved avatar (fuzzAvatar) that a load finds, and an entity that waits
// for loads (fuzzCaller, callback OnLoaded).
func newFuzzWorld(t *testing.T) *env {
	e := newSpaceEnv(t)
	mustRegister(t, e.reg, "Caller", &fuzzCallerType{})
	if err := e.reg.RegisterService("Counter", &Counter{}, 3); err != nil {
		t.Fatal(err)
	}
	e.logs.Reset()
	avatar, err := msgpack.Marshal(map[string]any{"name": "saved", "inv": []any{"sword", map[string]any{"n": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	e.store.entities[storeKey("Avatar", string(fuzzAvatar))] = avatar
	e.eng.Handle(rpc.MsgCreateEntityOnGame, createOnGameBody(t, fuzzZone, "Zone", nil))
	e.eng.Handle(rpc.MsgClientConnected, clientBody(fuzzAccount, 1, 10))
	e.eng.Handle(rpc.MsgCreateEntityOnGame, createOnGameBody(t, fuzzMover, "Mover", map[string]any{"name": "m"}))
	e.eng.Handle(rpc.MsgCreateEntityOnGame, createOnGameBody(t, fuzzCaller, "Caller", nil))
	m := e.w.Entity(fuzzMover)
	if m == nil || e.w.Entity(fuzzCaller) == nil || e.w.Entity(fuzzZone) == nil || e.w.Entity(fuzzAccount) == nil {
		t.Fatal("fuzz world not built")
	}
	e.bind(m, 1, 11)
	e.enter(m, e.w.Entity(fuzzZone), 1, 2)
	e.store.flush(e.eng)
	e.out.take()
	return e
}

// checkNoPanics fails if the world logged a recovered panic other than
// Plain.Boom's (which a fuzzed call may reach on purpose).
func checkNoPanics(t *testing.T, e *env) {
	t.Helper()
	for _, en := range e.logs.AllEntries() {
		msg := en.Message
		if err, ok := en.Data[logrus.ErrorKey].(error); ok {
			msg += ": " + err.Error()
		}
		if strings.Contains(msg, "panic") && !strings.Contains(msg, "boom in timer") {
			t.Fatalf("logged: %s", msg)
		}
	}
}

// FuzzWorldFrames feeds a world arbitrary frames from its dispatcher:
// client calls with their msgpack arguments, client positions, creates
// with attributes, loads, migrations in, peers gone. Whatever they hold,
// the world must not panic (nor log a recovered panic of its own), every
// frame it sends must be well formed (recOutbox and expandToClients
// check), and timers, position syncs and saves must still run.
func FuzzWorldFrames(f *testing.F) {
	frame := rpc.AppendFrame
	call := func(id rpc.EntityID, gate rpc.GateID, cid rpc.ClientID, method string, args ...any) []byte {
		b := rpc.AppendString(clientBody(id, gate, cid), method)
		b, err := rpc.AppendArgs(b, args)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	pos := func(id rpc.EntityID, cid rpc.ClientID, space rpc.EntityID, p Vector3, yaw float32) []byte {
		return clientPosBody(id, ClientRef{1, cid}, space, p, yaw)
	}
	load := rpc.AppendString(rpc.AppendEntityID(nil, fuzzAvatar), "Avatar")
	loadFor := func(id rpc.EntityID) []byte {
		return rpc.AppendString(rpc.AppendEntityID(rpc.AppendString(rpc.AppendEntityID(nil, id), "Avatar"), fuzzCaller), "OnLoaded")
	}
	seeds := [][]byte{
		frame(nil, rpc.MsgLoadEntitySomewhere, loadFor(fuzzAvatar)),
		frame(frame(nil, rpc.MsgLoadEntitySomewhere, loadFor("MissingMissingMi")), rpc.MsgLoadEntitySomewhere, loadFor(fuzzAvatar)),
		frame(nil, rpc.MsgLoadEntityResult, loadResultBody(fuzzCaller, fuzzAvatar, "Avatar", "OnLoaded", LoadNotFound, "gone")),
		frame(nil, rpc.MsgLoadEntityResult, loadResultBody(fuzzCaller, fuzzAvatar, "Avatar", "OnLoaded", 0, "")),
		frame(nil, rpc.MsgLoadEntityResult, loadResultBody(fuzzAccount, fuzzAvatar, "Avatar", "Login", 9, "x")),
		frame(nil, rpc.MsgClientConnected, rpc.AppendString(clientBody("BootBootBootBoot", 1, 12), "127.0.0.1:5")),
		nil,
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 10, "Echo", "hi")),
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 10, "Typed", int8(1), uint16(2), float32(3), []string{"s"}, map[string]int{"k": 4}, 5)),
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 10, "Typed", 300, -1, "x", nil, nil, nil)),
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 99, "Echo", "not my entity")),
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 10, "Secret", 1)),
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 10, "Login", string(fuzzAvatar))),
		frame(nil, rpc.MsgClientSyncPosition, pos(fuzzMover, 11, fuzzZone, Vector3{X: 5, Z: 5}, 1)),
		frame(nil, rpc.MsgClientSyncPosition, pos(fuzzMover, 10, fuzzZone, Vector3{X: 5}, 0)),
		frame(nil, rpc.MsgClientSyncPosition, pos(fuzzMover, 11, fuzzAccount, Vector3{X: 1e30}, 0)),
		frame(nil, rpc.MsgLoadEntitySomewhere, load),
		frame(frame(nil, rpc.MsgLoadEntitySomewhere, load), rpc.MsgClientCall, call(fuzzAvatar, 1, 10, "Move", 1, 2)),
		frame(nil, rpc.MsgCreateEntityOnGame, createOnGameBody(f, "NewNewNewNewNew0", "Mover", map[string]any{"name": "n", "x": []any{1}})),
		frame(nil, rpc.MsgCreateEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, "NewNewNewNewNew1"), "Avatar")),
		frame(nil, rpc.MsgCallEntityMethod, callBody(f, fuzzMover, "EnterSpace", string(fuzzZone))),
		frame(nil, rpc.MsgClientDisconnected, clientBody(fuzzMover, 1, 11)),
		frame(nil, rpc.MsgPeerGone, peerGoneBody(rpc.RoleGate, 1)),
		frame(nil, rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, fuzzMover)),
		frame(frame(nil, rpc.MsgLoadEntitySomewhere, load), rpc.MsgRetireEntity, rpc.AppendUint64(rpc.AppendEntityID(nil, fuzzAvatar), 9)),
		frame(nil, rpc.MsgRetireEntity, rpc.AppendEntityID(nil, fuzzAvatar)),
	}
	// A real migration into the space: a mover leaves another world for
	// fuzzZone.
	{
		reg := NewRegistry()
		mustRegister(f, reg, "Zone", &Zone{})
		mustRegister(f, reg, "Mover", &Mover{})
		out := &recOutbox{n: 1}
		logger := logrus.New()
		logger.SetOutput(io.Discard)
		src, err := NewEngine(WorldConfig{GameID: testGameID + 1, Registry: reg, Outbox: out, Now: newFakeClock().Now, Logger: logger})
		if err != nil {
			f.Fatal(err)
		}
		out.flush = src.FlushClients
		var m *Entity
		src.Run(func() {
			if m, err = src.World().CreateEntityLocally("Mover", map[string]any{"name": "traveller"}); err == nil {
				m.setClient(&ClientRef{Gate: 1, ID: 12})
				err = m.EnterSpace(fuzzZone, Vector3{X: 3, Z: 4})
			}
		})
		if err != nil {
			f.Fatal(err)
		}
		src.Handle(rpc.MsgCallEntityMethod, callBody(f, m.ID(), "SetPosition"))
		src.Handle(rpc.MsgMigrateBlockAck, rpc.AppendEntityID(nil, m.ID()))
		var mig []byte
		for _, fr := range out.take() {
			if fr.typ == rpc.MsgMigrateEntity {
				mig = fr.body
			}
		}
		if mig == nil {
			f.Fatal("no migration to seed with")
		}
		seeds = append(seeds, frame(nil, rpc.MsgMigrateEntity, mig),
			frame(frame(nil, rpc.MsgMigrateEntity, mig), rpc.MsgClientSyncPosition, pos(m.ID(), 12, fuzzZone, Vector3{X: 9}, 0)))
	}
	// Requests: from an entity, an answer to one, from a client (answered
	// or refused), to nobody.
	{
		req := rpc.AppendString(rpc.AppendUint64(rpc.AppendEntityID(rpc.AppendEntityID(nil, fuzzAccount), fuzzCaller), 1), "Echo")
		req, _ = rpc.AppendArgs(req, []any{"hi"})
		creq := rpc.AppendString(rpc.AppendUint32LE(clientBody(fuzzAccount, 1, 10), 5), "Echo")
		creq, _ = rpc.AppendArgs(creq, []any{"hi"})
		other := rpc.AppendString(rpc.AppendUint32LE(clientBody(fuzzAccount, 1, 99), 6), "Secret")
		other, _ = rpc.AppendArgs(other, []any{1})
		reply := rpc.AppendReplyOK(rpc.AppendUint64(rpc.AppendEntityID(nil, fuzzCaller), 1), []byte{0x01})
		seeds = append(seeds,
			frame(nil, rpc.MsgRequestEntityMethod, req),
			frame(nil, rpc.MsgClientRequest, creq),
			frame(nil, rpc.MsgClientRequest, other),
			frame(nil, rpc.MsgRequestReply, reply),
			frame(nil, rpc.MsgRequestReply, rpc.AppendReplyError(rpc.AppendUint64(rpc.AppendEntityID(nil, fuzzCaller), 1), rpc.CodeUser, "x")),
			frame(nil, rpc.MsgRequestEntityMethod, req[:30]),
		)
	}
	// Offline calls: to the stored avatar (stored in its mailbox, run at
	// its load), to a live entity, with an internal method, cut short.
	{
		offline := func(id rpc.EntityID, typ, method string, args ...any) []byte {
			b, err := rpc.AppendArgs(rpc.AppendString(rpc.AppendString(rpc.AppendEntityID(nil, id), typ), method), args)
			if err != nil {
				f.Fatal(err)
			}
			return b
		}
		seeds = append(seeds,
			frame(frame(nil, rpc.MsgCallOffline, offline(fuzzAvatar, "Avatar", "Move", 1, 2)), rpc.MsgLoadEntitySomewhere, load),
			frame(frame(frame(nil, rpc.MsgLoadEntitySomewhere, load), rpc.MsgCallOffline, offline(fuzzAvatar, "Avatar", "Note", "x")),
				rpc.MsgCallEntityMethod, rpc.AppendString(rpc.AppendEntityID(nil, fuzzAvatar), "@mail")),
			frame(nil, rpc.MsgCallOffline, offline(fuzzMover, "Mover", "SetPosition")),
			frame(nil, rpc.MsgCallOffline, offline(fuzzAvatar, "Avatar", "@takeClient", 1, 2, "x")),
			frame(nil, rpc.MsgCallOffline, offline(fuzzAvatar, "Nobody", "Move", 1, 2)),
			frame(nil, rpc.MsgCallOffline, offline(fuzzAvatar, "Avatar", "Move", 1, 2)[:20]),
			frame(nil, rpc.MsgRequestOffline, append(rpc.AppendUint64(rpc.AppendEntityID(rpc.AppendEntityID(nil, fuzzAvatar), fuzzCaller), 1),
				offline(fuzzAvatar, "Avatar", "Move", 1, 2)[rpc.EntityIDLength:]...)),
			frame(nil, rpc.MsgRequestOffline, append(rpc.AppendUint64(rpc.AppendEntityID(rpc.AppendEntityID(nil, fuzzMover), fuzzCaller), 1),
				offline(fuzzMover, "Mover", "SetPosition")[rpc.EntityIDLength:]...)),
		)
	}
	// Service shards: made live, asked again, of no service, cut short;
	// a game gone (every shard asked for again).
	{
		c0 := rpc.ServiceEntityID("Counter", 0)
		seeds = append(seeds,
			frame(frame(nil, rpc.MsgEnsureService, ensureBody(c0, 7, "Counter")), rpc.MsgCallEntityMethod, callBody(f, c0, "Add", 2)),
			frame(frame(nil, rpc.MsgEnsureService, ensureBody(c0, 7, "Counter")), rpc.MsgEnsureService, ensureBody(c0, 7, "Counter")),
			frame(nil, rpc.MsgEnsureService, ensureBody(fuzzAvatar, 7, "Counter")),
			frame(nil, rpc.MsgEnsureService, ensureBody(c0, 7, "Avatar")),
			frame(nil, rpc.MsgEnsureService, ensureBody(c0, 7, "Counter")[:18]),
			frame(frame(nil, rpc.MsgEnsureService, ensureBody(c0, 7, "Counter")), rpc.MsgPeerGone, peerGoneBody(rpc.RoleGame, 3)),
		)
	}
	// Client text at and past every bound (issue 13: a 65,500-byte
	// method name crashed the game building its kick reason).
	seeds = append(seeds,
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 10, "M"+strings.Repeat("a", 65499))),
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 10, strings.Repeat("\n", 1000))),
		frame(nil, rpc.MsgClientCall, call(fuzzAccount, 1, 10, "Login", strings.Repeat("x", 60000))),
		frame(nil, rpc.MsgCallEntityMethod, callBody(f, fuzzAccount, strings.Repeat("b", 65000))),
	)
	for _, s := range seeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		e := newFuzzWorld(t)
		defer func() {
			// Whatever a client sent, kick reasons and log lines stay short.
			for _, en := range e.logs.AllEntries() {
				if len(en.Message) > 2048 {
					t.Fatalf("a log line of %d bytes: %.200q", len(en.Message), en.Message)
				}
			}
		}()

		r := bytes.NewReader(data)
		hdr := make([]byte, rpc.HeaderSize)
		for range 64 {
			typ, body, err := rpc.ReadFrame(r, hdr, 1<<16)
			if err != nil {
				break
			}
			e.eng.Handle(typ, body)
			e.store.flush(e.eng)
			for _, k := range kicks(t, e.out.take()) {
				if len(k.reason) > 512 {
					t.Fatalf("a kick reason of %d bytes: %.200q", len(k.reason), k.reason)
				}
			}
		}
		e.clock.Advance(time.Second)
		e.eng.RunTimers(e.clock.Now())
		e.eng.SyncPositions()
		e.eng.SaveDirty(nil)
		e.store.flush(e.eng)
		e.out.take()
		checkNoPanics(t, e)
	})
}

// FuzzMailbox loads the stored avatar with arbitrary messages in its
// mailbox (storage holds what some other build, or a damaged store,
// wrote): the load must succeed, and every message either run as a call
// or be logged and dropped, never panic or reach an internal method.
func FuzzMailbox(f *testing.F) {
	mail := func(method string, args ...any) []byte {
		b, err := rpc.AppendArgs(appendMail(nil, method, nil), args)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	join := func(msgs ...[]byte) []byte { // u16 length-prefixed messages
		var b []byte
		for _, m := range msgs {
			b = append(rpc.AppendUint16(b, uint16(len(m))), m...)
		}
		return b
	}
	f.Add(join(mail("Move", 1, 2), mail("Note", "hi")))
	f.Add(join(mail("@takeClient", 1, 2, "x"), mail(""), mail("Move", "a", "b")))
	f.Add(join(mail("Poke", strings.Repeat("p", 5000)), []byte{0xff, 0xff}))
	f.Add([]byte{0, 3, 0xd9})
	load := rpc.AppendString(rpc.AppendEntityID(nil, fuzzAvatar), "Avatar")
	f.Fuzz(func(t *testing.T, data []byte) {
		var msgs [][]byte
		for len(data) >= 2 && len(msgs) < 64 {
			n := min(int(data[0])<<8|int(data[1]), len(data)-2)
			msgs = append(msgs, append([]byte(nil), data[2:2+n]...))
			data = data[2+n:]
		}
		e := newFuzzWorld(t)
		e.store.mail = map[string][][]byte{storeKey("Avatar", string(fuzzAvatar)): msgs}
		e.eng.Handle(rpc.MsgLoadEntitySomewhere, load)
		e.store.flush(e.eng)
		if e.w.Entity(fuzzAvatar) == nil {
			t.Fatal("the avatar did not load")
		}
		if _, _, run := e.w.OfflineStats(); run > uint64(len(msgs)) {
			t.Fatalf("%d offline calls run, %d stored", run, len(msgs))
		}
		if m := e.store.mail[storeKey("Avatar", string(fuzzAvatar))]; len(m) != 0 {
			t.Fatalf("%d messages left in the mailbox after the load", len(m))
		}
		for _, en := range e.logs.AllEntries() {
			if len(en.Message) > 2048 {
				t.Fatalf("a log line of %d bytes: %.200q", len(en.Message), en.Message)
			}
		}
		checkNoPanics(t, e)
	})
}

// FuzzLoadEntity loads an avatar whose stored record is arbitrary bytes
// (storage holds what some earlier version, or a damaged file, wrote).
// The load must fail cleanly (logged, and the dispatcher told to forget
// the entity) or give an entity whose saved record loads back the same.
func FuzzLoadEntity(f *testing.F) {
	for _, attrs := range []any{
		map[string]any{},
		map[string]any{"name": "a", "inv": []any{"sword", map[string]any{"n": 1, "f": 1.5}}, "saved": nil},
		map[string]any{"name": 1, "undeclared": true, "bag": "not persistent"},
		map[string]any{"inv": map[string]any{"deep": []any{[]any{[]any{}}}}, "saved": []byte{1, 2}},
		[]any{"not", "a", "map"},
		map[string]any{"name": uint64(1) << 63},
	} {
		b, err := msgpack.Marshal(attrs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xa4, 'n', 'a', 'm', 'e', 0xdd, 0xff, 0x0f, 0x00, 0x30})

	load := rpc.AppendString(rpc.AppendEntityID(nil, fuzzAvatar), "Avatar")
	loadFrom := func(t *testing.T, data []byte) (*env, *Entity) {
		e := newEnv(t)
		e.store.entities[storeKey("Avatar", string(fuzzAvatar))] = data
		e.eng.Handle(rpc.MsgLoadEntitySomewhere, load)
		e.store.flush(e.eng)
		checkNoPanics(t, e)
		return e, e.w.Entity(fuzzAvatar)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, a := loadFrom(t, data)
		if a == nil {
			if len(e.out.ofType(rpc.MsgUnregisterEntity)) != 1 || !e.logged(logrus.ErrorLevel, "loading") {
				t.Fatalf("failed load not logged and unregistered: %v", e.out.take())
			}
			return
		}
		if a.epoch == 0 {
			t.Fatal("the loaded entity has no epoch (its load claimed none)")
		}
		rec, ok := e.w.record(a)
		if !ok {
			t.Fatal("the loaded entity does not encode for saving")
		}
		if rec.Epoch != a.epoch {
			t.Fatalf("its record carries epoch %d, the copy holds %d", rec.Epoch, a.epoch)
		}
		e2, a2 := loadFrom(t, rec.Data)
		if a2 == nil {
			t.Fatalf("the record of a loaded entity does not load: %v", e2.logs.AllEntries())
		}
		if got, want := a2.persistentData(), a.persistentData(); !reflect.DeepEqual(got, want) && !hasNaNValue(want) {
			t.Fatalf("reloaded as %#v, want %#v", got, want)
		}
	})
}

// hasNaNValue reports whether v holds a NaN, which DeepEqual never
// matches.
func hasNaNValue(v any) bool {
	switch x := v.(type) {
	case float64:
		return x != x
	case map[string]any:
		for _, y := range x {
			if hasNaNValue(y) {
				return true
			}
		}
	case []any:
		for _, y := range x {
			if hasNaNValue(y) {
				return true
			}
		}
	}
	return false
}

// TestEmptyBytesAttrSurvivesASave: FuzzLoadEntity crasher
// 4f8d1fdabc34a5c0, an avatar saved with an empty binary attribute came
// back with nil in its place (attributes copied []byte{} to nil, which
// msgpack writes as nil).
func TestEmptyBytesAttrSurvivesASave(t *testing.T) {
	e := newEnv(t)
	a := e.create("Avatar", map[string]any{"saved": []byte{}})
	rec, ok := e.w.record(a)
	if !ok {
		t.Fatal("record failed")
	}
	e2 := newEnv(t)
	e2.store.entities[storeKey("Avatar", string(fuzzAvatar))] = rec.Data
	e2.eng.Handle(rpc.MsgLoadEntitySomewhere, rpc.AppendString(rpc.AppendEntityID(nil, fuzzAvatar), "Avatar"))
	e2.store.flush(e2.eng)
	got := e2.w.Entity(fuzzAvatar)
	if got == nil {
		t.Fatal("not loaded")
	}
	if b, ok := got.Attrs.m["saved"].([]byte); !ok || b == nil || len(b) != 0 {
		t.Fatalf("saved = %#v, want an empty []byte", got.Attrs.m["saved"])
	}
}
