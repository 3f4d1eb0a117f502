// Package aoi is a grid-based area of interest: it tracks which entities
// each entity can see and reports every change through callbacks.
//
// A [Grid] holds entities, each with a position on the x/z plane and a
// radius. Visibility is per watcher and may be asymmetric: B is in A's view
// if and only if
//
//	dx*dx + dz*dz <= A.radius*A.radius
//
// computed in float64, where dx and dz are the differences of their
// coordinates. So an entity exactly at distance radius is visible, and an
// entity with radius 0 sees only entities at exactly its own position. An
// entity never sees itself. A radius of +Inf, or any radius whose square
// overflows (above about 1.34e154), sees every other entity.
//
// Whenever a [Grid.Insert], [Grid.Move], [Grid.SetRadius] or [Grid.Remove]
// changes who sees whom, the grid calls [Callbacks.Enter] or
// [Callbacks.Leave] once for each (watcher, target) pair that changed, and
// only for pairs that really changed. The calls of one operation are made
// synchronously, before the operation returns, after the grid has been fully
// updated, in this order:
//
//  1. all Leave calls, then all Enter calls;
//  2. within each group, by watcher ID ascending, then by target ID
//     ascending.
//
// The same sequence of operations therefore always produces the same
// sequence of calls.
//
// The grid stores no pairs: visibility is a function of the positions and
// radii, so [Grid.Sees] computes it, [Grid.Neighbors] and [Grid.Watchers]
// search the cells around the entity, and an operation finds what changed
// by comparing, for the entities near the old and the new position, the
// rule before and after. Memory is therefore linear in the number of
// entities, whatever their number within one radius: about 450 bytes per
// entity where each has a cell of its own (a 160-byte record, a 256-byte
// cell holding up to three 32-byte entries), less where entities share
// cells, plus,
// for an entity whose radius exceeds the cell size, 32 bytes for each
// cell its radius covers (at most 22×22), and those cells where no other
// entity made them.
//
// Cells are squares of side cellSize, kept in a hash map keyed by their
// coordinates; each links to its eight neighbours, so that a search within
// one cell needs no map lookup. The world is unbounded: cells exist where
// entities are or look, and empty ones are dropped in batches. Each entity
// costs only its own radius:
//
//   - An entity whose radius is at most the cell size is "small": a move
//     searches the 3×3 cells around its old and new position, and finds
//     there both what it sees and the small entities that see it.
//   - An entity whose radius r is larger is "wide": it registers itself in
//     every cell within r of its position (up to 22×22 cells for a radius
//     of 10 cells), so that a moving entity finds the wide entities that
//     may see it in its own cell's list, without searching further. A wide
//     entity's own moves search, of the cells it covers, those its circle
//     crosses before or after the move and those near enough for a small
//     entity to see it: elsewhere nothing can change. Radii beyond 10 cells
//     register in coarser cells of 2, 4, 8... cell sizes, so that an
//     entity covers at most 22×22 of them; the search of what it sees
//     covers its radius (or all entities, if that is fewer).
//   - A radius of +Inf (or whose square overflows) sees everything: such
//     an entity is in a list that only Insert and Remove read, since no
//     move changes what it sees.
//
// So no radius, however large, slows the moves of entities that it does
// not concern, and there is no mismatch of cell size and radius to
// report: a cell much smaller than the radii costs the wide entities'
// registrations (their cell crossings and the cells they search), a cell
// much larger than the radii costs searches through entities too far to
// see. Choose the cell size close to the usual radius.
//
// A teleport costs the same as a short move plus the changes. Beyond about
// 10^9 cell sizes from the origin, the margin that the searches keep for
// float64 rounding spans many cells: there wide entities register at
// coarser levels, and searches that would span more cells than there are
// entities compare every entity instead. That is correct, only slower.
//
// A Grid is not safe for concurrent use; the engine drives each space from
// one goroutine.
package aoi

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// ID identifies an entity in a [Grid]. Callers map their own entity IDs to
// these.
type ID uint64

// Callbacks receives the changes of visibility. Both methods are called
// synchronously from the operation that caused the change, after the grid
// has been updated, so they may query the grid (for example with
// [Grid.Neighbors]) but must not modify it: Insert, Move, SetRadius and
// Remove return [ErrReentrant] while a callback is running.
type Callbacks interface {
	// Enter reports that target came into watcher's view.
	Enter(watcher, target ID)
	// Leave reports that target left watcher's view, because one of them
	// moved, watcher's radius shrank, or one of them was removed.
	Leave(watcher, target ID)
}

// Funcs adapts two functions to [Callbacks]. A nil field ignores its
// events.
type Funcs struct {
	OnEnter func(watcher, target ID)
	OnLeave func(watcher, target ID)
}

// Enter calls f.OnEnter if it is set.
func (f Funcs) Enter(watcher, target ID) {
	if f.OnEnter != nil {
		f.OnEnter(watcher, target)
	}
}

// Leave calls f.OnLeave if it is set.
func (f Funcs) Leave(watcher, target ID) {
	if f.OnLeave != nil {
		f.OnLeave(watcher, target)
	}
}

// Errors returned by the Grid's methods, wrapped with the operation and ID;
// test for them with [errors.Is].
var (
	// ErrDuplicateID: Insert of an ID already in the grid.
	ErrDuplicateID = errors.New("aoi: duplicate ID")
	// ErrUnknownID: Move, SetRadius or Remove of an ID not in the grid.
	ErrUnknownID = errors.New("aoi: unknown ID")
	// ErrInvalidPosition: a coordinate is NaN or infinite.
	ErrInvalidPosition = errors.New("aoi: coordinate is NaN or infinite")
	// ErrInvalidRadius: a radius is negative or NaN. (+Inf is allowed and
	// sees every other entity.)
	ErrInvalidRadius = errors.New("aoi: radius is negative or NaN")
	// ErrReentrant: a modifying method was called from a callback or from
	// the function passed to Neighbors or Watchers.
	ErrReentrant = errors.New("aoi: grid modified from a callback")
)

// opError is the error the methods return: the operation, the ID and the
// offending values, wrapping one of the Err values above. It is formatted
// only when printed, so that errors stay cheap.
type opError struct {
	op   string
	id   ID
	vals []float64
	err  error
}

