package aoi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// impl is what the property tests drive: the Grid, the reference and the
// cross-linked list all have these methods.
type impl interface {
	Insert(id ID, x, z, radius float64) error
	Move(id ID, x, z float64) error
	Remove(id ID) error
	SetRadius(id ID, radius float64) error
	Len() int
}

type recorder struct{ evs []event }

func (r *recorder) Enter(w, t ID) { r.evs = append(r.evs, event{w, t, true}) }
func (r *recorder) Leave(w, t ID) { r.evs = append(r.evs, event{w, t, false}) }

type opKind int

const (
	opInsert opKind = iota
	opMove
	opRemove
	opSetRadius
)

type op struct {
	kind    opKind
	id      ID
	x, z, r float64
}

func (o op) String() string {
	switch o.kind {
	case opInsert:
		return fmt.Sprintf("Insert(%d, %v, %v, %v)", o.id, o.x, o.z, o.r)
	case opMove:
		return fmt.Sprintf("Move(%d, %v, %v)", o.id, o.x, o.z)
	case opRemove:
		return fmt.Sprintf("Remove(%d)", o.id)
	default:
		return fmt.Sprintf("SetRadius(%d, %v)", o.id, o.r)
	}
}

func (o op) apply(s impl) error {
	switch o.kind {
	case opInsert:
		return s.Insert(o.id, o.x, o.z, o.r)
	case opMove:
		return s.Move(o.id, o.x, o.z)
	case opRemove:
		return s.Remove(o.id)
	default:
		return s.SetRadius(o.id, o.r)
	}
}

// checker runs every operation on the reference and on the implementation
// under test and compares errors and callbacks, in order. It keeps the set
// of pairs that the implementation's callbacks describe, checking that
// every call is a real change, and compares that set with a full O(n^2)
// recomputation every fullEvery operations and at Finish.
type checker struct {
	tb        testing.TB
	label     string
	ref       *refAOI
	refRec    *recorder
	sut       impl
	rec       *recorder
	grid      *Grid // sut, if it is a Grid
	seen      map[pair]bool
	ops       int
	fullEvery int
	history   []op // the last operations, for failure messages
}

func newChecker(tb testing.TB, label string, mk func(Callbacks) impl, fullEvery int) *checker {
	c := &checker{tb: tb, label: label, refRec: &recorder{}, rec: &recorder{},
		seen: make(map[pair]bool), fullEvery: fullEvery}
	c.ref = newRef(c.refRec)
	c.sut = mk(c.rec)
	c.grid, _ = c.sut.(*Grid)
	return c
}

func (c *checker) fatalf(format string, args ...any) {
	c.tb.Helper()
	start := max(0, len(c.history)-8)
	var b []byte
	for i, o := range c.history[start:] {
		b = fmt.Appendf(b, "\n  op %d: %v", c.ops-len(c.history)+start+i, o)
	}
	c.tb.Fatalf("%s: after op %d: %s\nlast operations:%s", c.label, c.ops, fmt.Sprintf(format, args...), b)
}

func (c *checker) do(o op) error {
	c.ops++
	c.history = append(c.history, o)
	if len(c.history) > 64 {
		c.history = slices.Delete(c.history, 0, 32)
	}
	c.refRec.evs = c.refRec.evs[:0]
	c.rec.evs = c.rec.evs[:0]
	errRef := o.apply(c.ref)
	err := o.apply(c.sut)
	if errKind(err) != errKind(errRef) {
		c.fatalf("%v: error %v, reference %v", o, err, errRef)
	}
	if !slices.Equal(c.rec.evs, c.refRec.evs) {
		c.fatalf("%v: callbacks differ\n got  %v\n want %v", o, fmtEvents(c.rec.evs), fmtEvents(c.refRec.evs))
	}
	for _, ev := range c.rec.evs {
		p := pair{ev.watcher, ev.target}
		if p.watcher == p.target {
			c.fatalf("%v: callback for an entity with itself: %v", o, ev)
		}
		if ev.enter == c.seen[p] {
			c.fatalf("%v: %v is not a change", o, ev)
		}
		if ev.enter {
			c.seen[p] = true
		} else {
			delete(c.seen, p)
		}
	}
	if c.sut.Len() != c.ref.Len() {
		c.fatalf("Len %d, reference %d", c.sut.Len(), c.ref.Len())
	}
	if c.fullEvery > 0 && c.ops%c.fullEvery == 0 {
		c.full()
	}
	return err
}

