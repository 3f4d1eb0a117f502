package dispatcher

import "github.com/goworld-engine/goworld/rpc"

// SetForwardHook makes d run hook on every frame it forwards to a game,
// with the routing lock held: a test's way to make routing panic there.
func SetForwardHook(d *Dispatcher, hook func(t rpc.MsgType, body []byte)) {
	d.forwardHook.Store(&hook)
}

// Panics returns the panics d has recovered from.
func Panics(d *Dispatcher) uint64 { return d.met.panics.Total() }

// IsLoopback is isLoopback: whether a peer at a may join without a secret.
var IsLoopback = isLoopback
