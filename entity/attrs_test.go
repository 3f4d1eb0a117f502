package entity

import (
	"math"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

func TestMapAttrValueKinds(t *testing.T) {
	m := NewMapAttr()
	sub := NewMapAttr()
	sub.Set("k", 1)
	lst := NewListAttr()
	lst.Append("x")
	cases := []struct {
		key  string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"bool", true, true},
		{"int", int(-5), int64(-5)},
		{"int8", int8(-8), int64(-8)},
		{"int16", int16(1600), int64(1600)},
		{"int32", int32(-32), int64(-32)},
		{"int64", int64(math.MinInt64), int64(math.MinInt64)},
		{"uint", uint(7), int64(7)},
		{"uint8", uint8(255), int64(255)},
		{"uint16", uint16(65535), int64(65535)},
		{"uint32", uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"uint64", uint64(math.MaxInt64), int64(math.MaxInt64)},
		{"float32", float32(1.5), float64(1.5)},
		{"float64", 2.25, 2.25},
		{"string", "s", "s"},
		{"bytes", []byte{1, 2}, []byte{1, 2}},
	}
	for _, c := range cases {
		m.Set(c.key, c.in)
		got := m.Get(c.key)
		deepEqual(t, "Get("+c.key+")", got, c.want)
		if !m.Has(c.key) {
			t.Errorf("Has(%s) false", c.key)
		}
	}
	if m.GetInt("int") != -5 || m.GetInt("float64") != 2 || m.GetInt("string") != 0 || m.GetInt("absent") != 0 {
		t.Error("GetInt")
	}
	if m.GetFloat("int") != -5 || m.GetFloat("float32") != 1.5 || m.GetFloat("absent") != 0 {
		t.Error("GetFloat")
	}
	if m.GetString("string") != "s" || m.GetString("int") != "" || !m.GetBool("bool") || m.GetBool("absent") {
		t.Error("GetString/GetBool")
	}

	// Containers: plain maps and slices become MapAttr and ListAttr, nested.
	m.Set("map", map[string]any{"a": 1, "b": map[string]any{"c": []any{float32(0.5), "d", map[string]any{"e": uint8(3)}}}})
	mm := m.GetMap("map")
	if mm == nil {
		t.Fatalf("map is %T", m.Get("map"))
	}
	deepEqual(t, "map.a", mm.Get("a"), int64(1))
	l := mm.GetMap("b").GetList("c")
	if l == nil || l.Len() != 3 {
		t.Fatalf("nested list: %#v", mm.GetMap("b").Get("c"))
	}
	deepEqual(t, "c[0]", l.Get(0), 0.5)
	deepEqual(t, "c[2].e", l.GetMap(2).Get("e"), int64(3))
	m.Set("list", []any{1, []any{int16(2)}, map[string]any{}})
	ll := m.GetList("list")
	if ll == nil {
		t.Fatalf("list is %T", m.Get("list"))
	}
	if _, ok := ll.Get(1).(*ListAttr); !ok {
		t.Fatalf("list[1] is %T", ll.Get(1))
	}
	if _, ok := ll.Get(2).(*MapAttr); !ok {
		t.Fatalf("list[2] is %T", ll.Get(2))
	}
	m.Set("strings", []string{"a", "b"})
	deepEqual(t, "strings", m.GetList("strings").ToList(), []any{"a", "b"})
	m.Set("sub", sub)
	if m.GetMap("sub") != sub {
		t.Error("a MapAttr is stored as itself")
	}
	m.Set("lst", lst)
	if m.GetList("lst") != lst {
		t.Error("a ListAttr is stored as itself")
	}
	if m.GetMap("int") != nil || m.GetList("map") != nil {
		t.Error("GetMap/GetList of the wrong kind")
	}

	// []byte is copied in and out.
	b := []byte{9, 9}
	m.Set("b2", b)
	b[0] = 0
	deepEqual(t, "bytes copied on Set", m.Get("b2"), []byte{9, 9})
	out := m.ToMap()["b2"].([]byte)
	out[1] = 0
	deepEqual(t, "bytes copied by ToMap", m.Get("b2"), []byte{9, 9})

	deepEqual(t, "ToMap", m.ToMap()["map"], map[string]any{"a": int64(1), "b": map[string]any{"c": []any{0.5, "d", map[string]any{"e": int64(3)}}}})
}

