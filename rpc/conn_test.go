package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitTimeout bounds every wait in these tests; it is a failure, never a
// synchronisation device.
const waitTimeout = 10 * time.Second

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		accepted <- result{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-accepted
	if r.err != nil {
		client.Close()
		t.Fatal(r.err)
	}
	t.Cleanup(func() { client.Close(); r.c.Close() })
	return client, r.c
}

// served is a Conn whose Serve runs on its own goroutine.
type served struct {
	*Conn
	result chan error // receives Serve's return value
}

func serve(c *Conn, h Handler) *served {
	s := &served{Conn: c, result: make(chan error, 1)}
	go func() { s.result <- c.Serve(h) }()
	return s
}

// reason waits for Serve to return and gives its result.
func (s *served) reason(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.result:
		s.result <- err // keep it for later calls
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("Serve did not return within %v", waitTimeout)
		return nil
	}
}

// shutdown closes the connection and waits for its goroutines.
func (s *served) shutdown(t testing.TB) {
	t.Helper()
	s.Close(nil)
	s.reason(t)
	waitWriter(t, s.Conn)
}

func waitWriter(t testing.TB, c *Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("Wait did not return within %v", waitTimeout)
	}
}

func waitDone(t testing.TB, c *Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("connection still open after %v", waitTimeout)
	}
}

func isDone(c *Conn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

func discard(MsgType, []byte) error { return nil }

// seqBody is sender u8 | seq u32 | payload, the payload derived from both.
func seqBody(sender uint8, seq uint32, size int) []byte {
	b := make([]byte, 5, 5+size)
	b[0] = sender
	binary.LittleEndian.PutUint32(b[1:], seq)
	for i := 0; i < size; i++ {
		b = append(b, byte(uint32(sender)*31+seq*7+uint32(i)))
	}
	return b
}

func checkSeqBody(b []byte) (sender uint8, seq uint32, err error) {
	if len(b) < 5 {
		return 0, 0, fmt.Errorf("body of %d bytes", len(b))
	}
	sender, seq = b[0], binary.LittleEndian.Uint32(b[1:])
	for i, c := range b[5:] {
		if c != byte(uint32(sender)*31+seq*7+uint32(i)) {
			return 0, 0, fmt.Errorf("sender %d seq %d: payload byte %d corrupt", sender, seq, i)
		}
	}
	return sender, seq, nil
}

// TestConnOrderedDelivery: concurrent senders, each with its own ordered
// sequence of random-sized frames, through Send, SendFrame and Append.
// Every frame arrives intact and each sender's frames arrive in order.
func TestConnOrderedDelivery(t *testing.T) {
	for _, rbuf := range []int{0, 64 << 10} {
		t.Run(fmt.Sprintf("ReadBufferSize=%d", rbuf), func(t *testing.T) {
			const senders, perSender = 4, 2500
			cn, sn := tcpPair(t)
			cfg := ConnConfig{MaxBody: 16 << 10, MaxPending: 256 << 20, ReadBufferSize: rbuf}

			var mu sync.Mutex
			next := make([]uint32, senders)
			received := 0
			all := make(chan struct{})
			recv := serve(NewConn(sn, cfg), func(typ MsgType, body []byte) error {
				sender, seq, err := checkSeqBody(body)
				if err != nil {
					return err
				}
				if int(sender) >= senders || typ != MsgType(100+int(sender)) {
					return fmt.Errorf("frame type %d from sender %d", typ, sender)
				}
				mu.Lock()
				defer mu.Unlock()
				if seq != next[sender] {
					return fmt.Errorf("sender %d: got seq %d, want %d", sender, seq, next[sender])
				}
				next[sender]++
				if received++; received == senders*perSender {
					close(all)
				}
				return nil
			})
			send := serve(NewConn(cn, cfg), discard)

			var wg sync.WaitGroup
			errs := make(chan error, senders)
			for s := 0; s < senders; s++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(s), 42))
					typ := MsgType(100 + s)
					for seq := uint32(0); seq < perSender; seq++ {
						size := rng.IntN(4 << 10)
						if rng.IntN(50) == 0 {
							size = 16<<10 - 5 // exactly MaxBody
						}
						body := seqBody(uint8(s), seq, size)
						var err error
						switch seq % 3 {
						case 0:
							err = send.Send(typ, body)
						case 1:
							err = send.SendFrame(AppendFrame(nil, typ, body))
						case 2:
							err = send.Append(func(b []byte) []byte {
								b = AppendHeader(b, typ, len(body))
								return append(b, body...)
							})
						}
						if err != nil {
							errs <- fmt.Errorf("sender %d seq %d: %v", s, seq, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			select {
			case <-all:
			case <-recv.Done():
				t.Fatalf("receiver closed: %v", recv.Reason())
			case <-time.After(waitTimeout):
				t.Fatalf("received %d of %d frames", received, senders*perSender)
			}
			send.shutdown(t)
			if err := recv.reason(t); !errors.Is(err, ErrPeerClosed) {
				t.Errorf("receiver reason %v, want ErrPeerClosed", err)
			}
			waitWriter(t, recv.Conn)
		})
	}
}

// gatedConn blocks every Write until gate is closed, and counts writes.
type gatedConn struct {
	net.Conn
	gate      chan struct{}
	firstOnce sync.Once
	first     chan struct{} // closed when the first Write starts
	closeOnce sync.Once
	closed    chan struct{}
	writes    atomic.Int32
}

func newGatedConn(nc net.Conn) *gatedConn {
	return &gatedConn{Conn: nc, gate: make(chan struct{}), first: make(chan struct{}), closed: make(chan struct{})}
}

func (g *gatedConn) Write(p []byte) (int, error) {
	g.firstOnce.Do(func() { close(g.first) })
	select {
	case <-g.gate:
	case <-g.closed:
		return 0, net.ErrClosed
	}
	g.writes.Add(1)
	return g.Conn.Write(p)
}

func (g *gatedConn) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Conn.Close()
}

func (g *gatedConn) waitFirstWrite(t testing.TB) {
	t.Helper()
	select {
	case <-g.first:
	case <-time.After(waitTimeout):
		t.Fatal("the writer never started writing")
	}
}

// TestConnBatching: frames queued while the writer is busy go out together
// in one write, intact and in order.
func TestConnBatching(t *testing.T) {
	cn, sn := tcpPair(t)
	gc := newGatedConn(cn)
	const n = 1000
	var mu sync.Mutex
	var got []uint32
	all := make(chan struct{})
	recv := serve(NewConn(sn, ConnConfig{}), func(typ MsgType, body []byte) error {
		_, seq, err := checkSeqBody(body)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seq)
		if len(got) == n {
			close(all)
		}
		return nil
	})
	send := NewConn(gc, ConnConfig{})

	if err := send.Send(MsgCallEntity, seqBody(0, 0, 10)); err != nil {
		t.Fatal(err)
	}
	gc.waitFirstWrite(t) // the writer holds frame 0 and is blocked
	queued := 0
	for seq := uint32(1); seq < n; seq++ {
		body := seqBody(0, seq, int(seq%97))
		queued += HeaderSize + len(body)
		if err := send.Send(MsgCallEntity, body); err != nil {
			t.Fatal(err)
		}
	}
	if p := send.Pending(); p != queued {
		t.Errorf("Pending = %d, want %d", p, queued)
	}
	close(gc.gate)
	select {
	case <-all:
	case <-time.After(waitTimeout):
		t.Fatalf("received %d of %d frames", len(got), n)
	}
	for i, seq := range got {
		if seq != uint32(i) {
			t.Fatalf("frame %d has seq %d", i, seq)
		}
	}
	waitWriter(t, send) // no concurrent sends: the writer exits once drained
	if w := gc.writes.Load(); w != 2 {
		t.Errorf("%d writes for %d frames queued behind one, want 2", w, n-1)
	}
	if p := send.Pending(); p != 0 {
		t.Errorf("Pending after drain = %d", p)
	}
	send.Close(nil)
	recv.shutdown(t)
}

