package game

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// The game loop's stall watch, three ways:
//
//   - The loop records when each wake-up begins and what it handles
//     (begin) and clears it when done (tickDone); a watchdog goroutine
//     looks every StallThreshold/2 and, when one wake-up has run longer
//     than StallThreshold, logs it with the loop's stack (an entity method
//     in an endless loop, a blocking call in a hook), again every
//     stallRepeat while it lasts, and once more when the loop moves on.
//   - A watchdog tick that comes StallThreshold late means the whole
//     process did not run (stopped by SIGSTOP or a debugger, or starved
//     of CPU): logged when it runs again.
//   - Each frame from a dispatcher is stamped when it arrives; the loop
//     observes how long it waited (goworld_game_frame_wait_seconds) and
//     logs, at most every stallRepeat, when frames waited longer than
//     StallThreshold: a loop that is never stuck but cannot keep up.

// stallRepeat is how often a stall that goes on is logged again.
const stallRepeat = 10 * time.Second

// loopState is what the loop publishes for the watchdog.
type loopState struct {
	busySince atomic.Int64  // unix nanoseconds the current wake-up began; 0: waiting
	busyKind  atomic.Int32  // its tickKind
	busyMsg   atomic.Uint32 // the frame's message type, for tickFrame
	goid      atomic.Uint64 // the loop goroutine's ID, for its stack
	stalls    atomic.Uint64 // wake-ups that ran past StallThreshold, and process stops
	// Loop only: the longest frame wait since lastWaitLog, and when a
	// wait over StallThreshold was last logged.
	worstWait   time.Duration
	lastWaitLog time.Time
}

// frameWaited records how long a frame waited for the loop, and logs
// (at most every stallRepeat) waits over StallThreshold. On the loop only.
func (g *Game) frameWaited(arrived int64, now time.Time) {
	wait := now.Sub(time.Unix(0, arrived))
	g.met.frameWait.Observe(wait)
	s := &g.met.loop
	if wait <= g.cfg.StallThreshold {
		return
	}
	s.worstWait = max(s.worstWait, wait)
	if now.Sub(s.lastWaitLog) < stallRepeat {
		return
	}
	g.log.WithField("waited", s.worstWait.Round(time.Millisecond).String()).WithField("queued", g.in.len()).Warnf(
		"frames from the dispatchers waited up to %v for the game loop (stall_threshold %v): it cannot keep up", s.worstWait.Round(time.Millisecond), g.cfg.StallThreshold)
	s.worstWait, s.lastWaitLog = 0, now
}

// begin records the start of a wake-up of kind k (and message type t for
// a frame) and returns its start time. On the loop only.
func (g *Game) begin(k tickKind, t rpc.MsgType) time.Time {
	start := time.Now()
	s := &g.met.loop
	s.busyKind.Store(int32(k))
	s.busyMsg.Store(uint32(t))
	s.busySince.Store(start.UnixNano())
	return start
}

// watchLoop runs until stop is closed: the stall watchdog (see above).
func (g *Game) watchLoop(stop <-chan struct{}) {
	threshold := g.cfg.StallThreshold
	interval := max(threshold/2, 10*time.Millisecond)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	s := &g.met.loop
	var (
		stuckAt  int64     // busySince of the wake-up reported stuck; 0: none
		lastLog  time.Time // of that wake-up's last line
		lastTick time.Time
	)
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			if gap := now.Sub(lastTick); !lastTick.IsZero() && gap > threshold+interval {
				// The watchdog itself did not run: neither did the loop.
				g.log.WithField("gap", gap.Round(time.Millisecond).String()).Warnf(
					"game process did not run for %v (stall_threshold %v): it was stopped (SIGSTOP, a debugger) or starved of CPU", gap.Round(time.Millisecond), threshold)
				s.stalls.Add(1)
			}
			lastTick = now
			since := s.busySince.Load()
			if stuckAt != 0 && since != stuckAt {
				g.log.WithField("stalled_for", time.Since(time.Unix(0, stuckAt)).Round(time.Millisecond).String()).
					Warn("game loop is moving again")
				stuckAt = 0
			}
			if since != 0 && now.Sub(time.Unix(0, since)) > threshold {
				busy := now.Sub(time.Unix(0, since)).Round(time.Millisecond)
				what := tickKindNames[s.busyKind.Load()]
				if tickKind(s.busyKind.Load()) == tickFrame {
					what += " " + rpc.MsgType(s.busyMsg.Load()).String()
				}
				entry := g.log.WithField("busy_for", busy.String()).WithField("handling", what)
				switch {
				case stuckAt != since:
					stuckAt, lastLog = since, now
					s.stalls.Add(1)
					entry.Warnf("game loop stuck: one wake-up has run for %v (stall_threshold %v); nothing else on this game runs meanwhile. The loop is at:\n%s",
						busy, threshold, goroutineStack(s.goid.Load()))
				case now.Sub(lastLog) >= stallRepeat:
					lastLog = now
					entry.Warnf("game loop still stuck after %v", busy)
				}
			}
		}
	}
}

// maxStackLog bounds the loop's stack in a stall's log line.
const maxStackLog = 16 << 10

// goroutineStack returns the stack of goroutine id (from a dump of all
// of them), or a note if it cannot be found.
func goroutineStack(id uint64) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	head := []byte("goroutine " + strconv.FormatUint(id, 10) + " [")
	i := bytes.Index(buf, head)
	if id == 0 || i < 0 {
		return "(the loop's stack was not found)"
	}
	st := buf[i:]
	if j := bytes.Index(st, []byte("\n\n")); j >= 0 {
		st = st[:j]
	}
	if len(st) > maxStackLog {
		st = append(st[:maxStackLog:maxStackLog], fmt.Sprintf("\n… (%d bytes)", len(st))...)
	}
	return string(st)
}
