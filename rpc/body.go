package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/goworld-engine/goworld/internal/clip"
)

// ErrShortBody is returned when a body ends before all its fields.
var ErrShortBody = errors.New("rpc: body too short")

// ErrBadEntityID is returned for an entity ID field that is neither all
// zeros nor a valid EntityID.
var ErrBadEntityID = errors.New("rpc: malformed entity ID")

var zeroEntityID [EntityIDLength]byte

// AppendEntityID appends id as its fixed 16 bytes (zeros for the empty ID).
func AppendEntityID(dst []byte, id EntityID) []byte {
	if id == "" {
		return append(dst, zeroEntityID[:]...)
	}
	if len(id) != EntityIDLength {
		panic(fmt.Sprintf("rpc: entity ID %q is not %d bytes", string(id), EntityIDLength))
	}
	return append(dst, id...)
}

// AppendUint8 appends v.
func AppendUint8(dst []byte, v uint8) []byte { return append(dst, v) }

// AppendUint16 appends v little-endian.
func AppendUint16(dst []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(dst, v) }

// AppendUint64 appends v little-endian.
func AppendUint64(dst []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(dst, v) }

// MaxStringLen is the longest string a string field (uint16 length) can
// carry.
const MaxStringLen = math.MaxUint16

// MaxMethodNameLen bounds method names: a gate refuses a client's call
// whose method name is longer (a protocol error), and an entity type
// cannot register a method, or a type name, longer than this.
const MaxMethodNameLen = 256

// MaxFilterPropLen bounds the key and the value of a client filter
// property (Entity.SetClientFilterProp) and of a filtered broadcast; a
// game refuses longer ones, and a gate ignores them.
const MaxFilterPropLen = 256

// AppendString appends s as a uint16 length followed by its bytes. It
// never fails: a string longer than MaxStringLen bytes is cut to at most
// that many, on a UTF-8 character boundary (so that valid UTF-8 stays
// valid). Fields that hold what a client sent are bounded long before
// this; a cut here only keeps a server from dying of a string it built.
func AppendString(dst []byte, s string) []byte {
	s = clip.Prefix(s, MaxStringLen)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// Reader decodes the fields of a body in order. The first error sticks:
// later reads return zero values, and Err reports it, so a decoder can read
// every field and check once.
type Reader struct {
	b   []byte
	off int
	err error
}

// NewReader returns a Reader over body.
func NewReader(body []byte) *Reader { return &Reader{b: body} }

// Reset makes r read body from the start and clears its error.
func (r *Reader) Reset(body []byte) { *r = Reader{b: body} }

// Err returns the first error met, if any.
func (r *Reader) Err() error { return r.err }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = ErrShortBody
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	p := r.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// Uint16 reads a little-endian uint16.
func (r *Reader) Uint16() uint16 {
	p := r.take(2)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(p)
}

// Uint64 reads a little-endian uint64.
func (r *Reader) Uint64() uint64 {
	p := r.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// EntityID reads a 16-byte entity ID; all zeros decode as the empty ID.
func (r *Reader) EntityID() EntityID {
	p := r.take(EntityIDLength)
	if p == nil {
		return ""
	}
	if [EntityIDLength]byte(p) == zeroEntityID {
		return ""
	}
	id := EntityID(p)
	if !id.Valid() {
		r.err = ErrBadEntityID
		return ""
	}
	return id
}

// String reads a uint16-length-prefixed string.
func (r *Reader) String() string {
	n := int(r.Uint16())
	p := r.take(n)
	if p == nil {
		return ""
	}
	return string(p)
}

// Rest returns the unread remainder of the body (without copying).
func (r *Reader) Rest() []byte {
	if r.err != nil {
		return nil
	}
	p := r.b[r.off:]
	r.off = len(r.b)
	return p
}

// PeekEntityID returns the entity ID at offset 0 of body without
// validating its characters (the routing field of entity-routed messages).
// The dispatcher itself indexes its table with the bytes directly, which
// does not allocate a string.
func PeekEntityID(body []byte) (EntityID, bool) {
	if len(body) < EntityIDLength {
		return "", false
	}
	if [EntityIDLength]byte(body[:EntityIDLength]) == zeroEntityID {
		return "", true
	}
	return EntityID(body[:EntityIDLength]), true
}

// PeekGateID returns the gate ID at offset 0 of body.
func PeekGateID(body []byte) (GateID, bool) {
	if len(body) < 2 {
		return 0, false
	}
	return GateID(binary.LittleEndian.Uint16(body)), true
}
