package demo

import (
	"math/rand/v2"
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

// Walkers are created region by region: every spot in the square, rows
// AOIRadius deep in order, each row's spots by x, left to right and right
// to left in turn.
func TestSpawnSpotsGoRegionByRegion(t *testing.T) {
	const n, size = 5000, 1000
	spots := spawnSpots(n, size, rand.New(rand.NewPCG(1, 2)))
	if len(spots) != n {
		t.Fatalf("%d spots, want %d", len(spots), n)
	}
	rows := map[int]bool{}
	for i, p := range spots {
		if p.X < 0 || p.X >= size || p.Z < 0 || p.Z >= size {
			t.Fatalf("spot %d %v is outside the %v square", i, p, size)
		}
		rows[int(p.Z/AOIRadius)] = true
		if i == 0 {
			continue
		}
		q := spots[i-1]
		ra, rb := int(q.Z/AOIRadius), int(p.Z/AOIRadius)
		switch {
		case rb < ra:
			t.Fatalf("spot %d %v is in a row before spot %d's %v", i, p, i-1, q)
		case rb == ra && rb%2 == 0 && p.X < q.X, rb == ra && rb%2 == 1 && p.X > q.X:
			t.Fatalf("spots %d %v and %d %v are out of order within row %d", i-1, q, i, p, rb)
		}
	}
	if len(rows) != size/AOIRadius {
		t.Fatalf("%d rows, want %d", len(rows), size/AOIRadius)
	}
}
