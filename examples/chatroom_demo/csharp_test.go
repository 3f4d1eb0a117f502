package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/monotest"
)

// csChat is the C# chat example (clients/csharp/examples/Chat.cs) running
// under mono, its standard input and output piped to the test.
type csChat struct {
	t     *testing.T
	name  string
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
	wait  func() error

	mu  sync.Mutex
	out []string
}

func startCSChat(ctx context.Context, t *testing.T, exe, name string, args ...string) *csChat {
	t.Helper()
	cmd := monotest.Command(ctx, t, exe, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &csChat{t: t, name: name, stdin: stdin, lines: make(chan string, 100), done: make(chan struct{}), wait: cmd.Wait}
	go func() {
		defer close(c.done)
		defer close(c.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			c.mu.Lock()
			c.out = append(c.out, s.Text())
			c.mu.Unlock()
			select {
			case c.lines <- s.Text():
			default: // nobody waits for this one: it is kept in out
			}
		}
	}()
	return c
}

// expect skips lines until one equal to want, failing after 20 s (a
// login runs the password hash) or at the end of the output.
func (c *csChat) expect(want string) {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("%s: output ended waiting for %q:\n%s", c.name, want, c.output())
			}
			if l == want {
				return
			}
		case <-timeout:
			c.t.Fatalf("%s: no %q after 20s:\n%s", c.name, want, c.output())
		}
	}
}

func (c *csChat) say(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.t.Fatalf("%s: %v", c.name, err)
	}
}

func (c *csChat) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.out, "\n")
}

// exit closes standard input (or not, if the program ends by itself) and
// waits for the exit status, which must be want.
func (c *csChat) exit(want int) {
	c.t.Helper()
	c.stdin.Close()
	<-c.done
	err := c.wait()
	code := 0
	if ee, ok := err.(interface{ ExitCode() int }); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("%s: %v\n%s", c.name, err, c.output())
	}
	if code != want {
		c.t.Fatalf("%s: exit status %d, want %d:\n%s", c.name, code, want, c.output())
	}
}

// TestCSharpChatExample: the C# client's chat example against the real
// chatroom demo (its entities, in process, on real sockets): two users
// register and chat (alice over KCP), /who is a request, a wrong password
// is refused, a returning user logs in, and both leave cleanly.
func TestCSharpChatExample(t *testing.T) {
	dir := monotest.TempDir(t)
	src := filepath.Join("..", "..", "clients", "csharp")
	lib := monotest.Library(t, src, dir)
	exe := monotest.Compile(t, filepath.Join(dir, "Chat.exe"), []string{lib}, filepath.Join(src, "examples", "Chat.cs"))

	c := startCluster(t, t.TempDir())
	gate := c.GateAddr(0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	bob := startCSChat(ctx, t, exe, "bob", "-gate", gate, "-user", "bob", "-password", "pw-bob", "-register")
	bob.expect("logged in as bob")
	bob.expect("joined lobby")
	alice := startCSChat(ctx, t, exe, "alice", "-gate", gate, "-user", "alice", "-password", "pw-alice", "-register", "-kcp")
	alice.expect("logged in as alice")
	alice.expect("joined lobby")
	bob.expect("[lobby] alice entered")

	alice.say("hello from C# 🎮")
	bob.expect("[lobby] alice: hello from C# 🎮")
	alice.expect("[lobby] alice: hello from C# 🎮")
	bob.say("//slash")
	alice.expect("[lobby] bob: /slash")
	alice.say("/who")
	alice.expect("[lobby] members: alice, bob")
	alice.exit(0) // end of input: leaves once /who is answered
	bob.expect("[lobby] alice left")

	wrong := startCSChat(ctx, t, exe, "alice2", "-gate", gate, "-user", "alice", "-password", "nope")
	wrong.expect("login failed: wrong name or password")
	wrong.exit(1)

	back := startCSChat(ctx, t, exe, "alice3", "-gate", gate, "-user", "alice", "-password", "pw-alice", "-room", "den")
	back.expect("logged in as alice")
	back.expect("joined den")
	back.say("anyone?")
	back.expect("[den] alice: anyone?")
	back.say("/quit")
	back.exit(0)

	bob.say("/quit")
	bob.exit(0)
	if strings.Contains(bob.output(), "anyone?") {
		t.Errorf("bob, in lobby, heard a line said in den:\n%s", bob.output())
	}
	// alice came over KCP: the gate answered a handshake.
	var m bytes.Buffer
	if err := c.Gates[0].WriteMetrics(&m); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^goworld_gate_kcp_hellos_answered_total\{[^}]*\} [1-9]`).Match(m.Bytes()) {
		t.Errorf("no KCP handshake answered: alice did not come over KCP")
	}
}
