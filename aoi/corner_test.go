package aoi

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A move within its cell skips the corner cells of its 3×3 block that are
// beyond reach of both its old and its new position (farCorners). An
// entity there exactly at the reach, or nearer than the rounding of the
// cells' edges, must still be found.
func TestCornerAtReach(t *testing.T) {
	g, rec := newRecGrid(10)
	tiny := math.SmallestNonzeroFloat64
	// Far away: with fewer than nine entities, every move scans them all.
	for i := range ID(10) {
		must(t, g.Insert(1000+i, 1000+100*float64(i), 1000, 10))
	}
	expect(t, rec)
	must(t, g.Insert(1, 6.5, 8.5, 10))
	// In cell (-1, -1), at (0, 0) to within a denormal: from (6, 8), its
	// squared distance rounds to exactly 100, so it is in view.
	must(t, g.Insert(2, -tiny, -tiny, 10))
	expect(t, rec)
	must(t, g.Move(1, 6, 8))
	expect(t, rec, enter(1, 2), enter(2, 1))
	must(t, g.Move(1, 6.000001, 8))
	expect(t, rec, leave(1, 2), leave(2, 1))
	// In cell (1, 1) exactly at the corner (10, 10), 10 from (4, 2).
	must(t, g.Remove(2))
	must(t, g.Insert(3, 10, 10, 10))
	must(t, g.Move(1, 4, 2))
	expect(t, rec, enter(1, 3), enter(3, 1))
	must(t, g.Move(1, 3.9999999, 2))
	expect(t, rec, leave(1, 3), leave(3, 1))
}

// The corners skipped are really not read: a move near a cell's corner
// compares none of the entities of the opposite corner cell, and the
// answers stay those of the reference.
func TestCornerSkipped(t *testing.T) {
	g := NewGrid(10, nil)
	// Ten entities in each of the nine cells around (0, 0)..(10, 10).
	id := ID(100)
	for cz := -1; cz <= 1; cz++ {
		for cx := -1; cx <= 1; cx++ {
			for k := range 10 {
				must(t, g.Insert(id, float64(cx)*10+0.5+float64(k)*0.9, float64(cz)*10+0.5+float64(k)*0.9, 10))
				id++
			}
		}
	}
	must(t, g.Insert(1, 9, 9, 10))
	before := g.compared
	must(t, g.Move(1, 9.5, 9))
	// (9, 9) and (9.5, 9) are more than 10 from the cell (-1, -1): its
	// ten entities are not compared, the other 80 (and 1 itself) are.
	if got := g.compared - before; got != 81 {
		t.Errorf("the move compared %d entries, want 81 (the corner (-1, -1) skipped)", got)
	}
	before = g.compared
	must(t, g.Move(1, 5, 5))
	if got := g.compared - before; got != 91 {
		t.Errorf("the move to the centre compared %d entries, want all 91", got)
	}
}

// Random moves within and across cells, with entities placed in the
// corner cells next to the corner points of the subject's cell, the
// subject moving to about r from such a point (rounded either way),
// checked against the reference.
func TestCornerProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 40))
	jitter := func(v float64) float64 {
		switch rng.IntN(3) {
		case 0:
			return math.Nextafter(v, math.Inf(1))
		case 1:
			return math.Nextafter(v, math.Inf(-1))
		}
		return v
	}
	for _, r := range []float64{10, 7.5, 5.1, 3} {
		c := newChecker(t, "corners", newGridImpl(10), 500)
		const subject = 1
		x, z := 5.0, 5.0
		if c.do(op{kind: opInsert, id: subject, x: x, z: z, r: r}) != nil {
			t.Fatal("insert failed")
		}
		next := ID(2)
		for range 1500 {
			// A corner point of the cell the subject is in, and one of
			// the corner cells there.
			cx, cz := math.Floor(x/10)*10, math.Floor(z/10)*10
			sx, sz := float64(rng.IntN(2)), float64(rng.IntN(2))
			px, pz := cx+sx*10, cz+sz*10
			dx, dz := sx*2-1, sz*2-1 // from the cell towards the corner cell
			if rng.IntN(2) == 0 {
				// An entity in the corner cell, at the corner point or
				// near it, with a radius up to r.
				d := []float64{0, 1e-12, 1e-6, 0.01, 0.5}[rng.IntN(5)]
				ex, ez := jitter(px+dx*d*rng.Float64()), jitter(pz+dz*d*rng.Float64())
				c.do(op{kind: opInsert, id: next, x: ex, z: ez, r: r * (0.5 + rng.Float64()*0.5)})
				next++
			}
			var nx, nz float64
			if rng.IntN(2) == 0 {
				// To about r from the corner point, inside the cell.
				a := (rng.Float64()*0.8 + 0.1) * math.Pi / 2
				nx, nz = jitter(px-dx*r*math.Cos(a)), jitter(pz-dz*r*math.Sin(a))
			} else {
				nx, nz = x+(rng.Float64()*2-1)*2, z+(rng.Float64()*2-1)*2
			}
			nx, nz = math.Mod(math.Abs(nx), 40), math.Mod(math.Abs(nz), 40)
			c.do(op{kind: opMove, id: subject, x: nx, z: nz})
			x, z = nx, nz
			if next > 100 && rng.IntN(2) == 0 {
				c.do(op{kind: opRemove, id: 2 + ID(rng.IntN(int(next-2)))})
			}
		}
		c.full()
		if err := checkInvariants(c.grid); err != nil {
			t.Fatal(err)
		}
	}
}
