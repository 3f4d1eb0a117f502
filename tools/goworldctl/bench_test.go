//go:build linux || darwin

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// demoBins are the chatroom and AOI demos, built once for the bench tests.
var demoBins struct {
	once      sync.Once
	dir       string
	chat, aoi string
	err       error
}

// demoBinary returns the path of a demo's server binary, building both
// demos on first use.
func demoBinary(t *testing.T, which string) string {
	t.Helper()
	demoBins.once.Do(func() {
		demoBins.dir, demoBins.err = os.MkdirTemp("", "goworldctl-bench-")
		if demoBins.err != nil {
			return
		}
		demoBins.chat = filepath.Join(demoBins.dir, "chat")
		demoBins.aoi = filepath.Join(demoBins.dir, "aoi")
		for bin, pkg := range map[string]string{demoBins.chat: "../../examples/chatroom_demo", demoBins.aoi: "../../examples/aoi_demo"} {
			if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
				demoBins.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if demoBins.err != nil {
		t.Fatal(demoBins.err)
	}
	if which == "aoi" {
		return demoBins.aoi
	}
	return demoBins.chat
}

// startDemo starts a one-of-each cluster running a demo ("chat" or "aoi")
// and returns its directory and the processes started.
func startDemo(t *testing.T, which string) (string, []startedProc) {
	t.Helper()
	ini := strings.Replace(configINI(1, 1, 1), "[gate1]\nlisten_addr = 127.0.0.1:0\n", "[gate1]\nlisten_addr = 127.0.0.1:0\nws_addr = 127.0.0.1:0\n", 1)
	if which == "aoi" {
		ini = strings.Replace(ini, "boot_entity = Account", "boot_entity = Player", 1)
	}
	dir := newServerDir(t, ini)
	copyFile(t, demoBinary(t, which), filepath.Join(dir, "bin", "demo"), 0o755)
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	return dir, parseStarted(t, r.stdout)
}

var (
	benchSummary = regexp.MustCompile(`^clients=(\d+) duration=(\d+)s rpc/s=(\d+) p50=([\d.]+)ms p99=([\d.]+)ms errors=(\d+) lost=(\d+)$`)
	benchCounts  = regexp.MustCompile(`^sent=(\d+) expected=(\d+) delivered=(\d+) `)
	benchServers = regexp.MustCompile(`^servers dispatcher1=[\d.]+% game1=[\d.]+% gate1=[\d.]+% cpu/delivery=[\d.]+µs`)
)

// benchResult is what one bench run printed, parsed.
type benchResult struct {
	out                       string
	code                      int
	clients, errors, lost     int
	sent, expected, delivered int
	p50, p99                  float64
	servers                   bool // the per-process CPU line was there
}

func parseBench(t *testing.T, r result) benchResult {
	t.Helper()
	b := benchResult{out: r.String(), code: r.code}
	ls := lines(r.stdout)
	if len(ls) == 0 {
		t.Fatalf("bench printed nothing: %v", r)
	}
	m := benchSummary.FindStringSubmatch(ls[len(ls)-1])
	if m == nil {
		t.Fatalf("bench's last line is not the summary: %v", r)
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	b.clients, b.errors, b.lost = atoi(m[1]), atoi(m[6]), atoi(m[7])
	b.p50, _ = strconv.ParseFloat(m[4], 64)
	b.p99, _ = strconv.ParseFloat(m[5], 64)
	for _, l := range ls {
		if m := benchCounts.FindStringSubmatch(l); m != nil {
			b.sent, b.expected, b.delivered = atoi(m[1]), atoi(m[2]), atoi(m[3])
		}
		if benchServers.MatchString(l) {
			b.servers = true
		}
		if benchSummary.MatchString(l) && l != ls[len(ls)-1] {
			t.Errorf("more than one summary line: %v", r)
		}
	}
	return b
}

// TestBenchScenarios runs each scenario briefly against real demo servers
// and checks the figures add up: every request was answered, and the chat
// deliveries are the messages times the room's members.
func TestBenchScenarios(t *testing.T) {
	chat, _ := startDemo(t, "chat")
	aoi, _ := startDemo(t, "aoi")
	const clients = 60 // rooms of 50: one full room and one of 10
	for _, tc := range []struct {
		name string
		dir  string
		args []string
		// wantExpected returns the deliveries due for sent requests.
		wantExpected func(sent int) int
	}{
		{"chat", chat, []string{"-scenario", "chat", "-duration", "4s"}, func(sent int) int {
			// Over 4 s, each client says two messages: 50×50 + 10×10 each.
			if sent != 2*clients {
				t.Errorf("chat: sent %d messages, want %d", sent, 2*clients)
			}
			return 2 * (50*50 + 10*10)
		}},
		{"chat over KCP", chat, []string{"-scenario", "chat", "-duration", "2s", "-kcp"}, func(sent int) int { return 50*50 + 10*10 }},
		{"chat over WebSocket", chat, []string{"-scenario", "chat", "-duration", "2s", "-ws"}, func(sent int) int { return 50*50 + 10*10 }},
		{"echo", chat, []string{"-scenario", "echo", "-duration", "2s", "-rate", "5"}, func(sent int) int {
			if sent != 2*5*clients {
				t.Errorf("echo: sent %d calls, want %d", sent, 2*5*clients)
			}
			return sent
		}},
		// Requests through the real processes goworldctl started:
		// every one answered with its own payload.
		{"request", chat, []string{"-scenario", "request", "-duration", "2s", "-rate", "5"}, func(sent int) int {
			if sent != 2*5*clients {
				t.Errorf("request: sent %d requests, want %d", sent, 2*5*clients)
			}
			return sent
		}},
		{"move", aoi, []string{"-scenario", "move", "-duration", "2s", "-rate", "5"}, func(sent int) int {
			// Five moves and one timed Say per client per second.
			if sent != 2*6*clients {
				t.Errorf("move: sent %d requests, want %d", sent, 2*6*clients)
			}
			return 2 * clients
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "-clients", strconv.Itoa(clients), "-idle", "500ms"}, tc.args...)
			b := parseBench(t, ctl(t, append(args, tc.dir)...))
			if b.code != 0 || b.errors != 0 || b.lost != 0 || b.clients != clients {
				t.Fatalf("want a clean run of %d clients: %s", clients, b.out)
			}
			if want := tc.wantExpected(b.sent); b.expected != want || b.delivered != want {
				t.Errorf("expected=%d delivered=%d, want %d: %s", b.expected, b.delivered, want, b.out)
			}
			if b.p50 <= 0 || b.p99 < b.p50 {
				t.Errorf("p50=%v p99=%v: %s", b.p50, b.p99, b.out)
			}
			if !b.servers {
				t.Errorf("no per-process CPU line: %s", b.out)
			}
			if slices.Contains(tc.args, "-ws") && !regexp.MustCompile(`gate=ws://127\.0\.0\.1:\d+/ .* ws=true`).MatchString(b.out) {
				t.Errorf("-ws did not connect over WebSocket: %s", b.out)
			}
			if !strings.Contains(b.out, "idle-cluster-cpu=") {
				t.Errorf("no idle CPU figure: %s", b.out)
			}
		})
	}
	// The move scenario against a game whose players enter no space (the
	// chat demo) fails with that reason (not "no space after 30s").
	t.Run("move without spaces", func(t *testing.T) {
		r := ctl(t, "bench", "-clients", "2", "-scenario", "move", "-duration", "1s", chat)
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "put it in no space") {
			t.Errorf("move against the chat demo: %v", r)
		}
	})
}

// lineWriter is an io.Writer for bench's output that reports, once, the
// first line matching a pattern.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	match *regexp.Regexp
	seen  chan struct{}
	once  sync.Once
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for _, l := range lines(w.buf.String()) {
		if w.match.MatchString(l) {
			w.once.Do(func() { close(w.seen) })
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// bgBench is a goworldctl bench of 20 chat clients for 4s running in the
// background.
type bgBench struct {
	w      *lineWriter
	stderr bytes.Buffer
	code   chan int
}

// startBench starts a bench against the cluster in dir, with extra flags,
// and returns once its load has run for a second (its first progress line).
// That line says t=1s unless the sender was held up from before 1 s to
// past 1.5 s (a loaded machine), when it says t=2s: any t= line will do.
func startBench(t *testing.T, dir string, flags ...string) *bgBench {
	t.Helper()
	b := &bgBench{w: &lineWriter{match: regexp.MustCompile(`^t=\d+s `), seen: make(chan struct{})}, code: make(chan int, 1)}
	go func() {
		args := append([]string{"goworldctl", "bench", "-clients", "20", "-duration", "4s", "-idle", "0"}, flags...)
		b.code <- run(context.Background(), append(args, dir), b.w, &b.stderr)
	}()
	select {
	case <-b.w.seen:
	case c := <-b.code:
		t.Fatalf("bench ended (exit %d) before the load started:\n%s%s", c, b.w, &b.stderr)
	case <-time.After(time.Minute):
		t.Fatalf("no progress line:\n%s", b.w)
	}
	return b
}

// wait waits for the bench to end and parses what it printed.
func (b *bgBench) wait(t *testing.T) benchResult {
	t.Helper()
	var c int
	select {
	case c = <-b.code:
	case <-time.After(time.Minute):
		t.Fatal("bench did not end")
	}
	return parseBench(t, result{b.w.String(), b.stderr.String(), c})
}

// TestBenchCountsLossesWhenTheGameDies kills the game in the middle of a
// chat run: the bots are kicked, their messages are lost, and bench says so
// in its summary and exits 1.
func TestBenchCountsLossesWhenTheGameDies(t *testing.T) {
	dir, ps := startDemo(t, "chat")
	b := startBench(t, dir)
	game := ps[1]
	if game.name != "game1" {
		t.Fatalf("started %v", ps)
	}
	if err := syscall.Kill(game.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	res := b.wait(t)
	if res.code != 1 || res.errors == 0 || res.lost == 0 {
		t.Errorf("want exit 1 with errors and losses: %s", res.out)
	}
	if !strings.Contains(res.out, "first error: ") {
		t.Errorf("the first error is not shown: %s", res.out)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	dir := newServerDir(t, configINI(1, 1, 1)) // configured, not started
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-clients", "0", dir}, 2, "-clients must be 1 to"},
		{[]string{"-duration", "0s", dir}, 2, "-duration must be positive"},
		{[]string{"-scenario", "fly", dir}, 2, `unknown -scenario "fly"`},
		{[]string{"-rate", "0", dir}, 2, "-rate must be"},
		{[]string{"-gate", "192.0.2.1:14001"}, 2, "not a loopback address"},
		{[]string{"-gate", "nonsense"}, 2, `-gate "nonsense"`},
		{[]string{"-kcp", "-ws", dir}, 2, "-kcp and -ws"},
		{[]string{"-kcp", "-gate", "ws://127.0.0.1:1/"}, 2, "-kcp and -ws"},
		{[]string{"-ws", "-gate", "127.0.0.1:1"}, 2, "-gate is a ws:// or wss:// URL"},
		{[]string{"-gate", "ws://192.0.2.1:14002/"}, 2, "not a loopback address"},
		{[]string{"-ws", dir}, 1, "gate1 serves no WebSocket clients (no ws_addr"},
		{[]string{}, 2, "give -gate ADDR"},
		{[]string{"-all-gates", "-gate", "127.0.0.1:1", dir}, 2, "-all-gates and -gate exclude each other"},
		{[]string{"-gate", "127.0.0.1:1,"}, 2, "has an empty address"},
		{[]string{"-gate", "127.0.0.1:1,192.0.2.1:14001"}, 2, "192.0.2.1:14001 is not a loopback address"},
		{[]string{"-gate", "ws://127.0.0.1:1/,127.0.0.1:2"}, 2, "-gate is a ws:// or wss:// URL, not \"127.0.0.1:2\""},
		{[]string{"-gate", "127.0.0.1:2,ws://127.0.0.1:1/"}, 2, "mixes WebSocket URLs and other addresses"},
		{[]string{dir, "extra"}, 2, "unexpected arguments"},
		// Nothing listens there: set-up fails, which is an error (exit 1).
		{[]string{"-clients", "2", "-gate", "127.0.0.1:1", "-setup-timeout", "5s"}, 1, "127.0.0.1:1"},
	} {
		r := ctl(t, append([]string{"bench"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr+r.stdout, tc.want) {
			t.Errorf("bench %q: want exit %d and %q in the output, got %v", tc.args, tc.code, tc.want, r)
		}
	}
}

// TestBenchSpreadsOverGates runs chat over a cluster of two gates with
// -all-gates: client i connects to gate i%2, so every room has members on
// both, and each message must reach the members behind the other gate
// too. While the load runs, goworldctl status shows half the clients on
// each gate; nothing is lost.
func TestBenchSpreadsOverGates(t *testing.T) {
	dir := newServerDir(t, configINI(1, 1, 2))
	copyFile(t, demoBinary(t, "chat"), filepath.Join(dir, "bin", "demo"), 0o755)
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	ps := parseStarted(t, r.stdout)
	if names(ps) != "dispatcher1 game1 gate1 gate2" {
		t.Fatalf("started %v", ps)
	}
	bg := startBench(t, dir, "-all-gates") // 20 clients
	st := ctl(t, "status", dir)
	for _, g := range []string{"gate1", "gate2"} {
		m := regexp.MustCompile(`(?m)^` + g + ` .*\n +admin=\S+ clients=(\d+) `).FindStringSubmatch(st.stdout)
		if m == nil || m[1] != "10" {
			t.Errorf("%s: want clients=10 of the bench's 20 while it runs: %v", g, st)
		}
	}
	b := bg.wait(t)
	if b.code != 0 || b.errors != 0 || b.lost != 0 {
		t.Fatalf("bench over two gates: %s", b.out)
	}
	if want := "gate=" + ps[2].addr + "," + ps[3].addr + " "; !strings.Contains(b.out, want) {
		t.Errorf("the header does not name both gates (%q): %s", want, b.out)
	}
	if b.expected == 0 || b.delivered != b.expected {
		t.Errorf("delivered %d of %d: %s", b.delivered, b.expected, b.out)
	}
}

// TestBenchCountsCPUAcrossAReload reloads the game in the middle of a chat
// run: nothing is lost (a hot reload keeps the clients and their calls),
// and the game's CPU is that of the old process and the new one, marked
// as restarted, where bench used to show a reloaded game as gone.
func TestBenchCountsCPUAcrossAReload(t *testing.T) {
	dir, _ := startDemo(t, "chat")
	b := startBench(t, dir)
	if r := ctl(t, "reload", "-no-build", dir); r.code != 0 {
		t.Fatalf("reload during the bench: %v", r)
	}
	res := b.wait(t)
	if res.code != 0 || res.errors != 0 || res.lost != 0 {
		t.Fatalf("a reload during the run lost something: %s", res.out)
	}
	m := regexp.MustCompile(`(?m)^servers .*game1=([\d.]+)%\(restarted×1\) `).FindStringSubmatch(res.out)
	if m == nil {
		t.Fatalf("no game1 CPU marked restarted: %s", res.out)
	}
	if cpu, _ := strconv.ParseFloat(m[1], 64); cpu <= 0 {
		t.Fatalf("game1's CPU is %v%% across the reload: %s", cpu, res.out)
	}
}
