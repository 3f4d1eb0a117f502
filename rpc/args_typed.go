package rpc

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// DecodeArgs decodes a msgpack array of arguments into values of the given
// types, converting where the conversion is exact: an integer that fits the
// parameter's type, an integer that a float holds exactly (|n| <= 2^53 for
// float64, 2^24 for float32), a float into float32 as Go narrows it, nil
// into a pointer, slice, map or interface. A float is never accepted for an
// integer parameter. A wrong count, a value that does not fit, trailing bytes or any
// malformed input is an error wrapping ErrArgs; it never panics.
func DecodeArgs(data []byte, types []reflect.Type) ([]reflect.Value, error) {
	return DecodeClientArgs(data, types, 0)
}

// DecodeClientArgs is DecodeArgs for arguments a client sent: every
// msgpack string in them (an argument, a list element, a map key or
// value, at any depth) longer than maxString bytes is an error wrapping
// ErrArgs and ErrStringTooLong, whatever parameter type it was for, and
// so is a msgpack bin decoded into a Go string (a string parameter,
// element, key or field). Binary values kept as bytes (msgpack bin, sent
// for []byte or any) are not limited: they are bounded only by the
// frame. maxString <= 0 means no limit.
func DecodeClientArgs(data []byte, types []reflect.Type, maxString int) ([]reflect.Value, error) {
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
		if err := decodeInto(d, v, argDepth); err != nil {
			return nil, fmt.Errorf("%w: argument %d (%s): %w", ErrArgs, i, t, err)
		}
		vals[i] = v
	}
	if d.r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrArgs, d.r.Len())
	}
	return vals, nil
}

// decodeInto decodes one msgpack value into v, which must be settable,
// with the function for v's kind. Numbers go from the input into v
// without passing through an interface.
func decodeInto(d *argDecoder, v reflect.Value, depth int) error {
	if depth > MaxArgDepth {
		return errTooDeep
	}
	c, err := d.dec.PeekCode()
	if err != nil {
		return err
	}
	if c == msgpcode.Nil {
		return decodeNil(d, v)
	}
	switch v.Kind() {
	case reflect.Bool:
		return decodeBool(d, v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return decodeInt(d, v, c, depth)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return decodeUint(d, v, c, depth)
	case reflect.Float32, reflect.Float64:
		return decodeFloat(d, v, c, depth)
	case reflect.String:
		return decodeString(d, v, c)
	case reflect.Interface:
		return decodeInterface(d, v, depth)
	case reflect.Pointer:
		return decodePointer(d, v, depth)
	case reflect.Slice:
		return decodeSlice(d, v, c, depth)
	case reflect.Array:
		return decodeArray(d, v, depth)
	case reflect.Map:
		return decodeMap(d, v, depth)
	case reflect.Struct:
		// Structs are decoded field by field from a msgpack map keyed by
		// field name (or `msgpack:"name"` tag), as msgpack encodes them.
		return decodeStruct(d, v, depth)
	}
	return fmt.Errorf("unsupported parameter type %s", v.Type())
}

// decodeNil reads a nil into v: only a pointer, slice, map or interface
// takes one.
func decodeNil(d *argDecoder, v reflect.Value) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		v.SetZero()
		return d.dec.DecodeNil()
	}
	return fmt.Errorf("nil for %s", v.Type())
}

func decodeBool(d *argDecoder, v reflect.Value) error {
	b, err := d.dec.DecodeBool()
	if err != nil {
		return err
	}
	v.SetBool(b)
	return nil
}

// decodeInt takes an integer that fits v (an int kind), nothing else.
func decodeInt(d *argDecoder, v reflect.Value, c byte, depth int) error {
	if !isIntCode(c) {
		x, err := decodeAny(d, depth) // for the error: what it was
		if err != nil {
			return err
		}
		return fmt.Errorf("%s (%T) does not fit %s", valueText(x), x, v.Type())
	}
	i, u, big, err := readInt(d, c)
	switch {
	case err != nil:
		return err
	case big:
		return fmt.Errorf("%d (uint64) does not fit %s", u, v.Type())
	case v.OverflowInt(i):
		return fmt.Errorf("%d (int64) does not fit %s", i, v.Type())
	}
	v.SetInt(i)
	return nil
}

// decodeUint takes an integer that fits v (a uint kind), nothing else.
func decodeUint(d *argDecoder, v reflect.Value, c byte, depth int) error {
	if !isIntCode(c) {
		x, err := decodeAny(d, depth)
		if err != nil {
			return err
		}
		return fmt.Errorf("%T does not fit %s", x, v.Type())
	}
	i, u, big, err := readInt(d, c)
	switch {
	case err != nil:
		return err
	case !big && i < 0:
		return fmt.Errorf("%d does not fit %s", i, v.Type())
	case !big:
		u = uint64(i)
	}
	if v.OverflowUint(u) {
		return fmt.Errorf("%d does not fit %s", u, v.Type())
	}
	v.SetUint(u)
	return nil
}

// decodeFloat takes a float, narrowed to float32 as Go narrows it, or an
// integer that v (a float kind) holds exactly.
func decodeFloat(d *argDecoder, v reflect.Value, c byte, depth int) error {
	switch {
	case c == msgpcode.Float, c == msgpcode.Double:
		f, err := d.dec.DecodeFloat64()
		if err != nil {
			return err
		}
		// Only a value beyond float32's range is refused.
		if v.Kind() == reflect.Float32 && math.Abs(f) > math.MaxFloat32 && !math.IsInf(f, 0) {
			return fmt.Errorf("%g does not fit %s", f, v.Type())
		}
		v.SetFloat(f)
		return nil
	case isIntCode(c):
		return decodeExactFloat(d, v, c)
	}
	x, err := decodeAny(d, depth)
	if err != nil {
		return err
	}
	return fmt.Errorf("%T does not fit %s", x, v.Type())
}

