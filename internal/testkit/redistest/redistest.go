// Package redistest starts real redis-server processes for tests: a
// standalone server, or a local Redis Cluster of several masters, each on
// free 127.0.0.1 ports with its own temporary directory. Tests stop them
// by the PID they got, and never touch another redis-server.
//
// redis-server (and redis-cli for a cluster) must be on PATH: Debian's
// package redis-server has both (apt-get install redis-server). Without
// them the tests fail, so that a CI machine without Redis cannot pass by
// skipping; set GOWORLD_SKIP_REDIS=1 to skip them instead.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SkipEnv is the environment variable that, set to 1, makes tests that
// need redis-server skip when it is not installed (they fail otherwise).
const SkipEnv = "GOWORLD_SKIP_REDIS"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 15 * time.Second

// Require fails t (or skips it, with GOWORLD_SKIP_REDIS=1) unless the
// named programs are on PATH, and returns their paths.
func Require(t testing.TB, programs ...string) []string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("redistest runs redis-server on Linux and macOS only")
	}
	var paths []string
	for _, p := range programs {
		path, err := exec.LookPath(p)
		if err != nil {
			msg := fmt.Sprintf("%s not found on PATH: install Redis (Debian: apt-get install redis-server), "+
				"or set %s=1 to skip the tests that need it", p, SkipEnv)
			if os.Getenv(SkipEnv) == "1" {
				t.Skip(msg)
			}
			t.Fatal(msg)
		}
		paths = append(paths, path)
	}
	return paths
}

// Server is one redis-server process started by Start.
type Server struct {
	// Addr is the server's 127.0.0.1:port.
	Addr string
	// TLSAddr is its TLS port's 127.0.0.1:port (StartTLS); empty for none.
	TLSAddr string
	// Dir is its working directory (dump, AOF, nodes.conf, log).
	Dir string

	bin  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts redis-server on a free 127.0.0.1 port in a new temporary
// directory, with no RDB snapshots (--save "") and no AOF unless args say
// otherwise (e.g. "--appendonly", "yes"), and waits until it answers. It
// is stopped when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := startWith(t, args)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s
}

// startWith starts a server with args on a free port, trying five.
func startWith(t testing.TB, args []string) (*Server, error) {
	t.Helper()
	bin := Require(t, "redis-server")[0]
	s := &Server{Dir: t.TempDir(), bin: bin}
	var err error
	for range 5 { // a free port can be taken before the server binds it
		var port int
		port, err = freePort()
		if err != nil {
			break
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", s.Dir, "--logfile", "redis.log",
			"--daemonize", "no", "--protected-mode", "yes"}, args...)
		if err = s.start(); err == nil {
			t.Cleanup(s.Stop)
			return s, nil
		}
	}
	return nil, err
}

// TLS says how StartTLS's server speaks TLS: its certificate and key
// (PEM files), the CA file it verifies clients' certificates with, and
// whether it requires clients to present one (tls-auth-clients).
type TLS struct {
	CertFile, KeyFile, CAFile string
	AuthClients               bool
}

// StartTLS starts a server as Start does that also serves TLS, on
// TLSAddr (another free 127.0.0.1 port), with the certificate in tc. Its
// plain port stays open for the harness (readiness, Command).
func StartTLS(t testing.TB, tc TLS, args ...string) *Server {
	t.Helper()
	Require(t, "redis-server")
	auth := "no"
	if tc.AuthClients {
		auth = "yes"
	}
	var err error
	for range 3 { // a free port can be taken before the server binds it
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		tlsArgs := append([]string{"--tls-port", strconv.Itoa(port), "--tls-cert-file", tc.CertFile,
			"--tls-key-file", tc.KeyFile, "--tls-ca-cert-file", tc.CAFile, "--tls-auth-clients", auth}, args...)
		var s *Server
		if s, err = startWith(t, tlsArgs); err == nil {
			s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs the process and waits for PING to answer.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := s.Command("PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server %s exited at start: %s\n%s", s.Addr, out.String(), s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server %s did not answer PING within %v (last: %q, %v)\n%s",
				s.Addr, startTimeout, reply, err, s.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// PID returns the process ID of the running server, or 0.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) signal(sig os.Signal) {
	if sig == nil {
		return
	}
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
	default:
		_ = cmd.Process.Signal(sig)
	}
}

// wait waits for the process to exit, killing it after timeout.
func (s *Server) wait(timeout time.Duration) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
	}
	s.mu.Lock()
	if s.cmd == cmd {
		s.cmd = nil
	}
	s.mu.Unlock()
}

// Stop shuts the server down (SIGTERM: it writes its AOF, if on, and
// exits), killing it if it has not exited within 10 s. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.signal(sigCont) // a paused server cannot handle SIGTERM
	s.signal(sigTerm)
	s.wait(10 * time.Second)
}

// Kill kills the server with SIGKILL (a crash: what the AOF has not got
// to disk is lost) and waits for it to exit.
func (s *Server) Kill() {
	s.signal(sigKill)
	s.wait(10 * time.Second)
}

// Pause stops the process (SIGSTOP): connections stay open and nothing
// answers, as with a server stuck on a slow disk. Resume continues it.
func (s *Server) Pause() { s.signal(sigStop) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(sigCont) }

// Restart starts the server again on the same port, directory and
// arguments, after Stop or Kill, and waits until it answers (it has then
// loaded its data).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.PID() != 0 {
		t.Fatalf("redistest: Restart of %s, which is running", s.Addr)
	}
	if err := s.start(); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// Command sends one command to the server on a new connection and returns
// its reply: a status or bulk string as is, an integer in decimal, an
// error reply as an error. Arrays are not supported.
func (s *Server) Command(args ...string) (string, error) {
	return Command(s.Addr, args...)
}

// Command sends one command to addr, as Server.Command does.
func Command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(req.Bytes()); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad reply %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("unsupported reply %q", line)
	}
}

// Cluster is a local Redis Cluster started by StartCluster.
type Cluster struct {
	// Addrs are the masters' addresses.
	Addrs []string
	// Nodes are the masters.
	Nodes []*Server
}

// StartCluster starts n (at least 3) redis-server processes with cluster
// mode on, joins them as masters without replicas with redis-cli --cluster
// create, and waits until every node reports cluster_state:ok. The nodes
// are stopped when the test ends.
func StartCluster(t testing.TB, n int, args ...string) *Cluster {
	t.Helper()
	cli := Require(t, "redis-server", "redis-cli")[1]
	if n < 3 {
		t.Fatalf("redistest: a Redis Cluster needs at least 3 masters, not %d", n)
	}
	c := &Cluster{}
	for range n {
		bus, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := Start(t, append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000", "--cluster-port", strconv.Itoa(bus)}, args...)...)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	create := append([]string{"--cluster", "create"}, c.Addrs...)
	create = append(create, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.Command(cli, create...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(create, " "), err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, s := range c.Nodes {
		for {
			info, err := s.Command("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok within %v: %q, %v", s.Addr, startTimeout, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}