func TestMapAttrUnsupported(t *testing.T) {
	type S struct{ X int }
	for name, v := range map[string]any{
		"struct": S{1}, "map[string]int": map[string]int{"a": 1}, "[]int": []int{1}, "chan": make(chan int),
		"func": func() {}, "ptr": new(int), "map[int]any": map[int]any{}, "nested bad": map[string]any{"ok": 1, "bad": S{}},
		"complex": complex(1, 2),
	} {
		m := NewMapAttr()
		msg := mustPanic(t, func() { m.Set("x", v) })
		if !strings.Contains(msg, "not supported") {
			t.Errorf("%s: panic %q", name, msg)
		}
		if m.Has("x") {
			t.Errorf("%s: value stored despite the panic", name)
		}
		l := NewListAttr()
		mustPanic(t, func() { l.Append(v) })
		if l.Len() != 0 {
			t.Errorf("%s: appended despite the panic", name)
		}
	}
	msg := mustPanic(t, func() { NewMapAttr().Set("x", uint64(math.MaxInt64)+1) })
	if !strings.Contains(msg, "overflows int64") {
		t.Errorf("uint64 overflow: %q", msg)
	}
}

func TestAttrUndeclaredTopLevelKey(t *testing.T) {
	e := newEnv(t)
	a := e.create("Avatar", nil)
	msg := mustPanic(t, func() { a.Attrs.Set("helth", 1) })
	for _, s := range []string{`"helth"`, "Avatar", "DefineAttr"} {
		if !strings.Contains(msg, s) {
			t.Errorf("panic %q does not mention %s", msg, s)
		}
	}
	if a.Attrs.Has("helth") {
		t.Error("undeclared attribute stored")
	}
	// Keys below a declared top-level key are free.
	a.Attrs.Set("inv", map[string]any{})
	a.Attrs.GetMap("inv").Set("anything", 1)
	// Plain has no attributes at all.
	p := e.create("Plain", nil)
	mustPanic(t, func() { p.Attrs.Set("x", 1) })
	// Undeclared attributes given at creation are dropped with a warning.
	b := e.create("Avatar", map[string]any{"name": "n", "bogus": 1})
	if b.Attrs.Has("bogus") || b.Attrs.GetString("name") != "n" {
		t.Errorf("creation attrs: %v", b.Attrs.ToMap())
	}
	if !e.logged(logrus.WarnLevel, `dropping undeclared attribute "bogus"`) {
		t.Error("dropped attribute not logged")
	}
}

func TestAttrPlacedTwice(t *testing.T) {
	a, b := NewMapAttr(), NewMapAttr()
	sub := NewMapAttr()
	a.Set("x", sub)
	msg := mustPanic(t, func() { b.Set("y", sub) })
	if !strings.Contains(msg, "one place") {
		t.Errorf("panic %q", msg)
	}
	mustPanic(t, func() { a.Set("z", sub) })
	l := NewListAttr()
	mustPanic(t, func() { l.Append(sub) })
	sl := NewListAttr()
	l.Append(sl)
	mustPanic(t, func() { a.Set("w", sl) })
	mustPanic(t, func() { l.Append(sl) })
	mustPanic(t, func() { a.Set("n", map[string]any{"in": sl}) })
	mustPanic(t, func() { a.Set("n", []any{sub}) })

	// An entity's root cannot be placed anywhere.
	e := newEnv(t)
	av := e.create("Avatar", nil)
	mustPanic(t, func() { a.Set("root", av.Attrs) })
	// A subtree of one entity cannot be placed in another.
	av.Attrs.Set("inv", map[string]any{})
	av2 := e.create("Avatar", nil)
	mustPanic(t, func() { av2.Attrs.Set("inv", av.Attrs.GetMap("inv")) })

	// Setting a key to the value it already holds is fine.
	a.Set("x", a.Get("x"))
	if a.GetMap("x") != sub {
		t.Error("re-set changed the value")
	}
	// Once removed, a container can be placed again.
	a.Delete("x")
	b.Set("y", sub)
	if b.GetMap("y") != sub {
		t.Error("re-placing a removed container")
	}
	// Replaced containers are detached too.
	b.Set("y", 1)
	l.Set(0, sub)
	if l.GetMap(0) != sub {
		t.Error("re-placing a replaced container")
	}
}

