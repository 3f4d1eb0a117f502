package csharpclient_test

import (
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/monotest"
	"github.com/goworld-engine/goworld/rpc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kcp-go runs process-wide scheduler goroutines it never stops.
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

// monoTimeout bounds one C# program (the programs bound themselves more
// tightly: the fuzz loop to 30 s, the cluster session to 60 s).
const monoTimeout = 3 * time.Minute

// build compiles the client library and the given programs (paths
// relative to this directory) into a temporary directory and returns the
// path of each program.
func build(t *testing.T, programs ...string) []string {
	t.Helper()
	dir := monotest.TempDir(t)
	lib := monotest.Library(t, ".", dir)
	var exes []string
	for _, p := range programs {
		exe := filepath.Join(dir, strings.TrimSuffix(filepath.Base(p), ".cs")+".exe")
		exes = append(exes, monotest.Compile(t, exe, []string{lib}, p))
	}
	return exes
}

// describe writes a Go value in the notation of CodecTests.Describe: the
// kind as the protocol sends it (protocol.md 7.1) and its exact bits.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case bool:
		return fmt.Sprintf("bool(%v)", x)
	case int, int8, int16, int32, int64, uint8, uint16, uint32:
		return fmt.Sprintf("int(%d)", x)
	case uint64:
		if x > math.MaxInt64 {
			return fmt.Sprintf("uint(%d)", x)
		}
		return fmt.Sprintf("int(%d)", x)
	case float64:
		return fmt.Sprintf("f64(%016x)", math.Float64bits(x))
	case float32:
		return fmt.Sprintf("f32(%08x)", math.Float32bits(x))
	case string:
		return "str(" + hex.EncodeToString([]byte(x)) + ")"
	case []byte:
		return "bin(" + hex.EncodeToString(x) + ")"
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = describe(e)
		}
		return "[" + strings.Join(s, ",") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = hex.EncodeToString([]byte(k)) + ":" + describe(x[k])
		}
		return "{" + strings.Join(keys, ",") + "}"
	}
	panic(fmt.Sprintf("describe: %T", v))
}

// goldenValues are values of every kind and every encoding width of
// protocol.md 7.1, at the edges where the encoding changes.
func goldenValues() []any {
	vs := []any{nil, true, false}
	for _, n := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1,
		1<<53 + 1, math.MaxInt64, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		vs = append(vs, n)
	}
	vs = append(vs, uint64(math.MaxUint64), uint64(1)<<63, int8(-5), uint16(300), int(7))
	for _, f := range []float64{0, 3, math.Copysign(0, -1), 2.5, 1e300, -1e-300, math.NaN(), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64} {
		vs = append(vs, f)
	}
	vs = append(vs, float32(3), float32(-1.5), float32(math.Inf(1)))
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		vs = append(vs, strings.Repeat("x", n))
	}
	vs = append(vs, "héllo 世界 🎮", "\x00\n\"\\")
	for _, n := range []int{0, 2, 255, 256, 65535, 65536} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		vs = append(vs, b)
	}
	for _, n := range []int{0, 1, 15, 16, 65535, 65536} {
		l := make([]any, n)
		for i := range l {
			l[i] = int64(i % 200)
		}
		vs = append(vs, l)
	}
	for _, n := range []int{1, 15, 16, 65536} {
		m := map[string]any{}
		for i := 0; i < n; i++ {
			m["k"+strconv.Itoa(i)] = int64(i)
		}
		vs = append(vs, m)
	}
	vs = append(vs, map[string]any{}, map[string]any{"a": []any{true, nil, 1.5, "s", []byte{1}}, "b": map[string]any{"c": []any{}}, "é": -1},
		[]any{[]any{[]any{}}, map[string]any{"x": map[string]any{"y": float32(0.25)}}})
	// Deep nesting, as deep as the server sends a value on its own.
	var deep any = int64(1)
	for i := 0; i < rpc.MaxArgDepth; i++ {
		deep = []any{deep}
	}
	return append(vs, deep)
}

// TestCodec: the C# MessagePack codec and frame decoder
// (tests/CodecTests.cs): golden vectors from the server's encoder,
// decoded with their kinds and re-encoded to the same bytes; hostile and
// truncated input refused with MsgPackException; the hex examples of
// protocol.md; and a bounded fuzz of the codec and of every server frame.
func TestCodec(t *testing.T) {
	exe := build(t, "tests/CodecTests.cs")[0]
	var lines []string
	for _, v := range goldenValues() {
		b, err := rpc.AppendValue(nil, v)
		if err != nil {
			t.Fatalf("%v: %v", describe(v), err)
		}
		// The description is of the Go value the server encoded, not of
		// what any decoder made of the bytes.
		lines = append(lines, hex.EncodeToString(b)+"\t"+describe(v))
	}
	golden := filepath.Join(t.TempDir(), "golden.txt")
	if err := os.WriteFile(golden, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := monotest.Run(t, monoTimeout, exe, golden, "20000")
	if !strings.Contains(out, "codec: ok") {
		t.Fatalf("CodecTests did not report ok:\n%s", out)
	}
}
