package main

import (
	"fmt"
	"testing"

	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// startSharedCluster starts two games that share one Redis (started by
// the test), two gates and one dispatcher.
func startSharedCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	srv := redistest.Start(t)
	return cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", Games: 2, Gates: 2,
		OpenStorage: func(int) (storage.Backend, error) {
			return storage.OpenRedis(&storage.RedisOptions{Addr: srv.Addr, KeyPrefix: "avatar:"})
		}})
}

// dialOnGame dials gate until the connection's boot entity lands on game
// want (1-based), at most 10 tries, and returns it with its boot entity's ID. The
// dispatcher places each on the least loaded game: the connections that
// land elsewhere stay open (until the test ends), adding to that game's
// load, so that the next ones go to the other.
func dialOnGame(t *testing.T, c *cluster.Cluster, gate, want int, name string) (*chatter, rpc.EntityID) {
	t.Helper()
	for try := 0; try < 10; try++ {
		ch := dial(t, c.GateAddr(gate), name, false)
		id := ch.bootEntity()
		if gameOf(t, c, id) == want {
			return ch, id
		}
	}
	t.Fatalf("no boot entity of %s landed on game %d in 10 connections", name, want)
	return nil, ""
}

// TestOneAvatarAcrossGames: an account logged in through two gates whose
// boot entities live on two games has one avatar in the cluster: the
// second login finds the live avatar on the other game (the load is
// answered by its game), takes it over, and the first client is told why
// it is disconnected. Then the account chats on from the second.
func TestOneAvatarAcrossGames(t *testing.T) {
	c := startSharedCluster(t)
	first, _ := dialOnGame(t, c, 0, 1, "dave")
	first.enterAfterBoot("Register", "pw", "lobby")
	avatar := first.playerID()
	gameOf(t, c, avatar) // it is on one
	second, _ := dialOnGame(t, c, 1, 2, "dave")
	second.enterAfterBoot("Login", "pw", "lobby")
	if got := second.playerID(); got != avatar {
		t.Fatalf("the second login got avatar %s, want the live one %s", got, avatar)
	}
	if r := first.kicked(); r != "logged in from another connection" {
		t.Fatalf("the first client's disconnect reason %q", r)
	}
	live := 0
	for _, g := range c.Games {
		found := make(chan bool)
		g.Post(func() { found <- g.World().Entity(avatar) != nil })
		if <-found {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("the avatar is live on %d games", live)
	}
	second.say("one of me")
	second.expectChat("[lobby] dave: one of me")
}

// playerID returns the ID of the client's player entity.
func (ch *chatter) playerID() rpc.EntityID {
	ch.t.Helper()
	p, ok := ch.c.Player()
	if !ok {
		ch.t.Fatalf("%s has no player entity", ch.name)
	}
	return p.ID
}

// callAccount calls method(name, password) on the client's player, its
// Account (whose creation the caller has already seen).
func (ch *chatter) callAccount(method, password string) {
	ch.t.Helper()
	if err := ch.c.CallPlayer(method, ch.name, password); err != nil {
		ch.t.Fatal(err)
	}
}

// enterAfterBoot is enter (chat_test.go) for a client whose Account's
// creation was already seen.
func (ch *chatter) enterAfterBoot(method, password, room string) {
	ch.t.Helper()
	ch.callAccount(method, password)
	if got := ch.expectCall("OnLogin"); fmt.Sprint(got[0]) != ch.name {
		ch.t.Fatalf("OnLogin(%v), want %s", got, ch.name)
	}
	if room != "" {
		ch.join(room)
	}
}
