package dispatcher

import (
	"sync"

	"github.com/goworld-engine/goworld/rpc"
)

// entityQueue holds the packets for an entity that is migrating.
type entityQueue struct {
	mu sync.Mutex
	q  frameQueue // within MigrateQueueLimit
}

// add appends a frame to the migration queue, within its bound; it
// returns whether it did, and the frames refused so far (log when
// shouldLog).
func (q *entityQueue) add(t rpc.MsgType, body []byte) (kept bool, dropped int, shouldLog bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept = q.q.add(t, body)
	return kept, q.q.budget.dropped, !kept && q.q.budget.shouldLog()
}

// take empties the migration queue and returns its frames.
func (q *entityQueue) take() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.q.take()
}

// forwardFramesLocked sends whole frames to game gid, one by one (through
// its freeze queue if it is frozen). The caller holds d.mu.
func (d *Dispatcher) forwardFramesLocked(out *rpc.Batch, gid rpc.GameID, frames []byte) {
	err := eachFrame(frames, func(t rpc.MsgType, body []byte) { d.toGameLocked(out, gid, t, body) })
	if err != nil {
		d.log.Errorf("dispatcher: corrupt queue (%v); the rest dropped", err)
	}
}
