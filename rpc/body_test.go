package rpc

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReaderRoundTrip(t *testing.T) {
	id := NewEntityID()
	var b []byte
	b = AppendEntityID(b, id)
	b = AppendEntityID(b, "")
	b = AppendUint8(b, 0xab)
	b = AppendUint16(b, 0xbeef)
	b = AppendUint64(b, math.MaxUint64-1)
	b = AppendString(b, "")
	b = AppendString(b, "héllo, wörld")
	b = append(b, "rest of body"...)

	r := NewReader(b)
	if got := r.EntityID(); got != id {
		t.Errorf("EntityID = %q, want %q", got, id)
	}
	if got := r.EntityID(); got != "" {
		t.Errorf("zero EntityID = %q, want empty", got)
	}
	if got := r.Uint8(); got != 0xab {
		t.Errorf("Uint8 = %#x", got)
	}
	if got := r.Uint16(); got != 0xbeef {
		t.Errorf("Uint16 = %#x", got)
	}
	if got := r.Uint64(); got != math.MaxUint64-1 {
		t.Errorf("Uint64 = %#x", got)
	}
	if got := r.String(); got != "" {
		t.Errorf("empty String = %q", got)
	}
	if got := r.String(); got != "héllo, wörld" {
		t.Errorf("String = %q", got)
	}
	if off := r.Offset(); off != len(b)-len("rest of body") {
		t.Errorf("Offset = %d, want %d", off, len(b)-len("rest of body"))
	}
	if got := r.Rest(); string(got) != "rest of body" {
		t.Errorf("Rest = %q", got)
	}
	if r.Err() != nil {
		t.Errorf("Err = %v", r.Err())
	}
	if got := r.Rest(); len(got) != 0 {
		t.Errorf("second Rest = %q", got)
	}
	if r.Offset() != len(b) {
		t.Errorf("Offset after Rest = %d", r.Offset())
	}
	// Reading past the end is an error.
	if r.Uint8() != 0 || !errors.Is(r.Err(), ErrShortBody) {
		t.Errorf("read past end: %v", r.Err())
	}
}

func TestReaderStickyError(t *testing.T) {
	body := []byte{1, 2, 3}
	r := NewReader(body)
	if r.Uint8() != 1 {
		t.Fatal("first byte")
	}
	if r.Uint64() != 0 || !errors.Is(r.Err(), ErrShortBody) {
		t.Fatalf("Uint64 on 2 bytes: err %v", r.Err())
	}
	first := r.Err()
	// Enough bytes remain for these, but the error sticks.
	if v := r.Uint8(); v != 0 {
		t.Errorf("Uint8 after error = %d", v)
	}
	if v := r.Uint16(); v != 0 {
		t.Errorf("Uint16 after error = %d", v)
	}
	if v := r.String(); v != "" {
		t.Errorf("String after error = %q", v)
	}
	if v := r.EntityID(); v != "" {
		t.Errorf("EntityID after error = %q", v)
	}
	if v := r.Rest(); v != nil {
		t.Errorf("Rest after error = %v", v)
	}
	if r.Err() != first {
		t.Errorf("error changed from %v to %v", first, r.Err())
	}
	if r.Offset() != 1 {
		t.Errorf("Offset = %d, want 1 (failed reads consume nothing)", r.Offset())
	}

	r.Reset(body)
	if r.Err() != nil || r.Offset() != 0 || r.Uint16() != 0x0201 {
		t.Fatalf("Reset: err %v offset %d", r.Err(), r.Offset())
	}
}

func TestReaderShortFields(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		read func(r *Reader)
	}{
		{"uint8 of empty", nil, func(r *Reader) { r.Uint8() }},
		{"uint16 of 1", []byte{1}, func(r *Reader) { r.Uint16() }},
		{"uint64 of 7", make([]byte, 7), func(r *Reader) { r.Uint64() }},
		{"entity of 15", bytes.Repeat([]byte("A"), 15), func(r *Reader) { r.EntityID() }},
		{"string length of 1", []byte{5}, func(r *Reader) { _ = r.String() }},
		{"string body short", []byte{5, 0, 'a', 'b'}, func(r *Reader) { _ = r.String() }},
		{"string max length, no bytes", []byte{0xff, 0xff}, func(r *Reader) { _ = r.String() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.body)
			tt.read(r)
			if !errors.Is(r.Err(), ErrShortBody) {
				t.Fatalf("err = %v, want ErrShortBody", r.Err())
			}
		})
	}
}

