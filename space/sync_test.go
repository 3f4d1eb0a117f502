package space

import (
	"errors"
	"slices"
	"testing"

	"github.com/goworld-engine/goworld/aoi"
)

// When a viewer's queued positions exceed its budget, the nearest go
// first.
func TestNearestFirstWhenBudgetBinds(t *testing.T) {
	const limit, n = 8, 40
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: limit})
	s := r.s
	addAs(t, s, 1, 0, 0, 100, true)
	for i := ID(2); i < 2+n; i++ {
		addAs(t, s, i, float64(i)*2, 0, 0, false) // distance 4, 6, ... 82
	}
	r.drain()
	r.checkExact(map[ID]bool{1: true})
	r.pos = map[ID][]ID{}
	for i := ID(2); i < 2+n; i++ {
		must(t, s.Move(i, float64(i)*2, 0.5, true))
	}
	r.sync()
	got := r.pos[1]
	if len(got) != limit {
		t.Fatalf("viewer got %d positions, want its budget of %d", len(got), limit)
	}
	// A quarter of the budget goes to the longest-waiting, the rest to
	// the nearest: the 6 nearest are all sent, whatever the queue order.
	for i := ID(2); i < 2+limit*3/4; i++ {
		if !slices.Contains(got, i) {
			t.Fatalf("the %d nearest were not all sent first: got %v", limit*3/4, got)
		}
	}
	// The rest stay queued and go at the next Syncs, each exactly once.
	r.drain()
	if len(r.pos[1]) != n {
		t.Fatalf("viewer got %d positions in all, want one per mover (%d): %v", len(r.pos[1]), n, r.pos[1])
	}
	slices.Sort(r.pos[1])
	if len(slices.Compact(r.pos[1])) != n {
		t.Fatal("a mover's position was sent twice")
	}
}

// A far neighbour's update goes within a bounded number of Syncs even
// when nearer ones move every Sync and always fill the budget.
func TestFarNeighbourIsNotStarved(t *testing.T) {
	const limit, near = 4, 30
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: limit})
	s := r.s
	addAs(t, s, 1, 0, 0, 100, true)
	for i := ID(2); i < 2+near; i++ {
		addAs(t, s, i, float64(i), 0, 0, false)
	}
	const far = 2 + near
	addAs(t, s, far, 95, 0, 0, false)
	r.drain()
	step := 0.0
	moveNear := func() {
		step = 0.5 - step
		for i := ID(2); i < 2+near; i++ {
			must(t, s.Move(i, float64(i), step, true))
		}
	}
	moveNear()
	r.sync() // 26 near ones stay queued
	must(t, s.Move(far, 95, 1, true))
	r.pos = map[ID][]ID{}
	for syncs := 1; ; syncs++ {
		moveNear()
		r.sync()
		if slices.Contains(r.pos[1], far) {
			// 26 entries were queued ahead of it, and one of the oldest
			// goes at every Sync (a quarter of the budget of 4).
			if syncs <= 5 || syncs > near+1 {
				t.Fatalf("the far neighbour's update came after %d Syncs, want after the nearer ones but within %d", syncs, near+1)
			}
			break
		}
		if syncs > near+1 {
			t.Fatalf("the far neighbour's update has waited %d Syncs", syncs)
		}
		if len(r.pos[1]) != limit*syncs {
			t.Fatalf("after %d Syncs the viewer got %d positions, want the full budget each time", syncs, len(r.pos[1]))
		}
	}
}

// Routing moves spends SyncWork only on watchers with clients: a crowd
// of members without clients, all watching each other and moving, does
// not hold back a viewer's updates.
func TestSyncWorkCountsOnlyViewers(t *testing.T) {
	const n = 600
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: 2 * n, SyncWork: 200})
	s := r.s
	addAs(t, s, 1, 0, 0, 3, true) // sees the members at x <= 3
	for i := ID(2); i < 2+n; i++ {
		addAs(t, s, i, float64(i-2)*0.02, 0, 100, false) // 360,000 watcher pairs among them
	}
	addAs(t, s, 2+n, 5000, 0, 100, true) // another client, alone
	r.drain()
	r.pos = map[ID][]ID{}
	for i := ID(2); i < 2+n; i++ {
		must(t, s.Move(i, float64(i-2)*0.0199, 0, true)) // towards the viewer
	}
	var seen []ID
	s.Neighbors(1, func(t ID) bool { seen = append(seen, t); return true })
	if len(seen) < 100 || len(seen) > 200 {
		t.Fatalf("viewer sees %d members; the test wants 100-200", len(seen))
	}
	r.sync()
	if !sameSet(r.pos[1], seen) {
		t.Fatalf("after one Sync the viewer got %d positions, want the %d members it sees", len(r.pos[1]), len(seen))
	}
	if m, c, p := s.Backlog(); m+c+p != 0 {
		t.Fatalf("backlog after one Sync: %d viewers unrouted, %d creates, %d positions", m, c, p)
	}
}

