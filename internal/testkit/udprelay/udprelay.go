// Package udprelay is a UDP relay for tests of KCP clients and gates: it
// stands between clients and a gate on 127.0.0.1, one socket to the gate
// per client address (as a NAT would), and lets a test watch or change
// the datagrams going each way, take the network down, or forget every
// mapping (a NAT rebinding, a phone changing networks). The kernel has
// no netem here, and toxiproxy speaks TCP only.
package udprelay

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Options changes what the relay forwards.
type Options struct {
	// ToGate, if set, is called with each datagram a client sends and
	// returns what to forward to the gate (empty: nothing). It runs on
	// the relay's reading goroutine; b is reused after it returns.
	ToGate func(b []byte) []byte
	// ToClient, if set, is called with each datagram the gate sends to a
	// client and returns what to forward (empty: nothing). It runs on the
	// goroutine of that client's mapping; b is reused after it returns.
	ToClient func(b []byte) []byte
}

// Relay forwards datagrams between clients and one gate. Its goroutines
// end, and its sockets close, when the test that made it ends.
type Relay struct {
	ln       *net.UDPConn
	upstream *net.UDPAddr
	o        Options

	mu    sync.Mutex
	down  bool
	peers map[string]*net.UDPConn // client address → its socket to the gate
	dead  map[string]bool         // forgotten client addresses
	first *net.UDPConn            // the first mapping made
	made  chan struct{}           // closed when first is set
	wg    sync.WaitGroup
}

// New starts a relay to the gate's UDP address gate, listening on a port
// of 127.0.0.1 that Addr returns.
func New(tb testing.TB, gate string, o Options) *Relay {
	tb.Helper()
	ua, err := net.ResolveUDPAddr("udp", gate)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	r := &Relay{ln: ln, upstream: ua, o: o, peers: map[string]*net.UDPConn{}, dead: map[string]bool{},
		made: make(chan struct{})}
	r.wg.Add(1)
	go r.serve()
	tb.Cleanup(r.close)
	return r
}

// Addr is the relay's address, for the clients to dial.
func (r *Relay) Addr() string { return r.ln.LocalAddr().String() }

// SetDown drops every datagram, both ways, while down is true (a network
// gone dead); the mappings stay.
func (r *Relay) SetDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// Forget closes every mapping: later datagrams from a forgotten client
// address are dropped, as after a NAT rebinding; a client that dials
// again comes from a new address and gets a new mapping.
func (r *Relay) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, up := range r.peers {
		up.Close()
		r.dead[key] = true
		delete(r.peers, key)
	}
}

// Upstream returns the socket of the first mapping, waiting up to 10 s
// for a client to speak: what a test writes on it reaches the gate from
// that client's address, as a spoofer's datagrams would.
func (r *Relay) Upstream(tb testing.TB) *net.UDPConn {
	tb.Helper()
	select {
	case <-r.made:
	case <-time.After(10 * time.Second):
		tb.Fatal("udprelay: no client spoke within 10s")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// serve forwards the clients' datagrams until the relay is closed.
func (r *Relay) serve() {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.ln.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		up := r.mapping(from)
		if up == nil {
			continue
		}
		out := buf[:n]
		if r.o.ToGate != nil {
			out = r.o.ToGate(out)
		}
		if len(out) > 0 {
			up.Write(out)
		}
	}
}

// mapping returns the socket to the gate of the client at from, made if
// it is new; nil if the datagram is to be dropped.
func (r *Relay) mapping(from *net.UDPAddr) *net.UDPConn {
	key := from.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down || r.dead[key] {
		return nil
	}
	up := r.peers[key]
	if up != nil {
		return up
	}
	up, err := net.DialUDP("udp", nil, r.upstream)
	if err != nil {
		return nil
	}
	r.peers[key] = up
	if r.first == nil {
		r.first = up
		close(r.made)
	}
	r.wg.Add(1)
	go r.back(up, from)
	return up
}

// back forwards the gate's datagrams on up to the client at to, until up
// is closed.
func (r *Relay) back(up *net.UDPConn, to *net.UDPAddr) {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP refusals and the like
		}
		r.mu.Lock()
		drop := r.down
		r.mu.Unlock()
		if drop {
			continue
		}
		out := buf[:n]
		if r.o.ToClient != nil {
			out = r.o.ToClient(out)
		}
		if len(out) > 0 {
			r.ln.WriteToUDP(out, to)
		}
	}
}

func (r *Relay) close() {
	r.ln.Close()
	r.Forget()
	r.wg.Wait()
}
