//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/netnstest"
)

// multiHostConfig is a cluster over six hosts: Redis, a dispatcher, two
// games and two gates, each on an address that exists only inside the
// test's network namespaces, with a cluster secret.
const multiHostConfig = `
[cluster]
secret_file = cluster.secret
[storage]
type = redis
addr = %[1]s:6379
[dispatcher1]
host = disp
listen_addr = %[2]s:13001
%[5]s
[game_common]
boot_entity = Account
[game1]
host = game1
[game2]
host = game2
[gate_common]
heartbeat_timeout = 20s
[gate1]
host = gate1
listen_addr = %[3]s:14001
[gate2]
host = gate2
listen_addr = %[4]s:14001
`

// multiHostOptions vary the cluster startMultiHost starts.
type multiHostOptions struct {
	// advertise, if set, is dispatcher1's advertise_addr: the address
	// games and gates dial (a forwarder on their own hosts, say).
	advertise string
	// beforeServers, if set, runs once Redis answers, before goworldctl
	// starts any server (to start forwarders).
	beforeServers func(m *multiHost)
}

// multiHost is the demo cluster across hosts, each started with
// goworldctl start -host NAME in its own namespace, from its own copy of
// the server directory, as on separate machines.
type multiHost struct {
	t    testing.TB
	net  *netnstest.Net
	ctl  string
	dirs map[string]string // host → its server directory
}

func startMultiHost(t testing.TB, opts multiHostOptions) *multiHost {
	t.Helper()
	ctl, server, _ := binaries(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is needed (Debian's package redis-server; .ci/run installs it)")
	}
	n := netnstest.New(t, "store", "disp", "game1", "game2", "gate1", "gate2", "client")
	m := &multiHost{t: t, net: n, ctl: ctl, dirs: map[string]string{}}

	// Redis on the store host, stopped by the PID it was started with.
	store := n.Host("store")
	redis := store.Command("redis-server", "--bind", store.Addr, "--port", "6379", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--protected-mode", "no")
	var redisOut bytes.Buffer
	redis.Stdout, redis.Stderr = &redisOut, &redisOut
	if err := redis.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		redis.Process.Kill()
		redis.Wait()
	})
	m.await("client", store.Addr+":6379", "redis")

	if opts.beforeServers != nil {
		opts.beforeServers(m)
	}
	var advertise string
	if opts.advertise != "" {
		advertise = "advertise_addr = " + opts.advertise
	}
	cfg := fmt.Sprintf(multiHostConfig, store.Addr, n.Host("disp").Addr, n.Host("gate1").Addr, n.Host("gate2").Addr, advertise)
	secret := []byte("a cluster secret of the multi-host test, 48 bytes")
	for _, host := range []string{"disp", "game1", "game2", "gate1", "gate2"} {
		dir := serverDir(t, server)
		writeConfig(t, dir, cfg)
		if err := os.WriteFile(filepath.Join(dir, "cluster.secret"), secret, 0o600); err != nil {
			t.Fatal(err)
		}
		m.dirs[host] = dir
		t.Cleanup(func() { n.Host(host).Command(ctl, "kill", "-host", host, dir).Run() }) // before the namespaces go
	}
	// The dispatcher first: games and gates are ready once connected to it.
	for _, host := range []string{"disp", "game1", "game2", "gate1", "gate2"} {
		if out, err := n.Host(host).Command(ctl, "start", "-no-build", "-host", host, m.dirs[host]).CombinedOutput(); err != nil {
			t.Fatalf("goworldctl start -host %s: %v\n%s", host, err, out)
		}
	}
	return m
}

