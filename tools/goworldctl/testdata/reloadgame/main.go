// Command reloadgame is a small game for the hot-reload tests of
// goworldctl (see reload_test.go). A client's Player can echo calls with
// the server's PID, keep a note, run a Counter driven by a 50ms timer, and
// arm a panic in its OnFreeze hook.
//
// Built with -ldflags "-X main.failRestore=yes", the binary exits 3 at
// once when asked to restore (-restore or -restore-from): a bad build, for
// the rollback test. It fails in main because the engine recovers a panic
// in OnRestore.
//
// For the request tests (request_test.go), a Player answers its client's
// requests and asks its Worker, which it creates on another game, on its
// client's behalf; each answer goes to the client as a call to Answer.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/goworld-engine/goworld"
)

// failRestore, set to "yes" at link time, makes the binary refuse to restore.
var failRestore string

// Player is the boot entity, one per client.
type Player struct {
	goworld.Entity
}

// DescribeEntityType declares Player's attributes and client methods.
func (p *Player) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.DefineAttr("note", goworld.AttrOwnClient)
	desc.DefineAttr("counter", 0)       // the Counter's ID, server-only
	desc.DefineAttr("freeze_panic", 0)  // OnFreeze panics while true
	desc.DefineAttr("restore_panic", 0) // OnRestore panics while true
	desc.DefineAttr("worker", 0)        // the Worker's ID, server-only
	desc.ExposeToClient("Echo", "SetNote", "GetNote", "StartCounter", "QueryCounter",
		"ResetCounterGaps", "ArmFreezePanic", "DisarmFreezePanic", "SetRestorePanic", "Spawn",
		"StartWorker", "Ask", "AskEntity", "Nap")
}

// OnClientConnected greets the client with the server's PID.
func (p *Player) OnClientConnected() { p.CallClient("Welcome", os.Getpid()) }

// OnClientDisconnected destroys the player.
func (p *Player) OnClientDisconnected() { p.Destroy() }

// OnFreeze panics while ArmFreezePanic is in force, which aborts the freeze.
func (p *Player) OnFreeze() {
	if p.Attrs.GetBool("freeze_panic") {
		panic("reloadgame: ArmFreezePanic is in force")
	}
}

// OnRestore panics while SetRestorePanic(true) is in force: a build whose
// OnRestore is broken.
func (p *Player) OnRestore() {
	if p.Attrs.GetBool("restore_panic") {
		panic("reloadgame: SetRestorePanic(true) is in force")
	}
}

// SetRestorePanic makes OnRestore panic (on) or not.
func (p *Player) SetRestorePanic(on bool) {
	p.Attrs.Set("restore_panic", on)
	p.CallClient("RestorePanic", on)
}

// Echo answers n with the PID of the process that ran the call.
func (p *Player) Echo(n int) { p.CallClient("Echoed", n, os.Getpid()) }

// SetNote sets the note attribute (synced to the client).
func (p *Player) SetNote(note string) {
	p.Attrs.Set("note", note)
	p.CallClient("NoteSet", note)
}

// GetNote answers the note attribute.
func (p *Player) GetNote() { p.CallClient("Note", p.Attrs.GetString("note")) }

// StartCounter creates the player's Counter on this game.
func (p *Player) StartCounter() {
	c, err := p.World().CreateEntityLocally("Counter", nil)
	if err != nil {
		p.CallClient("Error", err.Error())
		return
	}
	p.Attrs.Set("counter", string(c.ID()))
	p.CallClient("CounterStarted")
}

// QueryCounter asks the Counter for its state; the answer comes back as a
// call to the client's Counter method.
func (p *Player) QueryCounter() {
	p.Call(goworld.EntityID(p.Attrs.GetString("counter")), "Report", string(p.ID()))
}

// ResetCounterGaps restarts the Counter's gap statistics.
func (p *Player) ResetCounterGaps() {
	p.Call(goworld.EntityID(p.Attrs.GetString("counter")), "ResetGaps", string(p.ID()))
}

