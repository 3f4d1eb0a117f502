package rpc

import (
	"os"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// allocBytes returns the bytes allocated (process-wide) while f runs,
// divided by runs. Tests using it must not run in parallel with others.
func allocBytes(runs int, f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// skipKnownBug skips a test that demonstrates one of the bugs described
// with the test, unless RPC_TEST_BUGS is set: after the fixes are applied,
// RPC_TEST_BUGS=1 go test -race ./rpc/ must pass.
func skipKnownBug(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("RPC_TEST_BUGS") == "" {
		t.Skip("bug: " + msg + " (set RPC_TEST_BUGS=1 to run)")
	}
}
