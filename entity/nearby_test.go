package entity

import (
	"maps"
	"slices"
	"testing"

	"github.com/goworld-engine/goworld/rpc"
)

// Herald is a Mover whose client methods are declared.
type Herald struct{ Entity }

func (h *Herald) DescribeEntityType(d *TypeDesc) {
	d.SetAOIRadius(10)
	d.DefineAttr("name", AttrAllClients)
	d.DefineClientMethod("OnWave", int64(0)).Names("times")
}

// clientCopies plays the clients of a test: which entities each holds
// (created and not destroyed), and the calls each got, as
// "entity method". A call for an entity that the client does not hold,
// or a create of one it holds, fails the test.
type clientCopies struct {
	t     *testing.T
	held  map[ClientRef]map[rpc.EntityID]bool
	calls map[ClientRef][]string
}

func newClientCopies(t *testing.T) *clientCopies {
	return &clientCopies{t: t, held: map[ClientRef]map[rpc.EntityID]bool{}, calls: map[ClientRef][]string{}}
}

// holds fails the test unless ref's client holds exactly want.
func (cc *clientCopies) holds(ref ClientRef, want ...*Entity) {
	cc.t.Helper()
	got := map[rpc.EntityID]bool{}
	for _, m := range want {
		got[m.ID()] = true
	}
	if !maps.Equal(cc.held[ref], got) {
		cc.t.Fatalf("client holds %v, want %v", slices.Collect(maps.Keys(cc.held[ref])), slices.Collect(maps.Keys(got)))
	}
}

// crowdScene makes, in e, a zone where a, with client (1, 10) at the
// origin, sees five movers at x = 9, 7, 5, 3, 1 (they enter farthest
// first), syncs once, and returns the client's copies and the entities.
func crowdScene(e *env) (cc *clientCopies, zone, a *Entity, crowd []*Entity) {
	cc = newClientCopies(e.t)
	zone = e.create("Zone", nil)
	a = e.mover("a")
	e.bind(a, 1, 10)
	e.enter(a, zone, 0, 0)
	crowd = make([]*Entity, 5)
	for i := range crowd {
		crowd[i] = e.mover("m")
		e.enter(crowd[i], zone, float32(9-i*2), 0)
	}
	e.eng.Run(e.eng.SyncPositions)
	cc.apply(e.out.take())
	return cc, zone, a, crowd
}

// apply plays frames; it returns the calls they carried, by client.
func (cc *clientCopies) apply(frames []frame) map[ClientRef][]string {
	cc.t.Helper()
	got := map[ClientRef][]string{}
	for _, m := range clientMsgs(cc.t, frames) {
		ref := m.ref()
		if cc.held[ref] == nil {
			cc.held[ref] = map[rpc.EntityID]bool{}
		}
		switch m.typ {
		case rpc.MsgCreateEntity:
			id := decodeCreate(cc.t, m.body).id
			if cc.held[ref][id] {
				cc.t.Fatalf("client %v was created %s, which it holds", ref, id)
			}
			cc.held[ref][id] = true
		case rpc.MsgDestroyEntity:
			delete(cc.held[ref], decodeEntityIDBody(cc.t, m.body))
		case rpc.MsgCallClient:
			r := rpc.NewReader(m.body)
			id, method := r.EntityID(), r.String()
			if r.Err() != nil {
				cc.t.Fatalf("malformed call to %v: %v", ref, r.Err())
			}
			if !cc.held[ref][id] {
				cc.t.Fatalf("client %v got %s on %s, which it does not hold (it holds %v)", ref, method, id, slices.Collect(maps.Keys(cc.held[ref])))
			}
			got[ref] = append(got[ref], string(id)+" "+method)
			cc.calls[ref] = append(cc.calls[ref], string(id)+" "+method)
		}
	}
	return got
}

