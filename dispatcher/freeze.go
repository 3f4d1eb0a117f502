package dispatcher

import (
	"sync"
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// frozenGame is the queue of a game frozen for a hot reload.
type frozenGame struct {
	mu     sync.Mutex
	q      frameQueue // within FreezeQueueLimit
	since  time.Time
	expire *time.Timer // runs giveUp once the frozen game's connection is gone
	// restoring is the new process that received the queue and has not yet
	// said MsgRestored. Frames still go to q as well as to it, so that
	// if it dies before serving, the next process gets them all.
	restoring *peer
}

// add appends a frame to the frozen game's queue, within its bound; it
// returns whether it did, and the frames refused so far (log when
// shouldLog).
func (fg *frozenGame) add(t rpc.MsgType, body []byte) (kept bool, dropped int, shouldLog bool) {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	kept = fg.q.add(t, body)
	return kept, fg.q.budget.dropped, !kept && fg.q.budget.shouldLog()
}

// size returns the bytes queued and the frames dropped over the bound.
func (fg *frozenGame) size() (n, dropped int) {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	return fg.q.size(), fg.q.budget.dropped
}

// take empties the frozen game's queue and returns its frames.
func (fg *frozenGame) take() []byte {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	return fg.q.take()
}

// sendTo sends the frozen game's queue to p, keeping it, and returns its
// bytes and the frames dropped over its bound.
func (fg *frozenGame) sendTo(p *peer) (n, dropped int) {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	p.conn.SendFrame(fg.q.frames)
	return fg.q.size(), fg.q.budget.dropped
}

// freeze starts (on) or ends (off: the game's freeze failed) queueing for
// game p. The acknowledgement is sent under the write lock, after every
// frame already forwarded to p and before any that will be queued.
func (d *Dispatcher) freeze(p *peer, on bool) {
	id := rpc.GameID(p.id)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.games[id] != p {
		return // a stale connection
	}
	fg := d.frozen[id]
	if on {
		if fg == nil {
			d.frozen[id] = &frozenGame{since: time.Now(), q: newQueue(d.cfg.FreezeQueueLimit)}
		}
		p.conn.Send(rpc.MsgFreezeAck, nil)
		d.log.WithField("peer", p.String()).Info("game freezing for a hot reload; queueing its packets")
		return
	}
	if fg == nil || (fg.restoring != nil && fg.restoring != p) {
		return
	}
	delete(d.frozen, id)
	if fg.restoring == p {
		return // it has received everything queued already
	}
	frames := fg.take()
	p.conn.SendFrame(frames)
	d.log.WithField("peer", p.String()).WithField("queued_bytes", len(frames)).Warn("game's freeze failed; it resumes with its queued packets")
}

// giveUp runs when a frozen game did not come back within RestoreTimeout:
// its queue is dropped and its peers are told it is gone.
func (d *Dispatcher) giveUp(id rpc.GameID) {
	defer d.recoverPanic("giving up on a frozen game", nil)
	var fg *frozenGame
	d.locked(func() {
		if fg = d.frozen[id]; fg == nil || d.games[id] != nil || d.closed {
			fg = nil
			return
		}
		delete(d.frozen, id)
		d.forgetGameLocked(id)
		d.announceGoneLocked(rpc.RoleGame, uint16(id))
	})
	if fg == nil {
		return
	}
	n, _ := fg.size()
	d.log.Errorf("game%d froze and did not come back within %v; %d queued bytes dropped, its clients will be disconnected", id, d.cfg.RestoreTimeout, n)
}
