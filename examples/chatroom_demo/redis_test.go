package main

// End-to-end tests of the demo with Redis storage, through goworldctl.

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/internal/redistest"
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
