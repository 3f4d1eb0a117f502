package aoi

import "math"

// xzList is a cross-linked-list AOI for comparison, written along the lines
// of xiaonanln/go-aoi's XZListAOIManager: every entity is in a list sorted
// by x and one sorted by z; a move shifts it along both lists, marks the
// nodes within reach on each axis, and the nodes marked twice are the
// candidates. Neighbour sets are maps, as in go-aoi. Unlike go-aoi it uses
// this package's semantics (Euclidean, per-watcher radius, ordered events)
// so that it can be checked against the reference.
type xzList struct {
	cb     Callbacks
	ents   map[ID]*xzNode
	xHead  *xzNode
	zHead  *xzNode
	maxR   float64 // largest radius ever inserted: an upper bound is enough
	events []event
}

type xzNode struct {
	id                         ID
	x, z, r                    float64
	xPrev, xNext, zPrev, zNext *xzNode
	mark                       int
	sees, seenBy               map[*xzNode]struct{}
}

func newXZList(cb Callbacks) *xzList {
	return &xzList{cb: cb, ents: make(map[ID]*xzNode)}
}

func (l *xzList) Len() int { return len(l.ents) }

func (l *xzList) Insert(id ID, x, z, radius float64) error {
	if l.ents[id] != nil {
		return ErrDuplicateID
	}
	if !validPos(x, z) {
		return ErrInvalidPosition
	}
	if math.IsNaN(radius) || radius < 0 {
		return ErrInvalidRadius
	}
	n := &xzNode{id: id, x: x, z: z, r: radius,
		sees: make(map[*xzNode]struct{}), seenBy: make(map[*xzNode]struct{})}
	l.ents[id] = n
	l.maxR = max(l.maxR, radius)
	// Insert from the head, as go-aoi does.
	var prev *xzNode
	for p := l.xHead; p != nil && p.x < x; p = p.xNext {
		prev = p
	}
	l.xInsertAfter(n, prev)
	prev = nil
	for p := l.zHead; p != nil && p.z < z; p = p.zNext {
		prev = p
	}
	l.zInsertAfter(n, prev)
	l.adjust(n)
	return nil
}

func (l *xzList) xInsertAfter(n, prev *xzNode) {
	n.xPrev = prev
	if prev == nil {
		n.xNext = l.xHead
		l.xHead = n
	} else {
		n.xNext = prev.xNext
		prev.xNext = n
	}
	if n.xNext != nil {
		n.xNext.xPrev = n
	}
}

func (l *xzList) zInsertAfter(n, prev *xzNode) {
	n.zPrev = prev
	if prev == nil {
		n.zNext = l.zHead
		l.zHead = n
	} else {
		n.zNext = prev.zNext
		prev.zNext = n
	}
	if n.zNext != nil {
		n.zNext.zPrev = n
	}
}

func (l *xzList) xUnlink(n *xzNode) {
	if n.xPrev != nil {
		n.xPrev.xNext = n.xNext
	} else {
		l.xHead = n.xNext
	}
	if n.xNext != nil {
		n.xNext.xPrev = n.xPrev
	}
	n.xPrev, n.xNext = nil, nil
}

func (l *xzList) zUnlink(n *xzNode) {
	if n.zPrev != nil {
		n.zPrev.zNext = n.zNext
	} else {
		l.zHead = n.zNext
	}
	if n.zNext != nil {
		n.zNext.zPrev = n.zPrev
	}
	n.zPrev, n.zNext = nil, nil
}

func (l *xzList) Move(id ID, x, z float64) error {
	n := l.ents[id]
	if n == nil {
		return ErrUnknownID
	}
	if !validPos(x, z) {
		return ErrInvalidPosition
	}
	n.x, n.z = x, z
	// Shift along the x list.
	if n.xNext != nil && n.xNext.x < x {
		p := n.xNext
		l.xUnlink(n)
		for p.xNext != nil && p.xNext.x < x {
			p = p.xNext
		}
		l.xInsertAfter(n, p)
	} else if n.xPrev != nil && n.xPrev.x > x {
		p := n.xPrev
		l.xUnlink(n)
		for p != nil && p.x > x {
			p = p.xPrev
		}
		l.xInsertAfter(n, p)
	}
	// And along the z list.
	if n.zNext != nil && n.zNext.z < z {
		p := n.zNext
		l.zUnlink(n)
		for p.zNext != nil && p.zNext.z < z {
			p = p.zNext
		}
		l.zInsertAfter(n, p)
	} else if n.zPrev != nil && n.zPrev.z > z {
		p := n.zPrev
		l.zUnlink(n)
		for p != nil && p.z > z {
			p = p.zPrev
		}
		l.zInsertAfter(n, p)
	}
	l.adjust(n)
	return nil
}

