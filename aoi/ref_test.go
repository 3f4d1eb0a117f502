package aoi

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// refAOI is the brute-force reference: every operation compares the moved
// entity with every other one (O(n) per operation, O(n^2) for a round), and
// visibility is a dense bit matrix indexed by slot. It is deliberately
// simple; allPairs recomputes everything from the positions in O(n^2).
type refAOI struct {
	cb     Callbacks
	slot   map[ID]int
	ents   []refEnt // by slot
	free   []int
	n      int      // matrix dimension
	vis    []uint64 // bit i*n+j: slot i sees slot j
	events []event
}

// event is one callback: Enter if enter, else Leave.
type event struct {
	watcher, target ID
	enter           bool
}

type refEnt struct {
	id   ID
	x, z float64
	r    float64
	live bool
}

func newRef(cb Callbacks) *refAOI {
	return &refAOI{cb: cb, slot: make(map[ID]int)}
}

// refSees is the visibility rule of the package doc, written out again.
func refSees(w, t *refEnt) bool {
	dx := t.x - w.x
	dz := t.z - w.z
	return float64(dx*dx)+float64(dz*dz) <= float64(w.r*w.r)
}

func (r *refAOI) get(i, j int) bool { k := i*r.n + j; return r.vis[k/64]&(1<<(k%64)) != 0 }
func (r *refAOI) set(i, j int, v bool) {
	k := i*r.n + j
	if v {
		r.vis[k/64] |= 1 << (k % 64)
	} else {
		r.vis[k/64] &^= 1 << (k % 64)
	}
}

func (r *refAOI) newSlot() int {
	if n := len(r.free); n > 0 {
		s := r.free[n-1]
		r.free = r.free[:n-1]
		return s
	}
	s := len(r.ents)
	r.ents = append(r.ents, refEnt{})
	if s >= r.n {
		n := max(64, 2*r.n)
		vis := make([]uint64, (n*n+63)/64)
		old := *r
		r.n, r.vis = n, vis
		for i := 0; i < old.n; i++ {
			for j := 0; j < old.n; j++ {
				if old.get(i, j) {
					r.set(i, j, true)
				}
			}
		}
	}
	return s
}

func validPos(x, z float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0) && !math.IsNaN(z) && !math.IsInf(z, 0)
}

func (r *refAOI) Len() int { return len(r.slot) }

func (r *refAOI) Insert(id ID, x, z, radius float64) error {
	if _, ok := r.slot[id]; ok {
		return ErrDuplicateID
	}
	if !validPos(x, z) {
		return ErrInvalidPosition
	}
	if math.IsNaN(radius) || radius < 0 {
		return ErrInvalidRadius
	}
	s := r.newSlot()
	r.slot[id] = s
	r.ents[s] = refEnt{id: id, x: x, z: z, r: radius, live: true}
	r.update(s)
	return nil
}

func (r *refAOI) Move(id ID, x, z float64) error {
	s, ok := r.slot[id]
	if !ok {
		return ErrUnknownID
	}
	if !validPos(x, z) {
		return ErrInvalidPosition
	}
	r.ents[s].x, r.ents[s].z = x, z
	r.update(s)
	return nil
}

func (r *refAOI) SetRadius(id ID, radius float64) error {
	s, ok := r.slot[id]
	if !ok {
		return ErrUnknownID
	}
	if math.IsNaN(radius) || radius < 0 {
		return ErrInvalidRadius
	}
	r.ents[s].r = radius
	r.update(s)
	return nil
}

func (r *refAOI) Remove(id ID) error {
	s, ok := r.slot[id]
	if !ok {
		return ErrUnknownID
	}
	for o := range r.ents {
		if r.get(s, o) {
			r.set(s, o, false)
			r.events = append(r.events, event{id, r.ents[o].id, false})
		}
		if r.get(o, s) {
			r.set(o, s, false)
			r.events = append(r.events, event{r.ents[o].id, id, false})
		}
	}
	r.ents[s] = refEnt{}
	delete(r.slot, id)
	r.free = append(r.free, s)
	r.fire()
	return nil
}

// update recomputes both directions between slot s and every other slot.
func (r *refAOI) update(s int) {
	e := &r.ents[s]
	for o := range r.ents {
		t := &r.ents[o]
		if o == s || !t.live {
			continue
		}
		if now := refSees(e, t); now != r.get(s, o) {
			r.set(s, o, now)
			r.events = append(r.events, event{e.id, t.id, now})
		}
		if now := refSees(t, e); now != r.get(o, s) {
			r.set(o, s, now)
			r.events = append(r.events, event{t.id, e.id, now})
		}
	}
	r.fire()
}

// sortEvents puts events in the documented order: leaves, then enters,
// each by watcher then target.
func sortEvents(evs []event) {
	sort.Slice(evs, func(i, j int) bool {
		a, b := evs[i], evs[j]
		if a.enter != b.enter {
			return !a.enter
		}
		if a.watcher != b.watcher {
			return a.watcher < b.watcher
		}
		return a.target < b.target
	})
}

func (r *refAOI) fire() {
	sortEvents(r.events)
	for _, ev := range r.events {
		if r.cb == nil {
			break
		}
		if ev.enter {
			r.cb.Enter(ev.watcher, ev.target)
		} else {
			r.cb.Leave(ev.watcher, ev.target)
		}
	}
	r.events = r.events[:0]
}

type pair struct{ watcher, target ID }

// pairs returns the reference's current visibility, from its matrix,
// sorted.
func (r *refAOI) pairs() []pair {
	var ps []pair
	for i := range r.ents {
		for j := range r.ents {
			if r.ents[i].live && r.ents[j].live && r.get(i, j) {
				ps = append(ps, pair{r.ents[i].id, r.ents[j].id})
			}
		}
	}
	sortPairs(ps)
	return ps
}

// allPairs recomputes visibility from the positions alone, O(n^2),
// sorted.
func (r *refAOI) allPairs() []pair {
	var ps []pair
	for i := range r.ents {
		for j := range r.ents {
			if i != j && r.ents[i].live && r.ents[j].live && refSees(&r.ents[i], &r.ents[j]) {
				ps = append(ps, pair{r.ents[i].id, r.ents[j].id})
			}
		}
	}
	sortPairs(ps)
	return ps
}

// sortPairs sorts by watcher, then target. (Sets of pairs are compared as
// sorted slices: maps of a million pairs made the crowd checks slow.)
func sortPairs(ps []pair) {
	slices.SortFunc(ps, func(a, b pair) int {
		if a.watcher != b.watcher {
			return cmp.Compare(a.watcher, b.watcher)
		}
		return cmp.Compare(a.target, b.target)
	})
}

// errKind names the sentinel an error wraps, for comparing implementations.
func errKind(err error) string {
	for _, s := range []error{ErrDuplicateID, ErrUnknownID, ErrInvalidPosition, ErrInvalidRadius, ErrReentrant} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err == nil {
		return "nil"
	}
	return fmt.Sprintf("unexpected error %v", err)
}
