package cutproxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes each line back until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// roundTrip sends a line on c and reads it back within 5 s.
func roundTrip(c net.Conn, r *bufio.Reader, line string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := r.ReadString('\n')
	if len(got) > 0 {
		got = got[:len(got)-1]
	}
	return got, err
}

// TestCutAndHeal: lines go through; Cut ends the connection at once (the
// client's next read fails, it does not hang); a connection made while
// cut is reset; after Heal a new one works; Close ends everything.
func TestCutAndHeal(t *testing.T) {
	p, err := Start(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, "hello"); got != "hello" || err != nil {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	if n := p.Cut(); n != 1 {
		t.Fatalf("Cut reset %d connections, want 1", n)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("a read after Cut: %v, want the connection's end", err)
	}

	// The reset may come before Dial returns (a busy machine), or after.
	if blocked, err := net.Dial("tcp", p.Addr()); err == nil {
		defer blocked.Close()
		if _, err := roundTrip(blocked, bufio.NewReader(blocked), "x"); err == nil || isTimeout(err) {
			t.Fatalf("a connection while cut: %v, want it reset", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Cuts() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Cuts() = %d, want 2: the connection made while cut was not reset", p.Cuts())
		}
		time.Sleep(time.Millisecond)
	}

	p.Heal()
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	r2 := bufio.NewReader(c2)
	if got, err := roundTrip(c2, r2, "again"); got != "again" || err != nil {
		t.Fatalf("after Heal: %q, %v", got, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r2.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("a read after Close: %v, want the connection's end", err)
	}
	if p.Close() == nil {
		t.Fatal("a second Close did not fail")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