// TestConnRetainBuffer: after a big frame drains, the connection keeps no
// buffer larger than RetainBuffer.
func TestConnRetainBuffer(t *testing.T) {
	cn, sn := tcpPair(t)
	got := make(chan int, 1)
	recv := serve(NewConn(sn, ConnConfig{MaxBody: 1 << 20}), func(_ MsgType, body []byte) error {
		got <- len(body)
		return nil
	})
	send := NewConn(cn, ConnConfig{RetainBuffer: 1024})
	if err := send.Send(MsgToClient, make([]byte, 300<<10)); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 300<<10 {
			t.Fatalf("received %d bytes", n)
		}
	case <-time.After(waitTimeout):
		t.Fatal("frame not received")
	}
	waitWriter(t, send)
	send.mu.Lock()
	outCap, spareCap := cap(send.out), cap(send.spare)
	send.mu.Unlock()
	if outCap > 1024 || spareCap > 1024 {
		t.Errorf("idle connection retains buffers of %d and %d bytes, limit 1024", outCap, spareCap)
	}
	send.Close(nil)
	recv.shutdown(t)
}

// TestConnSlowConsumerPipe: over net.Pipe the peer that never reads blocks
// the writer in its first write, so MaxPending is exceeded
// deterministically, and Send never blocks.
func TestConnSlowConsumerPipe(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	wc := newGatedConn(a) // only to see the first Write start
	close(wc.gate)
	c := NewConn(wc, ConnConfig{MaxPending: 4096})
	body := make([]byte, 1000)
	if err := c.Send(MsgToClient, body); err != nil {
		t.Fatal(err)
	}
	wc.waitFirstWrite(t) // the writer holds frame 1, blocked in the pipe

	result := make(chan error, 1)
	sends := 1
	go func() {
		for i := 0; i < 100; i++ {
			sends++
			if err := c.Send(MsgToClient, body); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}()
	select {
	case err := <-result:
		if !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("Send returned %v after %d sends, want ErrSlowConsumer", err, sends)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Send blocked on a peer that does not read")
	}
	// Frame 1 is in the blocked write; frame 2 heads the queue and does
	// not count against the bound; frames 3-6 (4024 bytes) fit in
	// MaxPending 4096, the 7th does not.
	if sends != 7 {
		t.Errorf("ErrSlowConsumer at send %d of 1006-byte frames with MaxPending 4096, want 7", sends)
	}
	waitDone(t, c)
	if !errors.Is(c.Reason(), ErrSlowConsumer) {
		t.Errorf("Reason = %v, want ErrSlowConsumer", c.Reason())
	}
	if err := c.Send(MsgToClient, body); err != ErrConnClosed {
		t.Errorf("Send after slow-consumer close = %v, want ErrConnClosed", err)
	}
	waitWriter(t, c) // Close unblocked the writer
}

// TestConnSlowConsumerTCP: same over loopback TCP, where the kernel buffers
// absorb some megabytes first. Sends never block.
//
// Under the race detector this test reports a real data race: Append reads
// len(c.out) for its error message after unlocking c.mu, while the writer
// goroutine may be assigning c.out (see report).
func TestConnSlowConsumerTCP(t *testing.T) {
	cn, sn := tcpPair(t)
	_ = sn // never read
	c := NewConn(cn, ConnConfig{MaxPending: 256 << 10})
	body := make([]byte, 64<<10)
	result := make(chan error, 1)
	go func() {
		for i := 0; i < 50000; i++ { // ~3 GB: far beyond any socket buffer
			if err := c.Send(MsgToClient, body); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}()
	select {
	case err := <-result:
		if !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("Send returned %v, want ErrSlowConsumer", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Send blocked, or the queue never exceeded MaxPending")
	}
	waitDone(t, c)
	if !errors.Is(c.Reason(), ErrSlowConsumer) {
		t.Errorf("Reason = %v", c.Reason())
	}
	waitWriter(t, c)
}

// discardConn swallows writes at once (yielding, so the writer goroutine
// interleaves with senders).
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { runtime.Gosched(); return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// TestConnSlowConsumerRace: many slow-consumer closes while the writer
// is busy. Under -race this reports the data race in Append (len(c.out)
// read after c.mu.Unlock for the error message) within a few hundred
// overflows.
func TestConnSlowConsumerRace(t *testing.T) {
	overflows := 0
	for attempt := 0; attempt < 10000 && overflows < 1000; attempt++ {
		c := NewConn(discardConn{}, ConnConfig{MaxPending: 1000})
		body := make([]byte, 600)
		for i := 0; i < 10000; i++ {
			if err := c.Send(MsgToClient, body); err != nil {
				if !errors.Is(err, ErrSlowConsumer) || !errors.Is(c.Reason(), ErrSlowConsumer) {
					t.Fatalf("Send = %v, Reason = %v", err, c.Reason())
				}
				overflows++
				break
			}
		}
		c.Close(nil)
		c.Wait()
	}
	if overflows == 0 {
		t.Log("no overflow: the writer always kept up")
	}
}

func TestConnIdleTimeout(t *testing.T) {
	for _, kind := range []string{"tcp", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			var a, b net.Conn
			if kind == "tcp" {
				a, b = tcpPair(t)
			} else {
				a, b = net.Pipe()
				defer b.Close()
			}
			_ = b // silent peer
			start := time.Now()
			c := serve(NewConn(a, ConnConfig{IdleTimeout: 50 * time.Millisecond}), discard)
			waitDone(t, c.Conn)
			if err := c.reason(t); !errors.Is(err, ErrIdleTimeout) {
				t.Fatalf("Serve returned %v, want ErrIdleTimeout", err)
			}
			if !errors.Is(c.Reason(), ErrIdleTimeout) {
				t.Errorf("Reason = %v", c.Reason())
			}
			if el := time.Since(start); el < 50*time.Millisecond {
				t.Errorf("closed after %v, before the 50ms timeout", el)
			}
			waitWriter(t, c.Conn)
		})
	}
}

// TestConnIdleTimeoutReset: frames arriving more often than IdleTimeout keep
// the connection open past several timeouts. The timeout is long enough
// that a loaded machine (2 cores running the whole suite, with -race)
// does not stall the sender or the reader for that long: at 300 ms it
// did, a few times in a hundred runs.
func TestConnIdleTimeoutReset(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about three seconds")
	}
	cn, sn := tcpPair(t)
	const idle = time.Second
	var count atomic.Int32
	recv := serve(NewConn(sn, ConnConfig{IdleTimeout: idle}), func(MsgType, []byte) error {
		count.Add(1)
		return nil
	})
	send := NewConn(cn, ConnConfig{})
	tick := time.NewTicker(idle / 20)
	defer tick.Stop()
	start := time.Now()
	for time.Since(start) < 2*idle {
		<-tick.C
		if err := send.Send(MsgHeartbeat, nil); err != nil {
			t.Fatal(err)
		}
		if isDone(recv.Conn) {
			t.Fatalf("closed after %v of heartbeats: %v", time.Since(start), recv.Reason())
		}
	}
	tick.Stop()
	if err := recv.reason(t); !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("after the heartbeats stopped: %v, want ErrIdleTimeout", err)
	}
	if count.Load() < 10 {
		t.Errorf("only %d heartbeats arrived", count.Load())
	}
	send.Close(nil)
	waitWriter(t, send)
	waitWriter(t, recv.Conn)
}