// SyncTotal is shared evenly: in a crowd where it binds, every viewer
// gets its share in every Sync, not the first ones all and the last none.
func TestSyncTotalIsShared(t *testing.T) {
	const n, total = 100, 1000
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: 64, SyncTotal: total})
	s := r.s
	for i := ID(1); i <= n; i++ {
		addAs(t, s, i, float64(i%10), float64(i/10), 100, true)
	}
	r.drain()
	for range 3 {
		for i := ID(1); i <= n; i++ {
			must(t, s.Move(i, float64(i%10), float64(i/10)+0.5, true))
		}
		r.sync()
		for v := ID(1); v <= n; v++ {
			if r.sent[v] < total/n {
				t.Fatalf("viewer %d was sent %d positions in a Sync, want at least its share of %d", v, r.sent[v], total/n)
			}
		}
	}
}

// One member walking through a crowd that stands still: its move reaches
// every viewer in one Sync, though the viewers' neighbours together are
// far more pairs than SyncWork (routing goes from the mover's side when
// movers are few).
func TestFewMoversAmongManyViewers(t *testing.T) {
	const npc, viewers = 500, 40
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: 1000, SyncWork: 2000})
	s := r.s
	for i := range npc {
		if _, err := s.Add(float64(i%25), float64(i/25), 0, false); err != nil {
			t.Fatal(err)
		}
	}
	vs := map[ID]bool{}
	for i := range viewers {
		id, err := s.Add(float64(i), 30, 100, true)
		must(t, err)
		vs[id] = true
	}
	walker, err := s.Add(10, 10, 0, false)
	must(t, err)
	r.drain()
	r.checkExact(vs)
	for step := range 5 {
		r.pos = map[ID][]ID{}
		must(t, s.Move(walker, 10+float64(step), 10, true))
		r.sync()
		for v := range vs {
			if !slices.Equal(r.pos[v], []ID{walker}) {
				t.Fatalf("step %d: viewer %d got %v, want the walker's position", step, v, r.pos[v])
			}
		}
		if m, c, p := s.Backlog(); m+c+p != 0 {
			t.Fatalf("step %d: backlog %d moves, %d creates, %d positions", step, m, c, p)
		}
	}
	// Everyone moves: routing goes from the viewers' side again, and
	// every viewer still gets every move exactly once.
	r.pos = map[ID][]ID{}
	for id := ID(1); id <= npc+viewers+1; id++ {
		x, z, _ := s.grid.Position(id)
		must(t, s.Move(id, x, z+0.5, true))
	}
	r.drain()
	r.checkExact(vs)
	for v := range vs {
		want := 0
		s.Neighbors(v, func(ID) bool { want++; return true })
		if got := len(r.pos[v]); got != want {
			t.Fatalf("viewer %d got %d positions, want one per neighbour (%d)", v, got, want)
		}
	}
}

// heldBy returns the entities viewer's client holds, sorted.
func heldBy(r *recorder, viewer ID) []ID {
	var got []ID
	for t := range r.views[viewer] {
		got = append(got, t)
	}
	slices.Sort(got)
	return got
}

