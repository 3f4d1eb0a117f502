package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

// kicked waits for the chatter's disconnection and returns the reason.
func (ch *chatter) kicked() string {
	ch.t.Helper()
	for {
		if d, ok := ch.next().(client.Disconnected); ok {
			return d.Reason
		}
	}
}

// bootEntity waits for the connection's Account and returns its ID.
func (ch *chatter) bootEntity() rpc.EntityID {
	ch.t.Helper()
	for {
		if ev, ok := ch.next().(client.EntityCreated); ok && ev.IsPlayer && ev.Type == "Account" {
			return ev.ID
		}
	}
}

// TestHostileStringsKickOnlyTheSender is issue 13's regression test on
// the chat demo: before logging in, a client calls its Account with a
// 65,500-byte method name that is a valid identifier (this crashed the
// game), or a 65,000-byte one that is not; after logging in, one joins a
// room with a 64 KiB name and one says a 64 KiB line. Each is kicked with
// a short reason; a room name over the demo's own bound (32 bytes) but
// under the engine's gets the demo's error and no kick; and alice and bob
// chat before and after every one of them.
func TestHostileStringsKickOnlyTheSender(t *testing.T) {
	c := startCluster(t, t.TempDir())
	addr := c.GateAddr(0)
	alice := dial(t, addr, "alice", false)
	bob := dial(t, addr, "bob", true)
	alice.register("secret", "lobby")
	bob.register("hunter2", "lobby")
	n := 0
	chat := func() {
		t.Helper()
		n++
		line := fmt.Sprintf("still here %d", n)
		bob.say(line)
		alice.expectChat("[lobby] bob: " + line)
		bob.expectChat("[lobby] bob: " + line)
	}
	chat()

	raw := func(ch *chatter, id rpc.EntityID, method string, args ...any) {
		body := rpc.AppendString(rpc.AppendEntityID(nil, id), method)
		body, err := rpc.AppendArgs(body, args)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.c.SendRaw(rpc.MsgCallEntity, body); err != nil {
			t.Fatal(err)
		}
	}
	huge := strings.Repeat("x", 65000)
	for i, tc := range []struct {
		name  string
		login bool // log in first
		send  func(ch *chatter, id rpc.EntityID)
		want  string
	}{
		{"65,500-byte identifier before login", false, func(ch *chatter, id rpc.EntityID) { raw(ch, id, "Login"+strings.Repeat("a", 65495), "u", "p") },
			"protocol error: method name of 65500 bytes, over the limit of 256"},
		{"65,000-byte non-identifier before login", false, func(ch *chatter, id rpc.EntityID) { raw(ch, id, strings.Repeat("!", 65000)) },
			"protocol error: method name of 65000 bytes, over the limit of 256"},
		{"64 KiB user name", false, func(ch *chatter, id rpc.EntityID) { raw(ch, id, "Login", huge, "p") },
			"call Account.Login refused: Account.Login: rpc: bad arguments: argument 0 (string): string too long: 65000 bytes, over the limit of 4096 (max_client_string)"},
		{"64 KiB room name", true, func(ch *chatter, _ rpc.EntityID) { ch.c.CallPlayer("JoinRoom", huge) },
			"call Avatar.JoinRoom refused: Avatar.JoinRoom: rpc: bad arguments: argument 0 (string): string too long: 65000 bytes, over the limit of 4096 (max_client_string)"},
		{"64 KiB chat line", true, func(ch *chatter, _ rpc.EntityID) { ch.c.CallPlayer("Say", huge) },
			"call Avatar.Say refused: Avatar.Say: rpc: bad arguments: argument 0 (string): string too long: 65000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := dial(t, addr, fmt.Sprintf("mallory%d", i), false)
			bad.t = t
			var id rpc.EntityID
			if tc.login {
				bad.register("pw", "lobby")
			} else {
				id = bad.bootEntity()
			}
			tc.send(bad, id)
			if r := bad.kicked(); !strings.Contains(r, tc.want) || len(r) > 300 {
				t.Fatalf("kick reason (%d bytes) %.400q, want a short one containing %q", len(r), r, tc.want)
			}
			chat()
		})
	}

	// A room name the engine lets through but the demo does not: the
	// demo says why, and the player stays.
	eve := dial(t, addr, "eve", false)
	eve.register("pw", "lobby")
	eve.c.CallPlayer("JoinRoom", strings.Repeat("r", 300))
	for {
		if ev, ok := eve.next().(client.Call); ok && ev.Method == "OnError" {
			if !strings.Contains(fmt.Sprint(ev.Args[0]), "a room name is 1 to 32") {
				t.Fatalf("OnError%v", ev.Args)
			}
			break
		}
	}
	chat()
	eve.expectChat(fmt.Sprintf("[lobby] bob: still here %d", n))
}
