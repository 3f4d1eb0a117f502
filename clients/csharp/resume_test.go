package csharpclient_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/cutproxy"
	"github.com/goworld-engine/goworld/internal/testkit/monotest"
	"github.com/goworld-engine/goworld/internal/testkit/udprelay"
)

// resumerLog is what CsResumer entities did: the hooks that ran and the
// Move numbers received, in order. Emptied before the cluster starts (a
// run of the test with -count 2 found the first run's records).
var resumerLog struct {
	mu    sync.Mutex
	hooks []string
	moves []int
}

func logResumer(hook string, move int) {
	resumerLog.mu.Lock()
	defer resumerLog.mu.Unlock()
	if hook != "" {
		resumerLog.hooks = append(resumerLog.hooks, hook)
	} else {
		resumerLog.moves = append(resumerLog.moves, move)
	}
}

// CsResumer is the boot entity of the resume test.
type CsResumer struct{ entity.Entity }

func (r *CsResumer) DescribeEntityType(d *entity.TypeDesc) { d.ExposeToClient("Move") }
func (r *CsResumer) OnClientConnected()                    { logResumer("connected", 0) }
func (r *CsResumer) OnClientAway()                         { logResumer("away", 0) }
func (r *CsResumer) OnClientBack()                         { logResumer("back", 0) }
func (r *CsResumer) OnClientDisconnected() {
	logResumer("gone", 0)
	r.Destroy()
}

// Move records n and answers it.
func (r *CsResumer) Move(n int) {
	logResumer("", n)
	r.CallClient("OnMoved", n)
}

// TestResumeAcrossACut: a resumable session of the C# client over TCP
// through a proxy (internal/testkit/cutproxy) that resets the connection
// mid-session and refuses new ones for a while: the client notices,
// keeps what it sends meanwhile, dials again with backoff, resumes, and
// every call reaches the entity once and in order, every answer the
// client once and in order; the entity sees its client away and back,
// and gone at once when the client closes.
func TestResumeAcrossACut(t *testing.T) { runResume(t, false) }

// TestResumeAcrossACutKCP: the same over KCP, through a UDP relay
// (internal/testkit/udprelay) that goes dark: the client notices the
// silence by its heartbeats, redials with a new UDP socket and a new
// handshake (resending its hello while the relay is dark), resumes, and
// nothing is lost or repeated either way.
func TestResumeAcrossACutKCP(t *testing.T) { runResume(t, true) }

func runResume(t *testing.T, kcp bool) {
	exe := build(t, "tests/ResumeTests.cs")[0]
	resumerLog.mu.Lock()
	resumerLog.hooks, resumerLog.moves = nil, nil
	resumerLog.mu.Unlock()
	reg := entity.NewRegistry()
	if err := reg.Register("CsResumer", &CsResumer{}); err != nil {
		t.Fatal(err)
	}
	opts := cluster.Options{Registry: reg, BootEntity: "CsResumer", KCP: kcp}
	if kcp {
		// The client notices a dark path by silence: short heartbeats.
		opts.HeartbeatInterval, opts.HeartbeatTimeout = heartbeatInterval, heartbeatTimeout
	}
	c := cluster.Start(t, opts)
	var addr string
	var cut func() error
	var heal func()
	if kcp {
		relay := udprelay.New(t, c.GateAddr(0), udprelay.Options{})
		addr = relay.Addr()
		cut = func() error { relay.SetDown(true); return nil }
		heal = func() { relay.SetDown(false) }
	} else {
		proxy, err := cutproxy.Start(c.GateAddr(0))
		if err != nil {
			t.Fatal(err)
		}
		defer proxy.Close()
		addr = proxy.Addr()
		cut = func() error {
			if n := proxy.Cut(); n != 1 {
				return fmt.Errorf("the proxy cut %d connections, want 1", n)
			}
			return nil
		}
		heal = proxy.Heal
	}
	host, port, _ := strings.Cut(addr, ":")
	args := []string{host, port}
	if kcp {
		args = append(args, "kcp")
	}

	ctx, cancel := context.WithTimeout(context.Background(), monoTimeout)
	defer cancel()
	p := monotest.Start(ctx, t, exe, args...)
	stdin, s := p.Stdin, p.Stdout
	var out []string
	for s.Scan() {
		line := s.Text()
		out = append(out, line)
		switch line {
		case "CUT":
			if err := cut(); err != nil {
				t.Error(err)
			}
			io.WriteString(stdin, "cut\n")
		case "HEAL":
			// Connections the client tried meanwhile were reset: it
			// retries with backoff.
			heal()
			io.WriteString(stdin, "healed\n")
		}
	}
	stdin.Close()
	werr := p.Cmd.Wait()
	log := strings.Join(out, "\n") + "\n" + p.Stderr.String()
	if werr != nil || !strings.Contains(log, "resume: ok") {
		t.Fatalf("ResumeTests: %v\n%s", werr, log)
	}
	t.Logf("ResumeTests:\n%s", log)

	want := make([]int, 45)
	for i := range want {
		want[i] = i + 1
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resumerLog.mu.Lock()
		moves, hooks := slices.Clone(resumerLog.moves), slices.Clone(resumerLog.hooks)
		resumerLog.mu.Unlock()
		got := fmt.Sprint(hooks)
		if slices.Equal(moves, want) && got == "[connected away back gone]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the entity received moves %v\nand ran hooks %s, want [connected away back gone]", moves, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if kcp {
		// The resume came over a new session: a second handshake
		// (protocol.md 3.2: a redial opens a new socket), one resume.
		checkGateMetrics(t, c.Gates[0], map[string]string{
			`goworld_gate_kcp_hellos_answered_total{process="gate1"}`: "2",
			`goworld_gate_resumes_total{process="gate1",result="ok"}`: "1",
		})
	}
}