func opErr(op string, id ID, err error, vals ...float64) error {
	return &opError{op, id, vals, err}
}

func (e *opError) Error() string {
	b := fmt.Appendf(nil, "aoi: %s %d", e.op, e.id)
	for i, v := range e.vals {
		if i == 0 {
			b = append(b, " ("...)
		} else {
			b = append(b, ", "...)
		}
		b = fmt.Append(b, v)
	}
	if len(e.vals) > 0 {
		b = append(b, ')')
	}
	return string(b) + ": " + strings.TrimPrefix(e.err.Error(), "aoi: ")
}

func (e *opError) Unwrap() error { return e.err }

const (
	// classesPerCell is the resolution at which the grid tracks the
	// largest small radius: radii are rounded up to a multiple of
	// cellSize/classesPerCell, so that the search for the small entities
	// that may see a position is no wider than the largest of them needs.
	classesPerCell = 8
	// maxClass: a radius up to one cell size is small.
	maxClass = classesPerCell
	// wideCells: a wide entity registers in the cells of the first level
	// whose cell size is at least its radius / wideCells (level 0 being
	// the grid's own cells), so at most 2*wideCells+2 cells per side.
	wideCells = 10
	// cellLimit clamps cell coordinates so that they fit in 32 bits.
	// Positions beyond ±cellLimit cells share the edge cells: still
	// correct, only slower.
	cellLimit = 1<<31 - 2
	// boxSlack widens every search box, relative to the coordinates, to
	// cover float64 rounding in the visibility test.
	boxSlack = 1e-9
	// entity.class of the entities that are not small.
	classWide = -1
	classOmni = -2
)

type entity struct {
	id    ID
	x, z  float64
	r, r2 float64
	class int   // radius class 0..maxClass if small, else classWide or classOmni
	cell  *cell // the cell it is in
	ci    int   // index in cell.slots
	ai    int   // index in Grid.all
	oi    int   // index in Grid.omni if omni
	// A wide entity is registered in the cells (tiles) of box cov at level
	// lv: the cells within its radius. cover holds them row by row.
	lv    *level
	cov   box
	cover []coverRef
	// n0 is the level a wide entity's radius calls for (the first whose
	// cells are at least a tenth of it), size0 that level's cell size.
	n0    int
	size0 float64
}

// coverRef is a wide entity's registration in tile c: its entry is
// c.wide[i].
type coverRef struct {
	c *cell
	i int
}

// wideRef is an entry of a tile's list of wide entities: e.cover[k]
// points back to it.
type wideRef struct {
	e *entity
	k int
}

// slot is an entity's entry in its cell: a copy of what a search needs,
// so that searching a cell reads one array, and naming the entity in an
// event reads no record.
type slot struct {
	x, z float64
	r2   float64 // the entity's squared radius if small; -1 otherwise
	id   ID
}

// cell is a square of the grid (level 0), holding the entities in it and
// the wide entities of level 0 that cover it; or a tile of a higher level,
// holding only the wide entities of that level that cover it.
//
// The fields are laid out for the searches: a cell is 256 bytes, so it
// starts on a 256-byte boundary; its first line holds slots and the first
// entry, its second line two more, so that searching a cell of up to three
// entities reads these two adjacent lines and nothing else (slots points
// into first whenever it fits there: at 100,000 entities, a pointer to an
// array elsewhere would cost each search of the cell one more load from
// memory, dependent on the first).
type cell struct {
	slots []slot
	// occupied has bit k set if nb[k] holds entities, so that a search
	// of the 3×3 block reads no empty cell.
	occupied uint16
	_        [6]byte
	// first is where slots lies while it holds up to len(first) entries.
	first [3]slot
	// nb is the 3×3 block of cells around this one, nb[4] being itself,
	// and nil where there is no cell: most searches need no map lookup.
	// (Level 0 only.)
	nb     [9]*cell
	cx, cz int64
	wide   []wideRef
	key    uint64
	_      [8]byte
}

// box is a rectangle of cells, bounds included.
type box struct{ x0, x1, z0, z1 int64 }

func (b box) has(cx, cz int64) bool { return cx >= b.x0 && cx <= b.x1 && cz >= b.z0 && cz <= b.z1 }

func (b box) cells() float64 { return float64(b.x1-b.x0+1) * float64(b.z1-b.z0+1) }

// level is a grid of tiles of side size in which wide entities register.
// Level 0's tiles are the grid's cells; level n's side is 2^n cell sizes.
type level struct {
	n         int
	size, inv float64
	tiles     map[uint64]*cell // nil at level 0
	count     int              // wide entities registered at this level
}

// coord returns the tile coordinate of v, clamped to ±cellLimit. It is
// monotonic in v, which is all the searches rely on.
func (lv *level) coord(v float64) int64 {
	f := math.Floor(v * lv.inv)
	if f >= cellLimit {
		return cellLimit
	}
	if f <= -cellLimit {
		return -cellLimit
	}
	return int64(f)
}

// box returns the tiles within reach of (x, z), with a margin for
// rounding.
func (lv *level) box(x, z, reach float64) box {
	slack := (math.Abs(x) + math.Abs(z) + reach) * boxSlack
	return box{lv.coord(x - reach - slack), lv.coord(x + reach + slack), lv.coord(z - reach - slack), lv.coord(z + reach + slack)}
}

