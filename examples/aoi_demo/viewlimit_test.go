package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/examples/aoi_demo/demo"
	"github.com/goworld-engine/goworld/rpc"
)

// keepMargin is the rule a limited view chooses by (package space): it
// keeps an entity its client holds unless one it does not hold is more
// than about 10 % nearer (squared distances: 0.81).
const keepMargin = 0.81

// nearestProblem checks a limited view by its squared distances to what
// it holds and to what it sees and does not hold: it holds min(seen,
// limit), and none it does not hold is nearer than keepMargin allows. It
// returns what is wrong, or "".
func nearestProblem(held, unheld []float64, limit int) string {
	if seen := len(held) + len(unheld); len(held) != min(limit, seen) {
		return fmt.Sprintf("holds %d of the %d entities it sees, limit %d", len(held), seen, limit)
	}
	far := -1.0 // the farthest held, as the game chooses
	for _, d2 := range held {
		far = max(far, keepMargin*d2)
	}
	for _, d2 := range unheld {
		if d2 < far {
			return fmt.Sprintf("does not hold one at distance² %v, but holds one at %v (as chosen)", d2, far/keepMargin)
		}
	}
	return ""
}

// TestViewLimitInACrowd: with aoi_view_limit, real clients standing within
// sight of more players than the limit each hold only the limit (or the
// lower one a player asked for: LimitView), the nearest (within the
// margin that keeps a held one), and never more at any moment; a hot
// reload keeps the limited views as they are (nothing created or
// destroyed), the player's own limit included; a player who walks up to
// another afterwards takes the place of the farthest in its view; and a
// player's own limit, lowered or given back, applies at once.
func TestViewLimitInACrowd(t *testing.T) {
	const limit = 3
	addr, dir := startClusterDir(t, fmt.Sprintf("aoi_view_limit = %d", limit))
	ctl, _ := binaries(t)
	h := newHub()
	// Along a line, the gaps growing: 1000, 1010, 1023, 1040, 1062, 1090,
	// 1126 (the ends are out of each other's sight, radius 100).
	xs := []float32{1000, 1010, 1023, 1040, 1062, 1090, 1126}
	ps := make([]*player, len(xs))
	for i := range ps {
		ps[i] = join(t, h, addr, fmt.Sprintf("p%d", i), i%2 == 1)
	}
	limits := make([]int, len(ps)) // what each player's client may hold
	for i, p := range ps {
		p.move(xs[i], 1000)
		p.sync()
		limits[i] = limit
	}
	// p1 asks for fewer (demo.Player.LimitView: Entity.SetViewLimit).
	setLimit := func(i, n int) {
		t.Helper()
		if err := ps[i].c.CallPlayer("LimitView", n); err != nil {
			t.Fatal(err)
		}
		ps[i].sync()
		limits[i] = n
		if n == 0 {
			limits[i] = limit
		}
	}
	setLimit(1, 2)
	// A view is right when it holds min(limit, seen) players it sees, and
	// none it does not hold is clearly nearer than one it holds.
	wrong := func(i int) string {
		p := ps[i]
		d2 := func(q *player) float64 {
			dx, dz := float64(q.pos.X)-float64(p.pos.X), float64(q.pos.Z)-float64(p.pos.Z)
			return dx*dx + dz*dz
		}
		var held, unheld []float64
		for j, q := range ps {
			if j == i || d2(q) > demo.AOIRadius*demo.AOIRadius {
				continue
			}
			e, ok := p.c.Entity(q.id)
			switch {
			case ok && e.Pos != q.pos:
				return fmt.Sprintf("holds %s at %v, not at %v", q.name, e.Pos, q.pos)
			case ok:
				held = append(held, d2(q))
			default:
				unheld = append(unheld, d2(q))
			}
		}
		if n := len(p.c.Entities()) - 1; n != len(held) {
			return fmt.Sprintf("holds %d entities besides its player, %d of them players it sees", n, len(held))
		}
		return nearestProblem(held, unheld, limits[i])
	}
	converged := func(what string) {
		t.Helper()
		if !h.wait(func() bool {
			for i := range ps {
				if wrong(i) != "" {
					return false
				}
			}
			return true
		}) {
			for i, p := range ps {
				if w := wrong(i); w != "" {
					t.Errorf("%s at %v: %s", p.name, p.pos, w)
				}
			}
			t.Fatalf("%s: the limited views did not settle within %v", what, waitTimeout)
		}
	}
	converged("standing in a line")
	// The client's view is updated on its reader before the event reaches
	// the test's pump: wait until the events replay to the views, so that
	// no event of before the reload is counted after the marks.
	h.waitUntil(t, "the events to catch up with the views", func() bool {
		for _, p := range ps {
			view, _, err := replayEvents(p, p.mark()) // all loosely
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if len(view) != len(p.c.Entities())-1 {
				return false
			}
			for id := range view {
				if _, ok := p.c.Entity(id); !ok {
					return false
				}
			}
		}
		return true
	})

	marks := make([]int, len(ps))
	for i, p := range ps {
		marks[i] = p.mark()
	}
	out, errOut, code := runCmd(t, ctl, "reload", "-no-build", dir)
	if code != 0 || !strings.Contains(out, "reloaded game1") {
		t.Fatalf("goworldctl reload: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, p := range ps {
		p.sync() // through the restored game
	}
	for i, p := range ps {
		for _, ev := range p.since(marks[i]) {
			switch ev := ev.(type) {
			case client.EntityCreated, client.EntityDestroyed, client.Disconnected:
				t.Fatalf("%s, across the reload: %T %+v", p.name, ev, ev)
			}
		}
	}

	// The last walks up to the first: p0's view takes it in, in place of
	// its farthest.
	ps[6].move(1001, 1001)
	ps[6].sync()
	converged("after p6 walked up to p0")
	if !ps[0].sees(ps[6]) {
		t.Fatal("p0 does not hold p6, its nearest")
	}
	// p0 asks for one only, then for the game's limit again.
	setLimit(0, 1)
	converged("p0 asked for 1")
	setLimit(0, 0)
	converged("p0 asked for the game's limit again")
	// A limit out of range is refused.
	m := ps[0].mark()
	if err := ps[0].c.CallPlayer("LimitView", 201); err != nil {
		t.Fatal(err)
	}
	ps[0].await("the refusal of a view limit of 201", m, func(ev client.Event) bool {
		c, ok := ev.(client.Call)
		return ok && c.Method == "OnError" && len(c.Args) == 1 && strings.Contains(fmt.Sprint(c.Args[0]), "view limit")
	})

	// Replayed, no client's events ever had it hold more than the limit.
	for _, p := range ps {
		view, most := map[rpc.EntityID]bool{}, 0
		for _, ev := range p.since(0) {
			switch ev := ev.(type) {
			case client.EntityCreated:
				if ev.ID != p.id {
					view[ev.ID] = true
					most = max(most, len(view))
				}
			case client.EntityDestroyed:
				delete(view, ev.ID)
			}
		}
		if most > limit {
			t.Errorf("%s held %d entities at once besides its player, limit %d", p.name, most, limit)
		}
	}
}
