package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kcp-go (imported by the client package) runs process-wide
		// scheduler goroutines it never stops.
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"))
}

// TestFormatWho: /who's line for an answer that names every member, one
// that names only the first of them, and an empty room.
func TestFormatWho(t *testing.T) {
	for _, c := range []struct {
		answer map[string]any
		want   string
	}{
		{map[string]any{"room": "lobby", "members": []any{"alice", "bob"}, "total": int64(2)}, "[lobby] members: alice, bob"},
		{map[string]any{"room": "big", "members": []any{"a", "b"}, "total": int64(250)}, "[big] members: a, b, … (250 in all)"},
		{map[string]any{"room": "x", "members": []any{}, "total": int64(0)}, "[x] members: "},
	} {
		if got := formatWho(c.answer); got != c.want {
			t.Errorf("formatWho(%v) = %q, want %q", c.answer, got, c.want)
		}
	}
}

// TestParseLine: commands, text to say, and lines that look like
// commands but are not (an error, never said to the room).
func TestParseLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want command
		err  string
	}{
		{"hello", command{kind: cmdSay, text: "hello"}, ""},
		{"  ", command{kind: cmdNone}, ""},
		{"/quit", command{kind: cmdQuit}, ""},
		{"/who", command{kind: cmdWho}, ""},
		{" /who ", command{kind: cmdWho}, ""},
		{"/join games", command{kind: cmdJoin, room: "games"}, ""},
		{"/join", command{}, "usage: /join ROOM"},
		{"/join   ", command{}, "usage: /join ROOM"},
		{"/join two words", command{}, "usage: /join ROOM"},
		{"/mail bob hi there", command{kind: cmdMail, user: "bob", text: "hi there"}, ""},
		{"/mail bob", command{}, "usage: /mail USER TEXT"},
		{"/who me", command{}, "usage: /who"},
		{"/jion games", command{}, "unknown command /jion"},
		{"/", command{}, "unknown command /"},
		{"//etc/passwd is a path", command{kind: cmdSay, text: "/etc/passwd is a path"}, ""},
	} {
		got, err := parseLine(c.line)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %+v, %v; want an error with %q", c.line, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.line, got, err, c.want)
		}
	}
}

// fakeChatGate plays the chat server over resumable sessions, as far as
// the terminal client needs: a session (MsgSession) per hello, an
// Account that logs in (or registers) into an Avatar that forgets its
// room, rooms that echo what is said, and every resume refused, as a
// gate that restarted would.
type fakeChatGate struct {
	t  *testing.T
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	cur   net.Conn
	calls []string // "Method arg…" of every call received, in order
}

func newFakeChatGate(t *testing.T) *fakeChatGate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeChatGate{t: t, ln: ln}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				defer nc.Close()
				g.serve(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		g.drop()
		g.wg.Wait()
	})
	return g
}

// drop cuts the current connection.
func (g *fakeChatGate) drop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cur != nil {
		g.cur.Close()
		g.cur = nil
	}
}

