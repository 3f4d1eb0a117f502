package main

// Faults with real processes: the demo cluster started by goworldctl, a
// process killed with SIGKILL (by the PID goworldctl status reports, which
// it checks against the lock the process holds on its PID file: never a PID
// read from an unchecked file, never by name), then started again with
// goworldctl start -down. Clients are the real client package.

import (
	"context"
	"fmt"
	"io"
	"net"
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
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/sirupsen/logrus"
)

// faultConfig is one dispatcher (on a fixed port, so that it can be
// started again where games and gates redial), one game (bbolt allows one)
// logging at debug level (its save lines), and two gates.
const faultConfig = `
[dispatcher1]
listen_addr = %s
[game_common]
boot_entity = Account
save_interval = 1s
[game1]
log_level = debug
[gate_common]
heartbeat_timeout = 10s
[gate1]
listen_addr = 127.0.0.1:0
[gate2]
listen_addr = 127.0.0.1:0
[storage]
path = chat.db
`

// freePort returns a 127.0.0.1 address with a port the kernel picked and
// released again: the dispatcher must keep its port across a restart, so
// it cannot use port 0 itself.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// faultCluster is a cluster started by goworldctl for a fault test.
type faultCluster struct {
	t        *testing.T
	ctl, dir string
}

func startFaultCluster(t *testing.T) *faultCluster {
	t.Helper()
	ctl, server, _ := binaries(t)
	dir := serverDir(t, server)
	writeConfig(t, dir, fmt.Sprintf(faultConfig, freePort(t)))
	fc := &faultCluster{t: t, ctl: ctl, dir: dir}
	t.Cleanup(func() { run(t, repoRoot, ctl, "kill", dir) })
	out := ctlCmd(t, ctl, "start", "-no-build", dir)
	for _, name := range []string{"dispatcher1", "game1", "gate1", "gate2"} {
		if !strings.Contains(out, "started "+name+" pid=") {
			t.Fatalf("start did not report %s:\n%s", name, out)
		}
	}
	return fc
}

var statusRE = regexp.MustCompile(`(?m)^(\w+) running pid=(\d+)(?: addr=(\S+))?(?: ws=\S+)?$`)

type procStatus struct {
	pid  int
	addr string
}

// status returns the running processes as goworldctl status reports them:
// it prints a PID only while that process holds its PID file's lock.
func (fc *faultCluster) status() map[string]procStatus {
	fc.t.Helper()
	r := run(fc.t, repoRoot, fc.ctl, "status", fc.dir)
	m := map[string]procStatus{}
	for _, l := range statusRE.FindAllStringSubmatch(r.out, -1) {
		pid, _ := strconv.Atoi(l[2])
		m[l[1]] = procStatus{pid, l[3]}
	}
	return m
}

