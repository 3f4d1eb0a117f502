package lograte

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) Levels() []logrus.Level { return logrus.AllLevels }
func (l *lines) Fire(e *logrus.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, e.Level.String()+" "+e.Message)
	return nil
}
func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func newLog() (*logrus.Logger, *lines) {
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.Out = discard{}
	h := &lines{}
	log.AddHook(h)
	return log, h
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestBurstThenSummary: of 1,000 lines of one kind, the first Burst are
// written and one summary counts the rest when the interval ends; another
// kind has its own budget; after the summary the kind may log again.
func TestBurstThenSummary(t *testing.T) {
	log, h := newLog()
	l := New(log, 200*time.Millisecond, 3)
	defer l.Close()
	for i := 0; i < 1000; i++ {
		l.Logf(log, logrus.WarnLevel, "bad input", "bad input %d", i)
	}
	l.Logf(log, logrus.InfoLevel, "other", "other")
	got := h.get()
	if want := []string{"warning bad input 0", "warning bad input 1", "warning bad input 2", "info other"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines: %q, want %q", got, want)
	}
	if n := l.Suppressed("bad input"); n != 997 {
		t.Fatalf("suppressed %d, want 997", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.get()) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("no summary: %q", h.get())
		}
		time.Sleep(5 * time.Millisecond)
	}
	sum := h.get()[4]
	if !strings.HasPrefix(sum, "warning … and 997 more \"bad input\" lines") {
		t.Fatalf("summary %q", sum)
	}
	l.Logf(log, logrus.WarnLevel, "bad input", "again")
	if last := h.get()[len(h.get())-1]; last != "warning again" {
		t.Fatalf("after the summary: %q", h.get())
	}
}

// TestCloseFlushes: Close writes what is pending at once and stops the
// timers (goleak checks none is left).
func TestCloseFlushes(t *testing.T) {
	log, h := newLog()
	l := New(log, time.Hour, 1)
	for i := 0; i < 10; i++ {
		l.Logf(log, logrus.InfoLevel, "k", "line")
	}
	l.Close()
	got := h.get()
	if len(got) != 2 || !strings.Contains(got[1], "… and 9 more \"k\" lines") {
		t.Fatalf("lines after Close: %q", got)
	}
	l.Logf(log, logrus.InfoLevel, "k", "line")
	l.Close()
	if len(h.get()) != 2 {
		t.Fatalf("lines after a second Close: %q", h.get())
	}
}

func TestConcurrent(t *testing.T) {
	log, h := newLog()
	l := New(log, time.Hour, 10)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				l.Logf(log, logrus.WarnLevel, "k", "x")
			}
		}()
	}
	wg.Wait()
	l.Close()
	got := h.get()
	if len(got) != 11 || !strings.Contains(got[10], "3990 more") {
		t.Fatalf("%d lines, last %q", len(got), got[len(got)-1])
	}
}
