package rpc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestFrameHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		typ  MsgType
		body []byte
	}{
		{"empty body", MsgHeartbeat, nil},
		{"one byte", MsgKick, []byte{0x42}},
		{"entity call", MsgCallEntityMethod, bytes.Repeat([]byte("x"), 100)},
		{"max type", MsgType(0xffff), []byte("abc")},
		{"zero type", MsgType(0), []byte("abc")},
		{"64 KiB", MsgToClient, bytes.Repeat([]byte{7}, 64<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := AppendHeader(nil, tt.typ, len(tt.body))
			if len(hdr) != HeaderSize {
				t.Fatalf("header is %d bytes, want %d", len(hdr), HeaderSize)
			}
			if got := binary.LittleEndian.Uint32(hdr); got != uint32(len(tt.body)+2) {
				t.Fatalf("length field %d, want %d", got, len(tt.body)+2)
			}
			typ, n, err := ParseHeader(hdr, len(tt.body))
			if err != nil || typ != tt.typ || n != len(tt.body) {
				t.Fatalf("ParseHeader = %v, %d, %v; want %v, %d, nil", typ, n, err, tt.typ, len(tt.body))
			}

			prefix := []byte("prefix")
			frame := AppendFrame(prefix, tt.typ, tt.body)
			if !bytes.Equal(frame[:len(prefix)], prefix) {
				t.Fatal("AppendFrame clobbered dst")
			}
			frame = frame[len(prefix):]
			if !bytes.Equal(frame[:HeaderSize], hdr) || !bytes.Equal(frame[HeaderSize:], tt.body) {
				t.Fatal("AppendFrame != AppendHeader + body")
			}

			var scratch [HeaderSize]byte
			r := bytes.NewReader(frame)
			typ, body, err := ReadFrame(r, scratch[:], len(tt.body))
			if err != nil || typ != tt.typ || !bytes.Equal(body, tt.body) {
				t.Fatalf("ReadFrame = %v, %d bytes, %v", typ, len(body), err)
			}
			if body == nil {
				t.Fatal("ReadFrame returned a nil body for an empty frame")
			}
			if r.Len() != 0 {
				t.Fatalf("ReadFrame left %d bytes", r.Len())
			}
			if _, _, err := ReadFrame(r, scratch[:], len(tt.body)); err != io.EOF {
				t.Fatalf("ReadFrame at end = %v, want io.EOF", err)
			}
		})
	}
}

func TestReadFrameSequence(t *testing.T) {
	var stream []byte
	for i := 0; i < 100; i++ {
		stream = AppendFrame(stream, MsgType(i), bytes.Repeat([]byte{byte(i)}, i))
	}
	r := bytes.NewReader(stream)
	hdr := make([]byte, HeaderSize)
	for i := 0; i < 100; i++ {
		typ, body, err := ReadFrame(r, hdr, 1000)
		if err != nil || typ != MsgType(i) || !bytes.Equal(body, bytes.Repeat([]byte{byte(i)}, i)) {
			t.Fatalf("frame %d: %v %v %v", i, typ, body, err)
		}
	}
	if _, _, err := ReadFrame(r, hdr, 1000); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func rawHeader(length uint32, typ uint16) []byte {
	b := binary.LittleEndian.AppendUint32(nil, length)
	return binary.LittleEndian.AppendUint16(b, typ)
}

func TestParseHeaderLimits(t *testing.T) {
	const max = 1000
	tests := []struct {
		length  uint32
		wantErr error
		wantN   int
	}{
		{0, ErrFrameTooShort, 0},
		{1, ErrFrameTooShort, 0},
		{2, nil, 0},
		{3, nil, 1},
		{max + 2, nil, max},
		{max + 3, ErrFrameTooLarge, 0},
		{1 << 31, ErrFrameTooLarge, 0},
		{0xffffffff, ErrFrameTooLarge, 0},
	}
	for _, tt := range tests {
		typ, n, err := ParseHeader(rawHeader(tt.length, 77), max)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("length %d: err %v, want %v", tt.length, err, tt.wantErr)
			continue
		}
		if err == nil && (n != tt.wantN || typ != 77) {
			t.Errorf("length %d: got type %v, n %d; want 77, %d", tt.length, typ, n, tt.wantN)
		}
		if err != nil && (n != 0 || typ != 0) {
			t.Errorf("length %d: error with type %v, n %d", tt.length, typ, n)
		}
	}
	// A zero limit admits only empty bodies.
	if _, _, err := ParseHeader(rawHeader(2, 1), 0); err != nil {
		t.Errorf("empty body, limit 0: %v", err)
	}
	if _, _, err := ParseHeader(rawHeader(3, 1), 0); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("1-byte body, limit 0: %v", err)
	}
}

