//go:build linux || darwin

package proc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAcquirePIDFileTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "sub", "game1.pid") // directories are created
	p, err := AcquirePIDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), strconv.Itoa(os.Getpid())+"\n"; got != want {
		t.Errorf("pid file holds %q, want %q", got, want)
	}

	// A second open file description conflicts even in the same process.
	p2, err := AcquirePIDFile(path)
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second AcquirePIDFile: got %v, %v; want ErrAlreadyRunning", p2, err)
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the holder's pid", err)
	}

	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Release, stat: %v; want not exist", err)
	}
	if err := p.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	p3, err := AcquirePIDFile(path)
	if err != nil {
		t.Fatalf("AcquirePIDFile after Release: %v", err)
	}
	if err := p3.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestAcquirePIDFileHeldByOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate1.pid")
	cmd, release := startHolder(t, path)
	_, err := AcquirePIDFile(path)
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("AcquirePIDFile while held by pid %d: %v", cmd.Process.Pid, err)
	}
	release.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	p, err := AcquirePIDFile(path)
	if err != nil {
		t.Fatalf("AcquirePIDFile after the holder exited: %v", err)
	}
	p.Release()
}

func TestProbeMissing(t *testing.T) {
	pid, running, err := Probe(filepath.Join(t.TempDir(), "nope.pid"))
	if pid != 0 || running || err != nil {
		t.Errorf("Probe(missing) = %d, %v, %v; want 0, false, nil", pid, running, err)
	}
}

func TestProbeUnlockedFile(t *testing.T) {
	// A stale file names a PID that is alive (ours, or init), but nobody
	// holds the lock: not running.
	for _, content := range []string{strconv.Itoa(os.Getpid()) + "\n", "1\n", "", "garbage"} {
		path := filepath.Join(t.TempDir(), "stale.pid")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		pid, running, err := Probe(path)
		if pid != 0 || running || err != nil {
			t.Errorf("Probe(unlocked %q) = %d, %v, %v; want 0, false, nil", content, pid, running, err)
		}
		// Probe must not leave a lock behind.
		p, err := AcquirePIDFile(path)
		if err != nil {
			t.Fatalf("AcquirePIDFile after Probe: %v", err)
		}
		p.Release()
	}
}

func TestProbeLockedByChild(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dispatcher1.pid")
	cmd, release := startHolder(t, path)
	for range 3 { // repeated probes do not disturb the holder
		pid, running, err := Probe(path)
		if err != nil || !running || pid != cmd.Process.Pid {
			t.Fatalf("Probe(locked) = %d, %v, %v; want %d, true, nil", pid, running, err, cmd.Process.Pid)
		}
	}
	release.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	pid, running, err := Probe(path)
	if pid != 0 || running || err != nil {
		t.Errorf("Probe after release = %d, %v, %v; want 0, false, nil", pid, running, err)
	}
}

func TestProbeAfterHolderKilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "game1.pid")
	cmd, release := startHolder(t, path)
	defer release.Close()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	data, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("killed holder should leave its file with its pid: %q, %v", data, err)
	}
	pid, running, err := Probe(path)
	if pid != 0 || running || err != nil {
		t.Errorf("Probe(stale file of a killed process) = %d, %v, %v; want 0, false, nil", pid, running, err)
	}
}

