package entity

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// expectOneChange checks that frames hold exactly one frame, a MsgToClient
// for ref carrying a MsgAttrChange of entity id, and returns the change.
func expectOneChange(t testing.TB, frames []frame, n int, ref ClientRef, id rpc.EntityID) attrChange {
	t.Helper()
	if len(frames) != 1 {
		t.Fatalf("got %d frames, want 1: %v", len(frames), frames)
	}
	m := decodeToClient(t, frames[0])
	if m.typ != rpc.MsgAttrChange {
		t.Fatalf("client message %v, want AttrChange", m.typ)
	}
	if m.ref() != ref {
		t.Fatalf("sent to %+v, want %+v", m.ref(), ref)
	}
	if want := ref.Gate.Shard(n); m.disp != want {
		t.Fatalf("sent to dispatcher %d, want %d (the gate's shard)", m.disp, want)
	}
	c := decodeAttrChange(t, m.body)
	if c.id != id {
		t.Fatalf("change of %s, want %s", c.id, id)
	}
	return c
}

func TestAttrSyncMessages(t *testing.T) {
	const nd = 3
	e := newEnv(t, withDispatchers(nd))
	av := e.create("Avatar", nil)
	ref := ClientRef{Gate: 5, ID: 77}
	e.bind(av, ref.Gate, ref.ID)
	e.out.take()

	type want struct {
		op    rpc.AttrOp
		path  []any
		value any
	}
	steps := []struct {
		name string
		do   func()
		want *want // nil: no frame at all
	}{
		{"set hp", func() { av.Attrs.Set("hp", 10) }, &want{rpc.AttrSet, []any{"hp"}, int64(10)}},
		{"set name", func() { av.Attrs.Set("name", "bob") }, &want{rpc.AttrSet, []any{"name"}, "bob"}},
		{"set inv", func() { av.Attrs.Set("inv", map[string]any{"sword": map[string]any{"count": 1}}) },
			&want{rpc.AttrSet, []any{"inv"}, map[string]any{"sword": map[string]any{"count": int64(1)}}}},
		{"set inv.sword.count", func() { av.Attrs.GetMap("inv").GetMap("sword").Set("count", 2) },
			&want{rpc.AttrSet, []any{"inv", "sword", "count"}, int64(2)}},
		{"set inv.shield", func() { av.Attrs.GetMap("inv").Set("shield", float32(0.5)) },
			&want{rpc.AttrSet, []any{"inv", "shield"}, 0.5}},
		{"delete inv.sword", func() { av.Attrs.GetMap("inv").Delete("sword") },
			&want{rpc.AttrDelete, []any{"inv", "sword"}, nil}},
		{"delete absent", func() { av.Attrs.GetMap("inv").Delete("sword") }, nil},
		{"set bag", func() { av.Attrs.Set("bag", []any{"a", "b", "c"}) },
			&want{rpc.AttrSet, []any{"bag"}, []any{"a", "b", "c"}}},
		{"set bag[2]", func() { av.Attrs.GetList("bag").Set(2, "z") }, &want{rpc.AttrSet, []any{"bag", int64(2)}, "z"}},
		{"append bag", func() { av.Attrs.GetList("bag").Append(map[string]any{"l": []any{1}}) },
			&want{rpc.AttrAppend, []any{"bag"}, map[string]any{"l": []any{int64(1)}}}},
		{"append bag[3].l", func() { av.Attrs.GetList("bag").GetMap(3).GetList("l").Append(true) },
			&want{rpc.AttrAppend, []any{"bag", int64(3), "l"}, true}},
		{"set bag[3].l[1]", func() { av.Attrs.GetList("bag").GetMap(3).GetList("l").Set(1, []byte{7}) },
			&want{rpc.AttrSet, []any{"bag", int64(3), "l", int64(1)}, []byte{7}}},
		{"pop bag[3].l", func() { av.Attrs.GetList("bag").GetMap(3).GetList("l").Pop() },
			&want{rpc.AttrPop, []any{"bag", int64(3), "l"}, nil}},
		{"pop bag", func() { av.Attrs.GetList("bag").Pop() }, &want{rpc.AttrPop, []any{"bag"}, nil}},
		{"pop empty", func() { NewListAttr().Pop() }, nil},
		{"delete hp", func() { av.Attrs.Delete("hp") }, &want{rpc.AttrDelete, []any{"hp"}, nil}},
		{"set hp nil", func() { av.Attrs.Set("hp", nil) }, &want{rpc.AttrSet, []any{"hp"}, nil}},
		// Server-only and Persistent-only keys: nothing to the client.
		{"set srv", func() { av.Attrs.Set("srv", map[string]any{"x": []any{1}}) }, nil},
		{"nested srv", func() { av.Attrs.GetMap("srv").GetList("x").Append(2) }, nil},
		{"set saved", func() { av.Attrs.Set("saved", 1) }, nil},
		{"delete saved", func() { av.Attrs.Delete("saved") }, nil},
	}
	for _, s := range steps {
		s.do()
		frames := e.out.take()
		if s.want == nil {
			if len(frames) != 0 {
				t.Fatalf("%s: %d frames, want none", s.name, len(frames))
			}
			continue
		}
		c := expectOneChange(t, frames, nd, ref, av.ID())
		if c.op != s.want.op {
			t.Errorf("%s: op %d, want %d", s.name, c.op, s.want.op)
		}
		deepEqual(t, s.name+" path", c.path, s.want.path)
		deepEqual(t, s.name+" value", c.value, s.want.value)
	}

	// Without a client, nothing is sent.
	e.eng.Handle(rpc.MsgClientDisconnected, clientDisconnectedBody(av.ID(), ref.Gate, ref.ID))
	e.out.take()
	av.Attrs.Set("hp", 1)
	av.Attrs.GetMap("inv").Set("x", 1)
	av.Attrs.GetList("bag").Append(1)
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("no client: %d frames", len(f))
	}
	b := e.create("Avatar", map[string]any{"inv": map[string]any{}})
	e.out.take()
	b.Attrs.Set("name", "x")
	b.Attrs.GetMap("inv").Set("y", 1)
	if f := e.out.take(); len(f) != 0 {
		t.Fatalf("never bound: %d frames", len(f))
	}
}

