package jsclient_test

// goworld.js's resumable sessions (protocol.md 8.1) against real
// in-process clusters, over WebSocket through a proxy that the test uses
// to cut the connection (internal/testkit/cutproxy: both sides reset,
// what is in flight lost): under Node (testdata/resume.mjs) and in a
// headless Chromium (testdata/browser/resume.html, browser_test.go).

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/browsertest"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/cutproxy"
	"github.com/goworld-engine/goworld/internal/testkit/nodetest"
)

// resumeLog is what JsResumer entities did, for the test to check: the
// hooks that ran and the Move numbers received, in order. Set before a
// cluster starts; the game's goroutine writes it.
var resumeLog *entityLog

type entityLog struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced at each change
	hooks   []string      // connected, away, back, gone
	moves   []int
}

func newEntityLog() *entityLog { return &entityLog{changed: make(chan struct{})} }

func (l *entityLog) add(hook string, move int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if hook != "" {
		l.hooks = append(l.hooks, hook)
	} else {
		l.moves = append(l.moves, move)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// count returns how many times hook ran.
func (l *entityLog) count(hook string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, h := range l.hooks {
		if h == hook {
			n++
		}
	}
	return n
}

// await waits, within d and until ctx ends, for cond to hold for the
// log (called with l.mu held); it says what went wrong otherwise.
func (l *entityLog) await(ctx context.Context, d time.Duration, what string, cond func(l *entityLog) bool) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		ok, ch := cond(l), l.changed
		l.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for %s", what)
		case <-deadline.C:
			l.mu.Lock()
			defer l.mu.Unlock()
			return fmt.Errorf("waited %v in vain for %s: hooks %q, %d moves", d, what, l.hooks, len(l.moves))
		}
	}
}

// mustAwait is await on the test's goroutine: it fails the test.
func (l *entityLog) mustAwait(t *testing.T, d time.Duration, what string, cond func(l *entityLog) bool) {
	t.Helper()
	if err := l.await(context.Background(), d, what, cond); err != nil {
		t.Fatal(err)
	}
}

// background runs f, which plays the network, on a goroutine of its
// own while the test goes on, and returns a function that waits for it
// and returns its error. The goroutine is stopped and waited for when
// the test ends (its error, if not waited for, fails the test).
func background(t *testing.T, p *wsProxy, f func(ctx context.Context) error) (wait func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := f(ctx)
		if err != nil {
			p.Heal() // let the client get on, to its end
		}
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !t.Failed() {
			t.Error(err)
		}
	})
	return func() error {
		err := <-done
		done <- nil // reported here: not again at cleanup
		return err
	}
}

// JsResumer is the boot entity of the resume tests: Move echoes each
// number back (so that calls flow both ways), Double answers requests,
// and every client hook is logged.
type JsResumer struct{ entity.Entity }

func (r *JsResumer) DescribeEntityType(d *entity.TypeDesc) { d.ExposeToClient("Move", "Double") }
func (r *JsResumer) OnClientConnected()                    { resumeLog.add("connected", 0) }
func (r *JsResumer) OnClientAway()                         { resumeLog.add("away", 0) }
func (r *JsResumer) OnClientBack()                         { resumeLog.add("back", 0) }
func (r *JsResumer) OnClientDisconnected() {
	resumeLog.add("gone", 0)
	r.Destroy()
}

// Move logs i and sends it back with the padding, which keeps the
// pipes busy so that a cut finds frames in flight both ways.
func (r *JsResumer) Move(i int, pad string) {
	resumeLog.add("", i)
	r.CallClient("OnMove", i, pad)
}

func (r *JsResumer) Double(n int) (int, error) { return 2 * n, nil }

// wsProxy is a cutting proxy between clients and a gate's WebSocket port.
type wsProxy struct{ *cutproxy.Proxy }

