// Package cutproxy is a TCP proxy for tests that cut clients off their
// gate: it listens on 127.0.0.1, forwards each connection to an upstream
// address, and on Cut resets every connection through it (both sides, a
// TCP RST: what is in flight is lost) and resets new ones as they come
// until Heal, as a network that drops and comes back does.
//
// toxiproxy's reset_peer does much the same, but a link whose reset
// toxic has fired while data still arrives keeps goroutines blocked for
// good (the toxic before it waits to hand on a chunk nobody takes), which
// tests under goleak cannot have. This proxy's goroutines all end with
// Close.
package cutproxy

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Proxy forwards connections to its upstream until Close.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	conns   map[*pair]struct{}
	blocked bool // Cut: reset connections as they come
	cuts    int  // connections reset, by Cut or while blocked
	closed  bool

	wg sync.WaitGroup
}

// pair is one client connection and its upstream connection.
type pair struct{ client, upstream net.Conn }

// Start listens on 127.0.0.1 (a port the system picks) and forwards to
// upstream (host:port).
func Start(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, upstream: upstream, conns: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.blocked || p.closed {
			p.cuts++
			p.mu.Unlock()
			reset(c)
			continue
		}
		p.wg.Add(1) // under mu: Close waits for it
		p.mu.Unlock()
		go p.serve(c)
	}
}

// serve forwards one connection both ways until either side ends or the
// proxy cuts it.
func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		reset(c)
		return
	}
	pr := &pair{client: c, upstream: u}
	p.mu.Lock()
	if p.blocked || p.closed {
		p.cuts++
		p.mu.Unlock()
		reset(c)
		reset(u)
		return
	}
	p.conns[pr] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// One direction ended: so does the connection, both sides.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(u, c)
	go pipe(c, u)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
}

// Cut resets every connection through the proxy, and every new one
// until Heal. It returns how many it reset now.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = true
	n := 0
	for pr := range p.conns {
		reset(pr.client)
		reset(pr.upstream)
		delete(p.conns, pr)
		n++
	}
	p.cuts += n
	return n
}

// Heal lets connections through again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.blocked = false
	p.mu.Unlock()
}

// Cuts returns how many connections the proxy has reset.
func (p *Proxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// Close stops listening, resets every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("cutproxy: closed twice")
	}
	p.closed = true
	err := p.ln.Close()
	for pr := range p.conns {
		reset(pr.client)
		reset(pr.upstream)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// reset closes c with a TCP RST: what it had not sent is dropped.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