func fmtEvents(evs []event) string {
	var b []byte
	for i, ev := range evs {
		if i == 20 {
			b = fmt.Appendf(b, " ... (%d in all)", len(evs))
			break
		}
		k := "Leave"
		if ev.enter {
			k = "Enter"
		}
		b = fmt.Appendf(b, " %s(%d,%d)", k, ev.watcher, ev.target)
	}
	return string(b)
}

// full compares the pairs seen through callbacks with an O(n^2)
// recomputation, and the Grid's own view of them and its invariants.
func (c *checker) full() {
	c.tb.Helper()
	want := c.ref.allPairs()
	if !slices.Equal(want, c.ref.pairs()) {
		c.fatalf("reference matrix differs from recomputation")
	}
	seen := make([]pair, 0, len(c.seen))
	for p := range c.seen {
		seen = append(seen, p)
	}
	sortPairs(seen)
	if !slices.Equal(want, seen) {
		c.fatalf("pairs from callbacks (%d) differ from recomputation (%d): %s", len(seen), len(want), pairDiff(seen, want))
	}
	if g := c.grid; g != nil {
		var got, watchers []pair
		for _, e := range g.all {
			id := e.id
			g.Neighbors(id, func(t ID) bool { got = append(got, pair{id, t}); return true })
			g.Watchers(id, func(w ID) bool { watchers = append(watchers, pair{w, id}); return true })
		}
		sortPairs(got)
		sortPairs(watchers)
		if !slices.Equal(want, got) {
			c.fatalf("Neighbors differ from recomputation: %s", pairDiff(got, want))
		}
		if !slices.Equal(want, watchers) {
			c.fatalf("Watchers differ from recomputation: %s", pairDiff(watchers, want))
		}
		if err := checkInvariants(g); err != nil {
			c.fatalf("invariants: %v", err)
		}
	}
}

// pairDiff describes how two sets of pairs differ (duplicates in got
// count as extra).
func pairDiff(gotList, wantList []pair) string {
	got, want := make(map[pair]bool), make(map[pair]bool)
	var b []byte
	n := 0
	for _, p := range gotList {
		if got[p] && n < 10 {
			b = fmt.Appendf(b, " duplicate %v", p)
			n++
		}
		got[p] = true
	}
	for _, p := range wantList {
		want[p] = true
	}
	for p := range got {
		if !want[p] && n < 10 {
			b = fmt.Appendf(b, " extra %v", p)
			n++
		}
	}
	for p := range want {
		if !got[p] && n < 20 {
			b = fmt.Appendf(b, " missing %v", p)
			n++
		}
	}
	return string(b)
}

