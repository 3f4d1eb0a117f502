package main

// Hot reload with real processes: the demo cluster started by goworldctl,
// chatted with continuously while goworldctl reload swaps the game
// process three times.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
)

var reloadedRE = regexp.MustCompile(`(?m)^reloaded game1 pid=(\d+)->(\d+) pause=(\d+\.\d)ms entities=(\d+) freeze_file=(\S+)$`)

// chatTally is what one client received, per sender, checked as it comes.
type chatTally struct {
	mu     sync.Mutex
	last   map[string]int // sender -> last sequence number received
	errors []string
}

func (ct *chatTally) fail(format string, a ...any) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if len(ct.errors) < 10 {
		ct.errors = append(ct.errors, fmt.Sprintf(format, a...))
	}
}

// TestChatThroughHotReloads keeps six clients in two rooms chatting while
// the game is reloaded three times: every message reaches every client of
// its room exactly once and in order, none reaches the other room, and no
// client is disconnected.
func TestChatThroughHotReloads(t *testing.T) {
	ctl, server, _ := binaries(t)
	dir := serverDir(t, server)
	addr := startProcs(t, ctl, dir, "-no-build")

	rooms := map[string]string{}
	var users []*chatter
	for i := range 6 {
		name, room := fmt.Sprintf("user%d", i), []string{"lobby", "garden"}[i%2]
		u := dial(t, addr, name, i%3 == 0) // two of them over KCP
		u.register("pw", room)
		rooms[name] = room
		users = append(users, u)
	}

	// One receiver per client checks each chat line as it arrives.
	tallies := make([]*chatTally, len(users))
	stop := make(chan struct{})
	var recv sync.WaitGroup
	for i, u := range users {
		ct := &chatTally{last: map[string]int{}}
		tallies[i] = ct
		recv.Add(1)
		go func() {
			defer recv.Done()
			for {
				select {
				case ev, ok := <-u.c.Events():
					if !ok {
						ct.fail("%s: events closed", u.name)
						return
					}
					switch ev := ev.(type) {
					case client.Call:
						if ev.Method == "OnError" {
							ct.fail("%s: OnError%v", u.name, ev.Args)
						}
						if ev.Method != "OnChat" {
							continue
						}
						room, sender, text := fmt.Sprint(ev.Args[0]), fmt.Sprint(ev.Args[1]), fmt.Sprint(ev.Args[2])
						if room != rooms[u.name] || rooms[sender] != room {
							ct.fail("%s (in %s) got %q from %s in %s", u.name, rooms[u.name], text, sender, room)
							continue
						}
						seq, err := strconv.Atoi(strings.TrimPrefix(text, sender+" "))
						ct.mu.Lock()
						want := ct.last[sender] + 1
						if err == nil && seq == want {
							ct.last[sender] = seq
						}
						ct.mu.Unlock()
						if err != nil || seq != want {
							ct.fail("%s got %q from %s, want message %d", u.name, text, sender, want)
						}
					case client.Disconnected:
						ct.fail("%s disconnected: %s", u.name, ev.Reason)
						return
					}
				case <-stop:
					return
				}
			}
		}()
	}
	defer func() {
		close(stop)
		recv.Wait()
	}()

	// Every client says a numbered line every 20ms until told to stop.
	sent := make([]int, len(users))
	stopSending := make(chan struct{})
	sending := make(chan struct{})
	var stopOnce sync.Once
	stopSend := func() {
		stopOnce.Do(func() { close(stopSending) })
		<-sending
	}
	defer stopSend()
	go func() {
		defer close(sending)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for range 3000 { // a minute at most
			select {
			case <-tick.C:
			case <-stopSending:
				return
			}
			for i, u := range users {
				if err := u.c.CallPlayer("Say", fmt.Sprintf("%s %d", u.name, sent[i]+1)); err != nil {
					tallies[i].fail("%s: Say: %v", u.name, err)
					continue
				}
				sent[i]++
			}
		}
	}()

	time.Sleep(300 * time.Millisecond)
	var pauses []string
	prevPID := 0
	for i := range 3 {
		r := run(t, repoRoot, ctl, "reload", "-no-build", dir)
		m := reloadedRE.FindStringSubmatch(r.out)
		if r.code != 0 || m == nil {
			t.Fatalf("reload %d: exit %d\nstdout:\n%s\nstderr:\n%s", i+1, r.code, r.out, r.err)
		}
		oldPID, _ := strconv.Atoi(m[1])
		newPID, _ := strconv.Atoi(m[2])
		if newPID == oldPID || (prevPID != 0 && oldPID != prevPID) {
			t.Errorf("reload %d: pid %d->%d after %d", i+1, oldPID, newPID, prevPID)
		}
		if want := fmt.Sprint(6 + RoomShards); m[4] != want {
			t.Errorf("reload %d restored %s entities, want the 6 avatars and the %d Rooms shards", i+1, m[4], RoomShards)
		}
		prevPID = newPID
		pauses = append(pauses, m[3]+"ms")
		t.Logf("reload %d: game1 pid %s->%s, pause %sms, %s entities", i+1, m[1], m[2], m[3], m[4])
		time.Sleep(150 * time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	stopSend()
	if pids := statusPIDs(t, ctl, dir); pids["game1"] != prevPID {
		t.Errorf("status says game1 is pid %d, the last reload started %d", pids["game1"], prevPID)
	}

	// Wait until everyone has everything from their room, or an error.
	deadline := time.Now().Add(15 * time.Second)
	for {
		missing := ""
		for i, u := range users {
			ct := tallies[i]
			ct.mu.Lock()
			for j, from := range users {
				if rooms[from.name] == rooms[u.name] && ct.last[from.name] != sent[j] && missing == "" {
					missing = fmt.Sprintf("%s has %d of %d messages from %s", u.name, ct.last[from.name], sent[j], from.name)
				}
			}
			failed := len(ct.errors) > 0
			ct.mu.Unlock()
			if failed {
				missing = ""
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: %s", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ct := range tallies {
		ct.mu.Lock()
		for _, e := range ct.errors {
			t.Error(e)
		}
		ct.mu.Unlock()
	}
	total := 0
	for _, n := range sent {
		total += n
	}
	t.Logf("%d messages sent by 6 clients in 2 rooms, each delivered to the 3 clients of its room through 3 reloads; pauses %s",
		total, strings.Join(pauses, ", "))
}
