//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/netnstest"
)

// forwarderAddr is where every game and gate host runs its forwarder to
// the dispatcher, and so dispatcher1's advertise_addr: the config is the
// same on every host, as docs/deployment.md asks, and each host's
// processes dial their own loopback.
const forwarderAddr = "127.0.0.1:13001"

// hostProxy is a fault proxy (faultProxyMain: the test binary run as a
// helper) running in a host's namespace, controlled over its stdin and
// stdout.
type hostProxy struct {
	t     *testing.T
	host  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string // its stdout, a line at a time; closed at its end
	errb  *syncBuffer // its stderr
	done  chan struct{}
}

// syncBuffer is a bytes.Buffer for a process's stderr, read by the test.
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

// startHostProxy starts a fault proxy on h listening on listen and
// forwarding to upstream, and waits until it listens. It is stopped when
// the test ends: its stdin closed, then killed by its PID if it has not
// exited within 10 s.
func startHostProxy(t *testing.T, h *netnstest.Host, listen, upstream string) *hostProxy {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &hostProxy{t: t, host: h.Name, cmd: h.Command(exe), lines: make(chan string, 16), errb: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), faultProxyEnv+"="+listen+" "+upstream)
	p.cmd.Stderr = p.errb
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // ends with the process's stdout
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() { p.cmd.Wait(); close(p.done) }() // after the reader: Wait closes the pipe
	t.Cleanup(func() {
		p.in.Close()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	if line := p.reply("start"); !strings.HasPrefix(line, "listening ") {
		t.Fatalf("fault proxy on %s: %q, want listening ADDR", h.Name, line)
	}
	return p
}

// reply returns the proxy's next line, failing the test after 10 s or if
// it ended.
func (p *hostProxy) reply(what string) string {
	p.t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			<-p.done
			p.t.Fatalf("fault proxy on %s ended (%s) at %s: %s", p.host, p.cmd.ProcessState, what, p.errb)
		}
		return line
	case <-time.After(10 * time.Second):
		p.t.Fatalf("fault proxy on %s: no answer to %s within 10s; stderr: %s", p.host, what, p.errb)
	}
	return ""
}

// do sends a command (latency MS, reset, clear) and waits for its "ok".
func (p *hostProxy) do(command string) {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.in, command); err != nil {
		p.t.Fatalf("fault proxy on %s: %s: %v", p.host, command, err)
	}
	if line := p.reply(command); line != "ok" {
		p.t.Fatalf("fault proxy on %s: %s: %s", p.host, command, line)
	}
}

