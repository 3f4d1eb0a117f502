package entity

import (
	"slices"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// viewModel plays one client: it applies the frames sent to it and fails
// the test on any that breaks the protocol's rules for a view (docs/
// protocol.md 12): a create of an entity it holds, a destroy, a change
// or a position of one it does not hold, a space message while it holds
// entities (it is told to destroy them first). It keeps the name
// attribute of each entity it holds.
type viewModel struct {
	t      *testing.T
	ref    ClientRef
	player rpc.EntityID
	held   map[rpc.EntityID]string
	// Counts of what it was sent.
	creates, destroys int
}

func newViewModel(t *testing.T, ref ClientRef, player rpc.EntityID) *viewModel {
	return &viewModel{t: t, ref: ref, player: player, held: map[rpc.EntityID]string{}}
}

func (m *viewModel) apply(frames []frame) {
	m.t.Helper()
	for _, c := range clientMsgs(m.t, frames) {
		if c.ref() != m.ref {
			continue
		}
		switch c.typ {
		case rpc.MsgCreateEntity:
			cr := decodeCreate(m.t, c.body)
			if cr.id == m.player {
				continue
			}
			if _, ok := m.held[cr.id]; ok {
				m.t.Fatalf("client %v: create of %s, which it holds", m.ref, cr.id)
			}
			name, _ := cr.attrs["name"].(string)
			m.held[cr.id] = name
			m.creates++
		case rpc.MsgDestroyEntity:
			id := decodeEntityIDBody(m.t, c.body)
			if id == m.player {
				continue
			}
			if _, ok := m.held[id]; !ok {
				m.t.Fatalf("client %v: destroy of %s, which it does not hold", m.ref, id)
			}
			delete(m.held, id)
			m.destroys++
		case rpc.MsgAttrChange:
			ch := decodeAttrChange(m.t, c.body)
			if ch.id == m.player {
				continue
			}
			if _, ok := m.held[ch.id]; !ok {
				m.t.Fatalf("client %v: change of %s, which it does not hold", m.ref, ch.id)
			}
			if len(ch.path) == 1 && ch.path[0] == "name" {
				m.held[ch.id], _ = ch.value.(string)
			}
		case rpc.MsgPositions:
			r := rpc.NewReader(c.body)
			n := int(r.Uint16())
			for range n {
				id := r.EntityID()
				r.Position()
				if _, ok := m.held[id]; !ok && id != m.player {
					m.t.Fatalf("client %v: position of %s, which it does not hold", m.ref, id)
				}
			}
			if r.Err() != nil || len(r.Rest()) != 0 {
				m.t.Fatalf("client %v: malformed positions (%v)", m.ref, r.Err())
			}
		case rpc.MsgEnterSpace:
			if len(m.held) != 0 {
				m.t.Fatalf("client %v: space message while it holds %v", m.ref, m.held)
			}
		}
	}
}

// names returns the names of what the client holds, sorted.
func (m *viewModel) names() []string {
	var out []string
	for _, n := range m.held {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// want fails unless the client holds exactly the named entities.
func (m *viewModel) want(names ...string) {
	m.t.Helper()
	slices.Sort(names)
	if got := m.names(); !slices.Equal(got, names) {
		m.t.Fatalf("client %v holds %v, want %v", m.ref, got, names)
	}
}

// Hooky is a Mover whose OnLeaveAOI does what its "onleave" attribute
// says: "destroy" the one that left, or "leave" the space itself.
type Hooky struct{ Entity }

func (h *Hooky) DescribeEntityType(d *TypeDesc) {
	d.SetAOIRadius(10)
	d.DefineAttr("name", AttrAllClients)
	d.DefineAttr("onleave", 0)
}

func (h *Hooky) OnLeaveAOI(o *Entity) {
	switch h.Attrs.GetString("onleave") {
	case "destroy":
		o.Destroy()
	case "leave":
		h.LeaveSpace()
	}
}

// viewEnv is a zone, a watcher a (a Hooky with a client at 0, 0) and
// movers b and c in its view, after a sync shows them to a's client.
func viewEnv(t *testing.T, onleave string) (e *env, zone, a, b, c *Entity, m *viewModel) {
	t.Helper()
	e = newSpaceEnv(t)
	mustRegister(t, e.reg, "Hooky", &Hooky{})
	zone = e.create("Zone", nil)
	a = e.create("Hooky", map[string]any{"name": "a", "onleave": onleave})
	b, c = e.mover("b"), e.mover("c")
	ref := ClientRef{1, 10}
	e.bind(a, ref.Gate, ref.ID)
	m = newViewModel(t, ref, a.ID())
	e.enter(a, zone, 0, 0)
	e.enter(b, zone, 1, 0)
	e.enter(c, zone, -1, 0)
	e.eng.Run(e.eng.SyncPositions)
	m.apply(e.out.take())
	m.want("b", "c")
	return e, zone, a, b, c, m
}

// An entity destroyed by an AOI hook, at the move that took it out of a
// client's view (its destroy waiting for the sync), is destroyed on the
// client once; a newcomer that takes its AOI ID in the same interval is
// created at the sync, and nothing stale of the old one reaches it.
func TestAOIHookDestroysWhileDestroyWaits(t *testing.T) {
	e, zone, _, b, _, m := viewEnv(t, "destroy")
	old := b.aoiID
	e.eng.Run(func() { b.SetPosition(Vector3{X: 50}) }) // a's hook destroys b
	if !b.destroyed {
		t.Fatal("the hook did not destroy b")
	}
	m.apply(e.out.take())
	m.want("c")
	d := e.mover("d")
	e.enter(d, zone, 2, 0)
	if d.aoiID != old {
		t.Fatalf("test setup: d got AOI ID %d, not b's %d", d.aoiID, old)
	}
	e.eng.Run(e.eng.SyncPositions)
	m.apply(e.out.take())
	m.want("c", "d")
	if m.destroys != 1 || m.creates != 3 {
		t.Fatalf("a's client got %d destroys and %d creates, want 1 and 3", m.destroys, m.creates)
	}
}

// A watcher that leaves the space in its own OnLeaveAOI: its client is
// told to destroy everything it holds (what waited included) before it
// hears it is in no space, once each.
func TestAOIHookLeavesSpaceWhileDestroyWaits(t *testing.T) {
	e, _, a, b, _, m := viewEnv(t, "leave")
	e.eng.Run(func() { b.SetPosition(Vector3{X: 50}) })
	if a.Space() != nil {
		t.Fatal("a's hook did not take it out of the space")
	}
	m.apply(e.out.take())
	m.want()
	e.eng.Run(e.eng.SyncPositions)
	m.apply(e.out.take())
	if m.destroys != 2 {
		t.Fatalf("a's client got %d destroys, want 2", m.destroys)
	}
}

// A space destroyed while a client's destroys wait: each entity it held
// is destroyed on it once, before it hears it is in no space.
func TestSpaceDestroyedWhileDestroyWaits(t *testing.T) {
	e, zone, a, b, _, m := viewEnv(t, "")
	e.eng.Run(func() { b.SetPosition(Vector3{X: 50}) })
	e.eng.Run(zone.Destroy)
	m.apply(e.out.take())
	m.want()
	if a.Space() != nil || m.destroys != 2 {
		t.Fatalf("after the space's destroy: a in %v, %d destroys (want 2)", a.Space(), m.destroys)
	}
	e.eng.Run(e.eng.SyncPositions)
	m.apply(e.out.take())
}

// An entity that migrates to another game while a client's destroy of
// it waits is destroyed there once, at once; and a watcher that
// migrates while its own destroys wait sends them all first.
func TestMigrationWhileDestroyWaits(t *testing.T) {
	e, _, a, b, c, m := viewEnv(t, "")
	e.eng.Run(func() { b.SetPosition(Vector3{X: 50}) })
	e.enter(b, &Entity{id: rpc.NewEntityID()}, 0, 0) // a space elsewhere: b migrates
	m.apply(e.out.take())
	m.want("c")
	e.eng.Run(func() { c.SetPosition(Vector3{X: -50}) })
	e.enter(a, &Entity{id: rpc.NewEntityID()}, 0, 0)
	m.apply(e.out.take())
	m.want()
	if m.destroys != 2 {
		t.Fatalf("a's client got %d destroys, want 2", m.destroys)
	}
}

// A client unbound and bound again within one interval, while its
// destroy of an entity waits and that entity comes back: the unbinding
// destroys everything at once, and the sync creates what it sees anew,
// with its current state.
func TestClientRebindWithinInterval(t *testing.T) {
	e, _, a, b, _, m := viewEnv(t, "")
	ref := m.ref
	e.eng.Run(func() {
		b.SetPosition(Vector3{X: 50}) // a's destroy of b waits
		a.setClient(nil)
	})
	m.apply(e.out.take())
	m.want()
	e.eng.Run(func() {
		a.setClient(&ref)
		b.Attrs.Set("name", "b2")
		b.SetPosition(Vector3{X: 2}) // back
	})
	m.apply(e.out.take())
	m.want()
	e.eng.Run(e.eng.SyncPositions)
	m.apply(e.out.take())
	m.want("b2", "c")
	if m.destroys != 2 || m.creates != 4 {
		t.Fatalf("a's client got %d destroys and %d creates, want 2 and 4", m.destroys, m.creates)
	}
}
