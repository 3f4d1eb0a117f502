package entity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/vmihailenco/msgpack/v5"
)

// ---------------------------------------------------------------------------
// Types for the freeze tests. "v1" is the build that freezes; the "v2"
// types are what a newer build registers under the same names.

// fzHero has every kind of attribute, the freeze hooks and timer targets.
type fzHero struct {
	Entity
	memo string // a plain field: lost in a reload unless OnFreeze saves it
}

func (h *fzHero) DescribeEntityType(d *TypeDesc) {
	d.SetPersistent(true)
	d.DefineAttr("name", AttrAllClients|AttrPersistent)
	d.DefineAttr("stats", AttrOwnClient|AttrPersistent)
	d.DefineAttr("bag", AttrOwnClient)
	d.DefineAttr("blob", 0)
	d.DefineAttr("f", AttrPersistent)
	d.DefineAttr("memo", 0)
	d.DefineAttr("notes", 0)
	d.DefineAttr("old", 0) // removed in v2
	d.ExposeToClient("Hit")
}

func (h *fzHero) OnCreated() { record(&h.Entity, "OnCreated") }

// OnFreeze saves the plain field into an attribute, as the docs advise.
func (h *fzHero) OnFreeze() {
	record(&h.Entity, "OnFreeze")
	h.Attrs.Set("memo", h.memo)
}

// OnRestore records how many entities exist when it runs.
func (h *fzHero) OnRestore() {
	record(&h.Entity, "OnRestore(memo=%s,n=%d)", h.Attrs.GetString("memo"), h.World().NumEntities())
}
func (h *fzHero) OnClientConnected()    { record(&h.Entity, "OnClientConnected") }
func (h *fzHero) OnClientDisconnected() { record(&h.Entity, "OnClientDisconnected") }
func (h *fzHero) Tick(n int)            { record(&h.Entity, "Tick(%d)", n) }
func (h *fzHero) Tock(n int)            { record(&h.Entity, "Tock(%d)", n) }
func (h *fzHero) Tack(n int)            { record(&h.Entity, "Tack(%d)", n) } // removed in v2
func (h *fzHero) Pair(n int)            { record(&h.Entity, "Pair(%d)", n) } // gains a parameter in v2
func (h *fzHero) Hit(n int)             { record(&h.Entity, "Hit(%d)", n) }

// Note appends to the notes list (a target for calls made by OnFreeze).
func (h *fzHero) Note(s string) {
	record(&h.Entity, "Note(%s)", s)
	if h.Attrs.GetList("notes") == nil {
		h.Attrs.Set("notes", []any{})
	}
	h.Attrs.GetList("notes").Append(s)
}

// fzHeroV2 is fzHero in the next build: "old" is gone, "level" and
// "extra" are new with defaults, Tack is gone and Tock and Pair changed
// their parameters.
type fzHeroV2 struct{ Entity }

func (h *fzHeroV2) DescribeEntityType(d *TypeDesc) {
	d.SetPersistent(true)
	d.DefineAttr("name", AttrAllClients|AttrPersistent).Default("nameless") // in the file: the file wins
	d.DefineAttr("stats", AttrOwnClient|AttrPersistent)
	d.DefineAttr("bag", AttrOwnClient)
	d.DefineAttr("blob", 0)
	d.DefineAttr("f", AttrPersistent)
	d.DefineAttr("memo", 0)
	d.DefineAttr("notes", 0)
	d.DefineAttr("level", AttrOwnClient|AttrPersistent).Default(1)
	d.DefineAttr("extra", 0).Default(map[string]any{"k": []any{"v", 2.5}})
	d.ExposeToClient("Hit")
}

func (h *fzHeroV2) OnCreated() { record(&h.Entity, "OnCreated") }
func (h *fzHeroV2) OnRestore() {
	record(&h.Entity, "OnRestore(level=%d)", h.Attrs.GetInt("level"))
}
func (h *fzHeroV2) Tick(n int)            { record(&h.Entity, "Tick(%d)", n) }
func (h *fzHeroV2) Tock(s string)         { record(&h.Entity, "Tock(%s)", s) }
func (h *fzHeroV2) Pair(n int, s string)  { record(&h.Entity, "Pair(%d,%s)", n, s) }
func (h *fzHeroV2) Hit(n int)             { record(&h.Entity, "Hit(%d)", n) }
func (h *fzHeroV2) Tack(n ...int)         { record(&h.Entity, "Tack(%v)", n) } // variadic: not a timer target
func (h *fzHeroV2) Note(s string)         { record(&h.Entity, "Note(%s)", s) }
func (h *fzHeroV2) OnClientConnected()    { record(&h.Entity, "OnClientConnected") }
func (h *fzHeroV2) OnClientDisconnected() { record(&h.Entity, "OnClientDisconnected") }

// fzGone exists in v1 only.
type fzGone struct{ Entity }

func (g *fzGone) DescribeEntityType(d *TypeDesc) { d.DefineAttr("x", 0) }
func (g *fzGone) OnRestore()                     { record(&g.Entity, "OnRestore") }

// fzBomb's OnFreeze panics while its "boom" attribute is true.
type fzBomb struct{ Entity }

func (b *fzBomb) DescribeEntityType(d *TypeDesc) { d.DefineAttr("boom", 0) }
func (b *fzBomb) OnFreeze() {
	record(&b.Entity, "OnFreeze")
	if b.Attrs.GetBool("boom") {
		panic("kaboom in OnFreeze")
	}
}
func (b *fzBomb) Tick(n int) { record(&b.Entity, "Tick(%d)", n) }

// fzCaller's OnFreeze calls another entity: the call must run before the
// capture, so its effect is in the file.
type fzCaller struct{ Entity }

func (c *fzCaller) DescribeEntityType(d *TypeDesc) { d.DefineAttr("peer", 0) }
func (c *fzCaller) OnFreeze() {
	c.Call(rpc.EntityID(c.Attrs.GetString("peer")), "Note", "from "+string(c.ID()))
}

// fzDefaults has defaults of every kind.
type fzDefaults struct{ Entity }

var fzDefaultMap = map[string]any{"bag": []any{int64(1), map[string]any{"deep": []any{"x"}}}, "b": []byte{1, 2}}

func (d *fzDefaults) DescribeEntityType(desc *TypeDesc) {
	desc.SetPersistent(true)
	desc.DefineAttr("inv", AttrOwnClient|AttrPersistent).Default(fzDefaultMap)
	desc.DefineAttr("list", AttrAllClients).Default([]string{"a", "b"})
	desc.DefineAttr("bin", 0).Default([]byte("raw"))
	desc.DefineAttr("n", AttrPersistent).Default(uint8(7))
	desc.DefineAttr("f", 0).Default(float32(0.5))
	desc.DefineAttr("s", AttrOwnClient).Default("str")
	desc.DefineAttr("none", 0) // no default
}

