//go:build linux || darwin

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClusterSecretThroughGoworldctl runs real processes that share a
// [cluster] secret_file, started by goworldctl: they join and serve a
// client. A gate started by hand with another cluster's secret reaches
// the same dispatchers and is refused: its log and the dispatchers' say
// why, and the cluster keeps serving.
func TestClusterSecretThroughGoworldctl(t *testing.T) {
	good, _ := reloadGameBinaries(t)
	const cluster = "[cluster]\nsecret_file = cluster.secret\n"
	dir := reloadGameDir(t, good, reloadConfig+cluster)
	if err := os.WriteFile(filepath.Join(dir, "cluster.secret"), []byte("c2VjcmV0IG9mIHRoaXMgdGVzdCdzIGNsdXN0ZXIu\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	ps := parseStarted(t, r.stdout)
	dispatchers := ps[0].addr + "," + ps[1].addr
	gateAddr := ps[len(ps)-1].addr
	p := dialPlayer(t, gateAddr)
	p.echo(1)

	// An intruder: the same binary and config, another secret.
	other := filepath.Join(t.TempDir(), "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(other, "config.ini"), reloadConfig+"[gate2]\nlisten_addr = 127.0.0.1:0\nkcp = false\n"+cluster)
	if err := os.WriteFile(filepath.Join(other, "cluster.secret"), []byte("YW5vdGhlciBjbHVzdGVyJ3Mgc2VjcmV0Lg==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(other, "gate2.log")
	cmd := exec.Command(filepath.Join(dir, "bin", "rg"), "-role", "gate", "-id", "2", "-config", "config.ini",
		"-dispatchers", dispatchers, "-log", logFile)
	cmd.Dir = other
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	contains := func(path, s string) bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), s)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !(contains(logFile, "dispatcher refused this process: wrong cluster secret") &&
		contains(filepath.Join(dir, "log", "dispatcher1.log"), "wrong cluster secret") &&
		contains(filepath.Join(dir, "log", "dispatcher2.log"), "wrong cluster secret")) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("no refusal in the logs after 15s; gate2.log:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if contains(logFile, "connected to dispatcher") {
		t.Fatal("the intruder says it connected")
	}
	p.echo(2) // the cluster still serves
	if r := ctl(t, "stop", dir); r.code != 0 {
		t.Fatalf("stop: %v", r)
	}
}