func TestSignalReady(t *testing.T) {
	t.Setenv(ReadyFDEnv, "")
	os.Unsetenv(ReadyFDEnv)
	if err := SignalReady(ReadyInfo{Name: "gate1"}); err != nil {
		t.Fatalf("SignalReady without %s: %v", ReadyFDEnv, err)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// SignalReady closes the descriptor it is given: hand it a duplicate.
	fd, err := syscall.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Setenv(ReadyFDEnv, strconv.Itoa(fd))
	want := ReadyInfo{Name: "gate1", Role: "gate", ID: 1, Addr: "127.0.0.1:14001"}
	if err := SignalReady(want); err != nil {
		t.Fatal(err)
	}
	if _, ok := os.LookupEnv(ReadyFDEnv); ok {
		t.Errorf("SignalReady left %s set", ReadyFDEnv)
	}
	want.PID = os.Getpid()
	got, err := ReadReady(r)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("ReadReady = %+v, want %+v", got, want)
	}

	// A descriptor that is not a pipe is refused and left open.
	f, err := os.Create(filepath.Join(t.TempDir(), "not-a-pipe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv(ReadyFDEnv, strconv.Itoa(int(f.Fd())))
	if err := SignalReady(want); err == nil || !strings.Contains(err.Error(), "not a pipe") {
		t.Errorf("SignalReady to a regular file: %v", err)
	}
	if _, err := f.WriteString("still open"); err != nil {
		t.Errorf("SignalReady closed a descriptor that is not its pipe: %v", err)
	}

	for _, bad := range []string{"x", "-1", "1", "999"} {
		t.Setenv(ReadyFDEnv, bad)
		if err := SignalReady(want); err == nil {
			t.Errorf("SignalReady with %s=%q: no error", ReadyFDEnv, bad)
		}
	}
}

func TestReadReady(t *testing.T) {
	good := `READY {"name":"gate1","role":"gate","id":1,"pid":1234,"addr":"127.0.0.1:14001"}` + "\n"
	info, err := ReadReady(strings.NewReader(good))
	want := ReadyInfo{Name: "gate1", Role: "gate", ID: 1, PID: 1234, Addr: "127.0.0.1:14001"}
	if err != nil || info != want {
		t.Errorf("ReadReady(good) = %+v, %v", info, err)
	}
	line, err := formatReady(want)
	if err != nil || string(line) != good {
		t.Errorf("formatReady = %q, %v; want %q", line, err, good)
	}
	for _, bad := range []string{
		"",
		`READY {"name":"gate1","role":"gate","id":1,"pid":1234}`, // no newline
		"hello\n",
		"READY {\n",
		`READY {"role":"gate","pid":1}` + "\n",
		`READY {"name":"gate1","pid":1}` + "\n",
		`READY {"name":"gate1","role":"gate"}` + "\n",
	} {
		if info, err := ReadReady(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadReady(%q) = %+v, want an error", bad, info)
		}
	}
}

// startHelper starts the test binary in helper mode as server process name
// in dir with Start.
func startHelper(t *testing.T, ctx context.Context, dir, mode string, timeout time.Duration) (*Started, error) {
	t.Helper()
	paths := PathsFor(dir, "helper1")
	return Start(ctx, StartSpec{
		Binary:  testBinary(t),
		Args:    []string{"-pidfile", paths.PIDFile, "-log", paths.LogFile, "-name", "helper1"},
		Dir:     dir,
		Name:    "helper1",
		Env:     []string{helperEnv + "=" + mode, noExitSleep},
		Timeout: timeout,
	})
}

func TestStartAndStop(t *testing.T) {
	dir := t.TempDir()
	paths := PathsFor(dir, "helper1")
	s, err := startHelper(t, context.Background(), dir, "ready", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Ready.Name != "helper1" || s.Ready.Role != "gate" || s.Ready.ID != 1 || s.Ready.PID != s.PID || !strings.HasPrefix(s.Ready.Addr, "127.0.0.1:") {
		t.Errorf("Ready = %+v (pid %d)", s.Ready, s.PID)
	}
	if s.ExitState() != nil {
		t.Errorf("ExitState of a running process = %v", s.ExitState())
	}
	pid, running, err := Probe(paths.PIDFile)
	if err != nil || !running || pid != s.PID {
		t.Errorf("Probe = %d, %v, %v; want %d, true, nil", pid, running, err, s.PID)
	}

	res, err := Stop(paths.PIDFile, syscall.SIGTERM, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := (StopResult{PID: s.PID, WasRunning: true}); res != want {
		t.Errorf("Stop = %+v, want %+v", res, want)
	}
	<-s.Done()
	if code := s.ExitState().ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0 (%v)", code, s.ExitState())
	}
	log, _ := os.ReadFile(paths.LogFile)
	if !strings.Contains(string(log), "stopping on terminated") {
		t.Errorf("log does not show a graceful stop:\n%s", log)
	}
	if _, err := os.Stat(paths.PIDFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after graceful stop: %v", err)
	}

	// Stopping again: nothing to do.
	res, err = Stop(paths.PIDFile, syscall.SIGTERM, time.Second)
	if err != nil || res != (StopResult{}) {
		t.Errorf("Stop of a stopped process = %+v, %v", res, err)
	}
}

func TestStartExitWithLogTail(t *testing.T) {
	dir := t.TempDir()
	paths := PathsFor(dir, "helper1")
	// Output of an earlier run is not part of this start's tail.
	os.MkdirAll(filepath.Dir(paths.StderrFile), 0o755)
	os.WriteFile(paths.StderrFile, []byte("old stderr junk\n"), 0o644)

	s, err := startHelper(t, context.Background(), dir, "fail", 0)
	if err == nil {
		t.Fatalf("Start of a failing process succeeded: %+v", s)
	}
	var se *StartError
	if !errors.As(err, &se) || !errors.Is(err, ErrExitedEarly) {
		t.Fatalf("Start error = %v; want a *StartError wrapping ErrExitedEarly", err)
	}
	if len(se.LogTail) != 20 || se.LogTail[0] != "log line 06" || se.LogTail[19] != "log line 25" {
		t.Errorf("LogTail = %q; want log lines 06..25", se.LogTail)
	}
	if !reflect.DeepEqual(se.StderrTail, []string{"boom on stderr"}) {
		t.Errorf("StderrTail = %q", se.StderrTail)
	}
	msg := err.Error()
	for _, want := range []string{"helper1", "exit status 1", "log line 25", "boom on stderr", paths.LogFile} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "log line 05") || strings.Contains(msg, "old stderr junk") {
		t.Errorf("error message has more than this start's last 20 lines:\n%s", msg)
	}
}

func TestStartTimeout(t *testing.T) {
	dir := t.TempDir()
	begin := time.Now()
	const timeout = 300 * time.Millisecond
	_, err := startHelper(t, context.Background(), dir, "never", timeout)
	if !errors.Is(err, ErrReadyTimeout) {
		t.Fatalf("Start of a process that never signals: %v; want ErrReadyTimeout", err)
	}
	if d := time.Since(begin); d < timeout {
		t.Errorf("Start gave up after %v, before the %v timeout", d, timeout)
	}
	var se *StartError
	if errors.As(err, &se) && se.PID > 0 {
		if err := syscall.Kill(se.PID, 0); err != syscall.ESRCH {
			t.Errorf("timed-out process %d still exists: kill(0) = %v", se.PID, err)
		}
	}
}

func TestStartBadReady(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		timeout time.Duration
		atOnce  bool
	}{
		// Refused at once, long before the timeout.
		{"wrong-name", time.Minute, true},
		{"garbage", time.Minute, true},
		// A process that closes the pipe but keeps running is given until
		// the timeout to exit by itself. The timeout also covers the
		// helper's start until it closes the pipe (else the error is
		// ErrReadyTimeout): 300 ms was too short for a race-enabled
		// binary on a loaded machine.
		{"close-pipe", 3 * time.Second, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			begin := time.Now()
			_, err := startHelper(t, context.Background(), t.TempDir(), tc.mode, tc.timeout)
			if !errors.Is(err, ErrBadReady) {
				t.Errorf("Start: %v; want ErrBadReady", err)
			}
			if d := time.Since(begin); tc.atOnce && d >= tc.timeout {
				t.Errorf("Start took %v, the whole timeout", d)
			}
		})
	}
}

func TestStartCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := startHelper(t, ctx, t.TempDir(), "never", 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a canceled context: %v", err)
	}
}

func TestStartMissingBinary(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(context.Background(), StartSpec{Binary: filepath.Join(dir, "nope"), Dir: dir, Name: "x"})
	if err == nil {
		t.Fatal("Start of a missing binary succeeded")
	}
}

func TestStopKillFallback(t *testing.T) {
	dir := t.TempDir()
	paths := PathsFor(dir, "helper1")
	s, err := startHelper(t, context.Background(), dir, "ignore-term", 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Stop(paths.PIDFile, syscall.SIGTERM, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if want := (StopResult{PID: s.PID, WasRunning: true, Killed: true}); res != want {
		t.Errorf("Stop = %+v, want %+v", res, want)
	}
	<-s.Done()
	if ws, ok := s.ExitState().Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("exit state %v; want killed by SIGKILL", s.ExitState())
	}
	// The killed process left its file behind; it is not "running".
	if _, running, err := Probe(paths.PIDFile); running || err != nil {
		t.Errorf("Probe after SIGKILL: running=%v, %v", running, err)
	}
}

// TestStopWaitsForTheExit: a process that releases its PID file and then
// takes a while to exit is gone when Stop returns.
func TestStopWaitsForTheExit(t *testing.T) {
	dir := t.TempDir()
	paths := PathsFor(dir, "helper1")
	s, err := startHelper(t, context.Background(), dir, "linger", 0)
	if err != nil {
		t.Fatal(err)
	}
	born := startTime(s.PID)
	res, err := Stop(paths.PIDFile, syscall.SIGTERM, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := (StopResult{PID: s.PID, WasRunning: true}); res != want {
		t.Errorf("Stop = %+v, want %+v", res, want)
	}
	if !exited(s.PID, born) {
		t.Errorf("pid %d still runs after Stop returned", s.PID)
	}
	<-s.Done()
	if st := s.ExitState(); !st.Success() {
		t.Errorf("exit state %v; want a clean exit", st)
	}
}

func TestStopNeverSignalsUnlockedPID(t *testing.T) {
	// A live process whose PID sits in a file it does not lock.
	cmd := helperCmd(t, "never")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	path := filepath.Join(t.TempDir(), "stale.pid")
	if err := os.WriteFile(path, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Stop(path, syscall.SIGKILL, time.Second)
	if err != nil || res != (StopResult{}) {
		t.Errorf("Stop(unlocked file) = %+v, %v; want nothing done", res, err)
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the process named by the unlocked file was signalled: %v", err)
	}
}

func TestSignalPIDRefusals(t *testing.T) {
	for _, pid := range []int{-1, 0, 1, os.Getpid()} {
		if err := signalPID(pid, syscall.Signal(0)); err == nil {
			t.Errorf("signalPID(%d) did not refuse", pid)
		}
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	if got := tail(path, 0, 5); got != nil {
		t.Errorf("tail(missing) = %q", got)
	}
	os.WriteFile(path, []byte("a\nb\nc\n"), 0o644)
	if got := tail(path, 2, 5); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Errorf("tail from 2 = %q", got)
	}
	if got := tail(path, 0, 2); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Errorf("tail 2 lines = %q", got)
	}
	if got := tail(path, 100, 5); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("tail of a truncated file = %q", got)
	}
	big := strings.Repeat("x", maxTailBytes) + "\nlast\n"
	os.WriteFile(path, []byte(big), 0o644)
	if got := tail(path, 0, 5); !reflect.DeepEqual(got, []string{"last"}) {
		t.Errorf("tail of a big file = %q", got)
	}
}
