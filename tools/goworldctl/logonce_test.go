//go:build linux || darwin

package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealServerLogsOnceAndStartFailureShowsBoth: a real server binary
// (testdata/reloadgame) writes each log line once, to its log file, not
// also to stderr (log/NAME.stderr); and when one fails to start (its
// gate's port is taken), goworldctl start still shows why from both
// files: the log's tail has the logged error, the stderr's tail the
// line Run prints before exiting.
func TestRealServerLogsOnceAndStartFailureShowsBoth(t *testing.T) {
	good, _ := reloadGameBinaries(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := reloadGameDir(t, good, "[dispatcher1]\nlisten_addr = 127.0.0.1:0\n[game_common]\nboot_entity = Player\n[game1]\n"+
		"[gate1]\nlisten_addr = "+taken.Addr().String()+"\nkcp = false\n[storage]\npath = x.db\n")

	r := ctl(t, "start", "-no-build", dir)
	if r.code == 0 {
		t.Fatalf("start with the gate's port taken succeeded: %v", r)
	}
	for _, want := range []string{
		"gate1", "exited before signalling READY",
		"gate1.log", "exiting with error", // the log's tail
		"gate1.stderr", "goworld: gate1: listen", // what Run printed
		"address already in use",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("start's error lacks %q: %v", want, r)
		}
	}
	// The dispatcher and the game ran (start stopped them): their log
	// lines are in the .log files only.
	for _, name := range []string{"dispatcher1", "game1"} {
		log := readFile(t, filepath.Join(dir, "log", name+".log"))
		stderr, _ := os.ReadFile(filepath.Join(dir, "log", name+".stderr"))
		if !strings.Contains(log, "level=info") {
			t.Errorf("%s.log has no log lines:\n%s", name, log)
		}
		if strings.Contains(string(stderr), "level=") {
			t.Errorf("%s.stderr repeats log lines:\n%s", name, stderr)
		}
	}
}