var errKick = errors.New("test: kicked")

// TestConnCloseAfterFlush: the last frames queued reach the peer before
// the connection closes, with the flush reason.
func TestConnCloseAfterFlush(t *testing.T) {
	t.Run("writer busy", func(t *testing.T) {
		cn, sn := tcpPair(t)
		gc := newGatedConn(cn)
		var mu sync.Mutex
		var got []int
		recv := serve(NewConn(sn, ConnConfig{MaxBody: 1 << 20}), func(_ MsgType, body []byte) error {
			mu.Lock()
			got = append(got, len(body))
			mu.Unlock()
			return nil
		})
		c := NewConn(gc, ConnConfig{})
		if err := c.Send(MsgCallClient, make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		gc.waitFirstWrite(t)
		if err := c.Send(MsgKick, make([]byte, 500<<10)); err != nil { // the last frame
			t.Fatal(err)
		}
		c.CloseAfterFlush(errKick)
		if isDone(c) || c.Reason() != nil {
			t.Fatalf("closed before flushing: %v", c.Reason())
		}
		close(gc.gate)
		waitDone(t, c)
		if c.Reason() != errKick {
			t.Errorf("Reason = %v, want errKick", c.Reason())
		}
		if err := recv.reason(t); !errors.Is(err, ErrPeerClosed) {
			t.Errorf("peer saw %v, want ErrPeerClosed", err)
		}
		mu.Lock()
		if len(got) != 2 || got[0] != 10 || got[1] != 500<<10 {
			t.Errorf("peer received frames of %v bytes, want [10 %d]", got, 500<<10)
		}
		mu.Unlock()
		waitWriter(t, c)
		waitWriter(t, recv.Conn)
	})
	t.Run("many frames", func(t *testing.T) {
		cn, sn := tcpPair(t)
		var n atomic.Int32
		var last atomic.Value
		recv := serve(NewConn(sn, ConnConfig{}), func(typ MsgType, body []byte) error {
			n.Add(1)
			if typ == MsgKick {
				last.Store(string(body))
			}
			return nil
		})
		c := NewConn(cn, ConnConfig{})
		for i := 0; i < 5000; i++ {
			c.Send(MsgCallClient, make([]byte, 100))
		}
		c.Send(MsgKick, []byte("bye"))
		c.CloseAfterFlush(errKick)
		if err := recv.reason(t); !errors.Is(err, ErrPeerClosed) {
			t.Errorf("peer saw %v", err)
		}
		if n.Load() != 5001 || last.Load() != "bye" {
			t.Errorf("peer received %d frames, last kick %v", n.Load(), last.Load())
		}
		waitDone(t, c)
		if c.Reason() != errKick {
			t.Errorf("Reason = %v", c.Reason())
		}
		waitWriter(t, c)
		waitWriter(t, recv.Conn)
	})
	t.Run("nothing queued", func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := NewConn(a, ConnConfig{})
		c.CloseAfterFlush(errKick)
		if !isDone(c) || c.Reason() != errKick {
			t.Fatalf("not closed at once: %v", c.Reason())
		}
		c.CloseAfterFlush(io.EOF)
		if c.Reason() != errKick {
			t.Errorf("second CloseAfterFlush changed the reason to %v", c.Reason())
		}
	})
	t.Run("nil reason", func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		c := NewConn(a, ConnConfig{})
		c.CloseAfterFlush(nil)
		if !errors.Is(c.Reason(), ErrConnClosed) {
			t.Errorf("Reason = %v, want ErrConnClosed", c.Reason())
		}
	})
}

