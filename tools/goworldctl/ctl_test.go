//go:build linux || darwin

package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/proc"
)

var startedLine = regexp.MustCompile(`^started (\w+) pid=(\d+)(?: addr=(127\.0\.0\.1:\d+))?(?: ws=(ws://127\.0\.0\.1:\d+/))?$`)

// startedProc is what a "started" line says.
type startedProc struct {
	name string
	pid  int
	addr string
}

// parseStarted parses the "started" lines of start's output, skipping a
// leading "built" line.
func parseStarted(t *testing.T, out string) []startedProc {
	t.Helper()
	var ps []startedProc
	for _, l := range lines(out) {
		if strings.HasPrefix(l, "built ") {
			continue
		}
		m := startedLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unexpected output line %q in\n%s", l, out)
		}
		pid, _ := strconv.Atoi(m[2])
		ps = append(ps, startedProc{m[1], pid, m[3]})
	}
	return ps
}

func names(ps []startedProc) string {
	var ns []string
	for _, p := range ps {
		ns = append(ns, p.name)
	}
	return strings.Join(ns, " ")
}

// TestBuildStartStatusStop runs the whole life of a cluster: start builds
// the server from source, then start, status and stop.
func TestBuildStartStatusStop(t *testing.T) {
	// The server directory must lie inside this module to import
	// internal/proc, so it is a temporary copy of the fake server's source
	// under testdata.
	dir, err := os.MkdirTemp("testdata", "cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	dir, err = filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join("testdata", "fakeserver", "main.go"), filepath.Join(dir, "main.go"), 0o644)
	writeFile(t, filepath.Join(dir, "config.ini"), configINI(2, 1, 2))
	killAtCleanup(t, dir)

	r := ctl(t, "start", "-timeout", "20s", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	binary := filepath.Join(dir, "bin", filepath.Base(dir))
	if first := lines(r.stdout)[0]; first != "built "+binary {
		t.Errorf("first line of start = %q, want %q", first, "built "+binary)
	}
	ps := parseStarted(t, r.stdout)
	if got, want := names(ps), "dispatcher1 dispatcher2 game1 gate1 gate2"; got != want {
		t.Fatalf("started %q, want %q in that order", got, want)
	}
	for _, p := range ps {
		if (p.addr == "") != (p.name == "game1") {
			t.Errorf("%s: addr %q", p.name, p.addr)
		}
		var info proc.ReadyInfo
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "run", p.name+".json"))), &info); err != nil {
			t.Fatal(err)
		}
		if info.Name != p.name || info.PID != p.pid || info.Addr != p.addr {
			t.Errorf("run/%s.json = %+v, want pid %d addr %q", p.name, info, p.pid, p.addr)
		}
	}
	// Games and gates got the dispatchers' actual addresses and reached them.
	gameLog := readFile(t, filepath.Join(dir, "log", "game1.log"))
	for _, want := range []string{
		"starting in " + dir + " ", // the working directory is DIR
		"connected to dispatcher " + ps[0].addr,
		"connected to dispatcher " + ps[1].addr,
	} {
		if !strings.Contains(gameLog, want) {
			t.Errorf("game1.log lacks %q:\n%s", want, gameLog)
		}
	}
	c, err := net.DialTimeout("tcp", ps[3].addr, 5*time.Second)
	if err != nil {
		t.Errorf("gate1 does not listen on its reported address: %v", err)
	} else {
		c.Close()
	}

	r = ctl(t, "status", dir)
	if r.code != 0 {
		t.Errorf("status: %v", r)
	}
	var want []string
	for _, p := range ps {
		l := p.name + " running pid=" + strconv.Itoa(p.pid)
		if p.addr != "" {
			l += " addr=" + p.addr
		}
		// The fake server has no admin server (status_test.go runs real ones).
		want = append(want, l, "    "+noAdminLine)
	}
	if got := lines(r.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("status output:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}

	// A second start refuses and changes nothing.
	r = ctl(t, "start", "-no-build", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "already running") {
		t.Errorf("start while running: %v", r)
	}
	if r := ctl(t, "status", dir); r.code != 0 {
		t.Errorf("status after refused start: %v", r)
	}

	r = ctl(t, "stop", dir)
	if r.code != 0 {
		t.Fatalf("stop: %v", r)
	}
	want = nil
	for i := len(ps) - 1; i >= 0; i-- {
		want = append(want, "stopped "+ps[i].name+" pid="+strconv.Itoa(ps[i].pid))
	}
	if got := lines(r.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stop output:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}
	for _, p := range ps {
		// Graceful exits release and remove the PID files; stop removes
		// the READY records.
		for _, f := range []string{p.name + ".pid", p.name + ".json"} {
			if _, err := os.Stat(filepath.Join(dir, "run", f)); !os.IsNotExist(err) {
				t.Errorf("run/%s after stop: %v", f, err)
			}
		}
		if log := readFile(t, filepath.Join(dir, "log", p.name+".log")); !strings.Contains(log, "shutting down on terminated") {
			t.Errorf("%s.log shows no graceful shutdown:\n%s", p.name, log)
		}
	}

	r = ctl(t, "status", dir)
	if r.code == 0 || r.stdout != "dispatcher1 down\ndispatcher2 down\ngame1 down\ngate1 down\ngate2 down\n" ||
		!strings.Contains(r.stderr, "5 of 5 processes down") {
		t.Errorf("status after stop: %v", r)
	}
	r = ctl(t, "stop", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "gate1 not running\n") {
		t.Errorf("stop of a stopped cluster: %v", r)
	}
}

func TestStartFailureStopsTheOthers(t *testing.T) {
	dir := newServerDir(t, configINI(1, 1, 1))
	writeFile(t, filepath.Join(dir, "fail_gate1"), "")

	r := ctl(t, "start", "-no-build", dir)
	if r.code == 0 {
		t.Fatalf("start with a failing gate succeeded: %v", r)
	}
	for _, want := range []string{
		"gate1", "exited before signalling READY", "exit status 1",
		"gate1.log", "fatal: simulated start-up failure", // the log tail
		"gate1.stderr", "fakeserver gate1: simulated start-up failure",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %v", want, r)
		}
	}
	started := parseStarted(t, strings.Join(filterPrefix(lines(r.stdout), "started "), "\n"))
	if names(started) != "dispatcher1 game1" {
		t.Errorf("started %q before the failure: %v", names(started), r)
	}
	stopped := filterPrefix(lines(r.stdout), "stopped ")
	if len(stopped) != 2 || !strings.HasPrefix(stopped[0], "stopped game1 pid=") || !strings.HasPrefix(stopped[1], "stopped dispatcher1 pid=") {
		t.Errorf("clean-up stopped %q; want game1 then dispatcher1", stopped)
	}
	assertNothingRuns(t, dir, "dispatcher1", "game1", "gate1")
	for _, p := range started {
		if err := syscall.Kill(p.pid, 0); err != syscall.ESRCH {
			t.Errorf("%s pid %d still exists after the failed start: %v", p.name, p.pid, err)
		}
	}

	// Once the cause is gone, the cluster starts.
	os.Remove(filepath.Join(dir, "fail_gate1"))
	if r := ctl(t, "start", "-no-build", dir); r.code != 0 {
		t.Fatalf("start after fixing: %v", r)
	}
	if r := ctl(t, "stop", dir); r.code != 0 {
		t.Fatalf("stop: %v", r)
	}
}

