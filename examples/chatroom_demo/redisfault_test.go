package main

// Faults of a cluster on Redis, through real processes: the demo started
// by goworldctl with several games on one redis-server that the test
// starts itself (internal/testkit/redistest), driven by the real client package.
// A game killed with SIGKILL (TestGameKilledWithRedis) and Redis stopped
// and started again under chat load (TestRedisRestartedUnderChatLoad).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/internal/proc"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
)

// redisFaultConfig is a dispatcher, %d games logging at debug level (their
// save lines), one gate, and Redis storage at %s, saving every %s.
const redisFaultConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Account
save_interval = %[3]s
log_level = debug
%[1]s
[gate_common]
heartbeat_timeout = 10s
[gate1]
listen_addr = 127.0.0.1:0
[storage]
type = redis
addr = %[2]s
key_prefix = chat:
read_timeout = 1s
dial_timeout = 1s
`

// recommendedRedis is the persistence docs/architecture.md (Storage)
// recommends: an append-only file, fsynced every second.
var recommendedRedis = []string{"--appendonly", "yes", "--appendfsync", "everysec"}

// redisCluster is a demo cluster on Redis started by goworldctl.
type redisCluster struct {
	t        *testing.T
	ctl, dir string
	games    []string // game1, game2, ...
	redis    *redistest.Server
}

// startRedisCluster starts Redis (the recommended persistence) and the
// cluster with n games.
func startRedisCluster(t *testing.T, n int, saveInterval string) *redisCluster {
	t.Helper()
	ctl, server, _ := binaries(t)
	rc := &redisCluster{t: t, ctl: ctl, redis: redistest.Start(t, recommendedRedis...)}
	var sections []string
	for i := 1; i <= n; i++ {
		rc.games = append(rc.games, fmt.Sprintf("game%d", i))
		sections = append(sections, fmt.Sprintf("[game%d]", i))
	}
	rc.dir = serverDir(t, server)
	writeConfig(t, rc.dir, fmt.Sprintf(redisFaultConfig, strings.Join(sections, "\n"), rc.redis.Addr, saveInterval))
	t.Cleanup(func() { run(t, repoRoot, ctl, "kill", rc.dir) })
	out := ctlCmd(t, ctl, "start", "-no-build", rc.dir)
	for _, name := range append([]string{"dispatcher1", "gate1"}, rc.games...) {
		if !strings.Contains(out, "started "+name+" pid=") {
			t.Fatalf("start did not report %s:\n%s", name, out)
		}
	}
	return rc
}

// fc returns the cluster as a faultCluster, for its status, kill9,
// countLog and gate helpers.
func (rc *redisCluster) fc() *faultCluster { return &faultCluster{t: rc.t, ctl: rc.ctl, dir: rc.dir} }

// samples fetches and parses the /metrics of process name, at the admin
// address of its READY record.
func (rc *redisCluster) samples(name string) metrics.Samples {
	rc.t.Helper()
	data, err := os.ReadFile(filepath.Join(rc.dir, "run", name+".json"))
	if err != nil {
		rc.t.Fatal(err)
	}
	var info proc.ReadyInfo
	if err := json.Unmarshal(data, &info); err != nil || info.HTTPAddr == "" {
		rc.t.Fatalf("%s's READY record %s: %v (no admin address?)", name, data, err)
	}
	resp, err := http.Get("http://" + info.HTTPAddr + "/metrics")
	if err != nil {
		rc.t.Fatal(err)
	}
	defer resp.Body.Close()
	ss, err := metrics.Parse(resp.Body)
	if err != nil {
		rc.t.Fatalf("%s/metrics: %v", name, err)
	}
	return ss
}

// metric returns the sum of metric's samples at process name (those
// whose labels match, label and value pairs, if given).
func (rc *redisCluster) metric(name, metric string, match ...string) float64 {
	rc.t.Helper()
	v, ok := rc.samples(name).Sum(metric, match...)
	if !ok {
		rc.t.Fatalf("%s/metrics has no %s", name, metric)
	}
	return v
}

// entities returns goworld_game_entities of the games named, or of every
// game.
func (rc *redisCluster) entities(games ...string) map[string]int {
	rc.t.Helper()
	if len(games) == 0 {
		games = rc.games
	}
	m := map[string]int{}
	for _, g := range games {
		m[g] = int(rc.metric(g, "goworld_game_entities"))
	}
	return m
}

// awaitSavedAll waits until every game has completed a periodic save
// begun after everything it did before this call (see awaitSaved), or
// has nothing to save: every save it had begun before the call has
// completed, and a whole save tick after the call began none (the
// goworld_game_tick_seconds count of kind "save" rose by two, and no
// "saving" line came). The second case is not rare: a save tick right
// after a game's last change and before this call leaves nothing dirty,
// and no save comes after (it failed once under load, waiting 20 s for
// one).
func (rc *redisCluster) awaitSavedAll(games []string) {
	rc.t.Helper()
	fc := rc.fc()
	begun, ticks := map[string]int{}, map[string]float64{}
	for _, g := range games {
		// The tick count first: a tick counted after this read has
		// written its "saving" line, if any, after the count below.
		ticks[g] = rc.metric(g, "goworld_game_tick_seconds_count", "kind", "save")
		begun[g] = fc.countLog(g, "saving ")
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, g := range games {
		for {
			// Read the ticks before the log, for the same reason.
			idle := rc.metric(g, "goworld_game_tick_seconds_count", "kind", "save") >= ticks[g]+2
			saving, saved := fc.countLog(g, "saving "), fc.countLog(g, "saved ")
			if saved > begun[g] || (idle && saving == begun[g] && saved >= begun[g]) {
				break
			}
			if time.Now().After(deadline) {
				rc.t.Fatalf("%s: no save completed within 20s (%d begun before, %d now, %d completed)", g, begun[g], saving, saved)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// register dials the gate and registers names one at a time (no room),
// over KCP every third, and returns the clients and the game each one's
// avatar was placed on, from the games' entity counts: once a client has
// seen OnLogin its avatar is live, and once the counts add up to one
// entity more per avatar, its boot Account has been destroyed.
func (rc *redisCluster) register(gate string, names []string, password string) ([]*chatter, map[*chatter]string) {
	rc.t.Helper()
	var chs []*chatter
	base := rc.entities()
	total := 0
	for _, n := range base {
		total += n
	}
	where := map[*chatter]string{}
	prev := base
	for i, name := range names {
		ch := dial(rc.t, gate, name, i%3 == 2)
		chs = append(chs, ch)
		ch.register(password, "")
		deadline := time.Now().Add(15 * time.Second)
		for {
			now := rc.entities()
			sum := 0
			for _, n := range now {
				sum += n
			}
			if sum == total+i+1 {
				for g, n := range now {
					if n == prev[g]+1 {
						where[ch] = g
					}
				}
				prev = now
				break
			}
			if time.Now().After(deadline) {
				rc.t.Fatalf("entities per game %v after %d registrations (before: %v)", now, i+1, base)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if where[ch] == "" {
			rc.t.Fatalf("%s's avatar is on no game (counts %v before, %v after)", ch.name, base, prev)
		}
	}
	return chs, where
}

// chatLoad is a chat in one room: each sender says "n=K" for K = 0, 1,
// ... in rounds, and every member's events are collected by a goroutine
// of its own until stop, or its disconnection.
type chatLoad struct {
	room    string
	members []*chatter
	sent    map[string]int // by sender: lines whose Say call returned nil
	gone    map[string]bool

	mu     sync.Mutex
	got    map[string]map[string][]int // receiver -> sender -> K in order received
	reason map[string]string           // receiver -> disconnect reason
	odd    []string                    // unexpected events, for the failure message

	stop chan struct{}
	wg   sync.WaitGroup
}

var loadLine = regexp.MustCompile(`^n=(\d+)$`)

// startChatLoad starts the collectors of members, who are in room.
func startChatLoad(room string, members []*chatter) *chatLoad {
	l := &chatLoad{room: room, members: members, sent: map[string]int{}, gone: map[string]bool{},
		got: map[string]map[string][]int{}, reason: map[string]string{}, stop: make(chan struct{})}
	for _, ch := range members {
		l.got[ch.name] = map[string][]int{}
		l.wg.Add(1)
		go l.collect(ch)
	}
	return l
}

func (l *chatLoad) collect(ch *chatter) {
	defer l.wg.Done()
	for {
		select {
		case ev, ok := <-ch.c.Events():
			if !ok {
				l.note(ch.name, "events closed")
				return
			}
			switch ev := ev.(type) {
			case client.Call:
				if ev.Method != "OnChat" || len(ev.Args) != 3 {
					continue // OnLeft of a player whose game lived, ...
				}
				m := loadLine.FindStringSubmatch(fmt.Sprint(ev.Args[2]))
				if fmt.Sprint(ev.Args[0]) != l.room || m == nil {
					l.note(ch.name, fmt.Sprintf("chat %v", ev.Args))
					continue
				}
				k, _ := strconv.Atoi(m[1])
				l.mu.Lock()
				from := fmt.Sprint(ev.Args[1])
				l.got[ch.name][from] = append(l.got[ch.name][from], k)
				l.mu.Unlock()
			case client.Disconnected:
				l.mu.Lock()
				l.reason[ch.name] = ev.Reason
				l.mu.Unlock()
				return
			}
		case <-l.stop:
			return
		}
	}
}

func (l *chatLoad) note(name, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.odd) < 20 {
		l.odd = append(l.odd, name+": "+what)
	}
}

// disconnected returns the reason member name was disconnected, if it was.
func (l *chatLoad) disconnected(name string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.reason[name]
	return r, ok
}

// rounds has every member not yet disconnected say its next line, n
// times, 20 ms apart (pacing the load, not waiting for anything).
func (l *chatLoad) rounds(n int) {
	for range n {
		for _, ch := range l.members {
			if _, off := l.disconnected(ch.name); off || l.gone[ch.name] {
				l.gone[ch.name] = true
				continue
			}
			if err := ch.c.CallPlayer("Say", fmt.Sprintf("n=%d", l.sent[ch.name])); err != nil {
				l.gone[ch.name] = true
				continue
			}
			l.sent[ch.name]++
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check waits until every member that stayed connected has received every
// line of every sender that stayed connected, then stops the collectors
// and checks: those lines arrived exactly once each and in order; lines
// of a sender that was disconnected arrived once each and in order up to
// some point (those it sent as its game died are lost, and it was told).
// It returns the members that were disconnected, with their reasons.
func (l *chatLoad) check(t *testing.T) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		complete := true
		l.mu.Lock()
		for _, r := range l.members {
			if _, off := l.reason[r.name]; off {
				continue
			}
			for _, s := range l.members {
				if _, off := l.reason[s.name]; !off && len(l.got[r.name][s.name]) < l.sent[s.name] {
					complete = false
				}
			}
		}
		l.mu.Unlock()
		if complete || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(l.stop)
	l.wg.Wait()
	if len(l.odd) > 0 {
		t.Errorf("unexpected events during the chat: %q", l.odd)
	}
	for _, r := range l.members {
		_, rOff := l.reason[r.name]
		for _, s := range l.members {
			_, sOff := l.reason[s.name]
			got := l.got[r.name][s.name]
			for i, k := range got {
				if k != i {
					t.Fatalf("%s received %s's lines %v: lost, repeated or reordered (at %d)", r.name, s.name, got, i)
				}
			}
			if len(got) > l.sent[s.name] {
				t.Fatalf("%s received %d lines of %s, which sent %d", r.name, len(got), s.name, l.sent[s.name])
			}
			if !rOff && !sOff && len(got) != l.sent[s.name] {
				t.Fatalf("%s received %d of %s's %d lines within 20s", r.name, len(got), s.name, l.sent[s.name])
			}
		}
	}
	return l.reason
}

// TestGameKilledWithRedis kills one of three games on Redis with SIGKILL
// while the players of all three chat. The players of the other games
// notice nothing: every line reaches every one of them once and in order,
// before, during and after the kill. The killed game's players are told
// why; logging in again, their avatars load on the surviving games with
// the state of their last completed save (said=2, their room), and
// without the change made after it (their third line), which a kill -9
// loses. goworldctl status shows the game down; start -down brings it
// back and it takes new players.
func TestGameKilledWithRedis(t *testing.T) {
	// save_interval 4s: after a save has completed, the test has time to
	// change an avatar and kill its game before the next one begins. The
	// game's log says whether one did.
	rc := startRedisCluster(t, 3, "4s")
	fc := rc.fc()
	gate := fc.gate("gate1")

	var names []string
	for i := range 12 {
		names = append(names, fmt.Sprintf("p%d", i))
	}
	all, where := rc.register(gate, names, "pw")
	onGame := map[string][]*chatter{}
	for _, ch := range all {
		onGame[where[ch]] = append(onGame[where[ch]], ch)
	}
	// Each game's first player keeps state to check; the others chat.
	var keepers, talkers []*chatter
	for _, g := range rc.games {
		if len(onGame[g]) < 2 {
			t.Fatalf("12 avatars placed %v: want at least 2 on every game", onGame)
		}
		keepers = append(keepers, onGame[g][0])
		talkers = append(talkers, onGame[g][1:]...)
	}
	const victim = "game2"
	for _, ch := range keepers {
		ch.join("room-" + ch.name) // a room of its own: no one else's lines
		ch.say("one")
		ch.expectChat(fmt.Sprintf("[room-%s] %s: one", ch.name, ch.name))
	}
	for _, ch := range talkers {
		ch.join("lobby")
	}
	rc.awaitSavedAll(rc.games) // the rooms are in Redis, said=1
	for _, ch := range keepers {
		ch.say("two")
		ch.expectChat(fmt.Sprintf("[room-%s] %s: two", ch.name, ch.name))
	}
	// A save of the victim that began after "two" has completed: its next
	// one begins about save_interval after it.
	rc.awaitSavedAll([]string{victim})
	savesBefore := fc.countLog(victim, "saving ")
	for _, ch := range keepers { // acknowledged, not saved yet
		ch.say("three")
		ch.expectChat(fmt.Sprintf("[room-%s] %s: three", ch.name, ch.name))
	}

	load := startChatLoad("lobby", talkers)
	load.rounds(10)
	running := fc.status()
	fc.kill9(victim)
	savedMeanwhile := fc.countLog(victim, "saving ") > savesBefore
	load.rounds(50)
	reasons := load.check(t)

	t.Logf("avatars: %v; lines sent: %v; a save began on %s after the third line: %v", placement(onGame), load.sent, victim, savedMeanwhile)
	want := "the game hosting your entity stopped (" + victim + "); please reconnect"
	for _, ch := range talkers {
		r, off := reasons[ch.name]
		switch {
		case where[ch] == victim && (!off || r != want):
			t.Errorf("%s (on %s): disconnected %v, reason %q; want %q", ch.name, victim, off, r, want)
		case where[ch] != victim && off:
			t.Errorf("%s (on %s) was disconnected: %q", ch.name, where[ch], r)
		}
	}
	if r := onGame[victim][0].awaitDisconnect(); r != want {
		t.Errorf("%s (on %s) disconnected with %q, want %q", onGame[victim][0].name, victim, r, want)
	}
	after := fc.status()
	for name, p := range running {
		if name == victim {
			if _, ok := after[name]; ok {
				t.Errorf("%s still listed as running", name)
			}
		} else if after[name].pid != p.pid {
			t.Errorf("%s: pid %d before the kill, %d after", name, p.pid, after[name].pid)
		}
	}
	r := run(t, repoRoot, rc.ctl, "status", rc.dir)
	if r.code != 1 || !strings.Contains(r.out, victim+" down\n") || !strings.Contains(r.err, "1 of 5 processes down") {
		t.Errorf("status with %s killed: exit %d\n%s%s", victim, r.code, r.out, r.err)
	}

	// The killed game's players log in again: their avatars load on the
	// survivors, as of their last completed save.
	var live []string
	for _, g := range rc.games {
		if g != victim {
			live = append(live, g)
		}
	}
	count := func() (n int) {
		for _, v := range rc.entities(live...) {
			n += v
		}
		return n
	}
	before := count()
	for _, ch := range onGame[victim] {
		again := dial(t, gate, ch.name, false)
		again.login("pw", "")
		p, _ := again.c.Player()
		room := fmt.Sprint(p.Attrs["room"])
		said := p.Attrs["said"]
		if ch == onGame[victim][0] {
			switch {
			case room != "room-"+ch.name:
				t.Errorf("%s's room after the kill: %q, want room-%s (saved before the kill)", ch.name, room, ch.name)
			case said == int64(2):
			case said == int64(3) && savedMeanwhile:
				t.Logf("%s: a save began on %s after the third line (the machine is slow): said=3 was saved", ch.name, victim)
			default:
				t.Errorf("%s's said after the kill: %v (%T); want 2, as saved before the kill (savedMeanwhile=%v)", ch.name, said, said, savedMeanwhile)
			}
		} else if room != "lobby" {
			t.Errorf("%s's room after the kill: %q, want lobby", ch.name, room)
		}
		again.say("back")
		again.expectChat(fmt.Sprintf("[%s] %s: back", room, ch.name))
	}
	// Their avatars are on the survivors (the boot Accounts gone).
	for deadline := time.Now().Add(15 * time.Second); count() != before+len(onGame[victim]); {
		if time.Now().After(deadline) {
			t.Fatalf("%d entities on the survivors after %d logins, had %d", count(), len(onGame[victim]), before)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The survivors' keepers kept their state and chat on.
	for _, ch := range keepers {
		if where[ch] == victim {
			continue
		}
		ch.say("still here")
		ch.expectChat(fmt.Sprintf("[room-%s] %s: still here", ch.name, ch.name))
		if p, _ := ch.c.Player(); p.Attrs["said"] != int64(4) {
			t.Errorf("%s (on %s): said=%v, want 4", ch.name, where[ch], p.Attrs["said"])
		}
	}

	// start -down brings the game back; being the least loaded, it takes
	// the next new player.
	out := ctlCmd(t, rc.ctl, "start", "-down", "-no-build", rc.dir)
	if n := strings.Count(out, "started "); n != 1 || !strings.Contains(out, "started "+victim+" pid=") {
		t.Fatalf("start -down should have started %s only:\n%s", victim, out)
	}
	chs, at := rc.register(gate, []string{"newcomer"}, "pw")
	newcomer := chs[0]
	if at[newcomer] != victim {
		t.Errorf("the new player's avatar is on %s, want the restarted %s (least loaded)", at[newcomer], victim)
	}
	newcomer.join("lobby")
	newcomer.say("hello")
	newcomer.expectChat("[lobby] newcomer: hello")
}

// placement names the players on each game.
func placement(onGame map[string][]*chatter) map[string][]string {
	m := map[string][]string{}
	for g, chs := range onGame {
		for _, ch := range chs {
			m[g] = append(m[g], ch.name)
		}
	}
	return m
}

// TestRedisRestartedUnderChatLoad stops Redis (SIGTERM: with the
// recommended appendonly yes it writes its AOF and exits; a clean
// restart, as systemctl restart does) while players of two games chat,
// and starts it again on the same port. Meanwhile: chat goes on, every
// line to every player once and in order; the games' saves fail and are
// retried with backoff, counted in /metrics; a login and a registration
// are refused with the demo's reason; a player who quits has its final
// save retried. Once Redis is back the retries complete without a
// restart of anything, new logins and registrations work, and nothing
// acknowledged is lost: every player logs in again to every line it
// said, the one who quit during the outage included.
func TestRedisRestartedUnderChatLoad(t *testing.T) {
	rc := startRedisCluster(t, 2, "1s")
	fc := rc.fc()
	gate := fc.gate("gate1")
	names := []string{"t0", "t1", "t2", "t3", "t4", "t5", "quitter", "later"}
	chs, where := rc.register(gate, names, "pw")
	talkers, quitter, later := chs[:6], chs[6], chs[7]
	byGame := map[string][]*chatter{}
	for _, ch := range chs {
		byGame[where[ch]] = append(byGame[where[ch]], ch)
	}
	for _, g := range rc.games {
		if len(byGame[g]) < 2 {
			t.Fatalf("avatars placed %v: want some on every game", placement(byGame))
		}
	}
	t.Logf("avatars: %v", placement(byGame))
	for _, ch := range talkers {
		ch.join("lobby")
	}
	quitter.join("attic")
	quitter.say("one")
	quitter.expectChat("[attic] quitter: one")
	later.c.Close() // logged out: its avatar is saved and destroyed
	rc.awaitSavedAll(rc.games)

	pids := fc.status()
	load := startChatLoad("lobby", talkers)
	load.rounds(10)
	rc.redis.Stop()

	// Acknowledged while Redis is down, then quits: its final save waits.
	quitter.say("two")
	quitter.expectChat("[attic] quitter: two")
	quitter.c.Close()

	// Chat on until every game has retried a save (save_interval is 1s).
	retried := func() bool {
		for _, g := range rc.games {
			if rc.metric(g, "goworld_game_storage_save_retries_total") == 0 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(20 * time.Second); !retried(); {
		if time.Now().After(deadline) {
			t.Fatal("no save retried on every game within 20s of stopping Redis")
		}
		load.rounds(5)
	}
	for _, g := range rc.games {
		if v := rc.metric(g, "goworld_game_storage_failing"); v != 1 {
			t.Errorf("%s: goworld_game_storage_failing = %v while Redis is down, want 1", g, v)
		}
		if fc.countLog(g, "saving failed; retrying with backoff") == 0 {
			t.Errorf("%s's log does not say its saves are retried", g)
		}
	}
	const down = "the account store is unavailable; try again"
	if r := dial(t, gate, "later", false).refused("Login", "pw"); r != down {
		t.Errorf("login with Redis down: %q, want %q", r, down)
	}
	if r := dial(t, gate, "newbie", true).refused("Register", "pw"); r != down {
		t.Errorf("registration with Redis down: %q, want %q", r, down)
	}
	load.rounds(10)

	rc.redis.Restart(t)
	// Chat on until every game's retries have completed.
	recovered := func() bool {
		for _, g := range rc.games {
			if rc.metric(g, "goworld_game_storage_failing") != 0 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(30 * time.Second); !recovered(); {
		if time.Now().After(deadline) {
			t.Fatal("saves still failing 30s after Redis restarted")
		}
		load.rounds(5)
	}
	load.rounds(10)
	if off := load.check(t); len(off) > 0 {
		t.Fatalf("players disconnected while Redis restarted: %v", off)
	}
	for _, g := range rc.games {
		t.Logf("%s: %v save retries", g, rc.metric(g, "goworld_game_storage_save_retries_total"))
	}
	t.Logf("lines said: %v", load.sent)
	for _, g := range rc.games {
		if fc.countLog(g, "saving succeeded after") == 0 {
			t.Errorf("%s's log does not say its retried save succeeded", g)
		}
		if v := rc.metric(g, "goworld_game_storage_errors_total", "op", "save"); v != 0 {
			t.Errorf("%s: %v saves failed for good", g, v)
		}
	}

	// Back to normal, with no restart: the same processes serve, new
	// registrations and logins work, and every acknowledged change is
	// there.
	if now := fc.status(); len(now) != len(pids) {
		t.Errorf("running after the outage: %v, before: %v", now, pids)
	} else {
		for name, p := range pids {
			if now[name].pid != p.pid {
				t.Errorf("%s: pid %d before the outage, %d after", name, p.pid, now[name].pid)
			}
		}
	}
	newbie := dial(t, gate, "newbie", false)
	newbie.register("pw", "lobby")
	l := dial(t, gate, "later", true)
	l.login("pw", "")
	again := dial(t, gate, "quitter", false)
	again.login("pw", "")
	if p, _ := again.c.Player(); p.Attrs["said"] != int64(2) || p.Attrs["room"] != "attic" {
		t.Errorf("quitter after the outage: %v, want said=2 (its last line acknowledged during the outage), room=attic", p.Attrs)
	}
	for _, ch := range talkers {
		ch.c.Close() // the final save
	}
	for _, ch := range talkers {
		back := dial(t, gate, ch.name, false)
		back.login("pw", "")
		if p, _ := back.c.Player(); p.Attrs["said"] != int64(load.sent[ch.name]) {
			t.Errorf("%s logged in again with said=%v, want %d: every line it said was acknowledged", ch.name, p.Attrs["said"], load.sent[ch.name])
		}
	}
	newbie.say("hi")
	newbie.expectChat("[lobby] newbie: hi")
}
