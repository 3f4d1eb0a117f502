//go:build linux || darwin

package main

import (
	"fmt"
	"os"
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
)

// manyRealGamesConfig is three games of the reloadgame behind one
// dispatcher and one gate; the reloadgame keeps nothing, so storage is
// none, which any number of games may share.
const manyRealGamesConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Player
freeze_timeout = 5s
[game1]
[game2]
[game3]
[gate1]
listen_addr = 127.0.0.1:0
kcp = false
[storage]
type = none
`

var reloadedGameLine = regexp.MustCompile(`(?m)^reloaded (game\d) pid=(\d+)->(\d+) pause=(\d+\.\d)ms `)

// answer is one Echoed call as a client received it.
type answer struct {
	n, pid int
	at     time.Time
}

// collect sends p's Echoed answers on the channel it returns until stop
// is closed; a disconnection ends it with a message on errc. wg is done
// when it has returned.
func collect(p *player, stop <-chan struct{}, errc chan<- string, wg *sync.WaitGroup) <-chan answer {
	out := make(chan answer, 1<<17)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case ev, ok := <-p.c.Events():
				if !ok {
					errc <- "events closed"
					return
				}
				switch ev := ev.(type) {
				case client.Call:
					if ev.Method == "Echoed" {
						out <- answer{int(toInt(ev.Args[0])), int(toInt(ev.Args[1])), time.Now()}
					}
				case client.Disconnected:
					errc <- "disconnected: " + ev.Reason
					return
				}
			case <-stop:
				return
			}
		}
	}()
	return out
}

// TestManyRealGames runs three real games under goworldctl: clients spread
// over them; reload replaces them one at a time while the others answer
// calls; kill -9 of one disconnects its clients with a reason and no one
// else's; start -down brings it back; stop stops all.
func TestManyRealGames(t *testing.T) {
	good, _ := reloadGameBinaries(t)
	dir := reloadGameDir(t, good, manyRealGamesConfig)
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	ps := parseStarted(t, r.stdout)
	if got, want := names(ps), "dispatcher1 game1 game2 game3 gate1"; got != want {
		t.Fatalf("started %q, want %q", got, want)
	}
	gateAddr := ps[4].addr
	gameOf := map[int]string{} // pid -> game name
	for _, p := range ps[1:4] {
		gameOf[p.pid] = p.name
	}

	// New clients' players are placed on the least-loaded game: a few
	// clients reach every game.
	players := map[string]*player{} // game name -> its first player
	for i := 0; i < 12 && len(players) < 3; i++ {
		p := dialPlayer(t, gateAddr)
		name, ok := gameOf[p.pid]
		if !ok {
			t.Fatalf("welcomed by pid %d, which is no game of %v", p.pid, gameOf)
		}
		if players[name] == nil {
			players[name] = p
		}
	}
	if len(players) != 3 {
		t.Fatalf("12 clients reached only %d games: %v", len(players), players)
	}
	if r := ctl(t, "status", dir); r.code != 0 || len(regexp.MustCompile(`(?m)^game\d running pid=\d+$`).FindAllString(r.stdout, -1)) != 3 {
		t.Fatalf("status: %v", r)
	}

	// Reload while each game's player echoes a call every millisecond.
	order := []string{"game1", "game2", "game3"}
	stop := make(chan struct{})
	errc := make(chan string, 3)
	results := map[string]<-chan answer{}
	var collectors sync.WaitGroup
	for _, g := range order {
		results[g] = collect(players[g], stop, errc, &collectors)
	}
	done := make(chan result, 1)
	go func() { done <- ctl(t, "reload", "-no-build", dir) }()
	sentAt := map[string][]time.Time{}
	var finished time.Time
	for deadline := time.Now().Add(90 * time.Second); finished.IsZero() || time.Since(finished) < 100*time.Millisecond; {
		if finished.IsZero() {
			select {
			case r = <-done:
				finished = time.Now()
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("reload still running after 90s")
		}
		for _, g := range order {
			sentAt[g] = append(sentAt[g], time.Now())
			if err := players[g].c.CallPlayer("Echo", len(sentAt[g])-1); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	if r.code != 0 {
		t.Fatalf("reload: %v", r)
	}
	ms := reloadedGameLine.FindAllStringSubmatch(r.stdout, -1)
	if len(ms) != 3 {
		t.Fatalf("reload output: %v", r)
	}
	type swap struct {
		oldPID, newPID  int
		frozen, serving time.Time // the game's pause, from its freeze result and pause
	}
	swaps := map[string]swap{}
	for i, m := range ms {
		if m[1] != order[i] {
			t.Fatalf("reload reloaded %s as number %d, want %s (ID order): %v", m[1], i+1, order[i], r)
		}
		oldPID, _ := strconv.Atoi(m[2])
		newPID, _ := strconv.Atoi(m[3])
		pause, _ := strconv.ParseFloat(m[4], 64)
		id, _ := strconv.Atoi(strings.TrimPrefix(m[1], "game"))
		res, err := readFreezeResult(game.ResultPath(filepath.Join(dir, "freeze"), id))
		if err != nil {
			t.Fatal(err)
		}
		signalAt := time.Unix(0, res.SignalAt)
		swaps[m[1]] = swap{oldPID, newPID, signalAt.Add(time.Duration(res.FreezeMS * float64(time.Millisecond))),
			signalAt.Add(time.Duration(pause * float64(time.Millisecond)))}
		if players[m[1]].pid != oldPID {
			t.Fatalf("%s was pid %d, its player was welcomed by %d", m[1], oldPID, players[m[1]].pid)
		}
	}
	// Every call answered once, in order, by its game's old process and
	// then its new one. While one game was paused, the others answered.
	deadline := time.After(15 * time.Second)
	servedMeanwhile := 0
	for _, g := range order {
		var got []answer
		for len(got) < len(sentAt[g]) {
			select {
			case a := <-results[g]:
				got = append(got, a)
			case msg := <-errc:
				t.Fatalf("a client: %s", msg)
			case <-deadline:
				t.Fatalf("%s: %d of %d calls answered after 15s", g, len(got), len(sentAt[g]))
			}
		}
		if len(got) != len(sentAt[g]) {
			t.Fatalf("%s: %d of %d calls answered", g, len(got), len(sentAt[g]))
		}
		sw, switched := swaps[g], false
		for i, a := range got {
			if a.n != i {
				t.Fatalf("%s: answer %d is to call %d: calls lost, repeated or reordered", g, i, a.n)
			}
			switch {
			case a.pid == sw.newPID:
				switched = true
			case a.pid != sw.oldPID || switched:
				t.Fatalf("%s: call %d answered by pid %d (old %d, new %d)", g, i, a.pid, sw.oldPID, sw.newPID)
			}
			for _, other := range order {
				o := swaps[other]
				if other == g || !sentAt[g][i].After(o.frozen) || !a.at.Before(o.serving) {
					continue
				}
				// Sent and answered while other was frozen: by g's
				// process of the moment.
				want := sw.newPID // other comes after g: g was reloaded
				if other < g {
					want = sw.oldPID // g is reloaded after other
				}
				if a.pid != want {
					t.Fatalf("%s: call %d, answered while %s was frozen, came from pid %d, want %d", g, i, other, a.pid, want)
				}
				servedMeanwhile++
			}
		}
		if !switched {
			t.Fatalf("%s: no answer from the new pid %d", g, sw.newPID)
		}
	}
	close(stop) // the collectors end; the players' events are the test's again
	collectors.Wait()
	if servedMeanwhile == 0 {
		t.Fatalf("no call to one game was answered while another was frozen: %+v", swaps)
	}
	t.Logf("reload of 3 games: %d calls answered by one game while another was frozen", servedMeanwhile)

	// kill -9 of game2: its client is told, the others' go on.
	if err := syscall.Kill(swaps["game2"].newPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	reason := expectDisconnect(t, players["game2"])
	if !strings.Contains(reason, "game2") {
		t.Errorf("game2's client was disconnected with %q, which does not name game2", reason)
	}
	for _, g := range []string{"game1", "game3"} {
		players[g].t = t
		if pid := players[g].echo(1); pid != swaps[g].newPID {
			t.Errorf("%s's client answered by pid %d, want %d", g, pid, swaps[g].newPID)
		}
	}
	r = ctl(t, "status", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "game2 down\n") || !strings.Contains(r.stderr, "1 of 5 processes down") {
		t.Errorf("status with game2 killed: %v", r)
	}
	r = ctl(t, "start", "-no-build", "-down", dir)
	restarted := parseStarted(t, strings.Join(filterPrefix(lines(r.stdout), "started "), "\n"))
	if r.code != 0 || names(restarted) != "game2" {
		t.Fatalf("start -down: %v", r)
	}
	// The new game2 is the least loaded: a new client lands there.
	landed := false
	for i := 0; i < 6 && !landed; i++ {
		landed = dialPlayer(t, gateAddr).pid == restarted[0].pid
	}
	if !landed {
		t.Errorf("6 new clients, none on the restarted game2 (pid %d)", restarted[0].pid)
	}
	if r := ctl(t, "stop", dir); r.code != 0 || len(filterPrefix(lines(r.stdout), "stopped ")) != 5 {
		t.Errorf("stop: %v", r)
	}
	assertNothingRuns(t, dir, "dispatcher1", "game1", "game2", "game3", "gate1")
}

// expectDisconnect waits for p's client to be disconnected and returns
// the reason.
func expectDisconnect(t *testing.T, p *player) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-p.c.Events():
			if !ok {
				t.Fatal("events closed without a Disconnected event")
			}
			if d, ok := ev.(client.Disconnected); ok {
				return d.Reason
			}
		case <-timeout:
			t.Fatal("not disconnected after 15s")
		}
	}
}

// TestReloadOnAHost reloads the games of host b, whose dispatcher runs on
// host a: reload gives the restored games the dispatcher's advertised
// address from the config, and a client of a game keeps its player.
func TestReloadOnAHost(t *testing.T) {
	good, _ := reloadGameBinaries(t)
	dir := filepath.Join(t.TempDir(), "rg")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	writeFile(t, filepath.Join(dir, "config.ini"), fmt.Sprintf(`
