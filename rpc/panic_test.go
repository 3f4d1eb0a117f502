package rpc

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestConnHandlerPanicOnPanic: a panic in the handler is recovered per frame.
// OnPanic sees the frame's type and the stack, and decides: serve on (the
// frame is dropped) or close with its error. Without OnPanic the
// connection closes with ErrHandlerPanic naming the message type.
func TestConnHandlerPanicOnPanic(t *testing.T) {
	const boom, fine = MsgType(900), MsgType(901)
	handler := func(handled chan<- MsgType) Handler {
		return func(typ MsgType, body []byte) error {
			if typ == boom {
				panic("handler bug")
			}
			handled <- typ
			return nil
		}
	}
	type seen struct {
		typ   MsgType
		stack string
	}

	t.Run("serve on", func(t *testing.T) {
		cl, sv := tcpPair(t)
		panics := make(chan seen, 4)
		handled := make(chan MsgType, 4)
		c := serve(NewConn(sv, ConnConfig{OnPanic: func(typ MsgType, _ []byte, p any, stack []byte) error {
			panics <- seen{typ, string(stack)}
			return nil
		}}), handler(handled))
		defer c.shutdown(t)
		cl.Write(append(AppendFrame(nil, boom, []byte("x")), AppendFrame(nil, fine, nil)...))
		select {
		case got := <-handled:
			if got != fine {
				t.Fatalf("handled %v", got)
			}
		case <-time.After(waitTimeout):
			t.Fatal("the frame after the panic was not handled")
		}
		p := <-panics
		if p.typ != boom || !strings.Contains(p.stack, "panic_test.go") {
			t.Fatalf("OnPanic got %v and a stack without the handler:\n%s", p.typ, p.stack)
		}
		if isDone(c.Conn) {
			t.Fatal("the connection closed")
		}
	})

	t.Run("close with OnPanic's error", func(t *testing.T) {
		cl, sv := tcpPair(t)
		want := errors.New("closed by OnPanic")
		c := serve(NewConn(sv, ConnConfig{OnPanic: func(MsgType, []byte, any, []byte) error { return want }}), handler(make(chan MsgType, 4)))
		cl.Write(AppendFrame(nil, boom, nil))
		if err := c.reason(t); !errors.Is(err, want) {
			t.Fatalf("reason %v, want %v", err, want)
		}
		waitWriter(t, c.Conn)
	})

	t.Run("no OnPanic: close", func(t *testing.T) {
		cl, sv := tcpPair(t)
		c := serve(NewConn(sv, ConnConfig{}), handler(make(chan MsgType, 4)))
		cl.Write(AppendFrame(nil, boom, nil))
		err := c.reason(t)
		if !errors.Is(err, ErrHandlerPanic) || !strings.Contains(err.Error(), "handler bug") || !strings.Contains(err.Error(), boom.String()) {
			t.Fatalf("reason %v, want ErrHandlerPanic naming %v and the panic", err, boom)
		}
		waitWriter(t, c.Conn)
	})
}
