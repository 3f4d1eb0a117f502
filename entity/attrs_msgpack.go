package entity

import (
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// maxFrozenDepth bounds the nesting of attribute trees read from a
// freeze file (which is checksummed, so this only guards against bugs).
const maxFrozenDepth = 256

// maxPrealloc bounds the room made for a map or list before its elements
// are read: the length is the file's (or a migrating entity's) word, and
// 2^32-1 elements would be tens of GiB. Each element takes at least a
// byte, so what is read past this is paid for by the input.
const maxPrealloc = 1024

// EncodeMsgpack writes the map straight from the tree (no copy), so a
// freeze does not build a second tree of plain maps first.
func (a *MapAttr) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeMapLen(len(a.m)); err != nil {
		return err
	}
	for k, v := range a.m {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := encodeAttr(enc, v); err != nil {
			return err
		}
	}
	return nil
}

// EncodeMsgpack writes the list straight from the tree.
func (l *ListAttr) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeArrayLen(len(l.l)); err != nil {
		return err
	}
	for _, v := range l.l {
		if err := encodeAttr(enc, v); err != nil {
			return err
		}
	}
	return nil
}

func encodeAttr(enc *msgpack.Encoder, v any) error {
	switch x := v.(type) {
	case nil:
		return enc.EncodeNil()
	case bool:
		return enc.EncodeBool(x)
	case int64:
		return enc.EncodeInt(x)
	case float64:
		return enc.EncodeFloat64(x)
	case string:
		return enc.EncodeString(x)
	case []byte:
		return enc.EncodeBytes(x)
	case *MapAttr:
		return x.EncodeMsgpack(enc)
	case *ListAttr:
		return x.EncodeMsgpack(enc)
	}
	return fmt.Errorf("entity: attribute value of type %T", v)
}

// DecodeMsgpack reads a map into a fresh, detached tree of attribute
// values (integers as int64, floats as float64), with no intermediate
// plain maps.
func (a *MapAttr) DecodeMsgpack(dec *msgpack.Decoder) error {
	return decodeMapInto(dec, a, 0)
}

func decodeMapInto(dec *msgpack.Decoder, a *MapAttr, depth int) error {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return err
	}
	if a.m == nil || len(a.m) > 0 {
		a.m = make(map[string]any, min(max(n, 0), maxPrealloc))
	}
	for i := 0; i < n; i++ {
		k, err := dec.DecodeString()
		if err != nil {
			return err
		}
		v, err := decodeAttr(dec, depth+1)
		if err != nil {
			return err
		}
		a.m[k] = adopt(a, k, v, nil, "")
	}
	return nil
}

func decodeAttr(dec *msgpack.Decoder, depth int) (any, error) {
	if depth > maxFrozenDepth {
		return nil, fmt.Errorf("entity: attributes nest deeper than %d", maxFrozenDepth)
	}
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, dec.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return dec.DecodeBool()
	case c == msgpcode.Float || c == msgpcode.Double:
		return dec.DecodeFloat64()
	case c == msgpcode.Uint64:
		u, err := dec.DecodeUint64()
		if err == nil && u > math.MaxInt64 {
			err = fmt.Errorf("entity: attribute integer %d overflows int64", u)
		}
		return int64(u), err
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64 ||
		c == msgpcode.Uint8 || c == msgpcode.Uint16 || c == msgpcode.Uint32:
		return dec.DecodeInt64()
	case msgpcode.IsString(c):
		return dec.DecodeString()
	case msgpcode.IsBin(c):
		return dec.DecodeBytes()
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		m := NewMapAttr()
		return m, decodeMapInto(dec, m, depth)
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		l := &ListAttr{l: make([]any, 0, min(max(n, 0), maxPrealloc))}
		for i := 0; i < n; i++ {
			v, err := decodeAttr(dec, depth+1)
			if err != nil {
				return nil, err
			}
			l.l = append(l.l, adopt(l, i, v, nil, ""))
		}
		return l, nil
	}
	return nil, fmt.Errorf("entity: unexpected msgpack code 0x%02x in attributes", c)
}
