package rpc

import (
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

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
