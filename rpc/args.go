package rpc

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// MaxArgDepth bounds the nesting of arrays and maps in decoded arguments,
// so a hostile frame of nested one-byte arrays cannot exhaust the stack.
const MaxArgDepth = 32

// ErrArgs is wrapped by every argument conversion error.
var ErrArgs = errors.New("rpc: bad arguments")

// appendWriter is an io.Writer that appends to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// WriteByte spares msgpack its byteWriter adapter, which allocates for
// every single byte it writes.
func (w *appendWriter) WriteByte(c byte) error { w.b = append(w.b, c); return nil }

type argEncoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var encPool = sync.Pool{New: func() any {
	e := &argEncoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	// Integers take their smallest encoding; floats stay floats (compact
	// floats would send 3.0 as the integer 3, which a typed client cannot
	// tell from an int).
	e.enc.UseCompactInts(true)
	return e
}}

// AppendArgs appends args to dst as one msgpack array. Only values that
// the other side can decode are accepted (see CheckValue).
func AppendArgs(dst []byte, args []any) ([]byte, error) {
	for i, a := range args {
		if err := checkAny(a, false, argDepth); err != nil {
			return dst, fmt.Errorf("%w: argument %d (%T): %v", ErrArgs, i, a, err)
		}
	}
	e := encPool.Get().(*argEncoder)
	e.w.b = dst
	err := e.enc.EncodeArrayLen(len(args))
	for i := 0; err == nil && i < len(args); i++ {
		if err = e.enc.Encode(args[i]); err != nil {
			err = fmt.Errorf("%w: argument %d (%T): %v", ErrArgs, i, args[i], err)
		}
	}
	out := e.w.b
	e.w.b = nil
	encPool.Put(e)
	return out, err
}

// AppendValue appends one msgpack-encoded value to dst (see CheckValue).
// The value is decoded on its own (DecodeAny), so it may nest one level
// deeper than an argument.
func AppendValue(dst []byte, v any) ([]byte, error) {
	if err := checkAny(v, false, 0); err != nil {
		return dst, fmt.Errorf("%w: %T: %v", ErrArgs, v, err)
	}
	e := encPool.Get().(*argEncoder)
	e.w.b = dst
	err := e.enc.Encode(v)
	out := e.w.b
	e.w.b = nil
	encPool.Put(e)
	return out, err
}

var decPool = sync.Pool{New: func() any { return &argDecoder{dec: msgpack.NewDecoder(nil)} }}

type argDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
	// maxStr, if > 0, bounds every msgpack string (values and map keys;
	// not binary values) that the decoder keeps (DecodeClientArgs).
	maxStr int
}

func getDecoder(data []byte) *argDecoder {
	d := decPool.Get().(*argDecoder)
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	return d
}

func putDecoder(d *argDecoder) {
	d.maxStr = 0
	d.r.Reset(nil)
	d.dec.Reset(&d.r)
	decPool.Put(d)
}

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

// ErrStringTooLong is wrapped (with ErrArgs) by the error of
// DecodeClientArgs for a string over its limit.
var ErrStringTooLong = errors.New("string too long")

// DecodeClientArgs is DecodeArgs for arguments a client sent: every
// msgpack string in them (an argument, a list element, a map key or
// value, at any depth) longer than maxString bytes is an error wrapping
// ErrArgs and ErrStringTooLong, whatever parameter type it was for.
// Binary values (msgpack bin, sent for []byte) are not limited: they are
// bounded only by the frame. maxString <= 0 means no limit.
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

// checkLen refuses container lengths larger than the bytes left: every
// element takes at least one byte, so this bounds allocation by input size.
func checkLen(d *argDecoder, n int) error {
	if n > d.r.Len() {
		return fmt.Errorf("length %d exceeds the %d bytes left", n, d.r.Len())
	}
	return nil
}

