package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadFrame reads frames from arbitrary bytes with a small limit. It
// must never panic, must classify every error, must return exactly the
// bytes of each frame, and must allocate no more than maxBody+HeaderSize
// per frame (so a hostile length costs nothing).
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendFrame(nil, MsgHeartbeat, nil))
	f.Add(AppendFrame(AppendFrame(nil, MsgCallEntity, []byte("hello")), MsgKick, []byte("bye")))
	f.Add(AppendFrame(nil, MsgToClient, make([]byte, 512)))
	f.Add(AppendFrame(nil, MsgToClient, make([]byte, 513)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x01, 0x00})
	f.Add([]byte{0x01, 0x00, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte{0x0a, 0x00, 0x00, 0x00, 0x03, 0x00, 'a'})
	f.Add([]byte{0x02, 0x00, 0x00})
	// A large declared body, sent in part: the reader grows its buffer
	// with what arrives (8,000 such clients once took a gate to 538 MB).
	f.Add(append(AppendHeader(nil, MsgCallEntity, 3*smallBody), make([]byte, 100)...))
	f.Add(append(AppendHeader(nil, MsgCallEntity, 3*smallBody), make([]byte, smallBody+1)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, maxBody := range []int{512, 3*smallBody + 100} {
			checkReadFrame(t, data, maxBody)
		}
	})
}

// checkReadFrame reads data's frames with ReadFrame and checks them, the
// error at the end, and what reading allocated.
func checkReadFrame(t *testing.T, data []byte, maxBody int) {
	{
		hdr := make([]byte, HeaderSize)
		// readAll reads every frame of data, checking each, and reports
		// how many bytes the process allocated meanwhile.
		readAll := func() (off, frames int, allocated uint64, err error) {
			r := bytes.NewReader(data)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			defer func() {
				runtime.ReadMemStats(&after)
				allocated = after.TotalAlloc - before.TotalAlloc
			}()
			for {
				var typ MsgType
				var body []byte
				typ, body, err = ReadFrame(r, hdr, maxBody)
				if err != nil {
					if body != nil {
						t.Fatalf("body returned with error %v", err)
					}
					break
				}
				frames++
				if len(body) > maxBody || cap(body) > maxBody {
					t.Fatalf("body of len %d cap %d, limit %d", len(body), cap(body), maxBody)
				}
				// The frame is exactly the next HeaderSize+len(body) input bytes
				// (checked without allocating).
				end := off + HeaderSize + len(body)
				if end > len(data) ||
					binary.LittleEndian.Uint32(data[off:]) != uint32(len(body)+2) ||
					binary.LittleEndian.Uint16(data[off+4:]) != uint16(typ) ||
					!bytes.Equal(data[off+HeaderSize:end], body) {
					t.Fatalf("frame %d does not match input bytes %d..%d", frames, off, end)
				}
				off = end
			}
			return
		}
		// TotalAlloc counts the whole process, and under -fuzz the
		// worker's own goroutines allocate now and then (a 16-byte input
		// once showed 5,952 bytes): the reads are deterministic, so only
		// the least of three measurements counts.
		off, frames, allocated, err := readAll()
		// Each frame costs at most its body, or, for a large one that did
		// not arrive whole, twice what arrived and the first chunk, plus
		// the buffers it outgrew (as much again).
		limit := uint64(frames+1)*uint64(maxBody+HeaderSize) + 4096
		if maxBody > smallBody {
			limit = min(limit, uint64(4*len(data)+(frames+1)*(2*smallBody+HeaderSize)+4096))
		}
		for i := 0; i < 2 && allocated > limit; i++ {
			_, _, again, _ := readAll()
			allocated = min(allocated, again)
		}
		if allocated > limit {
			t.Fatalf("allocated %d bytes for %d frames from %d input bytes", allocated, frames, len(data))
		}

		rest := len(data) - off
		var n uint32
		if rest >= 4 {
			n = binary.LittleEndian.Uint32(data[off:])
		}
		switch {
		case err == io.EOF:
			if rest != 0 {
				t.Fatalf("io.EOF with %d bytes left", rest)
			}
		case err == io.ErrUnexpectedEOF:
			if rest == 0 || (rest >= HeaderSize && rest >= HeaderSize+int(n)-2) {
				t.Fatalf("ErrUnexpectedEOF with %d bytes left (length %d)", rest, n)
			}
		case errors.Is(err, ErrFrameTooShort):
			if rest < HeaderSize || n >= 2 {
				t.Fatalf("ErrFrameTooShort for length %d", n)
			}
		case errors.Is(err, ErrFrameTooLarge):
			if rest < HeaderSize || int(n)-2 <= maxBody || n < 2 {
				t.Fatalf("ErrFrameTooLarge for length %d", n)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
}

type fuzzInner struct {
	Q []string
	R float32
}

type fuzzStruct struct {
	A int8
	B string `msgpack:"b"`
	C []uint16
	D map[string]any
	E *int
	F *fuzzInner `msgpack:"f,omitempty"`
	G any
	H [2]bool
}

func typeList(ptrs ...any) []reflect.Type { return typesOf(ptrs...) }

// fuzzTypeLists are the parameter lists FuzzDecodeArgs decodes into.
var fuzzTypeLists = [][]reflect.Type{
	typeList(new(int8)),
	typeList(new(uint16)),
	typeList(new(string)),
	typeList(new([]int)),
	typeList(new(map[string]any)),
	typeList(new(fuzzStruct)),
	typeList(new(*int)),
	typeList(new(any)),
	typeList(new(int8), new(uint16), new(string), new([]int), new(map[string]any), new(fuzzStruct), new(*int), new(any)),
	typeList(new([]byte), new(float32), new(bool), new([]any)),
	typeList(new([2]int), new(map[int]string), new(uint64), new(int64)),
	typeList(new(*fuzzStruct), new([][]string), new(float64)),
	typeList(new(string), new(string), new(int), new(float64)),
	typeList(new(map[any]int)), // keys may decode to unhashable values
}

// hasNaN reports whether v holds a NaN anywhere (DeepEqual never matches NaN).
func hasNaN(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.IsNaN(v.Float())
	case reflect.Interface, reflect.Pointer:
		return !v.IsNil() && hasNaN(v.Elem())
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if hasNaN(v.Index(i)) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if hasNaN(it.Key()) || hasNaN(it.Value()) {
				return true
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if hasNaN(v.Field(i)) {
				return true
			}
		}
	}
	return false
}

func interfaces(vals []reflect.Value) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v.Interface()
	}
	return out
}

