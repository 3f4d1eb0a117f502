package main

import (
	"strings"
	"testing"

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