// checkInvariants checks the Grid's internal structure.
func checkInvariants(g *Grid) error {
	if g.busy != 0 || g.pending != 0 {
		return fmt.Errorf("busy %d, %d calls pending", g.busy, g.pending)
	}
	for _, b := range g.buckets {
		if len(b) != 0 {
			return fmt.Errorf("calls left in buckets: %v", g.buckets)
		}
	}
	stored := len(g.sparse)
	for id, e := range g.dense {
		if e != nil {
			stored++
			if e.id != ID(id) {
				return fmt.Errorf("entity %d stored as %d", e.id, id)
			}
		}
	}
	for id, e := range g.sparse {
		if id < ID(len(g.dense)) || e.id != id {
			return fmt.Errorf("entity %d stored as %d in sparse (dense holds %d)", e.id, id, len(g.dense))
		}
	}
	if len(g.all) != stored {
		return fmt.Errorf("%d in all, %d stored", len(g.all), stored)
	}
	var counts [maxClass + 1]int
	omni := 0
	levelCount := make(map[*level]int)
	for i, e := range g.all {
		if e.ai != i || g.lookup(e.id) != e {
			return fmt.Errorf("entity %d: bad index in all", e.id)
		}
		if e.cell == nil || e.cell.slots[e.ci] != (slot{e.x, e.z, e.slotR2(), e.id}) ||
			e.cell.cx != g.base.coord(e.x) || e.cell.cz != g.base.coord(e.z) || g.cells[e.cell.key] != e.cell {
			return fmt.Errorf("entity %d: bad cell", e.id)
		}
		if e.r2 != e.r*e.r {
			return fmt.Errorf("entity %d: r2", e.id)
		}
		switch {
		case e.class >= 0:
			counts[e.class]++
			if float64(e.class) < e.r*g.inv*classesPerCell || e.class > maxClass || math.IsInf(e.r2, 1) {
				return fmt.Errorf("entity %d: class %d for radius %v", e.id, e.class, e.r)
			}
		case e.class == classOmni:
			omni++
			if !math.IsInf(e.r2, 1) || g.omni[e.oi] != e {
				return fmt.Errorf("entity %d: bad omni entry (r2 %v)", e.id, e.r2)
			}
		case e.class == classWide:
			if e.r*g.inv*classesPerCell <= maxClass || math.IsInf(e.r2, 1) {
				return fmt.Errorf("entity %d: wide with radius %v", e.id, e.r)
			}
			lv := e.lv
			if !(e.r <= wideCells*e.size0) || e.size0 != math.Ldexp(g.size, e.n0) || (e.n0 > 0 && !(e.r > wideCells*e.size0/2)) {
				return fmt.Errorf("entity %d: radius %v calls for level %d", e.id, e.r, e.n0)
			}
			// The first level from n0 where the box fits.
			n := e.n0
			for {
				t := level{size: math.Ldexp(g.size, n), inv: 1 / math.Ldexp(g.size, n)}
				if b := t.box(e.x, e.z, e.r); b.x1-b.x0 <= 2*wideCells+1 && b.z1-b.z0 <= 2*wideCells+1 {
					break
				}
				n++
			}
			if lv == nil || (lv.n == 0) != (lv == &g.base) || lv.n != n {
				return fmt.Errorf("entity %d: radius %v at (%v, %v) at level %v, want %d", e.id, e.r, e.x, e.z, lv, n)
			}
			levelCount[lv]++
			if e.cov != lv.box(e.x, e.z, e.r) || float64(len(e.cover)) != e.cov.cells() {
				return fmt.Errorf("entity %d: covers %v in %d tiles, want %v", e.id, e.cov, len(e.cover), lv.box(e.x, e.z, e.r))
			}
			w := e.cov.x1 - e.cov.x0 + 1
			for k, cr := range e.cover {
				cx, cz := e.cov.x0+int64(k)%w, e.cov.z0+int64(k)/w
				var want *cell
				if lv == &g.base {
					want = g.cells[pack(cx, cz)]
				} else {
					want = lv.tiles[pack(cx, cz)]
				}
				if cr.c != want || cr.c.cx != cx || cr.c.cz != cz || cr.c.wide[cr.i] != (wideRef{e, k}) {
					return fmt.Errorf("entity %d: cover[%d] wrong", e.id, k)
				}
			}
		default:
			return fmt.Errorf("entity %d: class %d", e.id, e.class)
		}
		if e.class != classWide && (e.lv != nil || len(e.cover) != 0) {
			return fmt.Errorf("entity %d: a cover but not wide", e.id)
		}
	}
	if omni != len(g.omni) || counts != g.classCount {
		return fmt.Errorf("classes: %d omni (want %d), counts %v (want %v)", len(g.omni), omni, g.classCount, counts)
	}
	top := -1
	for k, n := range counts {
		if n > 0 {
			top = k
		}
	}
	if top != g.topClass {
		return fmt.Errorf("topClass %d, want %d", g.topClass, top)
	}
	if g.base.count != levelCount[&g.base] {
		return fmt.Errorf("level 0 counts %d wide entities, want %d", g.base.count, levelCount[&g.base])
	}
	for i, lv := range g.high {
		if lv.n < 1 || (i > 0 && g.high[i-1].n >= lv.n) || lv.count == 0 || lv.count != levelCount[lv] ||
			lv.size != math.Ldexp(g.size, lv.n) || lv.inv != 1/lv.size {
			return fmt.Errorf("level %d (%d of %d): count %d, want %d", lv.n, i, len(g.high), lv.count, levelCount[lv])
		}
		for k, t := range lv.tiles {
			if t.key != k || t.key != pack(t.cx, t.cz) || len(t.wide) == 0 || len(t.slots) != 0 {
				return fmt.Errorf("level %d tile %x: key %x, %d wide, %d slots", lv.n, k, t.key, len(t.wide), len(t.slots))
			}
			for i, wr := range t.wide {
				if wr.e.lv != lv || wr.e.cover[wr.k] != (coverRef{t, i}) {
					return fmt.Errorf("level %d tile %x: wide[%d] not mirrored", lv.n, k, i)
				}
			}
		}
		delete(levelCount, lv)
	}
	delete(levelCount, &g.base)
	if len(levelCount) != 0 {
		return fmt.Errorf("wide entities at levels not in the grid: %v", levelCount)
	}
	n, empty := 0, 0
	for k, c := range g.cells {
		if c.key != k || c.key != pack(c.cx, c.cz) {
			return fmt.Errorf("cell %x: key %x", k, c.key)
		}
		if len(c.slots)+len(c.wide) == 0 {
			empty++
		}
		for dz := int64(-1); dz <= 1; dz++ {
			for dx := int64(-1); dx <= 1; dx++ {
				if want := g.cells[pack(c.cx+dx, c.cz+dz)]; c.nb[(dz+1)*3+dx+1] != want {
					return fmt.Errorf("cell (%d, %d): neighbour (%d, %d) is %p, want %p", c.cx, c.cz, dx, dz, c.nb[(dz+1)*3+dx+1], want)
				}
			}
		}
		for k, nb := range c.nb {
			if got, want := c.occupied&(1<<k) != 0, nb != nil && len(nb.slots) > 0; got != want {
				return fmt.Errorf("cell (%d, %d): occupied bit %d is %v", c.cx, c.cz, k, got)
			}
		}
		if c.occupied>>9 != 0 {
			return fmt.Errorf("cell (%d, %d): occupied %b", c.cx, c.cz, c.occupied)
		}
		for i, s := range c.slots {
			if e := g.lookup(s.id); e == nil || e.cell != c || e.ci != i {
				return fmt.Errorf("cell (%d, %d): slot %d not mirrored", c.cx, c.cz, i)
			}
		}
		for i, wr := range c.wide {
			if wr.e.lv != &g.base || wr.e.cover[wr.k] != (coverRef{c, i}) {
				return fmt.Errorf("cell (%d, %d): wide[%d] not mirrored", c.cx, c.cz, i)
			}
		}
		n += len(c.slots)
	}
	if n != len(g.all) {
		return fmt.Errorf("%d entities in cells, %d in all", n, len(g.all))
	}
	if empty != g.empty || empty > len(g.cells)-empty+64 {
		return fmt.Errorf("%d empty cells of %d, counted %d", empty, len(g.cells), g.empty)
	}
	return nil
}

// workload describes a random sequence of operations.
type workload struct {
	name     string
	world    float64 // positions mostly in [-world/2, world/2)
	cell     float64
	radius   func(r *rand.Rand) float64
	maxN     int     // entity count it hovers around
	ops      int     // operations per seed
	step     float64 // largest small move per axis
	integer  bool    // round positions to integers: many exact boundaries
	crowd    int     // size of crowds inserted at a single spot
	hotspots int     // clusters that keep entities close on big maps
	// fullEvery: operations between full O(n^2) comparisons (97 if 0).
	fullEvery int
	onlyCrowd bool // at most one crowd: a second would make the checks slow
	oneSeed   bool // the first seed only: the workload is slow (under -race, minutes)
}

func fixedRadius(v float64) func(*rand.Rand) float64 {
	return func(*rand.Rand) float64 { return v }
}

func uniformRadius(lo, hi float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return lo + r.Float64()*(hi-lo) }
}

// mixedRadius mostly returns radii around the cell size, sometimes 0,
// huge or infinite ones.
func mixedRadius(cell float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 {
		switch p := r.IntN(100); {
		case p < 5:
			return 0
		case p < 8:
			return math.Inf(1)
		case p < 12:
			return cell * (5 + 50*r.Float64())
		case p < 30:
			return cell * 2 // exactly the small/big limit
		default:
			return cell * 3 * r.Float64()
		}
	}
}

// wideRadius mostly returns radii up to the cell size, sometimes up to
// ten cells (level 0 of the wide entities), beyond (coarser levels), 0 or
// +Inf.
func wideRadius(cell float64) func(r *rand.Rand) float64 {
	return func(r *rand.Rand) float64 {
		switch p := r.IntN(100); {
		case p < 3:
			return 0
		case p < 5:
			return math.Inf(1)
		case p < 10:
			return cell * (10 + 70*r.Float64()) // levels 1 to 3
		case p < 15:
			return cell * float64(1+r.IntN(10)) // exact multiples, up to the level 0 limit
		case p < 40:
			return cell * (1 + 9*r.Float64())
		default:
			return cell * r.Float64()
		}
	}
}

// oneWide returns the cell size, except for one radius in 50 that is ten
// cells: a few wide entities among many small ones.
func oneWide(cell float64) func(r *rand.Rand) float64 {
	return func(r *rand.Rand) float64 {
		if r.IntN(50) == 0 {
			return 10 * cell
		}
		return cell
	}
}