// FuzzDecodeArgs feeds arbitrary bytes to DecodeArgs (for a fixed set of
// parameter lists), DecodeAny and DecodeAnyArgs. They must never panic;
// errors must wrap ErrArgs; whatever decodes must re-encode with
// AppendArgs, decode again, and be stable from then on.
func FuzzDecodeArgs(f *testing.F) {
	seed := func(args ...any) {
		b, err := AppendArgs(nil, args)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed()
	seed(int8(-5))
	seed(300)
	seed(-1)
	seed(uint16(65535))
	seed("0123456789abcdef", "OnAttack", 42, 1.5)
	seed([]int{1, 2, 3})
	seed(map[string]any{"a": 1, "b": []any{"x", nil, 2.5}, "c": map[string]any{}})
	seed(fuzzStruct{A: 1, B: "b", C: []uint16{7}, D: map[string]any{"k": true}, E: ptr(5), F: &fuzzInner{Q: []string{"q"}, R: 0.5}, G: []any{int64(1)}})
	seed(nil)
	seed([]byte{1, 2}, float32(2.5), true, []any{"z"})
	seed([2]int{1, 2}, map[int]string{1: "a"}, uint64(math.MaxUint64), int64(math.MinInt64))
	seed(math.NaN(), math.Inf(1))
	seed(map[any]int{"a": 1, int64(2): 3})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xdd, 0xff, 0x0f, 0x00, 0x30}) // crashes msgpack v5.4.x
	f.Add([]byte{0x91, 0xdd, 0xff, 0x0f, 0x00, 0x30})
	f.Add([]byte{0x91, 0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x91, 0x81, 0xa2, 'z', 'z', 0xdb, 0xff, 0xff, 0xff, 0xff}) // unknown struct field
	f.Add([]byte{0x91, 0x81, 0x91, 0x01, 0x02})                             // unhashable key
	f.Add(append([]byte{0x91}, nested(MaxArgDepth+1, []byte{0x01})...))
	f.Add([]byte{0x91, 0xd6, 0xff, 0, 0, 0, 1})
	f.Add([]byte{0x91, 0xc1})
	f.Add([]byte{0x92, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1, 0xca, 0x7f, 0x80, 0, 0}) // NaN, +Inf as float32

	f.Fuzz(func(t *testing.T, data []byte) {
		// Decode everything first, measuring allocation: a hostile input
		// must not cost much more than its size.
		type result struct {
			vals []reflect.Value
			err  error
		}
		results := make([]result, len(fuzzTypeLists))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i, types := range fuzzTypeLists {
			results[i].vals, results[i].err = DecodeArgs(data, types)
		}
		anyV, anyN, anyErr := DecodeAny(data)
		args, argsErr := DecodeAnyArgs(data)
		runtime.ReadMemStats(&after)
		if limit := uint64(len(fuzzTypeLists)+2) * (512*uint64(len(data)) + 4096); after.TotalAlloc-before.TotalAlloc > limit {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), after.TotalAlloc-before.TotalAlloc)
		}

		for i, types := range fuzzTypeLists {
			vals, err := results[i].vals, results[i].err
			// A client's decode with a string bound: the same result if
			// every string fits, ErrStringTooLong otherwise; and an
			// error's text stays short whatever the input quoted.
			const bound = 8
			cvals, cerr := DecodeClientArgs(data, types, bound)
			switch {
			case cerr == nil && err != nil:
				t.Fatalf("%v: DecodeClientArgs accepted what DecodeArgs refused (%v)", types, err)
			case cerr == nil && longestString(reflect.ValueOf(interfaces(cvals))) > bound:
				t.Fatalf("%v: DecodeClientArgs let a string over %d bytes through", types, bound)
			case cerr != nil && err == nil && !errors.Is(cerr, ErrStringTooLong):
				t.Fatalf("%v: DecodeArgs accepted, DecodeClientArgs failed otherwise: %v", types, cerr)
			}
			for _, e := range []error{err, cerr} {
				if e != nil && len(e.Error()) > 600 {
					t.Fatalf("%v: an error of %d bytes: %.200q", types, len(e.Error()), e)
				}
			}
			if err != nil {
				if !errors.Is(err, ErrArgs) || vals != nil {
					t.Fatalf("%v: error %v does not wrap ErrArgs (or values returned)", types, err)
				}
				continue
			}
			if len(vals) != len(types) {
				t.Fatalf("%v: %d values", types, len(vals))
			}
			for i, v := range vals {
				if v.Type() != types[i] {
					t.Fatalf("%v: value %d has type %s", types, i, v.Type())
				}
			}
			enc, err := AppendArgs(nil, interfaces(vals))
			if err != nil {
				t.Fatalf("%v: decoded values do not re-encode: %v", types, err)
			}
			vals2, err := DecodeArgs(enc, types)
			if err != nil {
				t.Fatalf("%v: re-encoded values do not decode: %v\nvalues %#v\nencoding % x", types, err, interfaces(vals), enc)
			}
			enc2, err := AppendArgs(nil, interfaces(vals2))
			if err != nil {
				t.Fatal(err)
			}
			vals3, err := DecodeArgs(enc2, types)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := interfaces(vals2), interfaces(vals3); !hasNaN(reflect.ValueOf(a)) && !reflect.DeepEqual(a, b) {
				t.Fatalf("%v: round trip not stable:\n%#v\n%#v", types, a, b)
			}
		}

		v, n, err := anyV, anyN, anyErr
		if err != nil {
			if !errors.Is(err, ErrArgs) || v != nil || n != 0 {
				t.Fatalf("DecodeAny: %v, %d, %v", v, n, err)
			}
		} else {
			if n < 1 || n > len(data) {
				t.Fatalf("DecodeAny consumed %d of %d bytes", n, len(data))
			}
			enc, err := AppendValue(nil, v)
			if err != nil {
				t.Fatalf("DecodeAny value %#v does not re-encode: %v", v, err)
			}
			v2, n2, err := DecodeAny(enc)
			if err != nil || n2 != len(enc) {
				t.Fatalf("re-encoded DecodeAny value: %d of %d bytes, %v", n2, len(enc), err)
			}
			enc2, _ := AppendValue(nil, v2)
			v3, _, err := DecodeAny(enc2)
			if err != nil || (!hasNaN(reflect.ValueOf(&v2)) && !reflect.DeepEqual(v2, v3)) {
				t.Fatalf("DecodeAny round trip not stable: %#v, %#v, %v", v2, v3, err)
			}
		}

		if err := argsErr; err != nil {
			if !errors.Is(err, ErrArgs) || args != nil {
				t.Fatalf("DecodeAnyArgs: %v, %v", args, err)
			}
			return
		}
		// DecodeAnyArgs is DecodeAny of a whole array, and DecodeArgs into
		// as many `any` parameters.
		if whole, n, err := DecodeAny(data); err != nil || n != len(data) || (!hasNaN(reflect.ValueOf(whole)) && !reflect.DeepEqual(whole, any(args))) {
			t.Fatalf("DecodeAnyArgs = %#v, DecodeAny = %#v, %d, %v", args, whole, n, err)
		}
		anyTypes := make([]reflect.Type, len(args))
		for i := range anyTypes {
			anyTypes[i] = reflect.TypeFor[any]()
		}
		vals, err := DecodeArgs(data, anyTypes)
		if err != nil {
			t.Fatalf("DecodeAnyArgs succeeded, DecodeArgs(%d × any) failed: %v", len(args), err)
		}
		if got := interfaces(vals); !hasNaN(reflect.ValueOf(got)) && !reflect.DeepEqual(got, args) {
			t.Fatalf("DecodeArgs(any...) = %#v, DecodeAnyArgs = %#v", got, args)
		}
		if _, err := AppendArgs(nil, args); err != nil {
			t.Fatalf("DecodeAnyArgs result does not re-encode: %v", err)
		}
	})
}