// TestCallNearbyClients: a call on an entity reaches its own client (or
// not: CallOtherNearbyClients) and the clients of the members that see
// it, once each, as a call on that entity; not a client far away, nor one
// that has not been shown the entity yet; still one whose destroy of it
// waits for the sync.
func TestCallNearbyClients(t *testing.T) {
	e := newSpaceEnv(t)
	cc := newClientCopies(t)
	zone := e.create("Zone", nil)
	a, b, far, npc := e.mover("a"), e.mover("b"), e.mover("far"), e.mover("npc")
	refA, refB, refFar := ClientRef{1, 10}, ClientRef{1, 11}, ClientRef{2, 12}
	e.bind(a, 1, 10)
	e.bind(b, 1, 11)
	e.bind(far, 2, 12)
	e.enter(a, zone, 0, 0)
	e.enter(b, zone, 1, 0)
	e.enter(far, zone, 500, 0)
	e.enter(npc, zone, 2, 0)
	e.eng.Run(e.eng.SyncPositions)
	cc.apply(e.out.take())

	wave := func(fn func(), want map[ClientRef][]string) {
		t.Helper()
		e.eng.Run(fn)
		if got := cc.apply(e.out.take()); !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("calls %v, want %v", got, want)
		}
	}
	callA := []string{string(a.ID()) + " OnWave"}
	wave(func() { a.CallNearbyClients("OnWave", 1) }, map[ClientRef][]string{refA: callA, refB: callA})
	wave(func() { a.CallOtherNearbyClients("OnWave", 1) }, map[ClientRef][]string{refB: callA})
	// An entity without a client: the same to both.
	callNPC := []string{string(npc.ID()) + " OnWave"}
	wave(func() { npc.CallNearbyClients("OnWave") }, map[ClientRef][]string{refA: callNPC, refB: callNPC})
	wave(func() { npc.CallOtherNearbyClients("OnWave") }, map[ClientRef][]string{refA: callNPC, refB: callNPC})

	// b leaves a's view and far comes into it, both since the last sync:
	// b's client still holds a (its destroy waits) and gets the call; far's
	// has not been shown a (its create waits) and does not.
	wave(func() {
		b.SetPosition(Vector3{X: 300})
		far.SetPosition(Vector3{X: -1})
		a.CallOtherNearbyClients("OnWave", 2)
	}, map[ClientRef][]string{refB: callA})
	// After the sync, the views have caught up.
	e.eng.Run(e.eng.SyncPositions)
	cc.apply(e.out.take())
	wave(func() { a.CallOtherNearbyClients("OnWave", 3) }, map[ClientRef][]string{refFar: callA})

	// Out of any space: its own client only.
	e.eng.Run(func() { a.LeaveSpace() })
	cc.apply(e.out.take())
	wave(func() { a.CallNearbyClients("OnWave", 4) }, map[ClientRef][]string{refA: callA})
	wave(func() { a.CallOtherNearbyClients("OnWave", 4) }, map[ClientRef][]string{})
}

// TestCallNearbyClientsChecksDeclarations: with declared client methods,
// an undeclared method, arguments that do not fit, or arguments no
// client can decode are errors, counted and sent to no one, whether the
// entity has a client and watchers or not; a declared call goes out.
func TestCallNearbyClientsChecksDeclarations(t *testing.T) {
	e := newSpaceEnv(t)
	mustRegister(t, e.reg, "Herald", &Herald{})
	cc := newClientCopies(t)
	zone := e.create("Zone", nil)
	h, fan := e.create("Herald", map[string]any{"name": "h"}), e.mover("fan")
	e.bind(fan, 1, 10)
	e.enter(h, zone, 0, 0)
	e.enter(fan, zone, 1, 0)
	e.eng.Run(e.eng.SyncPositions)
	cc.apply(e.out.take())
	for _, bad := range []struct {
		call    func()
		counted bool // a contract error (counted), or only logged
	}{
		{func() { h.CallNearbyClients("OnShout") }, true},                 // not declared
		{func() { h.CallNearbyClients("OnWave", "many") }, true},          // a string for an int64
		{func() { h.CallOtherNearbyClients("OnWave", 1, 2) }, true},       // too many
		{func() { h.CallNearbyClients("OnWave", make(chan int)) }, false}, // no client can decode it
	} {
		n0, _ := e.w.ClientCallErrors()
		e.eng.Run(bad.call)
		if got := cc.apply(e.out.take()); len(got) != 0 {
			t.Fatalf("a bad call was sent: %v", got)
		}
		want := n0
		if bad.counted {
			want++
		}
		if n, last := e.w.ClientCallErrors(); n != want {
			t.Fatalf("client call errors %d after %d (last %q), want %d", n, n0, last, want)
		}
	}
	e.eng.Run(func() { h.CallOtherNearbyClients("OnWave", 7) })
	if got := cc.apply(e.out.take()); !slices.Equal(got[ClientRef{1, 10}], []string{string(h.ID()) + " OnWave"}) {
		t.Fatalf("the declared call reached %v", got)
	}
}

