package main

import (
	"strings"
	"testing"
	"time"
)

// TestWhoInTheTerminalClient: the terminal client's /who prints the
// members of the player's room, sorted, as "[ROOM] members: NAME, NAME"
// (a client request to the avatar, through real processes started by
// goworldctl), follows the player to another room, answers every
// player, over TCP and KCP alike, and is printed before a client whose
// input ends leaves.
func TestWhoInTheTerminalClient(t *testing.T) {
	ctl, server, chat := binaries(t)
	dir := serverDir(t, server)
	addr := startProcs(t, ctl, dir, "-no-build")

	bob := startChat(t, chat, addr, "bob", "pw", "-register")
	bob.expect("logged in as bob")
	bob.expect("joined lobby")
	alice := startChat(t, chat, addr, "alice", "secret", "-kcp", "-register")
	alice.expect("logged in as alice")
	alice.expect("joined lobby")
	carol := startChat(t, chat, addr, "carol", "pw", "-room", "garden", "-register")
	carol.expect("logged in as carol")
	carol.expect("joined garden")

	bob.send("/who")
	bob.expect("[lobby] members: alice, bob")
	alice.send("/who")
	alice.expect("[lobby] members: alice, bob")
	carol.send("/who")
	carol.expect("[garden] members: carol")

	// bob moves: both rooms' lists follow. A chat line between two /who
	// comes out in its place: the answers are printed as they arrive.
	bob.send("/join garden")
	bob.expect("joined garden")
	bob.send("/who")
	bob.expect("[garden] members: bob, carol")
	alice.send("/who")
	alice.expect("[lobby] members: alice")
	carol.send("hi bob")
	carol.expect("[garden] carol: hi bob")
	bob.expect("[garden] carol: hi bob")
	carol.send("/who")
	carol.expect("[garden] members: bob, carol")

	// A player who left is no member any more.
	carol.send("/quit")
	if code := carol.exit(); code != 0 {
		t.Fatalf("carol exited %d after /quit", code)
	}
	// The avatar is destroyed once its game hears of the disconnection:
	// ask again until it has, within a deadline.
	bob.awaitWho("[garden] members: bob, carol", "[garden] members: bob")

	// Input that ends right after /who (a script): the answer is printed
	// before the client leaves.
	erin := startChat(t, chat, addr, "erin", "pw", "-register")
	erin.send("/who")
	erin.stdin.Close()
	erin.expect("logged in as erin")
	erin.expect("joined lobby")
	erin.expect("[lobby] members: alice, erin")
	if code := erin.exit(); code != 0 {
		t.Fatalf("erin exited %d at the end of her input", code)
	}
}

// next returns the next line the client prints.
func (p *chatProc) next() string {
	p.t.Helper()
	select {
	case got, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("%s exited; stderr:\n%s", p.name, p.stderr())
		}
		return got
	case <-time.After(15 * time.Second):
		p.t.Fatalf("%s printed nothing for 15s; stderr:\n%s", p.name, p.stderr())
	}
	return ""
}

// TestMailInTheTerminalClient: /mail through real processes started by
// goworldctl. A mail to a player who is online prints "[mail] FROM: TEXT"
// on their terminal at once; mails to a player who is offline (an account
// whose avatar is not loaded) wait in storage and are printed, in order,
// when they next log in; a mail to nobody is an error to the sender.
func TestMailInTheTerminalClient(t *testing.T) {
	ctl, server, chat := binaries(t)
	dir := serverDir(t, server)
	addr := startProcs(t, ctl, dir, "-no-build")

	bob := startChat(t, chat, addr, "bob", "pw", "-register")
	bob.expect("logged in as bob")
	bob.expect("joined lobby")
	alice := startChat(t, chat, addr, "alice", "secret", "-register")
	alice.expect("logged in as alice")
	alice.expect("joined lobby")

	alice.send("/mail bob are you there?")
	alice.expect("mail sent to bob")
	bob.expect("[mail] alice: are you there?")

	// bob leaves; his avatar is destroyed (and saved) once his game hears
	// of it. Mails sent after that wait for his next login.
	bob.send("/quit")
	if code := bob.exit(); code != 0 {
		t.Fatalf("bob exited %d after /quit", code)
	}
	alice.awaitWho("[lobby] members: alice, bob", "[lobby] members: alice")
	alice.send("/mail bob first, while you were away")
	alice.expect("mail sent to bob")
	alice.send("/mail bob second")
	alice.expect("mail sent to bob")
	alice.send("/mail nobody hello")
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(alice.stderr(), "error: no user named nobody"); {
		if time.Now().After(deadline) {
			t.Fatalf("no error for a mail to nobody; stderr:\n%s", alice.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}

	bob = startChat(t, chat, addr, "bob", "pw")
	bob.expect("logged in as bob")
	bob.expect("joined lobby")
	bob.expect("[mail] alice: first, while you were away")
	bob.expect("[mail] alice: second")
	// Delivered once: the next login brings no mail again (the first line
	// after joining is the answer to /who).
	bob.send("/quit")
	if code := bob.exit(); code != 0 {
		t.Fatalf("bob exited %d after /quit", code)
	}
	alice.awaitWho("[lobby] members: alice, bob", "[lobby] members: alice") // until his avatar has gone
	bob = startChat(t, chat, addr, "bob", "pw")
	bob.expect("logged in as bob")
	bob.expect("joined lobby")
	bob.send("/who")
	if got := bob.next(); got != "[lobby] members: alice, bob" {
		t.Fatalf("bob's first line after his third login: %q, want the answer to /who (no mail again)", got)
	}
}

// awaitWho asks /who until the answer is want, within 10 s; until then
// the answer may only be before (a player who quit is still listed until
// their game hears of it and destroys the avatar).
func (p *chatProc) awaitWho(before, want string) {
	p.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		p.send("/who")
		got := p.next()
		if got == want {
			return
		}
		if got != before || time.Now().After(deadline) {
			p.t.Fatalf("%s's /who: %q, waiting for %q", p.name, got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}
