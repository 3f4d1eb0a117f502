package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/goworld-engine/goworld/internal/testkit/browsertest"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
)

// browser starts a headless Chromium of the test's own (a fresh profile,
// no network beyond what the page opens) and returns its context; each
// tab is a context derived from it. Without Chromium the test skips, or
// fails under GOWORLD_REQUIRE_BROWSER=1 (see internal/testkit/browsertest).
func browser(t *testing.T) context.Context { return browsertest.Start(t) }

// pageURL is web/index.html as a file:// URL, as a user opens it.
func pageURL(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + filepath.ToSlash(abs)
}

// tab is one browser tab with the chat page open.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	seen int // lines before this one were matched by expect
}

// line is one line of the page's messages list.
type line struct {
	Kind     string `json:"kind"`     // class: chat, mine, info, error
	Time     string `json:"time"`     // the time shown, HH:MM:SS
	DateTime string `json:"datetime"` // the time element's datetime attribute
	Text     string `json:"text"`
}

func openTab(t *testing.T, browser context.Context, name, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{t: t, name: name, ctx: ctx}
	// The tab's first run opens it, on its context without a deadline
	// (the tab lives as long as that context); a tab that cannot open
	// fails at the first bounded run below.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	tb.run(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("login")))
	if !eval[bool](tb, `typeof GoWorld === "object" && typeof GoWorld.Client === "function"`) {
		t.Fatalf("%s: the page did not load goworld.js", name)
	}
	tb.set("gate", url2gate)
	return tb
}

// url2gate is the gate's WebSocket URL for the tabs of the running test.
var url2gate string

// run runs the actions in the tab, within 30 s.
func (tb *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

// eval evaluates a JavaScript expression in the tab, within 30 s.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, js, err)
	}
	return v
}

func (tb *tab) disabled(id string) bool {
	tb.t.Helper()
	return eval[bool](tb, fmt.Sprintf(`document.getElementById(%q).disabled`, id))
}

// set sets an input's value, as typing would.
func (tb *tab) set(id, value string) {
	tb.t.Helper()
	if tb.disabled(id) {
		tb.t.Fatalf("%s: #%s is disabled", tb.name, id)
	}
	tb.run(chromedp.SetValue(chromedp.ID(id), value))
}

// click clicks a button with the mouse (a submit button submits its form).
func (tb *tab) click(id string) {
	tb.t.Helper()
	if tb.disabled(id) {
		tb.t.Fatalf("%s: #%s is disabled", tb.name, id)
	}
	tb.run(chromedp.Click(chromedp.ID(id)))
}

func (tb *tab) lines() []line {
	tb.t.Helper()
	return eval[[]line](tb, `Array.from(document.querySelectorAll("#messages > li")).map(li => ({
		kind: li.className,
		time: li.querySelector("time") ? li.querySelector("time").textContent : "",
		datetime: li.querySelector("time") ? li.querySelector("time").getAttribute("datetime") : "",
		text: li.querySelector(".text") ? li.querySelector(".text").textContent : li.textContent,
	}))`)
}

