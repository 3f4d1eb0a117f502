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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/proc"
)

// reloadBins are the binaries of testdata/reloadgame: a good build and a
// bad one that exits 3 when asked to restore.
var reloadBins struct {
	once      sync.Once
	dir       string
	good, bad string
	err       error
}

// reloadGameBinaries builds testdata/reloadgame twice, at once, on first use.
func reloadGameBinaries(t *testing.T) (good, bad string) {
	t.Helper()
	reloadBins.once.Do(func() {
		reloadBins.dir, reloadBins.err = os.MkdirTemp("", "goworldctl-reload-")
		if reloadBins.err != nil {
			return
		}
		reloadBins.good = filepath.Join(reloadBins.dir, "good")
		reloadBins.bad = filepath.Join(reloadBins.dir, "bad")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, args := range [][]string{
			{"build", "-o", reloadBins.good, "./testdata/reloadgame"},
			{"build", "-ldflags", "-X main.failRestore=yes", "-o", reloadBins.bad, "./testdata/reloadgame"},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}()
		}
		wg.Wait()
		if errs[0] != nil {
			reloadBins.err = errs[0]
		} else {
			reloadBins.err = errs[1]
		}
	})
	if reloadBins.err != nil {
		t.Fatal(reloadBins.err)
	}
	return reloadBins.good, reloadBins.bad
}