func (d *fzDefaults) OnCreated() { record(&d.Entity, "OnCreated(n=%d)", d.Attrs.GetInt("n")) }

// ---------------------------------------------------------------------------
// Helpers

// v1Registry registers the types of the build that freezes.
func v1Registry(t testing.TB) *Registry {
	r := NewRegistry()
	mustRegister(t, r, "Hero", &fzHero{})
	mustRegister(t, r, "Gone", &fzGone{})
	mustRegister(t, r, "Bomb", &fzBomb{})
	mustRegister(t, r, "Caller", &fzCaller{})
	mustRegister(t, r, "Plain", &Plain{})
	return r
}

// v2Registry registers the next build's types: Gone and Caller are gone.
func v2Registry(t testing.TB) *Registry {
	r := NewRegistry()
	mustRegister(t, r, "Hero", &fzHeroV2{})
	mustRegister(t, r, "Bomb", &fzBomb{})
	mustRegister(t, r, "Plain", &Plain{})
	return r
}

// newEnvWith returns a world over reg with its own outbox (two
// dispatchers), memStore and logs, on clock.
func newEnvWith(t *testing.T, reg *Registry, clock *fakeClock, opts ...envOpt) *env {
	t.Helper()
	e := &env{t: t, reg: reg, out: &recOutbox{n: 2}, store: newMemStore(), clock: clock}
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	e.logs = hook
	cfg := WorldConfig{GameID: testGameID, Registry: reg, Outbox: e.out, Store: e.store, Now: clock.Now, Logger: logger}
	for _, o := range opts {
		o(e, &cfg)
	}
	eng, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := eng.World()
	e.w, e.eng = w, eng
	e.out.flush = eng.FlushClients
	t.Cleanup(func() {
		eventsMu.Lock()
		delete(events, w)
		eventsMu.Unlock()
	})
	return e
}

// freeze freezes e's world, encodes and decodes the file, and returns
// the decoded Frozen and the file.
func (e *env) freeze() (*Frozen, []byte) {
	e.t.Helper()
	f, err := e.eng.Freeze()
	if err != nil {
		e.t.Fatalf("Freeze: %v", err)
	}
	data, err := EncodeFrozen(f)
	if err != nil {
		e.t.Fatalf("EncodeFrozen: %v", err)
	}
	g, err := DecodeFrozen(data)
	if err != nil {
		e.t.Fatalf("DecodeFrozen of a file just encoded: %v", err)
	}
	return g, data
}

func (e *env) restore(f *Frozen) RestoreReport {
	e.t.Helper()
	rep, err := e.eng.Restore(f)
	if err != nil {
		e.t.Fatalf("Restore: %v", err)
	}
	return rep
}

// frozenEntity returns the entity id in f.
func frozenEntity(t testing.TB, f *Frozen, id rpc.EntityID) FrozenEntity {
	t.Helper()
	for _, fe := range f.Entities {
		if fe.ID == string(id) {
			return fe
		}
	}
	t.Fatalf("entity %s is not in the freeze file", id)
	return FrozenEntity{}
}

// allKinds is an attribute tree with every kind of value.
func allKinds() map[string]any {
	return map[string]any{
		"name": "arthur",
		"stats": map[string]any{
			"hp": 100, "neg": -7, "big": int64(math.MaxInt64), "small": int64(math.MinInt64),
			"u8": uint8(200), "u64": uint64(1 << 40),
			"one": 1.0, "half": 0.5, "tiny": 1e-300, "negf": -2.0, "f32": float32(1.5),
			"yes": true, "no": false, "nil": nil, "s": "", "uni": "héllo ✓",
			"pos":   map[string]any{"x": 1.5, "y": -2, "deeper": map[string]any{"list": []any{1, []any{2.0, "three"}, map[string]any{}}}},
			"empty": map[string]any{},
		},
		"bag":  []any{"potion", 3, 4.0, []byte{0, 1, 255}, []any{}, nil, map[string]any{"k": []any{true}}},
		"blob": []byte{0xde, 0xad, 0xbe, 0xef, 0},
		"f":    3.0,
		"old":  "obsolete",
	}
}

// wantKinds is allKinds as the attribute tree holds it: integers int64,
// floats float64.
func wantKinds() map[string]any {
	return map[string]any{
		"name": "arthur",
		"stats": map[string]any{
			"hp": int64(100), "neg": int64(-7), "big": int64(math.MaxInt64), "small": int64(math.MinInt64),
			"u8": int64(200), "u64": int64(1 << 40),
			"one": 1.0, "half": 0.5, "tiny": 1e-300, "negf": -2.0, "f32": 1.5,
			"yes": true, "no": false, "nil": nil, "s": "", "uni": "héllo ✓",
			"pos":   map[string]any{"x": 1.5, "y": int64(-2), "deeper": map[string]any{"list": []any{int64(1), []any{2.0, "three"}, map[string]any{}}}},
			"empty": map[string]any{},
		},
		"bag":  []any{"potion", int64(3), 4.0, []byte{0, 1, 255}, []any{}, nil, map[string]any{"k": []any{true}}},
		"blob": []byte{0xde, 0xad, 0xbe, 0xef, 0},
		"f":    3.0,
		"old":  "obsolete",
	}
}

// ---------------------------------------------------------------------------
// Round trip

