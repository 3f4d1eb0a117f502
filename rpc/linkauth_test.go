package rpc

import (
	"errors"
	"strings"
	"testing"
)

var (
	secretA = []byte("cluster A's secret, 32 bytes....")
	secretB = []byte("cluster B's secret, 32 bytes....")
)

func TestHelloEncoding(t *testing.T) {
	plain := Hello{Role: RoleGame, ID: 513, Instance: 0x0102030405060708}
	auth := plain
	auth.Auth, auth.Nonce = AuthV1, NewNonce()
	for _, h := range []Hello{plain, auth, {Role: RoleGate, ID: 1}} {
		got, err := DecodeHello(AppendHello(nil, h))
		if err != nil || got != h {
			t.Fatalf("round trip of %+v: %+v, %v", h, got, err)
		}
	}
	// The oldest form: role and ID only.
	if h, err := DecodeHello([]byte{byte(RoleGate), 7, 0}); err != nil || h.Role != RoleGate || h.ID != 7 || h.Auth != 0 {
		t.Fatalf("3-byte hello: %+v, %v", h, err)
	}
	full := AppendHello(nil, auth)
	for n := 0; n < len(full)+2; n++ {
		if n == 3 || n == helloPlainSize || n == helloAuthSize {
			continue
		}
		b := append(full[:n:n], make([]byte, max(0, n-len(full)))...)
		if _, err := DecodeHello(b); !errors.Is(err, ErrBadHello) {
			t.Errorf("%d-byte hello: %v, want ErrBadHello", n, err)
		}
	}
	v2 := append(AppendHello(nil, plain), 2)
	if _, err := DecodeHello(append(v2, make([]byte, NonceSize)...)); !errors.Is(err, ErrAuthVersion) {
		t.Fatalf("version 2: %v, want ErrAuthVersion", err)
	}
	if _, err := DecodeHello(v2); !errors.Is(err, ErrAuthVersion) {
		t.Fatalf("version 2 without a nonce: %v, want ErrAuthVersion", err)
	}
}

// Each proof binds the side, both nonces and both identities: changing
// any of them changes it, and a peer's proof is not a dispatcher's.
func TestProofsBindTheTranscript(t *testing.T) {
	h := Hello{Role: RoleGame, ID: 2, Instance: 5, Auth: AuthV1, Nonce: NewNonce()}
	c := Challenge{DispatcherID: 1, Instance: 9, Nonce: NewNonce()}
	p := PeerProof(secretA, h, c)
	if !CheckProof(p[:], PeerProof(secretA, h, c)) {
		t.Fatal("a proof does not check against itself")
	}
	if CheckProof(p[:], DispatcherProof(secretA, h, c)) {
		t.Fatal("a peer's proof checks as the dispatcher's")
	}
	if CheckProof(p[:], PeerProof(secretB, h, c)) {
		t.Fatal("a proof checks with another secret")
	}
	for name, f := range map[string]func(*Hello, *Challenge){
		"role": func(h *Hello, _ *Challenge) { h.Role = RoleGate }, "id": func(h *Hello, _ *Challenge) { h.ID++ },
		"instance before":  func(h *Hello, _ *Challenge) { h.Instance++ },
		"peer nonce":       func(h *Hello, _ *Challenge) { h.Nonce[31]++ },
		"dispatcher id":    func(_ *Hello, c *Challenge) { c.DispatcherID++ },
		"instance":         func(_ *Hello, c *Challenge) { c.Instance++ },
		"dispatcher nonce": func(_ *Hello, c *Challenge) { c.Nonce[0]++ },
	} {
		h2, c2 := h, c
		f(&h2, &c2)
		if CheckProof(p[:], PeerProof(secretA, h2, c2)) {
			t.Errorf("changing the %s keeps the proof valid", name)
		}
	}
	if CheckProof(p[:31], PeerProof(secretA, h, c)) || CheckProof(nil, PeerProof(secretA, h, c)) {
		t.Fatal("a short proof checks")
	}
}

func TestRefusalEncoding(t *testing.T) {
	code, reason := DecodeRefusal(AppendRefusal(nil, RefusedBadProof, "wrong cluster secret"))
	if code != RefusedBadProof || reason != "wrong cluster secret" {
		t.Fatalf("%v %q", code, reason)
	}
	// A long or hostile reason (from whatever answered on the port) is
	// cut and escaped before it reaches a log line.
	code, reason = DecodeRefusal(AppendString([]byte{99}, strings.Repeat("\x1b[2J\n", 1000)))
	if code.String() != "code_99" || len(reason) > 4*MaxRefusalReason || strings.ContainsAny(reason, "\x1b\n") {
		t.Fatalf("%v %q", code, reason)
	}
	if _, reason = DecodeRefusal([]byte{1, 200}); reason != "(unreadable reason)" {
		t.Fatalf("truncated refusal: %q", reason)
	}
	if len(AppendRefusal(nil, 1, strings.Repeat("x", 1000))) != 3+MaxRefusalReason {
		t.Fatal("AppendRefusal does not cut the reason")
	}
	if err := CheckSecret([]byte("short")); err == nil {
		t.Fatal("a 5-byte secret accepted")
	}
	if err := CheckSecret(secretA); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPeerProof is one HMAC-SHA256 of the handshake's transcript:
// each side computes two per connection.
func BenchmarkPeerProof(b *testing.B) {
	h := Hello{Role: RoleGame, ID: 2, Instance: 5, Auth: AuthV1, Nonce: NewNonce()}
	c := Challenge{DispatcherID: 1, Instance: 9, Nonce: NewNonce()}
	b.ReportAllocs()
	for range b.N {
		PeerProof(secretA, h, c)
	}
}
