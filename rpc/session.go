package rpc

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Resumable sessions (docs/protocol.md, section 8.1).
//
// A client that says HelloResume in its MsgClientHello gets a MsgSession
// with a token. From then on both sides count the session frames
// (IsSessionFrame) they send and receive, the n-th of a direction being
// number n, and keep what they sent until the other side acknowledges it
// (MsgAck). After an unexpected disconnect the gate holds the session for
// its resume window; a new connection whose first frame is MsgResume
// with the token takes it up: the gate answers MsgResumed with a new
// token and what it has received, and each side resends what the other
// has not received. The transports are reliable and ordered, so counting
// frames numbers them: no frame carries a sequence number.

// HelloResume is the MsgClientHello flag of a client that wants a
// resumable session: it counts session frames, acknowledges them with
// MsgAck and can resume with MsgResume.
const HelloResume uint8 = 1

// ResumeTokenLength is the size of a session's resume token. Clients
// treat it as opaque bytes; a gate puts in it what it needs to find the
// session and an unguessable secret.
const ResumeTokenLength = 32

// ResumeToken is a session's resume token.
type ResumeToken [ResumeTokenLength]byte

// Body sizes of the session messages.
const (
	resumeSize  = 2 + 1 + ResumeTokenLength + 8 // version | flags | token | received
	ackSize     = 8                             // received
	sessionSize = ResumeTokenLength + 4 + 4     // token | window ms | limit bytes
	resumedSize = ResumeTokenLength + 8         // token | received
)

// IsSessionFrame reports whether frames of type t are numbered in a
// resumable session (counted, kept until acknowledged, resent after a
// resume): the client's calls, positions and requests, and every frame
// the gate sends to a client but the control frames (heartbeats, acks,
// the session's own messages, MsgKick and MsgBye).
func IsSessionFrame(t MsgType) bool {
	switch t {
	case MsgCallEntity, MsgSyncPosition, MsgRequest,
		MsgCreateEntity, MsgDestroyEntity, MsgCallClient, MsgAttrChange,
		MsgEnterSpace, MsgPositions, MsgReply:
		return true
	}
	return false
}

// AppendClientHelloFlags appends the body of a MsgClientHello for version
// with flags (HelloResume).
func AppendClientHelloFlags(b []byte, version uint16, flags uint8) []byte {
	return append(AppendUint16(b, version), flags)
}

// DecodeClientHelloFlags decodes a MsgClientHello body: its version and
// flags (0 when the body has no flags byte: a client that asks for
// nothing). Bytes after them are ignored.
func DecodeClientHelloFlags(body []byte) (version uint16, flags uint8, err error) {
	version, err = DecodeClientHello(body)
	if err == nil && len(body) > 2 {
		flags = body[2]
	}
	return version, flags, err
}

// Resume is the body of a MsgResume.
type Resume struct {
	Version  uint16
	Flags    uint8
	Token    ResumeToken
	Received uint64 // session frames the client has received from the gate
}

// AppendResume appends the body of a MsgResume.
func AppendResume(b []byte, r Resume) []byte {
	b = append(AppendUint16(b, r.Version), r.Flags)
	b = append(b, r.Token[:]...)
	return binary.LittleEndian.AppendUint64(b, r.Received)
}

// DecodeResume decodes a MsgResume body. It must hold every field; bytes
// after them are ignored (later versions may add fields).
func DecodeResume(body []byte) (Resume, error) {
	var r Resume
	if len(body) < resumeSize {
		return r, fmt.Errorf("rpc: Resume of %d bytes, want at least %d", len(body), resumeSize)
	}
	r.Version = binary.LittleEndian.Uint16(body)
	r.Flags = body[2]
	copy(r.Token[:], body[3:])
	r.Received = binary.LittleEndian.Uint64(body[3+ResumeTokenLength:])
	return r, nil
}

// AppendAck appends the body of a MsgAck: received session frames.
func AppendAck(b []byte, received uint64) []byte {
	return binary.LittleEndian.AppendUint64(b, received)
}

// DecodeAck decodes a MsgAck body, which must be exactly 8 bytes.
func DecodeAck(body []byte) (uint64, error) {
	if len(body) != ackSize {
		return 0, fmt.Errorf("rpc: Ack of %d bytes, want %d", len(body), ackSize)
	}
	return binary.LittleEndian.Uint64(body), nil
}

// Session is the body of a MsgSession.
type Session struct {
	Token  ResumeToken
	Window time.Duration // how long the gate holds the session after an unexpected disconnect (ms on the wire)
	Limit  int           // bytes of session frames the gate holds for the client (unacknowledged, or while it is away)
}

// AppendSession appends the body of a MsgSession; the window is sent in
// whole milliseconds and both numbers saturate at the u32 range.
func AppendSession(b []byte, s Session) []byte {
	b = append(b, s.Token[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(min(max(s.Window.Milliseconds(), 0), int64(^uint32(0)))))
	return binary.LittleEndian.AppendUint32(b, uint32(min(max(int64(s.Limit), 0), int64(^uint32(0)))))
}

// DecodeSession decodes a MsgSession body. It must hold every field;
// bytes after them are ignored.
func DecodeSession(body []byte) (Session, error) {
	var s Session
	if len(body) < sessionSize {
		return s, fmt.Errorf("rpc: Session of %d bytes, want at least %d", len(body), sessionSize)
	}
	copy(s.Token[:], body)
	s.Window = time.Duration(binary.LittleEndian.Uint32(body[ResumeTokenLength:])) * time.Millisecond
	s.Limit = int(binary.LittleEndian.Uint32(body[ResumeTokenLength+4:]))
	return s, nil
}

// Resumed is the body of a MsgResumed.
type Resumed struct {
	Token    ResumeToken // the session's new token
	Received uint64      // session frames the gate has received from the client
}

// AppendResumed appends the body of a MsgResumed.
func AppendResumed(b []byte, r Resumed) []byte {
	b = append(b, r.Token[:]...)
	return binary.LittleEndian.AppendUint64(b, r.Received)
}

// DecodeResumed decodes a MsgResumed body. It must hold every field;
// bytes after them are ignored.
func DecodeResumed(body []byte) (Resumed, error) {
	var r Resumed
	if len(body) < resumedSize {
		return r, fmt.Errorf("rpc: Resumed of %d bytes, want at least %d", len(body), resumedSize)
	}
	copy(r.Token[:], body)
	r.Received = binary.LittleEndian.Uint64(body[ResumeTokenLength:])
	return r, nil
}
