//go:build linux || darwin

package main

// Services through real processes: the svcgame (testdata/svcgame) on
// three games started by goworldctl on a real Redis, its Bank (a
// persistent singleton) and Tally (three shards, not persistent) under a
// kill -9 of their game and under a hot reload of every game. The harness
// is in service_harness_test.go.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
)

// tallyKeys returns a shard key for each of Tally's shards.
func tallyKeys(t *testing.T) []string {
	t.Helper()
	keys := make([]string, svcShards["Tally"])
	for i, left := 0, len(keys); left > 0; i++ {
		if i > 1000 {
			t.Fatal("1000 keys miss a shard of Tally")
		}
		k := fmt.Sprintf("key%d", i)
		if s := entity.ServiceShard(k, len(keys)); keys[s] == "" {
			keys[s] = k
			left--
		}
	}
	return keys
}

// gameID returns N of "gameN".
func gameID(name string) int64 {
	n, _ := strconv.Atoi(name[len("game"):])
	return int64(n)
}

// consecutive fails the test unless the answers' values, in seq order,
// run from first up by one.
func consecutive(t *testing.T, what string, as []svcAnswer, first int64) {
	t.Helper()
	for i, a := range as {
		if a.value != first+int64(i) {
			t.Fatalf("%s: answer %d of %d (seq %d) holds the total %d, want %d: each deposit of 1 must be applied once, in order",
				what, i+1, len(as), a.seq, a.value, first+int64(i))
		}
	}
}

// TestServiceGameKilled kills -9 the game that hosts the services' Bank
// (persistent) and one shard of Tally (not persistent) while a client on
// another game deposits into the Bank every 2ms. The Bank comes back on
// a surviving game within seconds, from its last save: the deposits
// answered before the save the test waited for are there; those made
// since (within save_interval, 300ms here) may be lost, and deposits
// then go on from what was saved, each applied once. The Tally shard
// that died comes back afresh (its count starts again at 1), the others
// keep theirs. Deposits during the gap are answered with "no such entity"
// (the dispatcher knows no Bank) or "timeout" (the request reached the
// game as it died), never anything else, and every deposit is answered
// exactly once. Throughout, a watch of every game's /metrics never sees
// more shards of a service than it has, and at the end sees them all;
// goworldctl start -down brings the killed game back, and there is still
// one Bank, which stays where it is.
func TestServiceGameKilled(t *testing.T) {
	sc := startSvcCluster(t, "300ms", "1s")
	watch := sc.watchShards()
	where := sc.awaitShardsWhole()
	victim := bankGame(t, where)
	if where["Tally"][victim] == 0 {
		t.Fatalf("the Bank's game %s hosts no Tally shard: %v (shard k prefers the k-th game)", victim, where)
	}
	cl := sc.dialOn("a game other than "+victim, func(g string) bool { return g != "" && g != victim })

	// 20 deposits, answered and then saved.
	seq := 1
	for i := int64(1); i <= 20; i++ {
		a := cl.ask(seq, "Bank", "", "Deposit", 1)
		seq++
		if a.code != "ok" || a.value != i || a.game != gameID(victim) || a.pid != int64(sc.pid(victim)) {
			t.Fatalf("deposit %d: %+v, want the total %d from %s (pid %d)", i, a, i, victim, sc.pid(victim))
		}
	}
	sc.awaitSavedTotal(20)
	keys := tallyKeys(t)
	tallyOn := map[int64]int64{} // shard -> game
	for s, k := range keys {
		a := cl.ask(seq, "Tally", k, "Hit", 1)
		seq++
		if a.code != "ok" || a.value != 1 || a.shard != int64(s) {
			t.Fatalf("Tally shard %d: %+v, want its first hit", s, a)
		}
		tallyOn[a.shard] = a.game
	}

	f := sc.depositThroughKill(cl, watch, victim, seq)
	seq += len(f.sentAt)
	timeouts := 0 // depositThroughKill checked the errors' codes and times
	for _, a := range f.errs {
		if a.code == "timeout" {
			timeouts++
		}
	}
	consecutive(t, "before the kill", f.before, 21)
	last := 20 + int64(len(f.before)) // the last total answered by the victim
	restored := f.after[0].value - 1  // what the new Bank started from
	// The save awaited holds 20: the new Bank starts from there or from
	// a later save, which holds at most what the victim applied, answered
	// or not (a deposit that timed out may have been applied, and saved).
	if restored < 20 || restored > last+int64(timeouts) {
		t.Fatalf("the Bank came back with the total %d; saved before the kill: 20, answered last by the victim: %d, timed out: %d",
			restored, last, timeouts)
	}
	consecutive(t, "after the kill", f.after, restored+1)
	if !f.oneLoad || f.back.game == gameID(victim) {
		t.Fatalf("deposits after the kill answered by more than one game, or by the victim: %+v", f.after)
	}
	survivor := fmt.Sprintf("game%d", f.back.game)
	if int64(sc.pid(survivor)) != f.back.pid {
		t.Fatalf("the Bank came back on pid %d, which is not %s's %d", f.back.pid, survivor, sc.pid(survivor))
	}
	t.Logf("kill -9 of %s: the Bank answered again from %s %v after the signal; %d deposits failed meanwhile (%d timed out); "+
		"%d of %d answered by %s lost (not saved since)", victim, survivor, f.back.at.Sub(f.killAt).Round(time.Millisecond),
		len(f.errs), timeouts, max(last-restored, 0), len(f.before), victim)

	var survivors []string
	for _, g := range svcGames {
		if g != victim {
			survivors = append(survivors, g)
		}
	}
	where = sc.awaitShardsWhole(survivors...)
	if where["Bank"][survivor] != 1 {
		t.Fatalf("the Bank answers from %s, but /metrics says %v", survivor, where["Bank"])
	}
	// The Tally shard that died starts afresh; the others count on.
	for s, k := range keys {
		a := cl.ask(seq, "Tally", k, "Hit", 1)
		seq++
		want := int64(2)
		if tallyOn[int64(s)] == gameID(victim) {
			want = 1
		}
		if a.code != "ok" || a.value != want || a.game == gameID(victim) {
			t.Fatalf("Tally shard %d after the kill: %+v, want the count %d from a survivor", s, a, want)
		}
	}

	// start -down brings the victim back: it asks for its shards at once
	// (it is their preferred game), and for the others after
	// service_grace, but they live elsewhere: still one of each, where
	// they were.
	newPID := sc.startDown(victim)
	watch.exclude(victim, false)
	cl2 := sc.dialOn("the restarted "+victim, func(g string) bool { return g == victim })
	total := f.after[len(f.after)-1].value
	for start := time.Now(); time.Since(start) < 1500*time.Millisecond; { // three service_grace periods
		for _, c := range []*svcClient{cl, cl2} {
			total++
			a := c.ask(seq, "Bank", "", "Deposit", 1)
			seq++
			if a.code != "ok" || a.value != total || a.game != f.back.game {
				t.Fatalf("a deposit after %s came back (pid %d): %+v, want the total %d from %s", victim, newPID, a, total, survivor)
			}
		}
	}
	if w := sc.awaitShardsWhole(); w["Bank"][survivor] != 1 || w["Tally"][victim] != 0 {
		t.Fatalf("after start -down of %s: %v, want the Bank on %s and no Tally shard back on %s", victim, w, survivor, victim)
	}
	watch.finish(20)
}