// FuzzBodyReader runs a sequence of Reader field reads (chosen by ops)
// over body, checking each against a direct decoding and the sticky-error
// rules. It must never panic.
func FuzzBodyReader(f *testing.F) {
	id := EntityID("AbCdEfGh-_012345")
	valid := AppendString(AppendUint16(AppendEntityID(nil, id), 7), "method")
	f.Add([]byte{3, 1, 4, 5}, valid)
	f.Add([]byte{3, 3, 0, 0, 0}, append(make([]byte, 16), valid...))
	f.Add([]byte{2, 0, 1}, []byte{1, 2, 3})
	f.Add([]byte{4, 4, 4}, []byte{0xff, 0xff, 'a'})
	f.Add([]byte{3}, []byte("AbCdEfGh-_01234!"))
	f.Add([]byte{0, 6, 0, 5, 0}, []byte{9})
	f.Add([]byte{}, []byte{})

	f.Fuzz(func(t *testing.T, ops, body []byte) {
		r := NewReader(body)
		off := 0 // our own offset
		var stuck error
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("op at offset %d: "+format, append([]any{off}, args...)...)
		}
		// want reports whether n more bytes can be read, updating our model.
		want := func(n int) bool {
			if stuck != nil {
				return false
			}
			if len(body)-off < n {
				stuck = ErrShortBody
				return false
			}
			return true
		}
		for _, op := range ops {
			switch op % 7 {
			case 0:
				ok := want(1)
				got := r.Uint8()
				if ok {
					if got != body[off] {
						fail("Uint8 = %d, want %d", got, body[off])
					}
					off++
				} else if got != 0 {
					fail("Uint8 after error = %d", got)
				}
			case 1:
				ok := want(2)
				got := r.Uint16()
				if ok {
					if w := binary.LittleEndian.Uint16(body[off:]); got != w {
						fail("Uint16 = %d, want %d", got, w)
					}
					off += 2
				} else if got != 0 {
					fail("Uint16 after error = %d", got)
				}
			case 2:
				ok := want(8)
				got := r.Uint64()
				if ok {
					if w := binary.LittleEndian.Uint64(body[off:]); got != w {
						fail("Uint64 = %d, want %d", got, w)
					}
					off += 8
				} else if got != 0 {
					fail("Uint64 after error = %d", got)
				}
			case 3:
				ok := want(EntityIDLength)
				got := r.EntityID()
				if ok {
					raw := body[off : off+EntityIDLength]
					off += EntityIDLength
					switch {
					case bytes.Equal(raw, make([]byte, EntityIDLength)):
						if got != "" {
							fail("zero EntityID = %q", got)
						}
					case EntityID(raw).Valid():
						if got != EntityID(raw) {
							fail("EntityID = %q, want %q", got, raw)
						}
					default:
						stuck = ErrBadEntityID
						if got != "" {
							fail("bad EntityID returned %q", got)
						}
					}
				} else if got != "" {
					fail("EntityID after error = %q", got)
				}
			case 4:
				ok := want(2)
				var n int
				if ok {
					n = int(binary.LittleEndian.Uint16(body[off:]))
					off += 2
					ok = want(n)
				}
				got := r.String()
				if ok {
					if got != string(body[off:off+n]) {
						fail("String = %q", got)
					}
					off += n
				} else if got != "" {
					fail("String after error = %q", got)
				}
			case 5:
				got := r.Rest()
				if stuck == nil {
					if !bytes.Equal(got, body[off:]) {
						fail("Rest = % x", got)
					}
					off = len(body)
				} else if got != nil {
					fail("Rest after error = % x", got)
				}
			case 6:
				r.Reset(body)
				off, stuck = 0, nil
			}
			if r.Err() != stuck {
				fail("Err = %v, want %v", r.Err(), stuck)
			}
			if r.Offset() != off || off > len(body) {
				fail("Offset = %d, want %d (body %d bytes)", r.Offset(), off, len(body))
			}
		}
		if id, ok := PeekEntityID(body); ok != (len(body) >= EntityIDLength) || (ok && id != "" && string(id) != string(body[:EntityIDLength])) {
			t.Fatalf("PeekEntityID = %q, %v", id, ok)
		}
		if g, ok := PeekGateID(body); ok != (len(body) >= 2) || (ok && uint16(g) != binary.LittleEndian.Uint16(body)) {
			t.Fatalf("PeekGateID = %d, %v", g, ok)
		}
	})
}

