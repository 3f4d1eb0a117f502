// Package nowait writes to a socket without waiting for room in it: a
// write takes what the socket's send buffer holds now and returns. The
// servers use it to write a connection's queue on the goroutine that
// filled it (rpc.Batch), and leave only what the socket did not take to
// a writer goroutine that waits.
package nowait
