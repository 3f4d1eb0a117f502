package main

// End-to-end tests of the demo with Redis storage, through goworldctl.

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
)

// redisConfig is testConfig with [storage] type = redis.
func redisConfig(addr string) string {
	cfg := fmt.Sprintf(testConfig, "Account", "chat.db")
	return strings.Replace(cfg, "[storage]\npath = chat.db\n",
		"[storage]\ntype = redis\naddr = "+addr+"\nkey_prefix = chat:\nread_timeout = 1s\ndial_timeout = 1s\n", 1)
}

// TestStartRefusesAnUnreachableRedis: goworldctl start with [storage]
// type = redis and nothing listening at addr fails, and what it prints
// names the game and the address; nothing is left running.
func TestStartRefusesAnUnreachableRedis(t *testing.T) {
	ctl, server, _ := binaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	dir := serverDir(t, server)
	writeConfig(t, dir, redisConfig(addr))
	t.Cleanup(func() { run(t, repoRoot, ctl, "kill", dir) })
	r := run(t, repoRoot, ctl, "start", "-no-build", dir)
	if r.code == 0 {
		t.Fatalf("start succeeded with Redis unreachable:\n%s", r.out)
	}
	t.Logf("goworldctl start said:\n%s", r.err)
	for _, s := range []string{"game1", "redis " + addr, "connection refused"} {
		if !strings.Contains(r.err, s) {
			t.Errorf("start's error does not say %q:\n%s", s, r.err)
		}
	}
	if r := run(t, repoRoot, ctl, "status", dir); r.code == 0 {
		t.Fatalf("something runs after a failed start:\n%s", r.out)
	}
}

// TestChatOnRedis runs the demo on a real redis-server (appendonly yes):
// an account registered through goworldctl's processes logs in again
// after the whole cluster was stopped and started, and another after
// goworldctl kill (SIGKILL) and a start; while Redis is down a
// login is refused with the demo's reason (the account store is
// unavailable), and once Redis is back logins work again without
// restarting anything.
func TestChatOnRedis(t *testing.T) {
	ctl, server, chat := binaries(t)
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "everysec")
	dir := serverDir(t, server)
	writeConfig(t, dir, redisConfig(srv.Addr))

	addr := startProcs(t, ctl, dir, "-no-build")
	alice := startChat(t, chat, addr, "alice", "secret", "-register")
	alice.expect("logged in as alice")
	alice.stdin.Close()
	alice.exit()
	ctlCmd(t, ctl, "stop", dir)
	if n, err := srv.Command("DBSIZE"); err != nil || n == "0" {
		t.Fatalf("Redis holds %s keys (%v) after a registration", n, err)
	}

	addr = startProcs(t, ctl, dir, "-no-build")
	alice = startChat(t, chat, addr, "alice", "secret")
	alice.expect("logged in as alice")
	alice.stdin.Close()
	alice.exit()

	// kill -9 of every process: what Redis acknowledged stays.
	bob := startChat(t, chat, addr, "bob", "hunter2", "-register")
	bob.expect("logged in as bob")
	bob.stdin.Close()
	bob.exit()
	ctlCmd(t, ctl, "kill", dir)
	addr = startProcs(t, ctl, dir, "-no-build")
	bob = startChat(t, chat, addr, "bob", "hunter2")
	bob.expect("logged in as bob")
	bob.stdin.Close()
	bob.exit()

	srv.Stop()
	down := startChat(t, chat, addr, "alice", "secret")
	if code := down.exit(); code != 1 || !strings.Contains(down.stderr(), "login failed: the account store is unavailable") {
		t.Fatalf("login with Redis down: exit %d, stderr:\n%s", code, down.stderr())
	}

	srv.Restart(t)
	alice = startChat(t, chat, addr, "alice", "secret")
	alice.expect("logged in as alice")
	alice.stdin.Close()
	alice.exit()
}

// TestTwoGamesRaceOnOneAccount: two games share one Redis; in each round
// four clients, whose accounts the dispatcher placed on both games,
// register the same name at the same instant. Exactly one gets in; the
// others are told the name is taken (KVPutIfAbsent is atomic across the
// games), and the winner's password is the one that logs in.
func TestTwoGamesRaceOnOneAccount(t *testing.T) {
	srv := redistest.Start(t)
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", Games: 2,
		OpenStorage: func(int) (storage.Backend, error) {
			return storage.OpenRedis(&storage.RedisOptions{Addr: srv.Addr, KeyPrefix: "race:"})
		}})
	gate := c.GateAddr(0)
	const (
		rounds     = 5
		contenders = 4
	)
	for r := range rounds {
		name := fmt.Sprintf("contested%d", r)
		var (
			chs   []*chatter
			boots []client.EntityCreated
		)
		games := map[int]bool{}
		for i := range contenders {
			ch := dialFrom(t, gate, fmt.Sprintf("127.0.%d.%d", 20+r, 2+i), name)
			chs = append(chs, ch)
			boot := ch.awaitBoot()
			boots = append(boots, boot)
			games[gameOf(t, c, boot.ID)] = true
		}
		if len(games) != 2 {
			t.Fatalf("round %d: the %d accounts are on games %v, want both games", r, contenders, games)
		}
		for i, ch := range chs {
			if err := ch.c.Call(boots[i].ID, "Register", name, fmt.Sprint("pw", i)); err != nil {
				t.Fatal(err)
			}
		}
		out := make(chan outcome, contenders)
		for i, ch := range chs {
			go awaitOutcome(ch.c, i, out)
		}
		winner := -1
		for range contenders {
			o := <-out
			switch {
			case o.ok && winner >= 0:
				t.Fatalf("round %d: contenders %d and %d both registered %s", r, winner, o.i, name)
			case o.ok:
				winner = o.i
			case o.reason != "that name is taken":
				t.Fatalf("round %d: contender %d: %q, want in or \"that name is taken\"", r, o.i, o.reason)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody registered %s", r, name)
		}
		again := dialFrom(t, gate, fmt.Sprintf("127.0.%d.99", 20+r), name)
		again.login(fmt.Sprint("pw", winner), "")
	}
}

// gameOf returns the number (1-based) of the game where entity id lives.
func gameOf(t *testing.T, c *cluster.Cluster, id rpc.EntityID) int {
	t.Helper()
	for i, g := range c.Games {
		found := make(chan bool, 1)
		g.Post(func() { found <- g.World().Entity(id) != nil })
		select {
		case ok := <-found:
			if ok {
				return i + 1
			}
		case <-time.After(waitFor):
			t.Fatal("a game's loop did not answer")
		}
	}
	t.Fatalf("entity %s is on no game", id)
	return 0
}