// attrGen generates random attribute values and operations.
type attrGen struct{ r *rand.Rand }

var genKeys = []string{"a", "b", "c", "d", "e"}

func (g attrGen) scalar() any {
	r := g.r
	switch r.IntN(11) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return r.IntN(200) - 100
	case 3:
		return r.Int64() - r.Int64()
	case 4:
		return int32(r.Int32())
	case 5:
		return uint16(r.Uint32())
	case 6:
		return float32(r.IntN(100)) / 4
	case 7:
		return r.NormFloat64() * 1e6
	case 8:
		return []byte{byte(r.IntN(256)), byte(r.IntN(256))}
	case 9:
		return ""
	default:
		return fmt.Sprintf("s%d", r.IntN(1000))
	}
}

// value returns a random value: a scalar, a plain map or slice, or a
// MapAttr/ListAttr built detached, nested up to depth levels.
func (g attrGen) value(depth int) any {
	r := g.r
	if depth <= 0 || r.IntN(3) == 0 {
		return g.scalar()
	}
	n := r.IntN(4)
	switch r.IntN(4) {
	case 0:
		m := map[string]any{}
		for i := 0; i < n; i++ {
			m[genKeys[r.IntN(len(genKeys))]] = g.value(depth - 1)
		}
		return m
	case 1:
		l := []any{}
		for i := 0; i < n; i++ {
			l = append(l, g.value(depth-1))
		}
		return l
	case 2:
		m := NewMapAttr()
		for i := 0; i < n; i++ {
			m.Set(genKeys[r.IntN(len(genKeys))], g.value(depth-1))
		}
		return m
	default:
		l := NewListAttr()
		for i := 0; i < n; i++ {
			l.Append(g.value(depth - 1))
		}
		return l
	}
}

// place is a live container of the entity's tree and its top-level key.
type place struct {
	c    any // *MapAttr or *ListAttr
	root string
}

// containers lists the live containers below the root, in a deterministic
// order.
func containers(root *MapAttr) []place {
	var out []place
	var walk func(v any, rootKey string)
	walk = func(v any, rootKey string) {
		switch c := v.(type) {
		case *MapAttr:
			out = append(out, place{c, rootKey})
			for _, k := range c.Keys() {
				walk(c.Get(k), rootKey)
			}
		case *ListAttr:
			out = append(out, place{c, rootKey})
			for i := 0; i < c.Len(); i++ {
				walk(c.Get(i), rootKey)
			}
		}
	}
	for _, k := range root.Keys() {
		walk(root.Get(k), k)
	}
	return out
}

func isContainer(v any) bool {
	switch v.(type) {
	case *MapAttr, *ListAttr:
		return true
	}
	return false
}

// TestAttrSyncProperty applies random changes to an entity with a client
// and checks, after each, that exactly the client-visible changes were
// sent, and that the client's view (built from MsgCreateEntity and the
// changes, with the client's own logic) equals the client-visible part of
// the entity's attributes.
func TestAttrSyncProperty(t *testing.T) {
	seeds := []uint64{1, 2, 3, uint64(time.Now().UnixNano())}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			testAttrSyncProperty(t, seed, 1000)
		})
	}
}

