package wsconn

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestWriteFinishesAHeaderWrittenInPart: when a write in place stopped
// inside a frame's header (a rare cut, hard to bring about through a real
// socket), Write sends the rest of the header, the body, then what
// follows as a frame of its own. The state is set up as writeNoWait
// leaves it; the bytes are read raw off a real socket.
func TestWriteFinishesAHeaderWrittenInPart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	w := &serverWriter{nc: nc, wire: make(chan struct{}, 1)}
	w.wire <- struct{}{}

	body := bytes.Repeat([]byte{0xab}, 70_000) // a 64-bit length: a 10-byte header
	next := []byte("next frame")
	<-w.wire // writeNoWait took the wire, wrote 3 bytes of the header and kept it
	h := w.header(len(body))
	if _, err := nc.Write(h[:3]); err != nil {
		t.Fatal(err)
	}
	w.mid, w.hdrLeft, w.rest = true, h[3:], len(body)
	w.setDeadline(time.Now().Add(10 * time.Second))
	go func() {
		if n, err := w.write(append(append([]byte(nil), body...), next...)); err != nil || n != len(body)+len(next) {
			t.Errorf("write: %d, %v", n, err)
		}
	}()

	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range [][]byte{body, next} {
		var hdr [2]byte
		if _, err := io.ReadFull(peer, hdr[:]); err != nil {
			t.Fatal(err)
		}
		n := int(hdr[1])
		switch n {
		case 126:
			var b [2]byte
			io.ReadFull(peer, b[:])
			n = int(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			io.ReadFull(peer, b[:])
			n = int(binary.BigEndian.Uint64(b[:]))
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(peer, got); err != nil {
			t.Fatal(err)
		}
		if hdr[0] != 0x82 || !bytes.Equal(got, want) {
			t.Fatalf("frame %#x of %d bytes; want a final binary frame of %d bytes as written", hdr[0], n, len(want))
		}
	}
	select {
	case <-w.wire: // the wire was released
	case <-time.After(10 * time.Second):
		t.Fatal("the wire was not released after the frame")
	}
}