// TestReadFrameHugeHeaderNoAlloc checks that a hostile length is refused
// before anything is allocated: the reader holds only the header, so a
// ReadFrame that allocated first would report io.ErrUnexpectedEOF (or die
// trying to allocate 4 GiB).
func TestReadFrameHugeHeaderNoAlloc(t *testing.T) {
	for _, length := range []uint32{0xffffffff, 0x80000000, 1 << 20} {
		hdrOnly := rawHeader(length, uint16(MsgCallEntity))
		scratch := make([]byte, HeaderSize)
		_, body, err := ReadFrame(bytes.NewReader(hdrOnly), scratch, 64<<10)
		if !errors.Is(err, ErrFrameTooLarge) || body != nil {
			t.Fatalf("length %#x: body %d bytes, err %v; want ErrFrameTooLarge", length, len(body), err)
		}
		if !strings.Contains(err.Error(), "65536") {
			t.Errorf("error %q does not name the limit", err)
		}
		r := bytes.NewReader(hdrOnly)
		perRun := allocBytes(100, func() {
			r.Reset(hdrOnly)
			ReadFrame(r, scratch, 64<<10)
		})
		if perRun > 512 { // the error value only
			t.Errorf("length %#x: ReadFrame allocated %d bytes per refused frame", length, perRun)
		}
	}
	// Too-short lengths are refused before reading a body as well.
	for _, length := range []uint32{0, 1} {
		_, _, err := ReadFrame(bytes.NewReader(rawHeader(length, 0)), make([]byte, HeaderSize), 100)
		if !errors.Is(err, ErrFrameTooShort) {
			t.Errorf("length %d: %v, want ErrFrameTooShort", length, err)
		}
	}
}

