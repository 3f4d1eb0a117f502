package dispatcher_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/rpc"
)

// sockDir returns a short temporary directory: Unix socket paths hold
// about 100 bytes, and t.TempDir's can be longer.
func sockDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "gw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// A dispatcher with a UnixSocket serves peers on it as on TCP, counts
// them in goworld_dispatcher_unix_peers, and removes the socket when it
// closes.
func TestUnixSocketServesPeers(t *testing.T) {
	path := filepath.Join(sockDir(t), "sub", "d.sock") // the directory is created
	s := startDispatcher(t, dispatcher.Config{UnixSocket: path})
	if a := s.d.UnixAddr(); a == nil || a.String() != path {
		t.Fatalf("UnixAddr() = %v, want %s", s.d.UnixAddr(), path)
	}
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{name: "game1", nc: nc, frames: make(chan frame, 1024), done: make(chan struct{}), quit: make(chan struct{})}
	go p.read()
	t.Cleanup(p.close)
	p.hello(t, rpc.RoleGame, 1)
	connect(t, s, rpc.RoleGate, 1) // over TCP
	var m bytes.Buffer
	if err := s.d.WriteMetrics(&m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.String(), `goworld_dispatcher_unix_peers{process="dispatcher7"} 1`) {
		t.Fatalf("metrics do not count one Unix peer:\n%s", m.String())
	}
	p.close()
	s.stop(t)
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("the socket file is still there after Close: %v", err)
	}
}

// A socket file that nothing listens on (a dispatcher that died) is
// replaced; one that a live process listens on, and a file that is not a
// socket, are errors that leave the file alone.
func TestUnixSocketFileThatExists(t *testing.T) {
	dir := sockDir(t)

	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(stale); err != nil {
		t.Fatalf("test setup: no stale socket file: %v", err)
	}
	s := startDispatcher(t, dispatcher.Config{UnixSocket: stale})
	if c, err := net.Dial("unix", stale); err != nil {
		t.Fatalf("the stale socket was not replaced: %v", err)
	} else {
		c.Close()
	}
	s.stop(t)

	live := filepath.Join(dir, "live.sock")
	other, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: "127.0.0.1:0", UnixSocket: live}); err == nil {
		d.Close()
		t.Fatal("New took over a socket another process listens on")
	} else if !strings.Contains(err.Error(), "another process listens on it") {
		t.Fatalf("live socket: %v", err)
	}
	if c, err := net.Dial("unix", live); err != nil {
		t.Fatalf("the other process's socket is gone: %v", err)
	} else {
		c.Close()
	}

	plain := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(plain, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := dispatcher.New(dispatcher.Config{ID: 1, ListenAddr: "127.0.0.1:0", UnixSocket: plain}); err == nil {
		d.Close()
		t.Fatal("New listened over a regular file")
	} else if !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file: %v", err)
	}
	if b, err := os.ReadFile(plain); err != nil || string(b) != "keep me" {
		t.Fatalf("the regular file was touched: %q, %v", b, err)
	}
}
