package rpc

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// DecodeAnyArgs decodes a msgpack array into plain Go values (see DecodeAny).
func DecodeAnyArgs(data []byte) ([]any, error) {
	d := getDecoder(data)
	defer putDecoder(d)
	v, err := decodeAny(d, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrArgs, err)
	}
	if d.r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrArgs, d.r.Len())
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: not an argument array", ErrArgs)
	}
	return arr, nil
}

// DecodeAny decodes one msgpack value into plain Go values: nil, bool,
// int64 (every integer that fits), uint64 (larger ones), float64, string,
// []byte, []any and map[string]any (other key types are refused). It reads
// exactly one value and returns the number of bytes consumed.
func DecodeAny(data []byte) (any, int, error) {
	d := getDecoder(data)
	defer putDecoder(d)
	v, err := decodeAny(d, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrArgs, err)
	}
	return v, len(data) - d.r.Len(), nil
}

// decodeAny decodes one value at depth into a plain Go value, by the
// family of its msgpack code.
func decodeAny(d *argDecoder, depth int) (any, error) {
	if depth > MaxArgDepth {
		return nil, errTooDeep
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.dec.DecodeNil()
	case c == msgpcode.True, c == msgpcode.False:
		return d.dec.DecodeBool()
	case isIntCode(c):
		return decodeAnyInt(d, c)
	case c == msgpcode.Float, c == msgpcode.Double:
		return d.dec.DecodeFloat64()
	case msgpcode.IsString(c):
		return readString(d, c)
	case msgpcode.IsBin(c):
		return readBin(d, c)
	case isArrayCode(c):
		return decodeAnyArray(d, depth)
	case isMapCode(c):
		return decodeAnyMap(d, depth)
	}
	return nil, fmt.Errorf("unsupported msgpack code 0x%02x", c)
}

// decodeAnyInt is an integer as int64, or as uint64 above 2^63-1.
func decodeAnyInt(d *argDecoder, c byte) (any, error) {
	i, u, big, err := readInt(d, c)
	switch {
	case err != nil:
		return nil, err
	case big:
		return u, nil
	}
	return i, nil
}

func decodeAnyArray(d *argDecoder, depth int) (any, error) {
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return nil, err
	}
	if err := checkLen(d, n); err != nil {
		return nil, err
	}
	arr := make([]any, n)
	for i := range arr {
		if arr[i], err = decodeAny(d, depth+1); err != nil {
			return nil, err
		}
	}
	return arr, nil
}

func decodeAnyMap(d *argDecoder, depth int) (any, error) {
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if err := checkLen(d, n); err != nil {
		return nil, err
	}
	m := make(map[string]any, n)
	for i := 0; i < n; i++ {
		ks, k, isString, err := decodeKey(d, depth+1)
		if err != nil {
			return nil, err
		}
		if !isString {
			return nil, fmt.Errorf("map key of type %T, want string", k)
		}
		if m[ks], err = decodeAny(d, depth+1); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// decodeKey decodes a map key at depth as decodeAny does, but a string
// key (isString) comes back as ks without being boxed; any other key
// comes back as k.
func decodeKey(d *argDecoder, depth int) (ks string, k any, isString bool, err error) {
	if depth > MaxArgDepth {
		return "", nil, false, errTooDeep
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return "", nil, false, err
	}
	if msgpcode.IsString(c) {
		ks, err = readString(d, c)
		return ks, nil, err == nil, err
	}
	k, err = decodeAny(d, depth)
	return "", k, false, err
}
