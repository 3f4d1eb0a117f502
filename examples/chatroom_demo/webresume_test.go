package main

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/cutproxy"
)

// pageBehindProxy starts the demo's cluster (gate options lim, nil for
// the defaults) and a cutting proxy in front of its WebSocket port, and
// opens the chat page, served from a copy of web/, in a tab whose gate
// is the proxy. It returns the cluster, the proxy and the tab.
func pageBehindProxy(t *testing.T, lim *gate.Config) (*cluster.Cluster, *cutproxy.Proxy, *tab) {
	t.Helper()
	b := browser(t)
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", WebSocket: true, StorageDir: t.TempDir(), GateLimits: lim})
	u, err := url.Parse(c.GateWSURL(0))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cutproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	page, _ := serveWebFolder(t)
	url2gate = "ws://" + p.Addr() + "/"
	return c, p, openTab(t, b, "alice", page)
}

// count returns how many of the page's lines have text want.
func count(ls []line, want string) int {
	n := 0
	for _, l := range ls {
		if l.Text == want {
			n++
		}
	}
	return n
}

// TestWebPageResumesAfterCuts: the chat page's WebSocket is cut twice
// (both sides reset, frames in flight lost) while bob, a Go client,
// chats line after line. Each time the page says "reconnecting…", a line
// alice types meanwhile is sent once the session resumes, and the page
// says "reconnected"; in the end it shows every one of bob's lines
// exactly once and in order, her own lines once, no disconnection, the
// same room and members, and her count of lines said as the server keeps
// it.
func TestWebPageResumesAfterCuts(t *testing.T) {
	c, p, alice := pageBehindProxy(t, nil)
	alice.enter("register", "alice", "secret", "")
	alice.expect("logged in as alice")
	alice.expect("joined lobby")
	bob := dial(t, c.GateAddr(0), "bob", false)
	bob.register("hunter2", "lobby")
	alice.expect("bob joined lobby")

	const lines = 60
	cuts := map[int]bool{15: true, 40: true}
	for i := range lines {
		if cuts[i] {
			// Bob's last line may still be on its way to the page: it
			// comes with the resume.
			if n := p.Cut(); n != 1 {
				t.Fatalf("cut %d connections, want the page's one", n)
			}
			alice.expect("reconnecting…")
			if s := alice.text("status"); !strings.HasPrefix(s, "Reconnecting… (logged in as alice in lobby)") {
				t.Errorf("the status while away: %q", s)
			}
			alice.say(fmt.Sprintf("typed while away %d", i))
			p.Heal()
			alice.expect("reconnected")
			bob.expectChat(fmt.Sprintf("[lobby] alice: typed while away %d", i))
		}
		bob.say(fmt.Sprintf("line %d", i))
		bob.expectChat(fmt.Sprintf("[lobby] bob: line %d", i))
	}
	alice.expect(fmt.Sprintf("[lobby] bob: line %d", lines-1))

	ls := alice.lines()
	var heard []string
	re := regexp.MustCompile(`^\[lobby\] bob: line (\d+)$`)
	for _, l := range ls {
		if m := re.FindStringSubmatch(l.Text); m != nil {
			heard = append(heard, m[1])
		}
		if strings.HasPrefix(l.Text, "disconnected") || l.Kind == "error" {
			t.Errorf("the page shows %s: %q", l.Kind, l.Text)
		}
	}
	want := make([]string, lines)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	if !slices.Equal(heard, want) {
		t.Errorf("the page shows bob's lines %q, want each of 0..%d once, in order", heard, lines-1)
	}
	for _, w := range []string{"[lobby] alice: typed while away 15", "[lobby] alice: typed while away 40"} {
		if n := count(ls, w); n != 1 {
			t.Errorf("the page shows %q %d times, want once", w, n)
		}
	}
	if r, b := count(ls, "reconnecting…"), count(ls, "reconnected"); r != 2 || b != 2 {
		t.Errorf("the page says reconnecting… %d and reconnected %d times, want 2 each", r, b)
	}
	alice.expectMembers("alice", "bob")
	deadline := time.Now().Add(10 * time.Second)
	for s := alice.text("status"); s != "Logged in as alice in lobby · 2 messages said."; s = alice.text("status") {
		if time.Now().After(deadline) {
			t.Fatalf("alice's status: %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Within expectLeft's 10 s, far below the 60 s resume window.
	t.Log("logging out says goodbye: bob hears alice left at once, not after the resume window")
	alice.click("logout")
	alice.expect("disconnected: closed by the client")
	bob.expectLeft("lobby", "alice")
}

// TestWebPageLogsInAgainAfterRefusedResume: the page's WebSocket stays
// cut past the gate's resume window (500 ms), so alice's avatar leaves
// the room; when the network is back, the gate refuses the resume, and
// the page says so, logs in again with the name and password it kept,
// and rejoins the room, where she chats on.
func TestWebPageLogsInAgainAfterRefusedResume(t *testing.T) {
	c, p, alice := pageBehindProxy(t, &gate.Config{GateTuning: config.GateTuning{ResumeWindow: 500 * time.Millisecond}})
	alice.enter("register", "alice", "secret", "garden")
	alice.expect("logged in as alice")
	alice.expect("joined garden")
	bob := dial(t, c.GateAddr(0), "bob", false)
	bob.register("hunter2", "garden")
	alice.expect("bob joined garden")

	p.Cut()
	alice.expect("reconnecting…")
	bob.expectLeft("garden", "alice") // the window passed: her avatar is gone
	p.Heal()
	alice.expect("the server could not resume the session (resume refused: unknown or expired session): " +
		"logging in again as alice and rejoining garden; lines sent meanwhile are lost")
	alice.expect("logged in as alice")
	alice.expect("joined garden")
	bob.expectEntered("garden", "alice")
	alice.expectMembers("alice", "bob")
	bob.say("welcome back")
	bob.expectChat("[garden] bob: welcome back")
	alice.expect("[garden] bob: welcome back")
	alice.say("thanks")
	bob.expectChat("[garden] alice: thanks")
	for _, l := range alice.lines() {
		if l.Kind == "error" {
			t.Errorf("the page shows an error: %q", l.Text)
		}
	}
}
