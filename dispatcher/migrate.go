package dispatcher

import (
	"sync"

	"github.com/goworld-engine/goworld/rpc"
)

// entityQueue holds the packets for an entity that is migrating.
type entityQueue struct {
	mu      sync.Mutex
	frames  []byte
	dropped int
}

// add appends a frame to the migration queue within limit (see
// appendBounded).
func (q *entityQueue) add(limit int, t rpc.MsgType, body []byte) (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return appendBounded(&q.frames, &q.dropped, limit, t, body)
}

// take empties the migration queue and returns its frames.
func (q *entityQueue) take() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	frames := q.frames
	q.frames = nil
	return frames
}

// forwardFramesLocked sends whole frames to game gid, one by one (through
// its freeze queue if it is frozen). The caller holds d.mu.
func (d *Dispatcher) forwardFramesLocked(out *rpc.Batch, gid rpc.GameID, frames []byte) {
	for len(frames) >= rpc.HeaderSize {
		t, n, err := rpc.ParseHeader(frames[:rpc.HeaderSize], len(frames))
		if err != nil || rpc.HeaderSize+n > len(frames) {
			d.log.Errorf("dispatcher: corrupt migration queue (%v); %d bytes dropped", err, len(frames))
			return
		}
		d.toGameLocked(out, gid, t, frames[rpc.HeaderSize:rpc.HeaderSize+n])
		frames = frames[rpc.HeaderSize+n:]
	}
}
