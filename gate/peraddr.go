package gate

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// tooManyFromAddr is the kick reason (and the HTTP 429 text) of a
// connection over max_clients_per_ip.
const tooManyFromAddr = "too many connections from your address"

// addrLimit counts the connections each address holds (config
// max_clients_per_ip): TCP, TLS and WebSocket ones from their accept,
// KCP sessions from their opening, each until its socket or session is
// closed. An IPv6 address counts by its /64. Addresses in exempt are not
// counted.
type addrLimit struct {
	max    int // 0 or less: no bound
	exempt []netip.Prefix

	mu sync.Mutex
	n  map[netip.Addr]int

	refused atomic.Uint64 // connections refused for the bound
}

func newAddrLimit(max int, exempt []netip.Prefix) *addrLimit {
	return &addrLimit{max: max, exempt: exempt, n: map[netip.Addr]int{}}
}

// key returns the address a counts under, and whether it is counted.
func (l *addrLimit) key(a net.Addr) (netip.Addr, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		return netip.Addr{}, false
	}
	ip := ap.Addr().Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return netip.Addr{}, false
		}
	}
	if ip.Is6() {
		ip = netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip, true
}

// take counts a new connection from a. It returns false, counting
// nothing, if a holds max already; else a release that uncounts it
// (idempotent).
func (l *addrLimit) take(a net.Addr) (release func(), ok bool) {
	if l.max <= 0 {
		return func() {}, true
	}
	k, counted := l.key(a)
	if !counted {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[k] >= l.max {
		l.refused.Add(1)
		return nil, false
	}
	l.n[k]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.n[k]--; l.n[k] <= 0 {
				delete(l.n, k)
			}
			l.mu.Unlock()
		})
	}, true
}

// addrs returns how many addresses hold connections now.
func (l *addrLimit) addrs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.n)
}

// countedConn is a connection counted by an addrLimit: its Close
// releases the count (over is set, and nothing counted, for one refused).
type countedConn struct {
	net.Conn
	release func()
	over    bool
}

// Close closes the connection and releases its count.
func (c *countedConn) Close() error {
	err := c.Conn.Close()
	if c.release != nil {
		c.release()
	}
	return err
}

// countedListener counts the connections it accepts (see addrLimit):
// one over the bound is still returned, marked over, for its server to
// refuse with a reason.
type countedListener struct {
	net.Listener
	lim *addrLimit
}

// Accept accepts the next connection and counts it.
func (l countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	release, ok := l.lim.take(c.RemoteAddr())
	return &countedConn{Conn: c, release: release, over: !ok}, nil
}
