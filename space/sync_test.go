package space

import (
	"slices"
	"testing"
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
