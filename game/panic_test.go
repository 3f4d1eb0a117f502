package game_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/vmihailenco/msgpack/v5"
)

// TestEnginePanicCostsOneFrame: a panic in the engine's own handling of a
// frame (not in entity code, which has its own guard) is recovered on the
// game loop: logged with its stack, the message type and the entity,
// counted in /metrics, and the game serves on. It used to end the process,
// and every player of the game with it (a kick reason too long to encode
// did, for one).
func TestEnginePanicCostsOneFrame(t *testing.T) {
	c, logs := startCluster(t, cluster.Options{Games: 2})
	caller, host := c.Games[0], c.Games[1]
	sk := newSink(t)
	id := probeOn(t, caller, 2, sk)

	// The host's engine panics on the frame that carries Ping(13).
	poison, err := msgpack.Marshal(13)
	if err != nil {
		t.Fatal(err)
	}
	game.SetFrameHook(host, func(typ rpc.MsgType, body []byte) {
		if typ == rpc.MsgCallEntityMethod && bytes.HasSuffix(body, poison) && bytes.Contains(body, []byte("Ping")) {
			panic("engine invariant broken (test)")
		}
	})
	onLoop(t, host, func() {}) // the hook is in place
	for n := 12; n <= 14; n++ {
		onLoop(t, caller, func() { caller.World().Call(id, "Ping", n) })
	}
	for _, want := range []int{12, 14} {
		if ev := sk.expect(t, "Ping"); ev.args[0] != want {
			t.Fatalf("Ping%v, want Ping(%d): frame 13 alone is lost", ev.args, want)
		}
	}
	logs.wait(t, "panic handling a frame", "engine invariant broken (test)", "msg=CallEntityMethod", string(id), "goroutine")

	var m strings.Builder
	if err := host.WriteMetrics(&m); err != nil {
		t.Fatal(err)
	}
	if want := `goworld_game_panics_total{process="game2",in="engine"} 1`; !strings.Contains(m.String(), want) {
		t.Errorf("metrics lack %q:\n%s", want, grepLines(m.String(), "panics"))
	}
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
