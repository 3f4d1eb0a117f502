package rpc

import "encoding/binary"

// The KCP handshake (docs/protocol.md, section 3.2). Before it opens a KCP
// session, a client sends a hello datagram to the gate's UDP port; the gate
// answers with a cookie, a keyed MAC of the client's address and the time,
// and the client uses the cookie as its KCP conversation ID. The gate lets
// a datagram from an address it does not know reach KCP only if its
// conversation ID is a valid cookie for that address, so a sender that
// cannot receive at the address it claims (a spoofer) cannot open a
// session, and a datagram from a known address with another conversation
// ID never replaces that address's session.
//
// Both datagrams begin with a conversation ID of 0, which no cookie is, so
// they never look like a KCP segment of a session.
const (
	// KCPHandshakeVersion is the version of the handshake this package
	// speaks.
	KCPHandshakeVersion = 1
	// KCPHelloSize is the size of a hello. It is larger than the answer,
	// so that the gate never sends more bytes than it received: the
	// handshake cannot amplify a flood sent with a victim's address.
	KCPHelloSize = 32
	// KCPCookieSize is the size of the gate's answer.
	KCPCookieSize = 24
)

// Status values of a KCP cookie answer.
const (
	// KCPCookieOK: the cookie is the conversation ID to use.
	KCPCookieOK = 0
	// KCPCookieBadVersion: the gate does not speak the hello's version;
	// the answer's version is the one it speaks, and its cookie is 0.
	KCPCookieBadVersion = 1
)

var (
	kcpHelloMagic  = [4]byte{'G', 'W', 'K', 'H'}
	kcpCookieMagic = [4]byte{'G', 'W', 'K', 'C'}
)

// AppendKCPHello appends a hello of KCPHandshakeVersion carrying the
// client's random nonce, which the answer echoes:
//
//	u32 0 | "GWKH" | u8 version | 3 zero bytes | u64 nonce | 12 zero bytes
func AppendKCPHello(dst []byte, nonce uint64) []byte {
	return appendKCPHello(dst, KCPHandshakeVersion, nonce)
}

func appendKCPHello(dst []byte, version uint8, nonce uint64) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = append(dst, kcpHelloMagic[:]...)
	dst = append(dst, version, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, nonce)
	return append(dst, make([]byte, KCPHelloSize-20)...)
}

// ParseKCPHello reports whether p is a hello (of any version: the version
// is returned for the caller to check) and returns its nonce. A hello is
// at least KCPHelloSize bytes; bytes after its fields are ignored.
func ParseKCPHello(p []byte) (version uint8, nonce uint64, ok bool) {
	if len(p) < KCPHelloSize || binary.LittleEndian.Uint32(p) != 0 || [4]byte(p[4:8]) != kcpHelloMagic {
		return 0, 0, false
	}
	return p[8], binary.LittleEndian.Uint64(p[12:]), true
}

// AppendKCPCookie appends the gate's answer to a hello: the version the
// gate speaks, a status (KCPCookieOK or KCPCookieBadVersion), the hello's
// nonce and the cookie:
//
//	u32 0 | "GWKC" | u8 version | u8 status | 2 zero bytes | u64 nonce | u32 cookie
func AppendKCPCookie(dst []byte, status uint8, nonce uint64, cookie uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = append(dst, kcpCookieMagic[:]...)
	dst = append(dst, KCPHandshakeVersion, status, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, nonce)
	return binary.LittleEndian.AppendUint32(dst, cookie)
}

// KCPCookie is a decoded answer to a hello.
type KCPCookie struct {
	Version uint8  // the handshake version the gate speaks
	Status  uint8  // KCPCookieOK or KCPCookieBadVersion (others: unknown)
	Nonce   uint64 // the nonce of the hello it answers
	Cookie  uint32 // the conversation ID to use (0 unless Status is KCPCookieOK)
}

// ParseKCPCookie decodes the gate's answer to a hello. ok is false for
// anything else (a KCP segment, a datagram of the wrong size).
func ParseKCPCookie(p []byte) (c KCPCookie, ok bool) {
	if len(p) != KCPCookieSize || binary.LittleEndian.Uint32(p) != 0 || [4]byte(p[4:8]) != kcpCookieMagic {
		return KCPCookie{}, false
	}
	return KCPCookie{
		Version: p[8], Status: p[9],
		Nonce:  binary.LittleEndian.Uint64(p[12:]),
		Cookie: binary.LittleEndian.Uint32(p[20:]),
	}, true
}
