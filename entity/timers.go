package entity

import (
	"container/heap"
	"errors"
	"fmt"
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// TimerID identifies a timer within its entity. IDs are stable: they are
// data, saved with the timer, not pointers.
type TimerID uint64

// timer is an entity timer stored as data: the callback is a method name
// and the arguments are msgpack, so timers can be frozen and migrated.
type timer struct {
	id       TimerID
	method   string
	args     []byte // msgpack array
	fireAt   time.Time
	interval time.Duration // 0: fires once
	seq      uint64        // heap insertion order, for stable ordering
}

type timerEntry struct {
	t *timer
	e *Entity
}

type timerHeap []timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].t.fireAt.Equal(h[j].t.fireAt) {
		return h[i].t.fireAt.Before(h[j].t.fireAt)
	}
	return h[i].t.seq < h[j].t.seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = timerEntry{}
	*h = old[:len(old)-1]
	return x
}

// ErrTimer is wrapped by AddCallback and AddTimer errors.
var ErrTimer = errors.New("entity: bad timer")

// AddCallback calls method (a method of the entity's type, as for RPC)
// with args once, after d. The arguments are checked against the method's
// parameters now, so a mistake is an error here rather than when it fires.
func (e *Entity) AddCallback(d time.Duration, method string, args ...any) (TimerID, error) {
	return e.addTimer(d, 0, method, args)
}

// AddTimer calls method with args every interval, first after interval.
func (e *Entity) AddTimer(interval time.Duration, method string, args ...any) (TimerID, error) {
	if interval <= 0 {
		return 0, fmt.Errorf("%w: interval %v must be positive", ErrTimer, interval)
	}
	return e.addTimer(interval, interval, method, args)
}

// CancelTimer cancels a timer; it reports whether the timer existed.
// A pending request (Request), which the engine keeps as a timer of its
// own, is not a timer here.
func (e *Entity) CancelTimer(id TimerID) bool {
	if t, ok := e.timers[id]; !ok || t.method == methodReqTimeout {
		return false
	}
	delete(e.timers, id)
	return true
}

// TimerCount returns the number of active timers (pending requests not
// included: see PendingRequests).
func (e *Entity) TimerCount() int { return len(e.timers) - e.PendingRequests() }

func (e *Entity) addTimer(d, interval time.Duration, method string, args []any) (TimerID, error) {
	if e.destroyed {
		return 0, fmt.Errorf("%w: %s is destroyed", ErrTimer, e)
	}
	m, ok := e.typ.methods[method]
	if !ok {
		return 0, fmt.Errorf("%w: %s has no method %q callable by a timer", ErrTimer, e.typ.name, method)
	}
	enc, err := rpc.AppendArgs(nil, args)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrTimer, err)
	}
	if _, err := rpc.DecodeArgs(enc, m.params); err != nil {
		return 0, fmt.Errorf("%w: %s.%s: %v", ErrTimer, e.typ.name, method, err)
	}
	e.nextTimer++
	t := &timer{id: e.nextTimer, method: method, args: enc, fireAt: e.world.now().Add(d), interval: interval}
	if e.timers == nil {
		e.timers = map[TimerID]*timer{}
	}
	e.timers[t.id] = t
	e.world.schedule(e, t)
	return t.id, nil
}

func (w *World) schedule(e *Entity, t *timer) {
	w.timerSeq++
	t.seq = w.timerSeq
	heap.Push(&w.timers, timerEntry{t: t, e: e})
}

// NextTimer returns when the earliest timer fires (ok false if none).
// Cancelled timers may make it early; RunTimers then simply finds nothing due.
func (en *Engine) NextTimer() (time.Time, bool) {
	w := en.w
	for len(w.timers) > 0 {
		top := w.timers[0]
		if top.e.destroyed || top.e.migrating || top.e.timers[top.t.id] != top.t {
			heap.Pop(&w.timers) // cancelled: drop lazily
			continue
		}
		return top.t.fireAt, true
	}
	return time.Time{}, false
}

// RunTimers fires every timer due at now, in fire-time order.
func (en *Engine) RunTimers(now time.Time) {
	w := en.w
	for len(w.timers) > 0 {
		top := w.timers[0]
		if top.e.destroyed || top.e.migrating || top.e.timers[top.t.id] != top.t {
			heap.Pop(&w.timers)
			continue
		}
		if top.t.fireAt.After(now) {
			return
		}
		heap.Pop(&w.timers)
		t, e := top.t, top.e
		if t.interval > 0 {
			// The next fire keeps the period (no drift); after a stall it
			// fires once, not once per missed period.
			t.fireAt = t.fireAt.Add(t.interval)
			if !t.fireAt.After(now) {
				// Skip the missed periods, keeping the phase.
				missed := now.Sub(t.fireAt)/t.interval + 1
				t.fireAt = t.fireAt.Add(missed * t.interval)
			}
			w.schedule(e, t)
		} else {
			delete(e.timers, t.id)
		}
		if t.method == methodReqTimeout {
			w.requestTimedOut(e, t)
		} else {
			w.invoke(e, t.method, t.args, "timer")
		}
		w.flushLocal()
	}
}
