// Command svcgame is a small game with services, for the service tests of
// goworldctl (see service_test.go): real processes on a real Redis, with
// a game killed -9 or hot-reloaded under the services.
//
// Bank is a persistent singleton service: a total that Deposit adds to,
// saved every save_interval, so that it comes back with its last saved
// state when its game dies. Tally is a service of three shards that is
// not persistent: each counts its hits afresh when it is re-created
// (a hot reload carries it, a crash does not).
//
// A client's Player asks them on its client's behalf (Ask); each answer
// goes to the client as a call to Answer, with the sequence number the
// client gave, so that a test can tell every answer apart.
package main

import (
	"errors"
	"os"

	"github.com/goworld-engine/goworld"
)

// Player is the boot entity, one per client.
type Player struct {
	goworld.Entity
}

// DescribeEntityType declares Player's attributes and client methods.
func (p *Player) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.ExposeToClient("Ask")
}

// OnClientConnected greets the client with the server's PID.
func (p *Player) OnClientConnected() { p.CallClient("Welcome", os.Getpid()) }

// OnClientDisconnected destroys the player.
func (p *Player) OnClientDisconnected() { p.Destroy() }

// Ask asks method(seq, n) of the shard of service that key maps to, and
// answers the PID of the process that sent the request; the service's
// answer goes to the client as Answer (see OnAnswer).
func (p *Player) Ask(seq int, service, key, method string, n int) (int, error) {
	if err := p.RequestService(service, key, method, "OnAnswer", seq, n); err != nil {
		return 0, err
	}
	return os.Getpid(), nil
}

// OnAnswer passes a service's answer to the client: Answer(seq, value,
// pid, game, shard, playerPID, code, message), the first five from the
// service's answer (see Bank.Deposit), code "ok" or the error's code
// name, message the error's message. An error carries no answer to read
// the sequence number from: its seq is -1 (a test counts the errors and
// tells the answers apart by their seq).
func (p *Player) OnAnswer(r []int64, err error) {
	code, msg := "ok", ""
	var re *goworld.ReplyError
	if errors.As(err, &re) {
		code, msg = re.Code.String(), re.Message
	} else if err != nil {
		code, msg = "other", err.Error()
	}
	if err != nil || len(r) != 5 {
		r = []int64{-1, 0, 0, 0, 0}
	}
	p.CallClient("Answer", r[0], r[1], r[2], r[3], r[4], int64(os.Getpid()), code, msg)
}

// answer is what the services answer: [seq, value, PID, game, shard].
func answer(e *goworld.Entity, seq int, value int64) []int64 {
	_, shard, _ := e.ServiceShard()
	return []int64{int64(seq), value, int64(os.Getpid()), int64(e.World().GameID()), int64(shard)}
}

// Bank is a persistent singleton service.
type Bank struct {
	goworld.Entity
}

// DescribeEntityType makes Bank persistent, its total saved.
func (b *Bank) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.SetPersistent(true)
	desc.DefineAttr("total", goworld.AttrPersistent)
}

// Deposit adds n to the total and answers [seq, the new total, PID,
// game, 0].
func (b *Bank) Deposit(seq, n int) ([]int64, error) {
	t := b.Attrs.GetInt("total") + int64(n)
	b.Attrs.Set("total", t)
	return answer(&b.Entity, seq, t), nil
}

// Tally is a service of three shards that is not persistent.
type Tally struct {
	goworld.Entity
}

// DescribeEntityType declares Tally's count, server-only.
func (t *Tally) DescribeEntityType(desc *goworld.TypeDesc) { desc.DefineAttr("hits", 0) }

// Hit adds n to the shard's count and answers [seq, the new count, PID,
// game, shard].
func (t *Tally) Hit(seq, n int) ([]int64, error) {
	h := t.Attrs.GetInt("hits") + int64(n)
	t.Attrs.Set("hits", h)
	return answer(&t.Entity, seq, h), nil
}

func main() {
	goworld.RegisterEntity("Player", &Player{})
	goworld.RegisterService("Bank", &Bank{}, 1)
	goworld.RegisterService("Tally", &Tally{}, 3)
	goworld.Run()
}