func TestReaderEntityID(t *testing.T) {
	valid := EntityID("AbCdEfGh-_012345")
	tests := []struct {
		name    string
		field   []byte
		want    EntityID
		wantErr error
	}{
		{"zero", make([]byte, 16), "", nil},
		{"valid", []byte(valid), valid, nil},
		{"generated", []byte(NewEntityID()), "", nil}, // want filled in below
		{"bad char", []byte("AbCdEfGh-_01234!"), "", ErrBadEntityID},
		{"space", []byte("AbCdEfGh _012345"), "", ErrBadEntityID},
		{"one zero byte", append([]byte("AbCdEfGh-_01234"), 0), "", ErrBadEntityID},
		{"leading zero byte", append([]byte{0}, "bCdEfGh-_012345"...), "", ErrBadEntityID},
		{"high bytes", bytes.Repeat([]byte{0xc3}, 16), "", ErrBadEntityID},
		{"base64 std chars", []byte("AbCdEfGh+/012345"), "", ErrBadEntityID},
	}
	tests[2].want = EntityID(tests[2].field)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(append(append([]byte(nil), tt.field...), 0x7f))
			got := r.EntityID()
			if got != tt.want || !errors.Is(r.Err(), tt.wantErr) || (tt.wantErr == nil && r.Err() != nil) {
				t.Fatalf("EntityID = %q, err %v; want %q, %v", got, r.Err(), tt.want, tt.wantErr)
			}
			if tt.wantErr != nil {
				if r.Uint8() != 0 {
					t.Fatal("read after a bad entity ID succeeded")
				}
				return
			}
			if r.Uint8() != 0x7f {
				t.Fatal("wrong offset after the entity ID")
			}
			// Round trip through AppendEntityID.
			if enc := AppendEntityID(nil, got); !bytes.Equal(enc, tt.field) {
				t.Fatalf("AppendEntityID(%q) = % x, want % x", got, enc, tt.field)
			}
		})
	}
}

func TestAppendEntityIDPanicsOnBadLength(t *testing.T) {
	for _, id := range []EntityID{"short", "seventeen-chars!!", EntityID(strings.Repeat("a", 100))} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendEntityID(%q) did not panic", id)
				}
			}()
			AppendEntityID(nil, id)
		}()
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "a", "héllo", "\x00\xff", strings.Repeat("x", 300), strings.Repeat("y", math.MaxUint16)} {
		b := AppendString([]byte{0xee}, s)
		if len(b) != 1+2+len(s) || b[0] != 0xee {
			t.Fatalf("len(%d-byte string) encoded as %d bytes", len(s), len(b))
		}
		r := NewReader(b[1:])
		if got := r.String(); got != s || r.Err() != nil {
			t.Fatalf("round trip of %d bytes: %d bytes, %v", len(s), len(got), r.Err())
		}
	}
}

// TestAppendStringTruncates: a string over the field's bound is cut, on a
// UTF-8 boundary, never a panic (a game once died building a kick reason
// around a client's 65,500-byte method name).
func TestAppendStringTruncates(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    string
		want int // encoded length of the string
	}{
		{"ascii one over", strings.Repeat("z", math.MaxUint16+1), math.MaxUint16},
		{"ascii far over", strings.Repeat("z", 1<<20), math.MaxUint16},
		// 65534 bytes of x, then a 3-byte character: it would end at
		// 65537, so it goes whole.
		{"3-byte char across the bound", strings.Repeat("x", math.MaxUint16-1) + "€€", math.MaxUint16 - 1},
		{"2-byte chars", strings.Repeat("é", 40000), math.MaxUint16 - 1},
		{"4-byte chars", strings.Repeat("😀", 20000), math.MaxUint16 - 3},
		{"invalid bytes", strings.Repeat("\xff", 70000), math.MaxUint16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendString([]byte{0xee}, tc.s)
			r := NewReader(b[1:])
			got := r.String()
			if r.Err() != nil || len(r.Rest()) != 0 {
				t.Fatalf("encoding does not read back: %v", r.Err())
			}
			if len(got) != tc.want || got != tc.s[:tc.want] {
				t.Fatalf("kept %d bytes, want the first %d", len(got), tc.want)
			}
			if utf8.ValidString(tc.s) && !utf8.ValidString(got) {
				t.Fatal("valid UTF-8 cut inside a character")
			}
		})
	}
}

func TestReaderStringCopies(t *testing.T) {
	body := AppendString(nil, "abc")
	s := NewReader(body).String()
	body[2] = 'X'
	if s != "abc" {
		t.Fatalf("String aliases the body: %q", s)
	}
}

func TestPeekRoutingFields(t *testing.T) {
	id := NewEntityID()
	body := AppendEntityID(nil, id)
	body = append(body, 1, 2, 3)
	if got, ok := PeekEntityID(body); !ok || got != id {
		t.Errorf("PeekEntityID = %q, %v", got, ok)
	}
	if got, ok := PeekEntityID(make([]byte, 16)); !ok || got != "" {
		t.Errorf("PeekEntityID(zero) = %q, %v", got, ok)
	}
	if _, ok := PeekEntityID(body[:15]); ok {
		t.Error("PeekEntityID of 15 bytes succeeded")
	}
	// Peek does not validate: dispatchers route on raw bytes.
	if got, ok := PeekEntityID([]byte("!!!!!!!!!!!!!!!!")); !ok || got != "!!!!!!!!!!!!!!!!" {
		t.Errorf("PeekEntityID(invalid chars) = %q, %v", got, ok)
	}

	if g, ok := PeekGateID(AppendUint16(nil, 513)); !ok || g != 513 {
		t.Errorf("PeekGateID = %d, %v", g, ok)
	}
	if _, ok := PeekGateID([]byte{1}); ok {
		t.Error("PeekGateID of 1 byte succeeded")
	}
}