// pids returns each server's PID (as "pid=N") by name, as goworldctl
// status on its host lists it, failing if one is not running.
func (m *multiHost) pids() map[string]string {
	m.t.Helper()
	pids := map[string]string{}
	for h, name := range map[string]string{"disp": "dispatcher1", "game1": "game1", "game2": "game2", "gate1": "gate1", "gate2": "gate2"} {
		out, err := m.net.Host(h).Command(m.ctl, "status", "-host", h, m.dirs[h]).CombinedOutput()
		if err != nil {
			m.t.Fatalf("goworldctl status -host %s: %v\n%s", h, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == name && f[1] == "running" && strings.HasPrefix(f[2], "pid=") {
				pids[name] = f[2]
			}
		}
		if pids[name] == "" {
			m.t.Fatalf("goworldctl status -host %s: %s not running:\n%s", h, name, out)
		}
	}
	return pids
}

// TestMultiHostChatThroughToxiproxy runs the demo over six hosts
// (network namespaces) with each game's link to the dispatcher through a
// toxiproxy on the game's own host (its dispatcher address, by
// advertise_addr, is a forwarder on its loopback; the gates' hosts run
// one too, without faults). While players on both gates chat, the games'
// links get 20 ms, then 200 ms of latency each way (every line reaches
// every player once and in order, no one disconnected), then connection
// resets while everyone talks (each player hears every line once and in
// order until it is told to reconnect, and every one is told: each talks
// through a link that was reset), then no fault. Nothing acknowledged
// is lost: the lines a player saw come back are counted in its saved
// avatar. After the fault the players log in again (back in their
// room), a new player registers, and all chat, with every server the
// same process as before (no restart).
func TestMultiHostChatThroughToxiproxy(t *testing.T) {
	proxies := map[string]*hostProxy{}
	m := startMultiHost(t, multiHostOptions{
		advertise: forwarderAddr,
		beforeServers: func(m *multiHost) {
			upstream := m.net.Host("disp").Addr + ":13001"
			for _, h := range []string{"game1", "game2", "gate1", "gate2"} {
				proxies[h] = startHostProxy(t, m.net.Host(h), forwarderAddr, upstream)
			}
		},
	})
	pids := m.pids()
	games := func(command string) {
		t.Helper()
		for _, h := range []string{"game1", "game2"} {
			proxies[h].do(command)
		}
	}

	players := make([]*chatter, 4)
	sent := make([]int, len(players))  // lines each player sent (a call written)
	acked := make([]int, len(players)) // lines each player heard back
	for i := range players {
		players[i] = m.dial([]string{"gate1", "gate2"}[i%2], fmt.Sprintf("p%d", i))
		players[i].register("pw", "lobby")
	}
	round := func(tag string, lines int) {
		t.Helper()
		for i, err := range chatRound(players, tag, lines) {
			if err != nil {
				t.Fatalf("%s: %v", tag, err)
			}
			sent[i] += lines
			acked[i] += lines
		}
	}
	round("before", 5)
	// The dispatcher spread the players' entities over both game hosts:
	// the faults below are on both games' links.
	for _, h := range []string{"game1", "game2"} {
		if n := m.gameEntities(h); n == 0 {
			t.Fatalf("%s hosts no entity", h)
		}
	}

	// Latency: slower, never lost, duplicated or reordered; no one kicked.
	games("latency 20")
	round("lat20", 20)
	games("latency 200")
	round("lat200", 5)
	games("clear")

	// Resets while everyone talks: once each player has heard a few of
	// its own lines back, each game's link is reset as data next passes,
	// and again on every redial, until the fault is cleared. The players
	// keep talking, a line every 25 ms, until they are told to go (at
	// most resetLines lines: 10 s). Every player talks to its avatar
	// through its game's link, so every one of them must be told.
	const resetLines = 400
	w := watchRound(players, resetLines, "reset", 45*time.Second)
	var talking sync.WaitGroup
	for i, p := range players {
		talking.Add(1)
		go func() {
			defer talking.Done()
			for n := 0; n < resetLines; n++ {
				if p.c.CallPlayer("Say", fmt.Sprintf("reset %d %d", i, n)) != nil {
					return // closed: it was told (the watch checks that)
				}
				sent[i]++                         // the call was written: at most this many counted
				time.Sleep(25 * time.Millisecond) // the pace of the talk, not a wait for an event
			}
		}()
	}
	for i := range players {
		w.awaitOwn(t, i, 3)
	}
	games("reset")
	talking.Wait()
	res := w.wait()
	for i, r := range res {
		if r.err != nil {
			t.Fatal(r.err)
		}
		acked[i] += r.heard[i]
		switch {
		case r.told == "":
			t.Fatalf("p%d was not disconnected by the resets of its game's link (heard %v): does the link go through the proxy?", i, r.heard)
		case !strings.Contains(r.told, "please reconnect"):
			t.Errorf("p%d disconnected with %q, want to be told to reconnect", i, r.told)
		}
	}
	t.Logf("resets: lines acknowledged %v of %v sent in all", acked, sent)
	games("clear")

	// Back to normal without a restart: the games redial through their
	// proxies, the players log in again to their saved avatars, which are
	// back in their room and count every line they saw acknowledged.
	deadline := time.Now().Add(30 * time.Second)
	for i, old := range players {
		old.c.Close()
		gate := []string{"gate1", "gate2"}[i%2]
		for {
			p := m.dial(gate, old.name)
			err := tryLogin(p, "pw")
			if err == nil {
				players[i] = p
				break
			}
			p.c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("%s cannot log in 30s after the fault: %v", old.name, err)
			}
			time.Sleep(200 * time.Millisecond) // the games redial with backoff; polling with a deadline
		}
		av, ok := players[i].c.Player()
		if !ok || av.Type != "Avatar" {
			t.Fatalf("%s: logged in, player %+v", old.name, av)
		}
		said, _ := av.Attrs["said"].(int64)
		if room := av.Attrs["room"]; room != "lobby" {
			t.Errorf("%s: back in room %v, want lobby", old.name, room)
		}
		if int(said) < acked[i] || int(said) > sent[i] {
			t.Errorf("%s: its avatar counts %d lines (%T %v); it saw %d acknowledged and sent %d: acknowledged lines lost",
				old.name, said, av.Attrs["said"], av.Attrs["said"], acked[i], sent[i])
		}
	}
	newbie := m.dial("gate2", "p4")
	newbie.register("pw", "lobby")
	players, sent, acked = append(players, newbie), append(sent, 0), append(acked, 0)
	round("after", 5)

	if now := m.pids(); fmt.Sprint(now) != fmt.Sprint(pids) {
		t.Fatalf("servers restarted: before %v, after %v", pids, now)
	}
}

