package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The split decoders (one function per kind, numbers read without an
// interface) against the old ones kept in args_old_test.go: on the
// FuzzDecodeArgs corpus and on random argument arrays, in every
// parameter type, the same values and the same error texts, with and
// without a string bound; and DecodeAny and DecodeAnyArgs the same.

type diffByte uint8

type diffTagged struct {
	N  int16   `msgpack:"n"`
	U  uintptr `msgpack:"u,omitempty"`
	F  float32
	S  string
	B  []byte
	P  **int
	M  map[int8]any
	X  fmt.Stringer
	in int //lint:ignore U1000 unexported: the decoders leave it alone, which is what is compared
}

// diffTypeLists cover every parameter kind, named types, the unsupported
// ones and the lists FuzzDecodeArgs uses.
var diffTypeLists = append(append([][]reflect.Type{
	typeList(new(int), new(int16), new(int32), new(int64)),
	typeList(new(uint), new(uint8), new(uint32), new(uintptr)),
	typeList(new(float32), new(float64), new(float32)),
	typeList(new(bool), new(string), new([]byte)),
	typeList(new([]diffByte), new([3]byte), new([0]int), new([]float32)),
	typeList(new(map[string]*int), new(map[int8]any), new(map[float64]string), new(map[bool]uint8)),
	typeList(new(*[]string), new(**int), new(diffTagged)),
	typeList(new(fmt.Stringer), new(error), new(any)),
	typeList(new(chan int), new(complex128), new(func())),
	typeList(new([][]any), new(map[string]map[string]int)),
	typeList(new(map[string]fuzzInner), new(map[int][2]int16), new(map[[2]int]*fuzzStruct)),
}, fuzzTypeLists...), singletons(fuzzTypeLists)...)

// singletons is a one-parameter list for each type in lists: a random
// argument array for one of them decodes far more often than one for
// four.
func singletons(lists [][]reflect.Type) [][]reflect.Type {
	var out [][]reflect.Type
	seen := map[reflect.Type]bool{}
	for _, l := range lists {
		for _, t := range l {
			if !seen[t] {
				seen[t] = true
				out = append(out, []reflect.Type{t})
			}
		}
	}
	return out
}

// diffCorpus reads the inputs of testdata/fuzz/FuzzDecodeArgs.
func diffCorpus(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeArgs", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no FuzzDecodeArgs corpus: %v", err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a one-[]byte corpus file", name)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, []byte(s))
	}
	return out
}

// diffStats counts outcomes, so that the test can show it compared both
// values and errors.
type diffStats struct{ ok, failed int }

// diffDecode compares the old and new decoders on data, decoded into
// each of lists and as plain values.
func diffDecode(t testing.TB, data []byte, lists [][]reflect.Type, st *diffStats) {
	t.Helper()
	// The new decoders read a copy that is overwritten before the
	// comparison: nothing they return may share the input's memory.
	in := make([]byte, len(data))
	scribble := func() {
		for i := range in {
			in[i] = 0xc1
		}
	}
	for _, types := range lists {
		for _, bound := range []int{0, 3, 8} {
			copy(in, data)
			nv, nerr := DecodeClientArgs(in, types, bound)
			scribble()
			ov, oerr := oldDecodeClientArgs(data, types, bound)
			if msg := diffResult(interfaces(nv), interfaces(ov), nerr, oerr); msg != "" {
				t.Fatalf("DecodeClientArgs(% x, %v, %d): %s", data, types, bound, msg)
			}
			if nerr == nil {
				st.ok++
			} else {
				st.failed++
			}
		}
	}
	copy(in, data)
	nv, nn, nerr := DecodeAny(in)
	scribble()
	ov, on, oerr := oldDecodeAnyValue(data)
	if msg := diffResult(nv, ov, nerr, oerr); msg != "" || nn != on {
		t.Fatalf("DecodeAny(% x): %s (%d and %d bytes)", data, msg, nn, on)
	}
	copy(in, data)
	na, nerr := DecodeAnyArgs(in)
	scribble()
	oa, oerr := oldDecodeAnyArgs(data)
	if msg := diffResult(na, oa, nerr, oerr); msg != "" {
		t.Fatalf("DecodeAnyArgs(% x): %s", data, msg)
	}
}

