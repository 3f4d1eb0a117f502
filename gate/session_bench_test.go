package gate

import (
	"io"
	"net"
	"testing"

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
	{
		{
			const n = 100
			g := testGate(b)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			cs := setClients(g, "room", make([]string, n))
			var conns []*rpc.Conn
			var peers []net.Conn
			done := make(chan struct{}, n)
			for i, c := range cs {
				peer, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				nc, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				peers = append(peers, peer)
				go func() { io.Copy(io.Discard, peer); done <- struct{}{} }()
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
				_ = i
			}
			body := broadcastBody(rpc.FilterEq, "room", "lobby")
			body = append(body[:len(body)-1], 0x91, 0xa5, 'h', 'e', 'l', 'l', 'o') // OnChat("hello")
			out := &rpc.Batch{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := g.handleDispatcher(out, rpc.MsgFilteredBroadcast, body); err != nil {
					b.Fatal(err)
				}
				if write {
					out.Flush()
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
			for _, c := range conns {
				c.Close(nil)
				c.Wait()
			}
			for _, p := range peers {
				p.Close()
			}
			for range peers {
				<-done
			}
			setClients(g, "", nil)
		}
	}
}
