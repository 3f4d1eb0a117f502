package rpc

import (
	"encoding"
	"fmt"
	"reflect"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

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

// maxPointerHops bounds the pointers and interfaces followed along one
// path of a value: they add no nesting to the encoding, but a pointer that
// leads back to itself must not loop forever.
const maxPointerHops = 4 * MaxArgDepth

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
