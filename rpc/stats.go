package rpc

import (
	"errors"
	"os"
	"sync/atomic"
)

// ConnStats counts the traffic of the connections that share it (say, all
// clients of a gate), with atomic counters: no lock, no allocation per
// frame. Read it from any goroutine.
type ConnStats struct {
	// FramesIn and BytesIn count the frames read by Serve (headers
	// included in the bytes; handshake frames read with ReadFrame are not
	// counted).
	FramesIn, BytesIn atomic.Uint64
	// FramesOut counts sends (Send, SendFrame and Append calls that
	// queued something; SendFrame and Append may queue several frames at
	// once, and count once). BytesOut counts the bytes written to the
	// socket.
	FramesOut, BytesOut atomic.Uint64
	// Stalls counts the times a sender waited for room on a connection
	// with ConnConfig.Backpressure, and StallNanos the time they waited.
	Stalls, StallNanos atomic.Uint64
	// SlowConsumers counts the connections closed because too much was
	// queued for them (ErrSlowConsumer).
	SlowConsumers atomic.Uint64
	// Closes counts the connections closed, by why (see CloseReasons).
	Closes [NumCloseReasons]atomic.Uint64
}

// CloseReason classifies why a connection closed, for metrics.
type CloseReason int

// The reasons a connection closes.
const (
	ClosePeer         CloseReason = iota // the peer closed it
	CloseIdle                            // nothing arrived for IdleTimeout
	CloseSlowConsumer                    // too much was queued for it
	CloseWriteError                      // a write failed or made no progress for WriteTimeout
	CloseReadError                       // a read failed (a reset, a transport's error)
	CloseBadFrame                        // a frame too large or too short
	ClosePanic                           // the handler panicked
	CloseLocal                           // closed by this side (shutdown, a kick, a protocol error...)
	NumCloseReasons
)

// CloseReasons are the names of the CloseReason values, as metric labels.
var CloseReasons = [NumCloseReasons]string{"peer_closed", "idle_timeout", "slow_consumer", "write_error", "read_error", "bad_frame", "panic", "local"}

// ClassifyClose returns the CloseReason of a connection's close reason.
func ClassifyClose(reason error) CloseReason {
	switch {
	case errors.Is(reason, ErrPeerClosed):
		return ClosePeer
	case errors.Is(reason, ErrIdleTimeout):
		return CloseIdle
	case errors.Is(reason, ErrSlowConsumer):
		return CloseSlowConsumer
	case errors.Is(reason, ErrFrameTooLarge), errors.Is(reason, ErrFrameTooShort):
		return CloseBadFrame
	case errors.Is(reason, ErrHandlerPanic):
		return ClosePanic
	case errors.Is(reason, errWrite), errors.Is(reason, os.ErrDeadlineExceeded):
		return CloseWriteError
	case errors.Is(reason, errRead):
		return CloseReadError
	}
	return CloseLocal
}

func (s *ConnStats) countClose(reason error) { s.Closes[ClassifyClose(reason)].Add(1) }