// Grid is a grid area of interest. Create one with [NewGrid].
type Grid struct {
	size, inv float64
	cb        Callbacks

	// The entities by ID: those below len(dense) in dense (the engine's
	// IDs are small and dense: an index is faster than a hash), the others
	// in sparse.
	dense  []*entity
	sparse map[ID]*entity
	cells  map[uint64]*cell
	empty  int       // cells in the map with no entity and no wide entry
	free   []*cell   // dropped cells kept for reuse
	all    []*entity // every entity, for searches larger than the world
	omni   []*entity // entities that see everything
	base   level     // level 0: the cells
	high   []*level  // levels above 0 with wide entities, by n
	// scratch holds a copy of a cover being rebuilt.
	scratch []coverRef

	classCount [maxClass + 1]int
	topClass   int // largest class with a nonzero count, or -1

	// The operation in progress changes sub: (ox, oz, or2) are its
	// position and squared radius before, (nx, nz, nr2) after. A NaN
	// position means "not in the grid" (before an Insert, after a Remove):
	// every comparison with it is false. A squared radius of -1 sees
	// nothing, which disables the comparison of what sub sees.
	sub                      *entity
	ox, oz, or2, nx, nz, nr2 float64

	// The calls of the current operation, all involving subject, in six
	// buckets: leaves then enters, each split into (other, subject) with
	// other < subject, (subject, other), and (other, subject) with
	// other > subject. Each holds the other IDs; sorting each bucket gives
	// the documented order without comparing pairs.
	subject ID
	buckets [6][]ID
	pending int
	busy    int

	// compared counts the entries that the operations' searches compared
	// (cell entries, wide entries, entities of full scans): what the
	// tests read to check that a radius costs only its own entity.
	compared int
}

// NewGrid returns an empty grid with square cells of side cellSize, which
// should be about the usual radius. It calls cb for every change of
// visibility; cb may be nil. NewGrid panics if cellSize is not a positive
// finite number (with a finite inverse).
func NewGrid(cellSize float64, cb Callbacks) *Grid {
	if !(cellSize > 0) || math.IsInf(cellSize, 1) || math.IsInf(1/cellSize, 1) {
		panic(fmt.Sprintf("aoi: invalid cell size %v", cellSize))
	}
	return &Grid{
		size:     cellSize,
		inv:      1 / cellSize,
		cb:       cb,
		cells:    make(map[uint64]*cell),
		base:     level{size: cellSize, inv: 1 / cellSize},
		topClass: -1,
	}
}

// Len returns the number of entities in the grid.
func (g *Grid) Len() int { return len(g.all) }

// lookup returns the entity id, or nil.
func (g *Grid) lookup(id ID) *entity {
	if id < ID(len(g.dense)) {
		return g.dense[id]
	}
	return g.sparse[id]
}

// store records e under its ID. IDs up to about twice the number of
// entities (plus 1024) go in dense, which grows by doubling; when it
// grows, the entities of sparse that it now covers move into it.
func (g *Grid) store(e *entity) {
	id := e.id
	if limit := ID(2*len(g.all) + 1024); id >= ID(len(g.dense)) && id < limit {
		n := min(max(ID(2*len(g.dense)), id+1), limit)
		g.dense = slices.Grow(g.dense, int(n)-len(g.dense))[:n]
		for k, o := range g.sparse {
			if k < n {
				g.dense[k] = o
				delete(g.sparse, k)
			}
		}
	}
	if id < ID(len(g.dense)) {
		g.dense[id] = e
		return
	}
	if g.sparse == nil {
		g.sparse = make(map[ID]*entity)
	}
	g.sparse[id] = e
}

// forget undoes store.
func (g *Grid) forget(id ID) {
	if id < ID(len(g.dense)) {
		g.dense[id] = nil
		return
	}
	delete(g.sparse, id)
}

// CellSize returns the cell size given to [NewGrid].
func (g *Grid) CellSize() float64 { return g.size }

// Position returns the position of id, and false if id is not in the grid.
func (g *Grid) Position(id ID) (x, z float64, ok bool) {
	e := g.lookup(id)
	if e == nil {
		return 0, 0, false
	}
	return e.x, e.z, true
}

// Radius returns the radius of id, and false if id is not in the grid.
func (g *Grid) Radius(id ID) (float64, bool) {
	e := g.lookup(id)
	if e == nil {
		return 0, false
	}
	return e.r, true
}

// Sees reports whether target is in watcher's view.
func (g *Grid) Sees(watcher, target ID) bool {
	w, t := g.lookup(watcher), g.lookup(target)
	if w == nil || t == nil || w == t {
		return false
	}
	return dist2(w.x, w.z, t.x, t.z) <= w.r2
}

// Neighbors calls fn for each entity that id currently sees, until fn
// returns false. It does nothing if id is not in the grid. The order is
// unspecified (but the same for the same history of operations). fn must
// not modify the grid. It searches the cells within id's radius (or all
// entities, if they are fewer).
func (g *Grid) Neighbors(id ID, fn func(ID) bool) {
	e := g.lookup(id)
	if e == nil {
		return
	}
	g.busy++
	defer func() { g.busy-- }()
	ex, ez, r2 := e.x, e.z, e.r2
	if e.class == classOmni {
		for _, o := range g.all {
			if o != e && !fn(o.id) {
				return
			}
		}
		return
	}
	if e.class == classWide && e.lv == &g.base && len(e.cover) <= len(g.all) {
		for _, cr := range e.cover {
			for i := range cr.c.slots {
				s := &cr.c.slots[i]
				if dist2(ex, ez, s.x, s.z) <= r2 && s.id != id && !fn(s.id) {
					return
				}
			}
		}
		return
	}
	b := g.base.box(ex, ez, e.r)
	if b.cells() > float64(len(g.all)) {
		for _, o := range g.all {
			if o != e && dist2(ex, ez, o.x, o.z) <= r2 && !fn(o.id) {
				return
			}
		}
		return
	}
	for cz := b.z0; cz <= b.z1; cz++ {
		for cx := b.x0; cx <= b.x1; cx++ {
			c := g.cellAt(e.cell, cx, cz)
			if c == nil {
				continue
			}
			for i := range c.slots {
				s := &c.slots[i]
				if dist2(ex, ez, s.x, s.z) <= r2 && s.id != id && !fn(s.id) {
					return
				}
			}
		}
	}
}

