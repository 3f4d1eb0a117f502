package rpc

// Batch defers the writes of frames queued while a goroutine handles a
// run of work, so that each connection it sent to is written once at the
// end, in place: a dispatcher routing the frames that one read brought
// in, a gate fanning a broadcast out to its clients, a game loop handling
// what is waiting for it. Without one, every Send starts a writer
// goroutine when none runs, which costs a goroutine and, more than that,
// waking another thread for each frame at moderate rates.
//
// Flush writes each connection's queue straight to its socket when the
// socket takes it without waiting (no goroutine, no thread hand-off);
// what it does not take goes to the connection's writer goroutine, which
// waits, so Flush never blocks on a slow peer. Frames queued through a
// Batch go out only when it is flushed: the owner must call Flush when
// its run of work ends (see ConnConfig.AfterBatch).
//
// A Batch belongs to one goroutine. The nil *Batch is valid and sends at
// once, as Conn.Send does.
type Batch struct {
	// Backpressure makes Flush wait, after writing, for each connection
	// with ConnConfig.Backpressure that this Batch's sends filled past
	// its MaxPending, until it has drained to half: the sender stalls
	// rather than the link being closed as a slow consumer. Set it only
	// for a sender whose waiting cannot hold up the reader that would
	// drain that connection (see docs/architecture.md, "Back-pressure").
	Backpressure bool

	conns []*Conn
	over  []*Conn // connections to wait for in Flush (Backpressure)
}

// Send queues a frame on c, to be written at the next Flush. body is
// copied.
func (b *Batch) Send(c *Conn, t MsgType, body []byte) error {
	return c.append(b, func(dst []byte) []byte { return AppendFrame(dst, t, body) })
}

// SendFrame queues bytes that hold whole frames on c.
func (b *Batch) SendFrame(c *Conn, frame []byte) error {
	return c.append(b, func(dst []byte) []byte { return append(dst, frame...) })
}

// Append queues the frames fn appends on c (see Conn.Append).
func (b *Batch) Append(c *Conn, fn func([]byte) []byte) error {
	return c.append(b, fn)
}

// A BatchTarget is a destination that is not one Conn: a server's link to a
// dispatcher (package link), which queues on its current connection, or
// while it is down in a queue of its own. AppendBatch queues what fn
// appends, through b (see Batch.AppendLink).
type BatchTarget interface {
	AppendBatch(b *Batch, fn func([]byte) []byte) error
}

// SendLink queues a frame on l, to be written at the next Flush if it
// goes on a connection.
func (b *Batch) SendLink(l BatchTarget, t MsgType, body []byte) error {
	return l.AppendBatch(b, func(dst []byte) []byte { return AppendFrame(dst, t, body) })
}

// AppendLink queues the frames fn appends on l.
func (b *Batch) AppendLink(l BatchTarget, fn func([]byte) []byte) error {
	return l.AppendBatch(b, fn)
}

// Len returns the number of connections waiting for Flush: to be written,
// or (Backpressure) to be waited for. A connection whose writer is
// already running is not to be written (the writer takes what is
// appended), but one this Batch filled past its mark must still be
// waited for: without counting it, a sender that flushes only when Len
// says so would never wait, and fill the connection to its hard bound.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	return len(b.conns) + len(b.over)
}

// Flush writes what was queued through b on each of its connections.
func (b *Batch) Flush() {
	if b == nil {
		return
	}
	for i, c := range b.conns {
		c.flush()
		b.conns[i] = nil
	}
	b.conns = b.conns[:0]
	for i, c := range b.over {
		c.waitRoom()
		b.over[i] = nil
	}
	b.over = b.over[:0]
}

// wait adds c to the connections Flush waits for. The caller holds c.mu.
func (b *Batch) wait(c *Conn) {
	for _, o := range b.over {
		if o == c {
			return
		}
	}
	b.over = append(b.over, c)
}
