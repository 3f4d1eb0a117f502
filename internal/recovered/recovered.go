// Package recovered logs and counts the panics that a server recovers
// from (a panic in a handler, an entity method, an engine invariant), so
// that one bad frame costs one frame, a line in the log and a count in
// /metrics, never the process.
//
// The log shows the first few panics of each minute with their stacks and
// summarises the rest, so a client that can provoke a panic at its
// message rate cannot fill a disk.
package recovered

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Burst is how many recovered panics per Interval are logged with their
// stacks; the rest of the Interval's are counted and summarised.
const (
	Burst    = 5
	Interval = time.Minute
)

// Log counts recovered panics and logs them within its budget. The zero
// value is ready; it is safe for concurrent use.
type Log struct {
	total atomic.Uint64

	mu         sync.Mutex
	start      time.Time        // of the current interval
	logged     int              // stacks logged in it
	suppressed int              // panics not logged in it
	now        func() time.Time // the clock (tests); nil: time.Now
}

// Record counts one recovered panic and logs it at error level on log,
// as "panic WHERE: VALUE" with the stack, or, over the budget, counts it
// for the next summary line. fields (pairs of key, value) name what was
// being handled: the message type, the entity, the peer.
func (l *Log) Record(log logrus.FieldLogger, where string, p any, stack []byte, fields logrus.Fields) {
	l.total.Add(1)
	l.mu.Lock()
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	var summary int
	if now.Sub(l.start) >= Interval {
		summary = l.suppressed
		l.start, l.logged, l.suppressed = now, 0, 0
	}
	show := l.logged < Burst
	if show {
		l.logged++
	} else {
		l.suppressed++
	}
	l.mu.Unlock()
	if summary > 0 {
		log.Errorf("%d more panics were recovered in the last %v without their stacks in the log (see goworld_*_panics_total)", summary, Interval)
	}
	if show {
		log.WithFields(fields).Errorf("panic %s: %s\n%s", where, value(p), stack)
	}
}

// maxValue bounds the panic value's text in the log: it may quote what a
// client sent.
const maxValue = 512

func value(p any) string {
	s := fmt.Sprint(p)
	if len(s) > maxValue {
		s = fmt.Sprintf("%s… (%d bytes)", strings.ToValidUTF8(s[:maxValue], ""), len(s))
	}
	return s
}

// Total returns the panics recorded so far.
func (l *Log) Total() uint64 { return l.total.Load() }
