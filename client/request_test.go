package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

// RqPlayer answers its client's requests, and asks other entities on
// its client's behalf: each answer goes to the client as Answer(n, code).
type RqPlayer struct{ entity.Entity }

func (p *RqPlayer) DescribeEntityType(d *entity.TypeDesc) {
	d.ExposeToClient("Double", "Refuse", "Boom", "Ask", "AskAndMove", "Echo", "Later")
}

// Later answers n*10 from a timer 20 ms after it ran: a deferred answer
// (the handle travels as the timer's argument).
func (p *RqPlayer) Later(n int) (int, error) {
	h, err := p.DeferReply()
	if err != nil {
		return 0, err
	}
	if _, err := p.AddCallback(20*time.Millisecond, "AnswerLater", string(h), n); err != nil {
		return 0, err
	}
	return 0, nil
}

func (p *RqPlayer) AnswerLater(h string, n int) {
	if err := p.Reply(entity.ReplyHandle(h), n*10, nil); err != nil {
		p.CallClient("Answer", 0, "not answered: "+err.Error())
	}
}

func (p *RqPlayer) Double(n int) (int, error) { return 2 * n, nil }
func (p *RqPlayer) Refuse(n int) (int, error) {
	return 0, rpc.NewError(rpc.CodeUser+1, fmt.Sprintf("refused %d", n))
}
func (p *RqPlayer) Boom() (int, error)   { panic("boom") }
func (p *RqPlayer) Echo(n int)           { p.CallClient("Echoed", n) }
func (p *RqPlayer) Hidden() (int, error) { return 1, nil }

// Ask asks target's method with n, waiting at most timeoutMS (0: the
// default).
func (p *RqPlayer) Ask(target, method string, n, timeoutMS int) {
	err := p.RequestTimeout(rpc.EntityID(target), time.Duration(timeoutMS)*time.Millisecond, method, "OnAnswer", n)
	if err != nil {
		p.CallClient("Answer", 0, "not sent: "+err.Error())
	}
}

// AskAndMove asks target to triple n, then migrates into space (on
// another game) before the answer can come.
func (p *RqPlayer) AskAndMove(target string, n int, space string) {
	if err := p.Request(rpc.EntityID(target), "Triple", "OnAnswer", n); err != nil {
		p.CallClient("Answer", 0, "not sent: "+err.Error())
		return
	}
	if err := p.EnterSpace(rpc.EntityID(space), entity.Vector3{}); err != nil {
		p.CallClient("Answer", 0, "not moved: "+err.Error())
	}
}

func (p *RqPlayer) OnAnswer(n int, err error) {
	code := "ok"
	var re *rpc.ReplyError
	if errors.As(err, &re) {
		code = re.Code.String()
	} else if err != nil {
		code = "other: " + err.Error()
	}
	p.CallClient("Answer", n, code)
}

// RqWorker is asked.
type RqWorker struct{ entity.Entity }

func (w *RqWorker) Triple(n int) (int, error) { return 3 * n, nil }
func (w *RqWorker) Boom(n int) (int, error)   { panic(fmt.Sprint("boom ", n)) }

// RqRoom is a space to migrate into.
type RqRoom struct{ entity.Entity }

func (r *RqRoom) DescribeEntityType(d *entity.TypeDesc) { d.DefineSpace(0) }

// requestCluster starts two games, a dispatcher and a gate, and connects
// a client; it returns the game the client's player is on and the other.
func requestCluster(t *testing.T, maxRequests int) (cl *cluster.Cluster, c *client.Client, home, other *game.Game) {
	t.Helper()
	r := entity.NewRegistry()
	for name, proto := range map[string]any{"RqPlayer": &RqPlayer{}, "RqWorker": &RqWorker{}, "RqRoom": &RqRoom{}} {
		if err := r.Register(name, proto); err != nil {
			t.Fatal(err)
		}
	}
	cl = cluster.Start(t, cluster.Options{Registry: r, BootEntity: "RqPlayer", Games: 2,
		GateLimits: &gate.Config{GateTuning: config.GateTuning{MaxClientRequests: maxRequests}}})
	c, err := client.Dial(cl.GateAddr(0), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pl := expectEvent[client.EntityCreated](t, c)
	for i, g := range cl.Games {
		if onGame(t, g, func(w *entity.World) bool { return w.Entity(pl.ID) != nil }) {
			home, other = g, cl.Games[1-i]
		}
	}
	if home == nil {
		t.Fatal("the player is on no game")
	}
	return cl, c, home, other
}

// onGame runs fn on g's loop and returns its result.
func onGame[T any](t *testing.T, g *game.Game, fn func(w *entity.World) T) T {
	t.Helper()
	ch := make(chan T, 1)
	g.Post(func() { ch <- fn(g.World()) })
	select {
	case v := <-ch:
		return v
	case <-time.After(eventTimeout):
		t.Fatal("posted function did not run")
	}
	panic("unreachable")
}

// holdLoop holds g's loop until the returned function is called.
func holdLoop(t *testing.T, g *game.Game) (release func()) {
	t.Helper()
	held, rel := make(chan struct{}), make(chan struct{})
	g.Post(func() { close(held); <-rel })
	select {
	case <-held:
	case <-time.After(eventTimeout):
		t.Fatal("the loop was not held")
	}
	var once sync.Once
	release = func() { once.Do(func() { close(rel) }) }
	t.Cleanup(release)
	return release
}

// nextAnswer skips events until the next Answer call and returns its
// arguments.
func nextAnswer(t *testing.T, c *client.Client) (int64, string) {
	t.Helper()
	for {
		ev := nextEvent(t, c)
		if call, ok := ev.(client.Call); ok && call.Method == "Answer" {
			n, _ := call.Args[0].(int64)
			code, _ := call.Args[1].(string)
			return n, code
		}
		if d, ok := ev.(client.Disconnected); ok {
			t.Fatalf("disconnected: %+v", d)
		}
	}
}

func request(t *testing.T, c *client.Client, method string, args ...any) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	return c.Request(ctx, method, args...)
}

