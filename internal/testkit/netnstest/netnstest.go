//go:build linux

package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireEnv, set to 1, makes New fail rather than skip where namespaces
// cannot be made: CI sets it, so that the multi-host tests never vanish
// into a skip there.
const RequireEnv = "GOWORLD_REQUIRE_NETNS"

// Net is a set of hosts on one bridge.
type Net struct {
	t      testing.TB
	id     string // random, in every name this Net makes
	subnet int    // N of 10.213.N.0/24
	sw     string // the namespace that holds the bridge
	hosts  map[string]*Host
	order  []string
}

// Host is one namespace on the Net.
type Host struct {
	Name string // as the test named it
	NS   string // the namespace's name
	Addr string // its address on the Net, e.g. 10.213.7.2
	n    *Net
	peer string // its veth's end on the bridge, in the switch namespace
}

// New makes a Net with one host per name. It skips the test (or fails
// it, with RequireEnv=1) if namespaces cannot be made here.
func New(t testing.TB, names ...string) *Net {
	t.Helper()
	if why := unusable(); why != "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("network namespaces are required (%s=1) but cannot be made here: %s", RequireEnv, why)
		}
		t.Skipf("network namespaces cannot be made here (%s); CI runs this as root with %s=1", why, RequireEnv)
	}
	b := make([]byte, 3)
	rand.Read(b)
	n := &Net{t: t, id: hex.EncodeToString(b), subnet: 1 + int(b[0])%250, hosts: map[string]*Host{}}
	n.sw = "gw" + n.id + "sw"
	t.Cleanup(n.destroy)
	n.ip("netns", "add", n.sw)
	n.nsip(n.sw, "link", "set", "lo", "up")
	n.nsip(n.sw, "link", "add", "br0", "type", "bridge")
	n.nsip(n.sw, "link", "set", "br0", "up")
	for i, name := range names {
		h := &Host{Name: name, NS: fmt.Sprintf("gw%s%d", n.id, i), Addr: fmt.Sprintf("10.213.%d.%d", n.subnet, i+2), n: n,
			peer: fmt.Sprintf("v%s%dp", n.id, i)}
		n.ip("netns", "add", h.NS)
		n.nsip(h.NS, "link", "set", "lo", "up")
		// A veth pair made in the host's namespace, one end moved to the
		// switch's and put on the bridge.
		n.nsip(h.NS, "link", "add", "eth0", "type", "veth", "peer", "name", h.peer)
		n.nsip(h.NS, "link", "set", h.peer, "netns", n.sw)
		n.nsip(n.sw, "link", "set", h.peer, "master", "br0")
		n.nsip(n.sw, "link", "set", h.peer, "up")
		n.nsip(h.NS, "addr", "add", h.Addr+"/24", "dev", "eth0")
		n.nsip(h.NS, "link", "set", "eth0", "up")
		n.hosts[name] = h
		n.order = append(n.order, name)
	}
	return n
}

// unusable says why namespaces cannot be made here ("" if they can).
func unusable() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no ip command (iproute2)"
	}
	name := "gwprobe" + hex.EncodeToString([]byte{byte(os.Getpid()), byte(os.Getpid() >> 8)})
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Sprintf("ip netns add: %v: %s", err, strings.TrimSpace(string(out)))
	}
	exec.Command("ip", "netns", "del", name).Run()
	return ""
}

// Host returns the host named name.
func (n *Net) Host(name string) *Host {
	h := n.hosts[name]
	if h == nil {
		n.t.Fatalf("netnstest: no host %q", name)
	}
	return h
}

func (n *Net) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (n *Net) nsip(ns string, args ...string) {
	n.t.Helper()
	n.ip(append([]string{"-n", ns}, args...)...)
}

// destroy deletes every namespace the Net made (their links go with them).
func (n *Net) destroy() {
	for _, name := range n.order {
		exec.Command("ip", "netns", "del", n.hosts[name].NS).Run()
	}
	exec.Command("ip", "netns", "del", n.sw).Run()
}

// Command returns a command that runs name with args inside the host's
// namespace (ip netns exec). The caller starts and waits for it, and
// stops it by its PID if need be.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// LinkDown takes the host's link to the bridge down: it is cut off from
// the other hosts (its own loopback still works) until LinkUp.
func (h *Host) LinkDown() { h.n.nsip(h.n.sw, "link", "set", h.peer, "down") }

// LinkUp brings the host's link back.
func (h *Host) LinkUp() { h.n.nsip(h.n.sw, "link", "set", h.peer, "up") }

// Do runs fn on an OS thread switched into the host's namespace, and
// returns its error. Sockets fn makes belong to that namespace for good,
// so a client dialled inside fn can be used anywhere afterwards. fn must
// not start goroutines that make sockets: they run on other threads.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it is left in the other namespace,
		// and the runtime ends a locked thread with its goroutine.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + h.NS)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", h.NS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