func filterPrefix(ls []string, prefix string) []string {
	var out []string
	for _, l := range ls {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func assertNothingRuns(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if pid, running, err := proc.Probe(filepath.Join(dir, "run", n+".pid")); running || err != nil {
			t.Errorf("%s: running=%v pid=%d err=%v", n, running, pid, err)
		}
	}
}

func TestStatusWhenDown(t *testing.T) {
	dir := newServerDir(t, configINI(1, 1, 1))
	r := ctl(t, "status", dir)
	if r.code != 1 || r.stdout != "dispatcher1 down\ngame1 down\ngate1 down\n" || !strings.Contains(r.stderr, "3 of 3 processes down") {
		t.Errorf("status of a cluster never started: %v", r)
	}

	if r := ctl(t, "start", "-no-build", dir); r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	// One process dies: status fails and says which.
	if _, err := proc.Stop(filepath.Join(dir, "run", "game1.pid"), syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r = ctl(t, "status", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "game1 down\n") || !strings.Contains(r.stdout, "gate1 running pid=") ||
		!strings.Contains(r.stderr, "1 of 3 processes down") {
		t.Errorf("status with game1 killed: %v", r)
	}
	if r := ctl(t, "stop", dir); r.code != 0 || !strings.Contains(r.stdout, "game1 not running\n") {
		t.Errorf("stop with game1 down: %v", r)
	}
}

func TestKill(t *testing.T) {
	dir := newServerDir(t, configINI(1, 1, 1))
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	ps := parseStarted(t, r.stdout)
	r = ctl(t, "kill", dir)
	want := "killed gate1 pid=" + strconv.Itoa(ps[2].pid) + "\nkilled game1 pid=" + strconv.Itoa(ps[1].pid) +
		"\nkilled dispatcher1 pid=" + strconv.Itoa(ps[0].pid) + "\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("kill: %v\nwant stdout:\n%s", r, want)
	}
	assertNothingRuns(t, dir, "dispatcher1", "game1", "gate1")
	// Killed processes leave stale PID files, which mean nothing.
	if _, err := os.Stat(filepath.Join(dir, "run", "gate1.pid")); err != nil {
		t.Errorf("stale pid file: %v", err)
	}
	if r := ctl(t, "status", dir); r.code != 1 {
		t.Errorf("status after kill: %v", r)
	}
	// A new start takes the stale files over.
	if r := ctl(t, "start", "-no-build", dir); r.code != 0 {
		t.Fatalf("start after kill: %v", r)
	}
	if r := ctl(t, "stop", dir); r.code != 0 {
		t.Errorf("stop: %v", r)
	}
}

func TestStartNoBuildWithoutBinary(t *testing.T) {
	dir := newServerDir(t, "")
	writeFile(t, filepath.Join(dir, "config.ini"), configINI(1, 1, 1))
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "goworldctl build") {
		t.Errorf("start -no-build without a binary: %v", r)
	}
}

