package aoi

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// newRecGrid returns a grid whose callbacks are recorded.
func newRecGrid(cell float64) (*Grid, *recorder) {
	rec := &recorder{}
	return NewGrid(cell, rec), rec
}

func enter(w, t ID) event { return event{w, t, true} }
func leave(w, t ID) event { return event{w, t, false} }

func expect(t *testing.T, rec *recorder, want ...event) {
	t.Helper()
	if !slices.Equal(rec.evs, want) && !(len(rec.evs) == 0 && len(want) == 0) {
		t.Fatalf("callbacks:\n got  %v\n want %v", fmtEvents(rec.evs), fmtEvents(want))
	}
	rec.evs = rec.evs[:0]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func neighbors(g *Grid, id ID) []ID {
	var ids []ID
	g.Neighbors(id, func(t ID) bool { ids = append(ids, t); return true })
	slices.Sort(ids)
	return ids
}

func watchers(g *Grid, id ID) []ID {
	var ids []ID
	g.Watchers(id, func(t ID) bool { ids = append(ids, t); return true })
	slices.Sort(ids)
	return ids
}

func TestErrors(t *testing.T) {
	g, rec := newRecGrid(10)
	must(t, g.Insert(1, 0, 0, 5))
	must(t, g.Insert(2, 3, 0, 5))
	expect(t, rec, enter(1, 2), enter(2, 1))
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"insert duplicate", g.Insert(1, 100, 100, 1), ErrDuplicateID},
		{"insert NaN x", g.Insert(3, nan, 0, 1), ErrInvalidPosition},
		{"insert NaN z", g.Insert(3, 0, nan, 1), ErrInvalidPosition},
		{"insert +Inf x", g.Insert(3, inf, 0, 1), ErrInvalidPosition},
		{"insert -Inf z", g.Insert(3, 0, -inf, 1), ErrInvalidPosition},
		{"insert negative radius", g.Insert(3, 0, 0, -1), ErrInvalidRadius},
		{"insert NaN radius", g.Insert(3, 0, 0, nan), ErrInvalidRadius},
		{"insert -0.0001 radius", g.Insert(3, 0, 0, -0.0001), ErrInvalidRadius},
		{"move unknown", g.Move(3, 0, 0), ErrUnknownID},
		{"move NaN", g.Move(1, nan, 0), ErrInvalidPosition},
		{"move Inf", g.Move(1, 0, inf), ErrInvalidPosition},
		{"set radius unknown", g.SetRadius(3, 1), ErrUnknownID},
		{"set radius negative", g.SetRadius(1, -1), ErrInvalidRadius},
		{"set radius NaN", g.SetRadius(1, nan), ErrInvalidRadius},
		{"set radius -Inf", g.SetRadius(1, -inf), ErrInvalidRadius},
		{"remove unknown", g.Remove(3), ErrUnknownID},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, c.err, c.want)
		}
	}
	for _, c := range cases[:3] {
		t.Logf("%s: %v", c.name, c.err)
	}
	if got, want := g.Move(1, math.NaN(), 2).Error(), "aoi: move 1 (NaN, 2): coordinate is NaN or infinite"; got != want {
		t.Errorf("error text %q, want %q", got, want)
	}
	// Nothing changed.
	expect(t, rec)
	if g.Len() != 2 {
		t.Fatalf("Len %d", g.Len())
	}
	if x, z, ok := g.Position(1); !ok || x != 0 || z != 0 {
		t.Fatalf("Position(1) = %v, %v, %v", x, z, ok)
	}
	if r, ok := g.Radius(1); !ok || r != 5 {
		t.Fatalf("Radius(1) = %v, %v", r, ok)
	}
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
	// A removed ID is unknown, and can be inserted again.
	must(t, g.Remove(2))
	expect(t, rec, leave(1, 2), leave(2, 1))
	if err := g.Remove(2); !errors.Is(err, ErrUnknownID) {
		t.Fatalf("second remove: %v", err)
	}
	must(t, g.Insert(2, 0, 0, 0))
	expect(t, rec, enter(1, 2), enter(2, 1))
}

func TestNewGridPanics(t *testing.T) {
	for _, size := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1), 1e-310} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewGrid(%v) did not panic", size)
				}
			}()
			NewGrid(size, nil)
		}()
	}
}

