package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// resumeHeartbeats are the resume tests' heartbeats: the clients notice
// a black hole within 1 s, the gate within 1.5 s.
const resumeHeartbeats = "heartbeat_interval = 250ms\nheartbeat_timeout = 1500ms"

// resumeConfig is testConfig for real processes, with the test's
// [gate_common] settings.
const resumeConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Account
save_interval = 1s
[game1]
[gate_common]
%s
[gate1]
listen_addr = 127.0.0.1:0
ws_addr = 127.0.0.1:0
[storage]
path = chat.db
`

// reloadAsync runs goworldctl reload on dir in the background; the
// channel gets its result.
func reloadAsync(t *testing.T, ctl, dir string) <-chan result {
	done := make(chan result, 1)
	go func() { done <- run(t, repoRoot, ctl, "reload", "-no-build", dir) }()
	return done
}

// checkReload fails t unless r is a reload of game1 that restored the six
// avatars and the Rooms shards.
func checkReload(t *testing.T, what string, r result) {
	t.Helper()
	m := reloadedRE.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.code, r.out, r.err)
	}
	if want := strconv.Itoa(6 + RoomShards); m[4] != want {
		t.Errorf("%s restored %s entities, want the 6 avatars and the %d Rooms shards", what, m[4], RoomShards)
	}
	t.Logf("%s: game1 pid %s->%s, pause %sms", what, m[1], m[2], m[3])
}

// TestResumeDuringHotReload: six players chat in one room on the demo's
// real processes, four of them with resumable sessions behind network
// faults (TCP and WebSocket through toxiproxies, KCP through a UDP
// relay), two connected directly. The four are cut off before a hot
// reload of the game that hosts every avatar and come back only after
// it: their sessions are held through the freeze and the restore, while
// the other two keep talking. Then another reload, with the four cut
// while it runs and healed as soon as they notice. Every line reaches
// every player once and in order, nobody is told to leave, and each
// reload restores the six avatars.
func TestResumeDuringHotReload(t *testing.T) {
	ctl, server, _ := binaries(t)
	dir := serverDir(t, server)
	writeConfig(t, dir, fmt.Sprintf(resumeConfig, resumeHeartbeats))
	addr := startProcs(t, ctl, dir, "-no-build")
	wsHost := strings.TrimSuffix(strings.TrimPrefix(gateWSURL(t, ctl, dir), "ws://"), "/")

	cutters := []cutter{newToxiCutter(t, "tcp", addr, false), newToxiCutter(t, "ws", wsHost, true), newUDPRelay(t, addr)}
	g := &group{t: t, said: map[string]int{}}
	var cut []*member
	for i, cu := range cutters {
		ch := dialOpts(t, cu.addr(), fmt.Sprintf("cut%d", i), resumeOptions(i == 2))
		ch.register("pw", "reload")
		m := listen(ch)
		g.members = append(g.members, m)
		cut = append(cut, m)
	}
	// One more behind the TCP proxy, and two on the gate itself.
	ch := dialOpts(t, cutters[0].addr(), "cut3", resumeOptions(false))
	ch.register("pw", "reload")
	cut = append(cut, listen(ch))
	g.members = append(g.members, cut[3])
	direct := &group{t: t, said: g.said}
	for i := range 2 {
		ch := dial(t, addr, fmt.Sprintf("direct%d", i), false)
		ch.register("pw", "reload")
		m := listen(ch)
		g.members = append(g.members, m)
		direct.members = append(direct.members, m)
	}
	g.say(2)
	g.heardAll()
	cutGroup := &group{t: t, members: cut, said: g.said}

	// Cut off through a whole reload.
	for _, cu := range cutters {
		cu.cut()
	}
	g.say(2) // into the cut: lost on the wire, resent on resume
	cutGroup.await(20*time.Second, "the cut players did not notice the cut", func(m *member) bool { return m.reconnects >= 1 })
	cutGroup.say(2) // kept by the clients while they reconnect
	done := reloadAsync(t, ctl, dir)
	var r result
	for n := 0; ; n++ {
		select {
		case r = <-done:
		case <-time.After(20 * time.Millisecond):
			if n < 500 {
				direct.say(1) // held for the cut players, and the game frozen meanwhile
			}
			continue
		}
		break
	}
	checkReload(t, "reload 1 (players cut off throughout)", r)
	for _, cu := range cutters {
		cu.heal()
	}
	cutGroup.await(30*time.Second, "the cut players did not resume after reload 1", func(m *member) bool { return m.resumes >= 1 })
	g.say(2)
	g.heardAll()

	// Cut while a reload runs, healed as soon as they notice.
	done = reloadAsync(t, ctl, dir)
	for _, cu := range cutters {
		cu.cut()
	}
	g.say(2)
	cutGroup.await(20*time.Second, "the cut players did not notice the second cut", func(m *member) bool { return m.reconnects >= 2 })
	g.say(2)
	for _, cu := range cutters {
		cu.heal()
	}
	cutGroup.await(30*time.Second, "the cut players did not resume after the second cut", func(m *member) bool { return m.resumes >= 2 })
	checkReload(t, "reload 2 (players cut during it)", <-done)
	g.say(2)
	g.heardAll()
	for _, m := range g.members {
		if m.state(func(m *member) bool { return len(m.left) > 0 }) {
			t.Errorf("%s heard %v leave the room", m.name, m.left)
		}
	}
	total := 0
	for _, n := range g.said {
		total += n
	}
	t.Logf("%d lines said by %d players through 2 reloads and 2 cuts, each heard by all once and in order", total, len(g.members))
}