// CounterReport passes the Counter's answer to the client.
func (p *Player) CounterReport(count, minGapUS, maxGapUS, lastFire, pid int64) {
	p.CallClient("Counter", count, minGapUS, maxGapUS, lastFire, pid)
}

// ArmFreezePanic makes OnFreeze panic until DisarmFreezePanic.
func (p *Player) ArmFreezePanic() {
	p.Attrs.Set("freeze_panic", true)
	p.CallClient("Armed", true)
}

// DisarmFreezePanic undoes ArmFreezePanic.
func (p *Player) DisarmFreezePanic() {
	p.Attrs.Set("freeze_panic", false)
	p.CallClient("Armed", false)
}

// Spawn creates n Monsters on this game, for the reload benchmark, and
// answers Spawned(n).
func (p *Player) Spawn(n int) {
	for i := 0; i < n; i++ {
		m, err := p.World().CreateEntityLocally("Monster", map[string]any{
			"name": fmt.Sprintf("monster-%d", i), "level": i % 60, "hp": 812.5, "alive": true,
			"pos":       map[string]any{"x": float64(i%1000) + 0.5, "y": 12.25, "z": float64(i/1000) + 0.75},
			"inventory": []any{"sword", "shield", "potion", "potion", "key"},
			"gold":      i * 7, "guild": "wanderers", "seen": 0,
			"stats": map[string]any{"str": 12, "dex": 14, "con": 10, "int": 8},
		})
		if err == nil {
			_, err = m.AddTimer(time.Second, "Think", 1)
		}
		if err != nil {
			p.CallClient("Error", err.Error())
			return
		}
	}
	p.CallClient("Spawned", n)
}

// StartWorker creates the player's Worker on the first game of the
// cluster that is not this one, and answers its ID.
func (p *Player) StartWorker() (string, error) {
	w := p.World()
	for _, g := range w.Games() {
		if g == w.GameID() {
			continue
		}
		id, err := w.CreateEntityOnGame(g, "Worker", nil)
		if err != nil {
			return "", err
		}
		p.Attrs.Set("worker", string(id))
		return string(id), nil
	}
	return "", errors.New("reloadgame: no other game to start a worker on")
}

// Ask asks the Worker's method with n, waiting at most timeoutMS (0: the
// world's request_timeout), and answers the PID of the process that sent
// the request; the Worker's answer goes to the client as Answer (see
// OnWorked).
func (p *Player) Ask(method string, n, timeoutMS int) (int, error) {
	return p.AskEntity(p.Attrs.GetString("worker"), method, n, timeoutMS)
}

// AskEntity is Ask to the entity target.
func (p *Player) AskEntity(target, method string, n, timeoutMS int) (int, error) {
	err := p.RequestTimeout(goworld.EntityID(target), time.Duration(timeoutMS)*time.Millisecond, method, "OnWorked", n)
	if err != nil {
		return 0, err
	}
	return os.Getpid(), nil
}

// OnWorked passes a Worker's answer to the client, combined with what
// this game knows: Answer(tripled, workerPID, playerPID, code, message),
// tripled and workerPID from the Worker's answer (0 for an error), code
// "ok" or the error's code name, message the error's message.
func (p *Player) OnWorked(r []int64, err error) {
	code, msg := "ok", ""
	var re *goworld.ReplyError
	if errors.As(err, &re) {
		code, msg = re.Code.String(), re.Message
	} else if err != nil {
		code, msg = "other", err.Error()
	}
	var tripled, workerPID int64
	if len(r) == 2 {
		tripled, workerPID = r[0], r[1]
	}
	p.CallClient("Answer", tripled, workerPID, int64(os.Getpid()), code, msg)
}

// Nap holds this game's loop for ms milliseconds (a slow method, for
// client timeouts and the gate's max_client_requests), then answers the
// PID.
func (p *Player) Nap(ms int) (int, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return os.Getpid(), nil
}

// Worker is asked by a Player from another game. Its methods answer
// [3n, PID] or fail in each of the ways a callee can.
type Worker struct {
	goworld.Entity
}

// Work answers [3n, PID].
func (w *Worker) Work(n int) ([]int64, error) { return []int64{3 * int64(n), int64(os.Getpid())}, nil }

