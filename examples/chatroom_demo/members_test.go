package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// TestRoomMembersAndNotices: a player who joins a room is sent its
// members, OnMembers(room, sorted names, count), and the room hears
// OnEntered(room, name); one who moves to another room is announced
// there and the old room hears OnLeft; a returning player, back in its
// room at login, gets the list and is announced without joining again.
func TestRoomMembersAndNotices(t *testing.T) {
	c := startCluster(t, t.TempDir())
	alice := dial(t, c.GateAddr(0), "alice", false)
	alice.register("secret", "lobby")
	alice.expectMembers("lobby", "alice")

	bob := dial(t, c.GateAddr(0), "bob", true)
	bob.register("pw", "lobby")
	bob.expectMembers("lobby", "alice bob")
	alice.expectEntered("lobby", "bob")

	carol := dial(t, c.GateAddr(0), "carol", false)
	carol.register("pw", "garden")
	carol.expectMembers("garden", "carol")
	carol.join("lobby")
	carol.expectMembers("lobby", "alice bob carol")
	alice.expectEntered("lobby", "carol")
	bob.expectEntered("lobby", "carol")

	bob.join("garden")
	bob.expectMembers("garden", "bob")
	alice.expectLeft("lobby", "bob")
	carol.expectLeft("lobby", "bob")

	// carol leaves and comes back: she is in the lobby again at login.
	carol.c.Close()
	alice.expectLeft("lobby", "carol")
	again := dial(t, c.GateAddr(0), "carol", false)
	again.login("pw", "")
	again.expectMembers("lobby", "alice carol")
	alice.expectEntered("lobby", "carol")
}

// TestWhoRequest: the avatar's Who answers a client's request with its
// room and members, and a player in no room with the game's own error.
func TestWhoRequest(t *testing.T) {
	c := startCluster(t, t.TempDir())
	dave := dial(t, c.GateAddr(0), "dave", false)
	dave.register("pw", "")
	who := func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return dave.c.Request(ctx, "Who")
	}
	var re *rpc.ReplyError
	if v, err := who(); !errors.As(err, &re) || re.Code != rpc.CodeUser+1 || re.Message != "join a room first" {
		t.Fatalf("Who in no room: %v, %v", v, err)
	}
	dave.join("lobby")
	v, err := who()
	if err != nil || fmt.Sprint(v) != "map[members:[dave] room:lobby total:1]" {
		t.Fatalf("Who in the lobby: %v, %v", v, err)
	}
}

// TestBoundMembers: OnMembers names at most maxMembersSent members, the
// first in sorted order, and counts them all.
func TestBoundMembers(t *testing.T) {
	var names []string
	for i := maxMembersSent + 50; i > 0; i-- {
		names = append(names, fmt.Sprintf("p%04d", i))
	}
	got, total := boundMembers(names)
	if total != maxMembersSent+50 || len(got) != maxMembersSent || got[0] != "p0001" || got[len(got)-1] != fmt.Sprintf("p%04d", maxMembersSent) {
		t.Fatalf("boundMembers: %d names (%s … %s), total %d", len(got), got[0], got[len(got)-1], total)
	}
	if got, total := boundMembers([]string{"b", "a"}); strings.Join(got, " ") != "a b" || total != 2 {
		t.Fatalf("boundMembers of two: %v %d", got, total)
	}
}

// expectMembers waits for OnMembers and checks its room, names and count.
func (ch *chatter) expectMembers(room, names string) {
	ch.t.Helper()
	args := ch.expectCall("OnMembers")
	var got []string
	list, _ := args[1].([]any)
	for _, n := range list {
		got = append(got, fmt.Sprint(n))
	}
	if fmt.Sprint(args[0]) != room || strings.Join(got, " ") != names || fmt.Sprint(args[2]) != fmt.Sprint(len(got)) {
		ch.t.Fatalf("%s: OnMembers%v, want [%s [%s] %d]", ch.name, args, room, names, len(got))
	}
}

// expectEntered waits for the room's notice that name came in, skipping
// the notices of the player's own entrances (the room it enters hears it,
// and it may be in the room already when that arrives).
func (ch *chatter) expectEntered(room, name string) {
	ch.t.Helper()
	for {
		got := ch.expectCall("OnEntered")
		if fmt.Sprint(got[1]) == ch.name && name != ch.name {
			continue
		}
		if fmt.Sprint(got...) != room+name {
			ch.t.Fatalf("%s: OnEntered%v, want [%s %s]", ch.name, got, room, name)
		}
		return
	}
}
