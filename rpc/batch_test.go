package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// frameReader reads frames from nc on its own goroutine into a channel.
func frameReader(t testing.TB, nc net.Conn) <-chan []byte {
	t.Helper()
	out := make(chan []byte, 1<<16)
	go func() {
		defer close(out)
		var hdr [HeaderSize]byte
		for {
			_, body, err := ReadFrame(nc, hdr[:], 1<<24)
			if err != nil {
				return
			}
			out <- body
		}
	}()
	return out
}

// recvSeq receives n frames from sender and checks their order and payload.
func recvSeq(t testing.TB, frames <-chan []byte, sender uint8, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case b, ok := <-frames:
			if !ok {
				t.Fatalf("connection ended after %d of %d frames", i, n)
			}
			s, seq, err := checkSeqBody(b)
			if err != nil {
				t.Fatal(err)
			}
			if s != sender || seq != uint32(i) {
				t.Fatalf("frame %d: got sender %d seq %d", i, s, seq)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("frame %d of %d did not arrive within %v", i, n, waitTimeout)
		}
	}
}

// TestBatchWritesAtFlush: frames sent through a Batch wait in the queue
// until Flush, which writes them in place (no writer goroutine left
// running) over TCP; the peer gets them in order.
func TestBatchWritesAtFlush(t *testing.T) {
	a, b := tcpPair(t)
	c := NewConn(a, ConnConfig{})
	defer func() { c.Close(nil); c.Wait() }()
	frames := frameReader(t, b)
	var batch Batch
	for i := 0; i < 10; i++ {
		if err := batch.Send(c, MsgType(7), seqBody(1, uint32(i), 20)); err != nil {
			t.Fatal(err)
		}
	}
	if batch.Len() != 1 {
		t.Fatalf("batch holds %d connections, want 1", batch.Len())
	}
	if want := 10 * (HeaderSize + 25); c.Pending() != want {
		t.Fatalf("before Flush: %d bytes pending, want %d", c.Pending(), want)
	}
	batch.Flush()
	if batch.Len() != 0 {
		t.Fatalf("after Flush the batch holds %d connections", batch.Len())
	}
	if !c.Idle() {
		t.Fatalf("after Flush on an empty socket: %d bytes pending or a writer running", c.Pending())
	}
	recvSeq(t, frames, 1, 10)

	// The Batch is reusable, and the connection goes back into it.
	batch.Send(c, MsgType(7), seqBody(2, 0, 3))
	if batch.Len() != 1 {
		t.Fatalf("second round: batch holds %d connections, want 1", batch.Len())
	}
	batch.Flush()
	recvSeq(t, frames, 2, 1)
}

// TestBatchFlushFullSocket: a Flush on a socket that cannot take it all
// returns at once and leaves the rest to the writer goroutine, which
// sends it, in order, once the peer reads.
func TestBatchFlushFullSocket(t *testing.T) {
	a, b := tcpPair(t)
	c := NewConn(a, ConnConfig{MaxPending: 64 << 20})
	defer func() { c.Close(nil); c.Wait() }()
	var batch Batch
	const n = 4000 // 4000 × ~4 KiB: far more than loopback socket buffers
	for i := 0; i < n; i++ {
		batch.Send(c, MsgType(7), seqBody(3, uint32(i), 4096))
	}
	done := make(chan struct{})
	go func() { batch.Flush(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Flush blocked on a peer that does not read")
	}
	if c.Idle() {
		t.Fatal("16 MiB fit in the socket at once: the test did not fill it")
	}
	// More frames while the writer waits: they follow the rest.
	for i := n; i < n+10; i++ {
		batch.Send(c, MsgType(7), seqBody(3, uint32(i), 4096))
	}
	if batch.Len() != 0 {
		t.Fatal("a connection whose writer runs was added to the batch")
	}
	batch.Flush()
	recvSeq(t, frameReader(t, b), 3, n+10)
}

// TestBatchMixedSenders: direct senders and a Batch owner share one
// connection; every frame arrives intact and each sender's in order.
func TestBatchMixedSenders(t *testing.T) {
	a, b := tcpPair(t)
	c := NewConn(a, ConnConfig{MaxPending: 64 << 20})
	defer func() { c.Close(nil); c.Wait() }()
	frames := frameReader(t, b)
	const per = 2000
	var wg sync.WaitGroup
	for s := uint8(0); s < 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch Batch
			for i := 0; i < per; i++ {
				body := seqBody(s, uint32(i), int(i%300))
				if s%2 == 0 {
					c.Send(MsgType(7), body)
					continue
				}
				batch.Send(c, MsgType(7), body)
				if i%7 == 0 {
					batch.Flush()
				}
			}
			batch.Flush()
		}()
	}
	next := make([]uint32, 4)
	for got := 0; got < 4*per; got++ {
		select {
		case body, ok := <-frames:
			if !ok {
				t.Fatalf("connection ended after %d frames", got)
			}
			s, seq, err := checkSeqBody(body)
			if err != nil {
				t.Fatal(err)
			}
			if s >= 4 || seq != next[s] {
				t.Fatalf("sender %d: got seq %d, want %d", s, seq, next[s])
			}
			next[s]++
		case <-time.After(waitTimeout):
			t.Fatalf("only %d of %d frames arrived", got, 4*per)
		}
	}
	wg.Wait()
}

