package demo

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kcp-go (imported through goworld) runs process-wide scheduler
		// goroutines from its init, which it never stops.
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// The walkers' environment: defaults leave the demo as it was, values in
// range are taken, and a bad or out-of-range value is an error that names
// the variable (quoted and cut short) and keeps the default.
func TestReadSettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	s := readSettings(env(nil))
	if s.walkers != 0 || s.worldSize != WorldSize || s.walkFor != 0 || s.walkEvery != 100*time.Millisecond || len(s.errs) != 0 {
		t.Fatalf("defaults: %+v", s)
	}
	s = readSettings(env(map[string]string{
		envWalkers: "99000", envWorldSize: "31623", envWalkFor: "45s", envWalkEvery: "1s",
	}))
	if s.walkers != 99000 || s.worldSize != 31623 || s.walkFor != 45*time.Second || s.walkEvery != time.Second || len(s.errs) != 0 {
		t.Fatalf("set: %+v", s)
	}
	long := strings.Repeat("9", 10_000)
	for _, c := range []struct{ key, val string }{
		{envWalkers, "-1"}, {envWalkers, "1000001"}, {envWalkers, "many"}, {envWalkers, long},
		{envWorldSize, "99"}, {envWorldSize, "1000001"}, {envWorldSize, "1e3"},
		{envWalkFor, "-1s"}, {envWalkFor, "25h"}, {envWalkFor, "soon"},
		{envWalkEvery, "9ms"}, {envWalkEvery, "2m"}, {envWalkEvery, "0"},
	} {
		s, def := readSettings(env(map[string]string{c.key: c.val})), readSettings(env(nil))
		if len(s.errs) != 1 {
			t.Errorf("%s=%.20s: %d errors, want one", c.key, c.val, len(s.errs))
			continue
		}
		if msg := s.errs[0].Error(); !strings.Contains(msg, c.key) || len(msg) > 200 {
			t.Errorf("%s=%.20s: error %q should name the variable and stay short", c.key, c.val, msg)
		}
		if s.walkers != def.walkers || s.worldSize != def.worldSize || s.walkFor != def.walkFor || s.walkEvery != def.walkEvery {
			t.Errorf("%s=%.20s: %+v, want the defaults", c.key, c.val, s)
		}
	}
}
