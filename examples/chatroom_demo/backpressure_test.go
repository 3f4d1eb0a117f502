//go:build linux || darwin

package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
)

// backpressureConfig gives the servers' links small send buffers (256
// KiB), so that a stopped game makes its dispatcher's link to it pass its
// bound quickly. Clients get large send buffers: the burst after the
// resume is not what this test is about.
const backpressureConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
max_packet_size = 262144
send_buffer_size = 262144
[game_common]
boot_entity = Account
stall_threshold = 200ms
max_packet_size = 262144
send_buffer_size = 262144
[game1]
[gate_common]
max_packet_size = 262144
send_buffer_size = 262144
client_send_buffer_size = 33554432
[gate1]
listen_addr = 127.0.0.1:0
[storage]
path = chat.db
`

// TestStoppedServerIsWaitedFor stops a server (SIGSTOP) under heavy chat
// load, long enough that what is queued for it on a link passes the link's
// send buffer, then resumes it: no player is kicked, and every line said
// meanwhile is delivered once and in order. The senders waited for the
// stopped server (back-pressure, counted in /metrics), where the link used
// to be closed as a slow consumer: a dispatcher that cut a game forgot its
// entities and the gates kicked all its players; a gate or game that cut
// a dispatcher lost what was queued on it.
func TestStoppedServerIsWaitedFor(t *testing.T) {
	for _, tc := range []struct {
		victim string // the process stopped
		// watcher's metric queue{label} is its queue for the victim;
		// stalls{link} counts its senders' waits for it.
		watcher, queue, label, link string
		// noticed is what the victim logs when it runs again (if anything).
		noticed string
	}{
		{"game1", "dispatcher1", "goworld_dispatcher_peer_queue_bytes", `peer="game1"`, `link="game"`, "game process did not run"},
		{"dispatcher1", "gate1", "goworld_link_queue_bytes", `dispatcher="1"`, `link="dispatcher"`, ""},
	} {
		t.Run(tc.victim, func(t *testing.T) {
			ctl, server, _ := binaries(t)
			dir := serverDir(t, server)
			writeConfig(t, dir, backpressureConfig)
			fc := &faultCluster{t: t, ctl: ctl, dir: dir}
			t.Cleanup(func() { run(t, repoRoot, ctl, "kill", dir) })
			ctlCmd(t, ctl, "start", "-no-build", dir)
			addr := fc.gate("gate1")
			admin := adminAddr(t, fc, tc.watcher)

			const (
				players = 8
				lines   = 1500 // each ~1 KB: 12 MB in all, far past a link's 256 KiB
			)
			chatters := make([]*chatter, players)
			for i := range chatters {
				chatters[i] = dial(t, addr, fmt.Sprintf("p%d", i), false)
				chatters[i].register("pw", fmt.Sprintf("room%d", i))
				chatters[i].say("warm")
				chatters[i].expectChat(fmt.Sprintf("[room%d] p%d: warm", i, i))
			}

			pid := fc.status()[tc.victim].pid
			if pid <= 1 || pid == os.Getpid() {
				t.Fatalf("no sensible pid for %s from goworldctl status: %d", tc.victim, pid)
			}
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stopped := time.Now()
			resumed := false
			resume := func() {
				if !resumed {
					resumed = true
					if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
						t.Errorf("SIGCONT %s: %v", tc.victim, err)
					}
				}
			}
			t.Cleanup(resume)

			// Each player hears its own lines (alone in its room), in order.
			pad := strings.Repeat("x", 950)
			var wg sync.WaitGroup
			errs := make(chan error, players)
			for i, ch := range chatters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- collect(ch, i, lines, pad)
				}()
			}
			for _, ch := range chatters {
				for n := 0; n < lines; n++ {
					if err := ch.c.CallPlayer("Say", fmt.Sprintf("%d %s", n, pad)); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The queue for the stopped server passes its bound (where the
			// link used to be closed).
			deadline := time.Now().Add(30 * time.Second)
			for {
				q, err := scrapeValue(admin, tc.queue, tc.label)
				if err != nil {
					t.Fatal(err)
				}
				// Stopped for a second at least: far past stall_threshold,
				// so a game must say it did not run.
				if q > 262144 && time.Since(stopped) > time.Second {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s's queue for the stopped %s is %v bytes after 30s, want over 262144", tc.watcher, tc.victim, q)
				}
				time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
			}
			resume()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if stalls, err := scrapeValue(admin, "goworld_send_stalls_total", tc.link); err != nil || stalls == 0 {
				t.Errorf("nothing on %s waited for %s (stalls %v, %v)", tc.watcher, tc.victim, stalls, err)
			}
			if cut, err := scrapeValue(admin, "goworld_slow_consumers_total", tc.link); err != nil || cut != 0 {
				t.Errorf("%s cut %v links as slow consumers (%v)", tc.watcher, cut, err)
			}
			if tc.noticed != "" {
				fc.awaitLog(tc.victim, tc.noticed)
			}
		})
	}
}

// collect reads ch's events until it has heard its lines 0..n-1 in order.
func collect(ch *chatter, i, n int, pad string) error {
	want := 0
	timeout := time.NewTimer(90 * time.Second)
	defer timeout.Stop()
	for want < n {
		select {
		case ev, ok := <-ch.c.Events():
			if !ok {
				return fmt.Errorf("%s: events closed after %d of %d lines", ch.name, want, n)
			}
			switch ev := ev.(type) {
			case client.Disconnected:
				return fmt.Errorf("%s: disconnected after %d of %d lines: %s", ch.name, want, n, ev.Reason)
			case client.Call:
				if ev.Method != "OnChat" {
					if ev.Method == "OnError" {
						return fmt.Errorf("%s: OnError%v", ch.name, ev.Args)
					}
					continue
				}
				if got, exp := fmt.Sprint(ev.Args[2]), fmt.Sprintf("%d %s", want, pad); got != exp {
					return fmt.Errorf("%s: line %d is %.20q…: lost, duplicated or reordered", ch.name, want, got)
				}
				want++
			}
		case <-timeout.C:
			return fmt.Errorf("%s: %d of %d lines after 90s", ch.name, want, n)
		}
	}
	return nil
}

var adminRE = regexp.MustCompile(`(?m)^(\w+) running pid=\d+.*\n\s+admin=(\S+)`)

// adminAddr returns the admin (metrics) address goworldctl status gives
// for process name.
func adminAddr(t *testing.T, fc *faultCluster, name string) string {
	t.Helper()
	r := run(t, repoRoot, fc.ctl, "status", fc.dir)
	for _, m := range adminRE.FindAllStringSubmatch(r.out, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	t.Fatalf("no admin address for %s in goworldctl status:\n%s", name, r.out)
	return ""
}

// scrapeValue returns the value of the first sample of metric whose
// labels contain label, from the /metrics at admin.
func scrapeValue(admin, metric, label string) (float64, error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, metric+"{") && strings.Contains(line, label) {
			f := strings.Fields(line)
			return strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s{%s} not in %s/metrics", metric, label, admin)
}