func TestConnCloseIdempotent(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a, ConnConfig{})
	if c.Reason() != nil || isDone(c) {
		t.Fatal("new connection is closed")
	}
	first, second := errors.New("first"), errors.New("second")
	c.Close(first)
	c.Close(second)
	c.Close(nil)
	c.CloseAfterFlush(errKick)
	if c.Reason() != first {
		t.Fatalf("Reason = %v, want the first reason", c.Reason())
	}
	if !isDone(c) {
		t.Fatal("Done not closed")
	}
	if err := c.Send(MsgHeartbeat, nil); err != ErrConnClosed {
		t.Errorf("Send after Close = %v", err)
	}
	if err := c.SendFrame(AppendFrame(nil, MsgHeartbeat, nil)); err != ErrConnClosed {
		t.Errorf("SendFrame after Close = %v", err)
	}
	called := false
	if err := c.Append(func(b []byte) []byte { called = true; return b }); err != ErrConnClosed || called {
		t.Errorf("Append after Close = %v (fn called: %v)", err, called)
	}
	if _, err := b.Write([]byte{1}); err == nil {
		t.Error("the underlying connection is still open")
	}
	if c.Pending() != 0 {
		t.Errorf("Pending after Close = %d", c.Pending())
	}
	c.Wait()

	// Close(nil) records ErrConnClosed.
	a2, b2 := net.Pipe()
	defer b2.Close()
	c2 := NewConn(a2, ConnConfig{})
	c2.Close(nil)
	if c2.Reason() != ErrConnClosed {
		t.Errorf("Close(nil): Reason = %v", c2.Reason())
	}
}

