// Command client is the chatroom demo's terminal client.
//
//	go run ./examples/chatroom_demo/client -gate 127.0.0.1:14001 -user alice -password secret [-register] [-kcp | -tls [-ca cert.pem]]
//
// It logs in (with -register, it creates the account first: the first
// time), joins room -room (by default the room it was in when it left, or
// "lobby"), prints "logged in as NAME" and "joined ROOM", sends
// each line of standard input as a chat message, understands "/join ROOM",
// "/who", "/mail USER TEXT" and "/quit", and prints every message of its room as
// "[ROOM] NAME: TEXT". "/who" asks the server (a client request) who is in
// the room and prints "[ROOM] members: NAME, NAME, …": sorted, and, when
// the server names only the first of them, followed by ", … (N in all)".
// "/mail USER TEXT" sends USER a mail: at once if they are online, at
// their next login if not (an offline message); it prints "mail sent to
// USER", and a mail that arrives prints "[mail] FROM: TEXT".
// A line that starts with "/" but is no command, or a command without
// what it needs ("/join" without a room), prints "error: ..." and is not
// said; "//text" says "/text".
// At the end of its input it leaves once its /who are answered.
// A refused login exits with status 1, a lost connection with status 2.
//
// It asks the gate for a resumable session (client.Options.Resume): when
// the connection drops (a Wi-Fi blip, a phone changing cells), it prints
// "reconnecting… (attempt N: WHY)" on standard error, dials again with
// backoff and takes the session up where it stopped, printing
// "reconnected": nothing said meanwhile, either way, is lost or
// repeated, and lines typed meanwhile are said once it is back. If the
// gate no longer holds the session (its resume window passed, the gate
// restarted), it says so, logs in again with the same name and password
// and rejoins the room it was in ("logged in as NAME", "joined ROOM"
// again). If the gate stays out of reach for its whole resume window,
// the client exits with status 2.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/examples/chatroom_demo/stubs"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// settings are the command line's.
type settings struct {
	gate, user, password, room string
	register, roomSet          bool
	opts                       client.Options
}

// parseArgs parses the command line; a status of 0 means go on.
func parseArgs(args []string, stderr io.Writer) (settings, int) {
	flags := flag.NewFlagSet("client", flag.ContinueOnError)
	flags.SetOutput(stderr)
	gate := flags.String("gate", "127.0.0.1:14001", "gate address: host:port for TCP and KCP, or the WebSocket URL (ws://127.0.0.1:14002/)")
	user := flags.String("user", "", "user name")
	password := flags.String("password", "", "password")
	register := flags.Bool("register", false, "create the account (the first time), then log in to it")
	useKCP := flags.Bool("kcp", false, "connect over KCP instead of TCP")
	useTLS := flags.Bool("tls", false, "connect over TLS (a gate with tls_cert)")
	caFile := flags.String("ca", "", "with -tls: trust this PEM certificate (a self-signed gate's) instead of the system's roots")
	room := flags.String("room", "lobby", "room to join after login (default: the room you were in when you left, or lobby)")
	if err := flags.Parse(args); err != nil {
		return settings{}, 1
	}
	s := settings{gate: *gate, user: *user, password: *password, room: *room, register: *register,
		opts: client.Options{KCP: *useKCP, TLS: *useTLS, Resume: true}}
	flags.Visit(func(f *flag.Flag) { s.roomSet = s.roomSet || f.Name == "room" })
	if s.user == "" || s.password == "" {
		fmt.Fprintln(stderr, "usage: client -gate HOST:PORT -user NAME -password PASSWORD [-register] [-kcp]")
		return s, 1
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(stderr, "error:", err)
			return s, 1
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "error: %s holds no PEM certificate\n", *caFile)
			return s, 1
		}
		s.opts.TLSConfig = &tls.Config{RootCAs: pool}
	}
	return s, 0
}

// chat is a running client: its connection, where the user is, and what
// waits to be said.
type chat struct {
	settings
	stdout, stderr io.Writer
	c              *client.Client
	events         <-chan client.Event
	who            *whoRequests
	loggedIn, eof  bool
	room0          string   // the room the player is in, to rejoin after a new login
	rejoin         string   // set for a new login: the room to go back to
	pending        []string // lines typed before login completed
	exit           int      // set (>= 0) by a handler that ends the client
	account        *stubs.AccountHandlers
	avatar         *stubs.AvatarHandlers
}

