package rpc

import (
	"testing"
	"time"
)

func TestConnStatsCount(t *testing.T) {
	cn, sn := tcpPair(t)
	var recvStats, sendStats ConnStats
	const frames, size = 100, 50
	got := make(chan struct{})
	n := 0
	recv := serve(NewConn(sn, ConnConfig{}), func(MsgType, []byte) error {
		if n++; n == frames {
			close(got)
		}
		return nil
	})
	recv.SetStats(&recvStats) // before any frame: as the dispatcher does after a hello
	send := NewConn(cn, ConnConfig{Stats: &sendStats})
	for i := 0; i < frames; i++ {
		if err := send.Send(MsgCallEntityMethod, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-got:
	case <-time.After(waitTimeout):
		t.Fatalf("received %d of %d frames", n, frames)
	}
	const bytes = frames * (HeaderSize + size)
	if v := recvStats.FramesIn.Load(); v != frames {
		t.Errorf("FramesIn = %d, want %d", v, frames)
	}
	if v := recvStats.BytesIn.Load(); v != bytes {
		t.Errorf("BytesIn = %d, want %d", v, bytes)
	}
	if v := sendStats.FramesOut.Load(); v != frames {
		t.Errorf("FramesOut = %d, want %d", v, frames)
	}
	// Everything was received, so everything was written; the writer
	// counts after its write returns, and exits once it has drained.
	waitWriter(t, send)
	if v := sendStats.BytesOut.Load(); v != bytes {
		t.Errorf("BytesOut = %d, want %d", v, bytes)
	}
	if recvStats.FramesOut.Load() != 0 || sendStats.FramesIn.Load() != 0 {
		t.Error("counted traffic in the wrong direction")
	}
	send.Close(nil)
	waitWriter(t, send)
	recv.reason(t)
	waitWriter(t, recv.Conn)
}
