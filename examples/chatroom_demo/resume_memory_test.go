//go:build linux || darwin

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
)

// procCluster is the demo's real processes, started by goworldctl, for
// tests and benchmarks alike.
type procCluster struct {
	tb              testing.TB
	ctl, dir        string
	addr, gateAdmin string
}

// startProcCluster starts the demo with resumeConfig, gateExtra in
// [gate_common] (the default heartbeats: a thousand clients of a test
// under -race on a busy machine can be late by more than a second).
func startProcCluster(tb testing.TB, gateExtra string) *procCluster {
	tb.Helper()
	ctl, server, _ := binaries(tb)
	dir := serverDir(tb, server)
	writeConfig(tb, dir, fmt.Sprintf(resumeConfig, gateExtra))
	tb.Cleanup(func() { run(tb, repoRoot, ctl, "kill", dir) })
	if r := run(tb, repoRoot, ctl, "start", "-no-build", dir); r.code != 0 {
		tb.Fatalf("goworldctl start: exit %d\n%s%s", r.code, r.out, r.err)
	}
	r := run(tb, repoRoot, ctl, "status", dir)
	pc := &procCluster{tb: tb, ctl: ctl, dir: dir}
	if m := gateLine.FindStringSubmatch(r.out); m != nil {
		pc.addr = m[2]
	}
	for _, m := range adminRE.FindAllStringSubmatch(r.out, -1) {
		if m[1] == "gate1" {
			pc.gateAdmin = m[2]
		}
	}
	if pc.addr == "" || pc.gateAdmin == "" {
		tb.Fatalf("no gate address or admin address in goworldctl status:\n%s", r.out)
	}
	return pc
}

// get returns the body of an admin URL of the gate.
func (pc *procCluster) get(path string) string {
	pc.tb.Helper()
	hc := &http.Client{Timeout: time.Minute}
	resp, err := hc.Get("http://" + pc.gateAdmin + path)
	if err != nil {
		pc.tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		pc.tb.Fatalf("%s: %v %s", path, err, resp.Status)
	}
	return string(body)
}

var heapAllocRE = regexp.MustCompile(`(?m)^# HeapAlloc = (\d+)`)