// newModule writes a module of its own, outside this one, with main.go.
func newModule(t *testing.T, mainGo string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mygame")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/mygame\n\ngo 1.21\n")
	writeFile(t, filepath.Join(dir, "main.go"), mainGo)
	return dir
}

const helloMain = `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("%s")
	os.Stdin.Read(make([]byte, 1)) // wait until stdin is closed
}
`

func TestBuildUserModule(t *testing.T) {
	dir := newModule(t, strings.Replace(helloMain, "%s", "v1", 1))
	r := ctl(t, "build", dir)
	bin := filepath.Join(dir, "bin", "mygame")
	if r.code != 0 || r.stdout != "built "+bin+"\n" {
		t.Fatalf("build: %v", r)
	}

	// Keep v1 running while v2 is built: the binary is replaced by a
	// rename, and the running process is undisturbed.
	running := exec.Command(bin)
	stdin, err := running.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := running.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		running.Wait()
	}()

	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(helloMain, "%s", "v2", 1))
	if r := ctl(t, "build", dir); r.code != 0 {
		t.Fatalf("rebuild while running: %v", r)
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.Output()
	if err != nil || string(out) != "v2\n" {
		t.Errorf("rebuilt binary prints %q, %v; want v2", out, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "bin"))
	if len(entries) != 1 {
		t.Errorf("bin/ holds %d entries, want only the binary: %v", len(entries), entries)
	}
}

