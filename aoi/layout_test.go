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
	if size := unsafe.Sizeof(c); size != 192 {
		t.Errorf("a cell is %d bytes, want 192", size)
	}
	if end := unsafe.Offsetof(c.first) + unsafe.Sizeof(c.first); end > 64 {
		t.Errorf("slots and the first slot end at byte %d, beyond the first line", end)
	}
	g := NewGrid(1, nil)
	for i := range 100 {
		c := g.getCell(int64(i), 0)
		if p := uintptr(unsafe.Pointer(c)); p%64 != 0 {
			t.Fatalf("a cell at %#x, not on a 64-byte line", p)
		}
	}
}
