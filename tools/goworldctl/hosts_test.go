//go:build linux || darwin

package main

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// manyGamesINI is a cluster on one machine with four games, which needs a
// store every game shares: Redis. The fake server does not open the store.
const manyGamesINI = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[dispatcher2]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Account
[game1]
[game2]
[game3]
[game4]
[gate1]
listen_addr = 127.0.0.1:0
[storage]
type = redis
addr = 10.0.0.5:6379
`

// TestManyGames starts a cluster with four games, kills one with SIGKILL
// (the others go on), starts it again with start -down, and stops all.
func TestManyGames(t *testing.T) {
	dir := newServerDir(t, manyGamesINI)
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	ps := parseStarted(t, r.stdout)
	if got, want := names(ps), "dispatcher1 dispatcher2 game1 game2 game3 game4 gate1"; got != want {
		t.Fatalf("started %q, want %q", got, want)
	}
	pids := map[string]int{}
	for _, p := range ps {
		pids[p.name] = p.pid
	}
	// Every game got both dispatchers' actual addresses and reached them.
	for i := 1; i <= 4; i++ {
		log := readFile(t, filepath.Join(dir, "log", fmt.Sprintf("game%d.log", i)))
		for _, d := range ps[:2] {
			if !strings.Contains(log, "connected to dispatcher "+d.addr) {
				t.Errorf("game%d.log lacks a connection to %s:\n%s", i, d.addr, log)
			}
		}
	}
	r = ctl(t, "status", dir)
	if r.code != 0 {
		t.Fatalf("status: %v", r)
	}
	for _, p := range ps {
		if !strings.Contains(r.stdout, p.name+" running pid="+strconv.Itoa(p.pid)) {
			t.Errorf("status lacks %s running pid=%d:\n%s", p.name, p.pid, r.stdout)
		}
	}

	// kill -9 of one game: the others run on, status names the dead one.
	if err := syscall.Kill(pids["game3"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "game3 to be down", func() bool {
		return strings.Contains(ctl(t, "status", dir).stdout, "game3 down\n")
	})
	r = ctl(t, "status", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 7 processes down") {
		t.Errorf("status with game3 killed: %v", r)
	}
	for name, pid := range pids {
		if name == "game3" {
			continue
		}
		if !strings.Contains(r.stdout, name+" running pid="+strconv.Itoa(pid)) {
			t.Errorf("%s (pid %d) does not run on after game3's death:\n%s", name, pid, r.stdout)
		}
	}
	// start -down brings back game3 alone, with the running dispatchers'
	// addresses.
	r = ctl(t, "start", "-no-build", "-down", dir)
	if r.code != 0 {
		t.Fatalf("start -down: %v", r)
	}
	restarted := parseStarted(t, strings.Join(filterPrefix(lines(r.stdout), "started "), "\n"))
	if names(restarted) != "game3" || restarted[0].pid == pids["game3"] {
		t.Fatalf("start -down started %v, want a new game3: %v", restarted, r)
	}
	if got := len(regexp.MustCompile(`(?m) already running pid=\d+$`).FindAllString(r.stdout, -1)); got != 6 {
		t.Errorf("start -down: %d processes already running, want 6: %v", got, r)
	}
	if r := ctl(t, "status", dir); r.code != 0 {
		t.Errorf("status after start -down: %v", r)
	}
	r = ctl(t, "stop", dir)
	if r.code != 0 || len(filterPrefix(lines(r.stdout), "stopped ")) != 7 {
		t.Errorf("stop: %v", r)
	}
	assertNothingRuns(t, dir, "dispatcher1", "dispatcher2", "game1", "game2", "game3", "game4", "gate1")
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// twoHostsINI places the dispatchers, a game and a gate on host a, and a
// game and a gate on host b. The dispatchers advertise a fixed address,
// which host b's processes take from the config (on one machine it is a
// loopback one; see the deployment guide for real ones).
func twoHostsINI(p1, p2 int) string {
	return fmt.Sprintf(`
