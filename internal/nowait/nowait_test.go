//go:build unix

package nowait_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/nowait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pair(t *testing.T) (*net.TCPConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), peer
}

// TestWriteStopsWhenTheSocketIsFull: Write takes what the socket holds
// and returns without waiting once it is full (the peer reads nothing),
// never more than it was given; the bytes written, a's before b's and
// then what a later Write adds, reach the peer in order and whole.
func TestWriteStopsWhenTheSocketIsFull(t *testing.T) {
	c, peer := pair(t)
	c.SetWriteBuffer(4096)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	w := nowait.NewWriter(rc)
	a := bytes.Repeat([]byte("header"), 3)
	b := make([]byte, 4<<20) // far more than the socket and the peer's buffer hold
	for i := range b {
		b[i] = byte(i * 31)
	}
	done := make(chan struct{})
	var n int
	go func() {
		defer close(done)
		n, err = w.Write(a, b)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Write waited for room")
	}
	if err != nil {
		t.Fatal(err)
	}
	if n <= len(a) || n >= len(a)+len(b) {
		t.Fatalf("wrote %d of %d+%d bytes; want a, and a part of b", n, len(a), len(b))
	}
	tail := []byte("the end")
	want := append(append(append([]byte(nil), a...), b...)[:n], tail...)
	got := make(chan []byte, 1)
	go func() {
		peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf, _ := io.ReadAll(io.LimitReader(peer, int64(len(want))))
		got <- buf
	}()
	// The rest waits for the peer to read: write it (a's part empty) until
	// it is all taken.
	deadline := time.Now().Add(10 * time.Second)
	for off := 0; off < len(tail); {
		if time.Now().After(deadline) {
			t.Fatal("the socket never took the rest")
		}
		m, err := w.Write(nil, tail[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += m
		if m == 0 {
			time.Sleep(time.Millisecond) // the socket is full: let the peer read
		}
	}
	if buf := <-got; !bytes.Equal(buf, want) {
		t.Fatalf("the peer read %d bytes, not the %d written in order", len(buf), len(want))
	}
}

// TestWriteAllocatesNothing: a Writer's Write makes no allocation.
func TestWriteAllocatesNothing(t *testing.T) {
	c, peer := pair(t)
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, peer); close(drained) }()
	defer func() { c.Close(); <-drained }()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	w := nowait.NewWriter(rc)
	hdr, body := []byte{1, 2}, []byte("body")
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := w.Write(hdr, body); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("%v allocations per Write, want 0", allocs)
	}
}