// run runs the client with the command line args, reading lines from in,
// printing the chat on stdout and the rest on stderr; it returns the exit
// status.
func run(args []string, in io.Reader, stdout, stderr io.Writer) int {
	s, status := parseArgs(args, stderr)
	if status != 0 {
		return status
	}
	c, err := client.Dial(s.gate, s.opts)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	ch := &chat{settings: s, stdout: stdout, stderr: stderr, c: c, events: c.Events(), exit: -1,
		// The answers of /who, printed by the loop. Their goroutines end
		// when the request does: at the latest at its timeout, or when
		// the client closes.
		who: &whoRequests{out: make(chan whoAnswer, 16), quit: make(chan struct{})}}
	defer func() { ch.c.Close() }() // the client in use then: a new login replaces it
	defer close(ch.who.quit)
	ch.handlers()

	// The input's lines; the reader ends at the end of the input, or
	// when the client is done (quit).
	lines := make(chan string)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-quit:
				return
			}
		}
	}()
	for {
		if done, status := ch.sayPending(); done {
			return status
		}
		select {
		case w := <-ch.who.out:
			ch.who.waiting--
			if w.err != "" {
				fmt.Fprintln(stderr, "error: /who:", w.err)
			} else {
				fmt.Fprintln(stdout, w.line)
			}
		case ev, ok := <-ch.events:
			if !ok {
				return 2
			}
			if done, status := ch.onEvent(ev); done {
				return status
			}
		case line, ok := <-lines:
			if !ok {
				lines, ch.eof = nil, true
				continue
			}
			ch.pending = append(ch.pending, line)
		}
	}
}

// sayPending says the lines typed so far, once logged in; done means the
// client ends (the user quit, or the input ended and /who is answered).
func (ch *chat) sayPending() (done bool, status int) {
	if !ch.loggedIn {
		return false, 0
	}
	for len(ch.pending) > 0 {
		line := ch.pending[0]
		ch.pending = ch.pending[1:]
		if quit := handleLine(ch.c, ch.who, line, ch.stderr); quit {
			return true, 0
		}
	}
	return ch.eof && ch.who.waiting == 0, 0
}

// handlers makes the handlers of the server's calls, typed by the
// generated stubs (stubs/stubs.go).
func (ch *chat) handlers() {
	printError := func(message string) { fmt.Fprintln(ch.stderr, "error:", message) }
	ch.account = &stubs.AccountHandlers{
		OnLoginFailed: func(reason string) {
			what := "login"
			if ch.register {
				what = "registration"
			}
			fmt.Fprintf(ch.stderr, "%s failed: %s\n", what, reason)
			ch.exit = 1
		},
		OnError: printError,
	}
	ch.avatar = &stubs.AvatarHandlers{
		OnLogin:    ch.onLogin,
		OnJoined:   func(room string) { ch.joined(room) },
		OnChat:     func(room, name, text string) { fmt.Fprintf(ch.stdout, "[%s] %s: %s\n", room, name, text) },
		OnMail:     func(from, text string) { fmt.Fprintf(ch.stdout, "[mail] %s: %s\n", from, text) },
		OnMailSent: func(user string) { fmt.Fprintf(ch.stdout, "mail sent to %s\n", user) },
		OnError:    printError,
	}
}

// onLogin goes to the room the user asked for (or back to the one it was
// in before a new login); the server keeps a returning player in its own.
func (ch *chat) onLogin(name string) {
	fmt.Fprintf(ch.stdout, "logged in as %s\n", name)
	p, ok := ch.c.Player()
	if !ok {
		return
	}
	me := stubs.AvatarOf(ch.c, p.ID)
	want := ch.room
	if ch.rejoin != "" {
		want, ch.roomSet = ch.rejoin, true
	}
	if r, _ := me.AttrRoom(); r != "" && (!ch.roomSet || r == want) {
		ch.joined(r)
		return
	}
	me.JoinRoom(want)
}

// joined records that the player is in room.
func (ch *chat) joined(room string) {
	fmt.Fprintf(ch.stdout, "joined %s\n", room)
	ch.room0, ch.loggedIn = room, true
}

// onEvent handles one event of the client; done means the client ends,
// with that status.
func (ch *chat) onEvent(ev client.Event) (done bool, status int) {
	switch ev := ev.(type) {
	case client.EntityCreated:
		if ev.IsPlayer && ev.Type == "Account" {
			acc := stubs.AccountOf(ch.c, ev.ID)
			login := acc.Login
			if ch.register {
				login = acc.Register
			}
			if err := login(ch.user, ch.password); err != nil {
				fmt.Fprintln(ch.stderr, "error:", err)
				return true, 2
			}
		}
	case client.Call:
		handlers := ch.avatar.Handle
		if p, ok := ch.c.Player(); ok && p.Type == "Account" {
			handlers = ch.account.Handle
		}
		if _, err := handlers(ev); err != nil {
			fmt.Fprintln(ch.stderr, "error: the server's call:", err)
		}
		if ch.exit >= 0 {
			return true, ch.exit
		}
	case client.Reconnecting:
		fmt.Fprintf(ch.stderr, "reconnecting… (attempt %d: %v)\n", ev.Attempt, ev.Err)
	case client.Resumed:
		fmt.Fprintln(ch.stderr, "reconnected")
	case client.Disconnected:
		if !errors.Is(ev.Err, client.ErrResumeRefused) || !ch.loggedIn {
			fmt.Fprintln(ch.stderr, "disconnected:", ev.Reason)
			return true, 2
		}
		return ch.loginAgain(ev.Reason)
	}
	return false, 0
}

