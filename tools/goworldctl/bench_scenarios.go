package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/rpc"
)

// The chat scenario is fixed, so that its figures compare across engines
// and over time: rooms of chatRoomSize, one chatSize-byte message per
// client every chatPeriod.
const (
	chatRoomSize = 50
	chatPeriod   = 2 * time.Second
	chatSize     = 32
	benchPass    = "bench-password"
	// benchBusy is the chat demo's answer when it has as many password
	// hashes in hand as it takes (from one address: 8): the bot tries
	// again after a pause.
	benchBusy = "the server is busy; try again in a moment"
)

// register creates b's account, named for the run (retrying while the
// server is busy hashing others' passwords), and logs in to it.
func register(r *benchRun, b *bot) error {
	for try := 0; ; try++ {
		if err := b.c.CallPlayer("Register", fmt.Sprintf("%s-%d", r.accounts, b.i), benchPass); err != nil {
			return err
		}
		err := awaitCall(b, "OnLogin", "OnLoginFailed", "OnError")
		if err == nil || !strings.Contains(err.Error(), benchBusy) || try == 1000 {
			return err
		}
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
	}
}

// awaitPlayer waits until the gate has created b's boot entity.
func awaitPlayer(b *bot) error {
	return awaitEvent(b, "the player entity", func(ev client.Event) (bool, error) {
		c, ok := ev.(client.EntityCreated)
		return ok && c.IsPlayer, nil
	})
}

// awaitCall waits for a call of method on b's client; a call of fail
// (OnLoginFailed, OnError) is an error with its arguments.
func awaitCall(b *bot, method string, fail ...string) error {
	return awaitEvent(b, method, func(ev client.Event) (bool, error) {
		c, ok := ev.(client.Call)
		if !ok {
			return false, nil
		}
		for _, f := range fail {
			if c.Method == f {
				return false, fmt.Errorf("%s%v", c.Method, c.Args)
			}
		}
		return c.Method == method, nil
	})
}

// chatRoom is client i's room number, and chatMembers the size of room r.
func chatRoom(i int) int { return i / chatRoomSize }

func chatMembers(r, clients int) int { return min(chatRoomSize, clients-r*chatRoomSize) }

var chatScenario = scenario{
	period: func(benchOptions) time.Duration { return chatPeriod },
	setup: func(r *benchRun, b *bot) error {
		if err := awaitPlayer(b); err != nil {
			return err
		}
		b.last = map[int]int{}
		if err := register(r, b); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		if err := b.c.CallPlayer("JoinRoom", fmt.Sprintf("r%d", chatRoom(b.i))); err != nil {
			return err
		}
		if err := awaitCall(b, "OnJoined", "OnError"); err != nil {
			return fmt.Errorf("join: %w", err)
		}
		return nil
	},
	send: func(r *benchRun, b *bot, seq int) error {
		b.sending(seq)
		r.sent.Add(1)
		r.expected.Add(int64(chatMembers(chatRoom(b.i), len(r.bots))))
		return b.c.CallPlayer("Say", token(b.i, seq, chatSize))
	},
	recv: func(r *benchRun, b *bot, ev client.Event) {
		c, ok := ev.(client.Call)
		if !ok {
			return
		}
		if c.Method != "OnChat" {
			if c.Method == "OnError" {
				r.fail("client %d: OnError%v", b.i, c.Args)
			}
			return
		}
		if len(c.Args) != 3 {
			r.fail("client %d: OnChat with %d arguments", b.i, len(c.Args))
			return
		}
		room, _ := c.Args[0].(string)
		text, _ := c.Args[2].(string)
		sender, seq, err := parseToken(text)
		switch {
		case err != nil:
			r.fail("client %d: %v", b.i, err)
			return
		case room != fmt.Sprintf("r%d", chatRoom(b.i)) || sender >= len(r.bots) || chatRoom(sender) != chatRoom(b.i):
			r.fail("client %d (room r%d) got a message of client %d in room %q", b.i, chatRoom(b.i), sender, room)
			return
		}
		b.mu.Lock()
		last, seen := b.last[sender]
		if seen && seq <= last {
			b.mu.Unlock()
			r.fail("client %d got message %d of client %d after message %d", b.i, seq, sender, last)
			return
		}
		b.last[sender] = seq
		b.mu.Unlock()
		r.delivered.Add(1)
		if sender == b.i {
			if t, ok := b.answered(seq); ok {
				r.roundTrip(time.Since(t))
			}
		}
	},
}

// echoAnswer handles a call that answers a token request of b (OnEcho,
// and OnSay in the move scenario).
func echoAnswer(r *benchRun, b *bot, text string) {
	sender, seq, err := parseToken(text)
	if err != nil || sender != b.i {
		r.fail("client %d: answer %q is not its own", b.i, text)
		return
	}
	t, ok := b.answered(seq)
	if !ok {
		r.fail("client %d: answer %d twice, or never asked", b.i, seq)
		return
	}
	r.delivered.Add(1)
	r.roundTrip(time.Since(t))
}