// gateHeap returns the gate's live heap (HeapAlloc after a collection).
func (pc *procCluster) gateHeap() int64 {
	pc.tb.Helper()
	m := heapAllocRE.FindStringSubmatch(pc.get("/debug/pprof/heap?gc=1&debug=1"))
	if m == nil {
		pc.tb.Fatal("no HeapAlloc in the gate's heap profile")
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// gateMetric returns the value of a metric of the gate that has one
// sample.
func (pc *procCluster) gateMetric(name string) float64 {
	pc.tb.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `(?:\{[^}]*\})? (\S+)$`).FindStringSubmatch(pc.get("/metrics"))
	if m == nil {
		pc.tb.Fatalf("no %s in the gate's metrics", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// heldMemory is what measureHeldSessions found: the gate's live heap
// with no client, then with n resumable clients connected (and one
// talker), held after their connections dropped, and held with perAway
// bytes of chat frames sent to each while away; then after more than
// resume_limit was sent to them, which ends their sessions.
type heldMemory struct {
	n                                     int
	perAway                               int
	empty, connected, held, traffic, over int64
	refusal                               string // the resume of a session that ended so
}

func (h heldMemory) per(heap int64) int64 { return (heap - h.empty) / int64(h.n) }

// measureHeldSessions: n resumable players and a talker in one room on
// the demo's real processes, with resume_limit = limit; every player's
// connection is reset (toxiproxy), the gate holds the sessions, the
// talker says lines of 900 bytes, limit/2 of them per player (kept for
// each), then as much again and more, which ends every session.
func measureHeldSessions(tb testing.TB, n, limit int) heldMemory {
	tb.Helper()
	pc := startProcCluster(tb, fmt.Sprintf("resume_window = 10m\nresume_limit = %d", limit))
	h := heldMemory{n: n, empty: pc.gateHeap()}
	cu := newToxiCutter(tb, "held", pc.addr, false)
	tch := dialOpts(tb, pc.addr, "talker", client.Options{})
	tch.register("pw", "held")
	talker := listen(tch)
	tg := &group{t: tb, members: []*member{talker}, said: map[string]int{}}
	// A player whose client does reconnect, through a proxy of its own,
	// to be refused once its session has ended.
	pcu := newToxiCutter(tb, "probe", pc.addr, false)
	popts := resumeOptions(false)
	popts.ReconnectMax = time.Minute
	pch := dialOpts(tb, pcu.addr(), "probe", popts)
	pch.register("pw", "held")
	probe := listen(pch)

	// The players register through the proxy, six at a time (the demo
	// admits eight hashes from one address at once), and join the room;
	// their events are then drained. They do not reconnect: a drop
	// leaves their sessions held on the gate.
	opts := resumeOptions(false)
	opts.ReconnectMax = -1
	var mu sync.Mutex
	var players []*client.Client
	tb.Cleanup(func() {
		for _, c := range players {
			c.Close()
		}
	})
	err := perfForEach(n, 6, func(i int) error {
		c, err := client.Dial(cu.addr(), opts)
		if err != nil {
			return err
		}
		mu.Lock()
		players = append(players, c)
		mu.Unlock()
		var boot client.EntityCreated
		if err := perfWait(c, time.Minute, "boot entity", func(ev client.Event) bool {
			boot, _ = ev.(client.EntityCreated)
			return perfIsBoot(ev)
		}); err != nil {
			return err
		}
		if err := c.Call(boot.ID, "Register", fmt.Sprintf("held%d", i), "pw"); err != nil {
			return err
		}
		if err := perfWait(c, time.Minute, "OnLogin", perfIsCall("OnLogin")); err != nil {
			return err
		}
		if err := c.CallPlayer("JoinRoom", "held"); err != nil {
			return err
		}
		if err := perfWait(c, time.Minute, "OnJoined", perfIsCall("OnJoined")); err != nil {
			return err
		}
		go func() {
			for range c.Events() {
			}
		}()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	tg.say(1)
	tg.heardAll()
	h.connected = pc.gateHeap()

	// Every connection is reset by the next bytes through it: the
	// talker's next line, to everyone.
	cu.cut()
	pcu.cut()
	tg.say(1)
	awaitCond(tb, time.Minute, "not every session held", func() bool {
		return pc.gateMetric("goworld_gate_sessions_held") == float64(n+1)
	})
	tg.heardAll()
	h.held = pc.gateHeap()

	// Lines of 900 bytes said while they are away: each is kept for each
	// held session (a frame of about 950 bytes).
	line := strings.Repeat("x", 900)
	say := func(k int) {
		for range k {
			tg.said["talker"]++
			if err := tch.c.CallPlayer("Say", fmt.Sprintf("talker %d %s", tg.said["talker"], line)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	k := limit / 2 / 950
	say(k)
	tg.heardAll()
	h.perAway = k * 950
	if held := pc.gateMetric("goworld_gate_sessions_held"); held != float64(n+1) {
		tb.Fatalf("%v sessions held after %d bytes sent to each, want %d: under resume_limit, none ends", held, h.perAway, n+1)
	}
	h.traffic = pc.gateHeap()

	// As much again and more: past resume_limit, every session ends, and
	// its avatar is told its client has gone (the room hears it leave).
	say(k + 2)
	tg.heardAll()
	awaitCond(tb, time.Minute, "held sessions left past resume_limit", func() bool {
		return pc.gateMetric("goworld_gate_sessions_held") == 0
	})
	tg.await(time.Minute, "the room did not hear every player leave", func(m *member) bool { return len(m.left) == n+1 })
	h.over = pc.gateHeap()
	pcu.heal()
	<-probe.done
	if probe.end == nil || !errors.Is(probe.end.Err, client.ErrResumeRefused) {
		tb.Fatalf("the probe's client ended with %+v, want a refused resume", probe.end)
	}
	h.refusal = probe.end.Reason
	return h
}

// TestHeldSessionMemoryIsBounded: 500 players' sessions held on the
// demo's real gate (resume_limit = 64 KiB), with 32 KB of chat sent to
// each while away: the gate's live heap per held session is at least
// what was kept for it and at most twice resume_limit (the journal
// grows by doubling) plus 16 KiB; once more than resume_limit has been
// sent, every session ends, the memory is given back (under 4 KiB per
// player left, the talker's room notices included), and a resume is
// refused with the reason.
func TestHeldSessionMemoryIsBounded(t *testing.T) {
	const n, limit = 500, 64 << 10
	h := measureHeldSessions(t, n, limit)
	t.Logf("gate heap per player: connected %d B, held %d B, held with %d B sent while away %d B, after the limit %d B",
		h.per(h.connected), h.per(h.held), h.perAway, h.per(h.traffic), h.per(h.over))
	if got := (h.traffic - h.held) / n; got < int64(h.perAway) {
		t.Errorf("held sessions grew by %d B each with %d B sent to each while away: what is kept is not measured", got, h.perAway)
	}
	if got, bound := h.per(h.traffic), int64(2*limit+16<<10); got > bound {
		t.Errorf("%d B of the gate's heap per held session, over the bound of %d B (twice resume_limit and 16 KiB)", got, bound)
	}
	if got := h.per(h.over); got > 4<<10 {
		t.Errorf("%d B per player still on the gate's heap after every session ended", got)
	}
	if want := "resume refused: the session ended: more than resume_limit was sent to it while it was away"; h.refusal != want {
		t.Errorf("resume refused with %q, want %q", h.refusal, want)
	}
}

// BenchmarkHeldSessionMemory reports the demo gate's live heap per
// player (measureHeldSessions, -held.n players, resume_limit 64 KiB):
// connected, held (connection dropped, nothing sent while away), held
// with 32 KB sent to each while away, and after more than resume_limit
// was sent (the sessions ended). One run is one measurement:
//
//	go test ./examples/chatroom_demo/ -run '^$' -bench HeldSessionMemory -benchtime 1x -count 3
func BenchmarkHeldSessionMemory(b *testing.B) {
	for range b.N {
		h := measureHeldSessions(b, *heldN, 64<<10)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(h.per(h.connected)), "B/connected")
		b.ReportMetric(float64(h.per(h.held)), "B/held")
		b.ReportMetric(float64(h.per(h.traffic)), "B/held+32KB")
		b.ReportMetric(float64(h.per(h.over)), "B/ended")
	}
}

var heldN = flag.Int("held.n", 1000, "players of BenchmarkHeldSessionMemory")
