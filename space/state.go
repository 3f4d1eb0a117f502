package space

import "math/bits"

// stateTable maps the members one viewer sees (and the viewer itself,
// while its own position is due) to what its client has of them: the
// flags fShown, fPending, fPos and fGone. It stands in for a map[ID]uint8,
// which routing and sending consult for every (viewer, neighbour) pair:
// an open-addressing table of linear probing, keyed by the small dense
// IDs a Space assigns, with backward-shift deletion, so that no
// tombstones build up however often entities come and go. Each slot is
// one uint32: the ID in the low 28 bits (0, never a member's, marks an
// empty slot) and the four flags above it, so that the table of a
// viewer with 60 entities in sight is 512 bytes. A viewer sees about 60
// entities in a town and a thousand in a crowd; the table fills at most
// 3/4 of its slots and halves when it fills under 1/8 of them, so it has
// at most eight slots per entry (or minStateSlots).
//
// IDs are at most maxID (Add assigns no larger one). A state of 0 is
// never stored: clearing an entry's last flag deletes it, so that get's
// 0 means absent.
type stateTable struct {
	e     []uint32 // len a power of two (or 0)
	n     int      // entries held
	shown int      // entries with fShown: what the client holds
	pend  int      // entries with fPending: creates that wait
	due   int      // entries with fShown and fPos: positions that wait
	shift uint8    // 64 - log2(len(e))
}

const (
	idBits = 28
	idMask = 1<<idBits - 1
	// minStateSlots is the table's smallest size once it holds anything.
	minStateSlots = 16
)

// home returns the slot id hashes to: Fibonacci hashing, which spreads
// consecutive IDs over the table.
func (t *stateTable) home(id uint32) int {
	return int((uint64(id) * 0x9E3779B97F4A7C15) >> t.shift)
}

// find returns the slot holding id, or the empty slot that ends its
// probe sequence. The table must have slots.
func (t *stateTable) find(k uint32) int {
	mask := len(t.e) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		if e := t.e[i]; e&idMask == k || e == 0 {
			return i
		}
	}
}

// get returns id's state, 0 if it has none.
func (t *stateTable) get(id ID) uint8 {
	if t.n == 0 || id > maxID {
		return 0
	}
	return uint8(t.e[t.find(uint32(id))] >> idBits)
}

// or sets the flags f in id's state (adding it) and returns the state
// it had before.
func (t *stateTable) or(id ID, f uint8) uint8 {
	if f == 0 {
		return t.get(id)
	}
	if len(t.e) == 0 {
		t.resize(minStateSlots)
	}
	k := uint32(id)
	i := t.find(k)
	e := t.e[i]
	if e == 0 {
		if 4*(t.n+1) > 3*len(t.e) {
			t.resize(2 * len(t.e))
			i = t.find(k)
		}
		t.n++
		e = k
	}
	ne := e | uint32(f)<<idBits
	t.e[i] = ne
	t.count(e, ne)
	return uint8(e >> idBits)
}

// count keeps the counts of states as an entry's state goes from e to
// ne.
func (t *stateTable) count(e, ne uint32) {
	was, is := uint8(e>>idBits), uint8(ne>>idBits)
	t.shown += b2i(is&fShown != 0) - b2i(was&fShown != 0)
	t.pend += b2i(is&fPending != 0) - b2i(was&fPending != 0)
	t.due += b2i(is&(fShown|fPos) == fShown|fPos) - b2i(was&(fShown|fPos) == fShown|fPos)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clear clears the flags f in id's state, removing it if none are left,
// and returns the state it had before.
func (t *stateTable) clear(id ID, f uint8) uint8 {
	if t.n == 0 || id > maxID {
		return 0
	}
	i := t.find(uint32(id))
	e := t.e[i]
	if e == 0 {
		return 0
	}
	ne := e &^ (uint32(f) << idBits)
	t.count(e, ne)
	if ne>>idBits != 0 {
		t.e[i] = ne
	} else {
		t.removeAt(i)
	}
	return uint8(e >> idBits)
}

// turn replaces, in id's state, the flags from by to (not 0), if it has
// any of from; it reports whether it had.
func (t *stateTable) turn(id ID, from, to uint8) bool {
	if t.n == 0 || id > maxID {
		return false
	}
	i := t.find(uint32(id))
	e := t.e[i]
	if e>>idBits&uint32(from) == 0 {
		return false // (an empty slot has no flags)
	}
	ne := e&^(uint32(from)<<idBits) | uint32(to)<<idBits
	t.e[i] = ne
	t.count(e, ne)
	return true
}

// removeAt empties slot i and shifts back the entries after it that
// could have lived there (linear probing's deletion without tombstones).
func (t *stateTable) removeAt(i int) {
	mask := len(t.e) - 1
	j := i
	for {
		j = (j + 1) & mask
		e := t.e[j]
		if e == 0 {
			break
		}
		// e may move to i if its home is not in (i, j] cyclically.
		h := t.home(e & idMask)
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.e[i] = e
			i = j
		}
	}
	t.e[i] = 0
	t.n--
	if len(t.e) > minStateSlots && 8*t.n < len(t.e) {
		t.resize(len(t.e) / 2)
	}
}

func (t *stateTable) resize(size int) {
	old := t.e
	t.e = make([]uint32, size)
	t.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	mask := size - 1
	for _, e := range old {
		if e == 0 {
			continue
		}
		i := t.home(e & idMask)
		for t.e[i] != 0 {
			i = (i + 1) & mask
		}
		t.e[i] = e
	}
}

// all calls fn for every entry. fn must not modify the table.
func (t *stateTable) all(fn func(id ID, st uint8)) {
	for _, e := range t.e {
		if e != 0 {
			fn(ID(e&idMask), uint8(e>>idBits))
		}
	}
}

// len returns the number of entries.
func (t *stateTable) len() int { return t.n }

// held returns the number of entries with fShown: the entities the
// client holds (those whose destroy waits included).
func (t *stateTable) held() int { return t.shown }

// waiting returns the number of entries with fPending (creates that
// wait) and of those with fShown and fPos (held entities whose position
// waits).
func (t *stateTable) waiting() (creates, positions int) { return t.pend, t.due }

// The flags fit in the bits above an ID (a compile-time check).
var _ = [1]struct{}{}[(fShown|fPending|fPos|fGone)>>(32-idBits)]
