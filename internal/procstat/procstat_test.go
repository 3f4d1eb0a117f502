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
	// Burn at least 30 ms of CPU (3 ticks); the loop is bounded by time.
	x := 0
	for start := time.Now(); time.Since(start) < 60*time.Millisecond; {
		for i := range 100000 {
			x += i
		}
	}
	_ = x
	after, err := CPUTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after < before+2 {
		t.Fatalf("CPUTicks went from %d to %d over 60 ms of busy loop", before, after)
	}
	if d := SelfCPU() - self0; d < 30*time.Millisecond {
		t.Fatalf("SelfCPU grew by %v over 60 ms of busy loop", d)
	}
	kb, err := RSSKB(pid)
	if err != nil || kb < 100 {
		t.Fatalf("RSSKB = %d, %v", kb, err)
	}
	if RunqWait(pid) < 0 {
		t.Fatal("negative RunqWait")
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
	if d := RunqWait(1 << 30); d != 0 {
		t.Fatalf("RunqWait of a missing process = %v", d)
	}
}
