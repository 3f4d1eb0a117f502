package main

// End-to-end tests with real processes: goworldctl starts the demo server
// built from this package (a dispatcher, a game and a gate on ports the
// kernel picks), and clients of package client connect to its gate over
// TCP and KCP, move, and check what they are shown.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/examples/aoi_demo/demo"
	"github.com/goworld-engine/goworld/rpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kcp-go runs process-wide scheduler goroutines it never stops.
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
		goleak.Cleanup(func(int) {
			if binDir != "" {
				os.RemoveAll(binDir) // the binaries built by binaries
			}
		}),
	)
}

// waitTimeout bounds every wait for something the server should do.
const waitTimeout = 20 * time.Second

// repoRoot is the module root, two levels up from this package.
var repoRoot, _ = filepath.Abs("../..")

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds goworldctl, the demo server and the bots once per test run
// (without -race: they are the product, not the test).
func binaries(t testing.TB) (ctl, server string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("goworldctl manages processes on Linux and macOS only")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "goworld-aoi-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{
			{"goworldctl", "./tools/goworldctl"},
			{"aoi_demo", "./examples/aoi_demo"},
			{"bots", "./examples/aoi_demo/bots"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b.out), b.pkg)
			cmd.Dir = repoRoot
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "goworldctl"), filepath.Join(binDir, "aoi_demo")
}