// With a ViewLimit, a viewer's client holds the nearest of what it sees,
// whatever the order they came in; a nearer one takes the place of the
// farthest at the next choice, unless it is only a little nearer; and
// what the client does not hold is not told of changes.
func TestViewLimitHoldsTheNearest(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 100, ViewLimit: 3})
	s := r.s
	addAs(t, s, 1, 0, 0, 100, true)
	// Farthest first: IDs 2..7 at 60, 50, ..., 10.
	for i := ID(2); i <= 7; i++ {
		addAs(t, s, i, float64(8-i)*10, 0, 0, false)
	}
	r.chooseAll()
	if got, want := heldBy(r, 1), []ID{5, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("client holds %v, want the three nearest %v", got, want)
	}
	s.ShownTo(2, func(v ID) { t.Errorf("ShownTo(2) names %d, whose client does not hold it", v) })
	if _, creates, _ := s.Backlog(); creates != 0 {
		t.Errorf("Backlog counts %d creates that wait only for room", creates)
	}

	// The farthest (2, at 60) comes nearest: it replaces 5 (at 30).
	must(t, s.Move(2, 5, 0, false))
	r.chooseAll()
	if got, want := heldBy(r, 1), []ID{2, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("after 2 came to 5: client holds %v, want %v", got, want)
	}
	// 4 (at 40) comes a little nearer than 6 (at 20): not enough to swap.
	destroys := r.destroys
	must(t, s.Move(4, 19.5, 0, false))
	r.chooseAll()
	r.chooseAll()
	if got, want := heldBy(r, 1), []ID{2, 6, 7}; !slices.Equal(got, want) || r.destroys != destroys {
		t.Fatalf("4 a little nearer than 6: client holds %v after %d destroys, want %v and none", got, r.destroys-destroys, want)
	}
	// Then clearly nearer: it does.
	must(t, s.Move(4, 17, 0, false))
	r.chooseAll()
	if got, want := heldBy(r, 1), []ID{2, 4, 7}; !slices.Equal(got, want) {
		t.Fatalf("4 clearly nearer than 6: client holds %v, want %v", got, want)
	}
	// One it holds leaves its view: the nearest it does not hold takes
	// its place at once (6, at 20), at the Sync that destroys it.
	must(t, s.Move(7, 500, 0, false))
	destroys = r.destroys
	r.sync()
	if got, want := heldBy(r, 1), []ID{2, 4, 6}; !slices.Equal(got, want) || r.destroys != destroys+1 {
		t.Fatalf("after 7 left: client holds %v after %d destroys, want %v after 1", got, r.destroys-destroys, want)
	}
}

// A freeze keeps a limited view as it is: what the client does not hold
// for want of room is pending in the freeze file, and the restored view
// holds the same nearest, with nothing created or destroyed.
func TestRestoreKeepsALimitedView(t *testing.T) {
	cfg := Config{CellSize: 10, ViewLimit: 2}
	r := newRecorder(t, cfg)
	addAs(t, r.s, 1, 0, 0, 10, true)
	for i := ID(2); i <= 6; i++ {
		addAs(t, r.s, i, float64(8-i), 0, 0, false) // at 6, 5, ..., 2
	}
	r.chooseAll()
	held, pending := heldBy(r, 1), r.s.Pending(1)
	if !slices.Equal(held, []ID{5, 6}) || !sameSet(pending, []ID{2, 3, 4}) {
		t.Fatalf("before the freeze: holds %v, pending %v; want [5 6] and [2 3 4]", held, pending)
	}

	r2 := newRecorder(t, cfg)
	for i := ID(1); i <= 6; i++ {
		x, z, _ := r.s.grid.Position(i)
		rad, _ := r.s.grid.Radius(i)
		var p []ID
		if i == 1 {
			p = pending
		}
		got, err := r2.s.Restore(x, z, rad, i == 1, p)
		must(t, err)
		if got != i {
			t.Fatalf("restored as %d, want %d", got, i)
		}
	}
	r2.s.FinishRestore()
	for _, tt := range held {
		r2.view(1)[tt] = true
	}
	r2.chooseAll()
	r2.checkNearest(map[ID]bool{1: true})
	if got := heldBy(r2, 1); !slices.Equal(got, held) || r2.destroys != 0 {
		t.Fatalf("after the restore: holds %v after %d destroys, want %v and none", got, r2.destroys, held)
	}
}

