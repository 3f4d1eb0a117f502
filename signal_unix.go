//go:build !windows

package goworld

import (
	"os"
	"os/signal"
	"syscall"
)

// onFreezeSignal calls freeze on every SIGUSR1 (hot reload) until the
// returned stop function is called.
func onFreezeSignal(freeze func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				freeze()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