// Watchers calls fn for each entity that currently sees id (the entities
// to tell when id changes), until fn returns false. It does nothing if id
// is not in the grid. The order is unspecified (but the same for the same
// history of operations). fn must not modify the grid. It searches the
// cells around id within the largest small radius, and the lists of wide
// entities registered where id is.
func (g *Grid) Watchers(id ID, fn func(ID) bool) {
	e := g.lookup(id)
	if e == nil {
		return
	}
	g.busy++
	defer func() { g.busy-- }()
	ex, ez := e.x, e.z
	if reach := g.smallReach(); reach < 0 {
		// No small entities.
	} else if b := g.base.box(ex, ez, reach); b.cells() > float64(len(g.all)) {
		// Far out, the slack for rounding spans more cells than there
		// are entities.
		for _, o := range g.all {
			if o != e && o.class >= 0 && dist2(ex, ez, o.x, o.z) <= o.r2 && !fn(o.id) {
				return
			}
		}
	} else {
		for cz := b.z0; cz <= b.z1; cz++ {
			for cx := b.x0; cx <= b.x1; cx++ {
				c := g.cellAt(e.cell, cx, cz)
				if c == nil {
					continue
				}
				for i := range c.slots {
					s := &c.slots[i]
					if dist2(ex, ez, s.x, s.z) <= s.r2 && s.id != id && !fn(s.id) {
						return
					}
				}
			}
		}
	}
	if !g.eachWide(e.cell, e, fn) {
		return
	}
	for _, lv := range g.high {
		if !g.eachWide(lv.tiles[pack(lv.coord(ex), lv.coord(ez))], e, fn) {
			return
		}
	}
	for _, w := range g.omni {
		if w != e && !fn(w.id) {
			return
		}
	}
}

// eachWide calls fn for the wide entities of tile t that see e, and
// reports whether fn asked for more.
func (g *Grid) eachWide(t *cell, e *entity, fn func(ID) bool) bool {
	if t == nil {
		return true
	}
	for _, wr := range t.wide {
		w := wr.e
		if w != e && dist2(e.x, e.z, w.x, w.z) <= w.r2 && !fn(w.id) {
			return false
		}
	}
	return true
}

// Insert adds id at (x, z) with the given radius, and reports what it sees
// (Enter(id, other)) and who sees it (Enter(other, id)). It changes
// nothing and returns an error wrapping [ErrDuplicateID],
// [ErrInvalidPosition], [ErrInvalidRadius] or [ErrReentrant] if the
// arguments are wrong or it is called from a callback.
func (g *Grid) Insert(id ID, x, z, radius float64) error {
	if g.busy > 0 {
		return opErr("insert", id, ErrReentrant)
	}
	if g.lookup(id) != nil {
		return opErr("insert", id, ErrDuplicateID)
	}
	if !finite(x) || !finite(z) {
		return opErr("insert", id, ErrInvalidPosition, x, z)
	}
	if !(radius >= 0) {
		return opErr("insert", id, ErrInvalidRadius, radius)
	}
	e := &entity{id: id, x: x, z: z}
	g.store(e)
	e.ai = len(g.all)
	g.all = append(g.all, e)
	g.classify(e, radius)
	g.addToCell(e, g.getCell(g.base.coord(x), g.base.coord(z)))
	g.begin(e, math.NaN(), math.NaN(), -1, x, z, e.r2)
	g.scanHere(e)
	g.wideTargets(nil, e.cell)
	for _, w := range g.omni {
		if w != e {
			g.emit(w.id, id, true)
		}
	}
	g.fire()
	return nil
}

// Move moves id to (x, z). It reports Leave and Enter for what id sees and
// for who sees id. A move of any length (a teleport) searches only the
// cells around the old and the new position (within the entity's radius
// and the largest small radius) and the lists of wide entities registered
// there. Moving to the same position does nothing. Errors:
// [ErrUnknownID], [ErrInvalidPosition], [ErrReentrant], changing nothing.
func (g *Grid) Move(id ID, x, z float64) error {
	if g.busy > 0 {
		return opErr("move", id, ErrReentrant)
	}
	e := g.lookup(id)
	if e == nil {
		return opErr("move", id, ErrUnknownID)
	}
	if !finite(x) || !finite(z) {
		return opErr("move", id, ErrInvalidPosition, x, z)
	}
	if x == e.x && z == e.z {
		return nil
	}
	ox, oz := e.x, e.z
	c0 := e.cell
	e.x, e.z = x, z
	if cx, cz := g.base.coord(x), g.base.coord(z); cx != c0.cx || cz != c0.cz {
		g.removeFromCell(e)
		c := (*cell)(nil)
		if dx, dz := cx-c0.cx, cz-c0.cz; dx >= -1 && dx <= 1 && dz >= -1 && dz <= 1 {
			c = c0.nb[(dz+1)*3+dx+1]
		}
		if c == nil {
			c = g.getCell(cx, cz)
		}
		g.addToCell(e, c)
	} else {
		s := &c0.slots[e.ci]
		s.x, s.z = x, z
	}
	r2 := e.r2
	if e.class == classOmni {
		r2 = -1 // it sees everything before and after
	}
	g.begin(e, ox, oz, r2, x, z, r2)
	g.moveScan(e, c0)
	g.wideTargets(c0, e.cell)
	g.tidy()
	g.fire()
	return nil
}

// SetRadius changes the radius of id and reports what comes into or
// leaves its view (Enter(id, other), Leave(id, other)). Who sees id does not
// change. Errors: [ErrUnknownID], [ErrInvalidRadius], [ErrReentrant],
// changing nothing.
func (g *Grid) SetRadius(id ID, radius float64) error {
	if g.busy > 0 {
		return opErr("set radius of", id, ErrReentrant)
	}
	e := g.lookup(id)
	if e == nil {
		return opErr("set radius of", id, ErrUnknownID)
	}
	if !(radius >= 0) {
		return opErr("set radius of", id, ErrInvalidRadius, radius)
	}
	if radius == e.r {
		return nil
	}
	or, or2, wasOmni := e.r, e.r2, e.class == classOmni
	g.unclass(e)
	g.classify(e, radius)
	e.cell.slots[e.ci].r2 = e.slotR2()
	// The position does not change, so the comparisons of who sees e find
	// nothing; only what e sees is compared.
	g.begin(e, e.x, e.z, or2, e.x, e.z, e.r2)
	if wasOmni || e.class == classOmni {
		g.scanAll()
	} else if b := g.base.box(e.x, e.z, max(or, radius)); b.cells() > float64(len(g.all)) {
		g.scanAll()
	} else {
		g.scanBox(b, e.cell, box{}, false)
	}
	g.tidy()
	g.fire()
	return nil
}

