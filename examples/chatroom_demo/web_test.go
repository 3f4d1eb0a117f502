package main

import (
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/cluster"
	"github.com/goworld-engine/goworld/internal/nodetest"
)

// TestWebPage runs the browser client, web/index.html, under Node with a
// stand-in for the DOM (testdata/webpage.mjs), against the demo's Account
// and Avatar on an in-process cluster over WebSocket: register, log in,
// join rooms, chat, a server error, a wrong password, logging out, a
// second login kicking the first tab, and an unreachable gate.
func TestWebPage(t *testing.T) {
	nodetest.Find(t)
	c := cluster.Start(t, cluster.Options{Registry: registry(t), BootEntity: "Account", WebSocket: true, StorageDir: t.TempDir()})
	out := nodetest.Run(t, ".", 3*time.Minute, "testdata/webpage.mjs", c.GateWSURL(0))
	if !strings.Contains(out, "webpage: ok") {
		t.Fatalf("webpage.mjs did not report ok:\n%s", out)
	}
}

// TestEndToEndWebPageWithGoworldctl runs the same page script against the
// demo binary, started by goworldctl on free ports (see e2e_test.go), on
// the WebSocket URL that goworldctl status shows.
func TestEndToEndWebPageWithGoworldctl(t *testing.T) {
	nodetest.Find(t)
	ctl, server, _ := binaries(t)
	dir := serverDir(t, server)
	startProcs(t, ctl, dir, "-no-build")
	out := nodetest.Run(t, ".", 3*time.Minute, "testdata/webpage.mjs", gateWSURL(t, ctl, dir))
	if !strings.Contains(out, "webpage: ok") {
		t.Fatalf("webpage.mjs did not report ok:\n%s", out)
	}
	ctlCmd(t, ctl, "stop", dir)
}