// TestClientRequestCodes: the Go client's Request gets the result, or
// the error with its code, for every answer a client can get, through a
// real gate, dispatcher and game; none disconnects it.
func TestClientRequestCodes(t *testing.T) {
	_, c, _, _ := requestCluster(t, 0)
	if v, err := request(t, c, "Double", 21); err != nil || v != int64(42) {
		t.Fatalf("Double(21) = %v, %v", v, err)
	}
	_, err := request(t, c, "Refuse", 3)
	var re *rpc.ReplyError
	if !errors.As(err, &re) || re.Code != rpc.CodeUser+1 || re.Message != "refused 3" {
		t.Fatalf("Refuse: %v", err)
	}
	for _, q := range []struct {
		method string
		args   []any
		want   error
	}{
		{"Boom", nil, rpc.ErrPanicked},
		{"Hidden", nil, rpc.ErrNoMethod},
		{"Missing", nil, rpc.ErrNoMethod},
		{"Double", []any{"x"}, rpc.ErrBadArgs},
	} {
		if _, err := request(t, c, q.method, q.args...); !errors.Is(err, q.want) {
			t.Errorf("%s: %v, want %v", q.method, err, q.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if _, err := c.RequestEntity(ctx, rpc.NewEntityID(), "Double", 1); !errors.Is(err, rpc.ErrNoEntity) {
		t.Errorf("unknown entity: %v", err)
	}
	// Still connected and served; a one-way call to a method with
	// results is still accepted.
	if err := c.CallPlayer("Double", 1); err != nil {
		t.Fatal(err)
	}
	if v, err := request(t, c, "Double", 1); err != nil || v != int64(2) {
		t.Fatalf("after the errors: %v, %v", v, err)
	}
}

// TestClientRequestTimeoutAndOverload: a request whose context ends
// first fails with rpc.ErrTimeout (its late answer is dropped); past
// max_client_requests outstanding, the gate answers "overloaded" at once.
func TestClientRequestTimeoutAndOverload(t *testing.T) {
	_, c, home, _ := requestCluster(t, 2)
	release := holdLoop(t, home)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := c.Request(ctx, "Double", 1)
	cancel()
	if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed out request: %v", err)
	}
	// That request is still outstanding at the gate: one more fits.
	type res struct {
		v   any
		err error
	}
	results := make(chan res, 2)
	for i := 0; i < 2; i++ {
		go func() {
			v, err := request(t, c, "Double", 10)
			results <- res{v, err}
		}()
	}
	first := <-results
	if !errors.Is(first.err, rpc.ErrOverloaded) {
		t.Fatalf("first answer while the game is held: %v, %v; want overloaded", first.v, first.err)
	}
	release()
	if second := <-results; second.err != nil || second.v != int64(20) {
		t.Fatalf("the request that fitted: %v, %v", second.v, second.err)
	}
	// The late answer to the timed-out request was dropped: the next
	// request gets its own.
	if v, err := request(t, c, "Double", 4); err != nil || v != int64(8) {
		t.Fatalf("next request: %v, %v", v, err)
	}

	// RequestAsync: the answer comes to the function; one still waiting
	// when the client closes gets ErrClosed.
	pl, _ := c.Player()
	async := make(chan res, 2)
	if err := c.RequestAsync(pl.ID, "Double", []any{3}, func(v any, err error) { async <- res{v, err} }); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-async:
		if a.err != nil || a.v != int64(6) {
			t.Fatalf("RequestAsync: %v, %v", a.v, a.err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("no answer to RequestAsync")
	}
	release = holdLoop(t, home)
	if err := c.RequestAsync(pl.ID, "Double", []any{3}, func(v any, err error) { async <- res{v, err} }); err != nil {
		t.Fatal(err)
	}
	c.Close()
	release()
	select {
	case a := <-async:
		if !errors.Is(a.err, client.ErrClosed) {
			t.Fatalf("RequestAsync at close: %v, %v", a.v, a.err)
		}
	case <-time.After(eventTimeout):
		t.Fatal("RequestAsync's function did not run at close")
	}
	if err := c.RequestAsync(pl.ID, "Double", []any{3}, func(any, error) { t.Error("ran after the close") }); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("RequestAsync after the close: %v", err)
	}
}

// TestEntityRequestAcrossGames: an entity asks an entity on the other
// game; every error code comes back to its callback, a timeout exactly
// once (the late answer is counted and dropped), and the figures show in
// /metrics.
func TestEntityRequestAcrossGames(t *testing.T) {
	_, c, home, other := requestCluster(t, 0)
	worker := onGame(t, home, func(w *entity.World) rpc.EntityID {
		id, err := w.CreateEntityOnGame(other.World().GameID(), "RqWorker", nil)
		if err != nil {
			t.Error(err)
		}
		return id
	})
	ask := func(target rpc.EntityID, method string, n, timeoutMS int) (int64, string) {
		t.Helper()
		if err := c.CallPlayer("Ask", string(target), method, n, timeoutMS); err != nil {
			t.Fatal(err)
		}
		return nextAnswer(t, c)
	}
	for _, q := range []struct {
		target rpc.EntityID
		method string
		wantN  int64
		code   string
	}{
		{worker, "Triple", 15, "ok"},
		{worker, "Boom", 0, "callee panicked"},
		{worker, "Missing", 0, "no such method"},
		{rpc.NewEntityID(), "Triple", 0, "no such entity"},
		{worker, "Triple", 15, "ok"}, // the game that panicked serves on
	} {
		if n, code := ask(q.target, q.method, 5, 0); n != q.wantN || code != q.code {
			t.Errorf("%s: Answer(%d, %q), want (%d, %q)", q.method, n, code, q.wantN, q.code)
		}
	}

	// Timeout: the worker's game is held past the request's timeout.
	release := holdLoop(t, other)
	if n, code := ask(worker, "Triple", 1, 100); n != 0 || code != "timeout" {
		t.Fatalf("held worker: Answer(%d, %q), want a timeout", n, code)
	}
	release()
	deadline := time.Now().Add(eventTimeout)
	for {
		if _, _, late := home.World().RequestStats(); late >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the late answer never reached the caller's game")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Exactly once: the next answer is the next request's.
	if n, code := ask(worker, "Triple", 2, 0); n != 6 || code != "ok" {
		t.Fatalf("after the timeout: Answer(%d, %q), want (6, ok)", n, code)
	}

	var m bytes.Buffer
	if err := other.WriteMetrics(&m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`goworld_game_method_runs_total{process="game` + fmt.Sprint(other.World().GameID()) + `",type="RqWorker",method="Triple",kind="request"} 4`,
		`goworld_game_request_errors_total{process="game` + fmt.Sprint(other.World().GameID()) + `",type="RqWorker",method="Boom",code="panicked"} 1`,
		`goworld_game_method_seconds_count{process="game` + fmt.Sprint(other.World().GameID()) + `",type="RqWorker",method="Triple"} 4`,
	} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("/metrics of the worker's game lacks %s", want)
		}
	}
	m.Reset()
	if err := home.WriteMetrics(&m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"goworld_game_requests_timed_out_total{", "goworld_game_replies_late_total{"} {
		i := strings.Index(m.String(), want)
		if i < 0 || !strings.HasPrefix(m.String()[strings.Index(m.String()[i:], "} ")+i:], "} 1\n") {
			t.Errorf("/metrics of the caller's game: %s is not 1", want)
		}
	}
}

// TestEntityRequestCallerMigrated: the answer to a request reaches its
// caller after the caller migrated to another game meanwhile.
func TestEntityRequestCallerMigrated(t *testing.T) {
	_, c, home, other := requestCluster(t, 0)
	ids := onGame(t, home, func(w *entity.World) [2]rpc.EntityID {
		worker, err := w.CreateEntityOnGame(other.World().GameID(), "RqWorker", nil)
		if err != nil {
			t.Error(err)
		}
		room, err := w.CreateSpaceOnGame(other.World().GameID(), "RqRoom", nil)
		if err != nil {
			t.Error(err)
		}
		return [2]rpc.EntityID{worker, room}
	})
	pl, _ := c.Player()
	// The worker's game takes the request, and the migrating player,
	// only once released: the player has left its game by then.
	release := holdLoop(t, other)
	if err := c.CallPlayer("AskAndMove", string(ids[0]), 4, string(ids[1])); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(eventTimeout)
	for onGame(t, home, func(w *entity.World) bool { return w.Entity(pl.ID) != nil }) {
		if time.Now().After(deadline) {
			t.Fatal("the player never left its game")
		}
		time.Sleep(5 * time.Millisecond)
	}
	release()
	if n, code := nextAnswer(t, c); n != 12 || code != "ok" {
		t.Fatalf("Answer(%d, %q) after the migration, want (12, ok)", n, code)
	}
	if !onGame(t, other, func(w *entity.World) bool { return w.Entity(pl.ID) != nil }) {
		t.Fatal("the player is not on the space's game")
	}
}

// BenchmarkRoundTrip: one client's round trips through a real gate,
// dispatcher and game (in-process, loopback sockets), one at a time: a
// request answered by MsgReply, next to the one-way echo (a call
// answered by a call back).
func BenchmarkRoundTrip(b *testing.B) {
	r := entity.NewRegistry()
	if err := r.Register("RqPlayer", &RqPlayer{}); err != nil {
		b.Fatal(err)
	}
	// No rate limit: one client here sends more than 1000 frames a second.
	cl := cluster.Start(b, cluster.Options{Registry: r, BootEntity: "RqPlayer",
		GateLimits: &gate.Config{GateTuning: config.GateTuning{ClientMsgRate: config.Unlimited, ClientByteRate: config.Unlimited}}})
	c, err := client.Dial(cl.GateAddr(0), client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	expectEvent[client.EntityCreated](b, c)
	ctx := context.Background()
	b.Run("request", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if v, err := c.Request(ctx, "Double", i); err != nil || v != int64(2*i) {
				b.Fatalf("Double(%d) = %v, %v", i, v, err)
			}
		}
	})
	b.Run("echo", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := c.CallPlayer("Echo", i); err != nil {
				b.Fatal(err)
			}
			for {
				if call, ok := nextEvent(b, c).(client.Call); ok && call.Method == "Echoed" {
					if call.Args[0] != int64(i) {
						b.Fatalf("Echoed%v, want %d", call.Args, i)
					}
					break
				}
			}
		}
	})
}