// TestConnConcurrentClose: many closers and senders at once; exactly one
// reason wins and nothing panics or leaks.
func TestConnConcurrentClose(t *testing.T) {
	for iter := 0; iter < 20; iter++ {
		cn, sn := tcpPair(t)
		recv := serve(NewConn(sn, ConnConfig{}), discard)
		c := serve(NewConn(cn, ConnConfig{}), discard)
		reasons := make([]error, 8)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range reasons {
			reasons[i] = fmt.Errorf("closer %d", i)
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				c.Close(reasons[i])
			}()
			go func() {
				defer wg.Done()
				<-start
				for j := 0; j < 100; j++ {
					if err := c.Send(MsgCallEntity, []byte("x")); err != nil && err != ErrConnClosed {
						t.Errorf("Send: %v", err)
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		r := c.reason(t)
		found := false
		for _, want := range reasons {
			found = found || r == want
		}
		if !found || c.Reason() != r {
			t.Fatalf("Serve returned %v, Reason %v; want one of the closers' reasons", r, c.Reason())
		}
		waitWriter(t, c.Conn)
		recv.reason(t)
		waitWriter(t, recv.Conn)
	}
}

func TestConnLocalCloseStopsServe(t *testing.T) {
	cn, sn := tcpPair(t)
	_ = sn
	c := serve(NewConn(cn, ConnConfig{}), discard)
	shutdown := errors.New("shutting down")
	c.Close(shutdown)
	if err := c.reason(t); err != shutdown {
		t.Fatalf("Serve returned %v, want the Close reason", err)
	}
	waitWriter(t, c.Conn)
}

func TestConnPeerClosed(t *testing.T) {
	cn, sn := tcpPair(t)
	c := serve(NewConn(sn, ConnConfig{}), discard)
	cn.Close()
	if err := c.reason(t); err != ErrPeerClosed {
		t.Fatalf("Serve returned %v, want ErrPeerClosed", err)
	}
	waitWriter(t, c.Conn)
}

func TestConnHandlerError(t *testing.T) {
	cn, sn := tcpPair(t)
	errBad := errors.New("bad frame")
	var n atomic.Int32
	recv := serve(NewConn(sn, ConnConfig{}), func(typ MsgType, body []byte) error {
		if n.Add(1) == 3 {
			return errBad
		}
		return nil
	})
	send := serve(NewConn(cn, ConnConfig{}), discard)
	for i := 0; i < 3; i++ {
		if err := send.Send(MsgCallEntity, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := recv.reason(t); err != errBad {
		t.Fatalf("Serve returned %v, want the handler's error", err)
	}
	if recv.Reason() != errBad || !isDone(recv.Conn) {
		t.Fatalf("Reason = %v", recv.Reason())
	}
	if err := send.reason(t); err != ErrPeerClosed {
		t.Errorf("sender saw %v, want ErrPeerClosed", err)
	}
	waitWriter(t, send.Conn)
	waitWriter(t, recv.Conn)
}

func TestConnHandlerPanic(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"string", "boom", "boom"},
		{"error", errors.New("kaboom"), "kaboom"},
		{"runtime error", nil, "index out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cn, sn := tcpPair(t)
			var later atomic.Int32
			recv := serve(NewConn(sn, ConnConfig{}), func(typ MsgType, body []byte) error {
				if typ == MsgHeartbeat {
					later.Add(1)
					return nil
				}
				if tt.value == nil {
					_ = body[len(body)+1] // a real runtime panic
				}
				panic(tt.value)
			})
			send := NewConn(cn, ConnConfig{})
			send.Send(MsgCallEntity, []byte("x"))
			send.Send(MsgHeartbeat, nil) // must not be handled after the panic
			err := recv.reason(t)
			if err == nil || !strings.Contains(err.Error(), "panic") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Serve returned %v, want a panic error mentioning %q", err, tt.want)
			}
			if !isDone(recv.Conn) || recv.Reason() != err {
				t.Errorf("Reason = %v", recv.Reason())
			}
			if later.Load() != 0 {
				t.Error("frames were handled after the panic")
			}
			send.Close(nil)
			waitWriter(t, send)
			waitWriter(t, recv.Conn)
		})
	}
}

func TestConnOversizeFrame(t *testing.T) {
	t.Run("conn sender", func(t *testing.T) {
		cn, sn := tcpPair(t)
		called := false
		recv := serve(NewConn(sn, ConnConfig{MaxBody: 1024}), func(MsgType, []byte) error { called = true; return nil })
		send := NewConn(cn, ConnConfig{})
		send.Send(MsgCallEntity, make([]byte, 1025))
		if err := recv.reason(t); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("Serve returned %v, want ErrFrameTooLarge", err)
		}
		if called {
			t.Error("handler called for an oversize frame")
		}
		send.Close(nil)
		waitWriter(t, send)
		waitWriter(t, recv.Conn)
	})
	raw := []struct {
		name string
		data []byte
		want error
	}{
		{"4 GiB header", rawHeader(0xffffffff, 3), ErrFrameTooLarge},
		{"just over", append(rawHeader(1024+3, 3), make([]byte, 1025)...), ErrFrameTooLarge},
		{"length 1", rawHeader(1, 3), ErrFrameTooShort},
		{"length 0", rawHeader(0, 3), ErrFrameTooShort},
		{"truncated body", append(rawHeader(100, 3), 1, 2, 3), io.ErrUnexpectedEOF},
		{"truncated header", []byte{10, 0, 0}, io.ErrUnexpectedEOF},
	}
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			for _, rbuf := range []int{0, 4096} {
				cn, sn := tcpPair(t)
				recv := serve(NewConn(sn, ConnConfig{MaxBody: 1024, ReadBufferSize: rbuf}), discard)
				if _, err := cn.Write(tt.data); err != nil {
					t.Fatal(err)
				}
				if tt.want == io.ErrUnexpectedEOF {
					cn.Close()
				}
				if err := recv.reason(t); !errors.Is(err, tt.want) {
					t.Fatalf("ReadBufferSize %d: Serve returned %v, want %v", rbuf, err, tt.want)
				}
				waitWriter(t, recv.Conn)
			}
		})
	}
}

