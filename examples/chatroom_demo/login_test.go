package main

// Registration and login through a real (in-process) cluster: real
// sockets, the real client package, each client from an address of its
// own where the test needs one (all of 127/8 is loopback on Linux), since
// the game throttles failed logins per address (guard.go).

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/storage"
	"github.com/vmihailenco/msgpack/v5"
)

// dialFrom is dial from the local address ip (127.x.y.z), over TCP.
func dialFrom(t testing.TB, addr, ip, name string) *chatter {
	t.Helper()
	c, err := client.Dial(addr, client.Options{LocalIP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &chatter{t: t, name: name, c: c}
}

// hashes returns how many password hashes game 0 has admitted so far,
// asked on its loop.
func hashes(c *cluster.Cluster) int {
	n := make(chan int)
	g := c.Games[0]
	g.Post(func() { n <- guardOf(g.World()).hashes })
	return <-n
}

// TestLoginTellsNothingAboutNames: a login with a name that does not
// exist and one with a wrong password get the same answer after the same
// work (one password hash each), and the unknown name is not registered
// by it: it is still free to register.
func TestLoginTellsNothingAboutNames(t *testing.T) {
	c := startCluster(t, t.TempDir())
	addr := c.GateAddr(0)
	dialFrom(t, addr, "127.0.0.2", "alice").register("secret", "lobby")

	before := hashes(c)
	answers := map[string]string{}
	for _, name := range []string{"alice", "nobody"} {
		answers[name] = dialFrom(t, addr, "127.0.0.3", name).refused("Login", "guess")
	}
	if answers["alice"] != msgWrong || answers["nobody"] != msgWrong {
		t.Fatalf("answers %q, want %q for both", answers, msgWrong)
	}
	if n := hashes(c) - before; n != 2 {
		t.Fatalf("%d password hashes for the two logins, want one each", n)
	}
	dialFrom(t, addr, "127.0.0.4", "nobody").register("mine", "lobby")
	dialFrom(t, addr, "127.0.0.4", "nobody").login("mine", "")
}

// TestRegisterTwiceRefused: a name is registered once; registering it
// again, with another password or the same one, is refused, and the
// account keeps its first password.
func TestRegisterTwiceRefused(t *testing.T) {
	c := startCluster(t, t.TempDir())
	addr := c.GateAddr(0)
	alice := dialFrom(t, addr, "127.0.0.2", "alice")
	alice.register("secret", "lobby")
	for _, pw := range []string{"other", "secret"} {
		if got := dialFrom(t, addr, "127.0.0.3", "alice").refused("Register", pw); got != msgTaken {
			t.Fatalf("second Register (password %q): %q, want %q", pw, got, msgTaken)
		}
	}
	if got := dialFrom(t, addr, "127.0.0.3", "alice").refused("Login", "other"); got != msgWrong {
		t.Fatalf("login with the second registration's password: %q", got)
	}
	dialFrom(t, addr, "127.0.0.4", "alice").login("secret", "lobby")
	for _, bad := range []struct{ name, pw, want string }{
		{"", "pw", msgBadName}, {"no spaces", "pw", msgBadName}, {strings.Repeat("x", 33), "pw", msgBadName},
		{"ok", "", msgBadPass}, {"ok", strings.Repeat("p", 129), msgBadPass},
	} {
		if got := dialFrom(t, addr, "127.0.0.5", bad.name).refused("Register", bad.pw); got != bad.want {
			t.Errorf("Register(%q, %d bytes): %q, want %q", bad.name, len(bad.pw), got, bad.want)
		}
	}
}

// TestFailedLoginsAreThrottled: wrong passwords from one address on one
// account are answered until the fifth, then refused at once (no hash)
// with the throttle reason, even with the right password, from that
// address (locked) and for that account from any address (locked too);
// another account logs in from another address meanwhile. Then a burst
// of 40 wrong logins at once from a third address costs at most
// hashSlotsPerAddr + freeFailures - 1 hashes (the rest are refused as
// busy or throttled) while yet another account logs in: its login waits
// behind at most that many of the guesser's hashes.
func TestFailedLoginsAreThrottled(t *testing.T) {
	c := startCluster(t, t.TempDir())
	addr := c.GateAddr(0)
	dialFrom(t, addr, "127.0.0.2", "victim").register("right", "")
	dialFrom(t, addr, "127.0.0.2", "bystander").register("pw", "")
	dialFrom(t, addr, "127.0.0.2", "other").register("pw", "")

	start := hashes(c)
	for i := range freeFailures {
		if got := dialFrom(t, addr, "127.0.0.3", "victim").refused("Login", fmt.Sprint("guess", i)); got != msgWrong {
			t.Fatalf("wrong password %d: %q", i+1, got)
		}
	}
	throttled := msgThrottled(firstLock)[:len("too many failed logins; try again in ")]
	for _, try := range []struct{ ip, pw string }{
		{"127.0.0.3", "guess again"}, {"127.0.0.3", "right"}, {"127.0.0.4", "right"},
	} {
		if got := dialFrom(t, addr, try.ip, "victim").refused("Login", try.pw); !strings.HasPrefix(got, throttled) {
			t.Fatalf("login of victim from %s after %d failures: %q, want the throttle reason", try.ip, freeFailures, got)
		}
	}
	if got := dialFrom(t, addr, "127.0.0.3", "other").refused("Login", "pw"); !strings.HasPrefix(got, throttled) {
		t.Fatalf("another account from the locked address: %q", got)
	}
	if n := hashes(c) - start; n != freeFailures {
		t.Fatalf("%d hashes, want %d: throttled logins must cost none", n, freeFailures)
	}
	dialFrom(t, addr, "127.0.0.5", "bystander").login("pw", "")

	// The burst.
	const burst = 40
	guessers := make([]*chatter, burst)
	boots := make([]client.EntityCreated, burst)
	for i := range guessers {
		guessers[i] = dialFrom(t, addr, "127.0.0.6", fmt.Sprintf("name%d", i%3))
		boots[i] = guessers[i].awaitBoot()
	}
	start = hashes(c)
	for i, g := range guessers { // all sent before the first hash is done
		if err := g.c.Call(boots[i].ID, "Login", g.name, "guess"); err != nil {
			t.Fatal(err)
		}
	}
	dialFrom(t, addr, "127.0.0.7", "other").login("pw", "")
	count := map[string]int{}
	for _, g := range guessers {
		switch a := g.awaitFailure(); {
		case a == msgWrong, a == msgBusy:
			count[a]++
		case strings.HasPrefix(a, throttled):
			count["throttled"]++
		default:
			t.Errorf("answer %q", a)
		}
	}
	t.Logf("burst of %d: %v", burst, count)
	bound := hashSlotsPerAddr + freeFailures - 1
	if count[msgWrong] < freeFailures || count[msgWrong] > bound {
		t.Fatalf("%d of the burst were checked (hashed), want %d to %d", count[msgWrong], freeFailures, bound)
	}
	if n := hashes(c) - start; n != count[msgWrong]+1 { // and other's
		t.Fatalf("%d hashes for %d checked guesses and one login", n, count[msgWrong])
	}
}

// awaitBoot waits for the client's boot Account.
func (ch *chatter) awaitBoot() client.EntityCreated {
	ch.t.Helper()
	for {
		if ev, ok := ch.next().(client.EntityCreated); ok && ev.IsPlayer && ev.Type == "Account" {
			return ev
		}
	}
}

// awaitFailure returns the reason of the next OnLoginFailed.
func (ch *chatter) awaitFailure() string {
	ch.t.Helper()
	for {
		switch ev := ch.next().(type) {
		case client.Call:
			if ev.Method == "OnLoginFailed" {
				return fmt.Sprint(ev.Args[0])
			}
		case client.Disconnected:
			return "disconnected: " + ev.Reason
		}
	}
}

// TestReturningPlayerHearsItsRoom: a player who left from the garden and
// logs in again is in the garden (its saved room) without joining it:
// what it says reaches the garden, itself included, and not the lobby.
func TestReturningPlayerHearsItsRoom(t *testing.T) {
	c := startCluster(t, t.TempDir())
	addr := c.GateAddr(0)
	alice := dial(t, addr, "alice", false)
	alice.register("secret", "garden")
	alice.c.Close()
	bob := dial(t, addr, "bob", true)
	bob.register("pw", "garden")
	carol := dial(t, addr, "carol", false)
	carol.register("pw", "lobby")

	again := dial(t, addr, "alice", false)
	again.login("secret", "") // no JoinRoom
	if p, _ := again.c.Player(); p.Attrs["room"] != "garden" {
		t.Fatalf("alice's room after logging in again: %v", p.Attrs["room"])
	}
	again.say("back")
	again.expectChat("[garden] alice: back")
	bob.expectChat("[garden] alice: back")
	// Carol's own line comes through the same path after alice's: had
	// alice's reached the lobby, carol would see it first.
	carol.say("lobby only")
	carol.expectChat("[lobby] carol: lobby only")
}

// avatarOf returns the avatar ID of account user in st.
func avatarOf(t *testing.T, st storage.Backend, user string) string {
	t.Helper()
	val, err := st.Get("account/" + user)
	if err != nil {
		t.Fatal(err)
	}
	var rec accountRecord
	if err := msgpack.Unmarshal(val, &rec); err != nil || !rec.Avatar.Valid() {
		t.Fatalf("account record of %s: %v %q", user, err, rec.Avatar)
	}
	return string(rec.Avatar)
}

// TestBrokenAccountsAtLogin: an account whose avatar storage does not
// have (a registration cut short) logs in to a fresh avatar; one whose
// avatar's saved data is damaged, or whose own record is, is told so
// clearly (the load's error reaches the login), and others log in.
func TestBrokenAccountsAtLogin(t *testing.T) {
	dir := t.TempDir()
	c, err := cluster.New(cluster.Options{Registry: registry(t), BootEntity: "Account", StorageDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"missing", "damaged", "record", "fine"} {
		u := dial(t, c.GateAddr(0), name, false)
		u.register("pw", "garden")
		u.say("hello")
		u.expectChat("[garden] " + name + ": hello")
		u.c.Close()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The stopped cluster's storage, as a crash or a bad disk leaves it.
	st, err := storage.OpenBolt(filepath.Join(dir, "game1.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	missing, damaged := avatarOf(t, st, "missing"), avatarOf(t, st, "damaged")
	for _, err := range []error{
		st.DeleteEntity("Avatar", missing),
		st.SaveEntities([]storage.EntityRecord{{Type: "Avatar", ID: damaged, Data: []byte{0xc1, 0xff}}}),
		st.Put("account/record", []byte("not msgpack")),
		st.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}

	if c, err = cluster.New(cluster.Options{Registry: registry(t), BootEntity: "Account", StorageDir: dir}); err != nil {
		t.Fatal(err)
	}
	addr := c.GateAddr(0)
	m := dial(t, addr, "missing", false)
	m.login("pw", "")
	if p, _ := m.c.Player(); string(p.ID) != missing || p.Attrs["name"] != "missing" || p.Attrs["said"] != nil {
		t.Fatalf("repaired avatar: %s %v", p.ID, p.Attrs)
	}
	m.join("lobby")
	m.say("repaired")
	m.expectChat("[lobby] missing: repaired")
	for name, want := range map[string]string{"damaged": msgAvatarGone, "record": msgDamaged} {
		if got := dial(t, addr, name, false).refused("Login", "pw"); got != want {
			t.Errorf("login of %s: %q, want %q", name, got, want)
		}
	}
	fine := dial(t, addr, "fine", false)
	fine.login("pw", "")
	if p, _ := fine.c.Player(); p.Attrs["said"] != int64(1) {
		t.Fatalf("fine's avatar: %v", p.Attrs)
	}

	// The repaired avatar was saved: it loads after another restart.
	m.c.Close()
	fine.c.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = startCluster(t, dir)
	m = dial(t, c.GateAddr(0), "missing", false)
	m.login("pw", "")
	if p, _ := m.c.Player(); string(p.ID) != missing || p.Attrs["said"] != int64(1) || p.Attrs["room"] != "lobby" {
		t.Fatalf("repaired avatar after a restart: %s %v", p.ID, p.Attrs)
	}
}