// TestBatchWithoutRawConn: a connection with no raw socket (a pipe, a
// KCP session) hands the Flush to its writer goroutine.
func TestBatchWithoutRawConn(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a, ConnConfig{})
	defer func() { c.Close(nil); c.Wait() }()
	frames := frameReader(t, b)
	var batch Batch
	for i := 0; i < 5; i++ {
		batch.Send(c, MsgType(7), seqBody(4, uint32(i), 10))
	}
	batch.Flush()
	recvSeq(t, frames, 4, 5)
}

// TestBatchCloseAfterFlush: a kick queued behind batched frames that were
// not flushed yet still goes out, after them, and then the connection
// closes.
func TestBatchCloseAfterFlush(t *testing.T) {
	a, b := tcpPair(t)
	c := NewConn(a, ConnConfig{})
	frames := frameReader(t, b)
	var batch Batch
	batch.Send(c, MsgType(7), seqBody(5, 0, 10))
	c.CloseAfterFlush(errors.New("bye"))
	waitDone(t, c)
	c.Wait()
	recvSeq(t, frames, 5, 1)
	batch.Flush() // a no-op on the closed connection
	if err := batch.Send(c, MsgType(7), nil); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("Send through a batch on a closed connection: %v", err)
	}
}

// TestAfterBatchForwarding: a reader forwards every frame through a Batch
// flushed in AfterBatch. Frames that arrived together all reach the other
// side with no further input, i.e. AfterBatch ran before the reader waited
// again, and it ran fewer times than there were frames.
func TestAfterBatchForwarding(t *testing.T) {
	inA, inB := tcpPair(t)
	outA, outB := tcpPair(t)
	dst := NewConn(outA, ConnConfig{})
	defer func() { dst.Close(nil); dst.Wait() }()
	var batch Batch
	var calls int
	src := serve(NewConn(inB, ConnConfig{
		ReadBufferSize: 64 << 10,
		AfterBatch:     func() { calls++; batch.Flush() },
	}), func(t MsgType, body []byte) error { return batch.Send(dst, t, body) })
	frames := frameReader(t, outB)

	const n = 500
	var all []byte
	for i := 0; i < n; i++ {
		all = AppendFrame(all, MsgType(9), seqBody(6, uint32(i), 16))
	}
	if _, err := inA.Write(all); err != nil { // one write: the reader sees few reads
		t.Fatal(err)
	}
	recvSeq(t, frames, 6, n)
	inA.Close()
	if err := src.reason(t); !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("reason %v", err)
	}
	src.Wait()
	if calls < 1 || calls >= n {
		t.Fatalf("AfterBatch ran %d times for %d frames that arrived in one write", calls, n)
	}
}

// TestFrameBuffered: the check that decides whether reading the next frame
// can wait on the network.
func TestFrameBuffered(t *testing.T) {
	frame := AppendFrame(nil, MsgType(1), []byte("hello"))
	cases := []struct {
		name string
		data []byte
		want bool
	}{
		{"empty", nil, false},
		{"part of a header", frame[:3], false},
		{"header only", frame[:HeaderSize], false},
		{"all but one byte", frame[:len(frame)-1], false},
		{"a whole frame", frame, true},
		{"a frame and a half", append(append([]byte{}, frame...), frame[:4]...), true},
	}
	for _, tc := range cases {
		c := &Conn{br: bufio.NewReaderSize(bytes.NewReader(tc.data), 64)}
		c.br.Peek(len(tc.data)) // fill the buffer, as a read would
		if got := c.frameBuffered(); got != tc.want {
			t.Errorf("%s: frameBuffered = %v, want %v", tc.name, got, tc.want)
		}
	}
	if (&Conn{}).frameBuffered() {
		t.Error("an unbuffered reader claims a buffered frame")
	}
}

// TestBatchNil: the nil *Batch sends at once.
func TestBatchNil(t *testing.T) {
	a, b := tcpPair(t)
	c := NewConn(a, ConnConfig{})
	defer func() { c.Close(nil); c.Wait() }()
	frames := frameReader(t, b)
	var batch *Batch
	batch.Send(c, MsgType(7), seqBody(7, 0, 1))
	batch.Flush()
	if batch.Len() != 0 {
		t.Fatal("nil batch has a length")
	}
	recvSeq(t, frames, 7, 1)
}

// rawSocketer wraps a TCP connection the way a gate wraps its clients'.
type rawSocketer struct {
	net.Conn
	tcp *net.TCPConn
}

func (w rawSocketer) RawSocket() syscall.Conn { return w.tcp }

// TestBatchWritesRawSocketerInPlace: a wrapped socket that says what it
// wraps (RawSocketer) is written in place, as a bare TCP connection is.
func TestBatchWritesRawSocketerInPlace(t *testing.T) {
	a, b := tcpPair(t)
	c := NewConn(rawSocketer{a, a.(*net.TCPConn)}, ConnConfig{})
	defer func() { c.Close(nil); c.Wait() }()
	frames := frameReader(t, b)
	var batch Batch
	for i := 0; i < 5; i++ {
		batch.Send(c, MsgType(7), seqBody(5, uint32(i), 10))
	}
	batch.Flush()
	if !c.Idle() {
		t.Fatalf("after Flush on an empty socket: %d bytes pending or a writer running", c.Pending())
	}
	recvSeq(t, frames, 5, 5)
}
