//go:build linux || darwin

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNewGame: goworldctl new writes a module that, offline (no module
// proxy), tidies, vets and passes its own test (the test kit playing it
// with a real client), and that goworldctl starts and its client plays.
func TestNewGame(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a new module")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPROXY", "off") // everything must come from this checkout and the module cache
	t.Setenv("GOFLAGS", "-mod=mod")
	dir := filepath.Join(t.TempDir(), "my-game")
	r := ctl(t, "new", "-goworld", repo, dir)
	if r.code != 0 || !strings.Contains(r.stdout, "example.com/my-game") {
		t.Fatalf("new: %v", r)
	}
	for _, f := range []string{"go.mod", "go.sum", "main.go", "main_test.go", "config.ini", "client/main.go", ".gitignore", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("new wrote no %s: %v", f, err)
		}
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.Contains(string(gomod), "replace github.com/goworld-engine/goworld => "+repo) ||
		!strings.Contains(string(gomod), "tool github.com/goworld-engine/goworld/tools/goworldctl") {
		t.Errorf("go.mod:\n%s", gomod)
	}
	goIn := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in the new module: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	goIn("vet", "./...")
	if out := goIn("test", "-count=1", "./..."); !strings.Contains(out, "ok  \texample.com/my-game") {
		t.Fatalf("go test in the new module:\n%s", out)
	}

	// Played through real processes: the ports picked by the system, so
	// that tests running at once do not collide.
	ini, _ := os.ReadFile(filepath.Join(dir, "config.ini"))
	ini = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAll(ini, []byte("127.0.0.1:0"))
	writeFile(t, filepath.Join(dir, "config.ini"), string(ini))
	killAtCleanup(t, dir)
	r = ctl(t, "start", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	var gate string
	for _, p := range parseStarted(t, r.stdout) {
		if p.name == "gate1" {
			gate = p.addr
		}
	}
	if out := goIn("run", "./client", "-gate", gate); !strings.Contains(out, "Cheer [10]") || !strings.Contains(out, "clicks attribute: 10") {
		t.Fatalf("the client:\n%s", out)
	}
	if r := ctl(t, "stop", dir); r.code != 0 {
		t.Fatalf("stop: %v", r)
	}

	// A directory that is not empty, and a module path that is not one,
	// are refused, and nothing is written.
	if r := ctl(t, "new", "-goworld", repo, dir); r.code == 0 || !strings.Contains(r.stderr, "is not empty") {
		t.Errorf("new into a non-empty directory: %v", r)
	}
	bad := filepath.Join(t.TempDir(), "x")
	if r := ctl(t, "new", "-goworld", repo, "-module", "not a path", bad); r.code == 0 || !strings.Contains(r.stderr, "module path") {
		t.Errorf("new with a bad module path: %v", r)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a refused new wrote its directory")
	}
	if r := ctl(t, "new", "-goworld", t.TempDir(), filepath.Join(t.TempDir(), "y")); r.code == 0 || !strings.Contains(r.stderr, "go.mod") {
		t.Errorf("new with a -goworld that is no checkout: %v", r)
	}
}
