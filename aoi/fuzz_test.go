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
// ±1.7e308); radii likewise (negative, NaN, 0, +Inf, 1e155, around the cell
// size and above twice the cell size).
func FuzzGrid(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 100, 100, 40, 1, 101, 100, 40, 8, 100, 120, 0, 17, 0, 0, 0})
	f.Add([]byte{2, 0, 130, 125, 16, 1, 128, 125, 16, 2, 126, 125, 16, 9, 120, 129, 0, 25, 0, 0, 200, 33, 0, 0, 0})
	f.Add([]byte{3, 0, 250, 0, 0, 0, 253, 253, 252, 1, 254, 254, 253, 9, 251, 0, 0, 17, 0, 0, 251})
	f.Add([]byte{0, 0, 1, 1, 255, 1, 1, 1, 0, 2, 1, 1, 8, 3, 1, 1, 24, 11, 200, 5, 0, 4, 9, 9, 9, 37, 0, 0, 0})
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
		return float64(b) * cell / 32 // up to almost 8 cells
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
