package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	bolt "go.etcd.io/bbolt"
)

// outcome is how a registration or login of the kill test ended.
type outcome struct {
	i      int
	ok     bool   // OnLogin
	reason string // otherwise: OnLoginFailed's reason, or the disconnect's
}

// awaitOutcome reads c's events until its Register or Login ends: OnLogin,
// OnLoginFailed or a disconnect (the game was killed), or 20 s pass. It
// runs on a goroutine of its own, so it reports rather than fails.
func awaitOutcome(c *client.Client, i int, out chan<- outcome) {
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				out <- outcome{i: i, reason: "events closed"}
				return
			}
			switch ev := ev.(type) {
			case client.Call:
				switch ev.Method {
				case "OnLogin":
					out <- outcome{i: i, ok: true}
					return
				case "OnLoginFailed":
					out <- outcome{i: i, reason: fmt.Sprint(ev.Args...)}
					return
				}
			case client.Disconnected:
				out <- outcome{i: i, reason: "disconnected: " + ev.Reason}
				return
			}
		case <-timeout:
			out <- outcome{i: i, reason: "no answer within 20s"}
			return
		}
	}
}

// TestRegistrationSurvivesKill9: registrations are in flight when the
// game is killed with SIGKILL (four rounds, each killed after a
// different number of them completed: the game dies between writing some
// account record and its avatar's first save, or anywhere else), and the
// game is started again. Then every name tried either logs in (its
// account exists and works) or is told "wrong name or password" and can
// be registered now (no half-made account holds it); and every account
// record in the database file belongs to a name that logged in.
func TestRegistrationSurvivesKill9(t *testing.T) {
	fc := startFaultCluster(t)
	const rounds, perRound = 4, 24
	killAfter := [rounds]int{1, 5, 12, 0}
	name := func(r, i int) string { return fmt.Sprintf("r%du%d", r, i) }
	ip := func(r, i int) string { return fmt.Sprintf("127.0.%d.%d", 10+r, 2+i) } // one address each: failures are throttled per address

	for r := range rounds {
		gate := fc.gate("gate1")
		out := make(chan outcome, perRound)
		var clients []*chatter
		var boots []client.EntityCreated
		for i := range perRound {
			ch := dialFrom(t, gate, ip(r, i), name(r, i))
			clients = append(clients, ch)
			boots = append(boots, ch.awaitBoot())
		}
		for i, ch := range clients {
			if err := ch.c.Call(boots[i].ID, "Register", ch.name, "pw-"+ch.name); err != nil {
				t.Fatal(err)
			}
			go awaitOutcome(ch.c, i, out)
		}
		done := 0
		for done < killAfter[r] {
			if o := <-out; o.ok {
				done++
			} else {
				t.Fatalf("round %d: %s's registration: %s", r, name(r, o.i), o.reason)
			}
		}
		fc.kill9("game1")
		for range perRound - done {
			if o := <-out; !o.ok && !strings.Contains(o.reason, "the game hosting your entity stopped") &&
				!strings.Contains(o.reason, "no game server is available") {
				t.Errorf("round %d: %s's registration ended with %q", r, name(r, o.i), o.reason)
			}
		}
		for _, ch := range clients {
			ch.c.Close()
		}
		fc.restart("game1")
		t.Logf("round %d: killed after %d registrations completed", r, done)
	}

	// Every name: logs in, or is free.
	gate := fc.gate("gate2")
	loggedIn := map[string]bool{}
	var free []string
	for r := range rounds {
		for i := range perRound {
			n := name(r, i)
			ch := dialFrom(t, gate, ip(r, i), n)
			ch.call("Login", "pw-"+n)
			out := make(chan outcome, 1)
			awaitOutcome(ch.c, i, out)
			switch o := <-out; {
			case o.ok:
				loggedIn[n] = true
			case o.reason == msgWrong:
				free = append(free, n)
			default:
				t.Errorf("login of %s after the kills: %s", n, o.reason)
			}
			ch.c.Close()
		}
	}
	for _, n := range free {
		var r, i int
		fmt.Sscanf(n, "r%du%d", &r, &i)
		dialFrom(t, gate, ip(r, i), n).register("pw-"+n, "")
	}
	t.Logf("%d accounts logged in, %d names were never registered (registered now); %d avatars recreated at login",
		len(loggedIn), len(free), fc.countLog("game1", "creating it afresh"))
	if len(loggedIn) == 0 {
		t.Fatal("no registration survived at all")
	}

	// The database holds no account that did not log in (or was just
	// registered).
	ctlCmd(t, fc.ctl, "stop", fc.dir)
	db, err := bolt.Open(filepath.Join(fc.dir, "chat.db"), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	justRegistered := map[string]bool{}
	for _, n := range free {
		justRegistered[n] = true
	}
	records := 0
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("kv")).ForEach(func(k, _ []byte) error {
			if n, ok := strings.CutPrefix(string(k), "account/"); ok {
				records++
				if !loggedIn[n] && !justRegistered[n] {
					t.Errorf("account %q is in the database but could not log in", n)
				}
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if records != rounds*perRound {
		t.Errorf("%d account records, want %d (every name logged in or was registered afterwards)", records, rounds*perRound)
	}
}