// TestRequestAs: typed answers: converted as arguments are, a refusal
// is the error, and an answer that does not convert is ErrBadArgs.
func TestRequestAs(t *testing.T) {
	_, c, _, _ := requestCluster(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if n, err := client.RequestAs[int](ctx, c, "Double", 21); err != nil || n != 42 {
		t.Fatalf("RequestAs[int] Double(21) = %v, %v", n, err)
	}
	if f, err := client.RequestAs[float64](ctx, c, "Double", 2); err != nil || f != 4 {
		t.Fatalf("RequestAs[float64] Double(2) = %v, %v", f, err)
	}
	if _, err := client.RequestAs[string](ctx, c, "Double", 2); !errors.Is(err, rpc.ErrBadArgs) {
		t.Fatalf("RequestAs[string] of a number: %v, want ErrBadArgs", err)
	}
	if _, err := client.RequestAs[int](ctx, c, "Refuse", 2); !errors.Is(err, rpc.NewError(rpc.CodeUser+1, "")) {
		t.Fatalf("RequestAs Refuse: %v, want code %d", err, rpc.CodeUser+1)
	}
	p, ok := c.Player()
	if !ok {
		t.Fatal("no player")
	}
	if n, err := client.RequestEntityAs[uint8](ctx, c, p.ID, "Double", 100); err != nil || n != 200 {
		t.Fatalf("RequestEntityAs[uint8] = %v, %v", n, err)
	}
	if _, err := client.RequestEntityAs[uint8](ctx, c, p.ID, "Double", 200); !errors.Is(err, rpc.ErrBadArgs) {
		t.Fatalf("400 as a uint8: %v, want ErrBadArgs", err)
	}
}

// TestClientRequestDeferred: a method that defers its answer (and
// answers from a timer) answers the client's request once, through the
// real gate.
func TestClientRequestDeferred(t *testing.T) {
	_, c, _, _ := requestCluster(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	for i := 1; i <= 3; i++ {
		if n, err := client.RequestAs[int](ctx, c, "Later", i); err != nil || n != 10*i {
			t.Fatalf("Later(%d) = %v, %v", i, n, err)
		}
	}
}
