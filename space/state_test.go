package space

import (
	"encoding/binary"
	"maps"
	"math/rand/v2"
	"testing"
)

// checkTable compares t with the map it should equal: every key's state
// through get, and the entries through all and len, and checks that the
// table is within its load bounds.
func checkTable(t *testing.T, tab *stateTable, want map[ID]uint8, keys int) {
	t.Helper()
	for id := ID(0); id <= ID(keys)+1; id++ {
		if got := tab.get(id); got != want[id] {
			t.Fatalf("get(%d) = %#x, want %#x", id, got, want[id])
		}
	}
	got := map[ID]uint8{}
	tab.all(func(id ID, st uint8) {
		if _, dup := got[id]; dup {
			t.Fatalf("all names %d twice", id)
		}
		if st == 0 {
			t.Fatalf("all names %d with state 0", id)
		}
		got[id] = st
	})
	if !maps.Equal(got, want) {
		t.Fatalf("all gives %v, want %v", got, want)
	}
	if tab.len() != len(want) {
		t.Fatalf("len() = %d, want %d", tab.len(), len(want))
	}
	shown, pend, due := 0, 0, 0
	for _, st := range want {
		if st&fShown != 0 {
			shown++
		}
		if st&fPending != 0 {
			pend++
		}
		if st&(fShown|fPos) == fShown|fPos {
			due++
		}
	}
	if tab.held() != shown {
		t.Fatalf("held() = %d, want %d", tab.held(), shown)
	}
	if c, p := tab.waiting(); c != pend || p != due {
		t.Fatalf("waiting() = %d, %d; want %d, %d", c, p, pend, due)
	}
	if n := len(tab.e); n != 0 && (4*tab.n > 3*n || (n > minStateSlots && 8*tab.n < n)) {
		t.Fatalf("%d entries in %d slots", tab.n, n)
	}
}

// applyOp applies one operation to the table and to the map, checking
// what the table returns.
func applyOp(t *testing.T, tab *stateTable, want map[ID]uint8, op byte, id ID, f uint8) {
	t.Helper()
	switch op % 3 {
	case 0:
		if old := tab.or(id, f); old != want[id] {
			t.Fatalf("or(%d, %#x) returned %#x, want %#x", id, f, old, want[id])
		}
		if st := want[id] | f; st != 0 {
			want[id] = st
		}
	case 1:
		if old := tab.clear(id, f); old != want[id] {
			t.Fatalf("clear(%d, %#x) returned %#x, want %#x", id, f, old, want[id])
		}
		if st := want[id] &^ f; st != 0 {
			want[id] = st
		} else {
			delete(want, id)
		}
	case 2:
		to := f | fShown // turn's to is never 0
		from := ^f & (fShown | fPending | fPos)
		ok := tab.turn(id, from, to)
		if wantOK := want[id]&from != 0; ok != wantOK {
			t.Fatalf("turn(%d, %#x, %#x) = %v, want %v", id, from, to, ok, wantOK)
		}
		if ok {
			want[id] = want[id]&^from | to
		}
	}
}

// TestStateTableAgainstMap runs random operations on keys from a small
// range (so that IDs are deleted and reused, probe chains wrap around the
// end of the table and collide) and from a wide one (so that the table
// grows past a crowd's size and shrinks back), against a map.
func TestStateTableAgainstMap(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		var tab stateTable
		want := map[ID]uint8{}
		keys := 40
		for step := range 20_000 {
			if step%5000 == 0 {
				keys = []int{40, 2000, 40, 300}[step/5000]
			}
			id := ID(1 + rng.IntN(keys))
			f := uint8(rng.IntN(8))
			op := byte(rng.IntN(3))
			// Bias towards adding while growing, removing while shrinking.
			if keys == 40 && len(want) > 30 && op == 0 {
				op = 1
				f = fShown | fPending | fPos
			}
			applyOp(t, &tab, want, op, id, f)
			if step%97 == 0 {
				checkTable(t, &tab, want, 2000)
			}
		}
		checkTable(t, &tab, want, 2000)
		// Emptied, it shrinks to its smallest size and works on.
		for id := range want {
			tab.clear(id, 0xff)
		}
		clear(want)
		checkTable(t, &tab, want, 2000)
		if len(tab.e) > minStateSlots {
			t.Fatalf("empty table has %d slots", len(tab.e))
		}
		applyOp(t, &tab, want, 0, 7, fPos)
		checkTable(t, &tab, want, 10)
	}
}

// TestStateTableIDsAboveMax: an ID no member can have is never found
// (Shown may be asked about any ID).
func TestStateTableIDsAboveMax(t *testing.T) {
	var tab stateTable
	tab.or(1, fShown)
	if st := tab.get(1 + 1<<idBits); st != 0 {
		t.Fatalf("get(1<<29+1) = %#x, want 0", st)
	}
	if st := tab.clear(1+1<<idBits, fShown); st != 0 || tab.get(1) != fShown {
		t.Fatalf("clear(1<<29+1) = %#x and left %#x", st, tab.get(1))
	}
	if tab.turn(1+1<<idBits, fShown, fPos) || tab.get(1) != fShown {
		t.Fatal("turn(1<<29+1) changed 1")
	}
}

// FuzzStateTable decodes the input as operations (op, ID, flags) on
// IDs up to 64 and checks the table against a map after each.
func FuzzStateTable(f *testing.F) {
	f.Add([]byte{0, 1, 4, 0, 17, 4, 1, 1, 7, 0, 33, 1})
	f.Add(binary.BigEndian.AppendUint64(nil, 0x0001010002010003))
	f.Fuzz(func(t *testing.T, in []byte) {
		var tab stateTable
		want := map[ID]uint8{}
		for i := 0; i+2 < len(in) && i < 3*4096; i += 3 {
			applyOp(t, &tab, want, in[i], ID(1+in[i+1]%64), in[i+2]&7)
			checkTable(t, &tab, want, 64)
		}
	})
}