func TestFreezeRestoreRoundTrip(t *testing.T) {
	clock := newFakeClock()
	e1 := newEnvWith(t, v1Registry(t), clock)
	a := e1.create("Hero", allKinds())
	b := e1.create("Hero", map[string]any{"name": "bob"})
	p := e1.create("Plain", nil)
	e1.store.flush(e1.eng) // the first saves
	e1.bind(a, 3, 77)
	e1.bind(p, 4, 88)
	a.self.Interface().(*fzHero).memo = "remember me"
	b.self.Interface().(*fzHero).memo = "bob's memo"
	a.Attrs.Set("f", 3.0) // a is dirty, b is clean
	if !a.dirty || b.dirty {
		t.Fatalf("dirty flags before the freeze: a %v b %v", a.dirty, b.dirty)
	}

	// Timers: a callback due in 500ms, a repeating one every 100ms, one
	// cancelled (so NextTimer is ahead of the live IDs), then 200ms pass.
	cb, err := a.AddCallback(500*time.Millisecond, "Tick", 1)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.AddTimer(100*time.Millisecond, "Tock", 2)
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := a.AddCallback(time.Hour, "Tick", 9)
	if !a.CancelTimer(gone) {
		t.Fatal("CancelTimer")
	}
	pt, _ := p.AddTimer(time.Second, "Tick", 5)
	e1.events()
	e1.tick(100 * time.Millisecond)
	e1.tick(100 * time.Millisecond)
	deepEqual(t, "timer events before the freeze", e1.eventsOf(a.ID()), []string{"Tock(2)", "Tock(2)"})
	frozenAt := clock.Now()
	e1.out.take()

	f, data := e1.freeze()

	// The file.
	if !bytes.HasPrefix(data, []byte("GWFREEZE")) || binary.LittleEndian.Uint32(data[8:12]) != FreezeVersion ||
		binary.LittleEndian.Uint64(data[12:20]) != uint64(len(data)-20-sha256.Size) {
		t.Fatalf("file header %x", data[:20])
	}
	if sum := sha256.Sum256(data[20 : len(data)-sha256.Size]); !bytes.Equal(sum[:], data[len(data)-sha256.Size:]) {
		t.Fatal("the file's checksum is not the SHA-256 of its payload")
	}
	if f.Version != FreezeVersion || f.GameID != uint16(testGameID) || f.FrozenAt != frozenAt.UnixNano() {
		t.Fatalf("Frozen header: version %d game %d frozen_at %d", f.Version, f.GameID, f.FrozenAt)
	}
	if len(f.Entities) != 3 || !slices.IsSortedFunc(f.Entities, func(x, y FrozenEntity) int { return strings.Compare(x.ID, y.ID) }) {
		t.Fatalf("%d entities, sorted by ID: %v", len(f.Entities), f.Entities)
	}
	// Freezing sends nothing and runs OnFreeze on each entity that has it.
	if fr := e1.out.take(); len(fr) != 0 {
		t.Fatalf("Freeze sent %d frames: %v", len(fr), fr)
	}
	evs := e1.events()
	slices.Sort(evs)
	want := []string{string(a.ID()) + " OnFreeze", string(b.ID()) + " OnFreeze"}
	slices.Sort(want)
	deepEqual(t, "hooks run by Freeze", evs, want)
	fa := frozenEntity(t, f, a.ID())
	if fa.Type != "Hero" || fa.Attrs.Get("memo") != "remember me" || !fa.Dirty || fa.NextTimer != uint64(gone) {
		t.Fatalf("frozen a: type %s memo %v dirty %v next timer %d", fa.Type, fa.Attrs.Get("memo"), fa.Dirty, fa.NextTimer)
	}
	deepEqual(t, "frozen a's client", fa.Client, &FrozenClient{Gate: 3, ID: 77})
	deepEqual(t, "frozen a's timers", fa.Timers, []FrozenTimer{
		{ID: uint64(cb), Method: "Tick", Args: mustArgs(t, 1), Remaining: int64(300 * time.Millisecond)},
		{ID: uint64(rep), Method: "Tock", Args: mustArgs(t, 2), Remaining: int64(100 * time.Millisecond), Interval: int64(100 * time.Millisecond)},
	})
	if fb := frozenEntity(t, f, b.ID()); fb.Dirty || fb.Client != nil || len(fb.Timers) != 0 {
		t.Fatalf("frozen b: dirty %v client %v timers %v", fb.Dirty, fb.Client, fb.Timers)
	}

	// A fresh world with the same registry, started an hour later.
	clock2 := &fakeClock{t: frozenAt.Add(time.Hour)}
	e2 := newEnvWith(t, e1.reg, clock2)
	restoredAt := clock2.Now()
	got := e2.restore(f)
	deepEqual(t, "report", got, RestoreReport{Restored: 3, Hooks: 2}) // two of the three have OnRestore
	if fr := e2.out.take(); len(fr) != 0 {
		t.Fatalf("Restore sent %d frames (to gates, clients or dispatchers): %v", len(fr), fr)
	}
	a2, b2, p2 := e2.w.Entity(a.ID()), e2.w.Entity(b.ID()), e2.w.Entity(p.ID())
	if a2 == nil || b2 == nil || p2 == nil || e2.w.NumEntities() != 3 {
		t.Fatalf("restored entities: %v %v %v (%d)", a2, b2, p2, e2.w.NumEntities())
	}
	if a2.TypeName() != "Hero" || p2.TypeName() != "Plain" || a2.World() != e2.w {
		t.Fatalf("restored types %s %s", a2.TypeName(), p2.TypeName())
	}
	if _, ok := a2.self.Interface().(*fzHero); !ok {
		t.Fatalf("restored a is a %T", a2.self.Interface())
	}

	// Hooks: OnRestore (not OnCreated, not OnClientConnected), after every
	// entity exists.
	evs = e2.events()
	slices.Sort(evs)
	want = []string{string(a.ID()) + " OnRestore(memo=remember me,n=3)", string(b.ID()) + " OnRestore(memo=bob's memo,n=3)"}
	slices.Sort(want)
	deepEqual(t, "hooks run by Restore", evs, want)

	// Attributes, with their kinds.
	wantA := wantKinds()
	wantA["memo"] = "remember me"
	if gotA := a2.Attrs.ToMap(); !reflect.DeepEqual(gotA, wantA) {
		t.Fatalf("restored attributes:\n got  %s\n want %s", typedDump(gotA), typedDump(wantA))
	}
	deepEqual(t, "b's attributes", b2.Attrs.ToMap(), map[string]any{"name": "bob", "memo": "bob's memo"})
	deepEqual(t, "the plain entity's attributes", p2.Attrs.ToMap(), map[string]any{})

	// Client bindings.
	if ref, ok := a2.Client(); !ok || ref != (ClientRef{Gate: 3, ID: 77}) {
		t.Fatalf("a's client %v %v", ref, ok)
	}
	if ref, ok := p2.Client(); !ok || ref != (ClientRef{Gate: 4, ID: 88}) {
		t.Fatalf("plain's client %v %v", ref, ok)
	}
	if b2.HasClient() {
		t.Fatal("b has a client after the restore")
	}

	// Dirty flags: a is saved by the next SaveDirty, b is not.
	if !a2.dirty || b2.dirty || p2.dirty {
		t.Fatalf("dirty after restore: a %v b %v p %v", a2.dirty, b2.dirty, p2.dirty)
	}
	if n := e2.eng.SaveDirty(nil); n != 1 || len(e2.store.saves) != 1 || e2.store.saves[0][0].ID != string(a.ID()) {
		t.Fatalf("SaveDirty saved %d: %v", n, e2.store.saves)
	}
	e2.store.flush(e2.eng)

	// Timer IDs are stable and new IDs continue after NextTimer.
	if a2.TimerCount() != 2 || p2.TimerCount() != 1 {
		t.Fatalf("timer counts %d %d", a2.TimerCount(), p2.TimerCount())
	}
	next, err := a2.AddCallback(time.Hour, "Tick", 10)
	if err != nil || next != gone+1 {
		t.Fatalf("new timer ID %d (%v), want %d", next, err, gone+1)
	}
	if !a2.CancelTimer(next) {
		t.Fatal("CancelTimer(new)")
	}

	// Timers honour the time they had left: the repeating one fires every
	// 100ms from the restore, the callback once at 300ms.
	if at, ok := e2.eng.NextTimer(); !ok || !at.Equal(restoredAt.Add(100*time.Millisecond)) {
		t.Fatalf("NextTimer %v %v, want restore+100ms", at.Sub(restoredAt), ok)
	}
	e2.tick(100*time.Millisecond - time.Nanosecond)
	if ev := e2.eventsOf(a.ID()); len(ev) != 0 {
		t.Fatalf("fired before their time: %v", ev)
	}
	e2.tick(time.Nanosecond)
	deepEqual(t, "at +100ms", e2.eventsOf(a.ID()), []string{"Tock(2)"})
	e2.tick(100 * time.Millisecond)
	deepEqual(t, "at +200ms", e2.eventsOf(a.ID()), []string{"Tock(2)"})
	e2.tick(100*time.Millisecond - time.Nanosecond)
	if ev := e2.eventsOf(a.ID()); len(ev) != 0 {
		t.Fatalf("fired before +300ms: %v", ev)
	}
	e2.tick(time.Nanosecond)
	ev := e2.eventsOf(a.ID())
	slices.Sort(ev)
	deepEqual(t, "at +300ms", ev, []string{"Tick(1)", "Tock(2)"})
	if a2.CancelTimer(cb) {
		t.Fatal("the callback is still there after firing")
	}
	for k := 4; k <= 10; k++ {
		e2.tick(100 * time.Millisecond)
		deepEqual(t, "repeating timer", e2.eventsOf(a.ID()), []string{"Tock(2)"})
	}
	if !a2.CancelTimer(rep) {
		t.Fatal("CancelTimer of the restored repeating timer by its old ID")
	}
	e2.tick(time.Hour)
	if ev := e2.eventsOf(a.ID()); len(ev) != 0 {
		t.Fatalf("fired after cancel / a second time: %v", ev)
	}
	// The plain entity's timer had 800ms left.
	evs = e2.events()
	_ = evs
	if !p2.CancelTimer(pt) {
		t.Fatal("plain's timer ID changed")
	}

	// The binding is live: attribute changes go to the client, calls from
	// it are accepted, calls from another client are refused.
	e2.out.take()
	a2.Attrs.GetMap("stats").Set("hp", 5)
	msgs := clientMsgs(t, e2.out.take())
	if len(msgs) != 1 || msgs[0].ref() != (ClientRef{Gate: 3, ID: 77}) || msgs[0].typ != rpc.MsgAttrChange {
		t.Fatalf("attribute change after restore: %v", msgs)
	}
	if ch := decodeAttrChange(t, msgs[0].body); !reflect.DeepEqual(ch.path, []any{"stats", "hp"}) || ch.value != int64(5) {
		t.Fatalf("change %+v", ch)
	}
	e2.eng.Handle(rpc.MsgClientCall, clientCallBody(t, a.ID(), 3, 77, "Hit", 1))
	deepEqual(t, "client call", e2.eventsOf(a.ID()), []string{"Hit(1)"})
	e2.eng.Handle(rpc.MsgClientCall, clientCallBody(t, a.ID(), 3, 78, "Hit", 2))
	if ev := e2.eventsOf(a.ID()); len(ev) != 0 || len(kicks(t, e2.out.take())) != 1 {
		t.Fatalf("a call from another client ran: %v", ev)
	}
	// The client leaving unbinds it, with the hook.
	e2.eng.Handle(rpc.MsgClientDisconnected, clientDisconnectedBody(a.ID(), 3, 77))
	deepEqual(t, "disconnect", e2.eventsOf(a.ID()), []string{"OnClientDisconnected"})

	// The old world is untouched by its freeze and still serves.
	if e1.w.NumEntities() != 3 || !a.HasClient() || a.TimerCount() != 2 {
		t.Fatalf("the frozen world changed: %d entities", e1.w.NumEntities())
	}
	e1.tick(100 * time.Millisecond)
	deepEqual(t, "old world's timer", e1.eventsOf(a.ID()), []string{"Tock(2)"})
}