// decodeExactFloat takes an integer (c) where v, a float kind, holds it
// exactly: |n| <= 2^53 for float64, 2^24 for float32.
func decodeExactFloat(d *argDecoder, v reflect.Value, c byte) error {
	i, u, big, err := readInt(d, c)
	if err != nil {
		return err
	}
	if big {
		return fmt.Errorf("integer %d has no exact %s", u, v.Type())
	}
	limit := int64(1 << 53)
	if v.Kind() == reflect.Float32 {
		limit = 1 << 24
	}
	if i < -limit || i > limit {
		return fmt.Errorf("integer %d has no exact %s", i, v.Type())
	}
	v.SetFloat(float64(i))
	return nil
}

// decodeString takes a str or a bin, either bounded by maxStr: both
// become a Go string.
func decodeString(d *argDecoder, v reflect.Value, c byte) error {
	if !msgpcode.IsString(c) && !msgpcode.IsBin(c) {
		return fmt.Errorf("msgpack code 0x%02x for %s", c, v.Type())
	}
	raw, err := readRawBounded(d, true)
	if err != nil {
		return err
	}
	v.SetString(string(raw))
	return nil
}

// decodeInterface takes what decodeAny makes of the value, if v's
// interface type holds it (any does).
func decodeInterface(d *argDecoder, v reflect.Value, depth int) error {
	x, err := decodeAny(d, depth)
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
}

func decodePointer(d *argDecoder, v reflect.Value, depth int) error {
	p := reflect.New(v.Type().Elem())
	if err := decodeInto(d, p.Elem(), depth+1); err != nil {
		return err
	}
	v.Set(p)
	return nil
}

// decodeSlice takes an array, element by element; for a slice of bytes
// also a bin or a str (bounded by maxStr).
func decodeSlice(d *argDecoder, v reflect.Value, c byte, depth int) error {
	if v.Type().Elem().Kind() == reflect.Uint8 && (msgpcode.IsBin(c) || msgpcode.IsString(c)) {
		raw, err := readRaw(d, c)
		if err != nil {
			return err
		}
		v.SetBytes(copyBytes(raw))
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
	if err := decodeElems(d, s, depth); err != nil {
		return err
	}
	v.Set(s)
	return nil
}

// decodeArray takes an array of exactly v's length.
func decodeArray(d *argDecoder, v reflect.Value, depth int) error {
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != v.Len() {
		return fmt.Errorf("array of %d for %s", n, v.Type())
	}
	return decodeElems(d, v, depth)
}

// decodeElems decodes v.Len() values into the elements of v, a slice or
// an array at depth.
func decodeElems(d *argDecoder, v reflect.Value, depth int) error {
	for i := 0; i < v.Len(); i++ {
		if err := decodeInto(d, v.Index(i), depth+1); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

func decodeMap(d *argDecoder, v reflect.Value, depth int) error {
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
	// One key and one element, zeroed for each entry: SetMapIndex copies
	// them into the map.
	k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
	for i := 0; i < n; i++ {
		k.SetZero()
		e.SetZero()
		if err := decodeInto(d, k, depth+1); err != nil {
			return fmt.Errorf("map key: %w", err)
		}
		if !k.Comparable() { // e.g. a []any or map[string]any key for map[any]T
			return fmt.Errorf("unhashable map key %s", clip.Text(fmt.Sprint(k), clip.Default))
		}
		if err := decodeInto(d, e, depth+1); err != nil {
			return fmt.Errorf("map[%s]: %w", keyText(k), err)
		}
		m.SetMapIndex(k, e)
	}
	v.Set(m)
	return nil
}

// decodeStruct takes a map keyed by field name (or msgpack tag); unknown
// keys are skipped, within the same bounds.
func decodeStruct(d *argDecoder, v reflect.Value, depth int) error {
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return err
	}
	if err := checkLen(d, n); err != nil {
		return err
	}
	fields := fieldsOf(v.Type())
	for i := 0; i < n; i++ {
		ks, k, isString, err := decodeKey(d, depth+1)
		if err != nil {
			return err
		}
		if !isString {
			return fmt.Errorf("struct key of type %T", k)
		}
		idx, ok := fields[ks]
		if !ok {
			if err := skipValue(d, depth+1); err != nil {
				return fmt.Errorf("field %s: %w", clip.Name(ks), err)
			}
			continue
		}
		if err := decodeInto(d, v.FieldByIndex(idx), depth+1); err != nil {
			return fmt.Errorf("field %s: %w", ks, err)
		}
	}
	return nil
}

// valueText is a decoded value for an error message, bounded.
func valueText(x any) string {
	if s, ok := x.(string); ok {
		return clip.QuoteDefault(s)
	}
	return clip.Text(fmt.Sprint(x), clip.Default)
}

// keyText is a map key for an error message: what a peer sent, bounded.
func keyText(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return clip.Name(k.String())
	}
	if k.Kind() == reflect.Interface {
		if s, ok := k.Interface().(string); ok {
			return clip.Name(s)
		}
	}
	return clip.Text(fmt.Sprint(k), clip.Default)
}

// structFields caches, per struct type, msgpack key → field index.
var structFields sync.Map // reflect.Type → map[string][]int

func fieldsOf(t reflect.Type) map[string][]int {
	if m, ok := structFields.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("msgpack"); ok {
			if tag == "-" {
				continue
			}
			if j := bytes.IndexByte([]byte(tag), ','); j >= 0 {
				tag = tag[:j]
			}
			if tag != "" {
				name = tag
			}
		}
		m[name] = f.Index
	}
	structFields.Store(t, m)
	return m
}