// longestString returns the length of the longest string within v (map
// keys included), 0 if none.
func longestString(v reflect.Value) int {
	switch v.Kind() {
	case reflect.String:
		return v.Len()
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return longestString(v.Elem())
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return 0 // binary: not bounded
		}
		n := 0
		for i := 0; i < v.Len(); i++ {
			n = max(n, longestString(v.Index(i)))
		}
		return n
	case reflect.Map:
		n := 0
		it := v.MapRange()
		for it.Next() {
			n = max(n, longestString(it.Key()), longestString(it.Value()))
		}
		return n
	case reflect.Struct:
		n := 0
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				n = max(n, longestString(v.Field(i)))
			}
		}
		return n
	}
	return 0
}

// FuzzAppendString: AppendString never panics, and reads back as the
// longest prefix of its input that fits the field on a UTF-8 boundary.
// The input is repeated reps times, to reach past the field's bound.
func FuzzAppendString(f *testing.F) {
	f.Add("x", uint16(65535))
	f.Add("€", uint16(21846))
	f.Add("\xff\xfe", uint16(40000))
	f.Add("😀a", uint16(13107))
	f.Fuzz(func(t *testing.T, s string, reps uint16) {
		if len(s) == 0 || len(s)*int(reps) > 1<<20 {
			return
		}
		in := strings.Repeat(s, int(reps))
		b := AppendString(nil, in)
		r := NewReader(b)
		got := r.String()
		if r.Err() != nil || len(r.Rest()) != 0 {
			t.Fatalf("does not read back: %v", r.Err())
		}
		if len(got) > MaxStringLen || !strings.HasPrefix(in, got) || len(got) < min(len(in), MaxStringLen-utf8.UTFMax+1) {
			t.Fatalf("kept %d of %d bytes", len(got), len(in))
		}
		if utf8.ValidString(in) && !utf8.ValidString(got) {
			t.Fatal("cut inside a character")
		}
	})
}

