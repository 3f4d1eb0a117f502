package rpc

import (
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackpressureStallsTheSender: with Backpressure, a sender that fills
// a connection past MaxPending through a Batch waits in Flush until the
// writer has drained it, instead of the connection closing as a slow
// consumer; once the peer reads again, everything arrives, once and in
// order, and the wait is counted. Without Backpressure the same load
// closes the connection (the control case).
func TestBackpressureStallsTheSender(t *testing.T) {
	const (
		maxPending = 256 << 10
		frameSize  = 16 << 10
		frames     = 2000 // 32 MiB: many times MaxPending and the socket buffers
	)
	for _, bp := range []bool{true, false} {
		name := "backpressure"
		if !bp {
			name = "no backpressure"
		}
		t.Run(name, func(t *testing.T) {
			cl, sv := tcpPair(t)
			var stats ConnStats
			c := NewConn(sv, ConnConfig{MaxPending: maxPending, Backpressure: bp, Stats: &stats})
			s := serve(c, discard)
			defer s.shutdown(t)

			sent := make(chan error, 1)
			var queuedMost atomic.Int64
			go func() {
				b := &Batch{Backpressure: true}
				body := make([]byte, frameSize)
				for i := 0; i < frames; i++ {
					binary.LittleEndian.PutUint32(body, uint32(i))
					if err := b.Send(c, MsgCallEntity, body); err != nil {
						sent <- err
						return
					}
					c.mu.Lock()
					queuedMost.Store(max(queuedMost.Load(), int64(len(c.out)+c.inflight)))
					c.mu.Unlock()
					b.Flush()
				}
				sent <- nil
			}()

			// The peer reads nothing until the queue is past MaxPending
			// (or the connection closed).
			deadline := time.Now().Add(waitTimeout)
			for queuedMost.Load() <= maxPending && !isDone(c) {
				if time.Now().After(deadline) {
					t.Fatalf("the queue never passed MaxPending (most %d bytes)", queuedMost.Load())
				}
				time.Sleep(time.Millisecond) // polling a condition with a deadline
			}
			if !bp {
				waitDone(t, c)
				if err := c.Reason(); !errors.Is(err, ErrSlowConsumer) {
					t.Fatalf("closed with %v, want ErrSlowConsumer", err)
				}
				if stats.SlowConsumers.Load() != 1 || stats.Closes[CloseSlowConsumer].Load() != 1 {
					t.Fatal("slow consumer not counted")
				}
				return
			}
			if isDone(c) {
				t.Fatalf("closed with %v under back-pressure", c.Reason())
			}
			var hdr [HeaderSize]byte
			cl.SetReadDeadline(time.Now().Add(waitTimeout))
			for i := 0; i < frames; i++ {
				typ, body, err := ReadFrame(cl, hdr[:], 1<<20)
				if err != nil || typ != MsgCallEntity || len(body) != frameSize {
					t.Fatalf("frame %d: %v, %v, %d bytes", i, err, typ, len(body))
				}
				if got := binary.LittleEndian.Uint32(body); got != uint32(i) {
					t.Fatalf("frame %d carries %d: lost or reordered", i, got)
				}
			}
			if err := <-sent; err != nil {
				t.Fatalf("a send failed: %v", err)
			}
			if stats.Stalls.Load() == 0 {
				t.Error("no stall counted")
			}
			if most := queuedMost.Load(); most > 2*maxPending {
				t.Errorf("up to %d bytes queued, over twice MaxPending (%d)", most, 2*maxPending)
			}
		})
	}
}

// TestBatchLenCountsConnectionsToWaitFor: a Batch send to a connection
// whose writer is already running (its peer reads slowly) is not one to
// write, but past the mark it is one to wait for, and Len says so: the
// game loop flushes only when Len is not 0, and used to never wait, which
// filled its link to the hard bound and closed it as a slow consumer.
func TestBatchLenCountsConnectionsToWaitFor(t *testing.T) {
	const maxPending = 64 << 10
	cl, sv := tcpPair(t)
	c := NewConn(sv, ConnConfig{MaxPending: maxPending, Backpressure: true})
	s := serve(c, discard)
	defer s.shutdown(t)
	// The peer reads nothing: direct sends (no Batch, no wait) fill the
	// socket, then the queue past the mark; the writer is stuck writing.
	big := make([]byte, 16<<10)
	for i := 0; c.Queued() <= maxPending; i++ {
		if i == 10000 {
			t.Fatal("the queue never passed the mark")
		}
		if err := c.Send(MsgCallEntity, big); err != nil {
			t.Fatal(err)
		}
	}
	b := &Batch{Backpressure: true}
	if err := b.Send(c, MsgCallEntity, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if b.Len() == 0 {
		t.Fatal("Len is 0 for a Batch that filled a connection past its mark: its owner would never flush and wait")
	}
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, cl); close(drained) }()
	b.Flush() // waits until the reader has drained it to half
	if q := c.Queued(); q > maxPending {
		t.Fatalf("Flush returned with %d bytes queued, over the mark", q)
	}
	if b.Len() != 0 {
		t.Fatalf("Len %d after Flush", b.Len())
	}
	c.Close(nil)
	cl.Close()
	<-drained
}
