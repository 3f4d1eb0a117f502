package rpc

// Call arguments travel as one msgpack array. This file holds what the
// encoder and the decoders share: the bounds and the pooled decoder. The
// rest is split by direction:
//
//	args_encode.go  AppendArgs, AppendValue
//	args_typed.go   DecodeArgs, DecodeClientArgs: into Go parameter types
//	args_any.go     DecodeAny, DecodeAnyArgs: into plain Go values
//	args_check.go   CheckValue (before sending), CheckParamType (at registration)

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// MaxArgDepth bounds the nesting of arrays and maps in decoded arguments,
// so a hostile frame of nested one-byte arrays cannot exhaust the stack.
const MaxArgDepth = 32

// argDepth is the depth at which the decoders meet an argument: inside the
// argument array, which is at depth 0.
const argDepth = 1

// ErrArgs is wrapped by every argument conversion error.
var ErrArgs = errors.New("rpc: bad arguments")

// ErrStringTooLong is wrapped (with ErrArgs) by the error of
// DecodeClientArgs for a string over its limit.
var ErrStringTooLong = errors.New("string too long")

var errTooDeep = fmt.Errorf("nesting deeper than %d", MaxArgDepth)

var decPool = sync.Pool{New: func() any { return &argDecoder{dec: msgpack.NewDecoder(nil)} }}

type argDecoder struct {
	// data is what r reads: a string is cut from it directly, with one
	// copy (the msgpack decoder reads r itself, unbuffered, since a
	// bytes.Reader is an io.ByteScanner).
	data []byte
	r    bytes.Reader
	dec  *msgpack.Decoder
	// maxStr, if > 0, bounds every msgpack string (values and map keys)
	// that the decoder keeps, and every bin it makes a Go string of; not
	// binary values kept as bytes (DecodeClientArgs).
	maxStr int
}

func getDecoder(data []byte) *argDecoder {
	d := decPool.Get().(*argDecoder)
	d.data = data
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	return d
}

func putDecoder(d *argDecoder) {
	d.maxStr = 0
	d.data = nil
	d.r.Reset(nil)
	d.dec.Reset(&d.r)
	decPool.Put(d)
}

// checkLen refuses container lengths larger than the bytes left: every
// element takes at least one byte, so this bounds allocation by input size.
func checkLen(d *argDecoder, n int) error {
	if n > d.r.Len() {
		return fmt.Errorf("length %d exceeds the %d bytes left", n, d.r.Len())
	}
	return nil
}

// next returns the next n bytes of the input, which checkLen has allowed,
// and moves past them. They are the caller's only to copy.
func (d *argDecoder) next(n int) []byte {
	off := len(d.data) - d.r.Len()
	_, _ = d.r.Seek(int64(n), io.SeekCurrent) // within the input: checked
	return d.data[off : off+n : off+n]
}

// readRaw reads a msgpack str or bin (its code c peeked) and returns its
// bytes in the input, for the caller to copy; nil only for a nil length,
// which no str or bin code has. A str over maxStr is refused.
func readRaw(d *argDecoder, c byte) ([]byte, error) {
	return readRawBounded(d, msgpcode.IsString(c))
}

// readRawBounded is readRaw, refusing a str or bin over maxStr if
// bounded (its declared length, before the bytes are counted): a bin
// read into a Go string is bounded as a str is.
func readRawBounded(d *argDecoder, bounded bool) ([]byte, error) {
	n, err := d.dec.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	if bounded && d.maxStr > 0 && n > d.maxStr {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrStringTooLong, n, d.maxStr)
	}
	if n < 0 {
		return nil, nil
	}
	if err := checkLen(d, n); err != nil {
		return nil, err
	}
	return d.next(n), nil
}

// readString reads a msgpack str (its code c peeked) as a Go string,
// refusing one over maxStr.
func readString(d *argDecoder, c byte) (string, error) {
	raw, err := readRaw(d, c)
	return string(raw), err
}

// readBin reads a msgpack bin (its code c peeked) as a new byte slice,
// empty but not nil for an empty bin.
func readBin(d *argDecoder, c byte) ([]byte, error) {
	raw, err := readRaw(d, c)
	return copyBytes(raw), err
}

// copyBytes is a copy of b, nil for nil.
func copyBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func isIntCode(c byte) bool {
	switch c {
	case msgpcode.Int8, msgpcode.Int16, msgpcode.Int32, msgpcode.Int64,
		msgpcode.Uint8, msgpcode.Uint16, msgpcode.Uint32, msgpcode.Uint64:
		return true
	}
	return msgpcode.IsFixedNum(c)
}

func isArrayCode(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

func isMapCode(c byte) bool {
	return msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
}

// readInt reads an integer (isIntCode(c), c peeked) without boxing it: as
// i if it fits an int64, else as u with big set (a uint64 above 2^63-1).
func readInt(d *argDecoder, c byte) (i int64, u uint64, big bool, err error) {
	if c != msgpcode.Uint64 {
		i, err = d.dec.DecodeInt64()
		return i, 0, false, err
	}
	if u, err = d.dec.DecodeUint64(); err != nil || u > math.MaxInt64 {
		return 0, u, err == nil, err
	}
	return int64(u), 0, false, nil
}

// skipValue skips one msgpack value within the bounds decodeAny keeps:
// nesting at most MaxArgDepth, no declared length beyond the bytes left.
// (msgpack's Decoder.Skip has neither bound, and grows the decoder's
// buffer to any declared string length.)
func skipValue(d *argDecoder, depth int) error {
	if depth > MaxArgDepth {
		return errTooDeep
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	var n int
	switch {
	case isArrayCode(c):
		if n, err = d.dec.DecodeArrayLen(); err != nil {
			return err
		}
	case isMapCode(c):
		if n, err = d.dec.DecodeMapLen(); err != nil {
			return err
		}
		if err := checkLen(d, n); err != nil {
			return err
		}
		n *= 2 // keys and values
	case msgpcode.IsString(c) || msgpcode.IsBin(c) || msgpcode.IsExt(c):
		return skipBytes(d, c)
	default:
		return d.dec.Skip() // nil, bool, numbers: at most 8 bytes
	}
	if err := checkLen(d, n); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := skipValue(d, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// skipBytes skips a str, bin or ext (its code c peeked).
func skipBytes(d *argDecoder, c byte) error {
	var n int
	var err error
	if msgpcode.IsExt(c) {
		_, n, err = d.dec.DecodeExtHeader()
	} else {
		n, err = d.dec.DecodeBytesLen()
	}
	if err != nil {
		return err
	}
	if err := checkLen(d, n); err != nil {
		return err
	}
	_, err = d.r.Seek(int64(n), io.SeekCurrent)
	return err
}
