package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// faultProxyEnv makes the test binary a fault proxy instead of running
// tests (see TestMain): faultProxyEnv="LISTEN UPSTREAM" starts a
// toxiproxy that listens on LISTEN and forwards to UPSTREAM, in whatever
// network namespace the process was started in (the multi-host tests
// start it with ip netns exec), so that every socket it makes, its
// accept loop's upstream dials included, belongs to that host.
const faultProxyEnv = "GOWORLD_TEST_FAULTPROXY"

// faultProxyMain runs the fault proxy described by spec (faultProxyEnv's
// value) and returns the process's exit status. It prints "listening
// ADDR" once the proxy listens, then obeys one command a line on stdin,
// answering each with "ok" or "error: WHY" on stdout:
//
//	latency MS   MS milliseconds of latency each way (replaces any toxic)
//	reset        reset every connection when data next passes (reset_peer)
//	clear        remove every toxic
//
// The test controls it over these pipes, never over the network. It
// stops at the end of stdin: when the test closes it, or dies.
func faultProxyMain(spec string, in io.Reader, out io.Writer) int {
	listen, upstream, ok := strings.Cut(spec, " ")
	if !ok {
		fmt.Fprintf(os.Stderr, "faultproxy: %s=%.64q: want \"LISTEN UPSTREAM\"\n", faultProxyEnv, spec)
		return 2
	}
	p, err := startToxiProxy("game-dispatcher", listen, upstream)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		return 1
	}
	defer p.Stop()
	fmt.Fprintf(out, "listening %s\n", p.Listen)
	sc := bufio.NewScanner(in) // lines of at most 64 KiB: the test's commands
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		err := fmt.Errorf("unknown command %.64q", sc.Text())
		switch {
		case len(f) == 2 && f[0] == "latency":
			var ms int
			if ms, err = strconv.Atoi(f[1]); err == nil && (ms < 0 || ms > 60_000) {
				err = fmt.Errorf("latency %d ms: want 0 to 60000", ms)
			}
			if err == nil {
				clearToxics(p)
				err = addToxic(p, "latency", fmt.Sprintf(`{"latency":%d}`, ms))
			}
		case len(f) == 1 && f[0] == "reset":
			clearToxics(p)
			err = addToxic(p, "reset_peer", `{"timeout":0}`)
		case len(f) == 1 && f[0] == "clear":
			clearToxics(p)
			err = nil
		}
		if err != nil {
			fmt.Fprintf(out, "error: %v\n", err)
		} else {
			fmt.Fprintln(out, "ok")
		}
	}
	return 0
}

// TestFaultProxyCommands drives faultProxyMain in-process over pipes, as
// the multi-host test drives it over a process's stdin and stdout: it
// listens, forwards to its upstream, answers ok or an error to each
// command, resets a connection with "reset" and forwards again after
// "clear", and returns at the end of its input.
func TestFaultProxyCommands(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var echoes sync.WaitGroup
	defer func() { up.Close(); echoes.Wait() }()
	echoes.Add(1)
	go func() { // an echo server, ended by up.Close
		defer echoes.Done()
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			echoes.Add(1)
			go func() { defer echoes.Done(); defer c.Close(); io.Copy(c, c) }()
		}
	}()

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	exited := make(chan int, 1)
	go func() { exited <- faultProxyMain("127.0.0.1:0 "+up.Addr().String(), inR, outW); outW.Close() }()
	out := bufio.NewScanner(outR)
	next := func() string {
		t.Helper()
		if !out.Scan() {
			t.Fatal("the fault proxy's output ended")
		}
		return out.Text()
	}
	addr, ok := strings.CutPrefix(next(), "listening ")
	if !ok {
		t.Fatal("no listening line")
	}
	do := func(cmd, want string) {
		t.Helper()
		fmt.Fprintln(inW, cmd)
		if got := next(); !strings.HasPrefix(got, want) {
			t.Fatalf("%s: %q, want %q", cmd, got, want)
		}
	}
	echo := func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && line != "ping\n" {
			err = fmt.Errorf("echo %q", line)
		}
		return err
	}

	if err := echo(); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	do("latency 20", "ok")
	if err := echo(); err != nil {
		t.Fatalf("with latency: %v", err)
	}
	do("latency twenty", "error: ")
	do("latency 90000", "error: latency 90000 ms")
	do("jump", `error: unknown command "jump"`)
	do("reset", "ok")
	if err := echo(); err == nil {
		t.Fatal("an echo through a reset")
	}
	do("clear", "ok")
	if err := echo(); err != nil {
		t.Fatalf("after clear: %v", err)
	}
	inW.Close()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("exit status %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fault proxy did not return at the end of its input")
	}
}
