package aoi

import (
	"testing"
	"unsafe"
)

// The cell's layout is chosen for the cache (see cell): keep it so.
func TestCellLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is tuned for 64-bit platforms")
	}
	var c cell
	if size := unsafe.Sizeof(c); size != 256 {
		t.Errorf("a cell is %d bytes, want 256", size)
	}
	if end := unsafe.Offsetof(c.first) + unsafe.Sizeof(c.first[0]); end > 64 {
		t.Errorf("slots and the first entry end at byte %d, beyond the first line", end)
	}
	if end := unsafe.Offsetof(c.first) + unsafe.Sizeof(c.first); end > 128 {
		t.Errorf("the inline entries end at byte %d, beyond the second line", end)
	}
	g := NewGrid(1, nil)
	for i := range 100 {
		c := g.getCell(int64(i), 0)
		if p := uintptr(unsafe.Pointer(c)); p%128 != 0 {
			t.Fatalf("a cell at %#x, not on a 128-byte boundary (a pair of lines)", p)
		}
	}
}

// A cell's entries go back into the cell itself when they fit there
// again, and stay exact through the copy.
func TestCellEntriesReturnInline(t *testing.T) {
	g := NewGrid(10, nil)
	const n = 6
	for i := range ID(n) {
		must(t, g.Insert(i, 1+float64(i), 1, 5))
	}
	c := g.lookup(0).cell
	if len(c.slots) != n || &c.slots[0] == &c.first[0] {
		t.Fatalf("%d entries, inline %v; want %d in an array of their own", len(c.slots), &c.slots[0] == &c.first[0], n)
	}
	for i := range ID(n) {
		must(t, g.Move(i, 15+float64(i)*0.1, 1)) // into the next cell
		left := n - 1 - int(i)
		if len(c.slots) != left {
			t.Fatalf("after %d moved out: %d entries, want %d", i+1, len(c.slots), left)
		}
		if left > 0 && left <= len(c.first) && &c.slots[0] != &c.first[0] {
			t.Fatalf("%d entries left outside the cell", left)
		}
		for j := i + 1; j < n; j++ {
			e := g.lookup(j)
			if e.cell != c || c.slots[e.ci].x != e.x || c.slots[e.ci].z != e.z {
				t.Fatalf("entity %d: its entry in the cell does not match it", j)
			}
		}
		for j := range ID(n) {
			want := 0
			for k := range ID(n) {
				if k != j && g.Sees(j, k) {
					want++
				}
			}
			if got := len(neighbors(g, j)); got != want {
				t.Fatalf("after %d moved out: %d has %d neighbours, Sees gives %d", i+1, j, got, want)
			}
		}
	}
}
