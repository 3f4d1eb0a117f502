package rpc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
)

// Link authentication: when the cluster has a secret, the hello between a
// game or gate and a dispatcher is a mutual challenge–response (see
// docs/protocol.md, section 15):
//
//	peer → dispatcher  MsgHello          role | id | instance | AuthV1 | peer nonce[32]
//	dispatcher → peer  MsgAuthChallenge  dispatcherID | instance | dispatcher nonce[32]
//	peer → dispatcher  MsgAuthProof      HMAC-SHA256(secret, "peer" transcript)[32]
//	dispatcher → peer  MsgHelloAck       dispatcherID | instance | HMAC-SHA256(secret, "dispatcher" transcript)[32]
//
// Either side that finds something wrong closes; a dispatcher first says
// why in MsgHelloRefused. The secret never crosses the wire, both nonces
// are fresh random bytes, so a recorded handshake proves nothing on a
// later connection, and each proof covers who says it (the label), both
// nonces and both identities. Frames after the handshake are unchanged:
// authentication costs nothing per message.

// Sizes and limits of link authentication.
const (
	// AuthV1 is the hello's auth byte for HMAC-SHA256 challenge–response.
	AuthV1 = 1
	// NonceSize is the size of each side's random nonce.
	NonceSize = 32
	// MACSize is the size of a proof (HMAC-SHA256).
	MACSize = sha256.Size
	// MinSecretSize is the shortest cluster secret accepted, in bytes.
	MinSecretSize = 16
	// MaxSecretSize is the longest cluster secret accepted, in bytes.
	MaxSecretSize = 4096
	// MaxRefusalReason bounds the reason of a MsgHelloRefused, in bytes,
	// both when it is sent and when it is read.
	MaxRefusalReason = 256
)

// helloPlainSize and helloAuthSize are the sizes of a MsgHello body
// without and with authentication (an older peer may send just role and
// ID: 3 bytes).
const (
	helloPlainSize = 11
	helloAuthSize  = helloPlainSize + 1 + NonceSize
)

// Hello is the body of MsgHello.
type Hello struct {
	Role Role
	ID   uint16
	// Instance is the dispatcher instance the peer was connected to
	// before (0: none).
	Instance uint64
	// Auth is 0 for a hello without authentication, AuthV1 with it.
	Auth  uint8
	Nonce [NonceSize]byte // the peer's nonce (Auth != 0)
}

// AppendHello appends h's encoding to b.
func AppendHello(b []byte, h Hello) []byte {
	b = AppendUint64(AppendUint16(append(b, byte(h.Role)), h.ID), h.Instance)
	if h.Auth != 0 {
		b = append(append(b, h.Auth), h.Nonce[:]...)
	}
	return b
}

// ErrBadHello is the error of DecodeHello for a body of no known layout.
var ErrBadHello = errors.New("rpc: malformed hello")

// ErrAuthVersion is the error of DecodeHello for a hello that asks for
// an authentication this version does not know.
var ErrAuthVersion = errors.New("rpc: unknown link authentication version in hello")

// DecodeHello decodes a MsgHello body: role u8 | id u16 (3 bytes, the
// oldest form), then instance u64 (11 bytes), then auth u8 | nonce[32]
// (44 bytes, AuthV1). It does not check the role or ID.
func DecodeHello(body []byte) (Hello, error) {
	var h Hello
	r := NewReader(body)
	h.Role, h.ID = Role(r.Uint8()), r.Uint16()
	switch {
	case len(body) == 3:
	case len(body) == helloPlainSize:
		h.Instance = r.Uint64()
	case len(body) > helloPlainSize:
		h.Instance = r.Uint64()
		h.Auth = r.Uint8()
		if h.Auth != AuthV1 {
			return h, fmt.Errorf("%w (%d)", ErrAuthVersion, h.Auth)
		}
		if len(body) != helloAuthSize {
			return h, ErrBadHello
		}
		copy(h.Nonce[:], body[helloPlainSize+1:])
	default:
		return h, ErrBadHello
	}
	if r.Err() != nil {
		return h, ErrBadHello
	}
	return h, nil
}

