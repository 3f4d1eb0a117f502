//go:build linux

package netnstest

import (
	"bufio"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHostsReachEachOtherOnlyOverTheNet: a listener on host a's address
// is reached from host b, and not while a's link is down. (The test never
// dials the Net's addresses from its own namespace: they are not routed
// there, and a packet to them would leave the machine.)
func TestHostsReachEachOtherOnlyOverTheNet(t *testing.T) {
	n := New(t, "a", "b")
	a, b := n.Host("a"), n.Host("b")
	var ln net.Listener
	if err := a.Do(func() (err error) { ln, err = net.Listen("tcp", a.Addr+":7000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from a\n"))
			c.Close()
		}
	}()
	dial := func(h *Host) (string, error) {
		var line string
		err := h.Do(func() error {
			c, err := net.DialTimeout("tcp", a.Addr+":7000", 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			line, err = bufio.NewReader(c).ReadString('\n')
			return err
		})
		return line, err
	}
	if line, err := dial(b); err != nil || line != "hello from a\n" {
		t.Fatalf("from b: %q, %v", line, err)
	}
	a.LinkDown()
	if _, err := dial(b); err == nil {
		t.Fatal("b reached a with a's link down")
	}
	a.LinkUp()
	if line, err := dial(b); err != nil || line != "hello from a\n" {
		t.Fatalf("from b after the link came back: %q, %v", line, err)
	}
	// The Net's namespaces are deleted at the end (t.Cleanup).
}