// loginAgain starts a new session when the gate no longer holds the old
// one: a new login (never a second registration), back to the room. Lines
// typed meanwhile wait for it.
func (ch *chat) loginAgain(why string) (done bool, status int) {
	fmt.Fprintf(ch.stderr, "%s: logging in again as %s\n", why, ch.user)
	nc, err := client.Dial(ch.gate, ch.opts)
	if err != nil {
		fmt.Fprintln(ch.stderr, "error:", err)
		return true, 2
	}
	ch.c.Close()
	ch.c, ch.events = nc, nc.Events()
	ch.register = false
	ch.rejoin, ch.loggedIn = ch.room0, false
	return false, 0
}

// handleLine sends one input line; it reports whether the user quit.
func handleLine(c *client.Client, who *whoRequests, line string, stderr io.Writer) bool {
	cmd, err := parseLine(line)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return false
	}
	p, _ := c.Player()
	me := stubs.AvatarOf(c, p.ID)
	switch cmd.kind {
	case cmdQuit:
		return true
	case cmdWho:
		who.ask(me)
	case cmdJoin:
		me.JoinRoom(cmd.room)
	case cmdMail:
		me.Mail(cmd.user, cmd.text)
	case cmdSay:
		me.Say(cmd.text)
	}
	return false
}

// What an input line asks for.
const (
	cmdNone = iota // an empty line
	cmdSay
	cmdJoin
	cmdWho
	cmdMail
	cmdQuit
)

// command is a parsed input line.
type command struct {
	kind             int
	room, user, text string
}

// commandsHelp lists the commands, for the error of one that is not.
const commandsHelp = "/join ROOM, /who, /mail USER TEXT, /quit; start a line with // to say one that starts with /"

// parseLine parses one input line: a command (/join ROOM, /who,
// /mail USER TEXT, /quit), or text to say. A line that starts with "/"
// but is no command, or a command without what it needs, is an error
// (not said to the room); "//text" says "/text".
func parseLine(line string) (command, error) {
	trimmed := strings.TrimSpace(line)
	if trimmed == "" {
		return command{kind: cmdNone}, nil
	}
	if !strings.HasPrefix(trimmed, "/") {
		return command{kind: cmdSay, text: line}, nil
	}
	if strings.HasPrefix(trimmed, "//") {
		return command{kind: cmdSay, text: strings.TrimPrefix(strings.TrimLeft(line, " \t"), "/")}, nil
	}
	name, rest, _ := strings.Cut(trimmed, " ")
	rest = strings.TrimSpace(rest)
	switch name {
	case "/quit":
		return command{kind: cmdQuit}, nil
	case "/who":
		if rest != "" {
			return command{}, fmt.Errorf("usage: /who (it lists your room's members)")
		}
		return command{kind: cmdWho}, nil
	case "/join":
		if rest == "" || strings.ContainsAny(rest, " \t") {
			return command{}, fmt.Errorf("usage: /join ROOM (one word)")
		}
		return command{kind: cmdJoin, room: rest}, nil
	case "/mail":
		user, text, _ := strings.Cut(rest, " ")
		if user == "" || strings.TrimSpace(text) == "" {
			return command{}, fmt.Errorf("usage: /mail USER TEXT")
		}
		return command{kind: cmdMail, user: user, text: strings.TrimSpace(text)}, nil
	}
	return command{}, fmt.Errorf("unknown command %s (commands: %s)", clip(name), commandsHelp)
}

// clip bounds what a line quotes back.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// whoTimeout bounds the wait for the answer to /who.
const whoTimeout = 10 * time.Second

// whoAnswer is the outcome of one /who: the line to print, or an error.
type whoAnswer struct{ line, err string }

// whoRequests runs the /who requests: each in a goroutine that sends its
// outcome on out, or drops it once quit is closed (the client is leaving).
type whoRequests struct {
	out     chan whoAnswer
	quit    chan struct{}
	waiting int // asked and not yet printed (the run loop's)
}

// ask sends a Who request to the player's avatar.
func (w *whoRequests) ask(me stubs.Avatar) {
	w.waiting++
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), whoTimeout)
		defer cancel()
		v, err := me.RequestWho(ctx)
		a := whoAnswer{}
		if err != nil {
			a.err = err.Error()
		} else {
			a.line = formatWho(v)
		}
		select {
		case w.out <- a:
		case <-w.quit:
		}
	}()
}

// formatWho formats the answer of the avatar's Who ({"room", "members",
// "total"}) as "[ROOM] members: NAME, NAME" (the server sorts them),
// with ", … (N in all)" when the server named only the first of them.
func formatWho(m map[string]any) string {
	members, _ := m["members"].([]any)
	names := make([]string, 0, len(members))
	for _, n := range members {
		names = append(names, fmt.Sprint(n))
	}
	line := fmt.Sprintf("[%s] members: %s", arg([]any{m["room"]}, 0), strings.Join(names, ", "))
	if total := fmt.Sprint(m["total"]); total != fmt.Sprint(len(names)) {
		line += ", … (" + total + " in all)"
	}
	return line
}

func arg(args []any, i int) string {
	if i < len(args) {
		return fmt.Sprint(args[i])
	}
	return ""
}
