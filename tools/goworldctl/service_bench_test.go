//go:build linux || darwin

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

// BenchmarkServiceFailover measures, through real processes (the svcgame
// on three games started by goworldctl, on a real redis-server), the
// time from the SIGKILL of the game that hosts the persistent Bank
// service to the Bank's first answer from another game, as a client on
// a third game sees it while it deposits every 2ms (so the figure is
// within 2ms of the truth, and counts the client's own hops). Each
// iteration kills the Bank's game, measures, and brings the game back
// with goworldctl start -down; the next iteration kills wherever the
// Bank is then. It reports the p50 and the largest of the iterations
// (p50-ms, max-ms; ns/op is the mean), and the p50 of when the
// dispatcher logged the game gone (noticed-p50-ms, from its log line's
// timestamp, which has a millisecond's precision). Run it with -benchtime Nx, N the
// number of kills, e.g.
//
//	go test ./tools/goworldctl/ -run '^$' -bench BenchmarkServiceFailover -benchtime 10x
//
// The figures are in docs/perf/2026-12-07-service-failover.md.
func BenchmarkServiceFailover(b *testing.B) {
	sc := startSvcCluster(b, "1s", "1s")
	watch := sc.watchShards()
	var took, noticed []time.Duration
	seq := 1
	for range b.N {
		victim := bankGame(b, sc.awaitShardsWhole())
		cl := sc.dialOn("a game other than "+victim, func(g string) bool { return g != "" && g != victim })
		f := sc.depositThroughKill(cl, watch, victim, seq)
		seq += len(f.sentAt)
		d := f.back.at.Sub(f.killAt)
		took = append(took, d)
		n := sc.dispatcherNoticed(victim).Sub(f.killAt)
		noticed = append(noticed, n)
		b.Logf("kill -9 of %s: the dispatcher logged it gone after %v, the Bank answered from game%d after %v (%d deposits failed meanwhile)",
			victim, n, f.back.game, d.Round(100*time.Microsecond), len(f.errs))
		sc.startDown(victim)
		watch.exclude(victim, false)
	}
	watch.finish(1)
	slices.Sort(took)
	slices.Sort(noticed)
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(took)), "ns/op")
	b.ReportMetric(ms(took[(len(took)-1)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.ReportMetric(ms(noticed[(len(noticed)-1)/2]), "noticed-p50-ms")
	b.Logf("%d kills: %s", len(took), fmt.Sprint(took))
}

// dispatcherNoticed returns the time of dispatcher1's last "peer
// disconnected" line for game, which it logs once it has forgotten the
// game's entities and told the other games (MsgPeerGone).
func (sc *svcCluster) dispatcherNoticed(game string) time.Time {
	sc.tb.Helper()
	data, err := os.ReadFile(filepath.Join(sc.dir, "log", "dispatcher1.log"))
	if err != nil {
		sc.tb.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^time="([^"]+)" level=info msg="peer disconnected" .*\bpeer=` + game + `\b`)
	ms := line.FindAllSubmatch(data, -1)
	if len(ms) == 0 {
		sc.tb.Fatalf("dispatcher1.log has no line of %s disconnected", game)
	}
	at, err := time.Parse("2006-01-02T15:04:05.000Z07:00", string(ms[len(ms)-1][1]))
	if err != nil {
		sc.tb.Fatal(err)
	}
	return at
}
