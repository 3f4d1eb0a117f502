package gate_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// TestDeclaredFrameCostsOnlyWhatArrived: clients that each declare a
// 64 KiB frame and send one byte of it make the gate hold memory for what
// they sent, not for what they declared (8,000 such connections once took
// a gate's heap from 3.8 MB to 538 MB, for as long as the heartbeat
// timeout let them stay).
func TestDeclaredFrameCostsOnlyWhatArrived(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("needs Linux's /proc/net/tcp to see that the gate has read the headers")
	}
	const n = 300
	c, _ := start(t, cluster.Options{})
	addr := c.Gates[0].Addr().String()
	gatePort := c.Gates[0].Addr().(*net.TCPAddr).Port

	before := heapAlloc()
	ports := map[int]bool{}
	for i := 0; i < n; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		frame := rpc.AppendHeader(nil, rpc.MsgCallEntity, 64<<10-rpc.HeaderSize)
		if _, err := nc.Write(append(frame, 'x')); err != nil {
			t.Fatal(err)
		}
		ports[nc.LocalAddr().(*net.TCPAddr).Port] = true
	}
	// Once the gate's side of every connection has nothing left to read,
	// each reader has parsed its header and holds its partial body.
	deadline := time.Now().Add(20 * time.Second)
	for {
		unread, err := unreadBytes(gatePort, ports)
		if err != nil {
			t.Fatal(err)
		}
		if unread == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gate left %d bytes unread on its %d connections after 20s", unread, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	per := (int64(heapAlloc()) - int64(before)) / n
	t.Logf("gate heap per connection holding a declared 64 KiB frame: %d bytes", per)
	// A goroutine's stack is not heap; a connection's structs and a first
	// 4 KiB chunk of body are. The whole declared body would be 64 KiB.
	if per > 24<<10 {
		t.Errorf("each connection that declared 64 KiB and sent 1 byte costs the gate %d bytes of heap, want under 24 KiB", per)
	}
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// unreadBytes sums the receive queues of the IPv4 loopback connections
// whose local port is port and whose remote port is one of peers, as
// /proc/net/tcp reports them. It fails if some of them are not listed.
func unreadBytes(port int, peers map[int]bool) (int, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	total, seen := 0, 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		lport, ok1 := hexPort(fields[1])
		rport, ok2 := hexPort(fields[2])
		if !ok1 || !ok2 || lport != port || !peers[rport] {
			continue
		}
		_, rx, _ := strings.Cut(fields[4], ":")
		q, err := strconv.ParseInt(rx, 16, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/net/tcp: queue %q: %v", fields[4], err)
		}
		total += int(q)
		seen++
	}
	if seen < len(peers) {
		return 0, fmt.Errorf("/proc/net/tcp lists %d of the %d connections", seen, len(peers))
	}
	return total, sc.Err()
}

func hexPort(addr string) (int, bool) {
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(p, 16, 32)
	return int(v), err == nil
}