func TestBoundaryIsVisible(t *testing.T) {
	g, rec := newRecGrid(5)
	must(t, g.Insert(1, 0, 0, 5))
	must(t, g.Insert(2, 3, 4, 0)) // distance exactly 5
	expect(t, rec, enter(1, 2))
	must(t, g.Move(2, 3, 4.000001))
	expect(t, rec, leave(1, 2))
	must(t, g.Move(2, -3, -4))
	expect(t, rec, enter(1, 2))
	must(t, g.SetRadius(1, 4.999999))
	expect(t, rec, leave(1, 2))
	must(t, g.SetRadius(1, 5))
	expect(t, rec, enter(1, 2))
	// Along an axis, across several cells.
	must(t, g.Insert(3, 100, 0, 12))
	must(t, g.Insert(4, 112, 0, 0))
	expect(t, rec, enter(3, 4))
}

func TestRadiusZeroSeesSameSpot(t *testing.T) {
	g, rec := newRecGrid(1)
	must(t, g.Insert(1, 7, 7, 0))
	must(t, g.Insert(2, 7, 7, 0))
	expect(t, rec, enter(1, 2), enter(2, 1))
	must(t, g.Move(2, 7, 7.0000001))
	expect(t, rec, leave(1, 2), leave(2, 1))
}

func TestAsymmetricRadii(t *testing.T) {
	g, rec := newRecGrid(10)
	must(t, g.Insert(1, 0, 0, 10))
	must(t, g.Insert(2, 5, 0, 1))
	expect(t, rec, enter(1, 2))
	if !g.Sees(1, 2) || g.Sees(2, 1) {
		t.Fatalf("Sees(1,2)=%v Sees(2,1)=%v", g.Sees(1, 2), g.Sees(2, 1))
	}
	if got := neighbors(g, 1); !slices.Equal(got, []ID{2}) {
		t.Fatalf("Neighbors(1) = %v", got)
	}
	if got := neighbors(g, 2); len(got) != 0 {
		t.Fatalf("Neighbors(2) = %v", got)
	}
	if got := watchers(g, 2); !slices.Equal(got, []ID{1}) {
		t.Fatalf("Watchers(2) = %v", got)
	}
	must(t, g.SetRadius(2, 5))
	expect(t, rec, enter(2, 1))
	// Moving 1 away: 2 loses 1 first (radius 5), then 1 loses 2.
	must(t, g.Move(1, -1, 0))
	expect(t, rec, leave(2, 1))
	must(t, g.Move(1, -5.5, 0))
	expect(t, rec, leave(1, 2))
}

func TestNegativeCoordinates(t *testing.T) {
	g, rec := newRecGrid(1)
	// Cells -1 and 0 on both axes; floor, not truncation, must be used.
	must(t, g.Insert(1, -0.5, -0.5, 1.5))
	must(t, g.Insert(2, 0.5, 0.5, 1.5))
	expect(t, rec, enter(1, 2), enter(2, 1))
	must(t, g.Insert(3, -2.5, -0.5, 1))
	expect(t, rec)
	must(t, g.Move(3, -1.5, -0.5))
	expect(t, rec, enter(1, 3), enter(3, 1))
	must(t, g.Move(1, -1e6, -1e6))
	expect(t, rec, leave(1, 2), leave(1, 3), leave(2, 1), leave(3, 1))
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
}

func TestCellsFarApart(t *testing.T) {
	g, rec := newRecGrid(10)
	must(t, g.Insert(1, 1e9, -1e9, 10))
	must(t, g.Insert(2, -1e9, 1e9, 10))
	must(t, g.Insert(3, 1e9+6, -1e9+8, 10))
	expect(t, rec, enter(1, 3), enter(3, 1))
	// Teleport across the world.
	must(t, g.Move(3, -1e9-6, 1e9-8))
	expect(t, rec, leave(1, 3), leave(3, 1), enter(2, 3), enter(3, 2))
	// Beyond the 32-bit cell range positions share the edge cells, and
	// everything still works.
	must(t, g.Insert(4, 1e300, 1e300, 1))
	must(t, g.Insert(5, 1e300, 1e300, 0))
	must(t, g.Insert(6, 2e300, 1e300, 1e100))
	expect(t, rec, enter(4, 5), enter(5, 4))
	must(t, g.Insert(7, 1e15, 1e15, 1))
	expect(t, rec)
	// A radius whose square overflows (above about 1.34e154) sees every
	// entity, like +Inf: the squared distances overflow to +Inf at worst.
	must(t, g.Insert(8, -1.7e308, 0, 1e155))
	expect(t, rec, enter(8, 1), enter(8, 2), enter(8, 3), enter(8, 4), enter(8, 5), enter(8, 6), enter(8, 7))
	must(t, g.Insert(9, 1.7e308, 0, math.Inf(1)))
	expect(t, rec, enter(8, 9), enter(9, 1), enter(9, 2), enter(9, 3), enter(9, 4), enter(9, 5), enter(9, 6), enter(9, 7), enter(9, 8))
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
}