[dispatcher_common]
host = a
[dispatcher1]
listen_addr = 127.0.0.1:%[1]d
advertise_addr = 127.0.0.1:%[1]d
[dispatcher2]
listen_addr = 127.0.0.1:%[2]d
advertise_addr = 127.0.0.1:%[2]d
[game_common]
boot_entity = Account
[game1]
host = a
[game2]
host = b
[gate_common]
listen_addr = 127.0.0.1:0
[gate1]
host = a
[gate2]
host = b
[storage]
type = redis
addr = 10.0.0.5:6379
`, p1, p2)
}

// TestHosts starts and stops the processes of two hosts separately with
// -host (and GOWORLD_HOST), on this machine: each start starts only its
// host's processes, status lists the other host's as remote, stop stops
// only its host's.
func TestHosts(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	dir := newServerDir(t, twoHostsINI(p1, p2))
	d1, d2 := "127.0.0.1:"+strconv.Itoa(p1), "127.0.0.1:"+strconv.Itoa(p2)

	// Without a host, nothing is done: the config places processes.
	for _, cmd := range []string{"start", "status", "stop", "kill", "reload"} {
		r := ctl(t, cmd, dir)
		if r.code != 1 || !strings.Contains(r.stderr, "places its processes on hosts a, b: say which one this machine is with -host NAME (or GOWORLD_HOST=NAME") {
			t.Errorf("%s without -host: %v", cmd, r)
		}
	}
	if r := ctl(t, "start", "-no-build", "-host", "c", dir); r.code != 1 || !strings.Contains(r.stderr, `-host "c" (or GOWORLD_HOST): no process of`) ||
		!strings.Contains(r.stderr, "(hosts: a, b)") {
		t.Errorf("start -host c: %v", r)
	}

	r := ctl(t, "start", "-no-build", "-host", "a", dir)
	if r.code != 0 {
		t.Fatalf("start -host a: %v", r)
	}
	a := parseHostStarted(t, r.stdout, "a")
	if got, want := names(a), "dispatcher1 dispatcher2 game1 gate1"; got != want {
		t.Fatalf("start -host a started %q, want %q", got, want)
	}
	if a[0].addr != d1 || a[1].addr != d2 {
		t.Errorf("dispatchers listen on %s, %s, want %s, %s", a[0].addr, a[1].addr, d1, d2)
	}
	assertNothingRuns(t, dir, "game2", "gate2")

	r = ctl(t, "status", "-host", "a", dir)
	want := []string{
		"dispatcher1 running pid=" + strconv.Itoa(a[0].pid) + " addr=" + d1 + " host=a",
		"dispatcher2 running pid=" + strconv.Itoa(a[1].pid) + " addr=" + d2 + " host=a",
		"game1 running pid=" + strconv.Itoa(a[2].pid) + " host=a",
		"game2 remote host=b (not probed)",
		"gate1 running pid=" + strconv.Itoa(a[3].pid) + " addr=" + a[3].addr + " host=a",
		"gate2 remote host=b (not probed)",
	}
	if got := filterPrefix(lines(r.stdout), ""); r.code != 0 || strings.Join(withoutIndented(got), "\n") != strings.Join(want, "\n") {
		t.Errorf("status -host a: %v\nwant:\n%s", r, strings.Join(want, "\n"))
	}

	// Host b, named by the environment: its processes dial the
	// dispatchers' advertised addresses from the config.
	t.Setenv("GOWORLD_HOST", "b")
	r = ctl(t, "status", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "dispatcher1 remote host=a (not probed)\n") || !strings.Contains(r.stdout, "game2 down host=b\n") ||
		!strings.Contains(r.stderr, "2 of 2 processes on host b down") {
		t.Errorf("status on b before its start: %v", r)
	}
	r = ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start on b: %v", r)
	}
	b := parseHostStarted(t, r.stdout, "b")
	if got, want := names(b), "game2 gate2"; got != want {
		t.Fatalf("start on b started %q, want %q", got, want)
	}
	for _, n := range []string{"game2", "gate2"} {
		log := readFile(t, filepath.Join(dir, "log", n+".log"))
		if !strings.Contains(log, "connected to dispatcher "+d1) || !strings.Contains(log, "connected to dispatcher "+d2) {
			t.Errorf("%s.log shows no connection to both dispatchers:\n%s", n, log)
		}
	}
	// A second start on b refuses, naming b's processes only.
	if r := ctl(t, "start", "-no-build", dir); r.code != 1 || !strings.Contains(r.stderr, "already running on host b (game2 pid=") ||
		strings.Contains(r.stderr, "game1") {
		t.Errorf("second start on b: %v", r)
	}
	// stop on b stops b's processes only.
	r = ctl(t, "stop", dir)
	if r.code != 0 || r.stdout != "stopped gate2 pid="+strconv.Itoa(b[1].pid)+"\nstopped game2 pid="+strconv.Itoa(b[0].pid)+"\n" {
		t.Errorf("stop on b: %v", r)
	}
	if r := ctl(t, "status", "-host", "a", dir); r.code != 0 {
		t.Errorf("status of a after b stopped: %v", r)
	}
	// -host wins over the environment; kill works per host too.
	r = ctl(t, "kill", "-host", "a", dir)
	if r.code != 0 || len(filterPrefix(lines(r.stdout), "killed ")) != 4 {
		t.Errorf("kill -host a: %v", r)
	}
	assertNothingRuns(t, dir, "dispatcher1", "dispatcher2", "game1", "game2", "gate1", "gate2")
}

// TestHostOnOneMachine checks that -host is refused for a config that
// names no hosts, rather than silently ignored.
func TestHostOnOneMachine(t *testing.T) {
	dir := newServerDir(t, configINI(1, 1, 1))
	r := ctl(t, "status", "-host", "a", dir)
	if r.code != 1 || !strings.Contains(r.stderr, `-host "a" (or GOWORLD_HOST): `) || !strings.Contains(r.stderr, "names no hosts") {
		t.Errorf("status -host a: %v", r)
	}
}

var hostStartedLine = regexp.MustCompile(`^started (\w+) pid=(\d+)(?: addr=(127\.0\.0\.1:\d+))? host=(\w+)$`)

// parseHostStarted parses the "started" lines of a start on host.
func parseHostStarted(t *testing.T, out, host string) []startedProc {
	t.Helper()
	var ps []startedProc
	for _, l := range lines(out) {
		m := hostStartedLine.FindStringSubmatch(l)
		if m == nil || m[4] != host {
			t.Fatalf("unexpected output line %q in\n%s", l, out)
		}
		pid, _ := strconv.Atoi(m[2])
		ps = append(ps, startedProc{m[1], pid, m[3]})
	}
	return ps
}

// withoutIndented drops the indented lines (metrics) of status output.
func withoutIndented(ls []string) []string {
	var out []string
	for _, l := range ls {
		if !strings.HasPrefix(l, " ") {
			out = append(out, l)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDispatcherAddr checks which address the games and gates of this
// host are given for each dispatcher: the advertised one if any, else the
// reported one for a dispatcher of this host, else the configured
// listen_addr (which validation requires to be dialable from elsewhere).
func TestDispatcherAddr(t *testing.T) {
	dir := newServerDir(t, `
[dispatcher1]
host = a
listen_addr = 0.0.0.0:13001
advertise_addr = 10.0.0.1:13001
[dispatcher2]
host = b
listen_addr = 10.0.0.2:13002
[dispatcher3]
host = a
listen_addr = 10.0.0.1:13003
[game1]
host = b
boot_entity = Account
[gate1]
host = a
listen_addr = 127.0.0.1:0
[storage]
type = redis
addr = 10.0.0.5:6379
`)
	cl, err := loadCluster(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host  string
		want  []string
		ready string
	}{
		// On a, dispatcher3 is local: the address it reported.
		{"a", []string{"10.0.0.1:13001", "10.0.0.2:13002", "127.0.0.1:40001"}, "127.0.0.1:40001"},
		// On b, dispatcher2 is local but reported nothing (not running):
		// the reported address, empty; the others from the config.
		{"b", []string{"10.0.0.1:13001", "", "10.0.0.1:13003"}, ""},
	} {
		if err := cl.setHost(tc.host); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range cl.ProcsOf(roleDispatcher) {
			got = append(got, cl.dispatcherAddr(p, tc.ready))
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("on host %s: %q, want %q", tc.host, got, tc.want)
		}
	}
}