// Remove removes id. It reports both directions: Leave(id, other) for
// every entity that id saw, and Leave(other, id) for every entity that saw
// id. Like all calls of one operation, they are sorted together by watcher,
// then target, so a pair of mutual watchers gives two calls. Errors:
// [ErrUnknownID], [ErrReentrant], changing nothing.
func (g *Grid) Remove(id ID) error {
	if g.busy > 0 {
		return opErr("remove", id, ErrReentrant)
	}
	e := g.lookup(id)
	if e == nil {
		return opErr("remove", id, ErrUnknownID)
	}
	g.begin(e, e.x, e.z, e.r2, math.NaN(), math.NaN(), -1)
	g.scanHere(e)
	g.wideTargets(e.cell, nil)
	for _, w := range g.omni {
		if w != e {
			g.emit(w.id, id, false)
		}
	}
	g.removeFromCell(e)
	g.unclass(e)
	last := g.all[len(g.all)-1]
	g.all[e.ai] = last
	last.ai = e.ai
	g.all[len(g.all)-1] = nil
	g.all = g.all[:len(g.all)-1]
	g.forget(id)
	*e = entity{}
	g.sub = nil
	g.tidy()
	g.fire()
	return nil
}

// begin starts an operation on e, from (ox, oz, or2) to (nx, nz, nr2);
// see Grid.sub.
func (g *Grid) begin(e *entity, ox, oz, or2, nx, nz, nr2 float64) {
	g.subject, g.sub = e.id, e
	g.ox, g.oz, g.or2, g.nx, g.nz, g.nr2 = ox, oz, or2, nx, nz, nr2
}

// smallReach returns the largest radius of the small entities, rounded up
// to its class, or -1 if there are none.
func (g *Grid) smallReach() float64 {
	if g.topClass < 0 {
		return -1
	}
	return float64(g.topClass) / classesPerCell * g.size
}

// scanHere compares sub with the entities that it may see or that may see
// it at its current position (for Insert and Remove).
func (g *Grid) scanHere(e *entity) {
	switch {
	case e.class == classOmni:
		g.scanAll()
	case e.class == classWide && e.lv == &g.base:
		// The cells it covers reach further than the small radii.
		if len(e.cover) > len(g.all) {
			g.scanAll()
			return
		}
		for _, cr := range e.cover {
			g.scanCell(cr.c)
		}
	default:
		b := g.base.box(e.x, e.z, max(e.r, g.smallReach()))
		if b.cells() > float64(len(g.all)) {
			g.scanAll()
			return
		}
		g.scanBox(b, e.cell, box{}, false)
	}
}

// moveScan compares the moving sub with the entities around its old
// position (in c0) and its new one, and moves its registrations if it is
// wide.
func (g *Grid) moveScan(e *entity, c0 *cell) {
	n := len(g.all)
	if e.class == classWide {
		lv, nb := g.levelFor(e)
		if lv == &g.base && e.lv == lv {
			// The cells it covers reach further than the small radii.
			if 2*len(e.cover) > n {
				g.scanAll()
				if nb != e.cov {
					g.setCover(e, lv, nb)
				}
				return
			}
			// Only the cells its circle crosses, before or after, and
			// those near enough for a small entity in them to see it
			// move, can change: the others are not read.
			st := g.settler()
			old := e.cov
			st.scanCover(g, e, old, box{}, false)
			if nb != old {
				g.setCover(e, lv, nb)
				st.scanCover(g, e, nb, old, true)
			}
			return
		}
		if lv != e.lv || nb != e.cov {
			g.setCover(e, lv, nb)
		}
	}
	reach := g.smallReach()
	if e.class != classOmni {
		reach = max(reach, e.r)
	}
	if reach < 0 {
		return
	}
	a, b := g.base.box(g.ox, g.oz, reach), g.base.box(e.x, e.z, reach)
	switch {
	case a == b && a.x1-a.x0 == 2 && a.z1-a.z0 == 2 && a.x0 == e.cell.cx-1 && a.z0 == e.cell.cz-1 && n >= 9:
		// The usual case: the 3×3 cells around its own. Read their
		// headers first, so that the memory loads overlap.
		home := e.cell
		n := 0
		for m := uint(home.occupied); m != 0; m &= m - 1 {
			n += len(home.nb[bits.TrailingZeros(m)].slots)
		}
		g.compared += n
		for m := uint(home.occupied); m != 0; m &= m - 1 {
			g.scanSlots(home.nb[bits.TrailingZeros(m)].slots)
		}
	case a == b && a.cells() <= float64(n):
		g.scanBox(a, e.cell, box{}, false)
	case a.cells()+b.cells() > float64(n):
		g.scanAll()
	default:
		g.scanBox(a, c0, box{}, false)
		g.scanBox(b, e.cell, a, true)
	}
}

// settler finds, for a wide entity's move, the cells of its cover whose
// entities can change with respect to it: those its circle crosses
// before or after the move, and those within the small entities' reach
// of either position (whose small entities may see it come or go). The
// others hold entities wholly inside its circle at both positions, or
// wholly outside at both: nothing there changes.
type settler struct {
	ox, oz, nx, nz float64
	// r2hi and r2lo are the squared radius widened and narrowed by far
	// more than float64 rounding, so that the spans are conservative.
	r2hi, r2lo float64
	size, inv  float64
	// m widens every cell by far more than the rounding of coordinates
	// to cells; off: m is too large for the spans to skip anything
	// safely (far from the origin), so every cell is scanned.
	m   float64
	off bool
	// near: the rows (z) within the small entities' reach of either
	// position: there the cells inside both circles are scanned too
	// (hasNear is false without small entities).
	near0, near1 box
	hasNear      bool
}

