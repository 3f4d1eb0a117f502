package rpc

// The argument decoders as they were before they were split into one
// function per kind (issue 19), kept as the oracle of the differential
// test in args_diff_test.go: same values, same error texts. Only the
// names changed (old…); what they share with the new code (argDecoder,
// checkLen, fieldsOf, valueText, keyText) did not change. One fix was
// made in both since: a bin decoded into a string is bounded by the
// string bound (reflect.String below).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

func oldDecodeClientArgs(data []byte, types []reflect.Type, maxString int) ([]reflect.Value, error) {
	d := getDecoder(data)
	defer putDecoder(d)
	d.maxStr = maxString
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return nil, fmt.Errorf("%w: not an argument array: %v", ErrArgs, err)
	}
	if n != len(types) {
		return nil, fmt.Errorf("%w: got %d arguments, want %d", ErrArgs, n, len(types))
	}
	vals := make([]reflect.Value, n)
	for i, t := range types {
		v := reflect.New(t).Elem()
		// An argument sits inside the argument array, at argDepth, as
		// DecodeAnyArgs and the senders' CheckValue count it: a value one
		// level deeper decoded here but could not be sent on.
		if err := oldDecodeInto(d, v, argDepth); err != nil {
			return nil, fmt.Errorf("%w: argument %d (%s): %w", ErrArgs, i, t, err)
		}
		vals[i] = v
	}
	if d.r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrArgs, d.r.Len())
	}
	return vals, nil
}

func oldDecodeAnyArgs(data []byte) ([]any, error) {
	d := getDecoder(data)
	defer putDecoder(d)
	v, err := oldDecodeAny(d, 0)
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

func oldDecodeAnyValue(data []byte) (any, int, error) {
	d := getDecoder(data)
	defer putDecoder(d)
	v, err := oldDecodeAny(d, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrArgs, err)
	}
	return v, len(data) - d.r.Len(), nil
}

func oldDecodeAny(d *argDecoder, depth int) (any, error) {
	if depth > MaxArgDepth {
		return nil, fmt.Errorf("nesting deeper than %d", MaxArgDepth)
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.dec.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return d.dec.DecodeBool()
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64 ||
		c == msgpcode.Uint8 || c == msgpcode.Uint16 || c == msgpcode.Uint32:
		return d.dec.DecodeInt64()
	case c == msgpcode.Uint64:
		u, err := d.dec.DecodeUint64()
		if err != nil {
			return nil, err
		}
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return u, nil
	case c == msgpcode.Float || c == msgpcode.Double:
		return d.dec.DecodeFloat64()
	case msgpcode.IsString(c):
		n, err := d.dec.DecodeBytesLen()
		if err != nil {
			return nil, err
		}
		if d.maxStr > 0 && n > d.maxStr {
			return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrStringTooLong, n, d.maxStr)
		}
		if err := checkLen(d, n); err != nil {
			return nil, err
		}
		b := make([]byte, n)
		if _, err := oldReadFull(&d.r, b); err != nil {
			return nil, err
		}
		return string(b), nil
	case msgpcode.IsBin(c):
		n, err := d.dec.DecodeBytesLen()
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return []byte(nil), nil
		}
		if err := checkLen(d, n); err != nil {
			return nil, err
		}
		b := make([]byte, n)
		if _, err := oldReadFull(&d.r, b); err != nil {
			return nil, err
		}
		return b, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		if err := checkLen(d, n); err != nil {
			return nil, err
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = oldDecodeAny(d, depth+1); err != nil {
				return nil, err
			}
		}
		return arr, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.dec.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		if err := checkLen(d, n); err != nil {
			return nil, err
		}
		m := make(map[string]any, n)
		for i := 0; i < n; i++ {
			k, err := oldDecodeAny(d, depth+1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key of type %T, want string", k)
			}
			if m[ks], err = oldDecodeAny(d, depth+1); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("unsupported msgpack code 0x%02x", c)
}