func TestReadFrameTruncated(t *testing.T) {
	full := AppendFrame(nil, MsgCallEntity, []byte("0123456789"))
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"nothing", nil, io.EOF},
		{"1 header byte", full[:1], io.ErrUnexpectedEOF},
		{"5 header bytes", full[:5], io.ErrUnexpectedEOF},
		{"header only", full[:HeaderSize], io.ErrUnexpectedEOF},
		{"half body", full[:HeaderSize+5], io.ErrUnexpectedEOF},
		{"one byte short", full[:len(full)-1], io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body, err := ReadFrame(bytes.NewReader(tt.in), make([]byte, HeaderSize), 100)
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if body != nil {
				t.Fatalf("body %q returned with an error", body)
			}
		})
	}
	// A reader that returns the bytes one at a time still yields the frame.
	typ, body, err := ReadFrame(&oneByteReader{b: full}, make([]byte, HeaderSize), 100)
	if err != nil || typ != MsgCallEntity || string(body) != "0123456789" {
		t.Fatalf("one byte at a time: %v %q %v", typ, body, err)
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func TestAppendUint32LE(t *testing.T) {
	got := AppendUint32LE([]byte{9}, 0x01020304)
	if !bytes.Equal(got, []byte{9, 4, 3, 2, 1}) {
		t.Fatalf("got % x", got)
	}
}

func TestMsgTypeNames(t *testing.T) {
	seen := map[string]MsgType{}
	for typ, name := range msgTypeNames {
		if typ.String() != name {
			t.Errorf("%d.String() = %q, want %q", typ, typ.String(), name)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("types %d and %d share the name %q", typ, other, name)
		}
		seen[name] = typ
		if typ.IsEntityRouted() && typ.IsGateRouted() {
			t.Errorf("%v is both entity- and gate-routed", typ)
		}
	}
	if got := MsgType(54321).String(); got != "MsgType(54321)" {
		t.Errorf("unknown type: %q", got)
	}
	for _, typ := range []MsgType{MsgCallEntityMethod, MsgClientCall, MsgClientDisconnected, MsgRegisterEntity,
		MsgUnregisterEntity, MsgCreateEntitySomewhere, MsgLoadEntitySomewhere, MsgClientSyncPosition,
		MsgMigrateBlock, MsgMigrateEntity, MsgCreateEntityOnGame} {
		if !typ.IsEntityRouted() {
			t.Errorf("%v is not entity-routed", typ)
		}
	}
	for _, typ := range []MsgType{MsgToClient, MsgSetClientOwner, MsgSetClientFilterProp, MsgKickClient, MsgToClients} {
		if !typ.IsGateRouted() {
			t.Errorf("%v is not gate-routed", typ)
		}
	}
	for _, typ := range []MsgType{MsgHello, MsgHeartbeat, MsgClientConnected, MsgFilteredBroadcast, MsgCallEntity,
		MsgSyncPosition, MsgEnterSpace, MsgPositions, MsgMigrateBlockAck} {
		if typ.IsEntityRouted() || typ.IsGateRouted() {
			t.Errorf("%v is routed by its first field", typ)
		}
	}
	if RoleGame.String() != "game" || RoleGate.String() != "gate" || Role(9).String() != "role(9)" {
		t.Errorf("role names: %v %v %v", RoleGame, RoleGate, Role(9))
	}
}

// TestReadFrameGrowsWithWhatArrives: a peer that declares a large body and
// sends little of it makes ReadFrame hold memory in proportion to what it
// sent, not to what it declared (8,000 such clients once took a gate from
// 3.8 MB to 538 MB of heap).
func TestReadFrameGrowsWithWhatArrives(t *testing.T) {
	const declared = 64 << 10
	for _, sent := range []int{1, 100, 5000, 10000} {
		frame := AppendHeader(nil, MsgCallEntity, declared)
		frame = append(frame, bytes.Repeat([]byte{'x'}, sent)...)
		per := allocBytes(20, func() {
			var scratch [HeaderSize]byte
			_, _, err := ReadFrame(bytes.NewReader(frame), scratch[:], declared)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("ReadFrame of a truncated frame: %v, want io.ErrUnexpectedEOF", err)
			}
		})
		// Live: at most twice what arrived (the last doubling) or the
		// first chunk. Allocated in all, counting the buffers outgrown:
		// at most twice that, plus the reader's own small allocations.
		if limit := uint64(4*sent + 2*smallBody + 1024); per > limit {
			t.Errorf("%d of %d declared bytes sent: ReadFrame allocated %d bytes, want at most %d", sent, declared, per, limit)
		}
	}
}

// TestReadFrameGrowingBodyIsExact: bodies larger than the first chunk,
// arriving a byte at a time or all buffered, come out whole and exact.
func TestReadFrameGrowingBodyIsExact(t *testing.T) {
	for _, n := range []int{smallBody - 1, smallBody, smallBody + 1, 3*smallBody + 7, 1 << 20} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i * 7)
		}
		frame := AppendFrame(nil, MsgToClient, body)
		for name, r := range map[string]io.Reader{
			"one byte at a time": iotest.OneByteReader(bytes.NewReader(frame)),
			"buffered":           bufio.NewReaderSize(bytes.NewReader(frame), len(frame)),
			"half buffered":      bufio.NewReaderSize(bytes.NewReader(frame), len(frame)/2+16),
		} {
			var scratch [HeaderSize]byte
			typ, got, err := ReadFrame(r, scratch[:], n)
			if err != nil || typ != MsgToClient || !bytes.Equal(got, body) {
				t.Fatalf("%d bytes, %s: ReadFrame = %v, %d bytes, %v", n, name, typ, len(got), err)
			}
		}
	}
}