// settler returns the settler of the move in progress (of a wide
// entity: g.or2 == g.nr2).
func (g *Grid) settler() settler {
	st := settler{ox: g.ox, oz: g.oz, nx: g.nx, nz: g.nz, size: g.size, inv: g.inv,
		r2hi: g.nr2 * (1 + boxSlack), r2lo: g.nr2 * (1 - boxSlack)}
	reach := math.Sqrt(g.nr2)
	st.m = (max(math.Abs(g.ox), math.Abs(g.oz), math.Abs(g.nx), math.Abs(g.nz)) + reach + g.size) * boxSlack
	st.off = !(st.m < g.size/4) || math.IsInf(st.r2hi, 1)
	if r := g.smallReach(); r >= 0 {
		st.near0, st.near1 = g.base.box(g.ox, g.oz, r), g.base.box(g.nx, g.nz, r)
		st.hasNear = true
	}
	return st
}

// span returns, for the row of cells cz and the circle of squared
// radius r2 (within r2lo..r2hi) around (px, pz), the columns [t0, t1]
// of the cells that may hold an entity within it (t0 > t1 if none) and
// [i0, i1] of those whose entities are all within it (i0 > i1 if none).
// The cells are widened by m, the circle's half-widths by m and the
// squared radius by r2hi/r2lo: margins many orders of magnitude above
// the rounding of these computations and of the cells' coordinates.
func (st *settler) span(px, pz float64, cz int64) (t0, t1, i0, i1 int64) {
	z0, z1 := float64(cz)*st.size-st.m, float64(cz+1)*st.size+st.m
	dmin := max(z0-pz, 0, pz-z1)
	dmax := max(math.Abs(pz-z0), math.Abs(pz-z1))
	t0, t1, i0, i1 = 1, 0, 1, 0
	if d := dmin * dmin; d <= st.r2hi {
		h := math.Sqrt(st.r2hi-d) + st.m
		t0, t1 = int64(math.Floor((px-h)*st.inv)), int64(math.Floor((px+h)*st.inv))
	}
	if d := dmax * dmax; d < st.r2lo {
		h := math.Sqrt(st.r2lo-d) - st.m
		i0, i1 = int64(math.Floor((px-h)*st.inv))+1, int64(math.Floor((px+h)*st.inv))-1
	}
	return t0, t1, i0, i1
}

// scanCover scans the cells of e's cover (box b, e.cover) that may
// change, except those in skip if hasSkip.
func (st *settler) scanCover(g *Grid, e *entity, b, skip box, hasSkip bool) {
	w := b.x1 - b.x0 + 1
	for cz := b.z0; cz <= b.z1; cz++ {
		// Columns to scan: the hull of both circles' crossings, less the
		// cells inside both (unless small entities there may see e).
		x0, x1, s0, s1 := b.x0, b.x1, int64(1), int64(0)
		if !st.off {
			a0, a1, ai0, ai1 := st.span(st.ox, st.oz, cz)
			c0, c1, ci0, ci1 := st.span(st.nx, st.nz, cz)
			switch {
			case a0 > a1 && c0 > c1:
				continue // outside both
			case a0 > a1:
				x0, x1 = max(x0, c0), min(x1, c1)
			case c0 > c1:
				x0, x1 = max(x0, a0), min(x1, a1)
			default:
				x0, x1 = max(x0, min(a0, c0)), min(x1, max(a1, c1))
			}
			if !(st.hasNear && (cz >= st.near0.z0 && cz <= st.near0.z1 || cz >= st.near1.z0 && cz <= st.near1.z1)) {
				s0, s1 = max(ai0, ci0), min(ai1, ci1)
			}
		}
		row := (cz - b.z0) * w
		for cx := x0; cx <= x1; cx++ {
			if cx >= s0 && cx <= s1 {
				cx = s1
				continue
			}
			if hasSkip && skip.has(cx, cz) {
				continue
			}
			g.scanCell(e.cover[row+cx-b.x0].c)
		}
	}
}

// cellAt returns the cell at (cx, cz), or nil, through home's neighbours
// if it is one.
func (g *Grid) cellAt(home *cell, cx, cz int64) *cell {
	if dx, dz := cx-home.cx, cz-home.cz; dx >= -1 && dx <= 1 && dz >= -1 && dz <= 1 {
		return home.nb[(dz+1)*3+dx+1]
	}
	return g.cells[pack(cx, cz)]
}

// scanBox scans the cells of b, except those of skip if hasSkip; home is
// a cell near b's centre.
func (g *Grid) scanBox(b box, home *cell, skip box, hasSkip bool) {
	for cz := b.z0; cz <= b.z1; cz++ {
		for cx := b.x0; cx <= b.x1; cx++ {
			if hasSkip && skip.has(cx, cz) {
				continue
			}
			if c := g.cellAt(home, cx, cz); c != nil {
				g.scanCell(c)
			}
		}
	}
}

// scanCell compares sub, before and after, with each entity of c, in
// both directions (for the other's direction, if it is small), and emits
// what changed.
func (g *Grid) scanCell(c *cell) {
	g.compared += len(c.slots)
	g.scanSlots(c.slots)
}

// scanSlots is scanCell's loop.
func (g *Grid) scanSlots(slots []slot) {
	id := g.subject
	ox, oz, or2, nx, nz, nr2 := g.ox, g.oz, g.or2, g.nx, g.nz, g.nr2
	for i := range slots {
		s := &slots[i]
		dn, do := dist2(nx, nz, s.x, s.z), dist2(ox, oz, s.x, s.z)
		if now := dn <= nr2; now != (do <= or2) && s.id != id {
			g.emit(id, s.id, now)
		}
		if now := dn <= s.r2; now != (do <= s.r2) && s.id != id {
			g.emit(s.id, id, now)
		}
	}
}

// scanAll is scanCell for every entity.
func (g *Grid) scanAll() {
	e := g.sub
	ox, oz, or2, nx, nz, nr2 := g.ox, g.oz, g.or2, g.nx, g.nz, g.nr2
	g.compared += len(g.all)
	for _, o := range g.all {
		if o == e {
			continue
		}
		dn, do := dist2(nx, nz, o.x, o.z), dist2(ox, oz, o.x, o.z)
		if now := dn <= nr2; now != (do <= or2) {
			g.emit(e.id, o.id, now)
		}
		if o.class >= 0 {
			if now := dn <= o.r2; now != (do <= o.r2) {
				g.emit(o.id, e.id, now)
			}
		}
	}
}

