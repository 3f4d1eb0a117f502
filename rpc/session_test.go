package rpc

import (
	"bytes"
	"testing"
	"time"
)

func sampleToken() ResumeToken {
	var t ResumeToken
	for i := range t {
		t[i] = byte(i*7 + 1)
	}
	return t
}

// TestSessionMessagesRoundTrip checks each session message's encoding
// against its decoder and its documented size, and that short bodies are
// refused.
func TestSessionMessagesRoundTrip(t *testing.T) {
	tok := sampleToken()
	r := Resume{Version: ProtocolVersion, Flags: HelloResume, Token: tok, Received: 1<<40 + 5}
	b := AppendResume(nil, r)
	if len(b) != 43 {
		t.Fatalf("Resume body of %d bytes, want 43", len(b))
	}
	if got, err := DecodeResume(b); err != nil || got != r {
		t.Fatalf("Resume: %+v, %v; want %+v", got, err, r)
	}
	if _, err := DecodeResume(b[:42]); err == nil {
		t.Fatal("a 42-byte Resume decoded")
	}
	if n, err := DecodeAck(AppendAck(nil, 77)); err != nil || n != 77 {
		t.Fatalf("Ack: %d, %v", n, err)
	}
	for _, l := range []int{0, 7, 9} {
		if _, err := DecodeAck(make([]byte, l)); err == nil {
			t.Fatalf("an Ack of %d bytes decoded", l)
		}
	}
	s := Session{Token: tok, Window: 60 * time.Second, Limit: 1 << 20}
	b = AppendSession(nil, s)
	if len(b) != 40 {
		t.Fatalf("Session body of %d bytes, want 40", len(b))
	}
	if got, err := DecodeSession(b); err != nil || got != s {
		t.Fatalf("Session: %+v, %v; want %+v", got, err, s)
	}
	if got, _ := DecodeSession(AppendSession(nil, Session{Window: 2000 * time.Hour, Limit: -1})); got.Window != time.Duration(^uint32(0))*time.Millisecond || got.Limit != 0 {
		t.Fatalf("Session does not saturate: %+v", got)
	}
	rd := Resumed{Token: tok, Received: 9}
	b = AppendResumed(nil, rd)
	if got, err := DecodeResumed(b); err != nil || got != rd || len(b) != 40 {
		t.Fatalf("Resumed: %+v, %v (%d bytes)", got, err, len(b))
	}
	if _, err := DecodeResumed(b[:39]); err == nil {
		t.Fatal("a 39-byte Resumed decoded")
	}
	v, f, err := DecodeClientHelloFlags(AppendClientHelloFlags(nil, 1, HelloResume))
	if err != nil || v != 1 || f != HelloResume {
		t.Fatalf("hello flags: %d %d %v", v, f, err)
	}
	if _, f, _ := DecodeClientHelloFlags(AppendClientHello(nil, 1)); f != 0 {
		t.Fatalf("a hello without flags has flags %d", f)
	}
}

// TestSessionFrames pins which client protocol frames a session numbers.
func TestSessionFrames(t *testing.T) {
	want := map[MsgType]bool{
		MsgCallEntity: true, MsgSyncPosition: true, MsgRequest: true, MsgCreateEntity: true,
		MsgDestroyEntity: true, MsgCallClient: true, MsgAttrChange: true, MsgEnterSpace: true,
		MsgPositions: true, MsgReply: true,
	}
	for typ := MsgType(0); typ < 1000; typ++ {
		if IsSessionFrame(typ) != want[typ] {
			t.Errorf("IsSessionFrame(%v) = %v", typ, !want[typ])
		}
	}
}

// FuzzSessionMessages decodes arbitrary bytes as each session message:
// never a panic, and what decodes re-encodes to the same leading bytes.
func FuzzSessionMessages(f *testing.F) {
	tok := sampleToken()
	for _, seed := range [][]byte{
		nil, {1}, make([]byte, 8), make([]byte, 40), make([]byte, 43),
		AppendResume(nil, Resume{Version: 1, Flags: 1, Token: tok, Received: 3}),
		AppendSession(nil, Session{Token: tok, Window: time.Minute, Limit: 1 << 20}),
		AppendResumed(nil, Resumed{Token: tok, Received: 1}),
		AppendAck(nil, 1<<63),
		AppendClientHelloFlags(nil, 1, 1),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeResume(b); err == nil && !bytes.Equal(AppendResume(nil, r), b[:43]) {
			t.Fatalf("resume %x decodes to %+v", b, r)
		}
		if n, err := DecodeAck(b); err == nil && !bytes.Equal(AppendAck(nil, n), b) {
			t.Fatalf("ack %x decodes to %d", b, n)
		}
		if s, err := DecodeSession(b); err == nil && !bytes.Equal(AppendSession(nil, s), b[:40]) {
			t.Fatalf("session %x decodes to %+v", b, s)
		}
		if r, err := DecodeResumed(b); err == nil && !bytes.Equal(AppendResumed(nil, r), b[:40]) {
			t.Fatalf("resumed %x decodes to %+v", b, r)
		}
		v, fl, err := DecodeClientHelloFlags(b)
		if (err == nil) != (len(b) >= 2) || err == nil && len(b) > 2 && !bytes.Equal(AppendClientHelloFlags(nil, v, fl), b[:3]) {
			t.Fatalf("hello %x: %d %d %v", b, v, fl, err)
		}
	})
}