// Challenge is the body of MsgAuthChallenge (and, with the dispatcher's
// proof in place of the nonce, of an authenticated MsgHelloAck).
type Challenge struct {
	DispatcherID uint16
	Instance     uint64
	Nonce        [NonceSize]byte
}

// challengeSize is the size of a MsgAuthChallenge body and of an
// authenticated MsgHelloAck body.
const challengeSize = 2 + 8 + NonceSize

// AppendChallenge appends the body of a MsgAuthChallenge to b.
func AppendChallenge(b []byte, c Challenge) []byte {
	return append(AppendUint64(AppendUint16(b, c.DispatcherID), c.Instance), c.Nonce[:]...)
}

// DecodeChallenge decodes a MsgAuthChallenge body.
func DecodeChallenge(body []byte) (Challenge, error) {
	var c Challenge
	if len(body) != challengeSize {
		return c, fmt.Errorf("rpc: auth challenge of %d bytes, want %d", len(body), challengeSize)
	}
	r := NewReader(body)
	c.DispatcherID, c.Instance = r.Uint16(), r.Uint64()
	copy(c.Nonce[:], body[10:])
	return c, nil
}

// Proof labels: each side's MAC covers who it is, so that neither can be
// replayed as the other's.
const (
	proofPeer       = "peer"
	proofDispatcher = "dispatcher"
)

// AuthProof returns HMAC-SHA256(secret, transcript) for side (proofPeer or
// proofDispatcher): a fixed context string, the side, the hello's role,
// ID, instance and nonce, and the challenge's dispatcher ID, instance and
// nonce.
func authProof(secret []byte, side string, h Hello, c Challenge) [MACSize]byte {
	m := hmac.New(sha256.New, secret)
	b := make([]byte, 0, 128)
	b = append(b, "goworld link auth v1\x00"...)
	b = append(append(b, side...), 0)
	b = AppendHello(b, h)
	b = AppendChallenge(b, c)
	m.Write(b)
	var out [MACSize]byte
	m.Sum(out[:0])
	return out
}

// PeerProof is the proof a game or gate sends in MsgAuthProof.
func PeerProof(secret []byte, h Hello, c Challenge) [MACSize]byte {
	return authProof(secret, proofPeer, h, c)
}

// DispatcherProof is the proof a dispatcher appends to MsgHelloAck.
func DispatcherProof(secret []byte, h Hello, c Challenge) [MACSize]byte {
	return authProof(secret, proofDispatcher, h, c)
}

// CheckProof reports whether got equals want, in constant time.
func CheckProof(got []byte, want [MACSize]byte) bool { return hmac.Equal(got, want[:]) }

// CheckHelloAckProof reports whether body, an authenticated MsgHelloAck,
// answers the challenge ch with the proof want: the challenge's
// dispatcher ID and instance, then the dispatcher's proof.
func CheckHelloAckProof(body []byte, ch Challenge, want [MACSize]byte) bool {
	return len(body) == challengeSize && binary.LittleEndian.Uint16(body) == ch.DispatcherID &&
		binary.LittleEndian.Uint64(body[2:]) == ch.Instance && CheckProof(body[10:], want)
}

// NewNonce returns NonceSize random bytes.
func NewNonce() [NonceSize]byte {
	var n [NonceSize]byte
	rand.Read(n[:]) // never fails (crypto/rand, Go 1.24+)
	return n
}

// CheckSecret reports whether secret may serve as a cluster secret.
func CheckSecret(secret []byte) error {
	switch {
	case len(secret) < MinSecretSize:
		return fmt.Errorf("cluster secret of %d bytes is too short: at least %d (generate one with: openssl rand -base64 32)", len(secret), MinSecretSize)
	case len(secret) > MaxSecretSize:
		return fmt.Errorf("cluster secret of %d bytes is too long: at most %d", len(secret), MaxSecretSize)
	}
	return nil
}

