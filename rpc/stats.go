package rpc

import "sync/atomic"

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
}