// reloadConfig is two dispatchers, a game and a gate on ports the system
// picks.
const reloadConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[dispatcher2]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Player
freeze_timeout = 5s
[game1]
[gate1]
listen_addr = 127.0.0.1:0
kcp = false
[storage]
path = rg.db
`

var (
	reloadedLine = regexp.MustCompile(`(?m)^reloaded game1 pid=(\d+)->(\d+) pause=(\d+\.\d)ms entities=(\d+) freeze_file=(\S+)$`)
	rolledLine   = regexp.MustCompile(`(?m)^rolled back game1 to the previous binary \(pid (\d+)\)`)
)

// reloaded is what a "reloaded" line says.
type reloaded struct {
	oldPID, newPID int
	pause          time.Duration
	entities       int
	file           string
}

func parseReloaded(t *testing.T, r result) reloaded {
	t.Helper()
	m := reloadedLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("reload: %v", r)
	}
	var rl reloaded
	rl.oldPID, _ = strconv.Atoi(m[1])
	rl.newPID, _ = strconv.Atoi(m[2])
	ms, _ := strconv.ParseFloat(m[3], 64)
	rl.pause = time.Duration(ms * float64(time.Millisecond))
	rl.entities, _ = strconv.Atoi(m[4])
	rl.file = m[5]
	return rl
}

// player is a client of the reloadgame with its Player.
type player struct {
	t   *testing.T
	c   *client.Client
	pid int // the game's PID in the welcome
}

func dialPlayer(t *testing.T, addr string) *player {
	t.Helper()
	c, err := client.Dial(addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &player{t: t, c: c}
	p.pid = int(toInt(p.expect("Welcome")[0]))
	if _, ok := c.Player(); !ok {
		t.Fatal("welcomed without a player entity")
	}
	return p
}

// expect returns the arguments of the next call to method on the client,
// skipping other events; a disconnection or a call to Error fails the test.
func (p *player) expect(method string) []any {
	p.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-p.c.Events():
			if !ok {
				p.t.Fatalf("events closed waiting for %s", method)
			}
			switch ev := ev.(type) {
			case client.Call:
				if ev.Method == method {
					return ev.Args
				}
				if ev.Method == "Error" {
					p.t.Fatalf("waiting for %s: Error%v", method, ev.Args)
				}
			case client.Disconnected:
				p.t.Fatalf("disconnected waiting for %s: %s", method, ev.Reason)
			}
		case <-timeout:
			p.t.Fatalf("no %s after 15s", method)
		}
	}
}

func (p *player) call(method string, args ...any) {
	p.t.Helper()
	if err := p.c.CallPlayer(method, args...); err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
}

// echo checks that the game answers a call, and returns the PID that did.
func (p *player) echo(n int) int {
	p.t.Helper()
	p.call("Echo", n)
	args := p.expect("Echoed")
	if got := toInt(args[0]); got != int64(n) {
		p.t.Fatalf("Echoed %d, want %d", got, n)
	}
	return int(toInt(args[1]))
}

func (p *player) note() string {
	p.t.Helper()
	p.call("GetNote")
	return fmt.Sprint(p.expect("Note")[0])
}

// counterState is what the Counter reports.
type counterState struct {
	count          int64
	minGap, maxGap time.Duration
	lastFire       time.Time
	pid            int
}

func (p *player) counter(method string) counterState {
	p.t.Helper()
	p.call(method)
	a := p.expect("Counter")
	return counterState{
		count: toInt(a[0]), minGap: time.Duration(toInt(a[1])) * time.Microsecond,
		maxGap: time.Duration(toInt(a[2])) * time.Microsecond, lastFire: time.Unix(0, toInt(a[3])), pid: int(toInt(a[4])),
	}
}

func toInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case uint64:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case int:
		return int64(v)
	}
	return -1
}

// gameRunning returns the PID holding game1's PID file, failing the test if
// none does.
func gameRunning(t *testing.T, dir string) int {
	t.Helper()
	pid, running, err := proc.Probe(filepath.Join(dir, "run", "game1.pid"))
	if err != nil || !running {
		t.Fatalf("game1 not running: %v", err)
	}
	return pid
}

// echoThroughReload runs a reload while the player echoes a call every
// half millisecond, then checks that every call was answered once, in order, by the
// old process and then the new one, including the calls made while the
// game was frozen.
func echoThroughReload(t *testing.T, p *player, dir string) reloaded {
	t.Helper()
	type echoed struct{ n, pid int }
	answers := make(chan echoed, 100000)
	recvErr := make(chan string, 1)
	stopRecv := make(chan struct{})
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		for {
			select {
			case ev, ok := <-p.c.Events():
				if !ok {
					recvErr <- "events closed"
					return
				}
				switch ev := ev.(type) {
				case client.Call:
					if ev.Method == "Echoed" {
						answers <- echoed{int(toInt(ev.Args[0])), int(toInt(ev.Args[1]))}
					}
				case client.Disconnected:
					recvErr <- "disconnected: " + ev.Reason
					return
				}
			case <-stopRecv:
				return
			}
		}
	}()

	done := make(chan result, 1)
	go func() { done <- ctl(t, "reload", "-no-build", dir) }()
	var sentAt []time.Time
	var r result
	var finished time.Time
	for deadline := time.Now().Add(60 * time.Second); ; {
		if finished.IsZero() {
			select {
			case r = <-done:
				finished = time.Now()
			default:
			}
		} else if time.Since(finished) > 100*time.Millisecond {
			break // some calls after the reload too
		}
		if time.Now().After(deadline) {
			t.Fatal("reload still running after 60s")
		}
		sentAt = append(sentAt, time.Now())
		if err := p.c.CallPlayer("Echo", len(sentAt)-1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Microsecond)
	}
	rl := parseReloaded(t, r)

	var got []echoed
	timeout := time.After(15 * time.Second)
	for len(got) < len(sentAt) {
		select {
		case a := <-answers:
			got = append(got, a)
		case msg := <-recvErr:
			t.Fatalf("client: %s after %d of %d answers", msg, len(got), len(sentAt))
		case <-timeout:
			t.Fatalf("%d of %d calls answered after 15s", len(got), len(sentAt))
		}
	}
	close(stopRecv)
	<-recvDone

	res, err := readFreezeResult(game.ResultPath(filepath.Join(dir, "freeze"), 1))
	if err != nil {
		t.Fatal(err)
	}
	signalAt := time.Unix(0, res.SignalAt)
	frozen := signalAt.Add(time.Duration(res.FreezeMS * float64(time.Millisecond)))
	serving := signalAt.Add(rl.pause)
	duringPause, switched := 0, false
	for i, a := range got {
		if a.n != i {
			t.Fatalf("answer %d is to call %d: calls lost, repeated or reordered", i, a.n)
		}
		switch {
		case a.pid == rl.newPID:
			switched = true
		case a.pid != rl.oldPID || switched:
			t.Fatalf("call %d answered by pid %d after the switch from %d to %d", i, a.pid, rl.oldPID, rl.newPID)
		}
		if sentAt[i].After(frozen) && sentAt[i].Before(serving) {
			duringPause++
			if a.pid != rl.newPID {
				t.Fatalf("call %d, made while the game was frozen, answered by the old pid %d", i, a.pid)
			}
		}
	}
	if !switched || duringPause == 0 {
		t.Fatalf("%d calls, %d made while frozen (pause %v, freeze %.1fms); switched to the new pid: %v",
			len(got), duringPause, rl.pause, res.FreezeMS, switched)
	}
	t.Logf("reload: pid %d->%d, pause %v (freeze %.1fms), %d entities; %d echo calls, %d of them made while frozen",
		rl.oldPID, rl.newPID, rl.pause, res.FreezeMS, rl.entities, len(got), duringPause)
	return rl
}

// reloadGameDir makes a server directory with the reloadgame binary bin
// at bin/rg and config as its config.ini, killed (whatever still runs) at
// the end of the test.
func reloadGameDir(t *testing.T, bin, config string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rg")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "config.ini"), config)
	copyFile(t, bin, filepath.Join(dir, "bin", "rg"), 0o755)
	killAtCleanup(t, dir)
	return dir
}

// TestReload runs the hot-reload paths on one cluster of the reloadgame:
// calls and timers through a reload, a freeze refused by a panicking
// OnFreeze, a bad build rolled back, and a corrupted freeze file.
func TestReload(t *testing.T) {
	good, bad := reloadGameBinaries(t)
	dir := reloadGameDir(t, good, reloadConfig)
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	ps := parseStarted(t, r.stdout)
	p := dialPlayer(t, ps[len(ps)-1].addr)
	if pid := gameRunning(t, dir); p.pid != pid {
		t.Fatalf("welcomed by pid %d, game1 is %d", p.pid, pid)
	}
	p.call("SetNote", "set before the reload")
	p.expect("NoteSet")
	p.call("StartCounter")
	p.expect("CounterStarted")

	t.Run("calls and timers", func(t *testing.T) {
		p.t = t
		time.Sleep(300 * time.Millisecond)
		before := p.counter("ResetCounterGaps")
		rl := echoThroughReload(t, p, dir)
		if rl.oldPID != p.pid || rl.newPID == rl.oldPID || gameRunning(t, dir) != rl.newPID {
			t.Fatalf("reload pid %d->%d; the game was %d and is %d", rl.oldPID, rl.newPID, p.pid, gameRunning(t, dir))
		}
		if rl.entities != 2 {
			t.Errorf("entities=%d, want 2 (the player and its counter)", rl.entities)
		}
		if n := p.note(); n != "set before the reload" {
			t.Errorf("note after the reload: %q", n)
		}
		if e, _ := p.c.Player(); e.Attrs["note"] != "set before the reload" {
			t.Errorf("client's view of note after the reload: %v", e.Attrs["note"])
		}

		after := p.counter("QueryCounter")
		time.Sleep(500 * time.Millisecond)
		later := p.counter("QueryCounter")
		t.Logf("counter: %d before, %d after the reload, %d 500ms later; gaps since before the reload %v..%v",
			before.count, after.count, later.count, later.minGap, later.maxGap)
		if after.pid != rl.newPID || after.count <= before.count {
			t.Fatalf("counter after the reload: %+v; before: %+v", after, before)
		}
		// Across the reload, the timer fired once per period except during
		// the pause, by which its remaining time was shifted.
		const period = 50 * time.Millisecond
		span := after.lastFire.Sub(before.lastFire)
		fires := after.count - before.count
		// (One fire of slack each way, one more below: on a loaded machine
		// the loop may run a fire late; a timer keeps its phase, so the
		// next one then follows sooner.)
		if hi, lo := int64(span/period)+1, int64((span-rl.pause)/period)-2; fires > hi || fires < lo {
			t.Errorf("%d fires in %v across a pause of %v: want %d..%d", fires, span, rl.pause, lo, hi)
		}
		// No burst, no double fire: no two fires close together. No fire
		// skipped: no gap much longer than a period plus the pause.
		if later.minGap < 2*time.Millisecond || later.maxGap > period+rl.pause+60*time.Millisecond {
			t.Errorf("gaps between fires %v..%v, want about %v (and %v plus the pause %v once)",
				later.minGap, later.maxGap, period, period, rl.pause)
		}
		// And it keeps its rate after the reload.
		span, fires = later.lastFire.Sub(after.lastFire), later.count-after.count
		if want := int64((span + period/2) / period); fires < want-1 || fires > want+1 || fires < 6 {
			t.Errorf("%d fires in %v after the reload, want %d", fires, span, want)
		}
	})

	t.Run("freeze refused", func(t *testing.T) {
		p.t = t
		pid := gameRunning(t, dir)
		p.call("ArmFreezePanic")
		p.expect("Armed")
		r := ctl(t, "reload", "-no-build", dir)
		if r.code != 1 || !strings.Contains(r.stderr, "game1 refused to freeze: ") || !strings.Contains(r.stderr, "OnFreeze") ||
			!strings.Contains(r.stderr, "it is still serving") || strings.Contains(r.stdout, "reloaded") {
			t.Fatalf("reload with a panicking OnFreeze: %v", r)
		}
		t.Logf("reload with a panicking OnFreeze: %v", r)
		if now := gameRunning(t, dir); now != pid {
			t.Fatalf("game1 is pid %d after a refused freeze, was %d", now, pid)
		}
		if got := p.echo(1); got != pid {
			t.Fatalf("answered by pid %d, want %d", got, pid)
		}
		if n := p.note(); n != "set before the reload" {
			t.Errorf("note: %q", n)
		}
		p.call("DisarmFreezePanic")
		p.expect("Armed")
		rl := parseReloaded(t, ctl(t, "reload", "-no-build", dir))
		if rl.oldPID != pid || p.echo(2) != rl.newPID {
			t.Fatalf("reload after disarming: %+v", rl)
		}
		t.Logf("reload after a refused freeze: pause %v", rl.pause)
	})

	var lastFile string
	t.Run("bad build rolled back", func(t *testing.T) {
		p.t = t
		pid := gameRunning(t, dir)
		before := p.counter("QueryCounter")
		copyFile(t, bad, filepath.Join(dir, "bin", "rg"), 0o755)
		r := ctl(t, "reload", "-no-build", dir)
		m := rolledLine.FindStringSubmatch(r.stdout)
		if r.code != 1 || m == nil || strings.Contains(r.stdout, "reloaded") {
			t.Fatalf("reload of a bad build: %v", r)
		}
		for _, want := range []string{
			"game1: the new binary failed to restore", "exit status 3",
			"refusing to restore", // the new binary's stderr tail
			"reload failed: the new binary could not restore game1",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q: %v", want, r)
			}
		}
		t.Logf("reload of a bad build: %v", r)
		rolled, _ := strconv.Atoi(m[1])
		if now := gameRunning(t, dir); now != rolled || rolled == pid {
			t.Fatalf("game1 is pid %d; rolled back to %d, was %d", now, rolled, pid)
		}
		if got := p.echo(3); got != rolled {
			t.Fatalf("answered by pid %d, want %d", got, rolled)
		}
		if n := p.note(); n != "set before the reload" {
			t.Errorf("note after the rollback: %q", n)
		}
		// The restored timer keeps its phase: its next fire may be up to a
		// period (50ms) away, and the calls above can be quicker than that.
		// Ask until it has fired (a few periods at most).
		after := p.counter("QueryCounter")
		for deadline := time.Now().Add(10 * time.Second); after.count <= before.count && time.Now().Before(deadline); {
			after = p.counter("QueryCounter")
		}
		if after.pid != rolled || after.count <= before.count {
			t.Errorf("counter after the rollback: %+v, before: %+v", after, before)
		}
		// The game still runs, and still records, the good binary.
		if !bytes.Equal([]byte(readFile(t, filepath.Join(dir, "run", "game1.bin"))), []byte(readFile(t, good))) {
			t.Error("run/game1.bin is not the previous (good) binary after the rollback")
		}
		if _, err := os.Stat(filepath.Join(dir, "run", "game1.bin.next")); !os.IsNotExist(err) {
			t.Errorf("run/game1.bin.next left behind: %v", err)
		}
		res, err := readFreezeResult(game.ResultPath(filepath.Join(dir, "freeze"), 1))
		if err != nil {
			t.Fatal(err)
		}
		lastFile = res.File
	})

	t.Run("corrupted freeze file", func(t *testing.T) {
		if lastFile == "" {
			t.Skip("no freeze file")
		}
		if !filepath.IsAbs(lastFile) {
			lastFile = filepath.Join(dir, lastFile)
		}
		data := []byte(readFile(t, lastFile))
		if len(data) < 100 {
			t.Fatalf("freeze file of %d bytes", len(data))
		}
		data[len(data)/2] ^= 0x40 // in the payload: header 20 bytes, checksum the last 32
		tmp := t.TempDir()
		corrupt := filepath.Join(tmp, "corrupt.freeze")
		if err := os.WriteFile(corrupt, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, good, "-role", "game", "-id", "1", "-config", filepath.Join(dir, "config.ini"),
			"-log", filepath.Join(tmp, "game1.log"), "-restore-from", corrupt)
		cmd.Dir = tmp
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() <= 0 || !strings.Contains(stderr.String(), "checksum mismatch") {
			t.Fatalf("restore from a corrupted file: %v\n%s", err, stderr.String())
		}
		if log := readFile(t, filepath.Join(tmp, "game1.log")); !strings.Contains(log, "checksum mismatch") {
			t.Errorf("log lacks the checksum mismatch:\n%s", log)
		}
	})

	t.Run("OnRestore panics are reported", func(t *testing.T) {
		// A build whose OnRestore panics: the game serves on (rolling
		// back would lose what it did since), but reload says so and
		// exits 1, where it used to report success.
		p.t = t
		p.call("SetRestorePanic", true)
		p.expect("RestorePanic")
		pid := gameRunning(t, dir)
		copyFile(t, good, filepath.Join(dir, "bin", "rg"), 0o755)
		r := ctl(t, "reload", "-no-build", dir)
		t.Logf("reload with a panicking OnRestore: %v", r)
		m := reloadedLine.FindStringSubmatch(r.stdout)
		if r.code != 1 || m == nil || m[1] != strconv.Itoa(pid) {
			t.Fatalf("reload with a panicking OnRestore: want exit 1 after a reloaded line from pid %d", pid)
		}
		newPID, _ := strconv.Atoi(m[2])
		for _, want := range []string{"game1 was reloaded, but OnRestore panicked for 1 of 1 entities",
			filepath.Join(dir, "log", "game1.log"), "the games after it were not reloaded"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q", want)
			}
		}
		if got := p.echo(5); got != newPID {
			t.Fatalf("answered by pid %d, want the reloaded %d", got, newPID)
		}
		if log := readFile(t, filepath.Join(dir, "log", "game1.log")); !strings.Contains(log, "OnRestore panicked for 1 of 1 entities") {
			t.Error("game1.log does not say that OnRestore panicked")
		}
		p.call("SetRestorePanic", false)
		p.expect("RestorePanic")
		copyFile(t, bad, filepath.Join(dir, "bin", "rg"), 0o755) // as the subtests before left it
	})

	// The client saw every reload through without a disconnection.
	p.t = t
	if got := p.echo(4); got != gameRunning(t, dir) {
		t.Fatalf("answered by pid %d", got)
	}

	t.Run("both binaries fail", func(t *testing.T) {
		// The game's recorded binary is bad too (replaced behind
		// goworldctl's back): the game is down, and reload says how to
		// bring it back.
		pid := gameRunning(t, dir)
		prev := filepath.Join(dir, "run", "game1.bin")
		copyFile(t, bad, prev+".tmp", 0o755)
		if err := os.Rename(prev+".tmp", prev); err != nil {
			t.Fatal(err)
		}
		r := ctl(t, "reload", "-no-build", dir)
		t.Logf("reload with both binaries bad: %v", r)
		if r.code != 1 || strings.Contains(r.stdout, "rolled back") {
			t.Fatalf("reload with both binaries bad: %v", r)
		}
		for _, want := range []string{
			"game1: the new binary failed to restore", "goworldctl: game1 is down: ", "and so did the previous binary " + prev,
			"-role game -id 1 ", "-restore-from " + filepath.Join(dir, "freeze", "game1-"),
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q", want)
			}
		}
		if _, running, _ := proc.Probe(filepath.Join(dir, "run", "game1.pid")); running {
			t.Errorf("game1 runs after both binaries failed (was pid %d)", pid)
		}
	})
	if r := ctl(t, "stop", dir); r.code != 0 {
		t.Fatalf("stop: %v", r)
	}
}

// TestReloadPreconditions covers what reload checks before and around the
// freeze, with the fake server: a game copy installed by start, a game
// down, and a binary that does not answer SIGUSR1.
func TestReloadPreconditions(t *testing.T) {
	dir := newServerDir(t, strings.Replace(configINI(1, 1, 1), "boot_entity = Account\n",
		"boot_entity = Account\nfreeze_timeout = 100ms\n", 1))
	if r := ctl(t, "reload", "-no-build", dir); r.code != 1 || !strings.Contains(r.stderr, "goworldctl: game1 is not running\n") {
		t.Errorf("reload of a cluster never started: %v", r)
	}
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	// Every process runs its own copy of the binary: bin/demo is free to
	// be overwritten in place.
	for _, n := range []string{"dispatcher1", "game1", "gate1"} {
		bin := filepath.Join(dir, "run", n+".bin")
		fi, err := os.Stat(bin)
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Fatalf("run/%s.bin: %v, %v", n, fi, err)
		}
		if readFile(t, bin) != readFile(t, filepath.Join(dir, "bin", "demo")) {
			t.Errorf("run/%s.bin differs from bin/demo", n)
		}
	}
	copyFile(t, fakeServer(t), filepath.Join(dir, "bin", "demo"), 0o755) // no "text file busy"

	// The fake server ignores SIGUSR1: no freeze result comes, and the
	// game is left as it is.
	pid := gameRunning(t, dir)
	begin := time.Now()
	r = ctl(t, "reload", "-no-build", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "no freeze result") || !strings.Contains(r.stderr, "left as it is") {
		t.Errorf("reload of a game that ignores SIGUSR1: %v", r)
	}
	if d := time.Since(begin); d > 100*time.Millisecond+freezeMargin+5*time.Second {
		t.Errorf("reload gave up after %v", d)
	}
	if now := gameRunning(t, dir); now != pid {
		t.Errorf("game1 is pid %d, was %d", now, pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "reload.lock")); !os.IsNotExist(err) {
		t.Errorf("run/reload.lock after reload: %v", err)
	}

	// A game down, the others running.
	if _, err := proc.Stop(filepath.Join(dir, "run", "game1.pid"), syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if r := ctl(t, "reload", "-no-build", dir); r.code != 1 || !strings.Contains(r.stderr, "goworldctl: game1 is not running\n") {
		t.Errorf("reload with game1 killed: %v", r)
	}
	if r := ctl(t, "stop", dir); r.code != 0 {
		t.Errorf("stop: %v", r)
	}
}
