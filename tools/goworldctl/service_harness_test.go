//go:build linux || darwin

package main

// The harness of the service tests (service_test.go) and of the
// fail-over benchmark: the svcgame (testdata/svcgame) on three games
// started by goworldctl, sharing a real redis-server
// (internal/testkit/redistest); clients of the real client package; the games'
// /metrics watched for the services' shard counts.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/proc"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/vmihailenco/msgpack/v5"
)

// svcBins is the svcgame binary, built on first use.
var svcBins struct {
	once      sync.Once
	dir, path string
	err       error
}

// svcGameBinary builds testdata/svcgame once and returns its path.
func svcGameBinary(tb testing.TB) string {
	tb.Helper()
	svcBins.once.Do(func() {
		svcBins.dir, svcBins.err = os.MkdirTemp("", "goworldctl-svc-")
		if svcBins.err != nil {
			return
		}
		svcBins.path = filepath.Join(svcBins.dir, "svcgame")
		if out, err := exec.Command("go", "build", "-o", svcBins.path, "./testdata/svcgame").CombinedOutput(); err != nil {
			svcBins.err = fmt.Errorf("go build ./testdata/svcgame: %v\n%s", err, out)
		}
	})
	if svcBins.err != nil {
		tb.Fatal(svcBins.err)
	}
	return svcBins.path
}

// svcConfig is three games of the svcgame on Redis at %[1]s, saving
// every %[2]s, with requests that time out after %[3]s, behind one
// dispatcher and one gate.
const svcConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Player
freeze_timeout = 5s
save_interval = %[2]s
request_timeout = %[3]s
service_grace = 500ms
[game1]
[game2]
[game3]
[gate1]
listen_addr = 127.0.0.1:0
kcp = false
[storage]
type = redis
addr = %[1]s
key_prefix = svc:
`

// svcShards is the services' shard counts, as svcgame registers them.
var svcShards = map[string]int{"Bank": 1, "Tally": 3}

// svcGames are the games of svcConfig.
var svcGames = []string{"game1", "game2", "game3"}

// svcCluster is the svcgame's cluster, started by goworldctl.
type svcCluster struct {
	tb    testing.TB
	dir   string
	redis *redistest.Server
	store storage.Backend // the same Redis, to read what the games saved
	gate  string          // the gate's client address
	mu    sync.Mutex
	pids  map[string]int // by process name, as goworldctl reported them
}

// ctlTB runs goworldctl in-process with args.
func ctlTB(tb testing.TB, args ...string) result {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"goworldctl"}, args...), &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// startedPIDs parses the "started NAME pid=N" lines of start's output.
func startedPIDs(out string) map[string]int {
	m := map[string]int{}
	for _, s := range regexp.MustCompile(`(?m)^started (\w+) pid=(\d+)`).FindAllStringSubmatch(out, -1) {
		m[s[1]], _ = strconv.Atoi(s[2])
	}
	return m
}

// startSvcCluster starts a redis-server and the svcgame's cluster on it;
// both are killed at the end of the test.
func startSvcCluster(tb testing.TB, saveInterval, requestTimeout string) *svcCluster {
	tb.Helper()
	bin := svcGameBinary(tb)
	sc := &svcCluster{tb: tb, redis: redistest.Start(tb, "--appendonly", "yes", "--appendfsync", "everysec")}
	st, err := storage.OpenRedis(&storage.RedisOptions{Addr: sc.redis.Addr, KeyPrefix: "svc:"})
	if err != nil {
		tb.Fatal(err)
	}
	sc.store = st
	tb.Cleanup(func() { st.Close() })
	sc.dir = filepath.Join(tb.TempDir(), "sg")
	if err := os.MkdirAll(filepath.Join(sc.dir, "bin"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sc.dir, "config.ini"), []byte(fmt.Sprintf(svcConfig, sc.redis.Addr, saveInterval, requestTimeout)), 0o644); err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err == nil {
		err = os.WriteFile(filepath.Join(sc.dir, "bin", "sg"), data, 0o755)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { // after a failure too: whatever runs is killed
		if cl, err := loadCluster(sc.dir, ""); err == nil {
			stop(io.Discard, cl, syscall.SIGKILL, 10*time.Second)
		}
	})
	r := ctlTB(tb, "start", "-no-build", sc.dir)
	sc.pids = startedPIDs(r.stdout)
	if r.code != 0 || len(sc.pids) != 5 {
		tb.Fatalf("start: %v", r)
	}
	m := regexp.MustCompile(`(?m)^started gate1 pid=\d+ addr=(\S+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		tb.Fatalf("start named no gate address: %v", r)
	}
	sc.gate = m[1]
	return sc
}