// RefusalCode says why a dispatcher refused a hello, in MsgHelloRefused.
type RefusalCode uint8

// Refusal codes.
const (
	// RefusedBadHello: the hello could not be read (or came late).
	RefusedBadHello RefusalCode = 1
	// RefusedNoAuth: the dispatcher has a secret and the hello had no
	// authentication (a peer without a secret, or older than link auth).
	RefusedNoAuth RefusalCode = 2
	// RefusedBadProof: the peer's proof is wrong: it holds another secret.
	RefusedBadProof RefusalCode = 3
	// RefusedNoSecret: the peer offered authentication and the dispatcher
	// has no secret to check it with.
	RefusedNoSecret RefusalCode = 4
	// RefusedNotLoopback: the dispatcher has no secret and the peer is
	// not on its machine (a loopback address).
	RefusedNotLoopback RefusalCode = 5
	// RefusedAuthVersion: the hello asks for an authentication version
	// the dispatcher does not know.
	RefusedAuthVersion RefusalCode = 6
)

// refusalNames are the codes' names, as used in metrics labels.
var refusalNames = map[RefusalCode]string{
	RefusedBadHello: "bad_hello", RefusedNoAuth: "no_auth", RefusedBadProof: "bad_proof",
	RefusedNoSecret: "no_secret", RefusedNotLoopback: "not_loopback", RefusedAuthVersion: "auth_version",
}

// RefusalCodes lists every refusal code, in order (for metrics).
var RefusalCodes = []RefusalCode{RefusedBadHello, RefusedNoAuth, RefusedBadProof, RefusedNoSecret, RefusedNotLoopback, RefusedAuthVersion}

// String returns the code's name (a metrics label value) or its number.
func (c RefusalCode) String() string {
	if s, ok := refusalNames[c]; ok {
		return s
	}
	return "code_" + strconv.Itoa(int(c))
}

// AppendRefusal appends a MsgHelloRefused body: code u8 | reason str, the
// reason cut to MaxRefusalReason bytes.
func AppendRefusal(b []byte, code RefusalCode, reason string) []byte {
	if len(reason) > MaxRefusalReason {
		reason = reason[:MaxRefusalReason]
	}
	return AppendString(append(b, byte(code)), reason)
}

// DecodeRefusal decodes a MsgHelloRefused body. The reason comes from the
// other side: it is cut to MaxRefusalReason bytes and non-printable
// characters are escaped, so it may go into a log line as it is.
func DecodeRefusal(body []byte) (RefusalCode, string) {
	r := NewReader(body)
	code := RefusalCode(r.Uint8())
	reason := r.String()
	if r.Err() != nil {
		reason = "(unreadable reason)"
	}
	if len(reason) > MaxRefusalReason {
		reason = reason[:MaxRefusalReason]
	}
	q := strconv.QuoteToGraphic(reason)
	return code, q[1 : len(q)-1]
}

// RefusedError is the error of a Link whose dispatcher refused its hello,
// or whose dispatcher it refused (ByDispatcher false): the link keeps
// redialling with backoff, and logs each at error level.
type RefusedError struct {
	// ByDispatcher: the dispatcher refused us, with Code and Reason.
	ByDispatcher bool
	Code         RefusalCode
	Reason       string
}

func (e *RefusedError) Error() string {
	if e.ByDispatcher {
		return "dispatcher refused this process: " + e.Reason + " (" + e.Code.String() + ")"
	}
	return "refused the dispatcher: " + e.Reason
}

// LinkAuthStats counts the handshakes of links that failed on
// authentication; one may be shared by all of a process's links
// (link.Config.AuthStats).
type LinkAuthStats struct {
	// RefusedByDispatcher counts hellos a dispatcher refused
	// (MsgHelloRefused).
	RefusedByDispatcher atomic.Uint64
	// RefusedDispatcher counts dispatchers this side refused: they could
	// not prove the secret, or asked for one this side does not have.
	RefusedDispatcher atomic.Uint64
}
