package rpc

import (
	"encoding/binary"
	"errors"
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
