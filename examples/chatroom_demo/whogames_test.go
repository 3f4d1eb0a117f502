package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
)

// roomsShardLine is a game's log line on a Rooms shard it hosts.
var roomsShardLine = regexp.MustCompile(`rooms shard (\d+) is on game (\d+)`)

// roomsShardGames returns the games whose logs say they host (or hosted)
// shard of the Rooms service, a game once for each time it did.
func roomsShardGames(rc *redisCluster, shard int) []string {
	var gs []string
	for _, g := range rc.games {
		for _, m := range roomsShardLine.FindAllStringSubmatch(rc.fc().readLog(g), -1) {
			if m[1] == fmt.Sprint(shard) && "game"+m[2] == g {
				gs = append(gs, g)
			}
		}
	}
	return gs
}

// readLog returns process name's log ("" if there is none yet).
func (fc *faultCluster) readLog(name string) string {
	b, _ := os.ReadFile(filepath.Join(fc.dir, "log", name+".log"))
	return string(b)
}

// startObserver starts a terminal client that registers user and joins
// the lobby, and returns it with the game its avatar was placed on (the
// game whose entity count grew by one once the boot Account is gone, as
// redisCluster.register finds it), among games (all if none).
func startObserver(t *testing.T, rc *redisCluster, chat, gate, user string, games ...string) (*chatProc, string) {
	t.Helper()
	before := rc.entities(games...)
	total := 0
	for _, n := range before {
		total += n
	}
	p := startChat(t, chat, gate, user, "pw", "-register")
	p.expect("logged in as " + user)
	p.expect("joined lobby")
	for deadline := time.Now().Add(15 * time.Second); ; {
		now := rc.entities(games...)
		sum := 0
		for _, n := range now {
			sum += n
		}
		if sum == total+1 {
			for g, n := range now {
				if n == before[g]+1 {
					return p, g
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("entities per game %v after %s's login (before: %v)", now, user, before)
		}
		time.Sleep(20 * time.Millisecond) // polling a metric with a deadline
	}
}

// whoUntil sends /who until the client prints want, within limit. Until
// then an answer may be any line of the room's members, or an error on
// stderr (the Rooms shard being re-created after its game died): each
// /who is answered one way or the other before the next is sent.
func (p *chatProc) whoUntil(want string, limit time.Duration) {
	p.t.Helper()
	prefix := want[:strings.Index(want, " members: ")+len(" members: ")]
	last := ""
	for deadline := time.Now().Add(limit); ; {
		errs := strings.Count(p.stderr(), "error: /who:")
		p.send("/who")
	answer:
		for {
			select {
			case got, ok := <-p.lines:
				if !ok {
					p.t.Fatalf("%s exited; stderr:\n%s", p.name, p.stderr())
				}
				if got == want {
					return
				}
				if !strings.HasPrefix(got, prefix) {
					p.t.Fatalf("%s printed %q waiting for %q", p.name, got, want)
				}
				last = got
				break answer
			case <-time.After(20 * time.Millisecond): // polling stderr with a deadline
				if strings.Count(p.stderr(), "error: /who:") > errs {
					last = "an error"
					break answer
				}
				if time.Now().After(deadline.Add(15 * time.Second)) {
					p.t.Fatalf("%s: /who unanswered; stderr:\n%s", p.name, p.stderr())
				}
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no %q within %v; last answer %s; stderr:\n%s", p.name, want, limit, last, p.stderr())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// membersLine is the terminal client's /who line for room and names.
func membersLine(room string, names []string) string {
	names = slices.Clone(names)
	slices.Sort(names)
	return "[" + room + "] members: " + strings.Join(names, ", ")
}

// TestWhoAcrossGames: on three games sharing Redis, started by
// goworldctl, /who in the terminal client lists the room's members on
// every game (the Rooms service, whose lobby shard is on the game the
// service's placement says). A game that does not host the shard is
// killed with SIGKILL: the shard drops that game's members (OnGameGone)
// and /who lists the others. Then the game hosting the shard is killed:
// the shard comes back on the last game, empty, the surviving avatars
// join it again, and within seconds /who lists exactly them.
func TestWhoAcrossGames(t *testing.T) {
	_, _, chat := binaries(t)
	rc := startRedisCluster(t, 3, "60s")
	fc := rc.fc()
	gate := fc.gate("gate1")

	shard := entity.ServiceShard("lobby", RoomShards)
	host := rc.games[shard%len(rc.games)] // the k-th game when all are up
	var others []string
	for _, g := range rc.games {
		if g != host {
			others = append(others, g)
		}
	}
	first, survivor := others[0], others[1]
	if gs := roomsShardGames(rc, shard); len(gs) != 1 || gs[0] != host {
		t.Fatalf("the lobby's Rooms shard %d is on %v, want %s", shard, gs, host)
	}

	var names []string
	for i := range 9 {
		names = append(names, fmt.Sprintf("m%d", i))
	}
	chatters, where := rc.register(gate, names, "pw")
	onGame := map[string][]string{}
	for _, ch := range chatters {
		ch.join("lobby")
		onGame[where[ch]] = append(onGame[where[ch]], ch.name)
	}
	for _, g := range rc.games {
		if len(onGame[g]) == 0 {
			t.Fatalf("avatars placed %v: want some on every game", onGame)
		}
	}
	// Observers until one is on the survivor (the others are members
	// too, and go with their games).
	var obs *chatProc
	for i := 0; obs == nil; i++ {
		if i == 6 {
			t.Fatalf("no observer's avatar landed on %s in 6 logins (members %v)", survivor, onGame)
		}
		p, g := startObserver(t, rc, chat, gate, fmt.Sprintf("obs%d", i))
		onGame[g] = append(onGame[g], p.name)
		if g == survivor {
			obs = p
		}
	}
	members := func(games ...string) []string {
		var ns []string
		for _, g := range games {
			ns = append(ns, onGame[g]...)
		}
		return ns
	}
	obs.whoUntil(membersLine("lobby", members(rc.games...)), 15*time.Second)

	// A game that does not host the shard: its members are dropped.
	fc.kill9(first)
	obs.whoUntil(membersLine("lobby", members(host, survivor)), 15*time.Second)

	// The game that hosts it: the shard comes back, and the survivors in it.
	fc.kill9(host)
	killed := time.Now()
	obs.whoUntil(membersLine("lobby", members(survivor)), 15*time.Second)
	t.Logf("/who listed the survivors %v after %s was killed", time.Since(killed).Round(time.Millisecond), host)
	// The shard's two lives: on the host, then re-created on the survivor.
	if gs := roomsShardGames(rc, shard); len(gs) != 2 || !slices.Contains(gs, host) || !slices.Contains(gs, survivor) {
		t.Fatalf("after %s was killed, the logs place the lobby's Rooms shard on %v, want %s and %s once each", host, gs, host, survivor)
	}
	// A player who logs in now is listed with them.
	late, _ := startObserver(t, rc, chat, gate, "late", survivor)
	late.whoUntil(membersLine("lobby", append(members(survivor), "late")), 10*time.Second)
}
