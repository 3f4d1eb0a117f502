package aoi

import (
	"math"
	"testing"
)

// FuzzGrid decodes operations from the input and checks each one against
// the reference: same error, same callbacks in the same order, every call a
// real change; and, at the end, the grid's pairs and invariants.
//
// Byte 0 picks the cell size. Then each operation takes 4 bytes: kind and
// ID, then two value bytes. Coordinates are small multiples of a quarter
// (so exact boundaries are common) or special values (NaN, ±Inf, ±1e300,
// ±1.7e308); radii likewise (negative, NaN, 0, +Inf, 1e155, multiples
// of a 32nd of the cell size up to 6.2 cells, and whole numbers of cells
// from 10 to 59: the limit of the wide entities' level 0 and levels 1 to
// 3 beyond it).
func FuzzGrid(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 100, 100, 40, 1, 101, 100, 40, 8, 100, 120, 0, 17, 0, 0, 0})
	f.Add([]byte{2, 0, 130, 125, 16, 1, 128, 125, 16, 2, 126, 125, 16, 9, 120, 129, 0, 25, 0, 0, 200, 33, 0, 0, 0})
	f.Add([]byte{3, 0, 250, 0, 0, 0, 253, 253, 252, 1, 254, 254, 253, 9, 251, 0, 0, 17, 0, 0, 251})
	f.Add([]byte{0, 0, 1, 1, 255, 1, 1, 1, 0, 2, 1, 1, 8, 3, 1, 1, 24, 11, 200, 5, 0, 4, 9, 9, 9, 37, 0, 0, 0})
	// Issue 18: a crowd of 20 on one spot that walks, whose members
	// become wide (10 and 25 cells), omni, small again, and are removed.
	f.Add([]byte{2, 0, 125, 125, 40, 8, 126, 125, 41, 16, 127, 125, 42, 24, 125, 125, 43, 32, 126, 125, 44, 40, 127, 125, 45, 48, 125, 125, 46, 56, 126, 125, 47, 64, 127, 125, 48, 72, 125, 125, 49, 80, 126, 125, 50, 88, 127, 125, 51, 96, 125, 125, 52, 104, 126, 125, 53, 112, 127, 125, 54, 120, 125, 125, 55, 128, 126, 125, 56, 136, 127, 125, 57, 144, 125, 125, 58, 152, 126, 125, 59, 4, 130, 120, 0, 28, 130, 120, 0, 52, 130, 120, 0, 76, 130, 120, 0, 100, 130, 120, 0, 124, 130, 120, 0, 148, 130, 120, 0, 30, 0, 0, 200, 38, 0, 0, 215, 46, 0, 0, 252, 50, 20, 230, 0, 26, 126, 126, 0, 36, 200, 60, 0, 61, 0, 0, 0, 46, 0, 0, 10, 29, 0, 0, 0})
	// Two wide entities (10 and 35 cells) walking across cells past a
	// small one and a mid one, then changing levels and teleporting.
	f.Add([]byte{1, 8, 100, 100, 200, 16, 140, 100, 0, 24, 100, 160, 225, 32, 125, 125, 16, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 12, 200, 200, 0, 28, 40, 60, 0, 30, 0, 0, 201, 14, 0, 0, 240, 18, 0, 249, 0, 10, 249, 0, 0, 39, 8, 0, 0, 30, 0, 0, 100})
	// A wide entity (ten cells) stepping a unit at a time past entities
	// exactly on its circle: the cells it skips (wholly inside or outside
	// its circle before and after) are decided at exact boundaries.
	f.Add([]byte{0, 8, 125, 125, 200, 16, 165, 125, 32, 24, 125, 165, 32, 32, 85, 125, 0, 40, 149, 157, 32, 48, 161, 125, 255, 12, 192, 128, 0, 12, 192, 128, 0, 12, 192, 128, 0, 12, 192, 128, 0, 12, 64, 128, 0, 12, 64, 128, 0, 12, 64, 128, 0, 12, 64, 128, 0, 12, 128, 192, 0, 12, 128, 64, 0, 10, 133, 125, 0, 10, 125, 125, 0})
	f.Fuzz(fuzzGrid)
}

func fuzzGrid(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	cells := [...]float64{1, 2.5, 10, 64}
	cell := cells[int(data[0])%len(cells)]
	c := newChecker(t, "fuzz", newGridImpl(cell), 0)
	coord := func(b byte) float64 {
		switch b {
		case 250:
			return math.NaN()
		case 251:
			return math.Inf(1)
		case 252:
			return math.Inf(-1)
		case 253:
			return 1e300
		case 254:
			return -1e300
		case 255:
			return 1.7e308
		}
		return (float64(b) - 125) * cell / 4
	}
	radius := func(b byte) float64 {
		switch b {
		case 250:
			return -1
		case 251:
			return math.NaN()
		case 252:
			return math.Inf(1)
		case 253:
			return 1e155
		case 254:
			return math.Inf(-1)
		case 255:
			return 0
		}
		if b >= 200 {
			return float64(b-190) * cell // 10 to 59 cells
		}
		return float64(b) * cell / 32 // up to 6.2 cells
	}
	const maxOps = 256
	data = data[1:]
	for n := 0; len(data) >= 4 && n < maxOps; n++ {
		k, a, b, r := data[0], data[1], data[2], data[3]
		data = data[4:]
		id := ID(k >> 3)
		switch k & 7 {
		case 0, 1:
			c.do(op{opInsert, id, coord(a), coord(b), radius(r)})
		case 2, 3:
			c.do(op{kind: opMove, id: id, x: coord(a), z: coord(b)})
		case 4: // a small step from where it is
			if e := c.ref.slot; e != nil {
				if s, ok := e[id]; ok {
					p := c.ref.ents[s]
					c.do(op{kind: opMove, id: id, x: p.x + (float64(a)-128)/64, z: p.z + (float64(b)-128)/64})
					continue
				}
			}
			c.do(op{kind: opMove, id: id, x: coord(a), z: coord(b)})
		case 5:
			c.do(op{kind: opRemove, id: id})
		case 6:
			c.do(op{kind: opSetRadius, id: id, r: radius(r)})
		case 7: // onto another entity's spot
			if s, ok := c.ref.slot[ID(a>>3)]; ok {
				p := c.ref.ents[s]
				c.do(op{kind: opMove, id: id, x: p.x, z: p.z})
			} else {
				c.do(op{kind: opRemove, id: id})
			}
		}
	}
	c.full()
}
