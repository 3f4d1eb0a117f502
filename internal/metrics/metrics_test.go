package metrics

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWriteThenParse(t *testing.T) {
	h := NewDurationHistogram()
	for _, d := range []time.Duration{5 * time.Microsecond, 30 * time.Microsecond, 30 * time.Microsecond, 2 * time.Millisecond, 3 * time.Second} {
		h.Observe(d)
	}
	var b strings.Builder
	w := NewWriter(&b, "process", "gate1")
	w.Counter("goworld_packets_in_total", "Frames received.", 7, "link", "client")
	w.Counter("goworld_packets_in_total", "Frames received.", 3, "link", "dispatcher")
	w.Gauge("goworld_gate_clients", "Connected clients.\nA second line.", 2)
	w.Gauge("odd_label", "Escapes.", 1, "v", "a\"b\\c\nd")
	w.Histogram("goworld_game_tick_seconds", "Loop wake-ups.", h, "kind", "frame")
	w.Histogram("goworld_game_tick_seconds", "Loop wake-ups.", NewDurationHistogram(), "kind", "sync")
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	if strings.Count(text, "# TYPE goworld_packets_in_total counter") != 1 {
		t.Errorf("TYPE of a family with two samples not written once:\n%s", text)
	}
	ss, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if v, ok := ss.Sum("goworld_packets_in_total"); !ok || v != 10 {
		t.Errorf("packets in = %v %v, want 10", v, ok)
	}
	if v, _ := ss.Sum("goworld_packets_in_total", "link", "client", "process", "gate1"); v != 7 {
		t.Errorf("client packets = %v, want 7", v)
	}
	if v, _ := ss.Sum("odd_label", "v", "a\"b\\c\nd"); v != 1 {
		t.Errorf("escaped label value did not come back:\n%s", text)
	}
	if v, _ := ss.Sum("goworld_game_tick_seconds_count"); v != 5 {
		t.Errorf("count = %v, want 5", v)
	}
	if v, _ := ss.Sum("goworld_game_tick_seconds_bucket", "kind", "frame", "le", "5e-05"); v != 3 {
		t.Errorf("le=50µs bucket = %v, want 3:\n%s", v, text)
	}
	if v, _ := ss.Sum("goworld_game_tick_seconds_sum", "kind", "frame"); math.Abs(v-3.002065) > 1e-9 {
		t.Errorf("sum = %v", v)
	}
	// The median of 5 observations is the 3rd: in the (25µs, 50µs] bucket.
	if q, ok := ss.Quantile(0.5, "goworld_game_tick_seconds"); !ok || q <= 25e-6 || q > 50e-6 {
		t.Errorf("median = %v %v", q, ok)
	}
	// The largest is over every finite bound: reported as the largest (1s).
	if q, _ := ss.Quantile(0.99, "goworld_game_tick_seconds"); q != 1 {
		t.Errorf("p99 = %v, want 1", q)
	}
	if _, ok := ss.Quantile(0.5, "goworld_game_tick_seconds", "kind", "sync"); ok {
		t.Error("quantile of an empty histogram")
	}
}

func TestDelta(t *testing.T) {
	prev, _ := Parse(strings.NewReader("a{x=\"1\"} 5\na{x=\"2\"} 1\n"))
	cur, _ := Parse(strings.NewReader("a{x=\"1\"} 8\na{x=\"2\"} 1\na{x=\"3\"} 4\n"))
	d := cur.Delta(prev)
	for x, want := range map[string]float64{"1": 3, "2": 0, "3": 4} {
		if v, _ := d.Sum("a", "x", x); v != want {
			t.Errorf("delta x=%s: %v, want %v", x, v, want)
		}
	}
}

func TestWriterRefusesScatteredFamily(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b)
	w.Gauge("a", "A.", 1)
	w.Gauge("b", "B.", 1)
	w.Gauge("a", "A.", 2)
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "not written together") {
		t.Fatalf("Err = %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, c := range []struct{ name, text string }{
		{"bad name", "9abc 1\n"},
		{"no value", "abc\n"},
		{"bad value", "abc one\n"},
		{"hex value", "abc 0x10\n"},
		{"unquoted label", "abc{a=b} 1\n"},
		{"bad label name", "abc{a-b=\"x\"} 1\n"},
		{"duplicate label", "abc{a=\"x\",a=\"y\"} 1\n"},
		{"unterminated label", "abc{a=\"x} 1\n"},
		{"bad escape", "abc{a=\"\\t\"} 1\n"},
		{"two TYPEs", "# TYPE a gauge\n# TYPE a gauge\na 1\n"},
		{"unknown type", "# TYPE a meter\na 1\n"},
		{"TYPE after sample", "a 1\n# TYPE a gauge\n"},
		{"scattered family", "a 1\nb 1\na{x=\"1\"} 2\n"},
		{"extra field", "a 1 2 3\n"},
		{"no +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n"},
		{"not cumulative", "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n"},
		{"count differs", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n"},
	} {
		if _, err := Parse(strings.NewReader(c.text)); err == nil {
			t.Errorf("%s: %q parsed", c.name, c.text)
		}
	}
	ss, err := Parse(strings.NewReader("# just a comment\n\nup{a=\"1\", b=\"2\"} -Inf 1700000000000\n"))
	if err != nil || len(ss) != 1 || !math.IsInf(ss[0].Value, -1) || ss[0].Labels["b"] != "2" {
		t.Errorf("valid text: %v %v", ss, err)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewDurationHistogram()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				h.Observe(time.Duration(j) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	cum, sum := h.Snapshot()
	if cum[len(cum)-1] != 4000 {
		t.Errorf("count = %d", cum[len(cum)-1])
	}
	if want := 4 * 999 * 1000 / 2 * 1e-6; math.Abs(sum-want) > 1e-9 {
		t.Errorf("sum = %v, want %v", sum, want)
	}
}

// BenchmarkCounterAdd is the cost a server pays per packet: one atomic add
// on a counter shared by every connection of the kind (run with -cpu 1,2
// for the contended case).
func BenchmarkCounterAdd(b *testing.B) {
	var c atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(1)
		}
	})
}

// BenchmarkHistogramObserve is the cost of timing one game loop wake-up,
// time.Now included.
func BenchmarkHistogramObserve(b *testing.B) {
	h := NewDurationHistogram()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		h.Observe(time.Since(t0))
	}
}