func (l *xzList) SetRadius(id ID, radius float64) error {
	n := l.ents[id]
	if n == nil {
		return ErrUnknownID
	}
	if math.IsNaN(radius) || radius < 0 {
		return ErrInvalidRadius
	}
	n.r = radius
	l.maxR = max(l.maxR, radius)
	l.adjust(n)
	return nil
}

func (l *xzList) Remove(id ID) error {
	n := l.ents[id]
	if n == nil {
		return ErrUnknownID
	}
	for t := range n.sees {
		delete(t.seenBy, n)
		l.events = append(l.events, event{n.id, t.id, false})
	}
	for w := range n.seenBy {
		delete(w.sees, n)
		l.events = append(l.events, event{w.id, n.id, false})
	}
	l.xUnlink(n)
	l.zUnlink(n)
	delete(l.ents, id)
	l.fire()
	return nil
}

func xzSees(w, t *xzNode) bool {
	return dist2(w.x, w.z, t.x, t.z) <= w.r*w.r
}

// adjust recomputes n's relations: mark the nodes within reach on the x
// list, then on the z list; those marked twice are candidates.
func (l *xzList) adjust(n *xzNode) {
	reach := max(n.r, l.maxR)
	reach += (math.Abs(n.x) + math.Abs(n.z) + reach) * 1e-9 // rounding
	for p := n.xPrev; p != nil && p.x >= n.x-reach; p = p.xPrev {
		p.mark++
	}
	for p := n.xNext; p != nil && p.x <= n.x+reach; p = p.xNext {
		p.mark++
	}
	for p := n.zPrev; p != nil && p.z >= n.z-reach; p = p.zPrev {
		p.mark++
	}
	for p := n.zNext; p != nil && p.z <= n.z+reach; p = p.zNext {
		p.mark++
	}
	for t := range n.sees {
		if t.mark != 2 || !xzSees(n, t) {
			delete(n.sees, t)
			delete(t.seenBy, n)
			l.events = append(l.events, event{n.id, t.id, false})
		}
	}
	for w := range n.seenBy {
		if w.mark != 2 || !xzSees(w, n) {
			delete(n.seenBy, w)
			delete(w.sees, n)
			l.events = append(l.events, event{w.id, n.id, false})
		}
	}
	visit := func(p *xzNode) {
		if p.mark == 2 {
			if _, ok := n.sees[p]; !ok && xzSees(n, p) {
				n.sees[p] = struct{}{}
				p.seenBy[n] = struct{}{}
				l.events = append(l.events, event{n.id, p.id, true})
			}
			if _, ok := n.seenBy[p]; !ok && xzSees(p, n) {
				n.seenBy[p] = struct{}{}
				p.sees[n] = struct{}{}
				l.events = append(l.events, event{p.id, n.id, true})
			}
		}
		p.mark = 0
	}
	for p := n.xPrev; p != nil && p.x >= n.x-reach; p = p.xPrev {
		visit(p)
	}
	for p := n.xNext; p != nil && p.x <= n.x+reach; p = p.xNext {
		visit(p)
	}
	for p := n.zPrev; p != nil && p.z >= n.z-reach; p = p.zPrev {
		p.mark = 0
	}
	for p := n.zNext; p != nil && p.z <= n.z+reach; p = p.zNext {
		p.mark = 0
	}
	l.fire()
}

func (l *xzList) fire() {
	sortEvents(l.events)
	for _, ev := range l.events {
		if l.cb == nil {
			break
		}
		if ev.enter {
			l.cb.Enter(ev.watcher, ev.target)
		} else {
			l.cb.Leave(ev.watcher, ev.target)
		}
	}
	l.events = l.events[:0]
}