// Slow holds this game's loop for n milliseconds (a slow callee: its
// answer is in flight for that long), then answers as Work.
func (w *Worker) Slow(n int) ([]int64, error) {
	time.Sleep(time.Duration(n) * time.Millisecond)
	return w.Work(n)
}

// Boom panics.
func (w *Worker) Boom(n int) ([]int64, error) { panic(fmt.Sprintf("reloadgame: Boom(%d)", n)) }

// Refuse answers the game's own error code CodeUser+1.
func (w *Worker) Refuse(n int) ([]int64, error) {
	return nil, goworld.NewError(goworld.CodeUser+1, fmt.Sprintf("refused %d", n))
}

// Fail answers an error without a code of its own.
func (w *Worker) Fail(n int) ([]int64, error) { return nil, fmt.Errorf("failed %d", n) }

// Monster is a typical NPC for the reload benchmark: ten attributes and a
// timer.
type Monster struct {
	goworld.Entity
}

// DescribeEntityType declares Monster's attributes.
func (m *Monster) DescribeEntityType(desc *goworld.TypeDesc) {
	for _, a := range []string{"name", "level", "hp", "pos", "inventory", "alive", "gold", "guild", "stats", "seen"} {
		desc.DefineAttr(a, goworld.AttrAllClients)
	}
}

// Think is the Monster's timer callback.
func (m *Monster) Think(step int) { m.Attrs.Set("seen", m.Attrs.GetInt("seen")+int64(step)) }

// tick is the Counter's timer period.
const tick = 50 * time.Millisecond

// Counter counts the fires of its timer, every 50ms, and keeps the
// smallest and largest gap between two fires, in microseconds, all in
// server-only attributes.
type Counter struct {
	goworld.Entity
}

// DescribeEntityType declares Counter's attributes.
func (c *Counter) DescribeEntityType(desc *goworld.TypeDesc) {
	for _, a := range []string{"count", "min_gap_us", "max_gap_us", "last_fire"} {
		desc.DefineAttr(a, 0)
	}
}

// OnCreated starts the timer. A restored Counter gets its timer back from
// the freeze file, not from here.
func (c *Counter) OnCreated() {
	if _, err := c.AddTimer(tick, "Tick"); err != nil {
		panic(err)
	}
}

// Tick counts one fire.
func (c *Counter) Tick() {
	now := time.Now().UnixNano()
	if last := c.Attrs.GetInt("last_fire"); last != 0 {
		gap := (now - last) / 1000
		if m := c.Attrs.GetInt("min_gap_us"); m == 0 || gap < m {
			c.Attrs.Set("min_gap_us", gap)
		}
		if gap > c.Attrs.GetInt("max_gap_us") {
			c.Attrs.Set("max_gap_us", gap)
		}
	}
	c.Attrs.Set("last_fire", now)
	c.Attrs.Set("count", c.Attrs.GetInt("count")+1)
}

// Report sends the Counter's state to the player owner.
func (c *Counter) Report(owner string) {
	a := c.Attrs
	c.Call(goworld.EntityID(owner), "CounterReport", a.GetInt("count"), a.GetInt("min_gap_us"),
		a.GetInt("max_gap_us"), a.GetInt("last_fire"), int64(os.Getpid()))
}

// ResetGaps restarts the gap statistics, then reports to owner.
func (c *Counter) ResetGaps(owner string) {
	c.Attrs.Set("min_gap_us", int64(0))
	c.Attrs.Set("max_gap_us", int64(0))
	c.Report(owner)
}

func main() {
	if failRestore == "yes" {
		for _, a := range os.Args[1:] {
			if strings.HasPrefix(strings.TrimLeft(a, "-"), "restore") {
				fmt.Fprintln(os.Stderr, "reloadgame: built with failRestore=yes: refusing to restore")
				os.Exit(3)
			}
		}
	}
	goworld.RegisterEntity("Player", &Player{})
	goworld.RegisterEntity("Counter", &Counter{})
	goworld.RegisterEntity("Monster", &Monster{})
	goworld.RegisterEntity("Worker", &Worker{})
	goworld.Run()
}
