package rpc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeClientArgsStringLimit: every msgpack string in a client's
// arguments is bounded, at any depth and whatever the parameter's type;
// binary values and the server decoder (DecodeArgs) are not.
func TestDecodeClientArgsStringLimit(t *testing.T) {
	const limit = 100
	long := strings.Repeat("s", limit+1)
	ok := strings.Repeat("o", limit)
	type S struct{ Name string }
	refused := []struct {
		name  string
		data  []byte
		types []reflect.Type
	}{
		{"string param", mustArgs(t, long), typesOf(new(string))},
		{"any param", mustArgs(t, long), typesOf(new(any))},
		{"in a list", mustArgs(t, []any{"a", long}), typesOf(new([]string))},
		{"map key", mustArgs(t, map[string]int{long: 1}), typesOf(new(map[string]int))},
		{"map value", mustArgs(t, map[string]string{"k": long}), typesOf(new(map[string]string))},
		{"struct field", mustArgs(t, map[string]any{"Name": long}), typesOf(new(S))},
		{"unknown struct key", mustArgs(t, map[string]any{long: 1}), typesOf(new(S))},
		{"string for []byte", mustArgs(t, long), typesOf(new([]byte))},
		{"string for int", mustArgs(t, long), typesOf(new(int))},
		{"deep", mustArgs(t, []any{[]any{[]any{long}}}), typesOf(new(any))},
		// A bin becomes a Go string as readily as a str (protocol.md
		// 7.3): bounded alike (FuzzDecodeArgs, a0fe83d0f024a839).
		{"bin for string", mustArgs(t, []byte(long)), typesOf(new(string))},
		{"bin in a string list", mustArgs(t, []any{[]byte("a"), []byte(long)}), typesOf(new([]string))},
		{"bin map key", binKeyMap(long), typesOf(new(map[string]int))},
		{"bin map value", mustArgs(t, map[string]any{"k": []byte(long)}), typesOf(new(map[string]string))},
		{"bin struct field", mustArgs(t, map[string]any{"Name": []byte(long)}), typesOf(new(S))},
		{"bin for *string", mustArgs(t, []byte(long)), typesOf(new(*string))},
		// Its declared length is refused before the bytes are counted,
		// as a str's is.
		{"bin for string, cut short", []byte{0x91, 0xc6, 0x7f, 0xff, 0xff, 0xff, 'x'}, typesOf(new(string))},
	}
	for _, tc := range refused {
		_, err := DecodeClientArgs(tc.data, tc.types, limit)
		if !errors.Is(err, ErrArgs) || !errors.Is(err, ErrStringTooLong) {
			t.Errorf("%s: %v, want ErrStringTooLong", tc.name, err)
			continue
		}
		if strings.Contains(err.Error(), long) || len(err.Error()) > 200 {
			t.Errorf("%s: error echoes the string: %.300s", tc.name, err)
		}
		if _, err := DecodeArgs(tc.data, tc.types); errors.Is(err, ErrStringTooLong) {
			t.Errorf("%s: DecodeArgs (servers) limited too: %v", tc.name, err)
		}
	}
	if !strings.Contains(func() string {
		_, err := DecodeClientArgs(mustArgs(t, long), typesOf(new(string)), limit)
		return err.Error()
	}(), "101 bytes, over the limit of 100") {
		t.Error("the error does not say how long the string was and the limit")
	}
	// At the limit, binary and no limit: accepted.
	for _, tc := range []struct {
		name  string
		data  []byte
		types []reflect.Type
		max   int
	}{
		{"at the limit", mustArgs(t, ok, map[string]string{ok: ok}), typesOf(new(string), new(map[string]string)), limit},
		{"binary", mustArgs(t, []byte(long)), typesOf(new([]byte)), limit},
		{"binary for any", mustArgs(t, []byte(long)), typesOf(new(any)), limit},
		{"bin for string at the limit", mustArgs(t, []byte(ok)), typesOf(new(string)), limit},
		{"bin for string, no limit", mustArgs(t, []byte(long)), typesOf(new(string)), 0},
		{"no limit", mustArgs(t, long), typesOf(new(string)), 0},
	} {
		if _, err := DecodeClientArgs(tc.data, tc.types, tc.max); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// The pooled decoder forgets the limit.
	if _, err := DecodeArgs(mustArgs(t, long), typesOf(new(string))); err != nil {
		t.Errorf("DecodeArgs after a limited decode: %v", err)
	}
}

// binKeyMap is the arguments [{key: 1}] with key sent as a msgpack bin
// (bin 8 for up to 255 bytes, else bin 16).
func binKeyMap(key string) []byte {
	b := []byte{0x91, 0x81}
	if len(key) < 256 {
		b = append(b, 0xc4, byte(len(key)))
	} else {
		b = append(b, 0xc5, byte(len(key)>>8), byte(len(key)))
	}
	return append(append(b, key...), 0x01)
}

// TestDecodeArgsErrorsAreBounded: the errors of DecodeArgs quote what a
// peer sent (a map key, a field name, a value that does not fit) at most
// a few dozen bytes of it, escaped, so that they can go into a kick
// reason or a log line.
func TestDecodeArgsErrorsAreBounded(t *testing.T) {
	huge := strings.Repeat("k", 60000) + "\n\x00"
	type S struct{ A int }
	for _, tc := range []struct {
		name  string
		data  []byte
		types []reflect.Type
	}{
		{"string for int", mustArgs(t, huge), typesOf(new(int))},
		{"map value error names the key", mustArgs(t, map[string]any{huge: "x"}), typesOf(new(map[string]int))},
		{"list for int", mustArgs(t, []any{huge}), typesOf(new(int))},
		{"struct field of the wrong type", mustArgs(t, map[string]any{"A": huge}), typesOf(new(S))},
	} {
		_, err := DecodeArgs(tc.data, tc.types)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if msg := err.Error(); len(msg) > 400 || strings.ContainsAny(msg, "\n\x00") {
			t.Errorf("%s: %d-byte error, or raw bytes in it: %.200q", tc.name, len(msg), msg)
		}
	}
}