// expect waits for a line with text want among those not yet matched,
// and returns it.
func (tb *tab) expect(want string) line {
	tb.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ls := tb.lines()
		for i := tb.seen; i < len(ls); i++ {
			if ls[i].Text == want {
				tb.seen = i + 1
				return ls[i]
			}
		}
		if time.Now().After(deadline) {
			var texts []string
			for _, l := range ls {
				texts = append(texts, l.Kind+": "+l.Text)
			}
			tb.t.Fatalf("%s: no line %q after 20s; the page shows:\n  %s", tb.name, want, strings.Join(texts, "\n  "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// members returns the members list as shown: the names, then the count.
func (tb *tab) members() ([]string, string) {
	tb.t.Helper()
	names := eval[[]string](tb, `Array.from(document.querySelectorAll("#members > li")).map(li => li.textContent)`)
	return names, eval[string](tb, `document.getElementById("member-count").textContent`)
}

// expectMembers waits until the members list shows exactly want, in
// that order, with the count.
func (tb *tab) expectMembers(want ...string) {
	tb.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		names, count := tb.members()
		if slices.Equal(names, want) && count == fmt.Sprint(len(want)) {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: members %q (count %s), want %q", tb.name, names, count, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tb *tab) text(id string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

func (tb *tab) enter(button, user, password, room string) {
	tb.t.Helper()
	tb.set("user", user)
	tb.set("password", password)
	if room != "" {
		tb.set("room", room)
	}
	tb.click(button)
}

func (tb *tab) say(text string) {
	tb.t.Helper()
	tb.set("text", text)
	tb.click("say")
	if v := eval[string](tb, `document.getElementById("text").value`); v != "" {
		tb.t.Fatalf("%s: the text box was not cleared: %q", tb.name, v)
	}
}

func (tb *tab) join(room string) {
	tb.t.Helper()
	tb.set("room", room)
	tb.click("join")
}

// TestWebPageInBrowser serves a copy of the web folder alone over http
// from 127.0.0.1 and opens its index.html in a headless Chromium against
// the demo's entities on an in-process cluster (the page over WebSocket,
// a Go client over TCP), and checks what a user sees. Every request the
// page makes must be for a file of the folder.
func TestWebPageInBrowser(t *testing.T) {
	b := browser(t)
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", WebSocket: true, StorageDir: t.TempDir()})
	page, missing := serveWebFolder(t)
	webPageScenario(t, b, page, c.GateWSURL(0), c.GateAddr(0))
	if m := missing(); len(m) > 0 {
		t.Errorf("the page asked for files its folder does not have: %q", m)
	}
}

// TestEndToEndWebPageWithGoworldctl runs the same scenario against the
// demo binary, started by goworldctl on free ports (see e2e_test.go), on
// the WebSocket URL that goworldctl status shows, with the page opened
// from disk (file://), as README says a user may.
func TestEndToEndWebPageWithGoworldctl(t *testing.T) {
	b := browser(t)
	ctl, server, _ := binaries(t)
	dir := serverDir(t, server)
	startProcs(t, ctl, dir, "-no-build")
	webPageScenario(t, b, pageURL(t), gateWSURL(t, ctl, dir), gateAddr(t, ctl, dir))
	ctlCmd(t, ctl, "stop", dir)
}

// serveWebFolder copies web/ to a temporary directory (nothing else, so
// that a page reaching outside its folder breaks) and serves that copy
// over http on 127.0.0.1 until the test ends. It returns the page's URL
// and a function that lists the paths asked for that were not there.
func serveWebFolder(t *testing.T) (string, func() []string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("web")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var missing []string
	files := http.FileServer(http.Dir(dir))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(path.Clean("/"+r.URL.Path)))); err != nil {
			mu.Lock()
			missing = append(missing, r.URL.Path)
			mu.Unlock()
		}
		files.ServeHTTP(w, r)
	})
	return browsertest.Serve(t, handler) + "/index.html", func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(missing)
	}
}

// webPageScenario: register and log in from the page, the members list
// through joins, room switches and departures, join and leave notices,
// chat with a Go client both ways with one's own lines set apart and
// timed, text shown as text (not HTML), the server's errors, a wrong
// password, a second tab, logging out, and a gate that is not there.
func webPageScenario(t *testing.T, b context.Context, page, wsURL, tcpAddr string) {
	url2gate = wsURL

	alice := openTab(t, b, "alice", page)
	if alice.text("status") != "Not connected." || !alice.disabled("say") || !alice.disabled("join") || alice.disabled("login") {
		t.Fatalf("alice's page before login: status %q", alice.text("status"))
	}

	t.Log("a login before registering fails")
	early := openTab(t, b, "early", page)
	early.enter("login", "alice", "secret", "")
	early.expect("login failed: wrong name or password")
	early.expect("disconnected: closed by the client")

	t.Log("alice registers and joins the lobby: she is its only member")
	alice.enter("register", "alice", "secret", "")
	alice.expect("logged in as alice")
	alice.expect("joined lobby")
	alice.expectMembers("alice")
	if alice.disabled("say") || !alice.disabled("login") {
		t.Fatal("alice's buttons after login")
	}

	t.Log("bob, a Go client, joins the lobby: alice is told and lists him")
	bob := dial(t, tcpAddr, "bob", false)
	bob.register("hunter2", "lobby")
	alice.expect("bob joined lobby")
	alice.expectMembers("alice", "bob")

	t.Log("they chat: alice's own lines are set apart, each line has its time")
	before := time.Now().Add(-time.Second)
	const html = "hello from a browser <b>&amp;</b>"
	alice.say(html)
	bob.expectChat("[lobby] alice: " + html)
	mine := alice.expect("[lobby] alice: " + html)
	if mine.Kind != "mine" {
		t.Errorf("alice's own line has class %q, want mine", mine.Kind)
	}
	at, err := time.Parse(time.RFC3339Nano, mine.DateTime)
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("alice's line is timed %q (%v), want about now", mine.DateTime, err)
	}
	if want := at.Local().Format("15:04:05"); mine.Time != want {
		t.Errorf("alice's line shows the time %q, want %q", mine.Time, want)
	}
	if eval[int](alice, `document.querySelectorAll("#messages b").length`) != 0 {
		t.Error("the page rendered a message's text as HTML")
	}
	bob.say("hi alice, 世界 🎮")
	if l := alice.expect("[lobby] bob: hi alice, 世界 🎮"); l.Kind != "chat" {
		t.Errorf("bob's line has class %q on alice's page, want chat", l.Kind)
	}
	if s := alice.text("status"); s != "Logged in as alice in lobby · 1 message said." {
		t.Errorf("alice's status: %q", s)
	}

	t.Log("alice switches to the garden: bob hears she left; she is alone there")
	alice.join("garden")
	alice.expect("joined garden")
	alice.expectMembers("alice")
	bob.expectLeft("lobby", "alice")
	bob.say("anyone?")
	bob.expectChat("[lobby] bob: anyone?")

	t.Log("carol opens a tab in the garden: she sees alice listed, alice sees her come")
	carol := openTab(t, b, "carol", page)
	carol.enter("register", "carol", "pw", "garden")
	carol.expect("joined garden")
	carol.expectMembers("alice", "carol")
	alice.expect("carol joined garden")
	alice.expectMembers("alice", "carol")

	t.Log("bob follows to the garden; everyone lists everyone")
	bob.join("garden")
	alice.expect("bob joined garden")
	carol.expect("bob joined garden")
	alice.expectMembers("alice", "bob", "carol")
	carol.expectMembers("alice", "bob", "carol")
	bob.say("hello garden")
	alice.expect("[garden] bob: hello garden")
	carol.expect("[garden] bob: hello garden")
	for _, l := range alice.lines() {
		if strings.Contains(l.Text, "anyone?") {
			t.Fatalf("alice, in the garden, heard the lobby: %q", l.Text)
		}
	}

	t.Log("the server's error is shown")
	alice.join("bad room!")
	alice.expect("error: a room name is 1 to 32 letters, digits, '_', '.' or '-'")

	t.Log("a wrong password")
	eve := openTab(t, b, "eve", page)
	eve.enter("login", "alice", "not-her-password", "")
	eve.expect("login failed: wrong name or password")

	t.Log("bob quits and carol logs out: alice is told, and her list follows")
	bob.c.Close()
	alice.expect("bob left garden")
	alice.expectMembers("alice", "carol")
	carol.click("logout")
	carol.expect("disconnected: closed by the client")
	carol.expectMembers()
	alice.expect("carol left garden")
	alice.expectMembers("alice")

	t.Log("alice logs in from a second tab: the first is kicked; she is back in the garden")
	alice2 := openTab(t, b, "alice2", page)
	alice2.enter("login", "alice", "secret", "garden")
	alice2.expect("logged in as alice")
	alice2.expect("joined garden")
	alice.expect("disconnected: logged in from another connection")
	alice2.expectMembers("alice")
	alice2.say("second tab")
	if l := alice2.expect("[garden] alice: second tab"); l.Kind != "mine" {
		t.Errorf("second tab's own line has class %q", l.Kind)
	}

	t.Log("a gate that is not there")
	url2gate = "ws://127.0.0.1:1/"
	lost := openTab(t, b, "lost", page)
	lost.enter("login", "x", "y", "")
	lost.expect("connecting to ws://127.0.0.1:1/…")
	deadline := time.Now().Add(20 * time.Second)
	for {
		ls := lost.lines()
		if slices.ContainsFunc(ls, func(l line) bool { return strings.HasPrefix(l.Text, "goworld: cannot connect to ws://127.0.0.1:1/") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection error shown: %v", ls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lost.disabled("login") {
		t.Fatal("login is not enabled again after a failed connection")
	}

	alice2.click("logout")
	alice2.expect("disconnected: closed by the client")
}