// pid returns the PID goworldctl reported for process name.
func (sc *svcCluster) pid(name string) int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.pids[name]
}

// gameOfPID returns the name of the game whose PID is pid, or "".
func (sc *svcCluster) gameOfPID(pid int64) string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, g := range svcGames {
		if int64(sc.pids[g]) == pid {
			return g
		}
	}
	return ""
}

// kill9 sends game name SIGKILL, by the PID goworldctl reported, and
// returns when it did; awaitGone waits for the process to be gone.
func (sc *svcCluster) kill9(name string) time.Time {
	sc.tb.Helper()
	pid := sc.pid(name)
	if pid <= 1 || pid == os.Getpid() {
		sc.tb.Fatalf("%s: no sensible pid (%d)", name, pid)
	}
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		sc.tb.Fatalf("kill -9 %s (pid %d): %v", name, pid, err)
	}
	return at
}

// awaitGone waits until game name's PID file is free (the process and
// its threads are gone), as start -down needs.
func (sc *svcCluster) awaitGone(name string) {
	sc.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, running, err := proc.Probe(filepath.Join(sc.dir, "run", name+".pid")); err == nil && !running {
			return
		}
		if time.Now().After(deadline) {
			sc.tb.Fatalf("%s (pid %d) still holds its PID file 10s after SIGKILL", name, sc.pid(name))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startDown runs goworldctl start -down, which must start game name
// alone, and returns its new PID.
func (sc *svcCluster) startDown(name string) int {
	sc.tb.Helper()
	r := ctlTB(sc.tb, "start", "-down", "-no-build", sc.dir)
	started := startedPIDs(r.stdout)
	if r.code != 0 || len(started) != 1 || started[name] == 0 {
		sc.tb.Fatalf("start -down should have started %s alone: %v", name, r)
	}
	sc.mu.Lock()
	sc.pids[name] = started[name]
	sc.mu.Unlock()
	return started[name]
}

// setPID records a game's new PID (after a reload).
func (sc *svcCluster) setPID(name string, pid int) {
	sc.mu.Lock()
	sc.pids[name] = pid
	sc.mu.Unlock()
}

// savedTotal returns the Bank's total as Redis holds it (its last save).
func (sc *svcCluster) savedTotal() (int64, error) {
	data, err := sc.store.LoadEntity("Bank", string(rpc.ServiceEntityID("Bank", 0)))
	if err != nil {
		return 0, err
	}
	var attrs map[string]any
	if err := msgpack.Unmarshal(data, &attrs); err != nil {
		return 0, err
	}
	return toInt(attrs["total"]), nil
}

// awaitSavedTotal waits until Redis holds the Bank's total want.
func (sc *svcCluster) awaitSavedTotal(want int64) {
	sc.tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := sc.savedTotal()
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			sc.tb.Fatalf("Redis holds the Bank's total %d (%v) 20s on, want %d", got, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// svcAnswer is one Answer call: a service's answer as the Player passed
// it on (see svcgame's Player.OnAnswer).
type svcAnswer struct {
	seq, value, pid, game, shard, playerPID int64
	code, msg                               string
	at                                      time.Time
}

// svcClient is a client of the svcgame with its Player; its Answer calls
// arrive on answers, in order.
type svcClient struct {
	tb      testing.TB
	c       *client.Client
	pid     int // the game's PID in the welcome
	answers chan svcAnswer
	lost    chan string // the reason, if the client lost its connection
	done    chan struct{}
}

// dial connects a client and waits for its Player.
func (sc *svcCluster) dial() *svcClient {
	sc.tb.Helper()
	c, err := client.Dial(sc.gate, client.Options{})
	if err != nil {
		sc.tb.Fatal(err)
	}
	cl := &svcClient{tb: sc.tb, c: c, answers: make(chan svcAnswer, 1<<16), lost: make(chan string, 1), done: make(chan struct{})}
	welcome := make(chan int, 1)
	go cl.read(welcome)
	sc.tb.Cleanup(func() {
		c.Close()
		<-cl.done
	})
	select {
	case cl.pid = <-welcome:
	case why := <-cl.lost:
		sc.tb.Fatalf("disconnected before the welcome: %s", why)
	case <-time.After(15 * time.Second):
		sc.tb.Fatal("no welcome after 15s")
	}
	if _, ok := c.Player(); !ok {
		sc.tb.Fatal("welcomed without a player entity")
	}
	return cl
}

// read forwards the client's Welcome and Answer calls until its events
// end.
func (cl *svcClient) read(welcome chan<- int) {
	defer close(cl.done)
	for ev := range cl.c.Events() {
		switch ev := ev.(type) {
		case client.Call:
			switch {
			case ev.Method == "Welcome" && len(ev.Args) == 1:
				select {
				case welcome <- int(toInt(ev.Args[0])):
				default: // one welcome per client; never block the reader
				}
			case ev.Method == "Answer" && len(ev.Args) == 8:
				code, _ := ev.Args[6].(string)
				msg, _ := ev.Args[7].(string)
				a := svcAnswer{toInt(ev.Args[0]), toInt(ev.Args[1]), toInt(ev.Args[2]), toInt(ev.Args[3]),
					toInt(ev.Args[4]), toInt(ev.Args[5]), code, msg, time.Now()}
				select {
				case cl.answers <- a:
				default:
					cl.lostOnce("more than 65536 answers unread")
					return
				}
			}
		case client.Disconnected:
			cl.lostOnce(ev.Reason)
		}
	}
}

func (cl *svcClient) lostOnce(why string) {
	select {
	case cl.lost <- why:
	default:
	}
}

// send asks method(seq, n) of the service's shard for key, one way: the
// answer comes later, on answers.
func (cl *svcClient) send(seq int, service, key, method string, n int) {
	cl.tb.Helper()
	if err := cl.c.CallPlayer("Ask", seq, service, key, method, n); err != nil {
		cl.tb.Fatalf("Ask %d: %v", seq, err)
	}
}

// next returns the next answer, failing the test after 15s or if the
// client lost its connection.
func (cl *svcClient) next(what string) svcAnswer {
	cl.tb.Helper()
	select {
	case a := <-cl.answers:
		return a
	case why := <-cl.lost:
		cl.tb.Fatalf("%s: the client was disconnected: %s", what, why)
	case <-time.After(15 * time.Second):
		cl.tb.Fatalf("%s: no answer after 15s", what)
	}
	panic("unreachable")
}

// ask sends one request and returns its answer, which must carry seq.
func (cl *svcClient) ask(seq int, service, key, method string, n int) svcAnswer {
	cl.tb.Helper()
	cl.send(seq, service, key, method, n)
	a := cl.next(fmt.Sprintf("%s.%s %d", service, method, seq))
	if a.seq != int64(seq) {
		cl.tb.Fatalf("asked %d, answered %+v", seq, a)
	}
	return a
}

// dialOn dials clients until one's Player lives on a game that pick
// accepts (at most 12).
func (sc *svcCluster) dialOn(what string, pick func(game string) bool) *svcClient {
	sc.tb.Helper()
	for range 12 {
		cl := sc.dial()
		if pick(sc.gameOfPID(int64(cl.pid))) {
			return cl
		}
	}
	sc.tb.Fatalf("12 clients, none on %s", what)
	return nil
}

// shardWatch polls every game's /metrics for goworld_game_service_shards
// and records any moment at which the games together host more shards of
// a service than it has. A game whose /metrics cannot be read (killed,
// or frozen for a hot reload) counts as unknown, not as zero, so the
// sums it sees can only be too low. A game being killed is left out
// (exclude) from before the signal: a sweep reads the games one after
// another, so had it read the dying game's 1 before the kill and a
// survivor's re-created shard after, it would add up a copy that is dead
// and one that is live. A sweep during which the set of games left out
// changed is discarded for the same reason.
type shardWatch struct {
	sc        *svcCluster
	mu        sync.Mutex
	excluded  map[string]bool
	gen       int
	sweeps    int      // sweeps that counted
	full      int      // of which every game answered
	discarded int      // sweeps across an exclusion change
	over      []string // the sweeps that found too many
	stop      chan struct{}
	done      chan struct{}
	start     time.Time
}

// watchShards starts a shardWatch; finish stops it.
func (sc *svcCluster) watchShards() *shardWatch {
	w := &shardWatch{sc: sc, excluded: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	go w.run()
	sc.tb.Cleanup(w.halt)
	return w
}

func (w *shardWatch) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *shardWatch) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		w.mu.Lock()
		gen := w.gen
		var games []string
		for _, g := range svcGames {
			if !w.excluded[g] {
				games = append(games, g)
			}
		}
		w.mu.Unlock()
		sums, unknown := w.sc.shardSums(games)
		w.mu.Lock()
		if w.gen != gen {
			w.discarded++
		} else {
			w.sweeps++
			if len(unknown) == 0 && len(games) == len(svcGames) {
				w.full++
			}
			for s, n := range svcShards {
				if sums[s] > n {
					w.over = append(w.over, fmt.Sprintf("%s: %d shards live at %s over %v (unknown: %v)", s, sums[s], time.Now().Format("15:04:05.000"), games, unknown))
				}
			}
		}
		w.mu.Unlock()
		time.Sleep(10 * time.Millisecond) // the polling period
	}
}

// exclude leaves game out of the sweeps (true) or takes it back (false).
func (w *shardWatch) exclude(game string, out bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.excluded[game] = out
	w.gen++
}

// finish stops the watch and fails the test if a sweep found too many
// shards of a service, or if too few sweeps counted to mean anything.
func (w *shardWatch) finish(minSweeps int) {
	w.sc.tb.Helper()
	// A quick run (a reload done in a second on a busy machine) may end
	// before the watch has swept often enough: it goes on sweeping, the
	// settled cluster, until it has (bounded), rather than fail.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		w.mu.Lock()
		n := w.sweeps
		w.mu.Unlock()
		if n >= minSweeps {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling the count, bounded by deadline
	}
	w.halt()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.over) > 0 {
		w.sc.tb.Fatalf("more shards live than a service has, in %d of %d sweeps: %s", len(w.over), w.sweeps, strings.Join(w.over, "; "))
	}
	if w.sweeps < minSweeps {
		w.sc.tb.Fatalf("only %d sweeps of the games' /metrics counted (%d discarded), want %d", w.sweeps, w.discarded, minSweeps)
	}
	w.sc.tb.Logf("shard watch: %d sweeps in %v (%d with every game answering), %d discarded across a kill; never more shards than a service has",
		w.sweeps, time.Since(w.start).Round(time.Millisecond), w.full, w.discarded)
}

// shardSums reads the games' /metrics and returns, per service, the
// shards live on those that answered, and the games that did not.
func (sc *svcCluster) shardSums(games []string) (map[string]int, []string) {
	// All at once, so that the readings are close together in time.
	type reading struct {
		counts map[string]int
		err    error
	}
	rs := make([]reading, len(games))
	var wg sync.WaitGroup
	for i, g := range games {
		wg.Go(func() {
			rs[i].counts, rs[i].err = sc.gameShards(g)
		})
	}
	wg.Wait()
	sums := map[string]int{}
	var unknown []string
	for i, r := range rs {
		if r.err != nil {
			unknown = append(unknown, games[i])
			continue
		}
		for s, n := range r.counts {
			sums[s] += n
		}
	}
	return sums, unknown
}

// gameShards reads goworld_game_service_shards of every service from
// game g's /metrics, at the admin address of its READY record.
func (sc *svcCluster) gameShards(g string) (map[string]int, error) {
	data, err := os.ReadFile(filepath.Join(sc.dir, "run", g+".json"))
	if err != nil {
		return nil, err
	}
	var info proc.ReadyInfo
	if err := json.Unmarshal(data, &info); err != nil || info.HTTPAddr == "" {
		return nil, fmt.Errorf("%s's READY record %q: %v", g, data, err)
	}
	// A game frozen for its reload may hold a scrape until it is
	// restored: past a quarter of a second it counts as unknown.
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	ss, err := fetchMetrics(ctx, info.HTTPAddr)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for s := range svcShards {
		v, ok := ss.Sum("goworld_game_service_shards", "service", s)
		if !ok {
			return nil, fmt.Errorf("%s/metrics has no goworld_game_service_shards{service=%q}", g, s)
		}
		counts[s] = int(v)
	}
	return counts, nil
}

// awaitShardsWhole waits until the games named (or every game) answer
// and host exactly each service's shards together, and returns where:
// per service, per game, how many.
func (sc *svcCluster) awaitShardsWhole(games ...string) map[string]map[string]int {
	sc.tb.Helper()
	if len(games) == 0 {
		games = svcGames
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		where := map[string]map[string]int{}
		sums := map[string]int{}
		ok := true
		for _, g := range games {
			counts, err := sc.gameShards(g)
			if err != nil {
				ok = false
				break
			}
			for s, n := range counts {
				if where[s] == nil {
					where[s] = map[string]int{}
				}
				where[s][g] = n
				sums[s] += n
			}
		}
		for s, n := range svcShards {
			ok = ok && sums[s] == n
		}
		if ok {
			return where
		}
		if time.Now().After(deadline) {
			sc.tb.Fatalf("the games host %v shards after 30s (where: %v), want %v", sums, where, svcShards)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bankGame returns the game whose /metrics shows the Bank.
func bankGame(tb testing.TB, where map[string]map[string]int) string {
	tb.Helper()
	for g, n := range where["Bank"] {
		if n == 1 {
			return g
		}
	}
	tb.Fatalf("no game hosts the Bank: %v", where)
	return ""
}

// failover is what depositThroughKill saw.
type failover struct {
	victim  string
	killAt  time.Time
	back    svcAnswer   // the first answer from a game other than the victim
	before  []svcAnswer // answers from the victim, in seq order
	after   []svcAnswer // answers from elsewhere, in seq order
	errs    []svcAnswer // error answers
	sentAt  map[int]time.Time
	oneLoad bool // every answer from elsewhere came from one game
}

// failoverSends bounds the deposits one depositThroughKill sends.
const failoverSends = 30000

// depositThroughKill has cl deposit 1 into the Bank every 2ms, kills the
// Bank's game (victim) with SIGKILL once 10 deposits were answered, and
// goes on until 20 deposits were answered from another game; then it
// waits until every deposit sent was answered (an error or a total) and
// the victim is gone. Deposits are numbered from seq0. It fails the test
// if a deposit is answered twice or never, if one fails before the kill
// or other than with "no such entity" or "timeout", or after 60s or
// failoverSends deposits.
func (sc *svcCluster) depositThroughKill(cl *svcClient, watch *shardWatch, victim string, seq0 int) failover {
	sc.tb.Helper()
	f := failover{victim: victim, sentAt: map[int]time.Time{}, oneLoad: true}
	victimPID := int64(sc.pid(victim))
	var got []svcAnswer
	seen := map[int64]bool{}
	take := func(a svcAnswer) {
		got = append(got, a)
		if a.code != "ok" {
			// A deposit that reached the dispatcher between the kill and
			// the Bank's re-creation finds no Bank; one that was inside
			// the game as it died is never answered.
			if (a.code != "no such entity" && a.code != "timeout") || f.killAt.IsZero() || a.at.Before(f.killAt) {
				sc.tb.Fatalf("a deposit answered %q (%s) at %s, killed at %s: want only no such entity or timeout, after the kill",
					a.code, a.msg, a.at.Format("15:04:05.000"), f.killAt.Format("15:04:05.000"))
			}
			f.errs = append(f.errs, a)
			return
		}
		if seen[a.seq] || f.sentAt[int(a.seq)].IsZero() {
			sc.tb.Fatalf("answer %+v: answered twice, or never asked", a)
		}
		seen[a.seq] = true
		if a.pid == victimPID {
			f.before = append(f.before, a)
			return
		}
		if len(f.after) == 0 {
			f.back = a
		} else if a.game != f.after[0].game {
			f.oneLoad = false
		}
		f.after = append(f.after, a)
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(60 * time.Second)
	for seq := seq0; len(f.after) < 20; seq++ {
		if time.Now().After(deadline) || len(f.sentAt) >= failoverSends {
			sc.tb.Fatalf("the Bank did not answer 20 deposits from a game other than %s within 60s and %d deposits (killed: %v; %d answers from it, %d errors)",
				victim, failoverSends, !f.killAt.IsZero(), len(f.before), len(f.errs))
		}
		if f.killAt.IsZero() && len(f.before) >= 10 {
			watch.exclude(victim, true)
			f.killAt = sc.kill9(victim)
		}
		f.sentAt[seq] = time.Now()
		cl.send(seq, "Bank", "", "Deposit", 1)
	drain:
		for {
			select {
			case a := <-cl.answers:
				take(a)
			case why := <-cl.lost:
				sc.tb.Fatalf("the client was disconnected: %s", why)
			case <-tick.C:
				break drain
			}
		}
	}
	for len(got) < len(f.sentAt) {
		take(cl.next(fmt.Sprintf("the last of %d deposits (%d answered)", len(f.sentAt), len(got))))
	}
	sc.awaitGone(victim)
	bySeq := func(as []svcAnswer) {
		slices.SortFunc(as, func(a, b svcAnswer) int { return cmp.Compare(a.seq, b.seq) })
	}
	bySeq(f.before)
	bySeq(f.after)
	return f
}