// A Set that panics because the new value is already placed must leave the
// old value in place and attached, still synced to the client.
func TestAttrFailedSetKeepsOldValue(t *testing.T) {
	e := newEnv(t)
	av := e.create("Avatar", map[string]any{"inv": map[string]any{"a": 1}, "bag": []any{map[string]any{}}})
	e.bind(av, 1, 1)
	elsewhere := av.Attrs.GetList("bag").GetMap(0)
	oldInv := av.Attrs.GetMap("inv")
	e.out.take()

	mustPanic(t, func() { av.Attrs.Set("inv", elsewhere) })
	if av.Attrs.GetMap("inv") != oldInv {
		t.Fatal("failed Set replaced the value")
	}
	if n := len(e.out.take()); n != 0 {
		t.Fatalf("failed Set sent %d frames", n)
	}
	oldInv.Set("b", 2)
	if n := len(clientMsgs(t, e.out.take())); n != 1 {
		t.Fatal("regression: a MapAttr.Set that panics (value already placed) detaches the old value first, so later changes to it are no longer synced; see report")
	}
	mustPanic(t, func() { av.Attrs.GetList("bag").Set(0, oldInv) })
	if av.Attrs.GetList("bag").GetMap(0) != elsewhere {
		t.Fatal("failed ListAttr.Set replaced the value")
	}
	elsewhere.Set("c", 3)
	if n := len(clientMsgs(t, e.out.take())); n != 1 {
		t.Fatal("regression: a ListAttr.Set that panics (value already placed) detaches the old value first; see report")
	}
	av.Attrs.Set("inv", map[string]any{})
	av.Attrs.GetList("bag").Set(0, nil)
	// The replaced containers are detached now: no more messages.
	e.out.take()
	oldInv.Set("x", 1)
	elsewhere.Set("x", 1)
	if n := len(e.out.take()); n != 0 {
		t.Fatalf("detached containers sent %d frames", n)
	}
}

func TestMapAttrDeleteKeysToMap(t *testing.T) {
	m := NewMapAttr()
	for _, k := range []string{"zeta", "alpha", "mid", "Beta", ""} {
		m.Set(k, k)
	}
	deepEqual(t, "Keys", m.Keys(), []string{"", "Beta", "alpha", "mid", "zeta"})
	if m.Len() != 5 {
		t.Errorf("Len %d", m.Len())
	}
	m.Delete("mid")
	m.Delete("absent")
	deepEqual(t, "Keys after Delete", m.Keys(), []string{"", "Beta", "alpha", "zeta"})
	if m.Has("mid") || m.Get("mid") != nil {
		t.Error("deleted key still there")
	}
	deepEqual(t, "Keys of empty", NewMapAttr().Keys(), []string{})

	// ToMap is a deep copy, independent both ways.
	m.Set("nest", map[string]any{"l": []any{1, map[string]any{"x": "y"}}})
	c := m.ToMap()
	want := map[string]any{"": "", "Beta": "Beta", "alpha": "alpha", "zeta": "zeta",
		"nest": map[string]any{"l": []any{int64(1), map[string]any{"x": "y"}}}}
	deepEqual(t, "ToMap", c, want)
	c["alpha"] = "changed"
	c["nest"].(map[string]any)["l"].([]any)[0] = "changed"
	c["nest"].(map[string]any)["l"].([]any)[1].(map[string]any)["x"] = "changed"
	delete(c, "zeta")
	c2 := m.ToMap()
	deepEqual(t, "ToMap after changing the copy", c2, want)
	m.GetMap("nest").GetList("l").GetMap(1).Set("x", "z")
	m.GetMap("nest").GetList("l").Append(2)
	deepEqual(t, "copy after changing the original", c2, want)
}

func TestListAttr(t *testing.T) {
	l := NewListAttr()
	if l.Pop() != nil || l.Len() != 0 {
		t.Error("Pop of an empty list")
	}
	l.Append(1)
	l.Append("two")
	l.Append(map[string]any{"k": int8(3)})
	l.Append([]any{4})
	if l.Len() != 4 || l.GetInt(0) != 1 || l.GetString(1) != "two" || l.GetMap(2).GetInt("k") != 3 {
		t.Fatalf("list: %#v", l.ToList())
	}
	if l.GetMap(0) != nil || l.GetString(0) != "" {
		t.Error("typed getters of the wrong kind")
	}
	deepEqual(t, "ToList", l.ToList(), []any{int64(1), "two", map[string]any{"k": int64(3)}, []any{int64(4)}})
	l.Set(1, float32(2.5))
	deepEqual(t, "Set", l.Get(1), 2.5)
	inner := l.Get(3).(*ListAttr)
	deepEqual(t, "Pop", l.Pop(), []any{int64(4)}) // plain copy
	// The popped container is detached and can be placed again.
	l.Append(inner)
	if l.Get(3) != inner {
		t.Error("re-append popped container")
	}
	deepEqual(t, "Pop map", l.Pop(), []any{int64(4)})
	deepEqual(t, "Pop map", l.Pop(), map[string]any{"k": int64(3)})
	if l.Len() != 2 {
		t.Fatalf("Len %d", l.Len())
	}
	for _, i := range []int{-1, 2, 100} {
		msg := mustPanic(t, func() { l.Set(i, 0) })
		if !strings.Contains(msg, "out of range") {
			t.Errorf("Set(%d): %q", i, msg)
		}
		mustPanic(t, func() { l.Get(i) })
	}
	deepEqual(t, "unchanged by failed Sets", l.ToList(), []any{int64(1), 2.5})
	// ToList is a deep copy.
	l.Append([]any{"x"})
	c := l.ToList()
	c[2].([]any)[0] = "y"
	deepEqual(t, "ToList copy", l.Get(2).(*ListAttr).Get(0), "x")
}

