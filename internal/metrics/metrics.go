// Package metrics writes metrics in the Prometheus text exposition format
// (version 0.0.4) and reads them back, for the admin HTTP endpoint
// /metrics of every server process and for goworldctl status.
//
// It is a few hundred lines rather than a library (see docs/architecture.md,
// "Observability"): counters are plain atomic.Uint64 fields of the servers,
// gauges are read when a scrape asks for them, and the one histogram type
// here is lock-free, so that nothing on a hot path takes a lock or
// allocates.
//
//	w := metrics.NewWriter(out, "process", "gate1")
//	w.Gauge("goworld_gate_clients", "Connected clients.", float64(n))
//	w.Counter("goworld_packets_in_total", "Frames received.", in.Load(), "link", "client")
//	return w.Err()
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// DurationBuckets are the upper bounds, in seconds, of the buckets of a
// histogram made by NewDurationHistogram: from 10 µs (a frame handled by
// the game loop) to 1 s (a loop that is stuck).
var DurationBuckets = []float64{
	10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1,
}

// Histogram counts durations into fixed buckets. Observe is safe for
// concurrent use and costs a few atomic adds: no lock, no allocation.
type Histogram struct {
	bounds []time.Duration // upper bounds, ascending
	secs   []float64       // the same in seconds, for the exposition
	counts []atomic.Uint64 // per bucket (not cumulative); the last is +Inf
	sum    atomic.Uint64   // nanoseconds
}

// NewDurationHistogram returns a histogram with DurationBuckets.
func NewDurationHistogram() *Histogram {
	h := &Histogram{secs: DurationBuckets, counts: make([]atomic.Uint64, len(DurationBuckets)+1)}
	for _, s := range DurationBuckets {
		h.bounds = append(h.bounds, time.Duration(s*float64(time.Second)))
	}
	return h
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	if d > 0 {
		h.sum.Add(uint64(d))
	}
}

// Snapshot returns the cumulative bucket counts (the last is +Inf, and is
// the total count) and the sum of the observed durations in seconds.
func (h *Histogram) Snapshot() (cumulative []uint64, sum float64) {
	cumulative = make([]uint64, len(h.counts))
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		cumulative[i] = n
	}
	return cumulative, float64(h.sum.Load()) / 1e9
}

// Writer writes metric families in the text exposition format. The
// samples of one family must be written one after the other (a family's
// HELP and TYPE lines are written before its first sample). A Writer is
// for one goroutine; errors are kept and returned by Err.
type Writer struct {
	w      *bufio.Writer
	labels string // constant labels, formatted: `k="v",...`
	last   string // the family written last
	seen   map[string]bool
	err    error
}

// NewWriter returns a Writer that adds the label pairs constLabels (name,
// value, name, value...) to every sample.
func NewWriter(w io.Writer, constLabels ...string) *Writer {
	return &Writer{w: bufio.NewWriter(w), labels: formatLabels("", constLabels), seen: map[string]bool{}}
}

// Counter writes one sample of a counter family.
func (w *Writer) Counter(name, help string, v uint64, labels ...string) {
	w.family(name, help, "counter")
	w.sample(name, labels, "", strconv.FormatUint(v, 10))
}

// FloatCounter writes one sample of a counter family whose value is not
// a whole number (seconds spent).
func (w *Writer) FloatCounter(name, help string, v float64, labels ...string) {
	w.family(name, help, "counter")
	w.sample(name, labels, "", formatFloat(v))
}

// Gauge writes one sample of a gauge family.
func (w *Writer) Gauge(name, help string, v float64, labels ...string) {
	w.family(name, help, "gauge")
	w.sample(name, labels, "", formatFloat(v))
}

// Histogram writes one histogram (its buckets, sum and count) of a
// histogram family.
func (w *Writer) Histogram(name, help string, h *Histogram, labels ...string) {
	w.family(name, help, "histogram")
	cum, sum := h.Snapshot()
	for i, n := range cum {
		le := "+Inf"
		if i < len(h.secs) {
			le = formatFloat(h.secs[i])
		}
		w.sample(name+"_bucket", labels, `le="`+le+`"`, strconv.FormatUint(n, 10))
	}
	w.sample(name+"_sum", labels, "", formatFloat(sum))
	w.sample(name+"_count", labels, "", strconv.FormatUint(cum[len(cum)-1], 10))
}

// Err flushes what was written and returns the first error.
func (w *Writer) Err() error {
	if err := w.w.Flush(); w.err == nil {
		w.err = err
	}
	return w.err
}

func (w *Writer) family(name, help, typ string) {
	if name == w.last {
		return
	}
	if w.seen[name] && w.err == nil {
		w.err = fmt.Errorf("metrics: samples of %s are not written together", name)
	}
	w.seen[name], w.last = true, name
	w.write("# HELP " + name + " " + escapeHelp(help) + "\n# TYPE " + name + " " + typ + "\n")
}

func (w *Writer) sample(name string, labels []string, extra, value string) {
	ls := formatLabels(w.labels, labels)
	if extra != "" {
		if ls != "" {
			ls += ","
		}
		ls += extra
	}
	if ls != "" {
		name += "{" + ls + "}"
	}
	w.write(name + " " + value + "\n")
}

func (w *Writer) write(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// formatLabels appends the pairs kv to the formatted labels prefix.
func formatLabels(prefix string, kv []string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(escapeValue(kv[i+1]))
		b.WriteByte('"')
	}
	return b.String()
}

var (
	valueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeValue(s string) string { return valueEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