func testAttrSyncProperty(t *testing.T, seed uint64, nOps int) {
	const nd = 2
	e := newEnv(t, withDispatchers(nd))
	g := attrGen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	r := g.r
	av := e.create("Avatar", map[string]any{
		"name": "bob", "inv": map[string]any{"a": []any{1, map[string]any{"b": 2}}},
		"bag": []any{}, "srv": map[string]any{"a": 1}, "saved": []any{1},
	})
	flags := av.typ.attrs
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	visible := func(k string) bool { return flags[k]&(AttrOwnClient|AttrAllClients) != 0 }

	ref := ClientRef{Gate: 3, ID: 42}
	e.bind(av, ref.Gate, ref.ID)
	var view map[string]any
	for _, m := range clientMsgs(t, e.out.take()) {
		if m.typ == rpc.MsgCreateEntity {
			c := decodeCreate(t, m.body)
			if c.id != av.ID() || c.isPlayer != 1 {
				t.Fatalf("create: %+v", c)
			}
			view = c.attrs
		}
	}
	if view == nil {
		t.Fatal("no MsgCreateEntity")
	}
	expected := func() map[string]any {
		out := map[string]any{}
		for k, v := range av.Attrs.ToMap() {
			if visible(k) {
				out[k] = v
			}
		}
		return out
	}
	deepEqual(t, "initial view", view, expected())

	var graveyard []any // detached containers: changing them sends nothing
	bury := func(v any) {
		if isContainer(v) {
			graveyard = append(graveyard, v)
		}
	}
	counts := map[string]int{}
	maxDepth := 0
	// check verifies one step: the frames it sent and the view.
	check := func(step int, what string, root string, live bool) {
		t.Helper()
		counts[what]++
		frames := e.out.take()
		if live && visible(root) {
			c := expectOneChange(t, frames, nd, ref, av.ID())
			maxDepth = max(maxDepth, len(c.path))
			if err := rpc.ApplyAttrChange(view, c.op, c.path, c.value); err != nil {
				t.Fatalf("seed %d step %d (%s under %q): client cannot apply %+v: %v", seed, step, what, root, c, err)
			}
		} else if len(frames) != 0 {
			t.Fatalf("seed %d step %d (%s under %q, live=%v): %d frames, want none", seed, step, what, root, live, len(frames))
		}
		wantDirty := live && flags[root]&AttrPersistent != 0
		if av.dirty != wantDirty {
			t.Fatalf("seed %d step %d (%s under %q): dirty=%v, want %v", seed, step, what, root, av.dirty, wantDirty)
		}
		av.dirty = false
		if want := expected(); !deepEqualValues(view, want) {
			t.Fatalf("seed %d step %d (%s under %q): client view diverged:\n view %s\n want %s", seed, step, what, root, typedDump(view), typedDump(want))
		}
	}

	for step := 0; step < nOps; step++ {
		places := containers(av.Attrs)
		switch op := r.IntN(10); {
		case op == 0: // set a top-level key
			k := keys[r.IntN(len(keys))]
			bury(av.Attrs.Get(k))
			av.Attrs.Set(k, g.value(3))
			check(step, "root set", k, true)
		case op == 1 && r.IntN(2) == 0: // delete a top-level key
			k := keys[r.IntN(len(keys))]
			had := av.Attrs.Has(k)
			bury(av.Attrs.Get(k))
			av.Attrs.Delete(k)
			check(step, "root delete", k, had)
		case op <= 6 && len(places) > 0: // change a live container
			p := places[r.IntN(len(places))]
			switch c := p.c.(type) {
			case *MapAttr:
				k := genKeys[r.IntN(len(genKeys))]
				if r.IntN(3) == 0 {
					had := c.Has(k)
					bury(c.Get(k))
					c.Delete(k)
					check(step, "map delete", p.root, had)
				} else {
					bury(c.Get(k))
					c.Set(k, g.value(2))
					check(step, "map set", p.root, true)
				}
			case *ListAttr:
				switch x := r.IntN(3); {
				case x == 0 || c.Len() == 0:
					c.Append(g.value(2))
					check(step, "list append", p.root, true)
				case x == 1:
					bury(c.Get(c.Len() - 1))
					c.Pop()
					check(step, "list pop", p.root, true)
				default:
					i := r.IntN(c.Len())
					bury(c.Get(i))
					c.Set(i, g.value(2))
					check(step, "list set", p.root, true)
				}
			}
		case op == 7 && len(places) > 0: // move a container held in a map elsewhere
			var from []place
			for _, p := range places {
				if m, ok := p.c.(*MapAttr); ok {
					for _, k := range m.Keys() {
						if isContainer(m.Get(k)) {
							from = append(from, p)
							break
						}
					}
				}
			}
			// Top-level containers can move too.
			var rootKeys []string
			for _, k := range keys {
				if isContainer(av.Attrs.Get(k)) {
					rootKeys = append(rootKeys, k)
				}
			}
			var moved any
			if len(from) > 0 && r.IntN(2) == 0 {
				p := from[r.IntN(len(from))]
				m := p.c.(*MapAttr)
				var ks []string
				for _, k := range m.Keys() {
					if isContainer(m.Get(k)) {
						ks = append(ks, k)
					}
				}
				k := ks[r.IntN(len(ks))]
				moved = m.Get(k)
				m.Delete(k)
				check(step, "move: delete", p.root, true)
			} else if len(rootKeys) > 0 {
				k := rootKeys[r.IntN(len(rootKeys))]
				moved = av.Attrs.Get(k)
				av.Attrs.Delete(k)
				check(step, "move: root delete", k, true)
			} else {
				continue
			}
			// Place it somewhere in the remaining tree, or at the top.
			targets := containers(av.Attrs)
			if len(targets) == 0 || r.IntN(4) == 0 {
				k := keys[r.IntN(len(keys))]
				bury(av.Attrs.Get(k))
				av.Attrs.Set(k, moved)
				check(step, "move: root place", k, true)
				continue
			}
			p := targets[r.IntN(len(targets))]
			switch c := p.c.(type) {
			case *MapAttr:
				k := genKeys[r.IntN(len(genKeys))]
				bury(c.Get(k))
				c.Set(k, moved)
			case *ListAttr:
				c.Append(moved)
			}
			check(step, "move: place", p.root, true)
		case op == 8 && len(places) > 0: // re-set a container where it is
			p := places[r.IntN(len(places))]
			if m, ok := p.c.(*MapAttr); ok && m.Len() > 0 {
				ks := m.Keys()
				k := ks[r.IntN(len(ks))]
				m.Set(k, m.Get(k))
				check(step, "map re-set", p.root, true)
			} else if l, ok := p.c.(*ListAttr); ok && l.Len() > 0 {
				i := r.IntN(l.Len())
				l.Set(i, l.Get(i))
				check(step, "list re-set", p.root, true)
			}
		default: // change a detached container: nothing is sent
			if len(graveyard) == 0 {
				continue
			}
			d := graveyard[r.IntN(len(graveyard))]
			switch c := d.(type) {
			case *MapAttr:
				c.Set(genKeys[r.IntN(len(genKeys))], g.value(1))
			case *ListAttr:
				c.Append(g.value(1))
			}
			check(step, "detached change", "", false)
		}
	}
	t.Logf("seed %d: steps by kind %v; deepest change path %d; final view %d keys", seed, counts, maxDepth, len(view))
	if maxDepth < 4 {
		t.Errorf("seed %d: the deepest change path was %d long; the generator should nest deeper", seed, maxDepth)
	}
}