// newWSProxy starts a proxy on 127.0.0.1 that forwards to the gate of
// wsURL, until the test ends.
func newWSProxy(t *testing.T, wsURL string) *wsProxy {
	t.Helper()
	u, err := url.Parse(wsURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cutproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &wsProxy{p}
}

// url is the proxy's ws:// URL.
func (p *wsProxy) url() string { return "ws://" + p.Addr() + "/" }

// resumeCluster starts a cluster whose boot entity is JsResumer, with a
// WebSocket port and the gate's resume_window window (0: its default),
// and a proxy in front of that port.
func resumeCluster(t *testing.T, window time.Duration) (*cluster.Cluster, *wsProxy) {
	t.Helper()
	resumeLog = newEntityLog()
	reg := entity.NewRegistry()
	if err := reg.Register("JsResumer", &JsResumer{}); err != nil {
		t.Fatal(err)
	}
	c := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "JsResumer", WebSocket: true,
		HeartbeatInterval: time.Second, HeartbeatTimeout: 4 * time.Second,
		GateLimits: &gate.Config{GateTuning: config.GateTuning{ResumeWindow: window}}})
	return c, newWSProxy(t, c.GateWSURL(0))
}

// cutRepeatedly cuts the client's connection drops times while its
// calls flow: each time the entity has received another share of the n
// moves, it cuts, waits for the gate to notice (the entity's
// OnClientAway), heals, and waits for the resume (OnClientBack) before
// the next.
func cutRepeatedly(ctx context.Context, p *wsProxy, n, drops int) error {
	l := resumeLog
	if err := l.await(ctx, 20*time.Second, "the client", func(l *entityLog) bool { return l.count0("connected") == 1 }); err != nil {
		return err
	}
	for d := range drops {
		share := (d + 1) * n / (drops + 1)
		if err := l.await(ctx, 30*time.Second, fmt.Sprintf("%d moves before cut %d", share, d+1), func(l *entityLog) bool {
			return len(l.moves) >= share
		}); err != nil {
			return err
		}
		p.Cut()
		if err := l.await(ctx, 20*time.Second, fmt.Sprintf("the gate to notice cut %d", d+1), func(l *entityLog) bool {
			return l.count0("away") == d+1
		}); err != nil {
			return err
		}
		p.Heal()
		if err := l.await(ctx, 20*time.Second, fmt.Sprintf("the resume after cut %d", d+1), func(l *entityLog) bool {
			return l.count0("back") == d+1
		}); err != nil {
			return err
		}
	}
	return nil
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// checkMoves fails unless the entity received moves 0..n-1, each once, in order.
func checkMoves(t *testing.T, n int) {
	t.Helper()
	resumeLog.mu.Lock()
	defer resumeLog.mu.Unlock()
	got := resumeLog.moves
	if len(got) != n {
		t.Errorf("the entity received %d moves, want %d", len(got), n)
	}
	for i, m := range got {
		if m != i {
			t.Errorf("the entity's move %d is %d (moves %v…): lost, duplicated or reordered", i, m, got[max(0, i-3):min(len(got), i+4)])
			break
		}
	}
}

// TestResumeAcrossCuts: a client with resume: true calls Move 0..n-1 and
// requests Double meanwhile, while the test cuts its WebSocket again and
// again with frames in flight both ways. The entity receives every move
// exactly once and in order; the client gets every echo exactly once and
// in order, every request's answer, one resumed event per cut after
// reconnecting; the entity hears away and back per cut and, once the
// script closes (saying goodbye), that its client is gone at once, not
// after the 60 s resume window.
func TestResumeAcrossCuts(t *testing.T) {
	nodetest.Find(t)
	const n, drops = 2000, 5
	_, p := resumeCluster(t, 0)
	wait := background(t, p, func(ctx context.Context) error { return cutRepeatedly(ctx, p, n, drops) })
	out := nodetest.Run(t, ".", nodeTimeout, "testdata/resume.mjs", p.url(), "cuts", strconv.Itoa(n), strconv.Itoa(drops))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "resume: ok") {
		t.Fatalf("resume.mjs did not report ok:\n%s", out)
	}
	checkMoves(t, n)
	// The script has closed: its goodbye ends the session at once.
	resumeLog.mustAwait(t, 5*time.Second, "the entity to hear its client leave", func(l *entityLog) bool { return slices.Contains(l.hooks, "gone") })
	if a, b := resumeLog.count("away"), resumeLog.count("back"); a != drops || b != drops {
		t.Errorf("the entity heard away %d and back %d times, want %d each", a, b, drops)
	}
	if m := regexp.MustCompile(`resumed=(\d+) `).FindStringSubmatch(out); m == nil || m[1] != strconv.Itoa(drops) {
		t.Errorf("the script saw %v resumed events, want %d", m, drops)
	}
}