func mustArgs(t testing.TB, args ...any) []byte {
	t.Helper()
	b, err := rpc.AppendArgs(nil, args)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A second freeze of a restored world gives the same state back.
func TestFreezeRestoreFreezeIsStable(t *testing.T) {
	clock := newFakeClock()
	e1 := newEnvWith(t, v1Registry(t), clock)
	a := e1.create("Hero", allKinds())
	e1.bind(a, 1, 2)
	a.AddTimer(time.Second, "Tock", 3)
	a.AddCallback(1500*time.Millisecond, "Tick", 4)
	e1.store.flush(e1.eng)
	f1, _ := e1.freeze()
	// Restore moves the decoded trees into the entities: keep copies.
	attrs1 := make([]map[string]any, len(f1.Entities))
	for i, fe := range f1.Entities {
		attrs1[i] = fe.Attrs.ToMap()
	}

	e2 := newEnvWith(t, e1.reg, &fakeClock{t: clock.Now().Add(time.Minute)})
	e2.restore(f1)
	f2, _ := e2.freeze()
	f1.FrozenAt, f2.FrozenAt = 0, 0
	for i := range f1.Entities {
		deepEqual(t, "second freeze's attributes", f2.Entities[i].Attrs.ToMap(), attrs1[i])
		f1.Entities[i].Attrs, f2.Entities[i].Attrs = nil, nil
	}
	deepEqual(t, "second freeze", f2, f1)
}

// A timer that was due but had not run when the world froze fires at
// once after the restore, exactly once.
func TestFreezeOverdueTimerFiresOnceAfterRestore(t *testing.T) {
	clock := newFakeClock()
	e1 := newEnvWith(t, v1Registry(t), clock)
	p := e1.create("Plain", nil)
	p.AddCallback(100*time.Millisecond, "Tick", 1)
	clock.Advance(150 * time.Millisecond) // no RunTimers: overdue
	f, _ := e1.freeze()
	if ft := frozenEntity(t, f, p.ID()).Timers; len(ft) != 1 || ft[0].Remaining != 0 {
		t.Fatalf("overdue timer frozen as %+v", ft)
	}
	e2 := newEnvWith(t, e1.reg, &fakeClock{t: clock.Now().Add(time.Second)})
	e2.restore(f)
	if at, ok := e2.eng.NextTimer(); !ok || !at.Equal(e2.clock.Now()) {
		t.Fatalf("NextTimer %v %v", at, ok)
	}
	e2.tick(0)
	deepEqual(t, "fired", e2.eventsOf(p.ID()), []string{"Tick(1)"})
	e2.tick(time.Hour)
	deepEqual(t, "not twice", e2.eventsOf(p.ID()), []string(nil))
}

// Calls made by OnFreeze hooks run before the capture: their effect is in
// the file, and nothing is left to run after the reload.
func TestFreezeHookCallsRunBeforeCapture(t *testing.T) {
	e := newEnvWith(t, v1Registry(t), newFakeClock())
	h := e.create("Hero", nil)
	c := e.create("Caller", map[string]any{"peer": string(h.ID())})
	e.store.flush(e.eng)
	f, _ := e.freeze()
	deepEqual(t, "notes in the file", frozenEntity(t, f, h.ID()).Attrs.ToMap()["notes"], []any{"from " + string(c.ID())})
	if len(e.w.local) != 0 {
		t.Fatalf("%d local calls left after Freeze", len(e.w.local))
	}
}

// ---------------------------------------------------------------------------
// Failures

func TestFreezeHookPanicAbortsAndTheWorldGoesOn(t *testing.T) {
	e := newEnvWith(t, v1Registry(t), newFakeClock())
	p := e.create("Plain", nil)
	bomb := e.create("Bomb", map[string]any{"boom": true})
	p.AddCallback(time.Second, "Tick", 1)
	e.out.take()

	f, err := e.eng.Freeze()
	if f != nil || !errors.Is(err, ErrFreezeHook) {
		t.Fatalf("Freeze = %v, %v; want an error wrapping ErrFreezeHook", f, err)
	}
	if !strings.Contains(err.Error(), "kaboom in OnFreeze") || !strings.Contains(err.Error(), string(bomb.ID())) {
		t.Fatalf("error %q does not name the entity and the panic", err)
	}
	if !e.logged(logrus.ErrorLevel, "panic in OnFreeze") {
		t.Fatal("the panic was not logged")
	}
	// Still serving: calls, timers, new entities.
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, p.ID(), "Tick", 2))
	e.tick(time.Second)
	deepEqual(t, "after the failed freeze", e.eventsOf(p.ID()), []string{"Tick(2)", "Tick(1)"})
	e.eng.Handle(rpc.MsgCallEntityMethod, callBody(t, bomb.ID(), "Tick", 3))
	deepEqual(t, "the bomb still works", e.eventsOf(bomb.ID()), []string{"Tick(3)"})
	e.create("Plain", nil)
	if e.w.NumEntities() != 3 {
		t.Fatalf("%d entities", e.w.NumEntities())
	}
	// Fixed, the next freeze succeeds.
	bomb.Attrs.Set("boom", false)
	f, _ = e.freeze()
	if len(f.Entities) != 3 {
		t.Fatalf("%d entities frozen", len(f.Entities))
	}
}

