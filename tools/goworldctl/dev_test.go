//go:build linux || darwin

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
)

// versionMain is a game whose Player answers Version with a string the
// test changes between builds.
const versionMain = `package main

import "github.com/goworld-engine/goworld"

type Player struct{ goworld.Entity }

func (p *Player) DescribeEntityType(d *goworld.TypeDesc) { d.ExposeToClient("Version") }

func (p *Player) Version() (string, error) { return %q, nil }

func init() { goworld.RegisterEntity("Player", &Player{}) }

func main() { goworld.Run() }
`

// syncBuffer is a bytes.Buffer safe for the dev loop's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devModule writes a game module (goworldctl new, then versionMain as
// v0) whose cluster listens on ports the system picks.
func devModule(t testing.TB) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "devgame")
	var out bytes.Buffer
	if err := newGame(context.Background(), &out, dir, "", repo, true); err != nil {
		t.Fatalf("new: %v\n%s", err, out.String())
	}
	os.Remove(filepath.Join(dir, "main_test.go"))
	writeFile(t, filepath.Join(dir, "main.go"), fmt.Sprintf(versionMain, "v0"))
	ini, _ := os.ReadFile(filepath.Join(dir, "config.ini"))
	ini = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAll(ini, []byte("127.0.0.1:0"))
	writeFile(t, filepath.Join(dir, "config.ini"), string(ini))
	return dir
}

// runDev runs dev on dir until the returned stop is called; it returns
// the gate's address once the cluster is up, and dev's output.
func runDev(t testing.TB, dir string) (gate string, out *syncBuffer, stop func()) {
	t.Helper()
	c, err := loadCluster(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	killAtCleanup(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dev(ctx, out, out, c, devOptions{timeout: 30 * time.Second, poll: 50 * time.Millisecond})
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "dev: watching") {
		select {
		case err := <-done:
			t.Fatalf("dev returned %v before watching:\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev never started watching:\n%s", out.String())
		}
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if m := startedLine.FindStringSubmatch(l); m != nil && m[1] == "gate1" {
			gate = m[3]
		}
	}
	if gate == "" {
		t.Fatalf("no gate in dev's output:\n%s", out.String())
	}
	return gate, out, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("dev did not end")
		}
	}
}

// waitOutput waits until dev's output holds s.
func waitOutput(t testing.TB, out *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in dev's output:\n%s", s, out.String())
		}
		time.Sleep(20 * time.Millisecond) // a poll of the output
	}
}

// askVersion asks the player's Version until it answers want.
func askVersion(t testing.TB, c *client.Client, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := client.RequestAs[string](ctx, c, "Version")
		cancel()
		if err == nil && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Version answered %q, %v; want %q", v, err, want)
		}
		time.Sleep(20 * time.Millisecond) // a poll of the game's answer
	}
}

func devClient(t testing.TB, gate string) *client.Client {
	t.Helper()
	c, err := client.Dial(gate, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.Player(); ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("no player entity")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDev: goworldctl dev starts the cluster; a save of a new version is
// built and hot-reloaded while a client stays connected (the same
// connection answers with the new code); a save that does not compile is
// printed and the game keeps answering with the old code; the next good
// save is reloaded; the end of dev stops the cluster.
func TestDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a game module")
	}
	dir := devModule(t)
	gate, out, stop := runDev(t, dir)
	c := devClient(t, gate)
	askVersion(t, c, "v0", 10*time.Second)

	writeFile(t, filepath.Join(dir, "main.go"), fmt.Sprintf(versionMain, "v1"))
	askVersion(t, c, "v1", 90*time.Second)
	waitOutput(t, out, "reloaded game1")
	waitOutput(t, out, "dev: reloaded")

	writeFile(t, filepath.Join(dir, "main.go"), strings.Replace(fmt.Sprintf(versionMain, "v2"), "nil }", "nil ", 1))
	waitOutput(t, out, "the games keep running the previous build")
	if !strings.Contains(out.String(), "main.go") {
		t.Errorf("the build error does not name the file:\n%s", out.String())
	}
	askVersion(t, c, "v1", time.Second)

	writeFile(t, filepath.Join(dir, "main.go"), fmt.Sprintf(versionMain, "v3"))
	askVersion(t, c, "v3", 90*time.Second)

	stop()
	if !strings.Contains(out.String(), "dev: stopping the cluster") {
		t.Errorf("dev's output at the end:\n%s", out.String())
	}
	if r := ctl(t, "status", dir); r.code == 0 {
		t.Errorf("the cluster still runs after dev ended:\n%s", r.stdout)
	}
}

// BenchmarkDevReload measures goworldctl dev's loop: the time from
// saving a file to the new code answering a connected client's request
// (build with a warm cache, freeze, restore), one save per iteration.
func BenchmarkDevReload(b *testing.B) {
	dir := devModule(b)
	gate, _, stop := runDev(b, dir)
	defer stop()
	c := devClient(b, gate)
	askVersion(b, c, "v0", 10*time.Second)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		want := fmt.Sprintf("v%d", i)
		writeFile(b, filepath.Join(dir, "main.go"), fmt.Sprintf(versionMain, want))
		askVersion(b, c, want, 2*time.Minute)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/save")
}
