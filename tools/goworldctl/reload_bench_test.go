//go:build linux || darwin

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/proc"
)

// BenchmarkReloadWorld measures `goworldctl reload` through real processes
// on a game holding n Monsters (ten attributes and a timer each, as in
// game's BenchmarkReloadPause): the pause the game reports (from SIGUSR1
// until the new binary serves) and the whole reload command's time. Run it
// with -benchtime 1x: each iteration starts a cluster, spawns the world and
// reloads it once.
func BenchmarkReloadWorld(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("entities=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchReloadWorld(b, n)
			}
		})
	}
}

func benchReloadWorld(b *testing.B, n int) {
	dir := filepath.Join(b.TempDir(), "rw")
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "rw"), "./testdata/reloadgame").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	// The tests' 5 s freeze_timeout is too short for 100,000 entities on
	// a loaded machine (10.6 s seen at load 13-16): a benchmark measures
	// the freeze, it does not bound it.
	config := strings.Replace(reloadConfig, "freeze_timeout = 5s", "freeze_timeout = 2m", 1)
	if err := os.WriteFile(filepath.Join(dir, "config.ini"), []byte(config), 0o644); err != nil {
		b.Fatal(err)
	}
	goworldctl := func(args ...string) string {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"goworldctl"}, args...), &out, &errb); code != 0 {
			b.Fatalf("goworldctl %v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}
	goworldctl("start", "-no-build", dir)
	defer run(context.Background(), []string{"goworldctl", "kill", dir}, &bytes.Buffer{}, &bytes.Buffer{})

	var gate proc.ReadyInfo
	data, err := os.ReadFile(filepath.Join(dir, "run", "gate1.json"))
	if err == nil {
		err = json.Unmarshal(data, &gate)
	}
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.Dial(gate.Addr, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	await := func(method string) []any {
		timeout := time.After(2 * time.Minute)
		for {
			select {
			case ev := <-c.Events():
				if call, ok := ev.(client.Call); ok && call.Method == method {
					return call.Args
				}
				if d, ok := ev.(client.Disconnected); ok {
					b.Fatalf("disconnected waiting for %s: %s", method, d.Reason)
				}
			case <-timeout:
				b.Fatalf("no %s", method)
			}
		}
	}
	await("Welcome")
	c.CallPlayer("Spawn", n)
	await("Spawned")

	b.ResetTimer()
	start := time.Now()
	out := goworldctl("reload", "-no-build", dir)
	took := time.Since(start)
	b.StopTimer()
	m := reloadedLine.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no reloaded line:\n%s", out)
	}
	pause, _ := strconv.ParseFloat(m[3], 64)
	fi, err := os.Stat(filepath.Join(dir, m[5]))
	if err != nil {
		fi, err = os.Stat(m[5])
	}
	if err != nil {
		b.Fatal(err)
	}
	// The client is still there and served by the new process.
	c.CallPlayer("Echo", 7)
	await("Echoed")
	b.ReportMetric(pause, "pause-ms")
	b.ReportMetric(float64(took.Microseconds())/1000, "reload-cmd-ms")
	b.ReportMetric(float64(fi.Size()), "file-bytes")
}