func TestFreezeRefusedWhileStorageIsBusy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(e *env) // starts one storage operation
	}{
		{"KVGet", func(e *env) { e.w.KVGet("k", func([]byte, error) {}) }},
		{"KVPut", func(e *env) { e.w.KVPut("k", []byte("v"), nil) }},
		{"KVPutIfAbsent", func(e *env) { e.w.KVPutIfAbsent("k", []byte("v"), func(bool, []byte, error) {}) }},
		{"load", func(e *env) {
			id := rpc.NewEntityID()
			storeAvatar(e.t, e.store, id, map[string]any{"name": "loaded"})
			e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Avatar"))
		}},
		{"first save", func(e *env) { e.create("Avatar", map[string]any{"name": "new"}) }},
		{"SaveDirty", func(e *env) {
			av := e.create("Avatar", nil)
			e.store.flush(e.eng)
			av.Attrs.Set("name", "changed")
			e.eng.SaveDirty(nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.create("Plain", nil)
			tc.start(e)
			if e.w.StorageInFlight() == 0 {
				t.Fatal("StorageInFlight is 0 with an operation pending")
			}
			f, err := e.eng.Freeze()
			if f != nil || !errors.Is(err, ErrStorageBusy) {
				t.Fatalf("Freeze = %v, %v; want ErrStorageBusy", f, err)
			}
			e.store.flush(e.eng)
			if n := e.w.StorageInFlight(); n != 0 {
				t.Fatalf("StorageInFlight %d after the results came back", n)
			}
			f, _ = e.freeze()
			if len(f.Entities) != e.w.NumEntities() {
				t.Fatalf("%d entities frozen, %d live", len(f.Entities), e.w.NumEntities())
			}
		})
	}
}

func TestRestoreRefusesWrongVersionAndNonEmptyWorld(t *testing.T) {
	e1 := newEnvWith(t, v1Registry(t), newFakeClock())
	e1.create("Plain", nil)
	f, _ := e1.freeze()

	e2 := newEnvWith(t, e1.reg, newFakeClock())
	bad := *f
	bad.Version = FreezeVersion + 1
	if _, err := e2.eng.Restore(&bad); !errors.Is(err, ErrFreezeFile) || !strings.Contains(err.Error(), "version") {
		t.Fatalf("Restore of another version: %v", err)
	}
	if e2.w.NumEntities() != 0 {
		t.Fatal("a refused restore created entities")
	}
	e2.create("Plain", nil)
	if _, err := e2.eng.Restore(f); err == nil {
		t.Fatal("Restore into a world with entities succeeded")
	}
	if e2.w.NumEntities() != 1 {
		t.Fatalf("%d entities after a refused restore", e2.w.NumEntities())
	}
}

// ---------------------------------------------------------------------------
// Type evolution