func diffResult(n, o any, nerr, oerr error) string {
	switch {
	case (nerr == nil) != (oerr == nil):
		return fmt.Sprintf("new error %v, old error %v", nerr, oerr)
	case nerr != nil && nerr.Error() != oerr.Error():
		return fmt.Sprintf("error texts differ:\nnew %s\nold %s", nerr, oerr)
	case nerr != nil && (errors.Is(nerr, ErrArgs) != errors.Is(oerr, ErrArgs) ||
		errors.Is(nerr, ErrStringTooLong) != errors.Is(oerr, ErrStringTooLong)):
		return fmt.Sprintf("errors wrap differently: new %v, old %v", nerr, oerr)
	case !sameValue(reflect.ValueOf(n), reflect.ValueOf(o)):
		return fmt.Sprintf("values differ:\nnew %#v\nold %#v", n, o)
	}
	return ""
}

// sameValue is reflect.DeepEqual where a NaN equals a NaN (map entries
// with NaN keys, which cannot be looked up, are compared by count).
func sameValue(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float() || (math.IsNaN(a.Float()) && math.IsNaN(b.Float()))
	case reflect.Pointer, reflect.Interface:
		return a.IsNil() == b.IsNil() && (a.IsNil() || sameValue(a.Elem(), b.Elem()))
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return false
		}
		return sameElems(a, b)
	case reflect.Array:
		return sameElems(a, b)
	case reflect.Map:
		return sameMap(a, b)
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() && !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

func sameElems(a, b reflect.Value) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := 0; i < a.Len(); i++ {
		if !sameValue(a.Index(i), b.Index(i)) {
			return false
		}
	}
	return true
}

func sameMap(a, b reflect.Value) bool {
	if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
		return false
	}
	nanKeys := 0
	for it := a.MapRange(); it.Next(); {
		if hasNaN(it.Key()) {
			nanKeys++
			continue
		}
		bv := b.MapIndex(it.Key())
		if !bv.IsValid() || !sameValue(it.Value(), bv) {
			return false
		}
	}
	for it := b.MapRange(); it.Next(); {
		if hasNaN(it.Key()) {
			nanKeys--
		}
	}
	return nanKeys == 0
}

// TestDecodeDifferential runs diffDecode on the corpus, then on random
// argument arrays for each parameter list: mostly values of the right
// kinds at their edges, in every msgpack encoding of them (non-shortest
// ones too), some values of any kind, some inputs cut short, extended or
// with a byte changed.
func TestDecodeDifferential(t *testing.T) {
	var st diffStats
	for _, data := range diffCorpus(t) {
		diffDecode(t, data, diffTypeLists, &st)
	}
	st = diffStats{}
	const rounds = 400 // per parameter list
	deadline := time.Now().Add(60 * time.Second)
	r := rand.New(rand.NewPCG(19, 7))
	inputs := 0
	for round := 0; round < rounds && time.Now().Before(deadline); round++ {
		for _, types := range diffTypeLists {
			diffDecode(t, diffArgs(r, types), [][]reflect.Type{types}, &st)
			inputs++
		}
	}
	t.Logf("%d random inputs, %d decodes succeeded, %d failed", inputs, st.ok, st.failed)
	if inputs < 100*len(diffTypeLists) {
		t.Fatalf("only %d random inputs before the deadline", inputs)
	}
	// Both outcomes must be well represented, or the comparison says
	// little about one of them.
	if total := st.ok + st.failed; st.ok < total/10 || st.failed < total/10 {
		t.Fatalf("%d decodes succeeded and %d failed: the inputs are too one-sided", st.ok, st.failed)
	}
}

// FuzzDecodeDifferential is TestDecodeDifferential's comparison on
// arbitrary bytes, seeded with the FuzzDecodeArgs corpus.
func FuzzDecodeDifferential(f *testing.F) {
	for _, data := range diffCorpus(f) {
		f.Add(data)
	}
	r := rand.New(rand.NewPCG(19, 8))
	for _, types := range diffTypeLists {
		f.Add(diffArgs(r, types))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st diffStats
		diffDecode(t, data, diffTypeLists, &st)
	})
}

// diffArgs is a random argument array for types, perhaps damaged.
func diffArgs(r *rand.Rand, types []reflect.Type) []byte {
	g := &mpGen{r: r}
	n := len(types)
	if r.IntN(20) == 0 {
		n = r.IntN(len(types) + 2)
	}
	g.arrayHeader(n)
	for i := 0; i < n; i++ {
		if i < len(types) {
			g.typed(types[i], 0)
		} else {
			g.random(0)
		}
	}
	b := g.b
	switch r.IntN(30) {
	case 0:
		b = b[:r.IntN(len(b)+1)]
	case 1:
		b = append(b, byte(r.Uint32()))
	case 2:
		b[r.IntN(len(b))] = byte(r.Uint32())
	}
	return b
}