// await waits until addr accepts connections from host.
func (m *multiHost) await(host, addr, what string) {
	m.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := m.net.Host(host).Do(func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("%s at %s not reachable from %s after 20s: %v", what, addr, host, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// dialFromClientHost connects a chatter, from the client host, to gate.
func (m *multiHost) dial(gate, name string) *chatter {
	m.t.Helper()
	var c *client.Client
	addr := m.net.Host(gate).Addr + ":14001"
	if err := m.net.Host("client").Do(func() (err error) {
		c, err = client.Dial(addr, client.Options{})
		return err
	}); err != nil {
		m.t.Fatalf("dial %s: %v", addr, err)
	}
	m.t.Cleanup(func() { c.Close() })
	return &chatter{t: m.t, name: name, c: c}
}

// TestMultiHostChat runs the demo over six hosts (network namespaces):
// players on both gates register (accounts in Redis on its own host) and
// see each other's lines; then a game host's link goes down for 5 s and
// comes back while they chat: every line reaches every player once and
// in order, or the player is told it was disconnected.
func TestMultiHostChat(t *testing.T) {
	m := startMultiHost(t, multiHostOptions{})
	for _, h := range []string{"disp", "game1", "game2", "gate1", "gate2"} {
		out, _ := m.net.Host(h).Command(m.ctl, "status", "-host", h, m.dirs[h]).CombinedOutput()
		if !strings.Contains(string(out), "running") || strings.Contains(string(out), " down") {
			t.Fatalf("goworldctl status -host %s:\n%s", h, out)
		}
	}
	players := make([]*chatter, 4)
	for i := range players {
		players[i] = m.dial([]string{"gate1", "gate2"}[i%2], fmt.Sprintf("p%d", i))
		players[i].register("pw", "lobby")
	}
	for _, err := range chatRound(players, "before", 10) {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The dispatcher spread the players' entities over both game hosts.
	for _, h := range []string{"game1", "game2"} {
		if n := m.gameEntities(h); n == 0 {
			t.Fatalf("%s hosts no entity", h)
		}
	}

	// game1's host is cut off for 5 s while everyone speaks.
	g1 := m.net.Host("game1")
	g1.LinkDown()
	down := time.Now()
	done := make(chan []error, 1)
	go func() { done <- chatRound(players, "fault", 10) }()
	time.Sleep(5*time.Second - time.Since(down)) // the fault's length: the scenario, not a wait for an event
	g1.LinkUp()
	var left []*chatter
	for i, err := range <-done {
		switch {
		case err == nil:
			left = append(left, players[i])
		case !strings.Contains(err.Error(), "disconnected"):
			t.Errorf("p%d during the fault: %v", i, err)
		}
	}
	// Whoever was not told to go chats on.
	if len(left) == 0 {
		t.Fatal("every player lost")
	}
	t.Logf("%d of %d players went through the 5 s cut without a disconnect", len(left), len(players))
	left[0].say("after")
	for _, p := range left {
		p.expectChat(fmt.Sprintf("[lobby] %s: after", left[0].name))
	}
}

// chatRound has every player say lines lines tagged tag, then waits
// until each has heard every line once, each speaker's in order
// (hearAll); it returns each player's error, nil if it heard them all.
func chatRound(players []*chatter, tag string, lines int) []error {
	for i, p := range players {
		for n := 0; n < lines; n++ {
			p.say(fmt.Sprintf("%s %d %d", tag, i, n))
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(players))
	for i, p := range players {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = hearAll(p, len(players), lines, tag) }()
	}
	wg.Wait()
	return errs
}

// gameEntities returns goworld_game_entities from the /metrics of the game
// on host, read inside its namespace (its admin address is loopback
// there, as goworldctl status says).
func (m *multiHost) gameEntities(host string) float64 {
	m.t.Helper()
	out, err := m.net.Host(host).Command(m.ctl, "status", "-host", host, m.dirs[host]).CombinedOutput()
	if err != nil {
		m.t.Fatalf("goworldctl status -host %s: %v\n%s", host, err, out)
	}
	var admin string
	for _, f := range strings.Fields(string(out)) {
		if a, ok := strings.CutPrefix(f, "admin="); ok {
			admin = a
		}
	}
	if admin == "" {
		m.t.Fatalf("no admin address in goworldctl status -host %s:\n%s", host, out)
	}
	// Dialled by hand: net/http would dial on a goroutine of its own,
	// outside the namespace.
	var body []byte
	if err := m.net.Host(host).Do(func() error {
		c, err := net.DialTimeout("tcp", admin, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", admin)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err
	}); err != nil {
		m.t.Fatalf("%s's metrics: %v", host, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "goworld_game_entities{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
	}
	m.t.Fatalf("no goworld_game_entities in %s's metrics", host)
	return 0
}