// FuzzHello feeds the decoders of the server handshake (MsgHello,
// MsgAuthChallenge, MsgHelloRefused: what a dispatcher reads from anyone
// who reaches its port, and what a link reads from whatever answers on
// the dispatcher's address). None may panic; a hello that decodes
// encodes back to the same bytes (the 3-byte form to its 11-byte form);
// a refusal's reason is bounded and printable. The client's MsgClientHello
// too: it decodes exactly when it holds a version, and that version is its
// first two bytes.
func FuzzHello(f *testing.F) {
	h := Hello{Role: RoleGame, ID: 2, Instance: 9, Auth: AuthV1, Nonce: NewNonce()}
	for _, seed := range [][]byte{
		nil, {1}, {1, 2, 0},
		AppendHello(nil, Hello{Role: RoleGate, ID: 3}),
		AppendHello(nil, h),
		append(AppendHello(nil, Hello{Role: RoleGate, ID: 3}), 2),
		AppendChallenge(nil, Challenge{DispatcherID: 1, Instance: 5, Nonce: NewNonce()}),
		AppendRefusal(nil, RefusedBadProof, "wrong cluster secret"),
		{3, 0xff, 0xff, 'x'},
		AppendClientHello(nil, ProtocolVersion),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := DecodeHello(b); err == nil {
			got := AppendHello(nil, h)
			if len(b) == 3 {
				got = got[:3]
			}
			if string(got) != string(b) {
				t.Fatalf("hello %x decodes to %+v, which encodes to %x", b, h, got)
			}
		}
		if c, err := DecodeChallenge(b); err == nil && string(AppendChallenge(nil, c)) != string(b) {
			t.Fatalf("challenge %x decodes to %+v", b, c)
		}
		_, reason := DecodeRefusal(b)
		if len(reason) > 4*MaxRefusalReason+2 || strings.ContainsAny(reason, "\n\r\x1b") {
			t.Fatalf("refusal reason %q", reason)
		}
		// A client's hello: the version, the rest ignored.
		v, err := DecodeClientHello(b)
		if (err == nil) != (len(b) >= 2) || err == nil && string(AppendClientHello(nil, v)) != string(b[:2]) {
			t.Fatalf("client hello %x: version %d, %v", b, v, err)
		}
	})
}

