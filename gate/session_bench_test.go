package gate

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/goworld-engine/goworld/internal/procstat"
	"github.com/goworld-engine/goworld/internal/wsconn"
	"github.com/goworld-engine/goworld/rpc"
)

// BenchmarkBroadcastDelivery measures the gate's cost of one chat line
// delivered to one client (ns/delivery): a game's broadcast to a room of
// 100 clients, each on a real loopback TCP connection that a goroutine
// drains, handled and flushed as the dispatcher link's reader does.
// "resume=off" is clients without a session (today's path); "resume=on"
// clients in resumable sessions, whose frames are also copied into
// their journals, acknowledged (the journals trimmed) every 32 lines as
// a client's acks would. "write" includes the socket writes (a syscall
// per client per line, most of the cost and most of the noise on a busy
// machine); "queue" stops at the connection's queue (not flushed: its
// bound is raised), which is where the two paths differ.
func BenchmarkBroadcastDelivery(b *testing.B) {
	for _, mode := range []string{"write", "queue"} {
		for _, resume := range []bool{false, true} {
			name := mode + "/resume=off"
			if resume {
				name = mode + "/resume=on"
			}
			b.Run(name, func(b *testing.B) { benchDelivery(b, mode == "write", resume) })
		}
	}
}

func benchDelivery(b *testing.B, write, resume bool) {
	benchDeliveryOver(b, write, resume, false, tcpPair)
}

// BenchmarkWebSocketDelivery is BenchmarkBroadcastDelivery's "write"
// case over WebSocket clients, each on a real loopback connection read
// by a goroutine: "in-place" is the gate's connection (wsconn.NewServer:
// rpc.Conn writes each flush in place, as it writes a TCP client),
// "goroutine" the one it had before (gorilla writes; each flush starts a
// writer goroutine), and "tcp" the TCP case, in the same run.
// cpu-ns/delivery is the process's CPU, the readers' included.
//
// "paced" waits, after each line, until every client has read it: one
// line at a time, as in a chat room whose lines are seconds apart, where
// every line costs its writes. "flood" does not wait: lines pile up in
// the connections' queues and a writer goroutine that starts late writes
// many in one write(2), which flatters the goroutine path.
func BenchmarkWebSocketDelivery(b *testing.B) {
	for _, paced := range []bool{true, false} {
		mode := "flood/"
		if paced {
			mode = "paced/"
		}
		b.Run(mode+"tcp", func(b *testing.B) { benchDeliveryOver(b, true, false, paced, tcpPair) })
		b.Run(mode+"in-place", func(b *testing.B) { benchDeliveryOver(b, true, false, paced, wsPair(true)) })
		b.Run(mode+"goroutine", func(b *testing.B) { benchDeliveryOver(b, true, false, paced, wsPair(false)) })
	}
}

// A pairFunc makes one client connection on a real socket: the gate's
// end, the client's end as a byte stream of frames, and a function that
// closes the client's end.
type pairFunc func(b *testing.B, g *Gate) (server net.Conn, peer io.Reader, closePeer func())

func tcpPair(b *testing.B, g *Gate) (net.Conn, io.Reader, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	return nc, peer, func() { peer.Close() }
}

// wsPair returns a pairFunc of WebSocket clients: the gate's own
// connection (inPlace), or gorilla writing behind the same linger wrapper.
func wsPair(inPlace bool) pairFunc {
	return func(b *testing.B, g *Gate) (net.Conn, io.Reader, func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		upgraded := make(chan *websocket.Conn, 1)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			up := websocket.Upgrader{}
			if ws, err := up.Upgrade(w, r, nil); err == nil {
				upgraded <- ws
			}
		})}
		go srv.Serve(ln)
		defer srv.Close()
		peer, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/", nil)
		if err != nil {
			b.Fatal(err)
		}
		ws := <-upgraded
		var nc net.Conn
		if inPlace {
			nc = g.newWSConn(ws)
			if _, ok := nc.(rpc.NoWaitWriter); !ok {
				b.Fatal("the gate's WebSocket connection does not write in place")
			}
		} else {
			nc = &lingerConn{Conn: wsconn.New(ws), g: g, finish: func() { ws.Close() }}
		}
		return nc, wsconn.New(peer), func() { peer.Close() }
	}
}

// readFrames reads frames from r until it fails, sending on got after
// each if got is not nil.
func readFrames(r io.Reader, got chan<- struct{}) {
	br := bufio.NewReader(r)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		if _, err := br.Discard(int(binary.LittleEndian.Uint32(hdr[:]))); err != nil {
			return
		}
		if got != nil {
			got <- struct{}{}
		}
	}
}

func benchDeliveryOver(b *testing.B, write, resume, paced bool, pair pairFunc) {
	{
		{
			const n = 100
			g := testGate(b)
			cs := setClients(g, "room", make([]string, n))
			var conns []*rpc.Conn
			var closers []func()
			done := make(chan struct{}, n)
			var got chan struct{}
			if paced {
				got = make(chan struct{}, n)
			}
			for _, c := range cs {
				nc, peer, closePeer := pair(b, g)
				closers = append(closers, closePeer)
				go func() { readFrames(peer, got); done <- struct{}{} }()
				maxPending := g.cfg.ClientSendBufferSize
				if !write {
					maxPending = 1 << 30
				}
				conn := rpc.NewConn(nc, rpc.ConnConfig{MaxPending: maxPending})
				conns = append(conns, conn)
				c.conn.Store(conn)
				g.mu.Lock()
				g.setPropLocked(c, "room", "lobby")
				g.mu.Unlock()
				if resume {
					c.sess.Store(&session{token: g.newToken(c.id), readerDone: make(chan struct{})})
				}
			}
			body := broadcastBody(rpc.FilterEq, "room", "lobby")
			body = append(body[:len(body)-1], 0x91, 0xa5, 'h', 'e', 'l', 'l', 'o') // OnChat("hello")
			out := &rpc.Batch{}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := procstat.SelfCPU()
			for i := 0; i < b.N; i++ {
				if err := g.handleDispatcher(out, rpc.MsgFilteredBroadcast, body); err != nil {
					b.Fatal(err)
				}
				if write {
					out.Flush()
					if paced {
						for range n {
							<-got
						}
					}
				} else {
					out = &rpc.Batch{} // what it queued stays queued
				}
				if resume && i%32 == 31 {
					for _, c := range cs {
						s := c.sess.Load()
						s.mu.Lock()
						s.trim(s.sent)
						s.mu.Unlock()
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			// The process's CPU, the readers' included: writer goroutines
			// run on the other core, outside the loop's wall time.
			b.ReportMetric(float64((procstat.SelfCPU()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/delivery")
			for _, c := range conns {
				c.Close(nil)
				c.Wait()
			}
			for _, closePeer := range closers {
				closePeer()
			}
			for range closers {
				<-done
			}
			setClients(g, "", nil)
		}
	}
}
