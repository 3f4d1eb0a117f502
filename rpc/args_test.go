package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

type argPoint struct {
	X      int
	Y      int    `msgpack:"y"`
	Name   string `msgpack:"n,omitempty"`
	Ignore int    `msgpack:"-"`
	Tags   []string
	Inner  *argInner
	hidden int
}

type argInner struct {
	A map[string]int
	B any
}

type argLevel int8

type argName string

func typesOf(vs ...any) []reflect.Type {
	ts := make([]reflect.Type, len(vs))
	for i, v := range vs {
		ts[i] = reflect.TypeOf(v).Elem() // vs are pointers, so nil interfaces work
	}
	return ts
}

func ptr[T any](v T) *T { return &v }

func mustArgs(t testing.TB, args ...any) []byte {
	t.Helper()
	b, err := AppendArgs(nil, args)
	if err != nil {
		t.Fatalf("AppendArgs(%v): %v", args, err)
	}
	return b
}

func TestDecodeArgsConversions(t *testing.T) {
	tests := []struct {
		name  string
		args  []any
		types []reflect.Type
		want  []any
	}{
		{"no args", nil, nil, nil},
		{"typical call", []any{"0123456789abcdef", "OnAttack", 42, 1.5},
			typesOf(new(string), new(string), new(int), new(float64)),
			[]any{"0123456789abcdef", "OnAttack", 42, 1.5}},
		{"int kinds", []any{-128, 127, -32768, math.MaxInt32, math.MinInt64, math.MaxInt64},
			typesOf(new(int8), new(int8), new(int16), new(int32), new(int64), new(int)),
			[]any{int8(-128), int8(127), int16(-32768), int32(math.MaxInt32), int64(math.MinInt64), math.MaxInt}},
		{"uint kinds", []any{255, 65535, uint32(math.MaxUint32), uint64(math.MaxUint64), 0, 7},
			typesOf(new(uint8), new(uint16), new(uint32), new(uint64), new(uint), new(uint)),
			[]any{uint8(255), uint16(65535), uint32(math.MaxUint32), uint64(math.MaxUint64), uint(0), uint(7)}},
		{"int types from any width", []any{int8(5), uint16(300), int64(-1), uint64(1 << 40)},
			typesOf(new(int), new(int16), new(int64), new(int64)),
			[]any{5, int16(300), int64(-1), int64(1 << 40)}},
		{"floats", []any{float32(1.5), 2.25, math.MaxFloat32, math.Copysign(0, -1)},
			typesOf(new(float32), new(float64), new(float32), new(float64)),
			[]any{float32(1.5), 2.25, float32(math.MaxFloat32), 0.0}},
		{"int to float", []any{3, -7, int64(-1 << 53), int64(1 << 53)},
			typesOf(new(float32), new(float64), new(float64), new(float64)),
			[]any{float32(3), float64(-7), float64(-1 << 53), float64(1 << 53)}},
		{"infinities", []any{math.Inf(1), math.Inf(-1)}, typesOf(new(float32), new(float64)),
			[]any{float32(math.Inf(1)), math.Inf(-1)}},
		{"strings", []any{"", "héllo", strings.Repeat("s", 70000), []byte("from bin")},
			typesOf(new(string), new(string), new(string), new(string)),
			[]any{"", "héllo", strings.Repeat("s", 70000), "from bin"}},
		{"bytes", []any{[]byte{0, 1, 255}, []byte{}, "from str", bytes.Repeat([]byte{9}, 300)},
			typesOf(new([]byte), new([]byte), new([]byte), new([]byte)),
			[]any{[]byte{0, 1, 255}, []byte{}, []byte("from str"), bytes.Repeat([]byte{9}, 300)}},
		{"bools", []any{true, false}, typesOf(new(bool), new(bool)), []any{true, false}},
		{"slices", []any{[]int{1, -2, 300}, []string{"a", "b"}, []int{}, [][]int8{{1}, {2, 3}}},
			typesOf(new([]int), new([]string), new([]int), new([][]int8)),
			[]any{[]int{1, -2, 300}, []string{"a", "b"}, []int{}, [][]int8{{1}, {2, 3}}}},
		{"slice from []any", []any{[]any{1, 2, 3}}, typesOf(new([]uint8)), []any{[]uint8{1, 2, 3}}},
		{"array", []any{[]int{1, 2, 3}}, typesOf(new([3]int)), []any{[3]int{1, 2, 3}}},
		{"maps", []any{map[string]int{"a": 1, "b": -2}, map[string]any{"x": "y", "n": 3, "l": []any{1.5, nil}},
			map[int]string{1: "one"}, map[string][]int{"k": {1}}},
			typesOf(new(map[string]int), new(map[string]any), new(map[int]string), new(map[string][]int)),
			[]any{map[string]int{"a": 1, "b": -2}, map[string]any{"x": "y", "n": int64(3), "l": []any{1.5, nil}},
				map[int]string{1: "one"}, map[string][]int{"k": {1}}}},
		{"empty map", []any{map[string]int{}}, typesOf(new(map[string]int)), []any{map[string]int{}}},
		{"nil into reference kinds", []any{nil, nil, nil, nil, nil},
			typesOf(new(*int), new([]int), new(map[string]int), new(any), new([]byte)),
			[]any{(*int)(nil), []int(nil), map[string]int(nil), nil, []byte(nil)}},
		{"typed nils", []any{(*int)(nil), []int(nil), map[string]int(nil)},
			typesOf(new(*int), new([]int), new(map[string]int)),
			[]any{(*int)(nil), []int(nil), map[string]int(nil)}},
		{"pointers", []any{5, ptr(6), "s", ptr(ptr(7))},
			typesOf(new(*int), new(*int), new(*string), new(**int)),
			[]any{ptr(5), ptr(6), ptr("s"), ptr(ptr(7))}},
		{"named types", []any{-3, "bob"}, typesOf(new(argLevel), new(argName)), []any{argLevel(-3), argName("bob")}},
		{"interface values", []any{1, -1, uint64(math.MaxUint64), uint64(math.MaxInt64), 2.5, float32(0.5), "s", []byte{1}, true, nil},
			typesOf(new(any), new(any), new(any), new(any), new(any), new(any), new(any), new(any), new(any), new(any)),
			[]any{int64(1), int64(-1), uint64(math.MaxUint64), int64(math.MaxInt64), 2.5, 0.5, "s", []byte{1}, true, nil}},
		{"nested any", []any{[]any{1, "two", []any{3.5, []any{}}, map[string]any{"k": []any{nil, false}}}},
			typesOf(new(any)),
			[]any{[]any{int64(1), "two", []any{3.5, []any{}}, map[string]any{"k": []any{nil, false}}}}},
		{"[]any param", []any{[]any{1, "x"}}, typesOf(new([]any)), []any{[]any{int64(1), "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mustArgs(t, tt.args...)
			vals, err := DecodeArgs(data, tt.types)
			if err != nil {
				t.Fatalf("DecodeArgs: %v", err)
			}
			if len(vals) != len(tt.types) {
				t.Fatalf("%d values for %d types", len(vals), len(tt.types))
			}
			for i, v := range vals {
				if v.Type() != tt.types[i] {
					t.Errorf("arg %d: type %s, want %s", i, v.Type(), tt.types[i])
				}
				if got := v.Interface(); !reflect.DeepEqual(got, tt.want[i]) {
					t.Errorf("arg %d: got %#v, want %#v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestDecodeArgsStruct(t *testing.T) {
	in := argPoint{X: 1, Y: 2, Name: "p", Ignore: 99, Tags: []string{"a"}, Inner: &argInner{A: map[string]int{"k": 3}, B: []any{"x"}}, hidden: 5}
	data := mustArgs(t, in, &in, nil)
	vals, err := DecodeArgs(data, typesOf(new(argPoint), new(*argPoint), new(*argPoint)))
	if err != nil {
		t.Fatal(err)
	}
	want := argPoint{X: 1, Y: 2, Name: "p", Tags: []string{"a"}, Inner: &argInner{A: map[string]int{"k": 3}, B: []any{"x"}}}
	if got := vals[0].Interface().(argPoint); !reflect.DeepEqual(got, want) {
		t.Errorf("by value: got %+v, want %+v", got, want)
	}
	if got := vals[1].Interface().(*argPoint); got == nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("by pointer: got %+v", got)
	}
	if got := vals[2].Interface().(*argPoint); got != nil {
		t.Errorf("nil pointer: got %+v", got)
	}

	// Hand-written maps: keys by field name and by tag; unknown keys (of
	// any shape) are skipped; missing fields stay zero.
	tests := []struct {
		name string
		in   any
		want argPoint
	}{
		{"tag and name", map[string]any{"X": 10, "y": 20, "n": "tagged"}, argPoint{X: 10, Y: 20, Name: "tagged"}},
		{"field name of tagged field ignored", map[string]any{"Y": 5, "Name": "x"}, argPoint{}},
		{"dash field ignored", map[string]any{"Ignore": 5, "-": 6}, argPoint{}},
		{"unexported ignored", map[string]any{"hidden": 5}, argPoint{}},
		{"unknown keys skipped", map[string]any{"zz": []any{1, map[string]any{"q": "r"}}, "X": 3, "f": 1.5, "b": []byte{1}}, argPoint{X: 3}},
		{"empty", map[string]any{}, argPoint{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := DecodeArgs(mustArgs(t, tt.in), typesOf(new(argPoint)))
			if err != nil {
				t.Fatal(err)
			}
			if got := vals[0].Interface().(argPoint); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeArgsErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		types   []reflect.Type
		wantSub []string // substrings of the error
	}{
		{"int8 overflow", mustArgs(t, 300), typesOf(new(int8)), []string{"argument 0", "300"}},
		{"int8 underflow", mustArgs(t, -129), typesOf(new(int8)), []string{"argument 0"}},
		{"int16 overflow", mustArgs(t, "ok", 40000), typesOf(new(string), new(int16)), []string{"argument 1", "40000"}},
		{"int64 from huge uint64", mustArgs(t, uint64(math.MaxUint64)), typesOf(new(int64)), []string{"argument 0"}},
		{"uint negative", mustArgs(t, -1), typesOf(new(uint)), []string{"argument 0", "-1"}},
		{"uint64 negative", mustArgs(t, math.MinInt64), typesOf(new(uint64)), []string{"argument 0"}},
		{"uint8 overflow", mustArgs(t, 256), typesOf(new(uint8)), []string{"argument 0", "256"}},
		{"int from float", mustArgs(t, 1.5), typesOf(new(int)), []string{"argument 0"}},
		{"int from string", mustArgs(t, "7"), typesOf(new(int)), []string{"argument 0"}},
		{"uint from float", mustArgs(t, 2.5), typesOf(new(uint)), []string{"argument 0"}},
		{"float32 overflow", mustArgs(t, 1e300), typesOf(new(float32)), []string{"argument 0"}},
		{"float from string", mustArgs(t, "1.5"), typesOf(new(float64)), []string{"argument 0"}},
		{"float from bool", mustArgs(t, true), typesOf(new(float64)), []string{"argument 0"}},
		{"string from int", mustArgs(t, 1, 2), typesOf(new(int), new(string)), []string{"argument 1"}},
		{"string from array", mustArgs(t, []int{1}), typesOf(new(string)), []string{"argument 0"}},
		{"bool from int", mustArgs(t, 1), typesOf(new(bool)), []string{"argument 0"}},
		{"nil into int", mustArgs(t, nil), typesOf(new(int)), []string{"argument 0", "nil"}},
		{"nil into string", mustArgs(t, nil), typesOf(new(string)), []string{"argument 0"}},
		{"nil into struct", mustArgs(t, nil), typesOf(new(argPoint)), []string{"argument 0"}},
		{"nil into array", mustArgs(t, nil), typesOf(new([2]int)), []string{"argument 0"}},
		{"slice element", mustArgs(t, []any{1, "x"}), typesOf(new([]int)), []string{"argument 0", "[1]"}},
		{"slice from map", mustArgs(t, map[string]int{}), typesOf(new([]int)), []string{"argument 0"}},
		{"array length", mustArgs(t, []int{1, 2}), typesOf(new([3]int)), []string{"argument 0"}},
		{"map value", mustArgs(t, map[string]any{"a": "b"}), typesOf(new(map[string]int)), []string{"argument 0", "map[a]"}},
		{"map key", mustArgs(t, map[int]int{1: 1}), typesOf(new(map[string]int)), []string{"argument 0", "key"}},
		{"map from array", mustArgs(t, []int{}), typesOf(new(map[string]int)), []string{"argument 0"}},
		{"map[string]any int key", mustArgs(t, map[int]int{1: 1}), typesOf(new(map[string]any)), []string{"argument 0"}},
		{"struct from array", mustArgs(t, []int{1}), typesOf(new(argPoint)), []string{"argument 0"}},
		{"struct field type", mustArgs(t, map[string]any{"X": "str"}), typesOf(new(argPoint)), []string{"argument 0", "field X"}},
		{"struct int key", mustArgs(t, map[int]int{1: 1}), typesOf(new(argPoint)), []string{"argument 0"}},
		{"any int key map", mustArgs(t, map[int]int{1: 1}), typesOf(new(any)), []string{"argument 0"}},
		{"pointer target", mustArgs(t, "x"), typesOf(new(*int)), []string{"argument 0"}},
		{"non-empty interface", mustArgs(t, 1), typesOf(new(fmt.Stringer)), []string{"argument 0"}},
		{"unsupported chan", mustArgs(t, 1), []reflect.Type{reflect.TypeFor[chan int]()}, []string{"argument 0"}},
		{"unsupported func", mustArgs(t, 1), []reflect.Type{reflect.TypeFor[func()]()}, []string{"argument 0"}},
		{"unsupported complex", mustArgs(t, 1), []reflect.Type{reflect.TypeFor[complex128]()}, []string{"argument 0"}},

		{"too few", mustArgs(t, 1, 2), typesOf(new(int), new(int), new(int)), []string{"got 2", "want 3"}},
		{"too many", mustArgs(t, 1, 2), typesOf(new(int)), []string{"got 2", "want 1"}},
		{"none for one", mustArgs(t), typesOf(new(int)), []string{"got 0", "want 1"}},
		{"nil instead of array", []byte{0xc0}, typesOf(new(int)), nil},
		{"not an array", []byte{0x05}, typesOf(new(int)), nil},
		{"map instead of array", mustArgs(t, map[string]int{})[1:], typesOf(new(int)), nil},
		{"empty input", nil, nil, nil},
		{"empty input with types", []byte{}, typesOf(new(int)), nil},
		{"trailing byte", append(mustArgs(t, 1), 0x01), typesOf(new(int)), []string{"1 trailing"}},
		{"trailing value", append(mustArgs(t, 1), mustArgs(t, 2)...), typesOf(new(int)), []string{"trailing"}},
		{"truncated", mustArgs(t, "hello")[:4], typesOf(new(string)), []string{"argument 0"}},
		{"truncated int", []byte{0x91, 0xcd, 0x01}, typesOf(new(int)), []string{"argument 0"}},
		{"never-used code", []byte{0x91, 0xc1}, typesOf(new(any)), []string{"argument 0"}},
		{"ext value", []byte{0x91, 0xd4, 0x01, 0x02}, typesOf(new(any)), []string{"argument 0"}},
		{"timestamp ext", []byte{0x91, 0xd6, 0xff, 0, 0, 0, 1}, typesOf(new(any)), []string{"argument 0"}},
		{"garbage", []byte("\xff\xfe\xfd garbage"), typesOf(new(int)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := DecodeArgs(tt.data, tt.types)
			if err == nil {
				t.Fatalf("no error; decoded %v", vals)
			}
			if !errors.Is(err, ErrArgs) {
				t.Fatalf("error %q does not wrap ErrArgs", err)
			}
			if vals != nil {
				t.Errorf("values returned with an error: %v", vals)
			}
			for _, sub := range tt.wantSub {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not mention %q", err, sub)
				}
			}
		})
	}
}

// nested returns depth msgpack fixarrays of one element around leaf.
func nested(depth int, leaf []byte) []byte {
	b := bytes.Repeat([]byte{0x91}, depth)
	return append(b, leaf...)
}

func TestDecodeArgsDepth(t *testing.T) {
	anyT := typesOf(new(any))
	// An argument sits inside the argument array, at depth 1: MaxArgDepth-1
	// nested arrays around a scalar decode as an argument (and pass
	// CheckValue, so they can be sent on); one more is refused. A lone
	// value (DecodeAny) starts at depth 0.
	ok := append([]byte{0x91}, nested(MaxArgDepth-1, []byte{0x07})...)
	vals, err := DecodeArgs(ok, anyT)
	if err != nil {
		t.Fatalf("depth %d: %v", MaxArgDepth-1, err)
	}
	if err := CheckValue(vals[0].Interface()); err != nil {
		t.Fatalf("decoded at depth %d, but cannot be sent on: %v", MaxArgDepth-1, err)
	}
	if v, n, err := DecodeAny(nested(MaxArgDepth, []byte{0x07})); err != nil || n != MaxArgDepth+1 || v == nil {
		t.Fatalf("DecodeAny depth %d: %v", MaxArgDepth, err)
	}
	for _, depth := range []int{MaxArgDepth, MaxArgDepth + 1, MaxArgDepth + 10, 10000, 100000} {
		deep := append([]byte{0x91}, nested(depth, []byte{0x07})...)
		if _, err := DecodeArgs(deep, anyT); !errors.Is(err, ErrArgs) || !strings.Contains(err.Error(), "nesting") {
			t.Errorf("DecodeArgs(any) depth %d: %v", depth, err)
		}
		if _, err := DecodeArgs(deep, typesOf(new([]any))); !errors.Is(err, ErrArgs) {
			t.Errorf("DecodeArgs([]any) depth %d: %v", depth, err)
		}
		if _, _, err := DecodeAny(deep[1:]); depth > MaxArgDepth && !errors.Is(err, ErrArgs) {
			t.Errorf("DecodeAny depth %d: %v", depth, err)
		}
		if _, err := DecodeAnyArgs(deep); !errors.Is(err, ErrArgs) {
			t.Errorf("DecodeAnyArgs depth %d: %v", depth, err)
		}
		// Nested maps: {"a": {"a": ...}}.
		m := []byte{0x91}
		for i := 0; i < depth; i++ {
			m = append(m, 0x81, 0xa1, 'a')
		}
		m = append(m, 0x07)
		if _, err := DecodeArgs(m, typesOf(new(map[string]any))); !errors.Is(err, ErrArgs) {
			t.Errorf("nested maps depth %d: %v", depth, err)
		}
	}
	// Typed parameters: [][][]...int deeper than the limit.
	typ := reflect.TypeFor[int]()
	for i := 0; i < MaxArgDepth+5; i++ {
		typ = reflect.SliceOf(typ)
	}
	deep := append([]byte{0x91}, nested(MaxArgDepth+5, []byte{0x07})...)
	if _, err := DecodeArgs(deep, []reflect.Type{typ}); !errors.Is(err, ErrArgs) {
		t.Errorf("typed nesting: %v", err)
	}
	// Pointer chains count too.
	ptyp := reflect.TypeFor[int]()
	for i := 0; i < MaxArgDepth+5; i++ {
		ptyp = reflect.PointerTo(ptyp)
	}
	if _, err := DecodeArgs([]byte{0x91, 0x07}, []reflect.Type{ptyp}); !errors.Is(err, ErrArgs) {
		t.Errorf("pointer chain: %v", err)
	}
}

// hostileInputs declare far more elements or bytes than they hold.
var hostileInputs = []struct {
	name string
	data []byte
}{
	{"array32 4G args", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
	{"array32 msgpack v5.4 crasher", []byte{0xdd, 0xff, 0x0f, 0x00, 0x30}},
	{"array16 64K args", []byte{0xdc, 0xff, 0xff}},
	{"array32 in arg", []byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}},
	{"v5.4 crasher in arg", []byte{0x91, 0xdd, 0xff, 0x0f, 0x00, 0x30}},
	{"array16 in arg", []byte{0x91, 0xdc, 0xff, 0xff, 0x01}},
	{"map32 in arg", []byte{0x91, 0xdf, 0xff, 0xff, 0xff, 0xff}},
	{"map16 in arg", []byte{0x91, 0xde, 0xff, 0xff, 0xa1, 'a'}},
	{"str32 in arg", []byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}},
	{"str16 in arg", []byte{0x91, 0xda, 0xff, 0xff, 'a'}},
	{"bin32 in arg", []byte{0x91, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00}},
	{"str32 in array", []byte{0x91, 0x92, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff}},
	{"array32 in map", []byte{0x91, 0x81, 0xa1, 'X', 0xdd, 0xff, 0xff, 0xff, 0xff}},
	{"str32 map key", []byte{0x91, 0x81, 0xdb, 0xff, 0xff, 0xff, 0xff}},
	{"array32 in array32", []byte{0x91, 0xdd, 0, 0, 0, 2, 0xdd, 0xff, 0xff, 0xff, 0xff}},
}

var hostileTypes = [][]reflect.Type{
	typesOf(new(any)),
	typesOf(new([]int)),
	typesOf(new([]any)),
	typesOf(new([][]int)),
	typesOf(new(map[string]int)),
	typesOf(new(map[string]any)),
	typesOf(new(map[string][]int)),
	typesOf(new(argPoint)),
	typesOf(new(string)),
	typesOf(new([]byte)),
	typesOf(new(*[]string)),
}

func TestDecodeHostileLengths(t *testing.T) {
	for _, in := range hostileInputs {
		t.Run(in.name, func(t *testing.T) {
			for _, types := range hostileTypes {
				if vals, err := DecodeArgs(in.data, types); !errors.Is(err, ErrArgs) {
					t.Errorf("DecodeArgs(%v) = %v, %v; want an ErrArgs error", types, vals, err)
				}
				perRun := allocBytes(20, func() { DecodeArgs(in.data, types) })
				if perRun > 4096 {
					t.Errorf("DecodeArgs(%v) allocated %d bytes for a %d-byte input", types, perRun, len(in.data))
				}
			}
			if _, err := DecodeAnyArgs(in.data); !errors.Is(err, ErrArgs) {
				t.Errorf("DecodeAnyArgs: %v", err)
			}
			inputs := [][]byte{in.data}
			if in.data[0] == 0x91 {
				inputs = append(inputs, in.data[1:]) // the argument alone
			}
			for _, data := range inputs {
				if _, n, err := DecodeAny(data); !errors.Is(err, ErrArgs) || n != 0 {
					t.Errorf("DecodeAny(% x): n %d, err %v", data, n, err)
				}
				if perRun := allocBytes(20, func() { DecodeAny(data) }); perRun > 4096 {
					t.Errorf("DecodeAny(% x) allocated %d bytes", data, perRun)
				}
			}
		})
	}
}

// TestDecodeStructSkipUnknownBounded: an unknown struct field's value is
// skipped with msgpack's own Decoder.Skip, which neither checks declared
// lengths against the input nor bounds nesting (a 100000-deep array is
// accepted). A 10-byte frame declaring a 2 GiB string makes Skip grow the
// pooled decoder's buffer by at least 1 MB, and the pool keeps the grown
// buffer, so each further such frame allocates more: 40 of them took 22 s
// and 9.6 GB of allocation, leaving 4.6 GB in use.
func TestDecodeStructSkipUnknownBounded(t *testing.T) {
	types := typesOf(new(argPoint))
	huge := []byte{0x91, 0x81, 0xa2, 'z', 'z', 0xdb, 0xff, 0xff, 0xff, 0xff}
	if _, err := DecodeArgs(huge, types); !errors.Is(err, ErrArgs) {
		t.Fatalf("huge unknown field: %v", err)
	}
	if perRun := allocBytes(20, func() { DecodeArgs(huge, types) }); perRun > 4096 {
		t.Errorf("skipping a declared 4 GiB string allocated %d bytes", perRun)
	}
	for _, c := range []byte{0xc6, 0xc9} { // bin32, ext32
		in := []byte{0x91, 0x81, 0xa2, 'z', 'z', c, 0x7f, 0xff, 0xff, 0xff, 0x01}
		if perRun := allocBytes(20, func() { DecodeArgs(in, types) }); perRun > 4096 {
			t.Errorf("skipping code %#x allocated %d bytes", c, perRun)
		}
	}
	deep := append([]byte{0x91, 0x81, 0xa2, 'z', 'z'}, nested(100000, []byte{0x01})...)
	if _, err := DecodeArgs(deep, types); !errors.Is(err, ErrArgs) {
		t.Errorf("100000-deep unknown field: %v, want a nesting error", err)
	}
}

// TestDecodeArgsUnhashableMapKey: CheckParamType accepts map[any]T, but a
// key that decodes to a slice or map makes reflect.Value.SetMapIndex panic
// ("hash of unhashable type"). DecodeArgs promises never to panic.
func TestDecodeArgsUnhashableMapKey(t *testing.T) {
	type keyStruct struct{ K any }
	tests := []struct {
		name string
		typ  reflect.Type
		data []byte
	}{
		{"map[any]int, array key", reflect.TypeFor[map[any]int](), []byte{0x91, 0x81, 0x91, 0x01, 0x02}},
		{"map[any]int, map key", reflect.TypeFor[map[any]int](), []byte{0x91, 0x81, 0x80, 0x02}},
		{"map[[1]any]int", reflect.TypeFor[map[[1]any]int](), []byte{0x91, 0x81, 0x91, 0x90, 0x02}},
		{"map[struct{K any}]int", reflect.TypeFor[map[keyStruct]int](), []byte{0x91, 0x81, 0x81, 0xa1, 'K', 0x90, 0x02}},
		{"nested in []map[any]any", reflect.TypeFor[[]map[any]any](), []byte{0x91, 0x91, 0x81, 0x90, 0xc0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckParamType(tt.typ); err != nil {
				t.Skipf("CheckParamType refuses %s: %v", tt.typ, err)
			}
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("DecodeArgs panicked: %v", p)
				}
			}()
			if _, err := DecodeArgs(tt.data, []reflect.Type{tt.typ}); !errors.Is(err, ErrArgs) {
				t.Fatalf("err = %v, want ErrArgs", err)
			}
		})
	}
	// Hashable interface keys still work.
	vals, err := DecodeArgs(mustArgs(t, map[any]int{"a": 1, int64(2): 3}), []reflect.Type{reflect.TypeFor[map[any]int]()})
	if err != nil || !reflect.DeepEqual(vals[0].Interface(), map[any]int{"a": 1, int64(2): 3}) {
		t.Fatalf("hashable any keys: %v, %v", vals, err)
	}
}

func TestDecodeAny(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"true", true, true},
		{"small int", 5, int64(5)},
		{"negative", -100000, int64(-100000)},
		{"int8", int8(-5), int64(-5)},
		{"uint32", uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"max int64 as uint64", uint64(math.MaxInt64), int64(math.MaxInt64)},
		{"huge uint64", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"min int64", int64(math.MinInt64), int64(math.MinInt64)},
		{"float64", 0.1, 0.1},
		{"float32", float32(0.25), 0.25},
		{"string", "héllo", "héllo"},
		{"empty string", "", ""},
		{"bytes", []byte{1, 2}, []byte{1, 2}},
		{"empty bytes", []byte{}, []byte{}},
		{"list", []any{1, "a", nil, []any{}}, []any{int64(1), "a", nil, []any{}}},
		{"typed slice", []string{"a"}, []any{"a"}},
		{"map", map[string]any{"a": map[string]any{"b": []int{1}}}, map[string]any{"a": map[string]any{"b": []any{int64(1)}}}},
		{"struct", argInner{A: map[string]int{"x": 1}}, map[string]any{"A": map[string]any{"x": int64(1)}, "B": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := AppendValue([]byte{0xee}, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if enc[0] != 0xee {
				t.Fatal("AppendValue clobbered dst")
			}
			enc = enc[1:]
			v, n, err := DecodeAny(append(enc, 0xc0, 0xc0)) // trailing bytes are fine: one value is read
			if err != nil || n != len(enc) {
				t.Fatalf("DecodeAny = %v, %d, %v; want n %d", v, n, err, len(enc))
			}
			if !reflect.DeepEqual(v, tt.want) {
				t.Errorf("got %#v, want %#v", v, tt.want)
			}
		})
	}
	for _, bad := range [][]byte{nil, {0xc1}, {0xd4, 1, 1}, {0x81, 0x01, 0x01}, {0x92, 0x01}, {0xa5, 'a'}, {0xcb, 0, 0}} {
		if v, n, err := DecodeAny(bad); !errors.Is(err, ErrArgs) || v != nil || n != 0 {
			t.Errorf("DecodeAny(% x) = %v, %d, %v; want an ErrArgs error", bad, v, n, err)
		}
	}
}

func TestDecodeAnyArgs(t *testing.T) {
	data := mustArgs(t, "a", 1, []int{2}, map[string]string{"k": "v"}, nil)
	got, err := DecodeAnyArgs(data)
	want := []any{"a", int64(1), []any{int64(2)}, map[string]any{"k": "v"}, nil}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeAnyArgs = %#v, %v", got, err)
	}
	if got, err := DecodeAnyArgs(mustArgs(t)); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("no args: %#v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0x01}, {0xa1, 'a'}, {0x80}, {0xc0}, append(mustArgs(t, 1), 0x00), {0x91}} {
		if v, err := DecodeAnyArgs(bad); !errors.Is(err, ErrArgs) || v != nil {
			t.Errorf("DecodeAnyArgs(% x) = %v, %v; want an ErrArgs error", bad, v, err)
		}
	}
}

func TestAppendArgs(t *testing.T) {
	// Appends to dst, one msgpack array.
	dst := []byte("hdr")
	out, err := AppendArgs(dst, []any{1, "x"})
	if err != nil || string(out[:3]) != "hdr" || !bytes.Equal(out[3:], []byte{0x92, 0x01, 0xa1, 'x'}) {
		t.Fatalf("AppendArgs = % x, %v", out, err)
	}
	if out, err := AppendArgs(nil, nil); err != nil || !bytes.Equal(out, []byte{0x90}) {
		t.Fatalf("no args = % x, %v", out, err)
	}
	// Integers use the smallest encoding, whatever their Go type.
	if out, _ := AppendArgs(nil, []any{int64(1), uint64(2), int32(-3)}); !bytes.Equal(out, []byte{0x93, 0x01, 0x02, 0xfd}) {
		t.Errorf("compact ints: % x", out)
	}
	// Unencodable values are an ErrArgs error naming the argument.
	for _, bad := range []any{make(chan int), func() {}, complex(1, 2)} {
		_, err := AppendArgs(nil, []any{1, bad})
		if !errors.Is(err, ErrArgs) || !strings.Contains(err.Error(), "argument 1") {
			t.Errorf("AppendArgs(%T) err = %v", bad, err)
		}
	}
	// The pooled encoder is not disturbed by an error.
	if out, err := AppendArgs(nil, []any{7}); err != nil || !bytes.Equal(out, []byte{0x91, 0x07}) {
		t.Errorf("after error: % x, %v", out, err)
	}
}

func TestDecodeArgsConcurrent(t *testing.T) {
	// The encoder and decoder pools must not share state between goroutines.
	types := typesOf(new(string), new(int), new([]string))
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 2000; i++ {
				s := fmt.Sprint(g, "-", i)
				data, err := AppendArgs(nil, []any{s, i, []string{s, s}})
				if err != nil {
					done <- err
					return
				}
				vals, err := DecodeArgs(data, types)
				if err != nil || vals[0].String() != s || vals[1].Int() != int64(i) || vals[2].Index(1).String() != s {
					done <- fmt.Errorf("goroutine %d call %d: %v %v", g, i, vals, err)
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

type recursiveNode struct {
	Value int
	Next  *recursiveNode
}

func TestCheckParamType(t *testing.T) {
	type okStruct struct {
		A int
		B []map[string]*float64
		c chan int //lint:ignore U1000 unexported fields are ignored by the check: that is what is tested
		d func()   //lint:ignore U1000 as c
	}
	type badStruct struct {
		A int
		C chan int
	}
	accepted := []reflect.Type{
		reflect.TypeFor[bool](), reflect.TypeFor[int](), reflect.TypeFor[int8](), reflect.TypeFor[int16](),
		reflect.TypeFor[int32](), reflect.TypeFor[int64](), reflect.TypeFor[uint](), reflect.TypeFor[uint8](),
		reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](), reflect.TypeFor[float32](),
		reflect.TypeFor[float64](), reflect.TypeFor[string](), reflect.TypeFor[[]byte](), reflect.TypeFor[any](),
		reflect.TypeFor[*int](), reflect.TypeFor[[]int](), reflect.TypeFor[[4]string](), reflect.TypeFor[map[string]int](),
		reflect.TypeFor[map[string]any](), reflect.TypeFor[[]any](), reflect.TypeFor[argPoint](), reflect.TypeFor[*argPoint](),
		reflect.TypeFor[okStruct](), reflect.TypeFor[argLevel](), reflect.TypeFor[map[int][]*string](),
	}
	for _, typ := range accepted {
		if err := CheckParamType(typ); err != nil {
			t.Errorf("CheckParamType(%s) = %v", typ, err)
		}
	}
	rejected := []reflect.Type{
		reflect.TypeFor[chan int](), reflect.TypeFor[<-chan string](), reflect.TypeFor[func()](), reflect.TypeFor[func(int) error](),
		reflect.TypeFor[unsafe.Pointer](), reflect.TypeFor[complex64](), reflect.TypeFor[complex128](),
		reflect.TypeFor[[]chan int](), reflect.TypeFor[*func()](), reflect.TypeFor[map[string]complex64](),
		reflect.TypeFor[[2]unsafe.Pointer](), reflect.TypeFor[badStruct](), reflect.TypeFor[*badStruct](),
		reflect.TypeFor[[]map[string]badStruct](),
	}
	for _, typ := range rejected {
		if err := CheckParamType(typ); err == nil {
			t.Errorf("CheckParamType(%s) accepted it", typ)
		}
	}
	// Every type CheckParamType accepts round-trips a zero value.
	for _, typ := range accepted {
		zero := reflect.New(typ).Elem().Interface()
		data, err := AppendArgs(nil, []any{zero})
		if err != nil {
			t.Errorf("%s: AppendArgs: %v", typ, err)
			continue
		}
		if _, err := DecodeArgs(data, []reflect.Type{typ}); err != nil {
			t.Errorf("%s: DecodeArgs of zero value: %v", typ, err)
		}
	}
}

// TestCheckParamTypeRecursive: a self-referential struct (a linked list, a
// tree) is a legitimate, decodable parameter type, but checkType follows
// Next *recursiveNode until MaxArgDepth and reports it as nesting too deeply.
func TestCheckParamTypeRecursive(t *testing.T) {
	list := &recursiveNode{Value: 1, Next: &recursiveNode{Value: 2}}
	vals, err := DecodeArgs(mustArgs(t, list), typesOf(new(*recursiveNode)))
	if err != nil || !reflect.DeepEqual(vals[0].Interface(), list) {
		t.Fatalf("DecodeArgs of a recursive type: %v, %v", vals, err)
	}
	if err := CheckParamType(reflect.TypeFor[*recursiveNode]()); err != nil {
		t.Fatalf("CheckParamType(*recursiveNode) = %v", err)
	}
}

func TestDecodeArgsFloatExactness(t *testing.T) {
	ok := []struct {
		arg  any
		typ  reflect.Type
		want any
	}{
		{int64(1 << 53), reflect.TypeFor[float64](), float64(1 << 53)},
		{int64(-1 << 53), reflect.TypeFor[float64](), float64(-1 << 53)},
		{int64(1 << 24), reflect.TypeFor[float32](), float32(1 << 24)},
		{0.1, reflect.TypeFor[float32](), float32(0.1)}, // narrows as Go converts
		{2.0, reflect.TypeFor[any](), 2.0},              // a float stays a float
		{float32(2), reflect.TypeFor[any](), 2.0},
	}
	for _, tt := range ok {
		vals, err := DecodeArgs(mustArgs(t, tt.arg), []reflect.Type{tt.typ})
		if err != nil || !reflect.DeepEqual(vals[0].Interface(), tt.want) {
			t.Errorf("%T %v into %s: %v, %v; want %v", tt.arg, tt.arg, tt.typ, vals, err, tt.want)
		}
	}
	bad := []struct {
		arg any
		typ reflect.Type
	}{
		{int64(1<<53 + 1), reflect.TypeFor[float64]()},
		{int64(-1<<53 - 1), reflect.TypeFor[float64]()},
		{int64(1<<24 + 1), reflect.TypeFor[float32]()},
		{uint64(math.MaxUint64), reflect.TypeFor[float64]()},
		{1e39, reflect.TypeFor[float32]()},
		{2.0, reflect.TypeFor[int]()}, // never float → int, even when integral
		{2.0, reflect.TypeFor[uint8]()},
	}
	for _, tt := range bad {
		if _, err := DecodeArgs(mustArgs(t, tt.arg), []reflect.Type{tt.typ}); !errors.Is(err, ErrArgs) {
			t.Errorf("%T %v into %s: %v, want an ErrArgs error", tt.arg, tt.arg, tt.typ, err)
		}
	}
}

type customEnc struct{ A int }

func (c customEnc) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.EncodeString("custom") }

func TestCheckValue(t *testing.T) {
	accepted := []any{
		nil, true, 1, int8(-1), uint64(math.MaxUint64), 1.5, float32(2), "s", []byte{1},
		[]any{1, "a", nil, []any{map[string]any{"k": []int{1}}}}, map[string]any{"a": 1},
		[]string{"x"}, []int{1}, []int64{1}, []float64{1}, argPoint{X: 1}, &argPoint{}, (*argPoint)(nil),
		[3]int{}, map[int]string{1: "a"}, time.Duration(5), argLevel(3), map[string][]map[string]int{},
	}
	for _, v := range accepted {
		if err := CheckValue(v); err != nil {
			t.Errorf("CheckValue(%T) = %v", v, err)
		}
	}
	refused := []any{
		time.Now(), &time.Time{}, struct{ T time.Time }{}, []any{1, time.Now()}, map[string]any{"t": time.Now()},
		customEnc{}, &customEnc{}, []customEnc{{}}, make(chan int), func() {}, complex(1, 2), uintptr(1),
		unsafe.Pointer(nil), map[string]func(){"f": nil}, struct{ C chan int }{},
	}
	for _, v := range refused {
		if err := CheckValue(v); err == nil {
			t.Errorf("CheckValue(%T) accepted it", v)
		}
		if _, err := AppendArgs(nil, []any{"ok", v}); !errors.Is(err, ErrArgs) || !strings.Contains(err.Error(), "argument 1") {
			t.Errorf("AppendArgs(%T) = %v, want an ErrArgs error naming argument 1", v, err)
		}
		if _, err := AppendValue(nil, v); !errors.Is(err, ErrArgs) {
			t.Errorf("AppendValue(%T) = %v", v, err)
		}
	}
	// Clients take only string-keyed maps.
	for _, v := range []any{map[int]string{1: "a"}, []any{map[int]int{}}, map[string]any{"m": map[int]int{}}, argInner{A: nil, B: map[int]int{}}} {
		if err := CheckValue(v); err != nil {
			t.Errorf("CheckValue(%#v) = %v", v, err)
		}
		if err := CheckClientValue(v); err == nil {
			t.Errorf("CheckClientValue(%#v) accepted a non-string map key", v)
		}
	}
	for _, v := range []any{map[string]int{}, map[argName]int{}, argPoint{}, []any{map[string]any{}}} {
		if err := CheckClientValue(v); err != nil {
			t.Errorf("CheckClientValue(%T) = %v", v, err)
		}
	}
}

// TestAppendArgsRoundTripsOrRefuses: whatever AppendArgs accepts decodes
// back into its own type as the same value. msgpack encodes types with
// MarshalBinary/MarshalText methods through those methods, which
// CheckValue does not look for: net.IP arrives as the bytes of its text
// form, netip.Addr and *big.Int do not decode at all. CheckValue also
// checks only the zero value of an interface map key, so a time.Time key
// passes.
func TestAppendArgsRoundTripsOrRefuses(t *testing.T) {
	values := []any{
		1, "s", []byte{1, 2}, time.Duration(7), argPoint{X: 1, Tags: []string{"a"}}, map[int]string{1: "a"},
		net.IP{1, 2, 3, 4}, netip.MustParseAddr("10.0.0.1"), big.NewInt(12345),
		map[any]int{"a": 1, time.Unix(1, 0): 2}, []any{net.IP{1, 2, 3, 4}},
	}
	for _, v := range values {
		enc, err := AppendArgs(nil, []any{v})
		if err != nil {
			continue // refused: fine
		}
		vals, err := DecodeArgs(enc, []reflect.Type{reflect.TypeOf(v)})
		if err != nil {
			t.Errorf("%T accepted by AppendArgs (% x) but does not decode: %v", v, enc, err)
			continue
		}
		if got := vals[0].Interface(); !reflect.DeepEqual(got, v) {
			t.Errorf("%T: sent %v, received %v", v, v, got)
		}
	}
}

// argNest nests through a struct and a pointer: each level is one map.
type argNest struct {
	N *argNest
	V int
}

// TestEncodeDepthMatchesDecoders: the senders' check accepts exactly the
// nesting the decoders accept, for arguments (AppendArgs, CheckValue,
// CheckClientValue against DecodeAnyArgs) and for lone values
// (AppendValue against DecodeAny), whatever builds the nesting: []any,
// map[string]any, typed slices (the reflect path) or structs behind
// pointers.
func TestEncodeDepthMatchesDecoders(t *testing.T) {
	builders := map[string]func(k int) any{
		"[]any": func(k int) any {
			var v any = 7
			for i := 0; i < k; i++ {
				v = []any{v}
			}
			return v
		},
		"map[string]any": func(k int) any {
			var v any = "x"
			for i := 0; i < k; i++ {
				v = map[string]any{"k": v}
			}
			return v
		},
		"typed slices": func(k int) any {
			v := reflect.ValueOf(7)
			for i := 0; i < k; i++ {
				s := reflect.MakeSlice(reflect.SliceOf(v.Type()), 1, 1)
				s.Index(0).Set(v)
				v = s
			}
			return v.Interface()
		},
		"struct pointers": func(k int) any {
			if k == 0 {
				return 7
			}
			n := &argNest{V: 7}
			for i := 1; i < k; i++ {
				n = &argNest{N: n}
			}
			return n
		},
	}
	for name, build := range builders {
		var argOK, argRefused, valueOK, valueRefused int
		for k := 0; k <= MaxArgDepth+3; k++ {
			v := build(k)
			raw, err := msgpack.Marshal([]any{v})
			if err != nil {
				t.Fatal(err)
			}
			_, derr := DecodeAnyArgs(raw)
			_, aerr := AppendArgs(nil, []any{v})
			if (derr == nil) != (aerr == nil) || (derr == nil) != (CheckValue(v) == nil) || (derr == nil) != (CheckClientValue(v) == nil) {
				t.Errorf("%s, %d levels as an argument: decoders say %v, AppendArgs %v, CheckValue %v, CheckClientValue %v",
					name, k, derr, aerr, CheckValue(v), CheckClientValue(v))
			}
			if aerr == nil {
				argOK++
			} else {
				argRefused++
			}
			raw, _ = msgpack.Marshal(v)
			_, _, derr = DecodeAny(raw)
			_, verr := AppendValue(nil, v)
			if (derr == nil) != (verr == nil) {
				t.Errorf("%s, %d levels as a value: DecodeAny says %v, AppendValue %v", name, k, derr, verr)
			}
			if verr == nil {
				valueOK++
			} else {
				valueRefused++
			}
		}
		if argOK == 0 || argRefused == 0 || valueOK == 0 || valueRefused == 0 || valueOK != argOK+1 {
			t.Errorf("%s: %d depths accepted and %d refused as arguments, %d and %d as values; want both kinds, values one level more",
				name, argOK, argRefused, valueOK, valueRefused)
		}
	}
}

// TestCheckValueRefusesCycles: a value that holds itself is refused with
// an error, not a stack overflow (which no recover can stop).
func TestCheckValueRefusesCycles(t *testing.T) {
	list := []any{nil}
	list[0] = list
	m := map[string]any{}
	m["m"] = m
	var self any
	self = &self
	n := &argNest{}
	n.N = n
	for name, v := range map[string]any{"[]any": list, "map": m, "pointer to itself": self, "struct": n} {
		if err := CheckValue(v); err == nil {
			t.Errorf("%s: CheckValue accepted a cycle", name)
		}
		if _, err := AppendArgs(nil, []any{v}); !errors.Is(err, ErrArgs) {
			t.Errorf("%s: AppendArgs = %v", name, err)
		}
		if _, err := AppendValue(nil, v); !errors.Is(err, ErrArgs) {
			t.Errorf("%s: AppendValue = %v", name, err)
		}
	}
}