func (g *fakeChatGate) serve(nc net.Conn) {
	var hdr [rpc.HeaderSize]byte
	read := func() (rpc.MsgType, []byte, error) {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		return rpc.ReadFrame(nc, hdr[:], 1<<20)
	}
	send := func(t rpc.MsgType, body []byte) { nc.Write(rpc.AppendFrame(nil, t, body)) }
	t, body, err := read()
	if err != nil {
		return
	}
	if t == rpc.MsgResume {
		send(rpc.MsgKick, rpc.AppendString(nil, "resume refused: unknown or expired session"))
		return
	}
	if _, flags, err := rpc.DecodeClientHelloFlags(body); t != rpc.MsgClientHello || err != nil || flags&rpc.HelloResume == 0 {
		g.t.Errorf("first frame %v % x: want a hello that asks for a resumable session", t, body)
		return
	}
	g.mu.Lock()
	g.cur = nc
	g.mu.Unlock()
	var token rpc.ResumeToken
	token[0] = 1
	send(rpc.MsgSession, rpc.AppendSession(nil, rpc.Session{Token: token, Window: 10 * time.Second, Limit: 1 << 20}))
	create := func(id rpc.EntityID, typ string, attrs map[string]any) {
		b := rpc.AppendString(rpc.AppendUint8(rpc.AppendEntityID(nil, id), 1), typ)
		b, _ = rpc.AppendValue(b, attrs)
		send(rpc.MsgCreateEntity, b)
	}
	call := func(id rpc.EntityID, method string, args ...any) {
		b, _ := rpc.AppendArgs(rpc.AppendString(rpc.AppendEntityID(nil, id), method), args)
		send(rpc.MsgCallClient, b)
	}
	account, avatar := rpc.NewEntityID(), rpc.NewEntityID()
	create(account, "Account", nil)
	name, room := "", ""
	for {
		t, body, err := read()
		if err != nil {
			return
		}
		switch t {
		case rpc.MsgHeartbeat:
			send(rpc.MsgHeartbeatAck, nil)
		case rpc.MsgBye:
			send(rpc.MsgBye, nil)
			return
		case rpc.MsgCallEntity:
			r := rpc.NewReader(body)
			r.EntityID()
			method := r.String()
			args, err := rpc.DecodeAnyArgs(r.Rest())
			if err != nil || len(args) == 0 {
				g.t.Errorf("call %s: %v %v", method, args, err)
				return
			}
			g.mu.Lock()
			g.calls = append(g.calls, fmt.Sprint(method, " ", args[0]))
			g.mu.Unlock()
			switch method {
			case "Login", "Register":
				name = args[0].(string)
				create(avatar, "Avatar", map[string]any{"name": name, "room": ""})
				call(avatar, "OnLogin", name)
			case "JoinRoom":
				room = args[0].(string)
				call(avatar, "OnJoined", room)
			case "Say":
				call(avatar, "OnChat", room, name, args[0])
			}
		}
	}
}

// lineWriter hands each line written to it to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.lines <- string(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) expect(t *testing.T, want string) {
	t.Helper()
	w.expectPrefix(t, want, false)
}

// expectPrefix checks the next line: want, or with prefix, a line that
// begins with it.
func (w *lineWriter) expectPrefix(t *testing.T, want string, prefix bool) {
	t.Helper()
	select {
	case got := <-w.lines:
		if got != want && !(prefix && strings.HasPrefix(got, want)) {
			t.Fatalf("printed %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q", want)
	}
}

// TestReloginAfterRefusedResume: the terminal client asks for a
// resumable session; when its connection drops and the gate refuses to
// resume (it no longer holds the session), it says so, logs in again
// with the same name and password (not registering twice) and rejoins
// the room it was in; then chat goes on.
func TestReloginAfterRefusedResume(t *testing.T) {
	g := newFakeChatGate(t)
	inR, inW := io.Pipe()
	out := &lineWriter{lines: make(chan string, 64)}
	errOut := &lineWriter{lines: make(chan string, 64)}
	status := make(chan int, 1)
	go func() {
		status <- run([]string{"-gate", g.ln.Addr().String(), "-user", "alice", "-password", "pw", "-register"}, inR, out, errOut)
	}()
	defer inW.Close()
	say := func(line string) {
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	out.expect(t, "logged in as alice")
	out.expect(t, "joined lobby")
	say("/join garden")
	out.expect(t, "joined garden")
	say("hello")
	out.expect(t, "[garden] alice: hello")

	g.drop()
	errOut.expectPrefix(t, "reconnecting… (attempt 1: ", true) // then why: an end of stream, or a reset
	errOut.expect(t, "resume refused: unknown or expired session: logging in again as alice")
	out.expect(t, "logged in as alice")
	out.expect(t, "joined garden")
	say("hello again")
	out.expect(t, "[garden] alice: hello again")
	say("/quit")
	select {
	case code := <-status:
		if code != 0 {
			t.Fatalf("exit status %d after /quit", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not quit")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	want := "[Register alice JoinRoom lobby JoinRoom garden Say hello Login alice JoinRoom garden Say hello again]"
	if got := fmt.Sprint(g.calls); got != want {
		t.Fatalf("calls received: %s\nwant %s", got, want)
	}
}
