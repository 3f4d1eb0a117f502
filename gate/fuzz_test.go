package gate_test

import (
	"io"
	"math"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/sirupsen/logrus"
)

// Mover is the fuzz cluster's boot entity: it stands in a space, so that
// positions a fuzzed client sends reach a real space.
type Mover struct{ entity.Entity }

func (m *Mover) DescribeEntityType(d *entity.TypeDesc) {
	d.SetAOIRadius(10)
	d.ExposeToClient("Echo")
}
func (m *Mover) Echo(s string) { m.CallClient("OnEcho", s) }
func (m *Mover) OnClientConnected() {
	m.World().Entities(func(e *entity.Entity) {
		if e.IsSpace() && m.Space() == nil {
			m.EnterSpace(e.ID(), entity.Vector3{})
		}
	})
}

type Ground struct{ entity.Entity }

func (g *Ground) DescribeEntityType(d *entity.TypeDesc) { d.DefineSpace(10) }

// FuzzGateClientStream sends arbitrary bytes to a real gate as a client's
// stream over TCP. Whatever they hold, the gate (in this process) must
// not crash, and must not hang: once the client stops sending, the gate
// closes the connection (after a kick, or at the end of the stream)
// within seconds.
func FuzzGateClientStream(f *testing.F) {
	r := entity.NewRegistry()
	for name, proto := range map[string]any{"Mover": &Mover{}, "Ground": &Ground{}} {
		if err := r.Register(name, proto); err != nil {
			f.Fatal(err)
		}
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	c := cluster.Start(f, cluster.Options{Registry: r, BootEntity: "Mover", Logger: log, HeartbeatTimeout: 5 * time.Second})
	done := make(chan struct{})
	c.Games[0].Post(func() { c.Games[0].World().CreateSpaceLocally("Ground", nil); close(done) })
	<-done
	addr := c.GateAddr(0)

	id := rpc.EntityID("AAAAAAAAAAAAAAAA")
	pos := func(x float32) []byte {
		b := rpc.AppendEntityID(rpc.AppendEntityID(nil, id), id)
		return rpc.AppendPosition(b, rpc.Vector3{X: x}, 0)
	}
	call := rpc.AppendString(rpc.AppendEntityID(nil, id), "Echo")
	call, _ = rpc.AppendArgs(call, []any{"hi"})
	for _, s := range [][]byte{
		nil,
		rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil),
		rpc.AppendFrame(nil, rpc.MsgCallEntity, call),
		rpc.AppendFrame(nil, rpc.MsgSyncPosition, pos(1)),
		rpc.AppendFrame(nil, rpc.MsgSyncPosition, pos(float32(math.NaN()))),
		rpc.AppendFrame(nil, rpc.MsgSyncPosition, pos(1)[:40]),
		rpc.AppendFrame(rpc.AppendFrame(nil, rpc.MsgHeartbeat, nil), rpc.MsgPositions, []byte{1, 0}),
		{0xff, 0xff, 0xff, 0xff, 3, 0},
		{1, 0, 0, 0},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Each input is a connection, which ends in TIME_WAIT: spread them
		// over source addresses (all of 127/8 is loopback on Linux) so that
		// a long run does not use up one address's ephemeral ports.
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, byte(1+rand.IntN(250)), byte(rand.IntN(256)), byte(1+rand.IntN(250)))}}
		if runtime.GOOS != "linux" {
			d.LocalAddr = nil
		}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(data); err != nil {
			return // the gate hung up first: fine
		}
		nc.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, nc); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the gate did not close the connection within 10s of the end of %d bytes", len(data))
			}
		}
	})
}