var workloads = []workload{
	{name: "1k/r=cell", world: 1000, cell: 100, radius: fixedRadius(100), maxN: 300, ops: 3000, step: 20, hotspots: 3},
	{name: "1k/r<cell", world: 1000, cell: 100, radius: uniformRadius(0, 60), maxN: 300, ops: 3000, step: 20, integer: true},
	{name: "1k/r>cell", world: 1000, cell: 40, radius: uniformRadius(30, 250), maxN: 250, ops: 2500, step: 30},
	{name: "1k/mixed", world: 1000, cell: 50, radius: mixedRadius(50), maxN: 200, ops: 2500, step: 25, integer: true, hotspots: 2},
	{name: "1k/crowds", world: 1000, cell: 100, radius: uniformRadius(50, 150), maxN: 400, ops: 2000, step: 10, crowd: 300},
	{name: "10k/r=cell", world: 10000, cell: 100, radius: fixedRadius(100), maxN: 400, ops: 3000, step: 40, hotspots: 8},
	{name: "10k/r<cell", world: 10000, cell: 250, radius: uniformRadius(10, 200), maxN: 300, ops: 2500, step: 60, integer: true, hotspots: 6},
	{name: "10k/r>cell", world: 10000, cell: 30, radius: uniformRadius(50, 400), maxN: 300, ops: 2500, step: 50, hotspots: 6, crowd: 150},
	{name: "10k/mixed", world: 10000, cell: 100, radius: mixedRadius(100), maxN: 250, ops: 2500, step: 50, integer: true, hotspots: 4},
	// Issue 18: radii up to ten cells and beyond, few wide among many
	// small, and a crowd of 1,200 on one spot, each seeing all the others.
	{name: "1k/wide", world: 1000, cell: 20, radius: wideRadius(20), maxN: 250, ops: 2500, step: 15, hotspots: 3},
	{name: "1k/wide-int", world: 1000, cell: 10, radius: wideRadius(10), maxN: 200, ops: 2500, step: 8, integer: true, hotspots: 2, crowd: 60},
	{name: "10k/one-wide", world: 10000, cell: 100, radius: oneWide(100), maxN: 400, ops: 3000, step: 60, hotspots: 6},
	{name: "crowd/1000", world: 100, cell: 100, radius: uniformRadius(100, 300), maxN: 1100, ops: 2500, step: 5, crowd: 1000, fullEvery: 600, onlyCrowd: true, oneSeed: true},
	{name: "crowd/mixed", world: 200, cell: 25, radius: wideRadius(25), maxN: 700, ops: 2500, step: 5, crowd: 600, integer: true, fullEvery: 400, onlyCrowd: true, oneSeed: true},
}

func (w workload) every() int {
	if w.fullEvery > 0 {
		return w.fullEvery
	}
	return 97
}

