//go:build linux || darwin

package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/proc"
)

// TestStatusShowsMetrics runs the reload game as real processes, the
// games and gates with admin servers on free loopback ports (the
// default) and the dispatchers without (http_addr empty), sends client
// traffic, and checks what status prints under each process.
func TestStatusShowsMetrics(t *testing.T) {
	good, _ := reloadGameBinaries(t)
	dir := reloadGameDir(t, good, "[dispatcher_common]\nhttp_addr =\n"+reloadConfig)
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	ps := parseStarted(t, r.stdout)
	gateAddr := ps[len(ps)-1].addr

	const players, echoes = 2, 10
	var sent client.Stats
	for i := 0; i < players; i++ {
		p := dialPlayer(t, gateAddr)
		for n := 0; n < echoes; n++ {
			p.echo(n)
		}
		s := p.c.Stats()
		sent.FramesOut += s.FramesOut
	}

	r = ctl(t, "status", dir)
	if r.code != 0 {
		t.Fatalf("status: %v", r)
	}
	t.Logf("goworldctl status:\n%s", r.stdout)
	// Each process's line, then its metrics line.
	ls := lines(r.stdout)
	figures := map[string]string{}
	for i := 0; i+1 < len(ls); i += 2 {
		name, _, _ := strings.Cut(ls[i], " ")
		if !strings.HasPrefix(ls[i+1], "    ") {
			t.Fatalf("no metrics line under %s:\n%s", name, r.stdout)
		}
		figures[name] = strings.TrimSpace(ls[i+1])
	}
	if len(figures) != 4 || len(ls) != 8 {
		t.Fatalf("status output:\n%s", r.stdout)
	}
	for _, n := range []string{"dispatcher1", "dispatcher2"} {
		if figures[n] != noAdminLine {
			t.Errorf("%s: %q, want %q", n, figures[n], noAdminLine)
		}
	}
	field := func(name, key string) string {
		m := regexp.MustCompile(`(?:^| )` + key + `=(\S+)`).FindStringSubmatch(figures[name])
		if m == nil {
			t.Errorf("%s: no %s= in %q", name, key, figures[name])
			return ""
		}
		return m[1]
	}
	number := func(name, key string) float64 {
		v, err := strconv.ParseFloat(field(name, key), 64)
		if err != nil {
			t.Errorf("%s: %s: %v", name, key, err)
		}
		return v
	}
	for _, n := range []string{"game1", "gate1"} {
		var info proc.ReadyInfo
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "run", n+".json"))), &info); err != nil {
			t.Fatal(err)
		}
		if info.HTTPAddr == "" || field(n, "admin") != info.HTTPAddr || !strings.HasPrefix(info.HTTPAddr, "127.0.0.1:") {
			t.Errorf("%s: admin address %q, READY record says %q", n, field(n, "admin"), info.HTTPAddr)
		}
		if number(n, "packets_in") < players*echoes {
			t.Errorf("%s: packets_in < %d", n, players*echoes)
		}
	}
	if got := number("gate1", "clients"); got != players {
		t.Errorf("gate1: clients=%v, want %d", got, players)
	}
	if got := number("gate1", "packets_in"); got < float64(sent.FramesOut) {
		t.Errorf("gate1: packets_in=%v, the clients sent %d frames", got, sent.FramesOut)
	}
	if got := number("game1", "entities"); got != players {
		t.Errorf("game1: entities=%v, want %d", got, players)
	}
	for _, key := range []string{"tick_mean", "tick_p99"} {
		if v := field("game1", key); !strings.HasSuffix(v, "s") {
			t.Errorf("game1: %s=%q is not a duration", key, v)
		}
	}

	// With -interval, rates over it: a client keeps calling meanwhile.
	p := dialPlayer(t, gateAddr)
	stopSending := make(chan struct{})
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for n := 0; n < 2000; n++ { // bounded: about 2s at most
			select {
			case <-stopSending:
				return
			case <-time.After(time.Millisecond): // pacing, not synchronisation
			}
			if p.c.CallPlayer("Echo", n) != nil {
				return
			}
		}
	}()
	go func() {
		for range p.c.Events() { // drain the echoes until the client closes
		}
	}()
	r = ctl(t, "status", "-interval", "300ms", dir)
	close(stopSending)
	<-sending
	t.Logf("goworldctl status -interval 300ms:\n%s", r.stdout)
	m := regexp.MustCompile(`(?m)^    admin=\S+ clients=3 .* \| over 300ms: packets_in=(\S+)/s packets_out=\S+/s bytes_in=\S+/s bytes_out=\S+/s$`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("status -interval: %v", r)
	} else if v, err := strconv.ParseFloat(m[1], 64); err != nil || v <= 0 {
		t.Errorf("gate1 packets_in rate %q while a client was calling", m[1])
	}
	if r := ctl(t, "stop", dir); r.code != 0 {
		t.Errorf("stop: %v", r)
	}
}

// TestStatusWatch: status -watch shows the status again and again, each
// under a time line, going on while processes are down, until its
// context ends.
func TestStatusWatch(t *testing.T) {
	dir := newServerDir(t, configINI(1, 1, 1))
	cl, err := loadCluster(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- watchStatus(ctx, out, errOut, cl, 50*time.Millisecond) }()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out.String(), "-- ") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("watch showed:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond) // a poll of the output
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end with its context")
	}
	if strings.Count(out.String(), "gate1 down") < 3 || !strings.Contains(errOut.String(), "processes down") {
		t.Fatalf("out:\n%s\nerr:\n%s", out.String(), errOut.String())
	}
}
