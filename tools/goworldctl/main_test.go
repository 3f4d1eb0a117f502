//go:build linux || darwin

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeBin is the fake server binary built from testdata/fakeserver, shared
// by the tests that start a cluster with -no-build.
var fakeBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kcp-go (imported by the client package, which the reload tests
		// use) runs process-wide scheduler goroutines it never stops.
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
		goleak.Cleanup(func(int) {
			for _, dir := range []string{fakeBin.dir, reloadBins.dir, demoBins.dir, svcBins.dir} {
				if dir != "" {
					os.RemoveAll(dir)
				}
			}
		}))
}

// fakeServer returns the path of the fake server binary, building it on
// first use.
func fakeServer(t *testing.T) string {
	t.Helper()
	fakeBin.once.Do(func() {
		fakeBin.dir, fakeBin.err = os.MkdirTemp("", "goworldctl-test-")
		if fakeBin.err != nil {
			return
		}
		fakeBin.path = filepath.Join(fakeBin.dir, "fakeserver")
		out, err := exec.Command("go", "build", "-o", fakeBin.path, "./testdata/fakeserver").CombinedOutput()
		if err != nil {
			fakeBin.err = fmt.Errorf("go build ./testdata/fakeserver: %v\n%s", err, out)
		}
	})
	if fakeBin.err != nil {
		t.Fatal(fakeBin.err)
	}
	return fakeBin.path
}

// result is the outcome of one goworldctl invocation.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// ctl runs goworldctl in-process with args.
func ctl(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"goworldctl"}, args...), &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// configINI returns a config.ini with the given numbers of processes, all
// listening on 127.0.0.1 with a port picked by the system.
func configINI(dispatchers, games, gates int) string {
	var b strings.Builder
	for i := 1; i <= dispatchers; i++ {
		fmt.Fprintf(&b, "[dispatcher%d]\nlisten_addr = 127.0.0.1:0\n\n", i)
	}
	b.WriteString("[game_common]\nboot_entity = Account\n\n")
	for i := 1; i <= games; i++ {
		fmt.Fprintf(&b, "[game%d]\n\n", i)
	}
	for i := 1; i <= gates; i++ {
		fmt.Fprintf(&b, "[gate%d]\nlisten_addr = 127.0.0.1:0\n\n", i)
	}
	b.WriteString("[storage]\ntype = bbolt\npath = x.db\n")
	return b.String()
}

// newServerDir returns a server directory named demo holding ini as its
// config.ini and, unless ini is empty, the fake server as its binary
// bin/demo. Whatever runs there at the end of the test is killed.
func newServerDir(t *testing.T, ini string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ini != "" {
		writeFile(t, filepath.Join(dir, "config.ini"), ini)
		copyFile(t, fakeServer(t), filepath.Join(dir, "bin", "demo"), 0o755)
		killAtCleanup(t, dir)
	}
	return dir
}

// killAtCleanup kills the cluster in dir at the end of the test, so that a
// failing test leaves nothing running.
func killAtCleanup(t testing.TB, dir string) {
	t.Cleanup(func() {
		cl, err := loadCluster(dir, "")
		if err != nil {
			return
		}
		// Each host's processes in turn (all run on this machine here).
		for _, h := range append([]string{""}, cl.Config.Hosts()...) {
			cl.Host = h
			stop(io.Discard, cl, syscall.SIGKILL, 10*time.Second)
		}
	})
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// lines splits output into lines.
func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