[dispatcher1]
host = a
listen_addr = 127.0.0.1:%[1]d
advertise_addr = 127.0.0.1:%[1]d
[game_common]
host = b
boot_entity = Player
freeze_timeout = 5s
[game1]
[game2]
[gate1]
host = a
listen_addr = 127.0.0.1:0
kcp = false
[storage]
type = none
`, port))
	copyFile(t, good, filepath.Join(dir, "bin", "rg"), 0o755)
	killAtCleanup(t, dir)

	r := ctl(t, "start", "-no-build", "-host", "a", dir)
	if r.code != 0 {
		t.Fatalf("start -host a: %v", r)
	}
	a := parseHostStarted(t, r.stdout, "a")
	if names(a) != "dispatcher1 gate1" {
		t.Fatalf("start -host a: %v", r)
	}
	if r := ctl(t, "reload", "-no-build", "-host", "a", dir); r.code != 1 || !strings.Contains(r.stderr, "configures no game on host a: nothing to reload") {
		t.Errorf("reload -host a: %v", r)
	}
	r = ctl(t, "start", "-no-build", "-host", "b", dir)
	if r.code != 0 {
		t.Fatalf("start -host b: %v", r)
	}
	b := parseHostStarted(t, r.stdout, "b")
	if names(b) != "game1 game2" {
		t.Fatalf("start -host b: %v", r)
	}
	p := dialPlayer(t, a[1].addr)
	if p.pid != b[0].pid && p.pid != b[1].pid {
		t.Fatalf("welcomed by pid %d, not a game of host b (%v)", p.pid, b)
	}
	p.call("SetNote", "kept")
	p.expect("NoteSet")

	r = ctl(t, "reload", "-no-build", "-host", "b", dir)
	ms := reloadedGameLine.FindAllStringSubmatch(r.stdout, -1)
	if r.code != 0 || len(ms) != 2 || ms[0][1] != "game1" || ms[1][1] != "game2" {
		t.Fatalf("reload -host b: %v", r)
	}
	newPID := map[int]int{}
	for _, m := range ms {
		oldPID, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		newPID[oldPID] = n
	}
	if got := p.echo(7); got != newPID[p.pid] || got == 0 {
		t.Errorf("after the reload, the player's calls are answered by pid %d, want %d", got, newPID[p.pid])
	}
	if n := p.note(); n != "kept" {
		t.Errorf("note after the reload: %q", n)
	}
	for _, n := range []string{"game1", "game2"} {
		if log := readFile(t, filepath.Join(dir, "log", n+".log")); !strings.Contains(log, fmt.Sprintf("127.0.0.1:%d", port)) {
			t.Errorf("%s.log never names the dispatcher's advertised address 127.0.0.1:%d", n, port)
		}
	}
	if r := ctl(t, "stop", "-host", "b", dir); r.code != 0 || len(filterPrefix(lines(r.stdout), "stopped game")) != 2 {
		t.Errorf("stop -host b: %v", r)
	}
	if r := ctl(t, "stop", "-host", "a", dir); r.code != 0 || len(filterPrefix(lines(r.stdout), "stopped ")) != 2 {
		t.Errorf("stop -host a: %v", r)
	}
}