// wideTargets compares, for the wide entities registered where sub was
// (c0 at level 0, nil if it was not in the grid) and where it is (c1, nil
// if it is no longer in the grid), whether they see it.
func (g *Grid) wideTargets(c0, c1 *cell) {
	g.scanWide(c0, false, 0, 0)
	if c1 != c0 {
		if c0 != nil {
			g.scanWide(c1, true, c0.cx, c0.cz)
		} else {
			g.scanWide(c1, false, 0, 0)
		}
	}
	before, after := !math.IsNaN(g.ox), !math.IsNaN(g.nx)
	for _, lv := range g.high {
		var x0, z0, x1, z1 int64
		if before {
			x0, z0 = lv.coord(g.ox), lv.coord(g.oz)
			g.scanWide(lv.tiles[pack(x0, z0)], false, 0, 0)
		}
		if after {
			x1, z1 = lv.coord(g.nx), lv.coord(g.nz)
			if !before || x1 != x0 || z1 != z0 {
				g.scanWide(lv.tiles[pack(x1, z1)], before, x0, z0)
			}
		}
	}
}

// scanWide compares, for the wide entities of tile t, whether they see
// sub before and after; if skip, it leaves out those that also cover tile
// (sx, sz) of their level, already compared.
func (g *Grid) scanWide(t *cell, skip bool, sx, sz int64) {
	if t == nil {
		return
	}
	e := g.sub
	g.compared += len(t.wide)
	for _, wr := range t.wide {
		w := wr.e
		if w == e || (skip && w.cov.has(sx, sz)) {
			continue
		}
		dn, do := dist2(g.nx, g.nz, w.x, w.z), dist2(g.ox, g.oz, w.x, w.z)
		if now := dn <= w.r2; now != (do <= w.r2) {
			g.emit(w.id, e.id, now)
		}
	}
}

func (g *Grid) emit(watcher, target ID, enter bool) {
	b, other := 0, watcher
	switch {
	case watcher == g.subject:
		b, other = 1, target
	case watcher > g.subject:
		b = 2
	}
	if enter {
		b += 3
	}
	g.buckets[b] = append(g.buckets[b], other)
	g.pending++
}

// fire delivers the calls of the current operation in the documented
// order.
func (g *Grid) fire() {
	if g.pending == 0 {
		return
	}
	g.busy++
	defer func() {
		g.busy--
		for i := range g.buckets {
			g.buckets[i] = g.buckets[i][:0]
		}
		g.pending = 0
	}()
	if g.cb == nil {
		return
	}
	s := g.subject
	for b, others := range g.buckets {
		slices.Sort(others)
		for _, o := range others {
			w, t := o, s
			if b%3 == 1 {
				w, t = s, o
			}
			if b < 3 {
				g.cb.Leave(w, t)
			} else {
				g.cb.Enter(w, t)
			}
		}
	}
}

// classify sets e's radius and its kind: small (counted in its class),
// wide (registered in the tiles it covers) or omni; e must be unclassed,
// and positioned.
func (g *Grid) classify(e *entity, r float64) {
	e.r, e.r2 = r, r*r
	if math.IsInf(e.r2, 1) {
		e.class = classOmni
		e.oi = len(g.omni)
		g.omni = append(g.omni, e)
		return
	}
	if q := r * g.inv * classesPerCell; q <= maxClass {
		e.class = int(math.Ceil(q))
		g.classCount[e.class]++
		g.topClass = max(g.topClass, e.class)
		return
	}
	e.class = classWide
	e.n0, e.size0 = 0, g.size
	for r > wideCells*e.size0 {
		e.n0++
		e.size0 *= 2
	}
	lv, b := g.levelFor(e)
	g.setCover(e, lv, b)
}

// unclass undoes classify.
func (g *Grid) unclass(e *entity) {
	switch e.class {
	case classOmni:
		last := g.omni[len(g.omni)-1]
		g.omni[e.oi] = last
		last.oi = e.oi
		g.omni[len(g.omni)-1] = nil
		g.omni = g.omni[:len(g.omni)-1]
	case classWide:
		g.setCover(e, nil, box{})
		e.cover = nil
	default:
		g.classCount[e.class]--
		for g.topClass >= 0 && g.classCount[g.topClass] == 0 {
			g.topClass--
		}
	}
}

// levelFor returns the level at which the wide entity e registers, and
// the tiles it covers there: the first level from e.n0 (whose cells are
// at least a tenth of its radius) where they are at most 2*wideCells+2
// on each side. That is e.n0 itself unless e is so far out (beyond about
// 10^9 cell sizes) that the margin for rounding spans many cells. It
// creates the level if needed.
func (g *Grid) levelFor(e *entity) (*level, box) {
	n, size := e.n0, e.size0
	if lv := e.lv; lv != nil && lv.n == n {
		if b := lv.box(e.x, e.z, e.r); b.x1-b.x0 < 2*wideCells+2 && b.z1-b.z0 < 2*wideCells+2 {
			return lv, b
		}
	}
	for {
		t := level{n: n, size: size, inv: 1 / size}
		if b := t.box(e.x, e.z, e.r); b.x1-b.x0 < 2*wideCells+2 && b.z1-b.z0 < 2*wideCells+2 {
			return g.getLevel(n, size), b
		}
		n++
		size *= 2
	}
}

// getLevel returns level n, of tile side size, creating it if needed.
func (g *Grid) getLevel(n int, size float64) *level {
	if n == 0 {
		return &g.base
	}
	i, found := slices.BinarySearchFunc(g.high, n, func(l *level, n int) int { return l.n - n })
	if found {
		return g.high[i]
	}
	lv := &level{n: n, size: size, inv: 1 / size, tiles: make(map[uint64]*cell)}
	g.high = slices.Insert(g.high, i, lv)
	return lv
}