// TestServiceThroughHotReload reloads every game (goworldctl reload, one
// at a time) while a client deposits into the Bank every 2ms (from 20
// deposits answered before the reload begins to 100ms after it ends). Every
// deposit is answered exactly once, from the Bank's game (by its old
// process, then its new one), the totals run on without a gap or a
// repeat (the Bank's state is carried), some deposits were sent while
// the Bank's game was paused, and the Tally shards keep their counts
// and their games. The watch of the games' /metrics never sees more
// shards of a service than it has (a game paused for its reload counts
// as unknown).
func TestServiceThroughHotReload(t *testing.T) {
	sc := startSvcCluster(t, "300ms", "10s")
	watch := sc.watchShards()
	where := sc.awaitShardsWhole()
	bank := bankGame(t, where)
	cl := sc.dial()
	seq := 1
	for i := int64(1); i <= 5; i++ {
		if a := cl.ask(seq, "Bank", "", "Deposit", 1); a.code != "ok" || a.value != i || a.game != gameID(bank) {
			t.Fatalf("deposit %d: %+v, want the total %d from %s", i, a, i, bank)
		}
		seq++
	}
	keys := tallyKeys(t)
	tallyOn := map[int]int64{}
	for s, k := range keys {
		a := cl.ask(seq, "Tally", k, "Hit", 1)
		seq++
		if a.code != "ok" || a.value != 1 {
			t.Fatalf("Tally shard %d: %+v", s, a)
		}
		tallyOn[s] = a.game
	}

	oldPID := int64(sc.pid(bank))
	done := make(chan result, 1)
	reloading := false // the reload starts once 20 deposits were answered
	first := seq
	sentAt := map[int64]time.Time{}
	var answers []svcAnswer
	var r result
	var finished time.Time
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(90 * time.Second); finished.IsZero() || time.Since(finished) < 100*time.Millisecond; seq++ {
		if !reloading && len(answers) >= 20 {
			reloading = true
			go func() { done <- ctlTB(t, "reload", "-no-build", sc.dir) }()
		}
		if reloading && finished.IsZero() {
			select {
			case r = <-done:
				finished = time.Now()
			default:
			}
		}
		if time.Now().After(deadline) || len(sentAt) >= 40000 {
			t.Fatalf("reload still running after %d deposits", len(sentAt))
		}
		sentAt[int64(seq)] = time.Now()
		cl.send(seq, "Bank", "", "Deposit", 1)
	drain:
		for {
			select {
			case a := <-cl.answers:
				answers = append(answers, a)
			case why := <-cl.lost:
				t.Fatalf("the client was disconnected during the reload: %s", why)
			case <-tick.C:
				break drain
			}
		}
	}
	for len(answers) < len(sentAt) {
		answers = append(answers, cl.next(fmt.Sprintf("deposit answers after the reload (%d of %d)", len(answers), len(sentAt))))
	}
	ms := reloadedGameLine.FindAllStringSubmatch(r.stdout, -1)
	if r.code != 0 || len(ms) != 3 {
		t.Fatalf("reload: %v", r)
	}
	var pause time.Duration
	for _, m := range ms {
		n, _ := strconv.Atoi(m[3])
		sc.setPID(m[1], n)
		if m[1] == bank {
			p, _ := strconv.ParseFloat(m[4], 64)
			pause = time.Duration(p * float64(time.Millisecond))
		}
	}
	newPID := int64(sc.pid(bank))
	res, err := readFreezeResult(game.ResultPath(filepath.Join(sc.dir, "freeze"), int(gameID(bank))))
	if err != nil {
		t.Fatal(err)
	}
	signal := time.Unix(0, res.SignalAt)
	frozen := signal.Add(time.Duration(res.FreezeMS * float64(time.Millisecond)))
	serving := signal.Add(pause)

	slices.SortFunc(answers, func(a, b svcAnswer) int { return int(a.seq - b.seq) })
	byOld, byNew, whilePaused := 0, 0, 0
	for i, a := range answers {
		if a.code != "ok" || a.seq != int64(first+i) {
			t.Fatalf("deposit %d of %d: %+v; want each answered once, with a total", i+1, len(answers), a)
		}
		if a.value != int64(6+i) || a.game != gameID(bank) {
			t.Fatalf("deposit %d answered the total %d from game%d, want %d from %s: the Bank's total must run on through the reloads",
				a.seq, a.value, a.game, 6+i, bank)
		}
		switch a.pid {
		case oldPID:
			byOld++
		case newPID:
			byNew++
		default:
			t.Fatalf("deposit %d answered by pid %d, neither %s's old %d nor its new %d", a.seq, a.pid, bank, oldPID, newPID)
		}
		if at := sentAt[a.seq]; at.After(frozen) && at.Before(serving) {
			whilePaused++
		}
	}
	if byOld == 0 || byNew == 0 || whilePaused == 0 {
		t.Fatalf("%d deposits: %d answered by the old process, %d by the new, %d sent while %s was paused (%v to %v); want some of each",
			len(answers), byOld, byNew, whilePaused, bank, frozen.Format("15:04:05.000"), serving.Format("15:04:05.000"))
	}
	for s, k := range keys {
		if a := cl.ask(seq, "Tally", k, "Hit", 1); a.code != "ok" || a.value != 2 || a.game != tallyOn[s] || int64(sc.pid(fmt.Sprintf("game%d", a.game))) != a.pid {
			t.Fatalf("Tally shard %d after the reload: %+v, want its second hit on game%d's new process", s, a, tallyOn[s])
		}
		seq++
	}
	if w := sc.awaitShardsWhole(); fmt.Sprint(w) != fmt.Sprint(where) {
		t.Fatalf("shards after the reload: %v, before: %v; a reload must leave them where they are", w, where)
	}
	watch.finish(20)
	t.Logf("reload of 3 games: %d deposits answered once each (%d by %s's old process, %d by its new), %d sent while it was paused (%v)",
		len(answers), byOld, bank, byNew, whilePaused, pause)
}