var echoScenario = scenario{
	period: func(o benchOptions) time.Duration { return time.Duration(float64(time.Second) / o.rate) },
	setup:  func(r *benchRun, b *bot) error { return awaitPlayer(b) },
	send: func(r *benchRun, b *bot, seq int) error {
		b.sending(seq)
		r.sent.Add(1)
		r.expected.Add(1)
		return b.c.CallPlayer("Echo", token(b.i, seq, chatSize))
	},
	recv: func(r *benchRun, b *bot, ev client.Event) {
		c, ok := ev.(client.Call)
		if !ok {
			return
		}
		switch text, _ := firstString(c.Args); {
		case c.Method == "OnEcho" && len(c.Args) == 1:
			echoAnswer(r, b, text)
		case c.Method == "OnError":
			r.fail("client %d: OnError%v", b.i, c.Args)
		}
	},
}

// requestScenario is echoScenario with a request: the answer is the
// request's reply, not a call back.
var requestScenario = scenario{
	period: echoScenario.period,
	setup:  echoScenario.setup,
	send: func(r *benchRun, b *bot, seq int) error {
		b.sending(seq)
		r.sent.Add(1)
		r.expected.Add(1)
		r.waiting.Add(1)
		// Sent from this loop, as the echo's call is; the answer is
		// handled on the client's reader. No timeout of its own: an
		// answer that never comes is lost, and its wait ends when
		// closeAll closes the client (done gets ErrClosed).
		pl, ok := b.c.Player()
		if !ok {
			r.waiting.Done()
			return errors.New("no player entity")
		}
		err := b.c.RequestAsync(pl.ID, "EchoRequest", []any{token(b.i, seq, chatSize)}, func(v any, err error) {
			defer r.waiting.Done()
			if err != nil {
				if !errors.Is(err, client.ErrClosed) {
					r.fail("client %d: request: %v", b.i, err)
				}
				return
			}
			s, _ := v.(string)
			echoAnswer(r, b, s)
		})
		if err != nil {
			r.waiting.Done()
			return err
		}
		return nil
	},
	recv: func(r *benchRun, b *bot, ev client.Event) {},
}

func firstString(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

// mover is a move bot's state: where it is and its own entity.
type mover struct {
	id  rpc.EntityID
	pos rpc.Vector3
	rng *rand.Rand
}

// Moves: steps of up to moveStep units on x and z, within [0, moveArea),
// the area the AOI demo spawns players in.
const (
	moveStep = 5
	moveArea = 1000
)

// moveSpaceWait is how long a move bot waits, once it has a player
// entity, for it to enter a space.
const moveSpaceWait = 5 * time.Second

var moveScenario = scenario{
	period: func(o benchOptions) time.Duration { return time.Duration(float64(time.Second) / o.rate) },
	setup: func(r *benchRun, b *bot) error {
		// A game whose players enter no space (the chat demo) fails
		// fast, with the reason, rather than after 30 s of waiting.
		if err := awaitSpace(b); err != nil {
			return err
		}
		pl, ok := b.c.Player()
		if !ok {
			return fmt.Errorf("in a space without a player entity")
		}
		b.state = &mover{id: pl.ID, pos: pl.Pos, rng: rand.New(rand.NewPCG(uint64(b.i), uint64(time.Now().UnixNano())))}
		return nil
	},
	send: func(r *benchRun, b *bot, seq int) error {
		m := b.state.(*mover)
		m.pos.X = min(max(m.pos.X+(m.rng.Float32()*2-1)*moveStep, 0), moveArea-1)
		m.pos.Z = min(max(m.pos.Z+(m.rng.Float32()*2-1)*moveStep, 0), moveArea-1)
		r.sent.Add(1)
		if err := b.c.MovePlayer(m.pos, 0); err != nil {
			return err
		}
		// About once a second, a probe: a Say comes back on the player's
		// own client along the path the moves took.
		if every := max(int(math.Round(r.o.rate)), 1); seq%every == 0 {
			b.sending(seq)
			r.sent.Add(1)
			r.expected.Add(1)
			return b.c.CallPlayer("Say", token(b.i, seq, chatSize))
		}
		return nil
	},
	recv: func(r *benchRun, b *bot, ev client.Event) {
		c, ok := ev.(client.Call)
		if !ok {
			return
		}
		switch {
		case c.Method == "OnSay" && len(c.Args) == 3 && c.EntityID == b.state.(*mover).id:
			if id, _ := c.Args[0].(string); id == string(b.state.(*mover).id) {
				text, _ := c.Args[2].(string)
				echoAnswer(r, b, text)
			}
		case c.Method == "OnError":
			r.fail("client %d: OnError%v", b.i, c.Args)
		}
	},
}

// awaitSpace waits until b's player enters a space, for at most 30 s,
// and at most moveSpaceWait once the game has shown the bot its player:
// a game whose players enter no space is named as such at once.
func awaitSpace(b *bot) error {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	var noSpace <-chan time.Time
	playerType := ""
	for {
		select {
		case ev := <-b.setupEv:
			switch ev := ev.(type) {
			case client.Disconnected:
				return fmt.Errorf("disconnected waiting for a space: %s", ev.Reason)
			case client.SpaceEntered:
				return nil
			case client.EntityCreated:
				if ev.IsPlayer && noSpace == nil {
					playerType = ev.Type
					noSpace = time.After(moveSpaceWait)
				}
			}
		case <-noSpace:
			return fmt.Errorf("the game showed this client its player (a %s) but put it in no space within %v: "+
				"the move scenario needs a game whose players enter a space (the AOI demo, examples/aoi_demo)", playerType, moveSpaceWait)
		case <-deadline.C:
			return fmt.Errorf("no space entered after 30s")
		}
	}
}
