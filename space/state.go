package space

import "math/bits"

// stateTable maps the members one viewer sees (and the viewer itself,
// while its own position is due) to what its client has of them: the
// flags fShown, fPending and fPos. It stands in for a map[ID]uint8,
// which routing and sending consult for every (viewer, neighbour) pair:
// an open-addressing table of linear probing, keyed by the small dense
// IDs a Space assigns (never 0, which marks an empty slot), with
// backward-shift deletion, so that no tombstones build up however often
// entities come and go. A viewer sees about 60 entities in a town and a
// thousand in a crowd; the table fills at most 3/4 of its slots and
// halves when it fills under 1/8 of them, so it has at most eight slots
// per entry (or minStateSlots).
//
// IDs are at most maxID (Add assigns no larger one); 0 is never a
// member. A state of 0 is never stored: setting one deletes the entry, so that
// get's 0 means absent.
type stateTable struct {
	e     []stateEntry // len a power of two (or 0)
	n     int          // entries held
	shift uint8        // 64 - log2(len(e))
}

type stateEntry struct {
	id uint32 // 0: empty
	st uint8
}

// minStateSlots is the table's smallest size once it holds anything.
const minStateSlots = 16

// home returns the slot id hashes to: Fibonacci hashing, which spreads
// consecutive IDs over the table.
func (t *stateTable) home(id uint32) int {
	return int((uint64(id) * 0x9E3779B97F4A7C15) >> t.shift)
}

// get returns id's state, 0 if it has none.
func (t *stateTable) get(id ID) uint8 {
	if t.n == 0 || id > maxID {
		return 0
	}
	k := uint32(id)
	mask := len(t.e) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		e := t.e[i]
		if e.id == k {
			return e.st
		}
		if e.id == 0 {
			return 0
		}
	}
}

// or sets the flags f in id's state (adding it) and returns the state
// it had before.
func (t *stateTable) or(id ID, f uint8) uint8 {
	if f == 0 {
		return t.get(id)
	}
	k := uint32(id)
	if len(t.e) == 0 {
		t.resize(minStateSlots)
	}
	mask := len(t.e) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		e := &t.e[i]
		if e.id == k {
			old := e.st
			e.st |= f
			return old
		}
		if e.id == 0 {
			if 4*(t.n+1) > 3*len(t.e) {
				t.resize(2 * len(t.e))
				return t.or(id, f)
			}
			e.id, e.st = k, f
			t.n++
			return 0
		}
	}
}

// clear clears the flags f in id's state, removing it if none are left,
// and returns the state it had before.
func (t *stateTable) clear(id ID, f uint8) uint8 {
	if t.n == 0 || id > maxID {
		return 0
	}
	k := uint32(id)
	mask := len(t.e) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		e := &t.e[i]
		if e.id == k {
			old := e.st
			if e.st &^= f; e.st == 0 {
				t.removeAt(i)
			}
			return old
		}
		if e.id == 0 {
			return 0
		}
	}
}

// turn replaces, in id's state, the flags from by to (not 0), if it has
// any of from; it reports whether it had.
func (t *stateTable) turn(id ID, from, to uint8) bool {
	if t.n == 0 || id > maxID {
		return false
	}
	k := uint32(id)
	mask := len(t.e) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		e := &t.e[i]
		if e.id == k {
			if e.st&from == 0 {
				return false
			}
			e.st = e.st&^from | to
			return true
		}
		if e.id == 0 {
			return false
		}
	}
}

// removeAt empties slot i and shifts back the entries after it that
// could have lived there (linear probing's deletion without tombstones).
func (t *stateTable) removeAt(i int) {
	mask := len(t.e) - 1
	j := i
	for {
		j = (j + 1) & mask
		e := t.e[j]
		if e.id == 0 {
			break
		}
		// e may move to i if its home is not in (i, j] cyclically.
		h := t.home(e.id)
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.e[i] = e
			i = j
		}
	}
	t.e[i] = stateEntry{}
	t.n--
	if len(t.e) > minStateSlots && 8*t.n < len(t.e) {
		t.resize(len(t.e) / 2)
	}
}

func (t *stateTable) resize(size int) {
	old := t.e
	t.e = make([]stateEntry, size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	mask := size - 1
	for _, e := range old {
		if e.id == 0 {
			continue
		}
		i := t.home(e.id)
		for t.e[i].id != 0 {
			i = (i + 1) & mask
		}
		t.e[i] = e
	}
}

// all calls fn for every entry. fn must not modify the table.
func (t *stateTable) all(fn func(id ID, st uint8)) {
	for _, e := range t.e {
		if e.id != 0 {
			fn(ID(e.id), e.st)
		}
	}
}

// len returns the number of entries.
func (t *stateTable) len() int { return t.n }