// TestConnWaitAfterClose: a writer blocked on a peer that does not read
// exits when the connection is closed.
func TestConnWaitAfterClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a, ConnConfig{})
	if err := c.Send(MsgCallEntity, []byte("never read")); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(MsgCallEntity, []byte("queued")); err != nil {
		t.Fatal(err)
	}
	c.Close(nil)
	waitWriter(t, c)
	if c.Pending() != 0 {
		t.Errorf("Pending = %d after Close", c.Pending())
	}
}

// TestConnWriteTimeout: a writer blocked longer than WriteTimeout closes the
// connection with a write error.
func TestConnWriteTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a, ConnConfig{WriteTimeout: 50 * time.Millisecond})
	c.Send(MsgCallEntity, []byte("never read"))
	waitDone(t, c)
	if err := c.Reason(); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Reason = %v, want a write deadline error", err)
	}
	waitWriter(t, c)
}

// TestConnHandshake: ReadFrame before Serve, as Link does for MsgHelloAck.
func TestConnHandshake(t *testing.T) {
	cn, sn := tcpPair(t)
	gate := NewConn(cn, ConnConfig{})
	disp := NewConn(sn, ConnConfig{ReadBufferSize: 4096})
	gate.Send(MsgHello, AppendUint16([]byte{byte(RoleGate)}, 7))
	gate.Send(MsgCallEntity, []byte("after hello")) // may arrive in the same read as the hello
	typ, body, err := disp.ReadFrame()
	if err != nil || typ != MsgHello {
		t.Fatalf("ReadFrame = %v, %v", typ, err)
	}
	r := NewReader(body)
	if Role(r.Uint8()) != RoleGate || r.Uint16() != 7 || r.Err() != nil {
		t.Fatalf("hello body % x", body)
	}
	got := make(chan string, 1)
	s := serve(disp, func(typ MsgType, body []byte) error {
		got <- string(body)
		return nil
	})
	select {
	case b := <-got:
		if b != "after hello" {
			t.Fatalf("got %q", b)
		}
	case <-time.After(waitTimeout):
		t.Fatal("frame after the handshake lost")
	}
	if s.RemoteAddr().String() != cn.LocalAddr().String() || s.NetConn() != sn {
		t.Errorf("RemoteAddr %v, NetConn %v", s.RemoteAddr(), s.NetConn())
	}
	gate.Close(nil)
	waitWriter(t, gate)
	s.reason(t)
	waitWriter(t, disp)
}

