package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// HeaderSize is the size of a frame header: a uint32 length and a uint16 type.
const HeaderSize = 6

// lengthSize is the size of the length field at the start of a frame.
const lengthSize = 4

// ErrFrameTooLarge is returned when a frame's length field exceeds the
// reader's maximum. Nothing is allocated for such a frame.
var ErrFrameTooLarge = errors.New("rpc: frame too large")

// ErrFrameTooShort is returned for a length field below 2 (a frame always
// holds at least its message type).
var ErrFrameTooShort = errors.New("rpc: frame length below 2")

// AppendHeader appends a frame header for a body of bodyLen bytes to dst.
func AppendHeader(dst []byte, msgType MsgType, bodyLen int) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(bodyLen+2))
	return binary.LittleEndian.AppendUint16(dst, uint16(msgType))
}

// AppendFrame appends a whole frame (header and body) to dst.
func AppendFrame(dst []byte, msgType MsgType, body []byte) []byte {
	dst = AppendHeader(dst, msgType, len(body))
	return append(dst, body...)
}

// ParseHeader decodes a frame header and checks its length against
// maxBody, the largest body the caller accepts. It returns the body length.
func ParseHeader(hdr []byte, maxBody int) (MsgType, int, error) {
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n < 2 {
		return 0, 0, ErrFrameTooShort
	}
	if uint64(n-2) > uint64(maxBody) {
		return 0, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n-2, maxBody)
	}
	return MsgType(binary.LittleEndian.Uint16(hdr[4:6])), int(n - 2), nil
}

// ReadFrame reads one frame from r into a newly allocated body, refusing
// bodies larger than maxBody before allocating. hdr is scratch space of at
// least HeaderSize bytes that the caller may reuse across calls.
//
// The body grows with the bytes that actually arrive, not with the length
// the header declares: a peer that declares a large frame and then sends
// it slowly (or never) holds at most about twice what it sent, plus
// smallBody. A body already buffered in r (a *bufio.Reader) is allocated
// whole at once.
func ReadFrame(r io.Reader, hdr []byte, maxBody int) (MsgType, []byte, error) {
	if _, err := io.ReadFull(r, hdr[:HeaderSize]); err != nil {
		return 0, nil, err
	}
	t, n, err := ParseHeader(hdr, maxBody)
	if err != nil {
		return 0, nil, err
	}
	size := n
	if n > smallBody {
		size = smallBody
		if b, ok := r.(interface{ Buffered() int }); ok {
			size = min(n, max(size, b.Buffered()))
		}
	}
	body := make([]byte, size)
	got := 0
	for {
		m, err := io.ReadFull(r, body[got:])
		got += m
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
		if got == n {
			return t, body, nil
		}
		// Everything asked for arrived: ask for up to twice as much.
		grown := make([]byte, min(n, 2*len(body)))
		copy(grown, body)
		body = grown
	}
}

// smallBody is the largest body ReadFrame allocates whole before any of
// it has arrived; larger ones grow as their bytes come in.
const smallBody = 4 << 10

// AppendUint32LE appends v little-endian (the frame length field).
func AppendUint32LE(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }
