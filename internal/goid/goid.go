// Package goid tells goroutines apart: Current returns the calling
// goroutine's ID, for the few places that must know whether they run on
// one particular goroutine (the game loop's stall watchdog, the Go
// client's event handler). The runtime exports no other way to read it
// than the first line of a stack trace ("goroutine 123 [running]:").
package goid

import (
	"bytes"
	"runtime"
	"strconv"
)

// Current returns the calling goroutine's ID, or 0 if the stack trace's
// first line cannot be read (no goroutine has ID 0).
func Current() uint64 {
	var buf [64]byte
	b, ok := bytes.CutPrefix(buf[:runtime.Stack(buf[:], false)], []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); ok && i > 0 {
		if id, err := strconv.ParseUint(string(b[:i]), 10, 64); err == nil {
			return id
		}
	}
	return 0
}