func TestRestoreIntoANewerBuild(t *testing.T) {
	clock := newFakeClock()
	e1 := newEnvWith(t, v1Registry(t), clock)
	h := e1.create("Hero", allKinds())
	h.Attrs.Set("name", "kept")
	h.AddTimer(100*time.Millisecond, "Tick", 1) // kept
	h.AddCallback(time.Second, "Tock", 2)       // Tock(int) became Tock(string): dropped
	h.AddCallback(time.Second, "Tack", 3)       // Tack is variadic now, no timer target: dropped
	h.AddCallback(time.Second, "Pair", 4)       // Pair gained a parameter: dropped
	gone := e1.create("Gone", map[string]any{"x": 1})
	gone2 := e1.create("Gone", nil)
	caller := e1.create("Caller", nil)
	p := e1.create("Plain", nil)
	e1.store.flush(e1.eng)
	f, _ := e1.freeze()

	e2 := newEnvWith(t, v2Registry(t), &fakeClock{t: clock.Now()})
	rep := e2.restore(f)
	slices.Sort(rep.Skipped)
	wantSkipped := []string{"Caller<" + string(caller.ID()) + ">", "Gone<" + string(gone.ID()) + ">", "Gone<" + string(gone2.ID()) + ">"}
	slices.Sort(wantSkipped)
	deepEqual(t, "skipped", rep.Skipped, wantSkipped)
	slices.Sort(rep.DroppedTimers)
	deepEqual(t, "dropped timers", rep.DroppedTimers, []string{
		"Hero<" + string(h.ID()) + ">.Pair", "Hero<" + string(h.ID()) + ">.Tack", "Hero<" + string(h.ID()) + ">.Tock",
	})
	if rep.Restored != 2 || e2.w.NumEntities() != 2 || e2.w.Entity(p.ID()) == nil {
		t.Fatalf("restored %d, %d entities", rep.Restored, e2.w.NumEntities())
	}
	for _, w := range []string{"no longer exist", "were dropped"} {
		if !e2.logged(logrus.WarnLevel, w) {
			t.Errorf("nothing logged about %q", w)
		}
	}
	if !e2.logged(logrus.WarnLevel, `dropping undeclared attribute "old"`) {
		t.Error("the removed attribute was dropped without a warning")
	}

	h2 := e2.w.Entity(h.ID())
	if _, ok := h2.self.Interface().(*fzHeroV2); !ok {
		t.Fatalf("restored as %T", h2.self.Interface())
	}
	want := wantKinds()
	delete(want, "old")
	want["name"] = "kept"
	want["memo"] = ""
	want["level"] = int64(1)
	want["extra"] = map[string]any{"k": []any{"v", 2.5}}
	if got := h2.Attrs.ToMap(); !reflect.DeepEqual(got, want) {
		t.Fatalf("attributes in the new build:\n got  %s\n want %s", typedDump(got), typedDump(want))
	}
	deepEqual(t, "OnRestore sees the default", e2.eventsOf(h.ID()), []string{"OnRestore(level=1)"})
	if h2.TimerCount() != 1 {
		t.Fatalf("%d timers kept", h2.TimerCount())
	}
	e2.tick(time.Second)
	deepEqual(t, "only the kept timer fires", e2.eventsOf(h.ID()), []string{"Tick(1)"})
	// The new attribute is a live part of the tree: a change syncs.
	e2.bind(h2, 1, 1)
	e2.out.take()
	h2.Attrs.Set("level", 2)
	if msgs := clientMsgs(t, e2.out.take()); len(msgs) != 1 || msgs[0].typ != rpc.MsgAttrChange {
		t.Fatalf("change of the new attribute: %v", msgs)
	}
}

// ---------------------------------------------------------------------------
// The file format

func validFile(t testing.TB) []byte {
	t.Helper()
	r := v1Registry(t)
	clock := newFakeClock()
	out := &recOutbox{n: 1}
	eng, err := NewEngine(WorldConfig{GameID: 3, Registry: r, Outbox: out, Now: clock.Now, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w := eng.World()
	var h *Entity
	eng.Run(func() { h, err = w.CreateEntityLocally("Hero", allKinds()) })
	if err != nil {
		t.Fatal(err)
	}
	h.client = &ClientRef{Gate: 1, ID: 2}
	h.AddTimer(time.Second, "Tick", 1)
	f, err := eng.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeFrozen(f)
	if err != nil {
		t.Fatal(err)
	}
	eventsMu.Lock()
	delete(events, w)
	eventsMu.Unlock()
	return data
}

func discardLogger() logrus.FieldLogger {
	l, _ := logtest.NewNullLogger()
	return l
}

func TestDecodeFrozenRefusesBadFiles(t *testing.T) {
	data := validFile(t)
	if _, err := DecodeFrozen(data); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	refuse := func(t *testing.T, what string, b []byte, words ...string) {
		t.Helper()
		f, err := DecodeFrozen(b)
		if err == nil || f != nil || !errors.Is(err, ErrFreezeFile) {
			t.Fatalf("%s: DecodeFrozen = %v, %v; want an error wrapping ErrFreezeFile", what, f, err)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: error %q does not mention %q", what, err, w)
			}
		}
	}
	t.Run("wrong magic", func(t *testing.T) {
		b := bytes.Clone(data)
		copy(b, "GWFROZEN")
		refuse(t, "magic", b, "not a freeze file")
		refuse(t, "empty", nil)
		refuse(t, "text", []byte(strings.Repeat("hello world ", 20)))
	})
	t.Run("other version", func(t *testing.T) {
		for _, v := range []uint32{0, FreezeVersion + 1, math.MaxUint32} {
			b := bytes.Clone(data)
			binary.LittleEndian.PutUint32(b[8:], v)
			refuse(t, "version", b, "version")
		}
	})
	t.Run("versions disagree", func(t *testing.T) {
		// Fuzz crasher 93d74b1d4ef98e06: a version 1 payload under a
		// version 2 header decoded.
		v1, err := EncodeFrozen(&Frozen{Version: 1, GameID: 1})
		if err != nil {
			t.Fatal(err)
		}
		if f, err := DecodeFrozen(v1); err != nil || f.Version != 1 {
			t.Fatalf("a version 1 file: %v, %v", f, err)
		}
		b := bytes.Clone(v1)
		binary.LittleEndian.PutUint32(b[8:], 2)
		refuse(t, "version 1 payload, version 2 header", b, "header says version 2, payload 1")
		b = bytes.Clone(data)
		binary.LittleEndian.PutUint32(b[8:], 1)
		refuse(t, "version 2 payload, version 1 header", b, "header says version 1, payload 2")
	})
	t.Run("every truncation", func(t *testing.T) {
		for n := 0; n < len(data); n++ {
			refuse(t, "truncated", data[:n])
		}
	})
	t.Run("trailing bytes", func(t *testing.T) {
		refuse(t, "one more byte", append(bytes.Clone(data), 0))
		refuse(t, "a second file", append(bytes.Clone(data), data...))
	})
	t.Run("every flipped byte", func(t *testing.T) {
		for i := range data {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(data)
				b[i] ^= mask
				refuse(t, "flipped", b)
			}
		}
	})
	t.Run("declared length", func(t *testing.T) {
		for _, n := range []uint64{0, 1, math.MaxInt64, math.MaxUint64, uint64(len(data))} {
			b := bytes.Clone(data)
			binary.LittleEndian.PutUint64(b[12:], n)
			refuse(t, "length", b)
		}
	})
	t.Run("checksummed garbage", func(t *testing.T) {
		for _, payload := range [][]byte{nil, {0xc1}, {0x92, 0x01}, []byte("\x81\xa8entities\x05"), {0xdf, 0xff, 0xff, 0xff, 0xff}} {
			refuse(t, "payload", wrapPayload(payload))
		}
	})
	t.Run("huge declared lengths", func(t *testing.T) {
		// An attribute list or map of 2^31 elements in 20 bytes: room
		// for them was made before reading them, and the process died
		// out of memory (found by FuzzDecodeFrozen, which hung).
		for _, p := range []string{
			"\x81\xa8entities\x91\x81\xa5attrs\x81\xa1a\xdd\x7f\xff\xff\xff",
			"\x81\xa8entities\x91\x81\xa5attrs\x81\xa1a\xdf\x7f\xff\xff\xff",
			"\x81\xa8entities\x91\x81\xa5attrs\xdf\x7f\xff\xff\xff",
			"\x81\xa8entities\x91\x81\xa5attrs\x81\xa1a\xc6\x7f\xff\xff\xff",
			"\x81\xa8entities\xdd\x7f\xff\xff\xff",
			"\x81\xa8entities\x91\x81\xa6timers\x91\x81\xa4args\xc6\x7f\xff\xff\xff",
		} {
			refuse(t, "huge length", wrapPayload([]byte(p)))
		}
	})
}

