package dispatcher

import (
	"fmt"

	"github.com/goworld-engine/goworld/rpc"
)

// frameQueue holds whole frames in arrival order within a byte budget:
// what waits for a game frozen for a hot reload (frozenGame), for an
// entity migrating between games (entityQueue), and, on a restarted
// dispatcher, for entities and gates that have not come back yet
// (recovery, whose queues share one budget). It is not safe for
// concurrent use: its owner's lock guards it and its budget.
type frameQueue struct {
	frames []byte
	budget *budget
}

// budget bounds the bytes held by one or more frameQueues (and anything
// else reserved from it) and counts what it refused.
type budget struct {
	limit   int
	used    int
	dropped int // frames refused over limit
}

// newQueue returns an empty queue with a budget of its own.
func newQueue(limit int) frameQueue { return frameQueue{budget: &budget{limit: limit}} }

// reserve takes n bytes from the budget; false means there is no room
// (the refusal is counted).
func (b *budget) reserve(n int) bool {
	if b.used+n > b.limit {
		b.dropped++
		return false
	}
	b.used += n
	return true
}

// release gives n bytes back to the budget.
func (b *budget) release(n int) { b.used -= n }

// shouldLog reports whether the latest refusal is one to log: the first,
// then every thousandth, so that a full queue costs a few lines.
func (b *budget) shouldLog() bool { return b.dropped == 1 || b.dropped%1000 == 0 }

// add appends one frame if the budget has room, and reports whether it did.
func (q *frameQueue) add(t rpc.MsgType, body []byte) bool {
	if !q.budget.reserve(rpc.HeaderSize + len(body)) {
		return false
	}
	q.frames = rpc.AppendFrame(q.frames, t, body)
	return true
}

// take empties the queue, giving its bytes back to the budget, and
// returns its frames.
func (q *frameQueue) take() []byte {
	frames := q.frames
	q.frames = nil
	q.budget.release(len(frames))
	return frames
}

// size returns the bytes queued.
func (q *frameQueue) size() int { return len(q.frames) }

// eachFrame calls fn for each whole frame of frames, in order. It stops
// at a frame that does not parse (which a queue's own appends never
// make) and returns why.
func eachFrame(frames []byte, fn func(t rpc.MsgType, body []byte)) error {
	for len(frames) > 0 {
		if len(frames) < rpc.HeaderSize {
			return fmt.Errorf("%d stray bytes", len(frames))
		}
		t, n, err := rpc.ParseHeader(frames[:rpc.HeaderSize], len(frames))
		if err != nil || rpc.HeaderSize+n > len(frames) {
			return fmt.Errorf("frame of %d bytes in %d: %v", n, len(frames), err)
		}
		fn(t, frames[rpc.HeaderSize:rpc.HeaderSize+n])
		frames = frames[rpc.HeaderSize+n:]
	}
	return nil
}
