//go:build linux || darwin

package proc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSignalReachesTheHolder(t *testing.T) {
	dir := t.TempDir()
	paths := PathsFor(dir, "helper1")
	s, err := startHelper(t, context.Background(), dir, "usr1", 0)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := Signal(paths.PIDFile, syscall.SIGUSR1)
	if err != nil || pid != s.PID {
		t.Fatalf("Signal = %d, %v; want %d, nil", pid, err, s.PID)
	}
	if !WaitReleased(paths.PIDFile, pid, 10*time.Second) {
		t.Fatalf("pid %d still holds %s after SIGUSR1", pid, paths.PIDFile)
	}
	<-s.Done()
	if code := s.ExitState().ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0 (%v)", code, s.ExitState())
	}
	if log, _ := os.ReadFile(paths.LogFile); !strings.Contains(string(log), "got user defined signal 1") {
		t.Errorf("log does not show SIGUSR1:\n%s", log)
	}

	// Gone now: nothing is signalled.
	if pid, err := Signal(paths.PIDFile, syscall.SIGUSR1); !errors.Is(err, ErrNotRunning) || pid != 0 {
		t.Errorf("Signal after exit = %d, %v; want 0 and ErrNotRunning", pid, err)
	}
}

func TestSignalNeverSignalsUnlockedPID(t *testing.T) {
	// A live process whose PID sits in a file it does not lock. Were it
	// signalled, SIGTERM would end it.
	cmd := helperCmd(t, "never")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	for _, path := range []string{
		filepath.Join(t.TempDir(), "missing.pid"),
		filepath.Join(t.TempDir(), "stale.pid"),
	} {
		if strings.HasSuffix(path, "stale.pid") {
			if err := os.WriteFile(path, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pid, err := Signal(path, syscall.SIGTERM)
		if !errors.Is(err, ErrNotRunning) || pid != 0 {
			t.Errorf("Signal(%s) = %d, %v; want 0 and ErrNotRunning", filepath.Base(path), pid, err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the process named by the unlocked file was signalled: %v", err)
	}
}

func TestSignalRefusesInitAndItself(t *testing.T) {
	// A file locked by this process: Signal must refuse to signal us.
	own := filepath.Join(t.TempDir(), "own.pid")
	p, err := AcquirePIDFile(own)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if _, err := Signal(own, syscall.Signal(0)); err == nil || !strings.Contains(err.Error(), "this process") {
		t.Errorf("Signal of a file held by this process: %v; want a refusal", err)
	}

	// A locked file naming PID 1.
	initFile := filepath.Join(t.TempDir(), "init.pid")
	f, err := os.OpenFile(initFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("1\n"); err != nil {
		t.Fatal(err)
	}
	if pid, err := Signal(initFile, syscall.Signal(0)); err == nil || !strings.Contains(err.Error(), "refusing to signal pid 1") {
		t.Errorf("Signal of a file naming pid 1 = %d, %v; want a refusal", pid, err)
	}
}

func TestWaitReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "game1.pid")
	cmd, release := startHolder(t, path)
	pid := cmd.Process.Pid

	begin := time.Now()
	const wait = 100 * time.Millisecond
	if WaitReleased(path, pid, wait) {
		t.Fatal("WaitReleased reported a holder that still runs as gone")
	}
	if d := time.Since(begin); d < wait || d > wait+2*time.Second {
		t.Errorf("WaitReleased gave up after %v, want about %v", d, wait)
	}
	// Another process holding the file is not pid.
	if !WaitReleased(path, pid+1, time.Second) {
		t.Error("WaitReleased for a pid that does not hold the file did not return true at once")
	}

	done := make(chan bool, 1)
	go func() { done <- WaitReleased(path, pid, 10*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	release.Close()
	released := time.Now()
	if !<-done {
		t.Fatal("WaitReleased did not see the holder exit")
	}
	// Polling is fine-grained while the wait is young.
	if d := time.Since(released); d > time.Second {
		t.Errorf("WaitReleased noticed the release after %v", d)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	if !WaitReleased(filepath.Join(t.TempDir(), "missing.pid"), pid, time.Second) {
		t.Error("WaitReleased of a missing file")
	}
}
