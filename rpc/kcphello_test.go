package rpc

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// TestKCPHandshakeDatagrams: the hello and the answer round-trip, have
// the sizes of docs/protocol.md, the hello is never shorter than the
// answer, and neither parses as the other or from anything shorter or
// with another magic.
func TestKCPHandshakeDatagrams(t *testing.T) {
	if KCPHelloSize < KCPCookieSize {
		t.Fatalf("hello %d bytes, answer %d: the answer amplifies", KCPHelloSize, KCPCookieSize)
	}
	h := AppendKCPHello([]byte{9}, 0x0102030405060708)[1:]
	if len(h) != KCPHelloSize {
		t.Fatalf("hello of %d bytes", len(h))
	}
	v, n, ok := ParseKCPHello(h)
	if !ok || v != KCPHandshakeVersion || n != 0x0102030405060708 {
		t.Fatalf("ParseKCPHello = %d, %#x, %v", v, n, ok)
	}
	if _, _, ok := ParseKCPHello(append(h, 1, 2, 3)); !ok {
		t.Fatal("a hello with bytes after its fields is refused")
	}
	c := AppendKCPCookie(nil, KCPCookieOK, 0x0102030405060708, 0xdeadbeef)
	if len(c) != KCPCookieSize {
		t.Fatalf("answer of %d bytes", len(c))
	}
	got, ok := ParseKCPCookie(c)
	if want := (KCPCookie{KCPHandshakeVersion, KCPCookieOK, 0x0102030405060708, 0xdeadbeef}); !ok || got != want {
		t.Fatalf("ParseKCPCookie = %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range [][]byte{nil, h[:KCPHelloSize-1], c, append([]byte{1}, h[1:]...), append(append([]byte{}, h[:4]...), append([]byte("GWKX"), h[8:]...)...)} {
		if _, _, ok := ParseKCPHello(bad); ok {
			t.Errorf("ParseKCPHello(%x) accepted", bad)
		}
	}
	for _, bad := range [][]byte{nil, h, c[:KCPCookieSize-1], append(c, 0), append([]byte{1}, c[1:]...)} {
		if _, ok := ParseKCPCookie(bad); ok {
			t.Errorf("ParseKCPCookie(%x) accepted", bad)
		}
	}
}

// TestKCPHandshakeDocExamples checks the hello and the answer shown in
// docs/protocol.md (section 3.2, "As one line") against the encoders.
func TestKCPHandshakeDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		marker string
		want   []byte
	}{
		{"KCP hello, as one line: `", AppendKCPHello(nil, 0x1122334455667788)},
		{"KCP cookie answer, as one line: `", AppendKCPCookie(nil, KCPCookieOK, 0x1122334455667788, 0x9abcdef1)},
	} {
		_, rest, ok := strings.Cut(string(doc), tc.marker)
		if !ok {
			t.Fatalf("docs/protocol.md has no %q", tc.marker)
		}
		line, _, _ := strings.Cut(rest, "`")
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s: %v", tc.marker, err)
		}
		if !bytes.Equal(b, tc.want) {
			t.Errorf("%s\n doc: %x\nwant: %x", tc.marker, b, tc.want)
		}
	}
}