// TestViewLimit: with WorldConfig.ViewLimit, a client in a crowd holds
// the nearest of what its player sees, whatever the order they came in;
// calls near the others do not reach it; and when one comes nearer than
// those it holds, it takes the farthest one's place within a few syncs.
func TestViewLimit(t *testing.T) {
	e := newSpaceEnv(t, func(_ *env, c *WorldConfig) { c.ViewLimit = 2 })
	cc, _, a, crowd := crowdScene(e)
	ref := ClientRef{1, 10}
	holds := func(want ...*Entity) { t.Helper(); cc.holds(ref, want...) }
	holds(a, crowd[4], crowd[3])
	e.eng.Run(func() {
		crowd[0].CallNearbyClients("OnWave", 1)
		crowd[4].CallNearbyClients("OnWave", 1)
	})
	if got, want := cc.apply(e.out.take())[ref], []string{string(crowd[4].ID()) + " OnWave"}; !slices.Equal(got, want) {
		t.Fatalf("calls to the client: %v, want %v", got, want)
	}
	// The farthest comes nearest: within 5 syncs (a limited view chooses
	// at most that often) it replaces the one at 3.
	e.eng.Run(func() { crowd[0].SetPosition(Vector3{X: -0.5}) })
	for range 5 {
		e.eng.Run(e.eng.SyncPositions)
		cc.apply(e.out.take())
	}
	holds(a, crowd[4], crowd[0])
}

// An entity's own view limit (SetViewLimit) bounds its client where the
// world has none, and stays with the entity across a hot reload and a
// migration to another game.
func TestOwnViewLimit(t *testing.T) {
	e := newSpaceEnv(t)
	cc, zone, a, crowd := crowdScene(e)
	ref := ClientRef{1, 10}
	holds := func(want ...*Entity) { t.Helper(); cc.holds(ref, want...) }
	holds(append([]*Entity{a}, crowd...)...) // no limit in this world
	e.eng.Run(func() { a.SetViewLimit(2) })
	e.eng.Run(e.eng.SyncPositions)
	cc.apply(e.out.take())
	holds(a, crowd[4], crowd[3])

	// A hot reload keeps it: the restored client is held to 2 as well.
	f, _ := e.freeze()
	if fe := frozenEntity(t, f, a.ID()); fe.ViewLimit != 2 {
		t.Fatalf("freeze file: view limit %d, want 2", fe.ViewLimit)
	}
	e2 := newEnvWith(t, e.reg, e.clock)
	e2.restore(f)
	a2 := e2.w.Entity(a.ID())
	if l, own := e2.w.Entity(zone.ID()).sp.s.ViewLimit(a2.aoiID); a2.ViewLimit() != 2 || l != 2 || !own {
		t.Fatalf("restored: ViewLimit() %d, the space holds its client to %d (own %v); want 2", a2.ViewLimit(), l, own)
	}
	// Its client's copies go on from what it held; the farthest of the
	// crowd comes nearest, and within 5 syncs takes a place.
	var far *Entity
	e2.eng.Run(func() { far = e2.w.Entity(crowd[0].ID()); far.SetPosition(Vector3{X: -0.5}) })
	for range 5 {
		e2.eng.Run(e2.eng.SyncPositions)
		cc.apply(e2.out.take())
	}
	holds(a, crowd[4], crowd[0])

	// A migration keeps it too.
	e3 := newEnvWith(t, e.reg, e.clock)
	var zone3 *Entity
	e3.eng.Run(func() { zone3, _ = e3.w.CreateSpaceLocally("Zone", nil) })
	e2.eng.Run(func() { a2.SetViewLimit(NoViewLimit) })
	a3 := e2.migrateTo(e3, a2, zone3, 3, 4)
	if a3 == nil || a3.Space() != zone3 {
		t.Fatalf("arrived as %+v", a3)
	}
	if l, own := zone3.sp.s.ViewLimit(a3.aoiID); a3.ViewLimit() != NoViewLimit || l != 0 || !own {
		t.Fatalf("migrated: ViewLimit() %d, the space holds its client to %d (own %v); want none, its own", a3.ViewLimit(), l, own)
	}
}
