package goworld

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/lograte"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// lineLog counts log lines by message.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) Levels() []logrus.Level { return logrus.AllLevels }
func (l *lineLog) Fire(e *logrus.Entry) error {
	l.mu.Lock()
	l.lines = append(l.lines, e.Message)
	l.mu.Unlock()
	return nil
}
func (l *lineLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// TestOutageLogsBoundedLines: while no game is connected, every client
// is kicked with "no game server is available". That used to write 3
// lines per attempt (4,726 lines in 3 s of one outage); now 200 attempts
// write at most a few lines of each kind and one summary per kind that
// counts the rest, as 20 attempts do.
func TestOutageLogsBoundedLines(t *testing.T) {
	counts := map[int]int{}
	for _, n := range []int{20, 200} {
		counts[n] = outageLines(t, n)
	}
	// Ten times the attempts may add a summary line per kind, and, on a
	// loaded machine, one rare kind's burst (a client gone before its
	// kick was written, say): a bounded number, not one per attempt.
	if counts[200] > counts[20]+6+lograte.DefaultBurst+1 || counts[200] > 40 {
		t.Fatalf("%d lines for 200 attempts, %d for 20: the log grows with the attempts", counts[200], counts[20])
	}
}

// outageLines runs a dispatcher and a gate whose game never comes, makes
// n clients connect one after another, checks each is told why, and
// returns the lines logged about clients (debug level included).
func outageLines(t *testing.T, n int) int {
	t.Helper()
	h := &lineLog{}
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetOutput(discardWriter{})
	log.AddHook(h)
	d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: "127.0.0.1:0", Games: []rpc.GameID{1}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{ID: 1, ListenAddr: "127.0.0.1:0", Dispatchers: []string{d.Addr().String()}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.Run(ctx) }()
	go func() { defer wg.Done(); g.Run(ctx) }()
	defer func() {
		cancel()
		wg.Wait()
	}()
	select {
	case <-g.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("gate not ready")
	}
	before := len(h.get())
	for i := 0; i < n; i++ {
		c, err := client.Dial(g.Addr().String(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		reason := ""
		timeout := time.After(10 * time.Second)
		for reason == "" {
			select {
			case ev := <-c.Events():
				if dis, ok := ev.(client.Disconnected); ok {
					reason = dis.Reason
				}
			case <-timeout:
				t.Fatalf("attempt %d: no kick after 10s", i)
			}
		}
		c.Close()
		if !strings.Contains(reason, "no game server is available") {
			t.Fatalf("attempt %d: %q", i, reason)
		}
	}
	// Close writes the summaries of what was held back.
	cancel()
	wg.Wait()
	if err := g.Close(); err != nil && !errors.Is(err, gate.ErrServerClosed) {
		t.Log(err)
	}
	d.Close()
	lines := h.get()[before:]
	var clientLines, summaries int
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "… and "):
			summaries++
		case strings.Contains(l, "client"):
			clientLines++
		}
	}
	if n >= 20 && summaries == 0 {
		t.Errorf("%d attempts and no summary line: %q", n, lines)
	}
	t.Logf("%d attempts: %d lines (%d summaries)", n, len(lines), summaries)
	kinds := map[string]int{}
	for _, l := range lines {
		kinds[clip(l, 60)]++
	}
	t.Logf("by kind: %v", kinds)
	return clientLines + summaries
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// clip returns s cut at n bytes, for a log line's kind.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
