package csharpclient_test

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/goworld-engine/goworld/rpc"
)

// redialGate starts the redial scenario's gate: a listener with a
// backlog of 0, so that once one connection waits in it, the kernel drops
// new connections' SYNs and a client's connect hangs. The gate accepts
// the client, starts a resumable session, fills the backlog and drops the
// connection: the client's redial then waits for an answer that never
// comes. It returns the port, a stop function and an error if the
// listener cannot be made.
func redialGate(report func(string, error)) (string, func(), error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return "", nil, err
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		return "", nil, err
	}
	f := os.NewFile(uintptr(fd), "backlog0")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	done := make(chan struct{})
	var fill []net.Conn
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			report("redial", err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		report("redial", func() error {
			if err := readHello(c); err != nil {
				return err
			}
			var sess rpc.Session
			sess.Token[0] = 1
			sess.Window, sess.Limit = time.Minute, 1<<20
			if _, err := c.Write(append(frame(rpc.MsgSession, rpc.AppendSession(nil, sess)), bootCreate()...)); err != nil {
				return err
			}
			// Fill the backlog: connections that are never accepted,
			// until one gets no answer.
			for i := 0; ; i++ {
				if i == 8 {
					return fmt.Errorf("the listener's backlog took 8 connections: it does not fill")
				}
				f, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
				if err != nil {
					break
				}
				fill = append(fill, f)
			}
			return nil
		}())
		// The drop: the client redials into the full backlog.
	}()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), func() {
		ln.Close()
		<-done
		for _, f := range fill {
			f.Close()
		}
	}, nil
}
