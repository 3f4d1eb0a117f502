//go:build linux || darwin

package main

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/rpc"
)

// requestConfig is two games of the reloadgame behind one dispatcher and
// one gate that lets a client have 2 requests waiting.
const requestConfig = `
[dispatcher1]
listen_addr = 127.0.0.1:0
[game_common]
boot_entity = Player
freeze_timeout = 5s
[game1]
[game2]
[gate_common]
max_client_requests = 2
[gate1]
listen_addr = 127.0.0.1:0
kcp = false
[storage]
type = none
`

// workAnswer is one Answer call: a Worker's answer as its Player passed
// it on (see the reloadgame's Player.OnWorked).
type workAnswer struct {
	tripled, workerPID, playerPID int64
	code, msg                     string
	at                            time.Time
}

// answers forwards the Answer calls of c to the channel it returns, and
// a disconnection to errc, until stop is closed.
func answers(c *client.Client, stop <-chan struct{}, errc chan<- string) <-chan workAnswer {
	out := make(chan workAnswer, 1<<16)
	go func() {
		for {
			select {
			case ev, ok := <-c.Events():
				if !ok {
					errc <- "events closed"
					return
				}
				switch ev := ev.(type) {
				case client.Call:
					if ev.Method == "Answer" && len(ev.Args) == 5 {
						code, _ := ev.Args[3].(string)
						msg, _ := ev.Args[4].(string)
						out <- workAnswer{toInt(ev.Args[0]), toInt(ev.Args[1]), toInt(ev.Args[2]), code, msg, time.Now()}
					}
				case client.Disconnected:
					errc <- "disconnected: " + ev.Reason
					return
				}
			case <-stop:
				return
			}
		}
	}()
	return out
}