// deepEqualValues compares two plain attribute trees strictly: same Go
// types (a float64 on the server must be a float64 on the client).
func deepEqualValues(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !deepEqualValues(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !deepEqualValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y)
	}
	return a == b
}

// typedDump prints a plain tree with the Go type of every leaf.
func typedDump(v any) string {
	switch x := v.(type) {
	case map[string]any:
		ks := make([]string, 0, len(x))
		for k := range x {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		s := "{"
		for _, k := range ks {
			s += k + ":" + typedDump(x[k]) + ", "
		}
		return s + "}"
	case []any:
		s := "["
		for _, e := range x {
			s += typedDump(e) + ", "
		}
		return s + "]"
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

// A float attribute must reach the client as a float, as the client
// package documents (Attrs holds float64 for numbers with a fraction or
// not): a client doing v.(float64) must not break when the value happens
// to be whole.
func TestAttrFloatStaysFloat(t *testing.T) {
	e := newEnv(t)
	av := e.create("Avatar", map[string]any{"hp": 3.0, "inv": map[string]any{"speed": 1.5}})
	ref := ClientRef{Gate: 1, ID: 2}
	e.bind(av, ref.Gate, ref.ID)
	var created createMsg
	for _, m := range clientMsgs(t, e.out.take()) {
		if m.typ == rpc.MsgCreateEntity {
			created = decodeCreate(t, m.body)
		}
	}
	av.Attrs.GetMap("inv").Set("speed", 2.0)
	c := expectOneChange(t, e.out.take(), 1, ref, av.ID())
	if _, ok := c.value.(float64); !ok {
		t.Fatalf("float attribute 2.0 reaches the client as %T", c.value)
	}
	if _, ok := created.attrs["hp"].(float64); !ok {
		t.Fatalf("hp 3.0 in MsgCreateEntity is %T", created.attrs["hp"])
	}
}
