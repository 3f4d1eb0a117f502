// Package nodetest runs Node.js scripts from Go tests: the tests of the
// JavaScript client (clients/js) and of the chat demo's web page.
//
// Node is required. A test that needs it fails with a clear message when
// node is not on PATH, unless GOWORLD_SKIP_NODE=1 is set, which skips it.
package nodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// SkipEnv is the environment variable that, set to 1, skips tests that
// need Node instead of failing them.
const SkipEnv = "GOWORLD_SKIP_NODE"

var (
	once    sync.Once
	path    string
	flags   []string
	version string
	findErr error
)

// Find returns the node binary and the flags that give it a global
// WebSocket (--experimental-websocket on Node 20, none on Node 22+). It
// fails the test if there is no usable node, or skips it when
// GOWORLD_SKIP_NODE=1.
func Find(t testing.TB) (string, []string) {
	t.Helper()
	once.Do(find)
	if findErr != nil {
		if os.Getenv(SkipEnv) == "1" {
			t.Skipf("%v (skipped: %s=1)", findErr, SkipEnv)
		}
		t.Fatalf("%v\nInstall Node.js 20 or later, or set %s=1 to skip the tests that need it.", findErr, SkipEnv)
	}
	return path, flags
}

func find() {
	var err error
	if path, err = exec.LookPath("node"); err != nil {
		findErr = fmt.Errorf("node is not on PATH: the JavaScript client's tests run under Node.js (%v)", err)
		return
	}
	out, err := probe("--version")
	if err != nil {
		findErr = fmt.Errorf("%s --version: %v", path, err)
		return
	}
	version = strings.TrimSpace(out)
	const hasWS = `process.exit(typeof WebSocket === "function" ? 0 : 3)`
	for _, f := range [][]string{{"--experimental-websocket"}, nil} {
		if _, err := probe(append(f, "-e", hasWS)...); err == nil {
			flags = f
			return
		}
	}
	findErr = fmt.Errorf("node %s at %s has no global WebSocket: use Node 22 or later, or Node 20 (which needs --experimental-websocket)", version, path)
}

func probe(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Run runs `node [flags] script args...` in dir and returns its output
// (stdout and stderr). The script must exit 0: otherwise, or if it runs
// longer than timeout (it is then killed, by the handle of the process
// this function started), the test fails with the output.
func Run(t testing.TB, dir string, timeout time.Duration, script string, args ...string) string {
	t.Helper()
	node, f := Find(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append(append(append([]string{}, f...), script), args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1")
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("node %s %s: killed after %v\n%s", script, strings.Join(args, " "), timeout, out.String())
	case err != nil:
		t.Fatalf("node %s %s (%s): %v\n%s", script, strings.Join(args, " "), version, err, out.String())
	}
	t.Logf("node %s (%s, %v):\n%s", script, version, time.Since(start).Round(time.Millisecond), out.String())
	return out.String()
}

// TSC returns the TypeScript compiler to use: $GOWORLD_TSC, else tsc on
// PATH (.ci/run installs a pinned one and sets GOWORLD_TSC). Without one
// the test skips, or fails under GOWORLD_REQUIRE_TSC=1; what names the
// test's need.
func TSC(t testing.TB, what string) string {
	t.Helper()
	p := os.Getenv("GOWORLD_TSC")
	if p == "" {
		p, _ = exec.LookPath("tsc")
	}
	if p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "no tsc (set GOWORLD_TSC, e.g. after npm install --prefix /opt/goworld-tsc typescript@5, " +
		"to /opt/goworld-tsc/node_modules/.bin/tsc): " + what + " needs it"
	if os.Getenv("GOWORLD_REQUIRE_TSC") == "1" {
		t.Fatalf("%s, and GOWORLD_REQUIRE_TSC=1 is set", msg)
	}
	t.Skip(msg)
	return ""
}