// toldResult is what one player saw of a round during resets.
type toldResult struct {
	heard []int  // per speaker, lines heard (once each, in order)
	told  string // the reason it was disconnected with; "" if it was not
	err   error  // a broken promise
}

// roundWatch reads every player's chat of a round in which each says up
// to lines lines tagged tag, while faults come and go. Each player must
// hear every speaker's lines once and in order until it is told it was
// disconnected (with a reason); one that is not told must hear every
// line of the speakers not told, and of each told speaker at least every
// line that speaker heard back (acknowledged): a line may be lost only
// with its speaker told. Bounded by a timeout.
type roundWatch struct {
	n, lines int
	tag      string
	mu       sync.Mutex // guards res and ended
	res      []toldResult
	ended    []bool
	wg       sync.WaitGroup
}

// watchRound starts reading the players' events for a round.
func watchRound(players []*chatter, lines int, tag string, timeout time.Duration) *roundWatch {
	w := &roundWatch{n: len(players), lines: lines, tag: tag, res: make([]toldResult, len(players)), ended: make([]bool, len(players))}
	for i := range w.res {
		w.res[i].heard = make([]int, w.n)
	}
	for i, p := range players {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.read(i, p, timeout)
		}()
	}
	return w
}

// satisfied says whether player i, still connected, has heard enough;
// w.mu is held.
func (w *roundWatch) satisfied(i int) bool {
	for s := range w.n {
		if w.res[i].heard[s] == w.lines {
			continue
		}
		if !w.ended[s] || w.res[s].told == "" || w.res[i].heard[s] < w.res[s].heard[s] {
			return false
		}
	}
	return true
}

// awaitOwn waits until player i has heard k of its own lines, or ended.
func (w *roundWatch) awaitOwn(t *testing.T, i, k int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.mu.Lock()
		ok := w.res[i].heard[i] >= k || w.ended[i]
		w.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("p%d has not heard %d of its lines after 20s", i, k)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// wait waits for every reader and returns what each saw.
func (w *roundWatch) wait() []toldResult {
	w.wg.Wait()
	return w.res
}

// read is player i's reader.
func (w *roundWatch) read(i int, p *chatter, timeout time.Duration) {
	defer func() { w.mu.Lock(); w.ended[i] = true; w.mu.Unlock() }()
	end := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond) // re-checks what others' ends allow
	defer tick.Stop()
	fail := func(format string, args ...any) {
		w.mu.Lock()
		w.res[i].err = fmt.Errorf("%s: "+format, append([]any{p.name}, args...)...)
		w.mu.Unlock()
	}
	for {
		w.mu.Lock()
		done := w.satisfied(i)
		w.mu.Unlock()
		if done {
			return
		}
		select {
		case ev, ok := <-p.c.Events():
			if !ok {
				fail("events closed without Disconnected")
				return
			}
			switch ev := ev.(type) {
			case client.Disconnected:
				if ev.Reason == "" {
					fail("disconnected without a reason (%v)", ev.Err)
					return
				}
				w.mu.Lock()
				w.res[i].told = ev.Reason
				w.mu.Unlock()
				return
			case client.Call:
				if ev.Method != "OnChat" {
					continue
				}
				var tg string
				var who, seq int
				if _, err := fmt.Sscanf(fmt.Sprint(ev.Args[2]), "%s %d %d", &tg, &who, &seq); err != nil || tg != w.tag || who < 0 || who >= w.n {
					fail("unexpected line %q", ev.Args[2])
					return
				}
				w.mu.Lock()
				want := w.res[i].heard[who]
				if seq == want {
					w.res[i].heard[who]++
				}
				w.mu.Unlock()
				if seq != want {
					fail("from p%d got line %d, want %d (lost, duplicated or reordered)", who, seq, want)
					return
				}
			}
		case <-tick.C:
		case <-end:
			w.mu.Lock()
			msg := fmt.Sprintf("after %v, heard %v and not told; all: %+v", timeout, w.res[i].heard, w.res)
			w.mu.Unlock()
			fail("%s", msg)
			return
		}
	}
}
