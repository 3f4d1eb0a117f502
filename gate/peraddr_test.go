package gate

import (
	"net"
	"net/netip"
	"testing"
)

// An address counts by itself (IPv4, an IPv4-mapped IPv6 address alike)
// or by its /64 (IPv6); exempt networks are not counted; a release gives
// the place back once, however often it is called.
func TestAddrLimitKeys(t *testing.T) {
	l := newAddrLimit(2, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	udp := func(s string) net.Addr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	take := func(a net.Addr) func() {
		t.Helper()
		r, ok := l.take(a)
		if !ok {
			t.Fatalf("take(%v) refused", a)
		}
		return r
	}
	r1 := take(tcp("192.0.2.1:1000"))
	take(udp("[::ffff:192.0.2.1]:2000")) // the same address, mapped, over UDP
	if _, ok := l.take(tcp("192.0.2.1:3000")); ok {
		t.Fatal("a third connection of 192.0.2.1 was taken")
	}
	r1()
	r1() // once only
	take(tcp("192.0.2.1:3000"))
	if _, ok := l.take(tcp("192.0.2.1:3001")); ok {
		t.Fatal("a release given twice freed two places")
	}
	// IPv6: one /64 is one address; another /64 is another.
	take(tcp("[2001:db8:1:2::1]:1"))
	take(tcp("[2001:db8:1:2:ffff::9]:1"))
	if _, ok := l.take(tcp("[2001:db8:1:2::77]:1")); ok {
		t.Fatal("a third connection of 2001:db8:1:2::/64 was taken")
	}
	take(tcp("[2001:db8:1:3::1]:1"))
	// Exempt: any number.
	for range 5 {
		take(tcp("10.1.2.3:1"))
	}
	if got, want := l.addrs(), 3; got != want {
		t.Fatalf("%d addresses counted, want %d", got, want)
	}
	if got := l.refused.Load(); got != 3 {
		t.Fatalf("%d refusals counted, want 3", got)
	}
	// No bound: nothing is counted.
	free := newAddrLimit(-1, nil)
	for range 5 {
		if _, ok := free.take(tcp("192.0.2.1:1")); !ok {
			t.Fatal("an unlimited limit refused")
		}
	}
}
