package main

// End-to-end tests with real processes: the demo binary started by
// goworldctl, chatted with by the demo client binary over TCP, KCP and
// WebSocket.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/testcert"
)

// repoRoot is the module root, two levels up from this package.
var repoRoot, _ = filepath.Abs("../..")

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds goworldctl, the demo server and the demo client once per
// test run (without -race: they are the product, not the test).
func binaries(t testing.TB) (ctl, server, chat string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("goworldctl manages processes on Linux and macOS only")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "goworld-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{
			{"goworldctl", "./tools/goworldctl"},
			{"chatroom_demo", "./examples/chatroom_demo"},
			{"chat", "./examples/chatroom_demo/client"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b.out), b.pkg)
			cmd.Dir = repoRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "goworldctl"), filepath.Join(binDir, "chatroom_demo"), filepath.Join(binDir, "chat")
}

// testConfig is a one-of-each cluster on ports the kernel picks.
const testConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = %s
save_interval = 1s
[game1]
[gate_common]
heartbeat_timeout = 10s
[gate1]
listen_addr = 127.0.0.1:0
ws_addr = 127.0.0.1:0
[storage]
path = %s
`

// serverDir makes DIR with the prebuilt server binary at DIR/bin/DIR and a
// config.ini, for goworldctl start -no-build.
func serverDir(t testing.TB, server string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "chat")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(server)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "chat"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, fmt.Sprintf(testConfig, "Account", "chat.db"))
	return dir
}

func writeConfig(t testing.TB, dir, cfg string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.ini"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	out, err string
	code     int
}

// run runs a command to completion (bounded by two minutes).
func run(t testing.TB, dir string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v: still running after 2 minutes", name, args)
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// ctlCmd runs goworldctl and fails the test on a non-zero exit.
func ctlCmd(t *testing.T, ctl string, args ...string) string {
	t.Helper()
	r := run(t, repoRoot, ctl, args...)
	if r.code != 0 {
		t.Fatalf("goworldctl %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.out, r.err)
	}
	return r.out
}

// startProcs starts the cluster in dir and returns the gate's address.
// Cleanup kills whatever is left of it.
func startProcs(t *testing.T, ctl, dir string, extra ...string) string {
	t.Helper()
	t.Cleanup(func() { run(t, repoRoot, ctl, "kill", dir) })
	out := ctlCmd(t, ctl, append(append([]string{"start"}, extra...), dir)...)
	for _, name := range []string{"dispatcher1", "game1", "gate1"} {
		if !strings.Contains(out, "started "+name+" pid=") {
			t.Fatalf("start did not report %s:\n%s", name, out)
		}
	}
	return gateAddr(t, ctl, dir)
}

var gateLine = regexp.MustCompile(`(?m)^gate1 running pid=(\d+) addr=(\S+)(?: ws=(\S+))?$`)

func gateAddr(t *testing.T, ctl, dir string) string {
	t.Helper()
	return gateStatus(t, ctl, dir)[2]
}

// gateWSURL returns gate1's WebSocket URL, as goworldctl status shows it.
func gateWSURL(t *testing.T, ctl, dir string) string {
	t.Helper()
	url := gateStatus(t, ctl, dir)[3]
	if !strings.HasPrefix(url, "ws://127.0.0.1:") {
		t.Fatalf("gate1's WebSocket URL is %q", url)
	}
	return url
}

func gateStatus(t *testing.T, ctl, dir string) []string {
	t.Helper()
	out := ctlCmd(t, ctl, "status", dir)
	m := gateLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no running gate in status:\n%s", out)
	}
	return m
}

var pidRE = regexp.MustCompile(`(?m)^(\w+) running pid=(\d+)`)

// statusPIDs returns the PIDs goworldctl status reports, by name.
func statusPIDs(t *testing.T, ctl, dir string) map[string]int {
	t.Helper()
	out := ctlCmd(t, ctl, "status", dir)
	pids := map[string]int{}
	for _, m := range pidRE.FindAllStringSubmatch(out, -1) {
		var pid int
		fmt.Sscan(m[2], &pid)
		pids[m[1]] = pid
	}
	if len(pids) != 3 {
		t.Fatalf("status lists %d running processes:\n%s", len(pids), out)
	}
	return pids
}

// alive reports whether pid is a live process. A zombie (exited, not yet
// reaped by whoever inherited it once goworldctl exited) counts as gone.
func alive(pid int) bool {
	if signalPID(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc (macOS): signal 0 is all we have
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// chatProc is the demo client binary, driven through its stdin and stdout.
type chatProc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	errMu sync.Mutex
	errb  bytes.Buffer
	done  chan struct{}
}

func startChat(t *testing.T, bin, addr, user, password string, extra ...string) *chatProc {
	t.Helper()
	args := append([]string{"-gate", addr, "-user", user, "-password", password}, extra...)
	p := &chatProc{t: t, name: user, cmd: exec.Command(bin, args...), lines: make(chan string, 100), done: make(chan struct{})}
	p.cmd.Stderr = &lockedWriter{mu: &p.errMu, w: &p.errb}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill() // the client we started, by the handle we got
			<-p.done
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (p *chatProc) stderr() string {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.errb.String()
}

// expect checks that the next line the client prints is want.
func (p *chatProc) expect(want string) {
	p.t.Helper()
	select {
	case got, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("%s exited waiting for %q; stderr:\n%s", p.name, want, p.stderr())
		}
		if got != want {
			p.t.Fatalf("%s printed %q, want %q", p.name, got, want)
		}
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s: no %q after 15s; stderr:\n%s", p.name, want, p.stderr())
	}
}

func (p *chatProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// exit waits for the client to end and returns its exit code.
func (p *chatProc) exit() int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s did not exit", p.name)
	}
	return -1
}

func TestEndToEndChatWithGoworldctl(t *testing.T) {
	ctl, server, chat := binaries(t)
	dir := serverDir(t, server)
	addr := startProcs(t, ctl, dir, "-no-build")
	pids := statusPIDs(t, ctl, dir)

	alice := startChat(t, chat, addr, "alice", "secret", "-register")
	bob := startChat(t, chat, addr, "bob", "hunter2", "-kcp", "-register")
	carol := startChat(t, chat, gateWSURL(t, ctl, dir), "carol", "pw", "-room", "garden", "-register") // over WebSocket
	for _, p := range []*chatProc{alice, bob, carol} {
		p.expect("logged in as " + p.name)
	}
	alice.expect("joined lobby")
	bob.expect("joined lobby")
	carol.expect("joined garden")

	alice.send("hello everyone")
	alice.expect("[lobby] alice: hello everyone")
	bob.expect("[lobby] alice: hello everyone")
	bob.send("hi alice, over KCP")
	bob.expect("[lobby] bob: hi alice, over KCP")
	alice.expect("[lobby] bob: hi alice, over KCP")
	// Carol's own line comes back after the lobby's through the same path:
	// had the lobby's reached her, it would be her next line.
	carol.send("anyone in the garden?")
	carol.expect("[garden] carol: anyone in the garden?")

	bob.send("/join garden")
	bob.expect("joined garden")
	carol.send("welcome, bob")
	carol.expect("[garden] carol: welcome, bob")
	bob.expect("[garden] carol: welcome, bob")
	alice.send("bob left")
	alice.expect("[lobby] alice: bob left")

	wrong := startChat(t, chat, addr, "alice", "not-her-password")
	if code := wrong.exit(); code != 1 || !strings.Contains(wrong.stderr(), "login failed: wrong name or password") {
		t.Fatalf("wrong password: exit %d, stderr %q", code, wrong.stderr())
	}

	alice.send("/quit")
	if code := alice.exit(); code != 0 {
		t.Fatalf("alice exited %d after /quit", code)
	}
	bob.stdin.Close() // end of input leaves too
	if code := bob.exit(); code != 0 {
		t.Fatalf("bob exited %d at end of input", code)
	}
	carol.send("still here")
	carol.expect("[garden] carol: still here")

	// stop: gate, game, dispatcher, all gone.
	out := ctlCmd(t, ctl, "stop", dir)
	order := []string{"stopped gate1", "stopped game1", "stopped dispatcher1"}
	last := -1
	for _, s := range order {
		i := strings.Index(out, s)
		if i <= last {
			t.Fatalf("stop output not in order gate, game, dispatcher:\n%s", out)
		}
		last = i
	}
	for name, pid := range pids {
		if alive(pid) {
			t.Fatalf("%s (pid %d) still runs after stop", name, pid)
		}
	}
	if r := run(t, repoRoot, ctl, "status", dir); r.code == 0 || !strings.Contains(r.out, "gate1 down") {
		t.Fatalf("status after stop: exit %d\n%s%s", r.code, r.out, r.err)
	}
	if code := carol.exit(); code != 2 || !strings.Contains(carol.stderr(), "disconnected: server shutting down") {
		t.Fatalf("carol exited %d when the cluster stopped (want 2, told the server is shutting down); stderr %q", code, carol.stderr())
	}

	// A new cluster on the same storage remembers the accounts.
	addr = startProcs(t, ctl, dir, "-no-build")
	again := startChat(t, chat, addr, "alice", "secret", "-kcp")
	again.expect("logged in as alice")
	again.expect("joined lobby")
	wrong = startChat(t, chat, addr, "bob", "secret")
	if code := wrong.exit(); code != 1 {
		t.Fatalf("bob with alice's password: exit %d", code)
	}
	// Bob left from the garden: he is back in it, without joining.
	bob = startChat(t, chat, addr, "bob", "hunter2")
	bob.expect("logged in as bob")
	bob.expect("joined garden")
	bob.send("back in the garden")
	bob.expect("[garden] bob: back in the garden")
	again.send("lobby only")
	again.expect("[lobby] alice: lobby only")
	out = ctlCmd(t, ctl, "kill", dir)
	if !strings.Contains(out, "killed gate1") || !strings.Contains(out, "killed dispatcher1") {
		t.Fatalf("kill output:\n%s", out)
	}
}

func TestStartFailsClearlyWhenAPortIsTaken(t *testing.T) {
	ctl, server, _ := binaries(t)
	dir := serverDir(t, server)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	writeConfig(t, dir, strings.Replace(fmt.Sprintf(testConfig, "Account", "chat.db"),
		"[dispatcher1]\nlisten_addr = 127.0.0.1:0", "[dispatcher1]\nlisten_addr = "+ln.Addr().String(), 1))
	t.Cleanup(func() { run(t, repoRoot, ctl, "kill", dir) })
	r := run(t, repoRoot, ctl, "start", "-no-build", dir)
	if r.code == 0 {
		t.Fatalf("start succeeded with the dispatcher's port taken:\n%s", r.out)
	}
	if !strings.Contains(r.err, "address already in use") || !strings.Contains(r.err, "dispatcher1") {
		t.Fatalf("start's error does not say what failed:\n%s", r.err)
	}
	if r := run(t, repoRoot, ctl, "status", dir); r.code == 0 {
		t.Fatalf("something runs after a failed start:\n%s", r.out)
	}
}

func TestStartRefusesAnUnregisteredBootEntity(t *testing.T) {
	ctl, server, _ := binaries(t)
	dir := serverDir(t, server)
	writeConfig(t, dir, fmt.Sprintf(testConfig, "Acount", "chat.db")) // a typo
	t.Cleanup(func() { run(t, repoRoot, ctl, "kill", dir) })
	r := run(t, repoRoot, ctl, "start", "-no-build", dir)
	if r.code == 0 || !strings.Contains(r.err, `boot entity type "Acount" is not registered`) {
		t.Fatalf("start: exit %d\nstderr:\n%s", r.code, r.err)
	}
	if r := run(t, repoRoot, ctl, "status", dir); r.code == 0 {
		t.Fatalf("something runs after a failed start:\n%s", r.out)
	}
}

// TestGameInItsOwnModule copies examples/standalone outside this
// repository, points it at this checkout, and builds and runs it with
// goworldctl, as the README tells a user to.
func TestGameInItsOwnModule(t *testing.T) {
	ctl, _, _ := binaries(t)
	dir := filepath.Join(t.TempDir(), "mygame")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot, "examples", "standalone"))); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"mod", "edit", "-replace", "github.com/goworld-engine/goworld=" + repoRoot},
		{"mod", "tidy"},
	} {
		if r := run(t, dir, "go", args...); r.code != 0 {
			t.Fatalf("go %v: %s%s", args, r.out, r.err)
		}
	}
	writeConfig(t, dir, fmt.Sprintf(testConfig, "Player", "mygame.db"))
	addr := startProcs(t, ctl, dir) // builds the user's module
	r := run(t, dir, "go", "run", "./client", "-gate", addr)
	if r.code != 0 || !strings.Contains(r.out, "Cheer [10]") || !strings.Contains(r.out, "clicks attribute: 10") {
		t.Fatalf("client: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
	}
	ctlCmd(t, ctl, "stop", dir)
}

// TestEndToEndChatOverTLS: a gate with tls_cert serves the chat client
// over TLS (-tls -ca), and a client that dials it without TLS gets no
// login.
func TestEndToEndChatOverTLS(t *testing.T) {
	ctl, server, chat := binaries(t)
	dir := serverDir(t, server)
	cert, _, _, err := testcert.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(fmt.Sprintf(testConfig, "Account", "chat.db"), "[gate1]\n", "[gate1]\ntls_cert = cert.pem\ntls_key = key.pem\n", 1)
	writeConfig(t, dir, cfg)
	addr := startProcs(t, ctl, dir, "-no-build")

	erin := startChat(t, chat, addr, "erin", "pw", "-register", "-tls", "-ca", cert)
	erin.expect("logged in as erin")
	erin.expect("joined lobby")
	erin.send("over TLS")
	erin.expect("[lobby] erin: over TLS")

	plain := startChat(t, chat, addr, "frank", "pw")
	if code := plain.exit(); code != 2 || !strings.Contains(plain.stderr(), "disconnected:") {
		t.Fatalf("a plain client on the TLS port: exit %d, stderr %q", code, plain.stderr())
	}
	erin.send("/quit")
	if code := erin.exit(); code != 0 {
		t.Fatalf("erin exited %d after /quit", code)
	}
}

// TestStartRefusesADamagedDatabase: goworldctl start with a database
// file that is empty, or cut short, fails, and what it prints names the
// file and says what to do; the file is left as it was. A missing file
// is a new world (the start succeeds), as the demo's first run is.
func TestStartRefusesADamagedDatabase(t *testing.T) {
	ctl, server, chat := binaries(t)

	// A real database to cut short: the demo's, after a registration.
	dir := serverDir(t, server)
	addr := startProcs(t, ctl, dir, "-no-build") // no chat.db yet: a new world
	p := startChat(t, chat, addr, "alice", "secret", "-register")
	p.expect("logged in as alice")
	p.stdin.Close()
	p.exit()
	ctlCmd(t, ctl, "stop", dir)
	valid, err := os.ReadFile(filepath.Join(dir, "chat.db"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "is empty (0 bytes)"},
		{"half", valid[:len(valid)/2], "is truncated"},
		{"header only", valid[:100], "is truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := serverDir(t, server)
			db := filepath.Join(dir, "chat.db")
			if err := os.WriteFile(db, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { run(t, repoRoot, ctl, "kill", dir) })
			r := run(t, repoRoot, ctl, "start", "-no-build", dir)
			if r.code == 0 {
				t.Fatalf("start succeeded with a %s database:\n%s", tc.name, r.out)
			}
			t.Logf("goworldctl start said:\n%s", r.err)
			for _, s := range []string{"game1", "chat.db", tc.want, "Restore it from a backup", "move it away"} {
				if !strings.Contains(r.err, s) {
					t.Errorf("start's error does not say %q:\n%s", s, r.err)
				}
			}
			if after, _ := os.ReadFile(db); !bytes.Equal(after, tc.data) {
				t.Errorf("the file changed: %d bytes before, %d after", len(tc.data), len(after))
			}
			if r := run(t, repoRoot, ctl, "status", dir); r.code == 0 {
				t.Fatalf("something runs after a failed start:\n%s", r.out)
			}
		})
	}
}