func TestBuildError(t *testing.T) {
	dir := newModule(t, "package main\n\nfunc main() { undefinedThing() }\n")
	r := ctl(t, "build", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "undefined: undefinedThing") {
		t.Errorf("build of broken code: %v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "mygame")); !os.IsNotExist(err) {
		t.Errorf("a failed build left a binary: %v", err)
	}
	// start builds first and so fails the same way, before starting anything.
	writeFile(t, filepath.Join(dir, "config.ini"), configINI(1, 1, 1))
	r = ctl(t, "start", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "undefined: undefinedThing") || strings.Contains(r.stdout, "started") {
		t.Errorf("start of broken code: %v", r)
	}
}

// TestBuildRefusesALibrary: DIR whose package is not main is refused by
// build and start with the reason, before anything is started (it used to
// start the package's archive: "exec format error").
func TestBuildRefusesALibrary(t *testing.T) {
	dir := newModule(t, "package mygame\n\nfunc Hello() string { return \"hi\" }\n")
	r := ctl(t, "build", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "is not a main package") {
		t.Errorf("build of a library: %v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "mygame")); !os.IsNotExist(err) {
		t.Errorf("a refused build left a file: %v", err)
	}
	writeFile(t, filepath.Join(dir, "config.ini"), configINI(1, 1, 1))
	r = ctl(t, "start", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "is not a main package") || strings.Contains(r.stdout, "started") {
		t.Errorf("start of a library: %v", r)
	}
}

func TestFindConfig(t *testing.T) {
	dir := t.TempDir()
	cwd := t.TempDir()
	t.Chdir(cwd)

	if _, err := findConfig(dir, ""); err == nil || !strings.Contains(err.Error(), "-config") {
		t.Errorf("no config anywhere: %v", err)
	}
	writeFile(t, filepath.Join(cwd, "config.ini"), "")
	if got, err := findConfig(dir, ""); err != nil || got != filepath.Join(cwd, "config.ini") {
		t.Errorf("fallback to ./config.ini: %q, %v", got, err)
	}
	writeFile(t, filepath.Join(dir, "config.ini"), "")
	if got, err := findConfig(dir, ""); err != nil || got != filepath.Join(dir, "config.ini") {
		t.Errorf("DIR/config.ini first: %q, %v", got, err)
	}
	if got, err := findConfig(dir, "other.ini"); err != nil || got != filepath.Join(cwd, "other.ini") {
		t.Errorf("-config other.ini: %q, %v", got, err)
	}

	// A game in a module whose config.ini is at the module's root (the
	// chat demo's), managed from elsewhere: the nearest one above DIR,
	// not ./config.ini; nothing above the module's root.
	mod := t.TempDir()
	game := filepath.Join(mod, "examples", "game")
	if err := os.MkdirAll(game, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mod, "go.mod"), "module example.com/m\n")
	if got, err := findConfig(game, ""); err != nil || got != filepath.Join(cwd, "config.ini") {
		t.Errorf("no config in the module: %q, %v; want ./config.ini", got, err)
	}
	writeFile(t, filepath.Join(mod, "config.ini"), "")
	if got, err := findConfig(game, ""); err != nil || got != filepath.Join(mod, "config.ini") {
		t.Errorf("config at the module's root: %q, %v", got, err)
	}
	writeFile(t, filepath.Join(mod, "examples", "config.ini"), "")
	if got, err := findConfig(game, ""); err != nil || got != filepath.Join(mod, "examples", "config.ini") {
		t.Errorf("the nearest config above DIR: %q, %v", got, err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := newServerDir(t, "")
	r := ctl(t, "status", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "no config file") {
		t.Errorf("status without config: %v", r)
	}
	writeFile(t, filepath.Join(dir, "config.ini"), "[gate1]\nlisten_addr = nonsense\n")
	r = ctl(t, "start", "-no-build", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "[gate1] listen_addr") {
		t.Errorf("start with a bad config: %v", r)
	}
	r = ctl(t, "status", filepath.Join(dir, "missing"))
	if r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("status of a missing directory: %v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := newServerDir(t, configINI(1, 1, 1))
	for _, args := range [][]string{
		{},
		{"frobnicate", dir},
		{"start"},
		{"status", dir, "extra"},
		{"start", dir, "-no-build"},
		{"stop", "-bogus", dir},
		{"stop", "-timeout", "0s", dir},
	} {
		if r := ctl(t, args...); r.code != exitUsage || !strings.Contains(r.stderr, "goworldctl: ") {
			t.Errorf("goworldctl %q: %v", args, r)
		}
	}
	if r := ctl(t, "help"); r.code != 0 || !strings.Contains(r.stdout, "status") {
		t.Errorf("help: %v", r)
	}
}

// TestSlowBuildSaysWhy: a build that runs longer than slowBuild says on
// stderr why (a cold cache), and stdout stays what scripts read.
func TestSlowBuildSaysWhy(t *testing.T) {
	saved := slowBuild
	slowBuild = time.Millisecond
	t.Cleanup(func() { slowBuild = saved })
	dir := newModule(t, strings.Replace(helloMain, "%s", "v1", 1))
	r := ctl(t, "build", dir)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "built ") || !strings.Contains(r.stderr, "still building") {
		t.Errorf("a slow build: %v", r)
	}
}
