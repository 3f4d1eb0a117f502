package client

import "sync"

// The events a client holds for its application (Options.EventBuffer of
// them, 1024 by default) cost memory only while the application is
// behind. The Events channel itself holds eventChanCap; when it is full,
// further events wait in a queue that a pump goroutine, which runs only
// while the queue is not empty, moves into the channel as the
// application reads. The queue grows as it fills and is given back once
// it is empty. When the channel and the queue together hold
// EventBuffer events, the reader waits for the application, as it did
// when the channel held them all: what the application sees (order,
// capacity, back-pressure) is the same, and a client whose application
// keeps up holds a 32-slot channel rather than a 1024-slot one (16 KB).

// eventChanCap is the capacity of the Events channel (or EventBuffer, if
// smaller).
const eventChanCap = 32

// eventQueue holds the events that found the Events channel full.
type eventQueue struct {
	mu      sync.Mutex
	q       []Event       // oldest first; nil when empty
	max     int           // the most q may hold: EventBuffer less the channel's capacity
	pumping bool          // a pump goroutine is delivering q
	final   bool          // run has ended: the pump closes the channel once q is delivered
	room    chan struct{} // the pump delivered an event from q (1 slot)
}

// emit delivers ev to the application: into the Events channel if it
// has room and nothing is queued before it, else into the queue; when
// both are full it waits for the application, or until Close begins
// (then ev is dropped and it returns false). Events are delivered
// whenever there is room, even once Close has begun, so that events
// (Disconnected above all) are not dropped at random. On the run
// goroutine only: the pump it starts is counted in c.wg, which run holds.
func (c *Client) emit(ev Event) bool {
	if c.opts.OnEvent != nil {
		return c.callHandler(ev) // onevent.go
	}
	q := &c.evq
	q.mu.Lock()
	for {
		if !q.pumping {
			select {
			case c.events <- ev:
				q.mu.Unlock()
				return true
			default:
			}
		}
		select {
		case <-c.closing:
			// As before the queue: what does not fit now is dropped.
			q.mu.Unlock()
			return false
		default:
		}
		if len(q.q) < q.max {
			q.q = append(q.q, ev)
			if !q.pumping {
				q.pumping = true
				c.wg.Add(1)
				go c.pump()
			}
			q.mu.Unlock()
			return true
		}
		q.mu.Unlock()
		if q.max == 0 {
			// No queue (EventBuffer ≤ eventChanCap): wait on the channel.
			select {
			case c.events <- ev:
				return true
			case <-c.closing:
				return false
			}
		}
		select {
		case <-q.room:
		case <-c.closing:
		}
		q.mu.Lock()
	}
}

// pump moves the queued events into the Events channel, in order, as
// the application reads, and ends when the queue is empty; once Close
// has begun, it delivers what fits and drops the rest. If run has ended
// meanwhile, it closes the channel after the last event.
func (c *Client) pump() {
	defer c.wg.Done()
	q := &c.evq
	for {
		q.mu.Lock()
		if len(q.q) == 0 {
			q.q = nil // give a grown queue back
			q.pumping = false
			if q.final {
				close(c.events)
			}
			q.mu.Unlock()
			return
		}
		ev := q.q[0] // it stays counted in q until the channel takes it
		q.mu.Unlock()
		select {
		case c.events <- ev:
		case <-c.closing:
			select {
			case c.events <- ev:
			default:
			}
		}
		q.mu.Lock()
		q.q[0] = nil
		q.q = q.q[1:]
		q.mu.Unlock()
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
}

// closeEvents closes the Events channel after the last event: at once,
// or, if the pump is still delivering, once it is done. On the run
// goroutine, after its last emit.
func (c *Client) closeEvents() {
	if c.opts.OnEvent != nil {
		return // closedEvents, closed from the start
	}
	q := &c.evq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pumping {
		q.final = true
		return
	}
	close(c.events)
}