// TestRequestsThroughRealProcesses runs requests through real processes
// started by goworldctl (a dispatcher, two games, a gate) and the Go
// client: a client's requests answered by its Player with every code a
// client can get, the Player's requests to its Worker on the other game
// answered with every code an entity can get, and then a goworldctl
// reload of both games while requests are in flight: a request pending
// in the caller's game while it is reloaded gets its answer once, in the
// restored process, and requests whose callee's game is reloaded meanwhile
// are answered by the new process; none is lost or answered twice.
func TestRequestsThroughRealProcesses(t *testing.T) {
	good, _ := reloadGameBinaries(t)
	dir := reloadGameDir(t, good, requestConfig)
	r := ctl(t, "start", "-no-build", dir)
	if r.code != 0 {
		t.Fatalf("start: %v", r)
	}
	ps := parseStarted(t, r.stdout)
	if got, want := names(ps), "dispatcher1 game1 game2 gate1"; got != want {
		t.Fatalf("started %q, want %q", got, want)
	}
	game1, game2 := ps[1].pid, ps[2].pid
	// The player must be on game1 (reloaded first), its Worker on game2.
	var p *player
	for i := 0; i < 8 && p == nil; i++ {
		if q := dialPlayer(t, ps[3].addr); q.pid == game1 {
			p = q
		}
	}
	if p == nil {
		t.Fatal("8 clients, none on game1")
	}
	c := p.c
	req := func(method string, args ...any) (any, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return c.Request(ctx, method, args...)
	}
	v, err := req("StartWorker")
	worker, _ := v.(string)
	if err != nil || !rpc.EntityID(worker).Valid() {
		t.Fatalf("StartWorker: %v, %v", v, err)
	}

	stop := make(chan struct{})
	defer close(stop)
	errc := make(chan string, 1)
	got := answers(c, stop, errc)
	next := func(what string) workAnswer {
		t.Helper()
		select {
		case a := <-got:
			return a
		case msg := <-errc:
			t.Fatalf("%s: the client: %s", what, msg)
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: no Answer after 15s", what)
		}
		panic("unreachable")
	}

	// The Player asks its Worker on game2: the client gets the request's
	// sender (game1) as its answer, then the combined answer as a call.
	for _, q := range []struct {
		method  string
		n       int
		target  string // "" for the Worker
		tripled int64
		code    string
		msg     string
	}{
		{"Work", 5, "", 15, "ok", ""},
		{"Boom", 5, "", 0, "callee panicked", ""},
		{"Missing", 5, "", 0, "no such method", ""},
		{"Work", 5, string(rpc.NewEntityID()), 0, "no such entity", ""}, // answered by the dispatcher
		{"Refuse", 5, "", 0, "code 1001", "refused 5"},
		{"Fail", 5, "", 0, "failed", "failed 5"},
		{"Work", 7, "", 21, "ok", ""}, // game2 serves on after the panic
	} {
		var v any
		var err error
		if q.target == "" {
			v, err = req("Ask", q.method, q.n, 0)
		} else {
			v, err = req("AskEntity", q.target, q.method, q.n, 0)
		}
		if err != nil || toInt(v) != int64(game1) {
			t.Fatalf("Ask %s: %v, %v; want the pid of game1 (%d)", q.method, v, err, game1)
		}
		a := next(q.method)
		if a.tripled != q.tripled || a.code != q.code || (q.msg != "" && a.msg != q.msg) || a.playerPID != int64(game1) {
			t.Fatalf("Ask %s: %+v, want %d %q %q from game1", q.method, a, q.tripled, q.code, q.msg)
		}
		if q.code == "ok" && a.workerPID != int64(game2) {
			t.Fatalf("Ask %s answered by pid %d, want game2's %d", q.method, a.workerPID, game2)
		}
	}
	// Timeout: Slow holds game2 for 400ms, the request waits 100ms. The
	// late answer is dropped: the next Answer is the next request's.
	if _, err := req("Ask", "Slow", 400, 100); err != nil {
		t.Fatal(err)
	}
	if a := next("Slow"); a.code != "timeout" || a.tripled != 0 {
		t.Fatalf("Slow with a 100ms timeout: %+v", a)
	}
	if _, err := req("Ask", "Work", 8, 0); err != nil {
		t.Fatal(err)
	}
	if a := next("Work after the timeout"); a.code != "ok" || a.tripled != 24 {
		t.Fatalf("the Answer after a timeout: %+v, want 24 (the late answer to Slow must be dropped)", a)
	}

	// The client's own requests, through the gate: every code it can get.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	if _, err := c.RequestEntity(ctx, rpc.NewEntityID(), "Work", 1); !errors.Is(err, rpc.ErrNoEntity) {
		t.Errorf("request to an entity no game hosts: %v", err)
	}
	cancel()
	if _, err := req("Work", 1); !errors.Is(err, rpc.ErrNoMethod) {
		t.Errorf("request for a method Player lacks: %v", err)
	}
	if _, err := req("Ask", "Work", "five", 0); !errors.Is(err, rpc.ErrBadArgs) {
		t.Errorf("request with a string for an int: %v", err)
	}
	if _, err := req("StartWorker", 1); !errors.Is(err, rpc.ErrBadArgs) {
		t.Errorf("request with one argument too many: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = c.Request(ctx, "Nap", 600)
	cancel()
	if !errors.Is(err, rpc.ErrTimeout) {
		t.Errorf("request that outlived its context: %v", err)
	}
	// That Nap still waits at the gate: one more fits, a third does not.
	type res struct {
		v   any
		err error
	}
	naps := make(chan res, 2)
	for i := 0; i < 2; i++ {
		pl, _ := c.Player()
		if err := c.RequestAsync(pl.ID, "Nap", []any{1}, func(v any, err error) { naps <- res{v, err} }); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []error{rpc.ErrOverloaded, nil} {
		select {
		case n := <-naps:
			if !errors.Is(n.err, want) || (want == nil && toInt(n.v) != int64(game1)) {
				t.Errorf("Nap while another waits: %v, %v; want %v", n.v, n.err, want)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no answer to a Nap")
		}
	}
	if v, err := req("Nap", 0); err != nil || toInt(v) != int64(game1) {
		t.Fatalf("Nap once the others were answered: %v, %v", v, err)
	}

	// Reload both games (game1, then game2). A request that Slow holds in
	// game2 for 2.5s is pending in game1 while game1 is reloaded; a
	// stream of requests goes on meanwhile, through game2's reload too.
	if v, err := req("Ask", "Slow", 2500, 60000); err != nil || toInt(v) != int64(game1) {
		t.Fatalf("Ask Slow: %v, %v", v, err)
	}
	done := make(chan result, 1)
	go func() { done <- ctl(t, "reload", "-no-build", dir) }()
	const first = 10000 // stream n from here: 3n never 7500, Slow's
	var sentAt []time.Time
	var finished time.Time
	for deadline := time.Now().Add(90 * time.Second); finished.IsZero() || time.Since(finished) < 100*time.Millisecond; {
		if finished.IsZero() {
			select {
			case r = <-done:
				finished = time.Now()
			default:
			}
		}
		if time.Now().After(deadline) || len(sentAt) >= 40000 {
			t.Fatalf("reload still running after %d requests", len(sentAt))
		}
		sentAt = append(sentAt, time.Now())
		if err := c.CallPlayer("Ask", "Work", first+len(sentAt)-1, 60000); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	ms := reloadedGameLine.FindAllStringSubmatch(r.stdout, -1)
	if r.code != 0 || len(ms) != 2 || ms[0][1] != "game1" || ms[1][1] != "game2" {
		t.Fatalf("reload: %v", r)
	}
	newPID := map[string]int64{}
	for _, m := range ms {
		n, _ := strconv.Atoi(m[3])
		newPID[m[1]] = int64(n)
	}
	res2, err := readFreezeResult(game.ResultPath(filepath.Join(dir, "freeze"), 2))
	if err != nil {
		t.Fatal(err)
	}
	pause2, _ := strconv.ParseFloat(ms[1][4], 64)
	signal2 := time.Unix(0, res2.SignalAt)
	frozen2 := signal2.Add(time.Duration(res2.FreezeMS * float64(time.Millisecond)))
	serving2 := signal2.Add(time.Duration(pause2 * float64(time.Millisecond)))

	seen := make([]bool, len(sentAt))
	slow, acrossCallee := 0, 0
	for left := len(sentAt) + 1; left > 0; left-- {
		a := next("after the reload")
		if a.code != "ok" {
			t.Fatalf("a request across the reload: %+v", a)
		}
		if a.tripled == 7500 { // the slow one
			slow++
			if a.playerPID != newPID["game1"] || a.workerPID != int64(game2) {
				t.Fatalf("the request pending across game1's reload: answered by %d, callback run by %d; want game2's old pid %d and game1's new pid %d",
					a.workerPID, a.playerPID, game2, newPID["game1"])
			}
			continue
		}
		i := int(a.tripled/3) - first
		if a.tripled%3 != 0 || i < 0 || i >= len(sentAt) || seen[i] {
			t.Fatalf("answer %+v: not one of the requests, or answered twice", a)
		}
		seen[i] = true
		if a.workerPID != int64(game2) && a.workerPID != newPID["game2"] || a.playerPID != int64(game1) && a.playerPID != newPID["game1"] {
			t.Fatalf("request %d answered by pid %d to pid %d: not a process of the cluster", i, a.workerPID, a.playerPID)
		}
		if sentAt[i].After(frozen2) {
			if a.workerPID != newPID["game2"] {
				t.Fatalf("request %d, sent after game2 froze, answered by pid %d, want the new %d", i, a.workerPID, newPID["game2"])
			}
			if sentAt[i].Before(serving2) {
				acrossCallee++
			}
		}
	}
	if slow != 1 {
		t.Fatalf("the slow request answered %d times", slow)
	}
	if acrossCallee == 0 {
		t.Fatalf("no request was sent while game2 was paused (%v to %v); %d sent", frozen2, serving2, len(sentAt))
	}
	// Nothing more comes: the next Answer is that of the next request.
	if _, err := req("Ask", "Work", 1, 0); err != nil {
		t.Fatal(err)
	}
	if a := next("the last request"); a.tripled != 3 || a.playerPID != newPID["game1"] || a.workerPID != newPID["game2"] {
		t.Fatalf("the last Answer: %+v, want 3 from the new processes", a)
	}
	t.Logf("reload of 2 games: %d requests answered once each, %d sent while game2 was paused", len(sentAt), acrossCallee)

	if r := ctl(t, "stop", dir); r.code != 0 || len(filterPrefix(lines(r.stdout), "stopped ")) != 4 {
		t.Errorf("stop: %v", r)
	}
	assertNothingRuns(t, dir, "dispatcher1", "game1", "game2", "gate1")
}
