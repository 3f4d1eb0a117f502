package game

import "sync"

// inQueue holds the frames from the dispatchers for the game loop: a FIFO
// that the links' reader goroutines push to without waiting, up to limit
// bytes, and the loop pops from.
//
// It must not make a reader wait for the loop while the loop may wait for
// a link (back-pressure: a game loop whose dispatcher link is full waits
// in its flush). A dispatcher that forwards to this game what this game
// sent (a create placed here, a call between its entities through the
// dispatcher) would then wait for this game's reader, which waited for
// the loop, which waited for the dispatcher: a deadlock. So a reader
// waits only past limit bytes (four times the link's send buffer: an
// overload well past any back-pressure), and then only until half of it
// is left.
type inQueue struct {
	mu     sync.Mutex
	items  []inbound
	head   int
	bytes  int
	limit  int
	signal chan struct{} // one token while items are waiting
	room   chan struct{} // closed when bytes drop to limit/2; nil: no pusher waits
}

func newInQueue(limit int) *inQueue {
	return &inQueue{limit: limit, signal: make(chan struct{}, 1)}
}

// push appends m, waiting while the queue holds limit bytes or more,
// unless done is closed (the frame is then dropped).
func (q *inQueue) push(m inbound, done <-chan struct{}) {
	for {
		q.mu.Lock()
		if q.bytes < q.limit {
			break
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-done:
			return
		}
	}
	q.items = append(q.items, m)
	q.bytes += len(m.body)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// pop returns the oldest frame, if any. After a pop that leaves frames
// waiting, the signal is raised again, so that the loop's select sees it
// among its other cases, one frame per wake-up.
func (q *inQueue) pop() (inbound, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return inbound{}, false
	}
	m := q.items[q.head]
	q.items[q.head] = inbound{}
	q.head++
	q.bytes -= len(m.body)
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head >= 1024 && q.head*2 >= len(q.items) {
		// Reclaim the popped front now and then.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	if q.room != nil && q.bytes <= q.limit/2 {
		close(q.room)
		q.room = nil
	}
	if q.head < len(q.items) {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	return m, true
}

// len returns the frames waiting.
func (q *inQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}
