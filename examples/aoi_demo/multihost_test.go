//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/netnstest"
)

// multiHostConfig is the demo over six hosts: Redis, a dispatcher, two
// games and two gates, each on an address that exists only inside the
// test's network namespaces, with a cluster secret.
const multiHostConfig = `
[cluster]
secret_file = cluster.secret
[storage]
type = redis
addr = %[1]s:6379
key_prefix = aoi_demo:
[dispatcher1]
host = disp
listen_addr = %[2]s:13001
[game_common]
boot_entity = Player
position_sync_interval = 50ms
[game1]
host = game1
[game2]
host = game2
[gate_common]
heartbeat_timeout = 30s
[gate1]
host = gate1
listen_addr = %[3]s:14001
[gate2]
host = gate2
listen_addr = %[4]s:14001
`

// multiHostHosts are the hosts that run goworld processes, the dispatcher
// first: games and gates are ready once connected to it.
var multiHostHosts = []string{"disp", "game1", "game2", "gate1", "gate2"}

// startMultiHost starts Redis and the demo over the hosts of a new
// netnstest.Net, each process with goworldctl start -host NAME in its
// namespace, from its own copy of the server directory, as on separate
// machines. It returns the Net and each host's server directory.
func startMultiHost(t *testing.T) (*netnstest.Net, map[string]string) {
	t.Helper()
	ctl, _ := binaries(t)
	n := netnstest.New(t, "store", "disp", "game1", "game2", "gate1", "gate2", "client")
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is needed (Debian's package redis-server; .ci/run installs it)")
	}
	store := n.Host("store")
	redis := store.Command("redis-server", "--bind", store.Addr, "--port", "6379", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--protected-mode", "no")
	var redisOut bytes.Buffer
	redis.Stdout, redis.Stderr = &redisOut, &redisOut
	if err := redis.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		redis.Process.Kill() // the redis-server this test started, by its handle
		redis.Wait()
	})
	awaitFrom(t, n, "client", store.Addr+":6379", "redis")

	cfg := fmt.Sprintf(multiHostConfig, store.Addr, n.Host("disp").Addr, n.Host("gate1").Addr, n.Host("gate2").Addr)
	secret := []byte("a cluster secret of the AOI demo's multi-host test")
	dirs := map[string]string{}
	for _, host := range multiHostHosts {
		dir := newServerDir(t, cfg)
		if err := os.WriteFile(filepath.Join(dir, "cluster.secret"), secret, 0o600); err != nil {
			t.Fatal(err)
		}
		dirs[host] = dir
		t.Cleanup(func() { // before the namespaces go
			if t.Failed() {
				logs, _ := filepath.Glob(filepath.Join(dir, "log", "*.log"))
				for _, path := range logs {
					if b, err := os.ReadFile(path); err == nil {
						lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
						t.Logf("last lines of %s's %s:\n%s", host, filepath.Base(path), strings.Join(lines[max(0, len(lines)-20):], "\n"))
					}
				}
			}
			n.Host(host).Command(ctl, "kill", "-host", host, dir).Run()
		})
	}
	for _, host := range multiHostHosts {
		if out, err := n.Host(host).Command(ctl, "start", "-no-build", "-host", host, dirs[host]).CombinedOutput(); err != nil {
			t.Fatalf("goworldctl start -host %s: %v\n%s", host, err, out)
		}
	}
	return n, dirs
}

// awaitFrom waits until addr accepts connections from host.
func awaitFrom(t *testing.T, n *netnstest.Net, host, addr, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := n.Host(host).Do(func() error {
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
			t.Fatalf("%s at %s not reachable from %s after 20s: %v", what, addr, host, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// joinFrom connects a player from the client host to gate (dialled inside
// the client host's namespace, where its socket stays) and waits until it
// is in zone 1, named.
func joinFrom(t *testing.T, n *netnstest.Net, h *hub, gate, name string) *player {
	t.Helper()
	addr := n.Host(gate).Addr + ":14001"
	var c *client.Client
	if err := n.Host("client").Do(func() (err error) {
		c, err = client.Dial(addr, client.Options{})
		return err
	}); err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	p := enter(t, h, c, name)
	h.waitUntil(t, name+" in zone 1", func() bool { return p.inZone(1) })
	return p
}

// TestMultiHostZones runs the demo over six hosts (network namespaces):
// zone 1 on game1's host (with zone 3), zone 2 on game2's; players on both gates see
// the players of their zone, whichever gate they came through, and travel
// between the zones, round after round, migrating between the game hosts
// with their clients connected; every view stays exact.
func TestMultiHostZones(t *testing.T) {
	n, dirs := startMultiHost(t)
	h := newHub()
	a := joinFrom(t, n, h, "gate1", "a")
	b := joinFrom(t, n, h, "gate1", "b")
	c := joinFrom(t, n, h, "gate2", "c")
	d := joinFrom(t, n, h, "gate2", "d")
	ps := []*player{a, b, c, d}
	a.move(100, 100)
	b.move(150, 100)
	c.move(100, 100)
	d.move(130, 120)
	marks := make([]int, len(ps))
	for i, p := range ps {
		p.sync()
		marks[i] = p.mark()
	}
	zones := []int{1, 1, 1, 1}
	awaitViews(t, h, ps, expectedViews(ps, zones), "all in zone 1")

	// c (gate2) and b (gate1) go to zone 2, on the other game host.
	c.travel(2)
	b.travel(2)
	zones[1], zones[2] = 2, 2
	for i, p := range ps {
		if g := p.attrInt("game"); g != int64(zones[i]) {
			t.Fatalf("%s in zone %d is on game %d", p.name, zones[i], g)
		}
	}
	awaitViews(t, h, ps, expectedViews(ps, zones), "zones 1 and 2")
	// The game on each host says, in its own log, that it hosts its
	// zones: the zone service's shards dealt out in turn, zones 1 and 3
	// on game1, zone 2 on game2 (all created when the cluster starts).
	for g, zone := range map[int]string{1: "1", 2: "2"} {
		z := hostedZones(t, dirs[fmt.Sprintf("game%d", g)], g)
		if want := 3 - g; len(z) != want || z[zone] == "" || (g == 1 && z["3"] == "") {
			t.Fatalf("game%d's host: the game hosts zones %v, want %d of them, zone %s among them", g, z, want, zone)
		}
		var p *player
		for i := range ps {
			if zones[i] == g {
				p = ps[i]
			}
		}
		if sp, _ := p.c.Space(); string(sp) != z[zone] {
			t.Fatalf("%s in zone %s is in space %s, game%d hosts it as %s", p.name, zone, sp, g, z[zone])
		}
	}

	// Rounds of travels: everyone to the other zone, then half of them.
	for round := range 4 {
		for i, p := range ps {
			if round%2 == 1 && i%2 == 1 {
				continue
			}
			zones[i] = 3 - zones[i]
			p.travel(zones[i])
			p.sync()
		}
		awaitViews(t, h, ps, expectedViews(ps, zones), fmt.Sprintf("round %d", round))
	}
	for i, p := range ps {
		if _, _, err := replayTravels(p, marks[i]); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
}