func TestConnConfigDefaults(t *testing.T) {
	var cfg ConnConfig
	cfg.fill()
	if cfg.MaxBody != 64<<10 || cfg.MaxPending != 1<<20 || cfg.RetainBuffer != 4<<10 || cfg.WriteTimeout != 10*time.Second || cfg.IdleTimeout != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg = ConnConfig{MaxBody: 5, MaxPending: 6, RetainBuffer: 7, WriteTimeout: time.Second, IdleTimeout: time.Minute}
	want := cfg
	cfg.fill()
	if cfg.MaxBody != want.MaxBody || cfg.MaxPending != want.MaxPending || cfg.RetainBuffer != want.RetainBuffer ||
		cfg.WriteTimeout != want.WriteTimeout || cfg.IdleTimeout != want.IdleTimeout {
		t.Errorf("fill changed explicit settings: %+v", cfg)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "kcp timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestReadError(t *testing.T) {
	other := errors.New("other")
	tests := []struct {
		in   error
		want error
	}{
		{io.EOF, ErrPeerClosed},
		{fmt.Errorf("wrapped: %w", io.EOF), ErrPeerClosed},
		{os.ErrDeadlineExceeded, ErrIdleTimeout},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, ErrIdleTimeout},
		{timeoutErr{}, ErrIdleTimeout},
		{net.ErrClosed, ErrConnClosed},
		{io.ErrClosedPipe, ErrConnClosed},
		{io.ErrUnexpectedEOF, io.ErrUnexpectedEOF},
		{ErrFrameTooLarge, ErrFrameTooLarge},
		{other, other},
	}
	for _, tt := range tests {
		if got := readError(tt.in); !errors.Is(got, tt.want) {
			t.Errorf("readError(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := readError(io.ErrUnexpectedEOF); errors.Is(got, ErrPeerClosed) {
		t.Errorf("a frame cut short is reported as a clean close: %v", got)
	}
}

func TestSendFrameMultiple(t *testing.T) {
	cn, sn := tcpPair(t)
	got := make(chan MsgType, 10)
	recv := serve(NewConn(sn, ConnConfig{}), func(typ MsgType, _ []byte) error { got <- typ; return nil })
	send := NewConn(cn, ConnConfig{})
	var frames []byte
	for i := 1; i <= 3; i++ {
		frames = AppendFrame(frames, MsgType(i), bytes.Repeat([]byte{1}, i))
	}
	if err := send.SendFrame(frames); err != nil {
		t.Fatal(err)
	}
	frames[4] = 0xff // the caller may reuse its buffer at once
	for i := 1; i <= 3; i++ {
		select {
		case typ := <-got:
			if typ != MsgType(i) {
				t.Fatalf("frame %d has type %v", i, typ)
			}
		case <-time.After(waitTimeout):
			t.Fatal("frames not received")
		}
	}
	send.Close(nil)
	waitWriter(t, send)
	recv.reason(t)
	waitWriter(t, recv.Conn)
}

// TestConnSendAfterCloseAfterFlush: once CloseAfterFlush is called nothing
// more is queued; what was queued before still goes out.
func TestConnSendAfterCloseAfterFlush(t *testing.T) {
	cn, sn := tcpPair(t)
	gc := newGatedConn(cn)
	got := make(chan string, 10)
	recv := serve(NewConn(sn, ConnConfig{}), func(_ MsgType, body []byte) error {
		got <- string(body)
		return nil
	})
	c := NewConn(gc, ConnConfig{})
	c.Send(MsgCallClient, []byte("first"))
	gc.waitFirstWrite(t)
	c.Send(MsgKick, []byte("kick"))
	c.CloseAfterFlush(errKick)
	if err := c.Send(MsgCallClient, []byte("too late")); err != ErrConnClosed {
		t.Errorf("Send after CloseAfterFlush = %v, want ErrConnClosed", err)
	}
	if err := c.Append(func(b []byte) []byte { return AppendFrame(b, MsgCallClient, nil) }); err != ErrConnClosed {
		t.Errorf("Append after CloseAfterFlush = %v, want ErrConnClosed", err)
	}
	close(gc.gate)
	waitDone(t, c)
	if err := recv.reason(t); !errors.Is(err, ErrPeerClosed) {
		t.Errorf("peer saw %v", err)
	}
	close(got)
	var bodies []string
	for b := range got {
		bodies = append(bodies, b)
	}
	if strings.Join(bodies, ",") != "first,kick" {
		t.Errorf("peer received %q, want [first kick]", bodies)
	}
	if c.Reason() != errKick {
		t.Errorf("Reason = %v", c.Reason())
	}
	waitWriter(t, c)
	waitWriter(t, recv.Conn)
}

// TestConnOneLargeFrame: a single frame larger than MaxPending passes when
// nothing else is queued; up to MaxPending more may queue behind it, and
// more than that trips ErrSlowConsumer.
func TestConnOneLargeFrame(t *testing.T) {
	cn, sn := tcpPair(t)
	gc := newGatedConn(cn)
	got := make(chan int, 10)
	recv := serve(NewConn(sn, ConnConfig{MaxBody: 1 << 20}), func(_ MsgType, body []byte) error {
		got <- len(body)
		return nil
	})
	c := NewConn(gc, ConnConfig{MaxPending: 1024})
	if err := c.Send(MsgToClient, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	gc.waitFirstWrite(t) // the writer holds the first frame; the queue is empty
	if err := c.Send(MsgToClient, make([]byte, 5000)); err != nil {
		t.Fatalf("one large frame on an empty queue: %v", err)
	}
	if err := c.Send(MsgToClient, make([]byte, 10)); err != nil {
		t.Fatalf("small frame behind one large frame: %v", err)
	}
	if err := c.Send(MsgToClient, make([]byte, 1100)); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("%d bytes queued behind the large frame with MaxPending 1024: %v", c.Pending(), err)
	}
	close(gc.gate)
	waitDone(t, c)
	recv.reason(t)
	waitWriter(t, c)
	waitWriter(t, recv.Conn)

	// Over a plain connection the large frame arrives.
	cn2, sn2 := tcpPair(t)
	recv2 := serve(NewConn(sn2, ConnConfig{MaxBody: 1 << 20}), func(_ MsgType, body []byte) error {
		got <- len(body)
		return nil
	})
	for len(got) > 0 {
		<-got
	}
	c2 := NewConn(cn2, ConnConfig{MaxPending: 1024})
	if err := c2.Send(MsgToClient, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 100<<10 {
			t.Fatalf("received %d bytes", n)
		}
	case <-time.After(waitTimeout):
		t.Fatal("large frame not received")
	}
	c2.Close(nil)
	waitWriter(t, c2)
	recv2.reason(t)
	waitWriter(t, recv2.Conn)
}

// TestConnFarewell: when the reader closes because of the peer's input,
// Farewell's frame reaches the peer before the close.
func TestConnFarewell(t *testing.T) {
	farewell := func(reason error) (MsgType, []byte, bool) {
		return MsgKick, []byte("bye: " + reason.Error()), true
	}
	tests := []struct {
		name   string
		cfg    ConnConfig
		send   []byte // raw bytes from the peer
		reason error
	}{
		// Only the header of the oversize frame is sent, so the server
		// closes with nothing unread (no RST).
		{"oversize", ConnConfig{MaxBody: 100, Farewell: farewell}, rawHeader(202, 3), ErrFrameTooLarge},
		{"too short", ConnConfig{Farewell: farewell}, rawHeader(1, 3), ErrFrameTooShort},
		{"idle", ConnConfig{IdleTimeout: 50 * time.Millisecond, Farewell: farewell}, nil, ErrIdleTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cn, sn := tcpPair(t)
			srv := serve(NewConn(sn, tt.cfg), discard)
			var kick atomic.Value
			cli := serve(NewConn(cn, ConnConfig{}), func(typ MsgType, body []byte) error {
				if typ == MsgKick {
					kick.Store(string(body))
				}
				return nil
			})
			if tt.send != nil {
				if _, err := cn.Write(tt.send); err != nil {
					t.Fatal(err)
				}
			}
			if err := srv.reason(t); !errors.Is(err, tt.reason) {
				t.Fatalf("server reason %v, want %v", err, tt.reason)
			}
			if err := cli.reason(t); !errors.Is(err, ErrPeerClosed) {
				t.Errorf("client reason %v, want ErrPeerClosed", err)
			}
			if k, _ := kick.Load().(string); !strings.HasPrefix(k, "bye: ") || !strings.Contains(k, tt.reason.Error()) {
				t.Errorf("client got farewell %q", k)
			}
			waitWriter(t, srv.Conn)
			waitWriter(t, cli.Conn)
		})
	}
	t.Run("declined", func(t *testing.T) {
		cn, sn := tcpPair(t)
		called := 0
		srv := serve(NewConn(sn, ConnConfig{MaxBody: 10, Farewell: func(error) (MsgType, []byte, bool) {
			called++
			return 0, nil, false
		}}), discard)
		cn.Write(rawHeader(100, 3))
		if err := srv.reason(t); !errors.Is(err, ErrFrameTooLarge) || called != 1 {
			t.Fatalf("reason %v, Farewell called %d times", err, called)
		}
		waitWriter(t, srv.Conn)
	})
	t.Run("not for other reasons", func(t *testing.T) {
		for _, why := range []string{"handler error", "peer closed", "truncated"} {
			cn, sn := tcpPair(t)
			var called atomic.Int32
			srv := serve(NewConn(sn, ConnConfig{Farewell: func(error) (MsgType, []byte, bool) {
				called.Add(1)
				return MsgKick, nil, true
			}}), func(MsgType, []byte) error { return errors.New("handler error") })
			switch why {
			case "handler error":
				cn.Write(AppendFrame(nil, MsgCallEntity, nil))
			case "peer closed":
				cn.Close()
			case "truncated":
				cn.Write(rawHeader(100, 3))
				cn.Close()
			}
			srv.reason(t)
			if called.Load() != 0 {
				t.Errorf("%s: Farewell called", why)
			}
			waitWriter(t, srv.Conn)
		}
	})
}

// TestConnLargeFrameBehindSmallOnes: the largest single frame does not
// count against the bound, whatever small frame happens to be queued
// before it, so a client that keeps up is not closed for one big frame.
func TestConnLargeFrameBehindSmallOnes(t *testing.T) {
	cn, sn := tcpPair(t)
	gc := newGatedConn(cn)
	recv := serve(NewConn(sn, ConnConfig{MaxBody: 1 << 20}), func(MsgType, []byte) error { return nil })
	c := NewConn(gc, ConnConfig{MaxPending: 1024})
	if err := c.Send(MsgToClient, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	gc.waitFirstWrite(t) // the writer holds the first frame
	if err := c.Send(MsgToClient, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(MsgToClient, make([]byte, 5000)); err != nil {
		t.Fatalf("one large frame behind a small one: %v", err)
	}
	close(gc.gate)
	c.Close(nil)
	waitDone(t, c)
	c.Wait()
	recv.Conn.Close(nil)
	recv.reason(t)
}

// A peer that says why it closes (a kick) and closes at once, while we
// are still writing: with DrainAfterWriteError the reader still gets the
// last frame, so the reason is the kick, not our failed write.
func TestConnDrainAfterWriteError(t *testing.T) {
	errKick := errors.New("kicked")
	for _, drain := range []time.Duration{0, 2 * time.Second} {
		t.Run(fmt.Sprint("drain=", drain), func(t *testing.T) {
			cn, sn := tcpPair(t)
			failed := make(chan struct{})
			c := NewConn(cn, ConnConfig{MaxPending: 1 << 30, DrainAfterWriteError: drain})
			got := serve(c, func(typ MsgType, body []byte) error {
				if typ == MsgKick {
					return errKick
				}
				<-failed // the first frame: hold the reader until our write fails
				return nil
			})
			// The peer sends a frame, then its kick, and closes without reading.
			sn.Write(AppendFrame(AppendFrame(nil, MsgHeartbeat, nil), MsgKick, []byte("bye")))
			sn.Close()
			blob := make([]byte, 64<<10)
			for i := 0; ; i++ {
				if err := c.Send(MsgCallEntity, blob); err != nil {
					break
				}
				if i == 100000 {
					t.Fatal("writes to a closed peer never failed")
				}
				for c.Pending() > 16<<20 { // bound the queue: let the writer reach the socket
					time.Sleep(time.Millisecond)
				}
			}
			close(failed)
			err := got.reason(t)
			if drain > 0 && err != errKick {
				t.Fatalf("reason %v, want the kick", err)
			}
			if drain == 0 && (err == errKick || !strings.Contains(err.Error(), "rpc: write")) {
				t.Fatalf("reason %v, want the write error", err)
			}
			waitWriter(t, c)
		})
	}
}