func TestLargeRadius(t *testing.T) {
	g, rec := newRecGrid(1)
	must(t, g.Insert(1, 0, 0, 1000))
	must(t, g.Insert(2, 700, -700, 0))
	expect(t, rec, enter(1, 2))
	must(t, g.Move(2, 800, -700))
	expect(t, rec, leave(1, 2))
	// The moving target finds the big watcher too.
	must(t, g.Insert(3, 0, 999, 0.5))
	expect(t, rec, enter(1, 3))
	must(t, g.SetRadius(1, 1.5)) // big to small
	expect(t, rec, leave(1, 3))
	must(t, g.Move(3, 0.5, 1))
	expect(t, rec, enter(1, 3))
	must(t, g.SetRadius(3, 2)) // small to its class limit
	expect(t, rec, enter(3, 1))
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveBothDirections(t *testing.T) {
	g, rec := newRecGrid(10)
	must(t, g.Insert(5, 0, 0, 10)) // sees 1, 3, 9; seen by 1 and 9
	must(t, g.Insert(1, 1, 0, 2))
	must(t, g.Insert(3, 5, 0, 1))
	must(t, g.Insert(9, 0, 9, 9))
	rec.evs = nil
	must(t, g.Remove(5))
	expect(t, rec, leave(1, 5), leave(5, 1), leave(5, 3), leave(5, 9), leave(9, 5))
	if g.Len() != 3 || g.Sees(9, 5) {
		t.Fatal("5 is still there")
	}
	if _, _, ok := g.Position(5); ok {
		t.Fatal("Position(5) ok")
	}
}

func TestOrder(t *testing.T) {
	g, rec := newRecGrid(10)
	must(t, g.Insert(10, 0, 0, 3))
	must(t, g.Insert(30, 2, 0, 3))
	must(t, g.Insert(20, 20, 0, 3))
	must(t, g.Insert(40, 22, 0, 3))
	rec.evs = nil
	// Leaves first, then enters; each sorted by watcher, then target.
	must(t, g.Move(10, 21, 0))
	expect(t, rec, leave(10, 30), leave(30, 10), enter(10, 20), enter(10, 40), enter(20, 10), enter(40, 10))
}

type reentrant struct {
	g    *Grid
	errs []error
	seen [][]ID
}

func (r *reentrant) Enter(w, t ID) {
	r.errs = append(r.errs, r.g.Move(w, 0, 0), r.g.Insert(99, 0, 0, 1), r.g.Remove(t), r.g.SetRadius(w, 1))
	r.seen = append(r.seen, neighbors(r.g, w))
}
func (r *reentrant) Leave(w, t ID) {}

func TestReentrantCallsAreRefused(t *testing.T) {
	r := &reentrant{}
	r.g = NewGrid(10, r)
	must(t, r.g.Insert(1, 0, 0, 5))
	must(t, r.g.Insert(2, 1, 0, 0))
	must(t, r.g.Insert(3, 2, 0, 0))
	for _, err := range r.errs {
		if !errors.Is(err, ErrReentrant) {
			t.Fatalf("error %v, want ErrReentrant", err)
		}
	}
	// Callbacks see the grid after the whole operation.
	if want := [][]ID{{2}, {2, 3}}; !slices.EqualFunc(r.seen, want, slices.Equal) {
		t.Fatalf("Neighbors from the callbacks: %v, want %v", r.seen, want)
	}
	var err error
	r.g.Neighbors(1, func(ID) bool { err = r.g.Remove(2); return false })
	if !errors.Is(err, ErrReentrant) {
		t.Fatalf("Remove from Neighbors: %v", err)
	}
	r.g.Watchers(2, func(ID) bool { err = r.g.Move(2, 5, 5); return true })
	if !errors.Is(err, ErrReentrant) {
		t.Fatalf("Move from Watchers: %v", err)
	}
	must(t, r.g.Remove(2)) // usable again
	if err := checkInvariants(r.g); err != nil {
		t.Fatal(err)
	}
}

func TestPanickingCallback(t *testing.T) {
	calls := 0
	g := NewGrid(10, Funcs{OnEnter: func(w, t ID) {
		calls++
		panic("boom")
	}})
	must(t, g.Insert(1, 0, 0, 5))
	func() {
		defer func() { recover() }()
		g.Insert(2, 1, 0, 5)
	}()
	if calls != 1 {
		t.Fatalf("%d calls", calls)
	}
	// The grid was updated before the calls: it is consistent and usable;
	// the undelivered Enter(2, 1) is lost.
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
	if !g.Sees(1, 2) || !g.Sees(2, 1) {
		t.Fatal("pairs missing")
	}
	g.cb = nil
	must(t, g.Move(2, 50, 50))
}

func TestFuncsNil(t *testing.T) {
	var left []event
	g := NewGrid(10, Funcs{OnLeave: func(w, t ID) { left = append(left, leave(w, t)) }})
	must(t, g.Insert(1, 0, 0, 5))
	must(t, g.Insert(2, 1, 0, 5))
	must(t, g.Remove(1))
	if !slices.Equal(left, []event{leave(1, 2), leave(2, 1)}) {
		t.Fatalf("%v", left)
	}
	g = NewGrid(10, nil)
	must(t, g.Insert(1, 0, 0, 5))
	must(t, g.Insert(2, 1, 0, 5))
	if !g.Sees(1, 2) {
		t.Fatal("no pair without callbacks")
	}
}

func TestNeighborsStops(t *testing.T) {
	g := NewGrid(10, nil)
	for i := range ID(10) {
		must(t, g.Insert(i, float64(i), 0, 100))
	}
	n := 0
	g.Neighbors(0, func(ID) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("%d calls", n)
	}
	g.Neighbors(77, func(ID) bool { t.Fatal("called for unknown ID"); return true })
	g.Watchers(77, func(ID) bool { t.Fatal("called for unknown ID"); return true })
	if g.Sees(0, 77) || g.Sees(77, 0) {
		t.Fatal("Sees with an unknown ID")
	}
}

func TestMoveWithinCellDoesNotAllocate(t *testing.T) {
	g := NewGrid(100, Funcs{})
	for i := range ID(50) {
		must(t, g.Insert(i, float64(i%7)*13, float64(i/7)*13, 100))
	}
	x := 0.0
	allocs := testing.AllocsPerRun(1000, func() {
		x = 50 - x // 0 <-> 50: same cell, same neighbours
		g.Move(1, 1+x, 1)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per move", allocs)
	}
}

// TestCrowdHoldsNoPairs: a crowd where everyone sees everyone holds
// memory linear in its size (the grid stores no pairs), and dispersing it
// leaves no empty cells behind beyond the bound tidy keeps.
func TestCrowdHoldsNoPairs(t *testing.T) {
	const n = 2000
	g := NewGrid(10, nil)
	for i := range ID(n) {
		must(t, g.Insert(i, float64(i%10)*0.1, 0, 5))
	}
	entries := func() int {
		k := 0
		for _, c := range g.cells {
			k += cap(c.slots) + cap(c.wide)
		}
		for _, e := range g.all {
			k += cap(e.cover)
		}
		return k
	}
	if got := len(neighbors(g, 7)); got != n-1 {
		t.Fatalf("%d neighbours, want %d", got, n-1)
	}
	if k := entries(); k > 4*n {
		t.Fatalf("%d stored entries for %d entities", k, n)
	}
	for i := range ID(n) {
		must(t, g.Move(i, float64(i)*100+1000, float64(i)*7))
	}
	if len(neighbors(g, 7)) != 0 || len(watchers(g, 7)) != 0 {
		t.Fatal("pairs after dispersal")
	}
	if len(g.cells) > 2*n+64 {
		t.Fatalf("%d cells for %d entities", len(g.cells), n)
	}
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
}

// TestWideRadiusCostsOnlyItself: the same 3,000 moves of small entities
// compare about as many entries whatever wide entities share the grid:
// one of radius 199 (which once widened every search to two cells), one
// of ten cells, one of a million cells and one of +Inf. Each of those
// adds at most one entry per wide list a move reads (the cell it leaves
// and the one it enters, at two levels), not a wider search.
func TestWideRadiusCostsOnlyItself(t *testing.T) {
	const n, moves = 2000, 3000
	run := func(wide []float64) int {
		g := NewGrid(100, nil)
		rng := rand.New(rand.NewPCG(5, 6))
		for i := range ID(n) {
			must(t, g.Insert(i, rng.Float64()*3000, rng.Float64()*3000, 100))
		}
		for i, r := range wide {
			must(t, g.Insert(ID(n+i), 1500, 1500, r))
		}
		before := g.compared
		for range moves {
			id := ID(rng.IntN(n))
			x, z, _ := g.Position(id)
			must(t, g.Move(id, x+rng.Float64()*40-20, z+rng.Float64()*40-20))
		}
		if err := checkInvariants(g); err != nil {
			t.Fatal(err)
		}
		return g.compared - before
	}
	alone := run(nil)
	for _, wide := range [][]float64{{199}, {1000}, {1e8}, {math.Inf(1)}, {199, 1000, 1e8, math.Inf(1)}} {
		got := run(wide)
		t.Logf("radii %v: %d entries compared, %d without", wide, got, alone)
		if got > alone+4*moves {
			t.Errorf("radii %v: %d entries compared, %d without them", wide, got, alone)
		}
	}
	// The check can fail: a search widened to two cells compares about
	// 25/9 as much.
	if alone < 2*moves {
		t.Fatalf("only %d entries compared for %d moves", alone, moves)
	}
}

// TestWideMoveSearchesItsEdge: a wide entity's move compares only the
// entries of the cells its circle crosses (before or after) and of those
// near enough for a small entity to see it, not its whole square, and
// what it sees stays exact.
func TestWideMoveSearchesItsEdge(t *testing.T) {
	var enters, leaves int
	g := NewGrid(10, Funcs{
		OnEnter: func(w, _ ID) {
			if w == 0 {
				enters++
			}
		},
		OnLeave: func(w, _ ID) {
			if w == 0 {
				leaves++
			}
		},
	})
	// Four small entities of radius 5 in each cell of 10, over 400×400.
	id := ID(1)
	for x := -200.0; x <= 200; x += 5 {
		for z := -200.0; z <= 200; z += 5 {
			must(t, g.Insert(id, x+0.5, z+0.5, 5))
			id++
		}
	}
	must(t, g.Insert(0, 0, 0, 100)) // ten cells
	rng := rand.New(rand.NewPCG(7, 8))
	x, z := 0.0, 0.0
	var compared, square int
	for range 300 {
		x, z = x+rng.Float64()*6-3, z+rng.Float64()*6-3
		e := g.lookup(0)
		for _, cr := range e.cover {
			square += len(cr.c.slots) // what searching the square compares
		}
		before := g.compared
		must(t, g.Move(0, x, z))
		compared += g.compared - before
		want := 0
		for _, o := range g.all {
			if o != e && dist2(x, z, o.x, o.z) <= e.r2 {
				want++
			}
		}
		if got := len(neighbors(g, 0)); got != want {
			t.Fatalf("at (%v, %v): sees %d, want %d", x, z, got, want)
		}
	}
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries compared, %d in the squares; %d enters, %d leaves", compared, square, enters, leaves)
	// The ring a circle of ten cells crosses is about a third of its
	// square (22×22).
	if compared > square/2 {
		t.Errorf("%d entries compared, %d in the squares searched before", compared, square)
	}
	if enters == 0 || leaves == 0 {
		t.Errorf("%d enters, %d leaves: the moves changed nothing", enters, leaves)
	}
}

// TestRadiusKinds: which radii are small, wide (and at which level) or
// see everything, and the number of cells a wide radius registers in.
func TestRadiusKinds(t *testing.T) {
	g := NewGrid(100, nil)
	cases := []struct {
		r     float64
		class int // classWide, classOmni or the small class
		level int
	}{
		{0, 0, 0},
		{12.5, 1, 0},
		{50, 4, 0},
		{100, 8, 0},
		{100.001, classWide, 0},
		{550, classWide, 0},
		{1000, classWide, 0},
		{1000.5, classWide, 1},
		{5000, classWide, 3},
		{1e6, classWide, 10},
		{1e150, classWide, 489}, // 1000·2^489 ≥ 1e150
		{1e155, classOmni, 0},   // its square overflows
		{math.Inf(1), classOmni, 0},
	}
	for i, c := range cases {
		id := ID(i)
		must(t, g.Insert(id, 1234.5, -987.25, c.r))
		e := g.lookup(id)
		if e.class != c.class {
			t.Errorf("radius %v: class %d, want %d", c.r, e.class, c.class)
			continue
		}
		if c.class == classWide {
			if e.lv.n != c.level {
				t.Errorf("radius %v: level %d, want %d", c.r, e.lv.n, c.level)
			}
			side := 2*wideCells + 2
			if w, h := e.cov.x1-e.cov.x0+1, e.cov.z1-e.cov.z0+1; w > int64(side) || h > int64(side) || len(e.cover) != int(w*h) {
				t.Errorf("radius %v: covers %d×%d tiles (%d entries)", c.r, w, h, len(e.cover))
			}
		}
	}
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
	// SetRadius moves entities between kinds and levels.
	for i := range cases {
		must(t, g.SetRadius(ID(i), cases[len(cases)-1-i].r))
		if err := checkInvariants(g); err != nil {
			t.Fatal(err)
		}
	}
	for i := range cases {
		must(t, g.Remove(ID(i)))
	}
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
	if len(g.high) != 0 || len(g.omni) != 0 || g.topClass != -1 || g.base.count != 0 {
		t.Fatalf("left: %d levels, %d omni, top class %d, %d wide", len(g.high), len(g.omni), g.topClass, g.base.count)
	}
}

// TestWalkLeavesNoTrail: a wide entity walking far, and a small one,
// leave no trail of cells: the empty ones are dropped in batches.
func TestWalkLeavesNoTrail(t *testing.T) {
	g := NewGrid(10, nil)
	must(t, g.Insert(1, 0, 0, 100)) // ten cells: 22×22 at most
	must(t, g.Insert(2, 0, 0, 5))
	most := 0
	for i := range 5000 {
		v := float64(i) * 7
		must(t, g.Move(1, v, -v))
		must(t, g.Move(2, -v, v))
		most = max(most, len(g.cells))
	}
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
	// 484 + 1 + 1 live cells, as many empty ones and the margin of 64.
	if most > 2*486+64+1 {
		t.Fatalf("%d cells at most", most)
	}
	t.Logf("%d cells at most", most)
}

// TestWideFarOut: far from the origin the margin for rounding spans many
// cells, so a wide entity registers at a coarser level there (at most
// 22×22 tiles still), and returns to its own level when it comes back.
func TestWideFarOut(t *testing.T) {
	g, rec := newRecGrid(1)
	must(t, g.Insert(1, 1e15, 0, 5))
	must(t, g.Insert(2, 1e15+3, 0, 0))
	expect(t, rec, enter(1, 2))
	e := g.lookup(1)
	if e.lv.n <= e.n0 || len(e.cover) > 22*22 {
		t.Fatalf("far out: level %d (radius's %d), %d tiles", e.lv.n, e.n0, len(e.cover))
	}
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
	must(t, g.Move(1, 0, 0))
	expect(t, rec, leave(1, 2))
	if e.lv != &g.base || len(e.cover) > 22*22 {
		t.Fatalf("back home: level %d, %d tiles", e.lv.n, len(e.cover))
	}
	must(t, g.Move(2, 3, 4))
	expect(t, rec, enter(1, 2))
	must(t, g.Move(1, -1e300, 1e300))
	expect(t, rec, leave(1, 2))
	if err := checkInvariants(g); err != nil {
		t.Fatal(err)
	}
	if w := watchers(g, 2); len(w) != 0 {
		t.Fatalf("watchers %v", w)
	}
}