// setCover registers the wide entity e in the tiles of box b at level lv
// (none if lv is nil) instead of where it is registered, keeping the
// entries of the tiles that are in both.
func (g *Grid) setCover(e *entity, lv *level, b box) {
	old := append(g.scratch[:0], e.cover...)
	g.scratch = old
	ob, olv := e.cov, e.lv
	ow := ob.x1 - ob.x0 + 1
	e.cover = e.cover[:0]
	if lv != nil {
		for cz := b.z0; cz <= b.z1; cz++ {
			for cx := b.x0; cx <= b.x1; cx++ {
				k := len(e.cover)
				if lv == olv && ob.has(cx, cz) {
					cr := old[(cz-ob.z0)*ow+cx-ob.x0]
					cr.c.wide[cr.i].k = k
					e.cover = append(e.cover, cr)
					continue
				}
				t := g.tile(lv, cx, cz)
				if lv == &g.base && len(t.slots)+len(t.wide) == 0 {
					g.empty--
				}
				t.wide = append(t.wide, wideRef{e, k})
				e.cover = append(e.cover, coverRef{t, len(t.wide) - 1})
			}
		}
	}
	for j, cr := range old {
		if lv == olv && b.has(ob.x0+int64(j)%ow, ob.z0+int64(j)/ow) {
			continue
		}
		t, i := cr.c, cr.i
		n := len(t.wide) - 1
		if i != n {
			last := t.wide[n]
			t.wide[i] = last
			last.e.cover[last.k].i = i
		}
		t.wide[n] = wideRef{}
		t.wide = t.wide[:n]
		switch {
		case olv == &g.base:
			if n == 0 && len(t.slots) == 0 {
				g.empty++
			}
		case n == 0:
			delete(olv.tiles, t.key)
		}
	}
	clear(old)
	if lv != olv {
		if olv != nil {
			olv.count--
			if olv.n > 0 && olv.count == 0 {
				g.high = slices.DeleteFunc(g.high, func(l *level) bool { return l == olv })
			}
		}
		if lv != nil {
			lv.count++
		}
	}
	e.lv, e.cov = lv, b
}

// tile returns the tile (cx, cz) of lv, creating it if needed.
func (g *Grid) tile(lv *level, cx, cz int64) *cell {
	if lv == &g.base {
		return g.getCell(cx, cz)
	}
	key := pack(cx, cz)
	t := lv.tiles[key]
	if t == nil {
		t = &cell{key: key, cx: cx, cz: cz}
		lv.tiles[key] = t
	}
	return t
}

// slotR2 is the squared radius a cell's slot records for e.
func (e *entity) slotR2() float64 {
	if e.class < 0 {
		return -1
	}
	return e.r2
}

func pack(cx, cz int64) uint64 { return uint64(uint32(cx))<<32 | uint64(uint32(cz)) }

// getCell returns the cell (cx, cz), creating it (empty) if needed.
func (g *Grid) getCell(cx, cz int64) *cell {
	key := pack(cx, cz)
	if c := g.cells[key]; c != nil {
		return c
	}
	var c *cell
	if n := len(g.free); n > 0 {
		c = g.free[n-1]
		g.free[n-1] = nil
		g.free = g.free[:n-1]
	} else {
		c = &cell{}
		c.slots = c.first[:0]
	}
	c.key, c.cx, c.cz = key, cx, cz
	g.cells[key] = c
	g.empty++
	c.nb[4] = c
	for dz := int64(-1); dz <= 1; dz++ {
		for dx := int64(-1); dx <= 1; dx++ {
			k := (dz+1)*3 + dx + 1
			if k == 4 {
				continue
			}
			// Beyond ±cellLimit, pack gives keys no cell has.
			if n := g.cells[pack(cx+dx, cz+dz)]; n != nil {
				c.nb[k] = n
				n.nb[8-k] = c
				if len(n.slots) > 0 {
					c.occupied |= 1 << k
				}
			}
		}
	}
	return c
}

func (g *Grid) addToCell(e *entity, c *cell) {
	if len(c.slots)+len(c.wide) == 0 {
		g.empty--
	}
	e.cell = c
	e.ci = len(c.slots)
	c.slots = append(c.slots, slot{e.x, e.z, e.slotR2(), e.id})
	if len(c.slots) == 1 {
		for k, n := range c.nb {
			if n != nil {
				n.occupied |= 1 << (8 - k)
			}
		}
	}
}

// removeFromCell takes e out of its cell, leaving the cell in the map
// even if empty: tidy drops empty cells in batches, and meanwhile they
// remain valid for the operation in progress.
func (g *Grid) removeFromCell(e *entity) {
	c := e.cell
	n := len(c.slots) - 1
	last := c.slots[n]
	c.slots[e.ci] = last
	g.lookup(last.id).ci = e.ci
	c.slots[n] = slot{}
	c.slots = c.slots[:n]
	if n == len(c.first) && &c.slots[0] != &c.first[0] {
		// Back into the cell's own line pair: the array elsewhere goes.
		copy(c.first[:], c.slots)
		c.slots = c.first[:n]
	}
	e.cell = nil
	if n == 0 {
		for k, nb := range c.nb {
			if nb != nil {
				nb.occupied &^= 1 << (8 - k)
			}
		}
		if len(c.wide) == 0 {
			g.empty++
		}
	}
}

// tidy drops the empty cells once they outnumber the others (plus a
// margin), so that walking the world does not leave a trail of them and
// crossing a cell's edge back and forth does not create and drop it each
// time.
func (g *Grid) tidy() {
	if g.empty <= len(g.cells)-g.empty+64 {
		return
	}
	for key, c := range g.cells {
		if len(c.slots)+len(c.wide) > 0 {
			continue
		}
		delete(g.cells, key)
		for k, nb := range c.nb {
			if k != 4 && nb != nil {
				nb.nb[8-k] = nil
			}
		}
		c.nb = [9]*cell{}
		c.occupied = 0
		if len(g.free) < 1024 {
			c.slots = c.first[:0]
			if cap(c.wide) > 16 {
				c.wide = nil
			}
			g.free = append(g.free, c)
		}
	}
	g.empty = 0
}

// dist2 is the squared distance used by every visibility test. The
// explicit conversions forbid fused multiply-adds, so that the result is
// the same on every platform and for both orders of the arguments.
func dist2(x1, z1, x2, z2 float64) float64 {
	dx, dz := x2-x1, z2-z1
	return float64(dx*dx) + float64(dz*dz)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