// wrapPayload makes a well-formed file around any payload.
func wrapPayload(payload []byte) []byte {
	b := append([]byte("GWFREEZE"), make([]byte, 12)...)
	binary.LittleEndian.PutUint32(b[8:], FreezeVersion)
	binary.LittleEndian.PutUint64(b[12:], uint64(len(payload)))
	b = append(b, payload...)
	sum := sha256.Sum256(payload)
	return append(b, sum[:]...)
}

func FuzzDecodeFrozen(f *testing.F) {
	f.Add(validFile(f))
	empty, _ := EncodeFrozen(&Frozen{Version: FreezeVersion, GameID: 1})
	f.Add(empty)
	big := &Frozen{Version: FreezeVersion, GameID: 2, Entities: []FrozenEntity{
		{Type: "Hero", ID: string(rpc.NewEntityID()), Attrs: NewMapAttrFrom(allKinds()), NextTimer: 5, Dirty: true,
			Client: &FrozenClient{Gate: 1, ID: 1},
			Timers: []FrozenTimer{{ID: 1, Method: "Tick", Args: mustArgs(f, 1), Remaining: 10, Interval: 10}, {ID: 2, Method: "Pair", Args: mustArgs(f, 1)}}},
		{Type: "Gone", ID: string(rpc.NewEntityID())},
		{Type: "Plain", ID: "short"},
	}}
	if b, err := EncodeFrozen(big); err == nil {
		f.Add(b)
	}
	f.Add([]byte("GWFREEZE"))
	reg := v1Registry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(data []byte) {
			fr, err := DecodeFrozen(data)
			if err != nil {
				if fr != nil || !errors.Is(err, ErrFreezeFile) {
					t.Fatalf("DecodeFrozen = %v, %v", fr, err)
				}
				return
			}
			clock := newFakeClock()
			eng, err := NewEngine(WorldConfig{GameID: 1, Registry: reg, Outbox: &recOutbox{n: 1}, Now: clock.Now, Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			w := eng.World()
			defer func() {
				eventsMu.Lock()
				delete(events, w)
				eventsMu.Unlock()
			}()
			// The payload's own version is the header's (a file that
			// disagrees is refused: crasher 93d74b1d4ef98e06, a version 1
			// payload under a version 2 header), which Restore reads.
			if hv := int(binary.LittleEndian.Uint32(data[8:12])); fr.Version != hv || !versionOK(fr.Version) {
				t.Fatalf("decoded a payload of version %d under a header of version %d", fr.Version, hv)
			}
			// What decodes re-encodes and decodes again.
			again, err := EncodeFrozen(fr)
			if err != nil {
				t.Fatalf("EncodeFrozen of a decoded file: %v", err)
			}
			if _, err := DecodeFrozen(again); err != nil {
				t.Fatalf("a re-encoded file does not decode: %v", err)
			}
			// And restoring it never panics.
			if _, err := eng.Restore(fr); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			eng.NextTimer()
			if _, err := eng.Freeze(); err != nil && !errors.Is(err, ErrFreezeHook) {
				t.Fatalf("Freeze of a restored world: %v", err)
			}
		}
		check(data)
		// The checksum stops almost every mutation; also try the payload
		// of a mutated file with its checksum fixed up.
		if len(data) >= freezeHeaderSize+sha256.Size {
			check(wrapPayload(data[freezeHeaderSize : len(data)-sha256.Size]))
		}
	})
}

// ---------------------------------------------------------------------------
// Defaults