// mpGen writes random msgpack, choosing among the encodings of a value.
type mpGen struct {
	r *rand.Rand
	b []byte
}

func (g *mpGen) be(n int, x uint64) {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], x)
	g.b = append(g.b, buf[8-n:]...)
}

// int writes i with a random one of the codes that hold it.
func (g *mpGen) int(i int64) {
	type enc struct {
		code byte
		n    int
		ok   bool
	}
	encs := []enc{
		{0, 0, i >= -32 && i <= 127},
		{0xd0, 1, i >= math.MinInt8 && i <= math.MaxInt8},
		{0xd1, 2, i >= math.MinInt16 && i <= math.MaxInt16},
		{0xd2, 4, i >= math.MinInt32 && i <= math.MaxInt32},
		{0xd3, 8, true},
		{0xcc, 1, i >= 0 && i <= math.MaxUint8},
		{0xcd, 2, i >= 0 && i <= math.MaxUint16},
		{0xce, 4, i >= 0 && i <= math.MaxUint32},
		{0xcf, 8, i >= 0},
	}
	for {
		e := encs[g.r.IntN(len(encs))]
		if !e.ok {
			continue
		}
		if e.n == 0 {
			g.b = append(g.b, byte(i))
		} else {
			g.b = append(g.b, e.code)
			g.be(e.n, uint64(i))
		}
		return
	}
}

func (g *mpGen) bigUint() {
	g.b = append(g.b, 0xcf)
	g.be(8, math.MaxInt64+1+g.r.Uint64N(math.MaxInt64))
}

var diffInts = []int64{0, 1, -1, 127, 128, 255, 256, -32, -33, -128, -129, 32767, 32768, 65535, 65536,
	-32768, -32769, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxUint32,
	math.MaxUint32 + 1, 1 << 24, 1<<24 + 1, -(1 << 24), -(1 << 24) - 1, 1 << 53, 1<<53 + 1, -(1 << 53),
	-(1 << 53) - 1, 1 << 60, math.MaxInt64, math.MinInt64}

func (g *mpGen) someInt() {
	if g.r.IntN(2) == 0 {
		g.int(diffInts[g.r.IntN(len(diffInts))])
		return
	}
	g.int(g.r.Int64() >> g.r.IntN(64))
}

var diffFloats = []float64{0, -0.5, 0.1, 2, 3.25, 1e39, -1e39, math.MaxFloat32, math.MaxFloat64,
	math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 1 << 53, 1<<53 + 2}

func (g *mpGen) float() {
	f := diffFloats[g.r.IntN(len(diffFloats))]
	if g.r.IntN(3) == 0 {
		f = g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(80)-40))
	}
	if g.r.IntN(3) == 0 {
		g.b = append(g.b, 0xca)
		g.be(4, uint64(math.Float32bits(float32(f))))
		return
	}
	g.b = append(g.b, 0xcb)
	g.be(8, math.Float64bits(f))
}

// header writes a length with a fix code (if n fits fixMax) or one of
// the 8/16/32-bit codes (code8 0 if there is none).
func (g *mpGen) header(n int, fix byte, fixMax int, code8 byte, code16 byte) {
	for {
		switch g.r.IntN(4) {
		case 0:
			if n <= fixMax {
				g.b = append(g.b, fix|byte(n))
				return
			}
		case 1:
			if code8 != 0 && n <= math.MaxUint8 {
				g.b = append(g.b, code8, byte(n))
				return
			}
		case 2:
			if n <= math.MaxUint16 {
				g.b = append(g.b, code16)
				g.be(2, uint64(n))
				return
			}
		case 3:
			g.b = append(g.b, code16+1)
			g.be(4, uint64(n))
			return
		}
	}
}

func (g *mpGen) arrayHeader(n int) { g.header(n, 0x90, 15, 0, 0xdc) }
func (g *mpGen) mapHeader(n int)   { g.header(n, 0x80, 15, 0, 0xde) }

func (g *mpGen) str(s string) {
	g.header(len(s), 0xa0, 31, 0xd9, 0xda)
	g.b = append(g.b, s...)
}

func (g *mpGen) bin(b []byte) {
	g.header(len(b), 0, -1, 0xc4, 0xc5)
	g.b = append(g.b, b...)
}