// A member's own view limit (SetViewLimit) overrides the space's, lower,
// higher or none, from the next Sync; 0 gives the space's back; it stays
// with the member while it has no client, and goes with it.
func TestOwnViewLimit(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 100, ViewLimit: 4})
	s := r.s
	addAs(t, s, 1, 0, 0, 100, true)
	for i := ID(2); i <= 7; i++ {
		addAs(t, s, i, float64(8-i)*10, 0, 0, false) // at 60, 50, ..., 10
	}
	r.chooseAll()
	if got, want := heldBy(r, 1), []ID{4, 5, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("with the space's limit: client holds %v, want %v", got, want)
	}
	step := func(n int, want []ID, what string) {
		t.Helper()
		must(t, s.SetViewLimit(1, n))
		r.sync() // one Sync: the view chooses at once
		if got := heldBy(r, 1); !slices.Equal(got, want) {
			t.Fatalf("%s: after one Sync the client holds %v, want %v", what, got, want)
		}
	}
	step(2, []ID{6, 7}, "lowered to 2")
	step(3, []ID{5, 6, 7}, "raised to 3")
	step(-1, []ID{2, 3, 4, 5, 6, 7}, "no limit")
	if l, own := s.ViewLimit(1); l != 0 || !own {
		t.Fatalf("ViewLimit(1) = %d, %v; want 0 (none), its own", l, own)
	}
	step(0, []ID{4, 5, 6, 7}, "the space's again")
	if l, own := s.ViewLimit(1); l != 4 || own {
		t.Fatalf("ViewLimit(1) = %d, %v; want 4, the space's", l, own)
	}

	// Set while it has no client: its next client is held to it.
	s.SetViewer(1, false)
	must(t, s.SetViewLimit(1, 1))
	s.SetViewer(1, true)
	r.sync()
	if got, want := heldBy(r, 1), []ID{7}; !slices.Equal(got, want) {
		t.Fatalf("a new client under its own limit of 1 holds %v, want %v", got, want)
	}
	// Removed, its ID's next member has the space's limit.
	must(t, s.Remove(1))
	addAs(t, s, 1, 0, 0, 100, true)
	if l, own := s.ViewLimit(1); l != 4 || own {
		t.Fatalf("the next member with ID 1 has limit %d, own %v; want 4, the space's", l, own)
	}
	if err := s.SetViewLimit(99, 3); !errors.Is(err, aoi.ErrUnknownID) {
		t.Fatalf("SetViewLimit of no member: %v, want ErrUnknownID", err)
	}
}

// With a ViewLimit, when the budget is smaller than what the client has
// room for, the nearest are created first.
func TestViewLimitCreatesNearestFirst(t *testing.T) {
	r := newRecorder(t, Config{CellSize: 100, ViewLimit: 3, SyncLimit: 1})
	s := r.s
	addAs(t, s, 1, 0, 0, 100, true)
	for i := ID(2); i <= 7; i++ {
		addAs(t, s, i, float64(8-i)*10, 0, 0, false) // at 60, 50, ..., 10
	}
	for _, want := range [][]ID{{7}, {6, 7}, {5, 6, 7}} {
		r.sync()
		if got := heldBy(r, 1); !slices.Equal(got, want) {
			t.Fatalf("client holds %v, want %v", got, want)
		}
	}
}

// Sync reports what a bound made it leave for later: creates and
// positions over a viewer's budget, viewers not routed for want of
// SyncWork; not what waits for room under a ViewLimit.
func TestSyncReportsWhatItDeferred(t *testing.T) {
	const n = 40
	r := newRecorder(t, Config{CellSize: 100, SyncLimit: 8})
	s := r.s
	addAs(t, s, 1, 0, 0, 100, true)
	for i := ID(2); i < 2+n; i++ {
		addAs(t, s, i, float64(i), 0, 0, false)
	}
	r.sync()
	if want := (Deferred{Creates: n - 8}); r.left != want {
		t.Fatalf("first Sync deferred %+v, want %+v", r.left, want)
	}
	r.drain()
	if r.left != (Deferred{}) {
		t.Fatalf("drained, the last Sync deferred %+v", r.left)
	}
	for i := ID(2); i < 2+n; i++ {
		must(t, s.Move(i, float64(i), 1, true))
	}
	r.sync()
	if want := (Deferred{Positions: n - 8}); r.left != want {
		t.Fatalf("Sync after %d moves deferred %+v, want %+v", n, r.left, want)
	}

	// Three viewers that see 39 each, SyncWork 30: one is routed a Sync.
	r = newRecorder(t, Config{CellSize: 100, SyncWork: 30})
	s = r.s
	s.pullOnly = true
	for i := ID(1); i <= n; i++ {
		addAs(t, s, i, float64(i), 0, 100, i <= 3)
	}
	r.drain()
	for i := ID(1); i <= n; i++ {
		must(t, s.Move(i, float64(i), 1, true))
	}
	r.sync()
	if r.left.Routes != 2 {
		t.Fatalf("Sync with work for one viewer of three deferred %+v, want 2 routes", r.left)
	}

	// What waits for room under a ViewLimit is not deferred.
	r = newRecorder(t, Config{CellSize: 100, ViewLimit: 5})
	s = r.s
	addAs(t, s, 1, 0, 0, 100, true)
	for i := ID(2); i < 2+n; i++ {
		addAs(t, s, i, float64(i), 0, 0, false)
	}
	r.sync()
	if r.left != (Deferred{}) {
		t.Fatalf("a limited view's first Sync deferred %+v, want nothing", r.left)
	}
}