// kill9 sends SIGKILL to the process name, by the PID goworldctl status
// reports, and waits until it is gone.
func (fc *faultCluster) kill9(name string) {
	fc.t.Helper()
	pid := fc.status()[name].pid
	if pid <= 1 || pid == os.Getpid() {
		fc.t.Fatalf("%s: no sensible pid from goworldctl status (%d)", name, pid)
	}
	if err := signalPID(pid, syscall.SIGKILL); err != nil {
		fc.t.Fatalf("kill -9 %s (pid %d): %v", name, pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			fc.t.Fatalf("%s (pid %d) still alive 10s after SIGKILL", name, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The main thread can be a zombie while the process's other threads
	// still exit and hold its files, the PID file's lock among them:
	// wait until goworldctl no longer sees it running, as start -down
	// must not.
	for {
		if _, running := fc.status()[name]; !running {
			return
		}
		if time.Now().After(deadline) {
			fc.t.Fatalf("%s (pid %d) still holds its PID file's lock 10s after SIGKILL", name, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restart starts what is down with goworldctl start -down and checks that
// it started exactly name.
func (fc *faultCluster) restart(name string) {
	fc.t.Helper()
	out := ctlCmd(fc.t, fc.ctl, "start", "-down", "-no-build", fc.dir)
	if n := strings.Count(out, "started "); n != 1 || !strings.Contains(out, "started "+name+" pid=") {
		fc.t.Fatalf("start -down should have started %s only:\n%s", name, out)
	}
	if st := fc.status(); len(st) != 4 {
		fc.t.Fatalf("after start -down, %d of 4 processes run: %v", len(st), st)
	}
}

func (fc *faultCluster) gate(name string) string {
	fc.t.Helper()
	addr := fc.status()[name].addr
	if addr == "" {
		fc.t.Fatalf("%s is not running", name)
	}
	return addr
}

// countLog counts the lines of process name's log that contain s.
func (fc *faultCluster) countLog(name, s string) int {
	data, _ := os.ReadFile(filepath.Join(fc.dir, "log", name+".log"))
	return strings.Count(string(data), s)
}

// awaitSaved waits until the game has completed a periodic save that began
// after everything the game did before this call: "saving" and "saved"
// lines pair up in order, and any "saving" line not yet written belongs to
// a save that has not begun.
func (fc *faultCluster) awaitSaved() {
	fc.t.Helper()
	begun := fc.countLog("game1", "saving ")
	deadline := time.Now().Add(15 * time.Second)
	for fc.countLog("game1", "saved ") <= begun {
		if time.Now().After(deadline) {
			fc.t.Fatalf("no save completed within 15s (save_interval is 1s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitDisconnect skips events until the client is disconnected and
// returns the reason.
func (ch *chatter) awaitDisconnect() string {
	ch.t.Helper()
	for {
		if d, ok := ch.next().(client.Disconnected); ok {
			return d.Reason
		}
	}
}

// TestGameKilledClientsToldAvatarsComeBackFromLastSave kills the game
// process with SIGKILL: its clients get a reason that says so, the
// dispatcher and gates carry on, and once the game is started again a
// player logs in to the state of the last save.
func TestGameKilledClientsToldAvatarsComeBackFromLastSave(t *testing.T) {
	fc := startFaultCluster(t)
	before := fc.status()
	alice := dial(t, fc.gate("gate1"), "alice", false)
	bob := dial(t, fc.gate("gate2"), "bob", true)
	alice.register("secret", "garden")
	bob.register("pw", "lobby")
	alice.say("one")
	alice.expectChat("[garden] alice: one")
	alice.say("two")
	alice.expectChat("[garden] alice: two")
	fc.awaitSaved() // said = 2, room = garden are on disk

	fc.kill9("game1")
	for _, ch := range []*chatter{alice, bob} {
		if r := ch.awaitDisconnect(); !strings.Contains(r, "the game hosting your entity stopped") {
			t.Fatalf("%s disconnected with %q", ch.name, r)
		}
	}
	after := fc.status()
	for _, name := range []string{"dispatcher1", "gate1", "gate2"} {
		if after[name].pid != before[name].pid {
			t.Fatalf("%s: pid %d before, %d after the game was killed", name, before[name].pid, after[name].pid)
		}
	}
	if _, ok := after["game1"]; ok {
		t.Fatal("game1 still listed as running")
	}

	fc.restart("game1")
	again := dial(t, fc.gate("gate1"), "alice", false)
	again.login("secret", "garden")
	p, _ := again.c.Player()
	if p.Type != "Avatar" || p.Attrs["said"] != int64(2) || p.Attrs["room"] != "garden" {
		t.Fatalf("alice's avatar after the restart: %s %v, want said=2 room=garden", p.Type, p.Attrs)
	}
	bob = dial(t, fc.gate("gate2"), "bob", false)
	bob.login("pw", "garden")
	again.say("three")
	again.expectChat("[garden] alice: three")
	bob.expectChat("[garden] alice: three")
}

// expectLeft waits for the room's notice that name left.
func (ch *chatter) expectLeft(room, name string) {
	ch.t.Helper()
	if got := ch.expectCall("OnLeft"); fmt.Sprint(got...) != room+name {
		ch.t.Fatalf("%s: OnLeft%v, want [%s %s]", ch.name, got, room, name)
	}
}

// TestGateKilledEntitiesLoseTheirClients kills a gate with SIGKILL: the
// avatars of its clients get OnClientDisconnected (their room, on the
// other gate, is told they left), the other gate's clients carry on, and
// the gate, started again, serves new clients.
func TestGateKilledEntitiesLoseTheirClients(t *testing.T) {
	fc := startFaultCluster(t)
	alice := dial(t, fc.gate("gate1"), "alice", false)
	// Over KCP a dead gate sends nothing, not even a close: carol notices
	// by the silence, within 4 heartbeat intervals.
	cc, err := client.Dial(fc.gate("gate1"), client.Options{KCP: true, HeartbeatInterval: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	carol := &chatter{t: t, name: "carol", c: cc}
	bob := dial(t, fc.gate("gate2"), "bob", false)
	alice.register("secret", "lobby")
	carol.register("pw", "lobby")
	bob.register("hunter2", "lobby")
	alice.say("hi")
	bob.expectChat("[lobby] alice: hi")

	fc.kill9("gate1")
	t.Logf("alice (TCP): %s; carol (KCP): %s", alice.awaitDisconnect(), carol.awaitDisconnect())
	left := map[string]bool{}
	for range 2 {
		args := bob.expectCall("OnLeft")
		left[fmt.Sprint(args...)] = true
	}
	if !left["lobbyalice"] || !left["lobbycarol"] {
		t.Fatalf("bob saw %v leave, want alice and carol", left)
	}
	bob.say("still here")
	bob.expectChat("[lobby] bob: still here")

	fc.restart("gate1")
	again := dial(t, fc.gate("gate1"), "alice", true)
	again.login("secret", "lobby")
	if p, _ := again.c.Player(); p.Attrs["said"] != int64(1) {
		t.Fatalf("alice's avatar after her gate crashed: %v, want said=1 (saved when it lost its client)", p.Attrs)
	}
	again.say("back")
	again.expectChat("[lobby] alice: back")
	bob.expectChat("[lobby] alice: back")
}

// TestOtherGameCarriesOnWhenAGameStops has two games, which bbolt allows
// only in one process (each game its own file): internal/testkit/cluster, real
// sockets. When game 2 stops, the players whose avatars it hosted are told
// so, and the others chat on.
func TestOtherGameCarriesOnWhenAGameStops(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", KCP: true,
		StorageDir: t.TempDir(), Games: 2})
	var users []*chatter
	for i := range 6 {
		u := dial(t, c.GateAddr(0), fmt.Sprintf("user%d", i), i%2 == 0)
		u.register("pw", "lobby")
		users = append(users, u)
	}
	// Which game hosts each avatar, asked on game 2's loop.
	onGame2 := make(chan map[string]bool, 1)
	c.Games[1].Post(func() {
		m := map[string]bool{}
		for _, u := range users {
			p, _ := u.c.Player()
			m[u.name] = c.Games[1].World().Entity(p.ID) != nil
		}
		onGame2 <- m
	})
	var hosted map[string]bool
	select {
	case hosted = <-onGame2:
	case <-time.After(waitFor):
		t.Fatal("game 2's loop did not answer")
	}
	c.Games[1].Close() // its connections drop, as when its process dies

	var gone, survivors []*chatter
	for _, u := range users {
		if hosted[u.name] {
			if r := u.awaitDisconnect(); !strings.Contains(r, "the game hosting your entity stopped (game2)") {
				t.Fatalf("%s disconnected with %q", u.name, r)
			}
			gone = append(gone, u)
		} else {
			survivors = append(survivors, u)
		}
	}
	t.Logf("game 2 hosted %d of the 6 avatars", len(gone))
	if len(gone) == 0 || len(survivors) == 0 {
		t.Fatalf("%d players lost, %d survived: both games should have hosted some", len(gone), len(survivors))
	}
	for _, from := range survivors {
		from.say("still here")
		for _, u := range survivors {
			u.expectChat("[lobby] " + from.name + ": still here")
		}
	}
}

// awaitLog waits until process name's log has a line containing s.
func (fc *faultCluster) awaitLog(name, s string) {
	fc.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for fc.countLog(name, s) == 0 {
		if time.Now().After(deadline) {
			fc.t.Fatalf("%s.log: no %q after 15s", name, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectAll waits for the chat lines and departures in want (as
// "[room] name: text" and "left room name"), in any order, each once, and
// fails on a disconnect or on any other chat line or departure.
func (ch *chatter) expectAll(want ...string) {
	ch.t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	for len(missing) > 0 {
		var got string
		switch ev := ch.next().(type) {
		case client.Disconnected:
			ch.t.Fatalf("%s disconnected waiting for %v: %s", ch.name, missing, ev.Reason)
		case client.Call:
			switch ev.Method {
			case "OnChat":
				got = fmt.Sprintf("[%v] %v: %v", ev.Args[0], ev.Args[1], ev.Args[2])
			case "OnLeft":
				got = fmt.Sprintf("left %v %v", ev.Args[0], ev.Args[1])
			default:
				continue
			}
			if !missing[got] {
				ch.t.Fatalf("%s: got %q waiting for %v", ch.name, got, missing)
			}
			delete(missing, got)
		}
	}
}

// TestDispatcherRestartClientsStayConnected kills the dispatcher with
// SIGKILL and starts it again on the same port: the gates and the game
// redial it by themselves, no client is disconnected, what the players
// said while it was down (and a player's departure meanwhile) reaches the
// room once it is back, and chat carries on.
func TestDispatcherRestartClientsStayConnected(t *testing.T) {
	fc := startFaultCluster(t)
	before := fc.status()
	alice := dial(t, fc.gate("gate1"), "alice", false)
	carol := dial(t, fc.gate("gate1"), "carol", false)
	bob := dial(t, fc.gate("gate2"), "bob", true)
	alice.register("secret", "lobby")
	carol.register("pw", "lobby")
	bob.register("hunter2", "lobby")
	alice.say("before")
	for _, u := range []*chatter{alice, bob, carol} {
		u.expectChat("[lobby] alice: before")
	}

	fc.kill9("dispatcher1")
	// Once the gates and the game know the dispatcher is gone, what they
	// send waits in their links' queues.
	for _, name := range []string{"gate1", "gate2", "game1"} {
		fc.awaitLog(name, "disconnected from dispatcher")
	}
	alice.say("while down 1")
	bob.say("while down 2")
	carol.c.Close()
	fc.restart("dispatcher1")

	// All of it arrives, once: the queues were sent to the new dispatcher,
	// which held what was for entities and gates not yet back.
	for _, u := range []*chatter{alice, bob} {
		u.expectAll("[lobby] alice: while down 1", "[lobby] bob: while down 2", "left lobby carol")
	}
	fc.awaitLog("dispatcher1", "this one restarted")
	for _, name := range []string{"gate1", "gate2"} {
		if fc.countLog(name, "queue sent") == 0 {
			t.Errorf("%s.log: no queue sent to the restarted dispatcher", name)
		}
	}
	// Calls resume, in order, with nothing more in between.
	alice.say("after 1")
	bob.say("after 2")
	for _, u := range []*chatter{alice, bob} {
		u.expectAll("[lobby] alice: after 1", "[lobby] bob: after 2")
	}
	// New clients work too, and no process but the dispatcher restarted.
	dave := dial(t, fc.gate("gate2"), "dave", false)
	dave.register("pw", "lobby")
	dave.say("hello")
	for _, u := range []*chatter{alice, bob, dave} {
		u.expectChat("[lobby] dave: hello")
	}
	after := fc.status()
	for _, name := range []string{"game1", "gate1", "gate2"} {
		if after[name].pid != before[name].pid {
			t.Fatalf("%s: pid %d before, %d after the dispatcher restart", name, before[name].pid, after[name].pid)
		}
	}
	if after["dispatcher1"].pid == before["dispatcher1"].pid {
		t.Fatal("dispatcher1 has the pid it had before it was killed")
	}
}

// TestOneOfTwoDispatchersRestarts has two dispatchers (internal/testkit/cluster,
// real sockets) and stops the second, as when its process dies, then
// starts a new one on its address. Meanwhile only its routes wait: players
// of gate 2 (routed by dispatcher 1) whose avatars are in dispatcher 1's
// shard chat on, and gate 1 (routed by dispatcher 2) gets what it missed
// once dispatcher 2 is back, with no client disconnected.
func TestOneOfTwoDispatchersRestarts(t *testing.T) {
	lw := &logWatch{}
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.SetLevel(logrus.WarnLevel)
	log.AddHook(lw)
	c, err := cluster.New(cluster.Options{Registry: registry(t), BootEntity: "Account",
		StorageDir: t.TempDir(), Dispatchers: 2, Gates: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var d2 *dispatcher.Dispatcher
	d2done := make(chan error, 1)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("cluster: %v", err)
		}
		if d2 != nil {
			d2.Close()
			<-d2done
		}
	})
	// gate1 (ID 1) is routed by dispatcher index 1, gate2 by index 0.
	listener := dial(t, c.GateAddr(0), "listener", false)
	listener.register("pw", "lobby")
	var talkers []*chatter
	for i := 0; len(talkers) < 2; i++ {
		if i == 16 {
			t.Fatal("16 players on gate 2, not two with an avatar in dispatcher 1's shard")
		}
		u := dial(t, c.GateAddr(1), fmt.Sprintf("user%d", i), false)
		u.register("pw", "lobby")
		if p, _ := u.c.Player(); p.ID.Shard(2) == 0 {
			talkers = append(talkers, u)
		} else {
			u.c.Close() // its departure goes through dispatcher 2, before it stops
			listener.expectAll(fmt.Sprintf("left lobby user%d", i))
		}
	}
	a, b := talkers[0], talkers[1]

	addr := c.Dispatchers[1].Addr().String()
	c.Dispatchers[1].Close()
	// Once the game and both gates know, what they send to it is queued.
	deadline := time.Now().Add(waitFor)
	for lw.count("disconnected from dispatcher", addr) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d of 3 links noticed dispatcher 2 was gone", waitFor, lw.count("disconnected from dispatcher", addr))
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.say("during")
	for _, u := range []*chatter{a, b} {
		u.expectChat("[lobby] " + a.name + ": during")
	}
	d2, err = dispatcher.New(dispatcher.Config{ID: 2, Index: 1, Count: 2, ListenAddr: addr, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	go func() { d2done <- d2.Run(context.Background()) }()
	listener.expectChat("[lobby] " + a.name + ": during")
	listener.say("back")
	for _, u := range []*chatter{listener, a, b} {
		u.expectChat("[lobby] listener: back")
	}
}

// logWatch is a logrus hook that keeps the messages logged, with their
// dispatcher_addr field.
type logWatch struct {
	mu    sync.Mutex
	lines []string
}

func (w *logWatch) Levels() []logrus.Level { return logrus.AllLevels }

func (w *logWatch) Fire(e *logrus.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, fmt.Sprintf("%s %v", e.Message, e.Data["dispatcher_addr"]))
	return nil
}

// count counts the messages that contain msg and addr.
func (w *logWatch) count(msg, addr string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.lines {
		if strings.Contains(l, msg) && strings.Contains(l, addr) {
			n++
		}
	}
	return n
}