// TestResumeRefusedAfterWindow: the connection stays cut past the gate's
// resume window (300 ms), so the entity is told its client is gone; once
// the network is back, the client's resume is refused with the gate's
// reason (disconnected, refused), and a fresh session works.
func TestResumeRefusedAfterWindow(t *testing.T) {
	nodetest.Find(t)
	_, p := resumeCluster(t, 300*time.Millisecond)
	wait := background(t, p, func(ctx context.Context) error { return cutPastWindow(ctx, p) })
	out := nodetest.Run(t, ".", nodeTimeout, "testdata/resume.mjs", p.url(), "refused")
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "resume: ok") {
		t.Fatalf("resume.mjs did not report ok:\n%s", out)
	}
	if got := resumeLog.count("back"); got != 0 {
		t.Errorf("the entity heard back %d times after its window passed", got)
	}
}

// count0 is count for a caller that holds l.mu.
func (l *entityLog) count0(hook string) int { return countOf(l.hooks, hook) }

// cutPastWindow cuts the client's connection and keeps it cut until the
// gate's resume window has passed (the entity hears its client is gone).
func cutPastWindow(ctx context.Context, p *wsProxy) error {
	l := resumeLog
	// The script's first move says it has its player.
	if err := l.await(ctx, 20*time.Second, "the client's first move", func(l *entityLog) bool { return len(l.moves) == 1 }); err != nil {
		return err
	}
	p.Cut()
	err := l.await(ctx, 20*time.Second, "the window to pass", func(l *entityLog) bool { return l.count0("gone") == 1 })
	p.Heal()
	return err
}

// TestResumeInBrowser: the moves, echoes and requests of
// TestResumeAcrossCuts in a page in a headless Chromium, with the
// browser's own WebSocket, while the test cuts it twice: every echo
// exactly once and in order, every answer, two resumes, and the page's
// close says goodbye.
func TestResumeInBrowser(t *testing.T) {
	b := browsertest.Start(t)
	const n, drops = 1000, 2
	_, p := resumeCluster(t, 0)
	files := map[string]string{"/resume.html": "testdata/browser/resume.html", "/goworld.js": "goworld.js"}
	base := browsertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(file, ".html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		}
		http.ServeFile(w, r, file)
	}))
	tab := browsertest.Open(t, b, base+"/resume.html") // not index.html: http.ServeFile redirects that
	deadline := time.Now().Add(20 * time.Second)
	for !browsertest.Eval[bool](t, tab, `window.loaded === true`) {
		if time.Now().After(deadline) {
			t.Fatal("the page did not load within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wait := background(t, p, func(ctx context.Context) error { return cutRepeatedly(ctx, p, n, drops) })
	browsertest.Eval[bool](t, tab, fmt.Sprintf(`window.start(%s, %d, %d)`, jsString(p.url()), n, drops))
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	got := browsertest.Eval[string](t, tab, `window.result`)
	if !strings.HasPrefix(got, "ok resumed=2 ") {
		t.Fatalf("the page: %s", got)
	}
	t.Log("the page:", got)
	checkMoves(t, n)
	resumeLog.mustAwait(t, 5*time.Second, "the entity to hear its client leave", func(l *entityLog) bool { return l.count0("gone") == 1 })
}
