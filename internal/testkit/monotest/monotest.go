// Package monotest compiles and runs C# programs from Go tests, with
// mono's mcs and mono: the tests of the C# client (clients/csharp) and of
// its chat example against the chatroom demo.
//
// A test that needs mcs and mono (Debian: apt-get install mono-mcs
// mono-runtime) skips with a message that says so where they are
// missing, as the browser tests do without Chromium, so that the
// README's test command runs on a machine with only Go; with
// GOWORLD_REQUIRE_MONO=1 (set by .ci/run, which installs them) it fails
// instead.
package monotest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	once      sync.Once
	mcsPath   string
	monoPath  string
	findError error
)

// RequireEnv, set to 1, makes tests that need mcs and mono fail rather
// than skip where they are missing.
const RequireEnv = "GOWORLD_REQUIRE_MONO"

// Find returns the paths of mcs and mono, or skips the test with how to
// install them (fails it under GOWORLD_REQUIRE_MONO=1).
func Find(t testing.TB) (mcs, mono string) {
	t.Helper()
	once.Do(func() {
		var err1, err2 error
		mcsPath, err1 = exec.LookPath("mcs")
		monoPath, err2 = exec.LookPath("mono")
		if err := errors.Join(err1, err2); err != nil {
			findError = fmt.Errorf("the C# client's tests compile with mcs and run with mono, and %v", err)
		}
	})
	if findError != nil {
		msg := fmt.Sprintf("%v\nInstall them: apt-get install -y mono-mcs mono-runtime (Debian/Ubuntu; .ci/run does).", findError)
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s\n%s=1 is set", msg, RequireEnv)
		}
		t.Skip(msg)
	}
	return mcsPath, monoPath
}

// LangVersion is the C# level the client is held to: C# 7, so that Unity
// (.NET Standard 2.1) and mcs both compile it.
const LangVersion = "7"

// Compile runs mcs on sources (and refs, assemblies to reference) and
// writes out, a library if out ends in .dll, else a console program.
// Warnings are errors. It fails the test with the compiler's output.
func Compile(t testing.TB, out string, refs []string, sources ...string) string {
	t.Helper()
	mcs, _ := Find(t)
	target := "exe"
	if strings.HasSuffix(out, ".dll") {
		target = "library"
	}
	args := []string{"-langversion:" + LangVersion, "-warn:4", "-warnaserror+", "-nologo",
		"-target:" + target, "-out:" + out}
	for _, r := range refs {
		args = append(args, "-r:"+r)
	}
	args = append(args, sources...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mcs, args...)
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mcs %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return out
}

// Library compiles the client's sources (GoWorld.*.cs in srcDir) into
// GoWorld.dll in dir and returns its path.
func Library(t testing.TB, srcDir, dir string) string {
	t.Helper()
	srcs, err := filepath.Glob(filepath.Join(srcDir, "GoWorld.*.cs"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no GoWorld.*.cs in %s (%v)", srcDir, err)
	}
	return Compile(t, filepath.Join(dir, "GoWorld.dll"), nil, srcs...)
}

// Command returns a mono command for exe (not started). The caller
// starts it and must wait for it; ctx bounds it (it is killed, by the
// handle of the process, when ctx ends).
func Command(ctx context.Context, t testing.TB, exe string, args ...string) *exec.Cmd {
	t.Helper()
	_, mono := Find(t)
	cmd := exec.CommandContext(ctx, mono, append([]string{"--debug", exe}, args...)...)
	cmd.Dir = filepath.Dir(exe)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Proc is a mono program started by Start, talked to line by line.
type Proc struct {
	Cmd    *exec.Cmd
	Stdin  io.WriteCloser
	Stdout *bufio.Scanner // its standard output, a line at a time
	Stderr bytes.Buffer   // what it wrote to standard error (read after Wait)
}

// Start starts exe under mono (see Command) with pipes to its standard
// input and output, its standard error kept in Stderr. The caller must
// read Stdout to its end and call Cmd.Wait.
func Start(ctx context.Context, t testing.TB, exe string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: Command(ctx, t, exe, args...)}
	var err error
	if p.Stdin, err = p.Cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.Cmd.Stderr = &p.Stderr
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.Stdout = bufio.NewScanner(stdout)
	return p
}

// Run runs exe under mono to completion and returns its output (stdout
// and stderr). It must exit 0 within timeout (else it is killed), or the
// test fails with the output.
func Run(t testing.TB, timeout time.Duration, exe string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := Command(ctx, t, exe, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("mono %s %s: killed after %v\n%s", filepath.Base(exe), strings.Join(args, " "), timeout, out.String())
	case err != nil:
		t.Fatalf("mono %s %s: %v\n%s", filepath.Base(exe), strings.Join(args, " "), err, out.String())
	}
	t.Logf("mono %s (%v):\n%s", filepath.Base(exe), time.Since(start).Round(time.Millisecond), out.String())
	return out.String()
}

// TempDir is a directory for compiled assemblies, removed at the end of
// the test.
func TempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "goworld-csharp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