// run drives c with a random workload from seed.
func (w workload) run(c *checker, seed uint64) {
	c.tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var live []ID
	pos := make(map[ID][2]float64)
	next := ID(1)
	crowds := 0
	hot := make([][2]float64, w.hotspots)
	for i := range hot {
		hot[i] = [2]float64{(rng.Float64() - 0.5) * w.world, (rng.Float64() - 0.5) * w.world}
	}
	round := func(v float64) float64 {
		if w.integer {
			return math.Round(v)
		}
		return v
	}
	spot := func() (float64, float64) {
		if len(hot) > 0 && rng.IntN(2) == 0 {
			h := hot[rng.IntN(len(hot))]
			return round(h[0] + rng.NormFloat64()*w.cell), round(h[1] + rng.NormFloat64()*w.cell)
		}
		return round((rng.Float64() - 0.5) * w.world), round((rng.Float64() - 0.5) * w.world)
	}
	newID := func() ID {
		if rng.IntN(10) == 0 {
			return ID(rng.Uint64())
		}
		next++
		return next
	}
	insert := func(id ID, x, z float64) {
		if c.do(op{opInsert, id, x, z, w.radius(rng)}) == nil {
			live = append(live, id)
			pos[id] = [2]float64{x, z}
		}
	}
	pick := func() (int, ID) {
		i := rng.IntN(len(live))
		return i, live[i]
	}
	for c.ops < w.ops {
		p := rng.IntN(100)
		switch {
		case len(live) == 0 || (p < 25 && len(live) < w.maxN):
			x, z := spot()
			insert(newID(), x, z)
		case p < 65: // small step
			_, id := pick()
			q := pos[id]
			x, z := round(q[0]+(rng.Float64()*2-1)*w.step), round(q[1]+(rng.Float64()*2-1)*w.step)
			c.do(op{kind: opMove, id: id, x: x, z: z})
			pos[id] = [2]float64{x, z}
		case p < 75: // teleport, sometimes onto another entity
			_, id := pick()
			x, z := spot()
			if rng.IntN(4) == 0 {
				_, o := pick()
				x, z = pos[o][0], pos[o][1]
			}
			c.do(op{kind: opMove, id: id, x: x, z: z})
			pos[id] = [2]float64{x, z}
		case p < 85:
			i, id := pick()
			c.do(op{kind: opRemove, id: id})
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			delete(pos, id)
		case p < 94:
			_, id := pick()
			c.do(op{kind: opSetRadius, id: id, r: w.radius(rng)})
		case p < 96 && w.crowd > 0 && len(live) < w.maxN && !(w.onlyCrowd && crowds > 0): // a crowd on one spot
			crowds++
			x, z := spot()
			for range w.crowd {
				insert(newID(), x, z)
			}
		case p < 98: // a crowd disperses or gathers: many entities move
			x, z := spot()
			for range min(len(live), 50) {
				_, id := pick()
				if rng.IntN(2) == 0 {
					c.do(op{kind: opMove, id: id, x: x, z: z})
					pos[id] = [2]float64{x, z}
				} else {
					q := pos[id]
					nx, nz := round(q[0]+(rng.Float64()*2-1)*w.cell), round(q[1]+(rng.Float64()*2-1)*w.cell)
					c.do(op{kind: opMove, id: id, x: nx, z: nz})
					pos[id] = [2]float64{nx, nz}
				}
			}
		default: // errors
			_, id := pick()
			bad := []op{
				{kind: opInsert, id: id, r: 1},
				{kind: opMove, id: ID(rng.Uint64()) | 1<<63, x: 1, z: 1},
				{kind: opRemove, id: ID(rng.Uint64()) | 1<<63},
				{kind: opSetRadius, id: ID(rng.Uint64()) | 1<<63, r: 1},
				{kind: opMove, id: id, x: math.NaN()},
				{kind: opMove, id: id, z: math.Inf(-1)},
				{kind: opSetRadius, id: id, r: -1},
				{kind: opSetRadius, id: id, r: math.NaN()},
				{kind: opInsert, id: ID(rng.Uint64()) | 1<<63, x: math.Inf(1), r: 1},
				{kind: opInsert, id: ID(rng.Uint64()) | 1<<63, r: -0.5},
			}
			o := bad[rng.IntN(len(bad))]
			if c.do(o) == nil {
				c.fatalf("%v succeeded", o)
			}
		}
	}
	c.full()
}

func newGridImpl(cell float64) func(Callbacks) impl {
	return func(cb Callbacks) impl { return NewGrid(cell, cb) }
}

func TestGridProperty(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			for i, seed := range seeds {
				if i > 0 && w.oneSeed {
					break
				}
				t.Logf("seed %d", seed)
				c := newChecker(t, fmt.Sprintf("%s seed %d", w.name, seed), newGridImpl(w.cell), w.every())
				w.run(c, seed)
				t.Logf("seed %d: %d operations, %d entities and %d pairs at the end", seed, c.ops, c.sut.Len(), len(c.seen))
			}
		})
	}
}

// The comparison implementation used by the benchmarks must be right too.
func TestXZListProperty(t *testing.T) {
	for _, w := range workloads {
		if w.crowd > 0 {
			continue // slow with maps and long list walks; covered by the grid
		}
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			const seed = 7
			t.Logf("seed %d", seed)
			w.ops = 1000
			c := newChecker(t, fmt.Sprintf("%s seed %d", w.name, seed), func(cb Callbacks) impl { return newXZList(cb) }, 97)
			w.run(c, seed)
		})
	}
}

// The old grid, kept for the benchmarks, must be right too.
func TestOldGridProperty(t *testing.T) {
	for _, w := range workloads {
		if w.onlyCrowd {
			continue // slow: a million edges; its crowds are in BenchmarkCrowd
		}
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			const seed = 11
			w.ops = min(w.ops, 1000)
			c := newChecker(t, fmt.Sprintf("%s seed %d", w.name, seed), func(cb Callbacks) impl { return newOldGrid(w.cell, cb) }, w.every())
			w.run(c, seed)
		})
	}
}
