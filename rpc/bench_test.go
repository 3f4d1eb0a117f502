package rpc

import (
	"bytes"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"
)

func BenchmarkAppendFrame64(b *testing.B) {
	body := bytes.Repeat([]byte{0xab}, 64)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	b.SetBytes(int64(HeaderSize + len(body)))
	for i := 0; i < b.N; i++ {
		buf = AppendFrame(buf[:0], MsgCallEntityMethod, body)
	}
	if len(buf) != HeaderSize+64 {
		b.Fatal(len(buf))
	}
}

func BenchmarkReadFrame64(b *testing.B) {
	frame := AppendFrame(nil, MsgCallEntityMethod, bytes.Repeat([]byte{0xab}, 64))
	r := bytes.NewReader(frame)
	hdr := make([]byte, HeaderSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for i := 0; i < b.N; i++ {
		r.Reset(frame)
		if _, _, err := ReadFrame(r, hdr, 64<<10); err != nil {
			b.Fatal(err)
		}
	}
}

// A typical entity call: target ID, method name, an int and a float.
var benchCallArgs = []any{"AbCdEfGh-_012345", "OnPlayerAttack", 12345, 3.25}

var benchCallTypes = []reflect.Type{reflect.TypeFor[string](), reflect.TypeFor[string](), reflect.TypeFor[int](), reflect.TypeFor[float64]()}

func BenchmarkAppendArgs(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = AppendArgs(buf[:0], benchCallArgs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeArgs(b *testing.B) {
	data, err := AppendArgs(nil, benchCallArgs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := DecodeArgs(data, benchCallTypes); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAnyMap10(b *testing.B) {
	m := map[string]any{}
	for i := 0; i < 10; i++ {
		switch i % 4 {
		case 0:
			m[fmt.Sprintf("key%d", i)] = i * 1000
		case 1:
			m[fmt.Sprintf("key%d", i)] = fmt.Sprintf("value-%d", i)
		case 2:
			m[fmt.Sprintf("key%d", i)] = float64(i) + 0.5
		case 3:
			m[fmt.Sprintf("key%d", i)] = i%2 == 0
		}
	}
	data, err := AppendValue(nil, m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		v, _, err := DecodeAny(data)
		if err != nil || len(v.(map[string]any)) != 10 {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnThroughput: one sender, one receiver over loopback TCP,
// 64-byte frames. The sender backs off while more than 512 KiB is queued,
// as a well-behaved producer would, instead of tripping ErrSlowConsumer.
func BenchmarkConnThroughput(b *testing.B) { connThroughput(b, nil, nil) }

// BenchmarkConnThroughputStats is BenchmarkConnThroughput with both ends
// counting their traffic in a ConnStats, as every server connection does:
// the difference is the cost of the metrics on the hot path.
func BenchmarkConnThroughputStats(b *testing.B) {
	var in, out ConnStats
	connThroughput(b, &in, &out)
	if in.FramesIn.Load() != uint64(b.N) || out.FramesOut.Load() != uint64(b.N) {
		b.Fatalf("counted %d in, %d out, want %d", in.FramesIn.Load(), out.FramesOut.Load(), b.N)
	}
}

func connThroughput(b *testing.B, recvStats, sendStats *ConnStats) {
	cn, sn := tcpPair(b)
	body := bytes.Repeat([]byte{0x5a}, 64)
	received := 0
	all := make(chan struct{})
	recv := serve(NewConn(sn, ConnConfig{ReadBufferSize: 64 << 10, Stats: recvStats}), func(MsgType, []byte) error {
		if received++; received == b.N {
			close(all)
		}
		return nil
	})
	send := NewConn(cn, ConnConfig{MaxPending: 4 << 20, RetainBuffer: 1 << 20, Stats: sendStats})
	b.ReportAllocs()
	b.SetBytes(int64(HeaderSize + len(body)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for send.Pending() > 512<<10 {
			runtime.Gosched()
		}
		if err := send.Send(MsgCallEntityMethod, body); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-recv.Done():
		b.Fatalf("receiver closed: %v", recv.Reason())
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
	send.Close(nil)
	waitWriter(b, send)
	recv.reason(b)
	waitWriter(b, recv.Conn)
}

// benchNumberArgs is a call heavy in numbers: a list of item IDs, a
// position, counters by name and a struct, as a game's methods take them.
type benchUnit struct {
	ID  string
	HP  int32
	Pos [3]float32
}

var benchNumberArgs = []any{
	[]int{101, 102, 103, 2000, 2001, 2002, 30000, 30001, 40, 41, 42, 43, 500000, 500001, 6, 7},
	[3]float32{12.5, 0, -340.25},
	map[string]int{"gold": 12000, "wood": 340, "stone": 99, "xp": 1234567},
	benchUnit{ID: "AbCdEfGh-_012345", HP: 870, Pos: [3]float32{1.5, 2, 3.25}},
}

var benchNumberTypes = []reflect.Type{reflect.TypeFor[[]int](), reflect.TypeFor[[3]float32](),
	reflect.TypeFor[map[string]int](), reflect.TypeFor[benchUnit]()}

// BenchmarkDecodeArgsNumbers decodes benchNumberArgs (32 numbers) into
// their parameter types.
func BenchmarkDecodeArgsNumbers(b *testing.B) {
	data, err := AppendArgs(nil, benchNumberArgs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		vals, err := DecodeArgs(data, benchNumberTypes)
		if err != nil || vals[0].Len() != 16 {
			b.Fatal(err)
		}
	}
}
