package procstat

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestOwnProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	pid := os.Getpid()
	before, err := CPUTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	self0 := SelfCPU()
	// Burn 50 ms of CPU (5 ticks), however long a busy machine takes to
	// give it; the loop is bounded by time.
	x := 0
	for deadline := time.Now().Add(10 * time.Second); SelfCPU()-self0 < 50*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("SelfCPU grew by only %v in 10 s of busy loop", SelfCPU()-self0)
		}
		for i := range 100000 {
			x += i
		}
	}
	_ = x
	after, err := CPUTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel counts ticks where they land, so allow some rounding.
	if after < before+3 {
		t.Fatalf("CPUTicks went from %d to %d over 50 ms of CPU", before, after)
	}
	kb, err := RSSKB(pid)
	if err != nil || kb < 100 {
		t.Fatalf("RSSKB = %d, %v", kb, err)
	}
	if RunqWait(pid) < 0 {
		t.Fatal("negative RunqWait")
	}
	r0, w0, err := Syscalls(pid)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(t.TempDir() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 10 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatal(err)
	}
	r1, w1, err := Syscalls(pid)
	if err != nil || w1 < w0+10 || r1 < r0+1 {
		t.Fatalf("Syscalls went from %d reads, %d writes to %d, %d (%v) over 10 writes and a read", r0, w0, r1, w1, err)
	}
}

func TestMissingProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	// PIDs are at most 2^22 on Linux, so this one never exists.
	if _, err := CPUTicks(1 << 30); err == nil {
		t.Fatal("CPUTicks of a missing process: no error")
	}
	if _, err := RSSKB(1 << 30); err == nil {
		t.Fatal("RSSKB of a missing process: no error")
	}
	if _, _, err := Syscalls(1 << 30); err == nil {
		t.Fatal("Syscalls of a missing process: no error")
	}
	if d := RunqWait(1 << 30); d != 0 {
		t.Fatalf("RunqWait of a missing process = %v", d)
	}
}