func (g *mpGen) someString() string {
	const letters = "abcdefghij\x00\"\\é"
	n := g.r.IntN(6)
	if g.r.IntN(8) == 0 {
		n = g.r.IntN(80)
	}
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteByte(letters[g.r.IntN(len(letters))])
	}
	return sb.String()
}

// typed writes a value meant for t, mostly of its kind, sometimes not.
func (g *mpGen) typed(t reflect.Type, depth int) {
	if depth > 5 || g.r.IntN(25) == 0 {
		g.random(depth)
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		g.b = append(g.b, 0xc2+byte(g.r.IntN(2)))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		g.number(8)
	case reflect.Float32, reflect.Float64:
		g.number(2)
	case reflect.String:
		g.bytes()
	case reflect.Slice, reflect.Array:
		g.list(t, depth)
	case reflect.Map:
		g.mapOf(t.Key(), t.Elem(), depth)
	case reflect.Struct:
		g.structOf(t, depth)
	case reflect.Pointer:
		if g.r.IntN(4) == 0 {
			g.b = append(g.b, 0xc0)
		} else {
			g.typed(t.Elem(), depth+1)
		}
	default:
		g.random(depth)
	}
}

// number writes an integer, or a float once in `floats` times, or a big
// uint64 now and then.
func (g *mpGen) number(floats int) {
	switch {
	case g.r.IntN(floats) == 0:
		g.float()
	case g.r.IntN(10) == 0:
		g.bigUint()
	default:
		g.someInt()
	}
}

func (g *mpGen) bytes() {
	s := g.someString()
	if g.r.IntN(3) == 0 {
		g.bin([]byte(s))
	} else {
		g.str(s)
	}
}

func (g *mpGen) list(t reflect.Type, depth int) {
	if t.Elem().Kind() == reflect.Uint8 && g.r.IntN(2) == 0 {
		g.bytes()
		return
	}
	n := g.r.IntN(4)
	if t.Kind() == reflect.Array && g.r.IntN(4) != 0 {
		n = t.Len()
	}
	g.arrayHeader(n)
	for i := 0; i < n; i++ {
		g.typed(t.Elem(), depth+1)
	}
}

func (g *mpGen) mapOf(kt, et reflect.Type, depth int) {
	n := g.r.IntN(4)
	g.mapHeader(n)
	for i := 0; i < n; i++ {
		g.typed(kt, depth+1)
		g.typed(et, depth+1)
	}
}

func (g *mpGen) structOf(t reflect.Type, depth int) {
	var names []string
	for name := range fieldsOf(t) {
		names = append(names, name)
	}
	n := g.r.IntN(len(names) + 2)
	g.mapHeader(n)
	for i := 0; i < n; i++ {
		if g.r.IntN(4) == 0 || len(names) == 0 {
			g.random(depth + 1) // an unknown or non-string key
			g.random(depth + 1)
			continue
		}
		name := names[g.r.IntN(len(names))]
		g.str(name)
		f, _ := t.FieldByName(name)
		for _, sf := range reflect.VisibleFields(t) {
			if sf.Tag.Get("msgpack") != "" && strings.Split(sf.Tag.Get("msgpack"), ",")[0] == name {
				f = sf
			}
		}
		g.typed(f.Type, depth+1)
	}
}

// random writes any value, containers rarely and shallowly, now and then
// one nested beyond MaxArgDepth or a code the decoders do not take.
func (g *mpGen) random(depth int) {
	switch k := g.r.IntN(14); {
	case k == 0:
		g.b = append(g.b, 0xc0)
	case k == 1:
		g.b = append(g.b, 0xc2+byte(g.r.IntN(2)))
	case k <= 3:
		g.number(3)
	case k <= 5:
		g.bytes()
	case k == 6 && depth < 4:
		n := g.r.IntN(3)
		g.arrayHeader(n)
		for i := 0; i < n; i++ {
			g.random(depth + 1)
		}
	case k == 7 && depth < 4:
		n := g.r.IntN(3)
		g.mapHeader(n)
		for i := 0; i < n; i++ {
			if g.r.IntN(4) == 0 {
				g.random(depth + 1)
			} else {
				g.str(g.someString())
			}
			g.random(depth + 1)
		}
	case k == 8:
		g.b = append(g.b, 0xd4, byte(g.r.IntN(3)), byte(g.r.Uint32())) // fixext1
	case k == 9:
		g.b = append(g.b, 0xc1)
	case k == 10 && g.r.IntN(4) == 0:
		g.b = append(g.b, nested(MaxArgDepth-3+g.r.IntN(6), []byte{0x01})...)
	default:
		g.someInt()
	}
}