func decodeAny(d *argDecoder, depth int) (any, error) {
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
		if _, err := readFull(&d.r, b); err != nil {
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
		if _, err := readFull(&d.r, b); err != nil {
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
			if arr[i], err = decodeAny(d, depth+1); err != nil {
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
			k, err := decodeAny(d, depth+1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key of type %T, want string", k)
			}
			if m[ks], err = decodeAny(d, depth+1); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("unsupported msgpack code 0x%02x", c)
}

func readFull(r *bytes.Reader, b []byte) (int, error) {
	n, err := r.Read(b)
	if err == nil && n < len(b) {
		return n, errors.New("unexpected end of input")
	}
	if len(b) == 0 {
		return 0, nil
	}
	return n, err
}

// decodeInto decodes one msgpack value into v, which must be settable.
func decodeInto(d *argDecoder, v reflect.Value, depth int) error {
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
		x, err := decodeAny(d, depth)
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
		x, err := decodeAny(d, depth)
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
		x, err := decodeAny(d, depth)
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
		x, err := decodeAny(d, depth)
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
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := decodeInto(d, p.Elem(), depth+1); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 && (msgpcode.IsBin(c) || msgpcode.IsString(c)) {
			x, err := decodeAny(d, depth)
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
			if err := decodeInto(d, s.Index(i), depth+1); err != nil {
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
			if err := decodeInto(d, v.Index(i), depth+1); err != nil {
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
			if err := decodeInto(d, k, depth+1); err != nil {
				return fmt.Errorf("map key: %w", err)
			}
			if !k.Comparable() { // e.g. a []any or map[string]any key for map[any]T
				return fmt.Errorf("unhashable map key %s", clip.Text(fmt.Sprint(k), clip.Default))
			}
			e := reflect.New(et).Elem()
			if err := decodeInto(d, e, depth+1); err != nil {
				return fmt.Errorf("map[%s]: %w", keyText(k), err)
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
		return nil
	case reflect.Struct:
		// Structs are decoded field by field from a msgpack map keyed by
		// field name (or `msgpack:"name"` tag), as msgpack encodes them.
		return decodeStruct(d, v, depth)
	}
	return fmt.Errorf("unsupported parameter type %s", v.Type())
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
		k, err := decodeAny(d, depth+1)
		if err != nil {
			return err
		}
		ks, ok := k.(string)
		if !ok {
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

var (
	timeType            = reflect.TypeFor[time.Time]()
	customEncoderType   = reflect.TypeFor[msgpack.CustomEncoder]()
	marshalerType       = reflect.TypeFor[msgpack.Marshaler]()
	binaryMarshalerType = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// encodesItself reports whether msgpack encodes t through one of t's (or
// *t's) methods instead of by its kind; DecodeArgs would not undo that.
func encodesItself(t reflect.Type) bool {
	for _, i := range []reflect.Type{customEncoderType, marshalerType, binaryMarshalerType, textMarshalerType} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			return true
		}
	}
	return false
}

// CheckValue reports whether v can travel as an argument between servers:
// nil, bools, integers, floats, strings, byte slices, slices, arrays and
// maps of those, structs of those (encoded as maps keyed by field name) and
// pointers to them, with arrays and maps nested no deeper than the
// receiver decodes (MaxArgDepth levels below the argument array). Extension
// types (time.Time, custom encoders) are refused, because the receiver
// could not decode them. A value that holds itself is refused as too deep.
func CheckValue(v any) error { return checkAny(v, false, argDepth) }

// CheckClientValue is CheckValue for values sent to clients, which the
// protocol restricts further: maps must have string keys.
func CheckClientValue(v any) error { return checkAny(v, true, argDepth) }

// argDepth is the depth at which the decoders meet an argument: inside the
// argument array, which is at depth 0.
const argDepth = 1

// maxPointerHops bounds the pointers and interfaces followed along one
// path of a value: they add no nesting to the encoding, but a pointer that
// leads back to itself must not loop forever.
const maxPointerHops = 4 * MaxArgDepth

var errTooDeep = fmt.Errorf("nesting deeper than %d", MaxArgDepth)

// checkAny checks v as it will sit at depth: the decoders refuse anything
// deeper than MaxArgDepth, a container's elements being one deeper than
// the container.
func checkAny(v any, client bool, depth int) error {
	if depth > MaxArgDepth {
		return errTooDeep
	}
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, string, []byte:
		return nil
	case []string:
		return checkElems(len(x), depth)
	case []int:
		return checkElems(len(x), depth)
	case []int64:
		return checkElems(len(x), depth)
	case []float64:
		return checkElems(len(x), depth)
	case map[string]any:
		for _, e := range x {
			if err := checkAny(e, client, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for _, e := range x {
			if err := checkAny(e, client, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return checkValue(reflect.ValueOf(v), client, depth, 0)
}

// checkElems checks that n scalar elements of a container at depth are
// not too deep.
func checkElems(n, depth int) error {
	if n > 0 && depth+1 > MaxArgDepth {
		return errTooDeep
	}
	return nil
}

func checkValue(v reflect.Value, client bool, depth, hops int) error {
	if depth > MaxArgDepth {
		return errTooDeep
	}
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	if t == timeType || encodesItself(t) {
		return fmt.Errorf("%s is encoded as a msgpack extension or custom value, which the protocol does not carry", t)
	}
	switch v.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		if hops >= maxPointerHops {
			return fmt.Errorf("more than %d pointers and interfaces in a row (a value that holds itself?)", maxPointerHops)
		}
		return checkValue(v.Elem(), client, depth, hops+1)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		for i := 0; i < v.Len(); i++ {
			if err := checkValue(v.Index(i), client, depth+1, hops); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if client && t.Key().Kind() != reflect.String {
			return fmt.Errorf("map key type %s: clients accept only string keys", t.Key())
		}
		// The key type must be sendable even when the map is empty.
		if err := checkValue(reflect.Zero(t.Key()), client, 0, hops); err != nil {
			return err
		}
		it := v.MapRange()
		for it.Next() {
			if err := checkValue(it.Key(), client, depth+1, hops); err != nil {
				return err
			}
			if err := checkValue(it.Value(), client, depth+1, hops); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if t.Field(i).IsExported() {
				if err := checkValue(v.Field(i), client, depth+1, hops); err != nil {
					return fmt.Errorf("field %s: %w", t.Field(i).Name, err)
				}
			}
		}
		return nil
	}
	return fmt.Errorf("type %s cannot be sent", t)
}

// skipValue skips one msgpack value within the bounds decodeAny keeps:
// nesting at most MaxArgDepth, no declared length beyond the bytes left.
// (msgpack's Decoder.Skip has neither bound, and grows the decoder's
// buffer to any declared string length.)
func skipValue(d *argDecoder, depth int) error {
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
		if err := skipValue(d, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// CheckParamType reports whether values of t can be decoded by DecodeArgs.
// Entity registration calls it so that an unsupported parameter type is an
// error at start-up, not at the first call.
func CheckParamType(t reflect.Type) error { return checkType(t, map[reflect.Type]bool{}) }

// checkType checks t and the types it contains. seen holds the types
// already being checked, so that recursive types (a linked list, a tree)
// terminate; the depth of their values is bounded when decoding.
func checkType(t reflect.Type, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String, reflect.Interface:
		return nil
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return checkType(t.Elem(), seen)
	case reflect.Map:
		if err := checkType(t.Key(), seen); err != nil {
			return err
		}
		return checkType(t.Elem(), seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				if err := checkType(f.Type, seen); err != nil {
					return fmt.Errorf("field %s: %w", f.Name, err)
				}
			}
		}
		return nil
	}
	return fmt.Errorf("type %s cannot be an RPC argument", t)
}
