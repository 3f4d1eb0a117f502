package aoi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The table of IDs (Grid.dense, Grid.sparse) at its edges, against the
// brute-force reference, with a full check (pairs, Neighbors, Watchers,
// and checkInvariants, which checks where each entity is stored and its
// entry in its cell) after every operation. (They were written for an ID
// table that held each entity's cell and slot index, which issue 18
// tried: see docs/perf/2026-12-07-aoi-move-chain.md.)

// walk moves each of ids by random steps of up to step, n times, some of
// them across cells, and some to where it is (which changes nothing).
func walk(c *checker, rng *rand.Rand, ids []ID, pos map[ID][2]float64, step float64, n int) {
	for range n {
		id := ids[rng.IntN(len(ids))]
		p := pos[id]
		if rng.IntN(8) != 0 {
			p[0] += (rng.Float64()*2 - 1) * step
			p[1] += (rng.Float64()*2 - 1) * step
		}
		pos[id] = p
		if err := c.do(op{kind: opMove, id: id, x: p[0], z: p[1]}); err != nil {
			c.fatalf("move %d: %v", id, err)
		}
	}
}

func insertAt(c *checker, pos map[ID][2]float64, id ID, x, z, r float64) {
	pos[id] = [2]float64{x, z}
	if err := c.do(op{kind: opInsert, id: id, x: x, z: z, r: r}); err != nil {
		c.fatalf("insert %d: %v", id, err)
	}
}

// An ID beyond the dense table lives in sparse; when the table grows past
// it, with the entity in its cell, it moves into the table.
func TestIDTableSparseThenDense(t *testing.T) {
	c := newChecker(t, "sparse then dense", newGridImpl(10), 1)
	g := c.grid
	rng := rand.New(rand.NewPCG(18, 1))
	pos := make(map[ID][2]float64)
	const late = ID(1500) // beyond 2*0+1024: sparse when inserted first
	far := ID(1) << 40    // never in the table
	insertAt(c, pos, late, 5, 5, 10)
	insertAt(c, pos, far, 8, 2, 10)
	if _, ok := g.sparse[late]; !ok || late < ID(len(g.dense)) {
		t.Fatalf("ID %d not in sparse (dense holds %d)", late, len(g.dense))
	}
	walk(c, rng, []ID{late, far}, pos, 15, 40)
	// Insert entities, every sixth ID, until the table's range covers
	// late: it grows (and its array moves) while late and the others are
	// in their cells.
	var ids []ID
	grew := 0
	for id := ID(0); len(g.dense) <= int(late); id += 6 {
		before := len(g.dense)
		insertAt(c, pos, id, rng.Float64()*60, rng.Float64()*60, 10)
		ids = append(ids, id)
		if len(g.dense) != before && before > 0 {
			grew++
		}
		if id%60 == 0 {
			walk(c, rng, ids, pos, 15, 5)
		}
	}
	if grew == 0 {
		t.Fatalf("the table did not grow while entities were in it")
	}
	if _, ok := g.sparse[late]; ok || g.dense[late] == nil || g.dense[late].id != late {
		t.Fatalf("ID %d did not move into the table", late)
	}
	if _, ok := g.sparse[far]; !ok {
		t.Fatalf("ID %d left sparse", far)
	}
	walk(c, rng, append(ids, late, far), pos, 15, 400)
}

// An ID removed and inserted again, as small, wide, +Inf, and small with
// a radius just above its class's reach (so that the grid's largest small
// reach, which a move searches, must take the radius itself into
// account), and the same kinds by SetRadius.
func TestIDTableReuse(t *testing.T) {
	// Cell 7: the radius 3.5000000000000004 rounds to class 4, whose
	// reach, 4/8*7, is 3.5: below the radius.
	const cell = 7
	above := math.Nextafter(3.5, 4)
	rng := rand.New(rand.NewPCG(18, 2))
	c := newChecker(t, "reuse", newGridImpl(cell), 1)
	g := c.grid
	pos := make(map[ID][2]float64)
	var ids []ID
	for id := ID(1); id <= 30; id++ {
		insertAt(c, pos, id, rng.Float64()*40, rng.Float64()*40, []float64{0, 3, above, 7}[id%4])
		ids = append(ids, id)
	}
	if e := g.lookup(2); e.r != above || e.class < 0 || float64(e.class)/classesPerCell*cell >= e.r {
		t.Fatalf("entity 2 (radius %v): class %d: want small, beyond its class's reach", e.r, e.class)
	}
	const id = ID(5)
	kinds := []float64{3, above, 3 * cell, math.Inf(1), 0, cell}
	for i, r := range kinds {
		if err := c.do(op{kind: opRemove, id: id}); err != nil {
			c.fatalf("remove: %v", err)
		}
		if g.dense[id] != nil {
			t.Fatalf("removed %d: still in the table", id)
		}
		insertAt(c, pos, id, rng.Float64()*40, rng.Float64()*40, r)
		if e := g.dense[id]; e == nil || e.r != r {
			t.Fatalf("round %d: %d inserted with radius %v: not in the table with it", i, id, r)
		}
		walk(c, rng, ids, pos, 10, 60)
		// The same by SetRadius, from the previous kind.
		prev := kinds[(i+len(kinds)-1)%len(kinds)]
		if err := c.do(op{kind: opSetRadius, id: id, r: prev}); err != nil {
			c.fatalf("set radius: %v", err)
		}
		walk(c, rng, ids, pos, 10, 60)
	}
}

// Many entities walking across cells in a small grid, with IDs in the
// table, in sparse, and reused: the entities that take the place of a
// leaving one in its cell keep their index (checked after every
// operation).
func TestIDTableWalk(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(18, 3+seed))
			c := newChecker(t, fmt.Sprint("walk seed ", seed), newGridImpl(10), 1)
			pos := make(map[ID][2]float64)
			var ids []ID
			for i := range 60 {
				id := ID(i)
				if i%7 == 0 {
					id = ID(5000 + i) // sparse
				}
				insertAt(c, pos, id, rng.Float64()*30, rng.Float64()*30, []float64{10, 4, 0, 25}[i%4])
				ids = append(ids, id)
			}
			for round := range 20 {
				walk(c, rng, ids, pos, 12, 50)
				k := rng.IntN(len(ids))
				id := ids[k]
				if err := c.do(op{kind: opRemove, id: id}); err != nil {
					c.fatalf("remove %d: %v", id, err)
				}
				insertAt(c, pos, id, rng.Float64()*30, rng.Float64()*30, []float64{10, 4, 0, 25}[round%4])
			}
		})
	}
}