func TestAttrDefaults(t *testing.T) {
	reg := NewRegistry()
	mustRegister(t, reg, "Defaults", &fzDefaults{})
	e := newEnvWith(t, reg, newFakeClock(), withBoot("Defaults"))
	want := func() map[string]any {
		return map[string]any{
			"inv":  map[string]any{"bag": []any{int64(1), map[string]any{"deep": []any{"x"}}}, "b": []byte{1, 2}},
			"list": []any{"a", "b"},
			"bin":  []byte("raw"),
			"n":    int64(7),
			"f":    0.5,
			"s":    "str",
		}
	}
	// The value handed to Default was copied at registration.
	fzDefaultMap["bag"].([]any)[0] = int64(99)
	fzDefaultMap["b"].([]byte)[0] = 99
	defer func() { fzDefaultMap["bag"].([]any)[0] = int64(1); fzDefaultMap["b"].([]byte)[0] = 1 }()

	t.Run("at create, copied per entity", func(t *testing.T) {
		a := e.create("Defaults", nil)
		b := e.create("Defaults", nil)
		deepEqual(t, "a", a.Attrs.ToMap(), want())
		deepEqual(t, "OnCreated sees the defaults", e.eventsOf(a.ID()), []string{"OnCreated(n=7)"})
		// Changing a's copy leaves b's and the default alone.
		a.Attrs.GetMap("inv").GetList("bag").GetMap(1).GetList("deep").Append("y")
		a.Attrs.GetMap("inv").GetList("bag").Set(0, 5)
		a.Attrs.GetList("list").Append("c")
		a.Attrs.Get("bin").([]byte)[0] = 'X'
		a.Attrs.GetMap("inv").Get("b").([]byte)[1] = 'X'
		deepEqual(t, "b", b.Attrs.ToMap(), want())
		c := e.create("Defaults", nil)
		deepEqual(t, "a later entity", c.Attrs.ToMap(), want())
	})
	t.Run("given values win", func(t *testing.T) {
		a := e.create("Defaults", map[string]any{"n": 3, "inv": map[string]any{}, "none": "x"})
		w := want()
		w["n"], w["inv"], w["none"] = int64(3), map[string]any{}, "x"
		deepEqual(t, "attrs", a.Attrs.ToMap(), w)
	})
	t.Run("at load", func(t *testing.T) {
		id := rpc.NewEntityID()
		b, _ := msgpack.Marshal(map[string]any{"n": 4})
		e.store.entities[storeKey("Defaults", string(id))] = b
		e.eng.Handle(rpc.MsgLoadEntitySomewhere, loadBody(id, "Defaults"))
		e.store.flush(e.eng)
		ent := e.w.Entity(id)
		if ent == nil {
			t.Fatal("not loaded")
		}
		w := want()
		w["n"] = int64(4)
		deepEqual(t, "loaded", ent.Attrs.ToMap(), w)
		deepEqual(t, "OnCreated", e.eventsOf(id), []string{"OnCreated(n=4)"})
	})
	t.Run("at create somewhere and for a boot entity", func(t *testing.T) {
		id := rpc.NewEntityID()
		b := rpc.AppendString(rpc.AppendEntityID(nil, id), "Defaults")
		b, _ = rpc.AppendValue(b, map[string]any{"s": "given"})
		e.eng.Handle(rpc.MsgCreateEntitySomewhere, b)
		w := want()
		w["s"] = "given"
		deepEqual(t, "created somewhere", e.w.Entity(id).Attrs.ToMap(), w)

		e.out.take()
		boot := e.connect(2, 3)
		deepEqual(t, "boot entity", boot.Attrs.ToMap(), want())
		// The client sees the defaults of its attributes.
		var create *createMsg
		for _, m := range clientMsgs(t, e.out.take()) {
			if m.typ == rpc.MsgCreateEntity {
				c := decodeCreate(t, m.body)
				create = &c
			}
		}
		if create == nil {
			t.Fatal("no CreateEntity")
		}
		deepEqual(t, "client view", create.attrs, map[string]any{
			"inv": want()["inv"], "list": []any{"a", "b"}, "s": "str",
		})
	})
	t.Run("at restore", func(t *testing.T) {
		e2 := newEnvWith(t, e.reg, newFakeClock())
		id := rpc.NewEntityID()
		e2.restore(&Frozen{Version: FreezeVersion, Entities: []FrozenEntity{{Type: "Defaults", ID: string(id), Attrs: NewMapAttrFrom(map[string]any{"s": "kept"})}}})
		w := want()
		w["s"] = "kept"
		deepEqual(t, "restored", e2.w.Entity(id).Attrs.ToMap(), w)
	})
}

type fzBadDefault struct{ Entity }

var fzBadDefaultValue any

func (b *fzBadDefault) DescribeEntityType(d *TypeDesc) {
	d.DefineAttr("good", 0).Default(1)
	d.DefineAttr("bad", 0).Default(fzBadDefaultValue)
}

func TestBadDefaultIsARegistrationError(t *testing.T) {
	for _, v := range []any{struct{}{}, make(chan int), uint64(math.MaxUint64), []int{1}, map[string]int{"a": 1},
		map[string]any{"ok": 1, "bad": struct{}{}}, []any{1, func() {}}} {
		fzBadDefaultValue = v
		err := NewRegistry().Register("Bad", &fzBadDefault{})
		if !errors.Is(err, ErrRegister) || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), "default") {
			t.Errorf("Default(%T): Register = %v, want a registration error naming the attribute", v, err)
		}
	}
	for _, v := range []any{nil, 1, -1.5, "s", []byte{}, []string{}, map[string]any{}, []any{map[string]any{"x": []any{}}}} {
		fzBadDefaultValue = v
		if err := NewRegistry().Register("Good", &fzBadDefault{}); err != nil {
			t.Errorf("Default(%#v): %v", v, err)
		}
	}
	fzBadDefaultValue = nil
}

// The file's timers are data from outside: a negative remaining time (or
// interval) never comes from Freeze, and must not put a timer before the
// restore, where RunTimers' catch-up arithmetic overflows and loops
// forever.
func TestRestoreClampsTimersFromTheFile(t *testing.T) {
	e := newEnvWith(t, v1Registry(t), newFakeClock())
	id := rpc.NewEntityID()
	e.restore(&Frozen{Version: FreezeVersion, Entities: []FrozenEntity{{Type: "Plain", ID: string(id), Timers: []FrozenTimer{
		{ID: 1, Method: "Tick", Args: mustArgs(t, 1), Remaining: math.MinInt64, Interval: 1},
		{ID: 2, Method: "Tick", Args: mustArgs(t, 2), Remaining: -1, Interval: -5},
	}}}})
	if at, ok := e.eng.NextTimer(); !ok || at.Before(e.clock.Now()) {
		t.Fatalf("a restored timer is due %v before the restore", e.clock.Now().Sub(at))
	}
	e.tick(0)
	ev := e.eventsOf(id)
	slices.Sort(ev)
	deepEqual(t, "fired", ev, []string{"Tick(1)", "Tick(2)"})
	e.tick(time.Second)
	if n := len(e.eventsOf(id)); n != 1 {
		t.Fatalf("%d fires in a second; the 1ns timer should fire once after a stall, the bad interval not again", n)
	}
}

// TestHugeFieldNamesDoNotGrowMemory: a struct field name (or string) in
// a freeze file or a migrating entity that declares more bytes than
// follow must not leave memory behind. msgpack.Unmarshal's pooled
// decoder kept the buffer it grew (by 1 MiB or more per such input) and
// reused it, so FuzzWorldFrames (crasher 5378bc682a530b0c) ran out of
// memory after a few thousand migrations.
func TestHugeFieldNamesDoNotGrowMemory(t *testing.T) {
	payload := []byte("\x81\xa8entities\x91\x81\xdb\x7f\xff\xff\xff0000")
	entity := []byte("\x87\xa4type\xa5Mover\xdb\x7f\xff\xff\xff0000")
	e := newSpaceEnv(t)
	migrate := append(rpc.AppendUint16(rpc.AppendEntityID(nil, rpc.NewEntityID()), 1), entity...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 200 {
		if _, err := DecodeFrozen(wrapPayload(payload)); !errors.Is(err, ErrFreezeFile) {
			t.Fatalf("DecodeFrozen: %v", err)
		}
		e.eng.Handle(rpc.MsgMigrateEntity, migrate)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<20 {
		t.Fatalf("the heap grew by %d MiB over 400 bad decodes", grown>>20)
	}
	if !e.logged(logrus.ErrorLevel, "MigrateEntity") {
		t.Fatal("the bad migrations were not logged")
	}
}
