// Package lograte bounds the log lines that remote peers can cause. A
// client that reconnects in a loop, sends garbage or calls what it may
// not call makes the same warning over and over; written every time,
// those lines are an amplifier (a 65 KB frame once made 394 KB of logs)
// that can fill a disk. A Limiter writes the first Burst lines of each
// kind per Interval and counts the rest, and when the interval is over
// writes one summary: "… and 1234 more like this in the last 10s".
package lograte

import (
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Defaults of a Limiter's Interval and Burst.
const (
	DefaultInterval = 10 * time.Second
	DefaultBurst    = 5
)

// Limiter rate-limits log lines by kind. Kinds are short fixed strings
// chosen by the code ("bad client input"), never text from a peer, so
// their number is bounded by the program. Safe for concurrent use. The
// zero value is not usable: call New.
type Limiter struct {
	log      logrus.FieldLogger
	interval time.Duration
	burst    int

	mu     sync.Mutex
	kinds  map[string]*kind
	closed bool
}

type kind struct {
	start      time.Time // of the current interval
	written    int       // lines written in it
	suppressed int       // lines dropped in it
	level      logrus.Level
	timer      *time.Timer // writes the summary; nil if none is pending
}

// New returns a Limiter that writes summaries to log. interval <= 0 and
// burst <= 0 take the defaults.
func New(log logrus.FieldLogger, interval time.Duration, burst int) *Limiter {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &Limiter{log: log, interval: interval, burst: burst, kinds: map[string]*kind{}}
}

// Allow reports whether a line of this kind may be written now. A line
// that may not is counted, and a summary naming the kind and the count
// is written at level when the interval ends.
func (l *Limiter) Allow(level logrus.Level, name string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kinds[name]
	if k == nil {
		k = &kind{start: now}
		l.kinds[name] = k
	}
	if now.Sub(k.start) >= l.interval && k.timer == nil {
		k.start, k.written = now, 0
	}
	if k.written < l.burst && k.timer == nil {
		k.written++
		return true
	}
	k.suppressed++
	k.level = level
	if k.timer == nil && !l.closed {
		wait := l.interval - now.Sub(k.start)
		k.timer = time.AfterFunc(max(wait, 0), func() { l.summarize(name) })
	}
	return false
}

// Logf writes a line of the given kind at level with entry, if Allow
// lets it.
func (l *Limiter) Logf(entry logrus.FieldLogger, level logrus.Level, name, format string, args ...any) {
	if !l.Allow(level, name) {
		return
	}
	msg := fmt.Sprintf(format, args...)
	switch level {
	case logrus.DebugLevel, logrus.TraceLevel:
		entry.Debug(msg)
	case logrus.InfoLevel:
		entry.Info(msg)
	case logrus.WarnLevel:
		entry.Warn(msg)
	default:
		entry.Error(msg)
	}
}

// summarize writes the summary of kind name's interval and starts a new
// interval, in which the first lines are written again.
func (l *Limiter) summarize(name string) {
	l.mu.Lock()
	k := l.kinds[name]
	if k == nil || k.timer == nil {
		l.mu.Unlock()
		return
	}
	n, level, since := k.suppressed, k.level, time.Since(k.start)
	k.suppressed, k.timer = 0, nil
	k.start, k.written = time.Now(), 0
	l.mu.Unlock()
	l.write(level, name, n, since)
}

func (l *Limiter) write(level logrus.Level, name string, n int, since time.Duration) {
	if n == 0 {
		return
	}
	msg := fmt.Sprintf("… and %d more %q lines like this in the last %v (rate-limited: at most %d per %v)",
		n, name, since.Round(time.Second), l.burst, l.interval)
	e := l.log.WithField("suppressed", n)
	switch level {
	case logrus.DebugLevel, logrus.TraceLevel:
		e.Debug(msg)
	case logrus.InfoLevel:
		e.Info(msg)
	case logrus.WarnLevel:
		e.Warn(msg)
	default:
		e.Error(msg)
	}
}

// Close writes the pending summaries at once and stops their timers; the
// Limiter still counts afterwards but writes no more summaries. Servers
// call it when they close, so that no timer outlives them.
func (l *Limiter) Close() {
	type pending struct {
		name  string
		n     int
		level logrus.Level
		since time.Duration
	}
	var ps []pending
	l.mu.Lock()
	l.closed = true
	for name, k := range l.kinds {
		if k.timer != nil {
			k.timer.Stop()
			k.timer = nil
			ps = append(ps, pending{name, k.suppressed, k.level, time.Since(k.start)})
			k.suppressed = 0
		}
	}
	l.mu.Unlock()
	for _, p := range ps {
		l.write(p.level, p.name, p.n, p.since)
	}
}

// Suppressed returns the lines of kind name dropped in the current
// interval and not yet summarized (for tests and metrics).
func (l *Limiter) Suppressed(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := l.kinds[name]; k != nil {
		return k.suppressed
	}
	return 0
}