func oldReadFull(r *bytes.Reader, b []byte) (int, error) {
	n, err := r.Read(b)
	if err == nil && n < len(b) {
		return n, errors.New("unexpected end of input")
	}
	if len(b) == 0 {
		return 0, nil
	}
	return n, err
}

func oldDecodeInto(d *argDecoder, v reflect.Value, depth int) error {
	if depth > MaxArgDepth {
		return fmt.Errorf("nesting deeper than %d", MaxArgDepth)
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	if c == msgpcode.Nil {
		switch v.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			v.SetZero()
			return d.dec.DecodeNil()
		}
		return fmt.Errorf("nil for %s", v.Type())
	}
	switch v.Kind() {
	case reflect.Bool:
		b, err := d.dec.DecodeBool()
		if err != nil {
			return err
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x, err := oldDecodeAny(d, depth)
		if err != nil {
			return err
		}
		i, ok := x.(int64)
		if !ok || v.OverflowInt(i) {
			return fmt.Errorf("%s (%T) does not fit %s", valueText(x), x, v.Type())
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		x, err := oldDecodeAny(d, depth)
		if err != nil {
			return err
		}
		var u uint64
		switch x := x.(type) {
		case int64:
			if x < 0 {
				return fmt.Errorf("%d does not fit %s", x, v.Type())
			}
			u = uint64(x)
		case uint64:
			u = x
		default:
			return fmt.Errorf("%T does not fit %s", x, v.Type())
		}
		if v.OverflowUint(u) {
			return fmt.Errorf("%d does not fit %s", u, v.Type())
		}
		v.SetUint(u)
		return nil
	case reflect.Float32, reflect.Float64:
		x, err := oldDecodeAny(d, depth)
		if err != nil {
			return err
		}
		var f float64
		switch x := x.(type) {
		case float64:
			// A float narrows to float32 as Go converts it; only a value
			// beyond float32's range is refused.
			f = x
			if v.Kind() == reflect.Float32 && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) > math.MaxFloat32 {
				return fmt.Errorf("%g does not fit %s", f, v.Type())
			}
		case int64:
			// An integer is accepted only where the float holds it exactly.
			f = float64(x)
			exact := x >= -(1<<53) && x <= 1<<53
			if v.Kind() == reflect.Float32 {
				exact = x >= -(1<<24) && x <= 1<<24
			}
			if !exact {
				return fmt.Errorf("integer %d has no exact %s", x, v.Type())
			}
		case uint64:
			return fmt.Errorf("integer %d has no exact %s", x, v.Type())
		default:
			return fmt.Errorf("%T does not fit %s", x, v.Type())
		}
		v.SetFloat(f)
		return nil
	case reflect.String:
		if !msgpcode.IsString(c) && !msgpcode.IsBin(c) {
			return fmt.Errorf("msgpack code 0x%02x for %s", c, v.Type())
		}
		if msgpcode.IsBin(c) && d.maxStr > 0 {
			// The one change since the split: a bin for a string is
			// bounded as a str is (FuzzDecodeArgs, a0fe83d0f024a839).
			n, err := d.dec.DecodeBytesLen()
			if err != nil {
				return err
			}
			if n > d.maxStr {
				return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrStringTooLong, n, d.maxStr)
			}
			if err := checkLen(d, n); err != nil {
				return err
			}
			b := make([]byte, n)
			if _, err := oldReadFull(&d.r, b); err != nil {
				return err
			}
			v.SetString(string(b))
			return nil
		}
		x, err := oldDecodeAny(d, depth)
		if err != nil {
			return err
		}
		switch x := x.(type) {
		case string:
			v.SetString(x)
		case []byte:
			v.SetString(string(x))
		}
		return nil
	case reflect.Interface:
		x, err := oldDecodeAny(d, depth)
		if err != nil {
			return err
		}
		if x == nil {
			v.SetZero()
			return nil
		}
		xv := reflect.ValueOf(x)
		if !xv.Type().AssignableTo(v.Type()) {
			return fmt.Errorf("%T does not fit %s", x, v.Type())
		}
		v.Set(xv)
		return nil
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := oldDecodeInto(d, p.Elem(), depth+1); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 && (msgpcode.IsBin(c) || msgpcode.IsString(c)) {
			x, err := oldDecodeAny(d, depth)
			if err != nil {
				return err
			}
			switch x := x.(type) {
			case string:
				v.SetBytes([]byte(x))
			case []byte:
				v.SetBytes(x)
			}
			return nil
		}
		n, err := d.dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		if n < 0 {
			v.SetZero()
			return nil
		}
		if err := checkLen(d, n); err != nil {
			return err
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			if err := oldDecodeInto(d, s.Index(i), depth+1); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		v.Set(s)
		return nil
	case reflect.Array:
		n, err := d.dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		if n != v.Len() {
			return fmt.Errorf("array of %d for %s", n, v.Type())
		}
		for i := 0; i < n; i++ {
			if err := oldDecodeInto(d, v.Index(i), depth+1); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case reflect.Map:
		n, err := d.dec.DecodeMapLen()
		if err != nil {
			return err
		}
		if n < 0 {
			v.SetZero()
			return nil
		}
		if err := checkLen(d, n); err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(v.Type(), n)
		kt, et := v.Type().Key(), v.Type().Elem()
		for i := 0; i < n; i++ {
			k := reflect.New(kt).Elem()
			if err := oldDecodeInto(d, k, depth+1); err != nil {
				return fmt.Errorf("map key: %w", err)
			}
			if !k.Comparable() { // e.g. a []any or map[string]any key for map[any]T
				return fmt.Errorf("unhashable map key %s", clip.Text(fmt.Sprint(k), clip.Default))
			}
			e := reflect.New(et).Elem()
			if err := oldDecodeInto(d, e, depth+1); err != nil {
				return fmt.Errorf("map[%s]: %w", keyText(k), err)
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
		return nil
	case reflect.Struct:
		// Structs are decoded field by field from a msgpack map keyed by
		// field name (or `msgpack:"name"` tag), as msgpack encodes them.
		return oldDecodeStruct(d, v, depth)
	}
	return fmt.Errorf("unsupported parameter type %s", v.Type())
}

func oldDecodeStruct(d *argDecoder, v reflect.Value, depth int) error {
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return err
	}
	if err := checkLen(d, n); err != nil {
		return err
	}
	fields := fieldsOf(v.Type())
	for i := 0; i < n; i++ {
		k, err := oldDecodeAny(d, depth+1)
		if err != nil {
			return err
		}
		ks, ok := k.(string)
		if !ok {
			return fmt.Errorf("struct key of type %T", k)
		}
		idx, ok := fields[ks]
		if !ok {
			if err := oldSkipValue(d, depth+1); err != nil {
				return fmt.Errorf("field %s: %w", clip.Name(ks), err)
			}
			continue
		}
		if err := oldDecodeInto(d, v.FieldByIndex(idx), depth+1); err != nil {
			return fmt.Errorf("field %s: %w", ks, err)
		}
	}
	return nil
}

func oldSkipValue(d *argDecoder, depth int) error {
	if depth > MaxArgDepth {
		return fmt.Errorf("nesting deeper than %d", MaxArgDepth)
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	var n int
	switch {
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		if n, err = d.dec.DecodeArrayLen(); err != nil {
			return err
		}
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		if n, err = d.dec.DecodeMapLen(); err != nil {
			return err
		}
		if err := checkLen(d, n); err != nil {
			return err
		}
		n *= 2 // keys and values
	case msgpcode.IsString(c) || msgpcode.IsBin(c) || msgpcode.IsExt(c):
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
	default:
		return d.dec.Skip() // nil, bool, numbers: at most 8 bytes
	}
	if err := checkLen(d, n); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := oldSkipValue(d, depth+1); err != nil {
			return err
		}
	}
	return nil
}