// FuzzReply decodes a reply body and a client's request body: never a
// panic; a decoded error message is within MaxReplyMessage; what
// decodes re-encodes to the same bytes.
func FuzzReply(f *testing.F) {
	id := EntityID("AAAAAAAAAAAAAAAA")
	for _, s := range [][]byte{
		AppendReplyOK(nil, []byte{0xc0}),
		AppendReplyOK(nil, []byte{0x92, 0x01, 0xa1, 'x'}),
		AppendReplyError(nil, CodeTimeout, "late"),
		AppendReplyError(nil, CodeUser+7, strings.Repeat("m", 600)),
		{0, 0},
		{1, 0, 0xff, 0xff},
		AppendClientRequest(nil, id, 9, "Echo", []byte{0x91, 0x01}),
		AppendClientRequest(nil, id, 9, "", nil),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if res, rerr, err := DecodeReply(b); err == nil {
			var again []byte
			if rerr != nil {
				if len(rerr.Message) > MaxReplyMessage || rerr.Code == CodeOK {
					t.Fatalf("decoded %+v", rerr)
				}
				again = AppendReplyError(nil, rerr.Code, rerr.Message)
			} else {
				again = AppendReplyOK(nil, res)
			}
			if !bytes.Equal(again, b) {
				t.Fatalf("re-encoded %x, input %x", again, b)
			}
		}
		if q, err := DecodeClientRequest(b); err == nil {
			if !q.Entity.Valid() || q.Method == "" {
				t.Fatalf("decoded %+v", q)
			}
			if again := AppendClientRequest(nil, q.Entity, q.ID, q.Method, q.Args); !bytes.Equal(again, b) {
				t.Fatalf("re-encoded %x, input %x", again, b)
			}
		}
	})
}