// A detached cycle (a map placed inside itself) must be refused: it would
// make ToMap recurse forever.
func TestAttrNoCycles(t *testing.T) {
	m := NewMapAttr()
	func() {
		defer func() { recover() }()
		m.Set("self", m)
	}()
	if m.Has("self") {
		t.Fatal("regression: a detached MapAttr can be set inside itself (a cycle; ToMap would overflow the stack); see report")
	}
	a, b := NewMapAttr(), NewMapAttr()
	a.Set("b", b)
	func() {
		defer func() { recover() }()
		b.Set("a", a)
	}()
	if b.Has("a") {
		t.Fatal("regression: a detached MapAttr can be set inside its own descendant (a cycle); see report")
	}
}

// TestAttrDepthBound: an attribute value may nest as deep as the decoders
// of an entity's attribute map accept (rpc.MaxArgDepth levels below the
// map), and no deeper: Set, Append and placing a subtree refuse more with
// a panic that says so and change nothing, a plain map that holds itself
// included (which used to overflow the stack).
func TestAttrDepthBound(t *testing.T) {
	nest := func(k int) any { // k maps around a scalar
		var v any = int64(1)
		for i := 0; i < k; i++ {
			v = map[string]any{"k": v}
		}
		return v
	}
	root := NewMapAttr()
	// A top-level value sits at depth 1, so k maps put the scalar at 1+k.
	root.Set("ok", nest(rpc.MaxArgDepth-1))
	enc, err := rpc.AppendValue(nil, root.ToMap())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rpc.DecodeAny(enc); err != nil {
		t.Fatalf("the deepest value Set accepts does not decode: %v", err)
	}
	msg := mustPanic(t, func() { root.Set("deep", nest(rpc.MaxArgDepth)) })
	if !strings.Contains(msg, "nested deeper than 32") || root.Has("deep") {
		t.Fatalf("one level more: panic %q, stored %v", msg, root.Has("deep"))
	}
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	if msg := mustPanic(t, func() { root.Set("cycle", cyclic) }); !strings.Contains(msg, "nested deeper") {
		t.Fatalf("cycle: panic %q", msg)
	}

	// Deep in the tree: cur is at depth 31, so its values sit at 32.
	cur := root
	for i := 1; i < rpc.MaxArgDepth; i++ {
		cur.Set("next", NewMapAttr())
		cur = cur.GetMap("next")
	}
	cur.Set("leaf", "fits")
	cur.Set("empty", NewMapAttr())
	mustPanic(t, func() { cur.Set("map", map[string]any{"k": 1}) })
	list := NewListAttr()
	list.Append("x")
	mustPanic(t, func() { cur.Set("list", list) }) // a detached subtree too tall for the spot
	mustPanic(t, func() { cur.Set("strings", []string{"a"}) })
	if cur.Has("map") || cur.Has("list") || cur.Has("strings") || list.parent != nil {
		t.Fatal("a refused value was stored or adopted")
	}
	cur.Set("strings", []string{}) // empty: nothing at depth 33
	empty := cur.GetMap("empty")   // at depth 32: it can hold nothing
	mustPanic(t, func() { empty.Set("l", 1) })
	mustPanic(t, func() { NewListAttr().Append(nest(rpc.MaxArgDepth)) })
	enc, err = rpc.AppendValue(nil, root.ToMap())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rpc.DecodeAny(enc); err != nil {
		t.Fatalf("the tree at its deepest does not decode: %v", err)
	}
}