// testConfig is a one-of-each cluster on 127.0.0.1, on ports the kernel
// picks, with a quick position sync; %s is for more [game_common] keys.
const testConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Player
position_sync_interval = 50ms
%s
[game1]
[gate_common]
heartbeat_timeout = 30s
[gate1]
listen_addr = 127.0.0.1:0
[storage]
path = aoi.db
`

// runCmd runs a command to completion, bounded by two minutes.
func runCmd(t testing.TB, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill() // the command we started, by its handle
		<-done
		t.Fatalf("%s %v: still running after 2 minutes", name, args)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

var gateLine = regexp.MustCompile(`(?m)^started gate1 pid=\d+ addr=(\S+)$`)

// startCluster makes a server directory in a temporary directory (the
// prebuilt server at DIR/bin/aoi, the test config), starts it with
// goworldctl and returns the gate's address. The cluster is stopped with
// goworldctl stop on that directory when the test ends.
func startCluster(t *testing.T) string {
	addr, _ := startClusterDir(t, "")
	return addr
}

// startClusterDir is startCluster that also returns the server directory;
// gameKeys are added to [game_common].
func startClusterDir(t *testing.T, gameKeys string) (addr, dir string) {
	t.Helper()
	return startClusterConfig(t, fmt.Sprintf(testConfig, gameKeys))
}

// startClusterConfig is startClusterDir with the whole config.ini given.
func startClusterConfig(t testing.TB, config string) (addr, dir string) {
	t.Helper()
	ctl, _ := binaries(t)
	dir = newServerDir(t, config)
	// Registered before any client's cleanup, so it runs after them all.
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(dir, "log", "*.log"))
			for _, path := range logs {
				name := strings.TrimSuffix(filepath.Base(path), ".log")
				if b, err := os.ReadFile(path); err == nil {
					lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
					t.Logf("last lines of %s.log:\n%s", name, strings.Join(lines[max(0, len(lines)-30):], "\n"))
				}
			}
		}
		out, errOut, code := runCmd(t, ctl, "stop", dir)
		if code != 0 {
			t.Errorf("goworldctl stop: exit %d\n%s%s", code, out, errOut)
			runCmd(t, ctl, "kill", dir) // by the PID files of this directory
		}
	})
	out, errOut, code := runCmd(t, ctl, "start", "-no-build", dir)
	if code != 0 {
		t.Fatalf("goworldctl start: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	m := gateLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("goworldctl start did not report the gate's address:\n%s", out)
	}
	return m[1], dir
}

// newServerDir makes a server directory in a temporary directory: the
// prebuilt server at DIR/bin/aoi and config as DIR/config.ini.
func newServerDir(t testing.TB, config string) string {
	t.Helper()
	_, server := binaries(t)
	dir := filepath.Join(t.TempDir(), "aoi")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(server)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "aoi"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.ini"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hub wakes whoever waits for a condition on any of a test's clients.
type hub struct {
	mu   sync.Mutex
	wake chan struct{}
	// waiters counts the waits in progress: with none, notify does
	// nothing (a benchmark's thousands of clients notify ~100,000 times
	// a second while nobody waits).
	waiters atomic.Int32
}

func newHub() *hub { return &hub{wake: make(chan struct{})} }

func (h *hub) notify() {
	// A waiter counts itself before it reads the condition, so a change
	// made before a load that finds no waiter is seen by its first check.
	if h.waiters.Load() == 0 {
		return
	}
	h.mu.Lock()
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

// waitUntil waits until cond holds, checking it again after every event
// any client of the hub receives; it fails the test after waitTimeout.
// cond must not block.
func (h *hub) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !h.wait(cond) {
		t.Fatalf("waited %v for %s", waitTimeout, what)
	}
}

// wait is waitUntil that reports a timeout instead of failing.
func (h *hub) wait(cond func() bool) bool {
	h.waiters.Add(1)
	defer h.waiters.Add(-1)
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		wake := h.wake
		h.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-wake:
		case <-deadline.C:
			return cond()
		}
	}
}

// player is a test client: a real client whose events are all recorded.
type player struct {
	t    *testing.T
	name string
	c    *client.Client
	hub  *hub
	id   rpc.EntityID
	pos  rpc.Vector3 // last position sent

	mu     sync.Mutex
	events []client.Event
	done   chan struct{}
	nsync  int
}

// join connects a client, waits until its player is in the world, names
// it and waits until the name is set.
func join(t *testing.T, h *hub, addr, name string, kcp bool) *player {
	t.Helper()
	c, err := client.Dial(addr, client.Options{KCP: kcp})
	if err != nil {
		t.Fatal(err)
	}
	return enter(t, h, c, name)
}

// enter is join with the client connected already.
func enter(t *testing.T, h *hub, c *client.Client, name string) *player {
	t.Helper()
	p := &player{t: t, name: name, c: c, hub: h, done: make(chan struct{})}
	go p.pump()
	t.Cleanup(func() {
		c.Close()
		<-p.done
	})
	h.waitUntil(t, name+" in the world", func() bool {
		sp, typ := c.Space()
		_, ok := c.Player()
		return sp != "" && typ == demo.ZoneService && ok
	})
	pl, _ := c.Player()
	p.id, p.pos = pl.ID, pl.Pos
	if pl.Type != "Player" {
		t.Fatalf("%s: player entity of type %q", name, pl.Type)
	}
	if err := c.CallPlayer("SetName", name); err != nil {
		t.Fatal(err)
	}
	h.waitUntil(t, name+" named", func() bool {
		pl, ok := c.Player()
		return ok && pl.Attrs["name"] == name
	})
	return p
}

func (p *player) pump() {
	defer close(p.done)
	for ev := range p.c.Events() {
		p.mu.Lock()
		p.events = append(p.events, ev)
		p.mu.Unlock()
		p.hub.notify()
	}
}

// mark returns the number of events received so far, for since.
func (p *player) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// since returns the events received after mark m.
func (p *player) since(m int) []client.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events[m:])
}

// move sends a new position for the player.
func (p *player) move(x, z float32) {
	p.t.Helper()
	p.pos = rpc.Vector3{X: x, Y: 1, Z: z}
	if err := p.c.MovePlayer(p.pos, x/1000); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// sync waits until the server has handled everything this client sent
// so far: a Say travels the same path as positions (gate, dispatcher,
// game, in order), and the game answers it on the client's own entity.
func (p *player) sync() {
	p.t.Helper()
	p.nsync++
	token := fmt.Sprintf("sync %s %d", p.name, p.nsync)
	m := p.mark()
	if err := p.c.CallPlayer("Say", token); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	p.await("its own "+token, m, func(ev client.Event) bool {
		c, ok := ev.(client.Call)
		return ok && c.Method == "OnSay" && c.EntityID == p.id && len(c.Args) == 3 && c.Args[2] == token
	})
}

// await waits for an event after mark m that match accepts, and returns it.
func (p *player) await(what string, m int, match func(client.Event) bool) client.Event {
	p.t.Helper()
	var found client.Event
	p.hub.waitUntil(p.t, p.name+" to receive "+what, func() bool {
		for _, ev := range p.since(m) {
			if d, ok := ev.(client.Disconnected); ok {
				p.t.Fatalf("%s disconnected waiting for %s: %s", p.name, what, d.Reason)
			}
			if match(ev) {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

// sees reports whether p's view holds q.
func (p *player) sees(q *player) bool {
	_, ok := p.c.Entity(q.id)
	return ok
}

func created(id rpc.EntityID) func(client.Event) bool {
	return func(ev client.Event) bool {
		c, ok := ev.(client.EntityCreated)
		return ok && c.ID == id
	}
}

func destroyed(id rpc.EntityID) func(client.Event) bool {
	return func(ev client.Event) bool {
		d, ok := ev.(client.EntityDestroyed)
		return ok && d.ID == id
	}
}

// movedTo matches a position update of id to pos (and yaw, if yaw is not nil).
func movedTo(id rpc.EntityID, pos rpc.Vector3, yaw *float32) func(client.Event) bool {
	return func(ev client.Event) bool {
		m, ok := ev.(client.Moved)
		if !ok {
			return false
		}
		for _, u := range m.Updates {
			if u.ID == id && u.Pos == pos && (yaw == nil || u.Yaw == *yaw) {
				return true
			}
		}
		return false
	}
}

// checkCreated checks that ev shows q with its name and last position.
func checkCreated(t *testing.T, viewer *player, ev client.Event, q *player) {
	t.Helper()
	c := ev.(client.EntityCreated)
	if c.Type != "Player" || c.IsPlayer || c.Attrs["name"] != q.name || c.Pos != q.pos {
		t.Fatalf("%s was shown %s as %+v, want a Player named %q at %v", viewer.name, q.name, c.Entity, q.name, q.pos)
	}
}

func TestAOI(t *testing.T) {
	addr := startCluster(t)
	for _, kcp := range []bool{false, true} {
		name := "tcp"
		if kcp {
			name = "kcp"
		}
		t.Run(name+"/NearFarAndBack", func(t *testing.T) { testNearFarAndBack(t, addr, kcp) })
	}
	t.Run("Boundary", func(t *testing.T) { testBoundary(t, addr) })
	t.Run("MovesReachOthers", func(t *testing.T) { testMovesReachOthers(t, addr) })
	t.Run("CannotMoveOthers", func(t *testing.T) { testCannotMoveOthers(t, addr) })
	t.Run("Bots", func(t *testing.T) { testBots(t, addr) })
}

var doneLine = regexp.MustCompile(`(?m)^done t=\s*[\d.]+s bots_in_world=(\d+)/(\d+) avg_seen=[\d.]+ creates=\d+ destroys=\d+ moves=\d+ travels=(\d+)$`)

// reportLine matches the bots' once-a-second report. A 2 s run prints one
// or two: its second tick and its end fall due together, and either may
// be taken first.
var reportLine = regexp.MustCompile(`(?m)^t=\s*[\d.]+s bots_in_world=\d+/\d+ avg_seen=`)

// testBots runs the bots binary for a short while: it connects, walks,
// travels between zones, reports once a second and stops by itself.
func testBots(t *testing.T, addr string) {
	runBots(t, addr, 8)
}

// runBots runs n bots for 2 s, travelling about every 500 ms, and checks
// that they all ended in a zone, none lost its connection, and travels
// ended where they were asked to go.
func runBots(t *testing.T, addr string, n int) {
	t.Helper()
	start := time.Now()
	out, errOut, code := runCmd(t, filepath.Join(binDir, "bots"), "-gate", addr, "-bots", strconv.Itoa(n), "-duration", "2s", "-rate", "20", "-travel", "500ms", "-kcp")
	if code != 0 {
		t.Fatalf("bots: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	m := doneLine.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(n) || m[2] != strconv.Itoa(n) || m[3] == "0" || len(reportLine.FindAllString(out, -1)) == 0 {
		t.Fatalf("bots output:\n%s", out)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("bots ran for %v with -duration 2s", d)
	}
	t.Log(strings.TrimSpace(out))
}

// testNearFarAndBack: two players apart do not see each other; near, they
// see each other, named and where they are; one walks away and is gone
// from the other's view, jumps back and is seen again. Talking reaches
// the players near only. With kcp, alice connects over KCP.
func testNearFarAndBack(t *testing.T, addr string, kcp bool) {
	h := newHub()
	alice := join(t, h, addr, "alice", kcp)
	bob := join(t, h, addr, "bob", false)
	carol := join(t, h, addr, "carol", false)
	const y = 100 // alice and bob stay on this row
	alice.move(100, y)
	bob.move(900, y)
	carol.move(500, 900)
	alice.sync()
	carol.sync()
	bob.sync()
	h.waitUntil(t, "alice and bob apart", func() bool { return !alice.sees(bob) && !bob.sees(alice) })

	ma, mb := alice.mark(), bob.mark()
	bob.move(150, y)
	checkCreated(t, bob, bob.await("alice's creation", mb, created(alice.id)), alice)
	checkCreated(t, alice, alice.await("bob's creation", ma, created(bob.id)), bob)
	if carol.sees(alice) || carol.sees(bob) || alice.sees(carol) {
		t.Fatal("carol, far away, sees alice or bob, or is seen")
	}

	// Talking: bob hears alice, carol (far) does not.
	mc := carol.mark()
	if err := alice.c.CallPlayer("Say", "hello bob"); err != nil {
		t.Fatal(err)
	}
	heard := bob.await("alice's hello", mb, func(ev client.Event) bool {
		c, ok := ev.(client.Call)
		return ok && c.Method == "OnSay" && len(c.Args) == 3 && c.Args[2] == "hello bob"
	}).(client.Call)
	if heard.EntityID != bob.id || heard.Args[0] != string(alice.id) || heard.Args[1] != "alice" {
		t.Fatalf("bob heard %+v", heard)
	}
	// Alice's Say has run (bob heard it) before carol's, and the game sends
	// to one gate in order: had carol been sent the hello, she would get it
	// before her own message.
	carol.sync()
	for _, ev := range carol.since(mc) {
		if c, ok := ev.(client.Call); ok && len(c.Args) == 3 && c.Args[2] == "hello bob" {
			t.Fatal("carol, far away, heard alice")
		}
	}

	// An emote is a call on alice's entity at the clients that show her:
	// bob's; not her own (CallOtherNearbyClients), nor carol's, far away.
	ma, mb, mc = alice.mark(), bob.mark(), carol.mark()
	if err := alice.c.CallPlayer("Emote", "wave"); err != nil {
		t.Fatal(err)
	}
	isEmote := func(ev client.Event) bool {
		c, ok := ev.(client.Call)
		return ok && c.Method == "OnEmote"
	}
	wave := bob.await("alice's wave", mb, isEmote).(client.Call)
	if wave.EntityID != alice.id || wave.Broadcast || len(wave.Args) != 1 || wave.Args[0] != "wave" {
		t.Fatalf("bob saw %+v", wave)
	}
	// The emote has run (bob saw it) before alice's and carol's syncs.
	alice.sync()
	carol.sync()
	for _, p := range []struct {
		who  *player
		mark int
	}{{alice, ma}, {carol, mc}} {
		if slices.ContainsFunc(p.who.since(p.mark), isEmote) {
			t.Fatalf("%s was sent alice's emote", p.who.name)
		}
	}

	// One emote per 250 ms a player: of five sent at once, bob sees at
	// most one per 250 ms that passed (one in all, unless the machine
	// stalled), and alice is told of each one refused.
	ma, mb = alice.mark(), bob.mark()
	start := time.Now()
	for range 5 {
		if err := alice.c.CallPlayer("Emote", "dance"); err != nil {
			t.Fatal(err)
		}
	}
	alice.sync() // her emotes ran before her sync: their errors came first
	bob.sync()   // and before bob's: what they sent him came first
	elapsed := time.Since(start)
	count := func(evs []client.Event, method, arg string) int {
		n := 0
		for _, ev := range evs {
			if c, ok := ev.(client.Call); ok && c.Method == method && len(c.Args) == 1 && c.Args[0] == arg {
				n++
			}
		}
		return n
	}
	shown, refused := count(bob.since(mb), "OnEmote", "dance"), count(alice.since(ma), "OnError", "one emote at a time")
	if shown+refused != 5 || shown > 1+int(elapsed/(250*time.Millisecond)) {
		t.Fatalf("of 5 emotes within %v, bob was shown %d and alice told of %d refused", elapsed, shown, refused)
	}

	// A new name reaches the players who see her.
	alice.name = "alice2"
	if err := alice.c.CallPlayer("SetName", alice.name); err != nil {
		t.Fatal(err)
	}
	h.waitUntil(t, "bob to see alice's new name", func() bool {
		e, ok := bob.c.Entity(alice.id)
		return ok && e.Attrs["name"] == alice.name
	})

	// Alice walks away in steps: bob loses her from his view, she loses him.
	ma, mb = alice.mark(), bob.mark()
	for x := float32(110); x <= 400; x += 10 {
		alice.move(x, y)
	}
	bob.await("alice's destruction", mb, destroyed(alice.id))
	alice.await("bob's destruction", ma, destroyed(bob.id))
	alice.sync()
	if alice.sees(bob) || bob.sees(alice) {
		t.Fatal("alice and bob still see each other, 250 apart")
	}

	// One jump back: seen again, where she landed.
	ma, mb = alice.mark(), bob.mark()
	alice.move(120, y)
	checkCreated(t, bob, bob.await("alice's creation after her return", mb, created(alice.id)), alice)
	checkCreated(t, alice, alice.await("bob's creation after her return", ma, created(bob.id)), bob)
	for _, ev := range bob.since(mb) {
		if d, ok := ev.(client.EntityDestroyed); ok {
			t.Fatalf("bob was told to destroy %s", d.ID)
		}
	}

	// Carol comes near, then leaves the game: bob is told she is gone.
	mb = bob.mark()
	carol.move(150, y+50)
	bob.await("carol's creation", mb, created(carol.id))
	if err := carol.c.Close(); err != nil {
		t.Fatal(err)
	}
	bob.await("carol's destruction after she left", mb, destroyed(carol.id))
	alice.await("carol's destruction after she left", ma, destroyed(carol.id))
}

// testBoundary: a player exactly demo.AOIRadius away is seen; a little more,
// and it is not.
func testBoundary(t *testing.T, addr string) {
	h := newHub()
	p := join(t, h, addr, "p", false)
	q := join(t, h, addr, "q", false)
	p.move(500, 500)
	q.move(560, 580) // 60² + 80² = 100²
	p.sync()
	q.sync()
	h.waitUntil(t, "p and q, 100 apart, to see each other", func() bool { return p.sees(q) && q.sees(p) })
	mp, mq := p.mark(), q.mark()
	q.move(560, 580.01)
	p.await("q's destruction, 100.01 away", mp, destroyed(q.id))
	q.await("p's destruction, 100.01 away", mq, destroyed(p.id))
	mp = p.mark()
	q.move(560, 580)
	p.await("q's creation, 100 away again", mp, created(q.id))
}

// testMovesReachOthers: the positions a player sends reach a player who
// sees it, and its view ends where the mover stopped.
func testMovesReachOthers(t *testing.T, addr string) {
	h := newHub()
	mover := join(t, h, addr, "mover", false)
	watcher := join(t, h, addr, "watcher", true)
	mover.move(300, 500)
	watcher.move(320, 520)
	mover.sync()
	watcher.sync()
	h.waitUntil(t, "watcher to see mover", func() bool { return watcher.sees(mover) })

	m := watcher.mark()
	sent := map[rpc.Vector3]bool{}
	for i := range 100 {
		mover.move(300+float32(i)*0.5, 500-float32(i)*0.25)
		sent[mover.pos] = true
		if i%10 == 9 {
			// Every ten moves, the watcher's view catches up with the
			// last one (at the next position sync).
			last := mover.pos
			h.waitUntil(t, fmt.Sprintf("watcher's view of mover to reach move %d", i), func() bool {
				e, ok := watcher.c.Entity(mover.id)
				return ok && e.Pos == last && e.Yaw == last.X/1000
			})
		}
	}
	// A change of height and heading only, at the same spot, reaches it
	// too. Awaiting the event, not the view, makes sure that every event
	// before it has been recorded for the checks below.
	mover.pos.Y = 7
	yaw := float32(2)
	if err := mover.c.MovePlayer(mover.pos, yaw); err != nil {
		t.Fatal(err)
	}
	watcher.await("mover's new height and heading", m, movedTo(mover.id, mover.pos, &yaw))
	if e, _ := watcher.c.Entity(mover.id); e.Pos != mover.pos || e.Yaw != yaw {
		t.Fatalf("watcher's view of mover: %v yaw %v, want %v yaw %v", e.Pos, e.Yaw, mover.pos, yaw)
	}
	updates := 0
	for _, ev := range watcher.since(m) {
		switch ev := ev.(type) {
		case client.Moved:
			for _, u := range ev.Updates {
				if u.ID != mover.id {
					continue
				}
				updates++
				if u.Pos == mover.pos && u.Yaw == 2 {
					continue
				}
				if !sent[u.Pos] || u.Yaw != u.Pos.X/1000 {
					t.Fatalf("watcher was sent position %v yaw %v, which mover never sent", u.Pos, u.Yaw)
				}
			}
		case client.EntityDestroyed:
			t.Fatalf("watcher was told to destroy %s", ev.ID)
		}
	}
	if updates < 10 {
		t.Fatalf("watcher got %d position updates of mover, over at least ten position syncs", updates)
	}
	t.Logf("100 moves reached the watcher as %d position updates", updates)
}

// testCannotMoveOthers: a client that sends a position for another
// player's entity changes nothing and is not disconnected for it.
func testCannotMoveOthers(t *testing.T, addr string) {
	h := newHub()
	cheat := join(t, h, addr, "cheat", false)
	victim := join(t, h, addr, "victim", false)
	third := join(t, h, addr, "third", false)
	victim.move(700, 700)
	third.move(750, 700)
	cheat.move(720, 720)
	victim.sync()
	third.sync()
	cheat.sync()
	h.waitUntil(t, "third to see victim where it is", func() bool {
		e, ok := third.c.Entity(victim.id)
		return ok && e.Pos == victim.pos
	})

	m := third.mark()
	mc := cheat.mark()
	space, _ := cheat.c.Space()
	far := rpc.Vector3{X: 10, Y: 0, Z: 10}
	for _, target := range []rpc.EntityID{victim.id, third.id} {
		b := rpc.AppendEntityID(nil, target)
		b = rpc.AppendEntityID(b, space)
		b = rpc.AppendPosition(b, far, 0)
		if err := cheat.c.SendRaw(rpc.MsgSyncPosition, b); err != nil {
			t.Fatal(err)
		}
	}
	// Its own entity, but in a space it is not in (the victim is no space).
	b := rpc.AppendEntityID(nil, cheat.id)
	b = rpc.AppendEntityID(b, victim.id)
	b = rpc.AppendPosition(b, far, 0)
	if err := cheat.c.SendRaw(rpc.MsgSyncPosition, b); err != nil {
		t.Fatal(err)
	}
	cheat.sync() // the forged positions have been handled, and cheat is still connected
	// Had the victim been moved far away, third would have been told to
	// destroy it at once; a legitimate move of the victim, made after,
	// shows that third has heard everything about it up to then.
	victim.move(701, 701)
	third.await("victim's own move", m, movedTo(victim.id, victim.pos, nil))
	if e, ok := third.c.Entity(victim.id); !ok || e.Pos != victim.pos {
		t.Fatalf("third's view of victim: %+v, want it at %v", e, victim.pos)
	}
	for _, ev := range third.since(m) {
		switch ev := ev.(type) {
		case client.EntityDestroyed:
			t.Fatalf("third was told to destroy %s", ev.ID)
		case client.Moved:
			for _, u := range ev.Updates {
				if u.Pos == far {
					t.Fatalf("third was sent the forged position for %s", u.ID)
				}
			}
		case client.SpaceEntered:
			t.Fatalf("third was moved to space %q", ev.ID)
		}
	}
	if e, _ := third.c.Player(); e.Pos != third.pos {
		t.Fatalf("third's own position is %v, want %v", e.Pos, third.pos)
	}
	for _, ev := range cheat.since(mc) {
		if d, ok := ev.(client.Disconnected); ok {
			t.Fatalf("cheat was disconnected: %s", d.Reason)
		}
	}
	// The cheat can still play.
	cheat.move(710, 710)
	third.await("cheat's own move", m, movedTo(cheat.id, cheat.pos, nil))
}

// TestViewsMatchPositions: many clients make many random moves at once;
// once the server has handled them all, every client's view is exactly
// the players within the AOI radius of it, at their last positions, and
// the creates and destroys each client got were consistent all along.
// A client is sent at most 4 creates and position updates per position
// sync here, so that many of them have to wait their turn.
func TestViewsMatchPositions(t *testing.T) {
	addr, _ := startClusterDir(t, "aoi_sync_limit = 4")
	h := newHub()
	const (
		clients = 10
		moves   = 200
		area    = 300 // moves stay in [0, area) on x and z: crowded enough to see each other
	)
	ps := make([]*player, clients)
	for i := range ps {
		ps[i] = join(t, h, addr, fmt.Sprintf("p%d", i), i == 0)
	}
	marks := make([]int, clients)
	for i, p := range ps {
		p.move(float32(i*area/clients), 0)
		p.sync()
		marks[i] = p.mark()
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("random moves from seed %d", seed)
	var wg sync.WaitGroup
	final := make([]rpc.Vector3, clients)
	errs := make(chan error, clients)
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			pos := p.pos
			// Paced, so that the moves span some 20 position syncs; the
			// ticker only spreads the load, nothing waits on it.
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for range moves {
				<-tick.C
				if r.IntN(5) == 0 { // a jump
					pos.X, pos.Z = r.Float32()*area, r.Float32()*area
				} else { // a step
					pos.X = min(max(pos.X+(r.Float32()-0.5)*40, 0), area)
					pos.Z = min(max(pos.Z+(r.Float32()-0.5)*40, 0), area)
				}
				if err := p.c.MovePlayer(pos, 0); err != nil {
					errs <- err
					return
				}
			}
			final[i] = pos
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, p := range ps {
		p.pos = final[i]
		p.sync()
	}

	// expected[i]: the players p_i sees, by the AOI's own rule (package
	// aoi): dx*dx + dz*dz <= r*r in float64.
	expected := make([]map[rpc.EntityID]rpc.Vector3, clients)
	for i, p := range ps {
		expected[i] = map[rpc.EntityID]rpc.Vector3{}
		for j, q := range ps {
			dx := float64(q.pos.X) - float64(p.pos.X)
			dz := float64(q.pos.Z) - float64(p.pos.Z)
			if i != j && float64(dx*dx)+float64(dz*dz) <= demo.AOIRadius*demo.AOIRadius {
				expected[i][q.id] = q.pos
			}
		}
	}
	views := func(i int) map[rpc.EntityID]rpc.Vector3 {
		v := map[rpc.EntityID]rpc.Vector3{}
		for _, e := range ps[i].c.Entities() {
			if e.ID != ps[i].id {
				v[e.ID] = e.Pos
			}
		}
		return v
	}
	match := func() bool {
		for i := range ps {
			if !mapsEqual(views(i), expected[i]) {
				return false
			}
		}
		return true
	}
	if !h.wait(match) {
		for i, p := range ps {
			if v := views(i); !mapsEqual(v, expected[i]) {
				t.Errorf("%s at %v: view %v, want %v", p.name, p.pos, names(ps, v), names(ps, expected[i]))
			}
		}
		t.Fatalf("views did not match the final positions after %v", waitTimeout)
	}

	// The event streams: never a create of what the view holds, nor a
	// destroy or a position of what it does not; replayed, they give the
	// view. (The view is updated before its event is delivered: wait for
	// the events to catch up.)
	total := 0
	for i, p := range ps {
		var creates int
		var view map[rpc.EntityID]bool
		replay := func() bool {
			var err error
			view, creates, err = replayEvents(p, marks[i])
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if len(view) != len(expected[i]) {
				return false
			}
			for id := range expected[i] {
				if !view[id] {
					return false
				}
			}
			return true
		}
		if !h.wait(replay) {
			t.Fatalf("%s: replayed events hold %v, the view holds %v", p.name, view, names(ps, expected[i]))
		}
		total += creates
	}
	t.Logf("%d clients × %d moves: %d creates; final views hold %d entities in all", clients, moves, total, sumLen(expected))
}

// replayEvents replays p's events: those before mark m loosely (they
// include the player's own creation and the first views), those after it
// strictly. It returns the entities other than the player that the events
// leave in the view, and the number of creates after m; or what was wrong.
func replayEvents(p *player, m int) (map[rpc.EntityID]bool, int, error) {
	p.mu.Lock()
	evs := slices.Clone(p.events)
	p.mu.Unlock()
	view := map[rpc.EntityID]bool{}
	creates := 0
	for i, ev := range evs {
		strict := i >= m
		switch ev := ev.(type) {
		case client.EntityCreated:
			if strict && view[ev.ID] {
				return nil, 0, fmt.Errorf("created %s twice", ev.ID)
			}
			if strict {
				creates++
			}
			view[ev.ID] = true
		case client.EntityDestroyed:
			if strict && !view[ev.ID] {
				return nil, 0, fmt.Errorf("destroyed %s, which it did not hold", ev.ID)
			}
			delete(view, ev.ID)
		case client.Moved:
			for _, u := range ev.Updates {
				if strict && !view[u.ID] {
					return nil, 0, fmt.Errorf("position of %s, which it does not hold", u.ID)
				}
			}
		case client.SpaceEntered, client.Disconnected:
			if strict {
				return nil, 0, fmt.Errorf("unexpected %T %+v", ev, ev)
			}
		}
	}
	delete(view, p.id)
	return view, creates, nil
}

func mapsEqual(a, b map[rpc.EntityID]rpc.Vector3) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func names(ps []*player, v map[rpc.EntityID]rpc.Vector3) []string {
	var out []string
	for id, pos := range v {
		n := string(id)
		for _, p := range ps {
			if p.id == id {
				n = p.name
			}
		}
		out = append(out, fmt.Sprintf("%s@%v", n, pos))
	}
	sort.Strings(out)
	return out
}

func sumLen(ms []map[rpc.EntityID]rpc.Vector3) int {
	n := 0
	for _, m := range ms {
		n += len(m)
	}
	return n
}

// TestViewsSurviveReload: a hot reload of the game (goworldctl reload)
// keeps the world, the players and what their clients see: nothing is
// destroyed or recreated, moves flow again afterwards, and a player who
// connects after it enters the same world.
func TestViewsSurviveReload(t *testing.T) {
	addr, dir := startClusterDir(t, "")
	ctl, _ := binaries(t)
	h := newHub()
	a := join(t, h, addr, "a", false)
	b := join(t, h, addr, "b", true)
	a.move(400, 400)
	b.move(450, 400)
	a.sync()
	b.sync()
	h.waitUntil(t, "a and b to see each other", func() bool { return a.sees(b) && b.sees(a) })
	ma, mb := a.mark(), b.mark()
	before := map[*player]int{a: ma, b: mb}
	space, _ := a.c.Space()

	out, errOut, code := runCmd(t, ctl, "reload", "-no-build", dir)
	if code != 0 || !strings.Contains(out, "reloaded game1") {
		t.Fatalf("goworldctl reload: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Log(strings.TrimSpace(out))

	// Moves reach the other side again, both ways.
	a.move(410, 410)
	b.await("a's move after the reload", mb, movedTo(a.id, a.pos, nil))
	b.move(440, 410)
	a.await("b's move after the reload", ma, movedTo(b.id, b.pos, nil))

	// A newcomer enters the same world and is seen, with its name, where
	// it went. It enters at a random spot, which may be in b's view (b is
	// then shown it at once, with the name it had then): what b sees in
	// the end is checked, not b's first sight of it.
	c := join(t, h, addr, "c", false)
	if sp, _ := c.c.Space(); sp != space {
		t.Fatalf("after the reload, c entered space %s, not %s", sp, space)
	}
	c.move(420, 420)
	h.waitUntil(t, "b to see c, named, where it went", func() bool {
		e, ok := b.c.Entity(c.id)
		return ok && e.Type == "Player" && !e.IsPlayer && e.Attrs["name"] == c.name && e.Pos == c.pos
	})

	for p, m := range before {
		for _, ev := range p.since(m) {
			switch ev := ev.(type) {
			case client.EntityDestroyed:
				t.Fatalf("%s was told to destroy %s", p.name, ev.ID)
			case client.Disconnected:
				t.Fatalf("%s was disconnected: %s", p.name, ev.Reason)
			case client.SpaceEntered:
				if ev.ID != space {
					t.Fatalf("%s was moved to space %q", p.name, ev.ID)
				}
			}
		}
	}
}
