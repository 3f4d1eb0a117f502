package client_test

// BenchmarkClientCost: what package client costs a process that runs
// many clients (a load bot, a server-side client), next to a minimal
// hand-written client driving the same chat load against the same
// cluster in the same run.
//
//	go test ./client/ -run '^$' -bench BenchmarkClientCost -benchtime 1x -timeout 30m \
//		-cost.clients 1000,4000 -cost.rounds 3 -cost.duration 10s
//
// Three kinds: "hand" (below), "client" (package client with a goroutine
// reading Events, as most applications use it) and "client-onevent"
// (package client with Options.OnEvent: the events handled on the
// client's own reader goroutine).
//
// The cluster (one dispatcher, game and gate, in this process) hosts
// Chatter, a chat room stripped to what the load needs: Join(name,
// room) sets the client's filter property and answers OnJoined; Say(text)
// sends OnChat(room, name, text) to every client in the room, as the
// chat demo's Avatar does. The clients run in a child process of their
// own (this test binary again, TestClientCostChild), one kind at a time,
// so that the child's heap, RSS and CPU are the clients' alone: N clients
// in rooms of 50, each saying one 32-byte line every 2 s (spread evenly
// over time and clients), each line delivered to the 50 members of its
// room, for -cost.duration. The kinds alternate within each round, so
// that both see the same machine.
//
// Reported per kind: heap (HeapInuse + StackInuse after a collection)
// and RSS per client, after the logins and again after the load, and the
// child's CPU (user + system) per delivered line over the load and its
// drain. Nothing asserts a figure; a run fails only on lost lines,
// disconnects or errors.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/procstat"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/rpc"
)

var (
	costClients  = flag.String("cost.clients", "1000", "BenchmarkClientCost: client counts, comma-separated (multiples of 50)")
	costRounds   = flag.Int("cost.rounds", 2, "BenchmarkClientCost: rounds of each kind, alternated")
	costDuration = flag.Duration("cost.duration", 10*time.Second, "BenchmarkClientCost: how long each run chats")
	costKinds    = flag.String("cost.kinds", "hand,client,client-onevent", "BenchmarkClientCost: the kinds of client to run, in order")
	costProfile  = flag.String("cost.profile", "", "BenchmarkClientCost: a directory for each child's CPU profile of the load and heap profile after it (KIND-N-TAG.cpu, .heap)")
)

// costEnv carries a child's orders (see costOrders).
const costEnv = "GOWORLD_CLIENTCOST_CHILD"

const (
	costRoomSize = 50
	costMsgLen   = 32
	costEvery    = 2 * time.Second // each client says a line this often
	// costSetupPar is how many clients log in at a time.
	costSetupPar = 50
)

// Chatter is the boot entity of BenchmarkClientCost: a chat room member.
type Chatter struct{ entity.Entity }

// DescribeEntityType exposes Join and Say.
func (c *Chatter) DescribeEntityType(d *entity.TypeDesc) {
	d.DefineAttr("name", 0)
	d.DefineAttr("room", 0)
	d.ExposeToClient("Join")
	d.ExposeToClient("Say")
}

// Join puts the client in room under name.
func (c *Chatter) Join(name, room string) {
	c.Attrs.Set("name", name)
	c.Attrs.Set("room", room)
	c.SetClientFilterProp("room", room)
	c.CallClient("OnJoined", room)
}

// Say sends text to everyone in the client's room, the client included.
func (c *Chatter) Say(text string) {
	room := c.Attrs.GetString("room")
	c.World().CallFilteredClients("room", room, "OnChat", room, c.Attrs.GetString("name"), text)
}

// costOrders is what the parent tells a child.
type costOrders struct {
	Kind     string        // "client", "client-onevent" or "hand"
	Clients  int           // a multiple of costRoomSize
	Addr     string        // the gate
	Tag      string        // the run's rooms and lines start with it (one byte)
	Duration time.Duration // of the load
	Profile  string        // a directory for profiles, or ""
}

// costResult is what a child reports, on one line of its stdout after
// costResultPrefix.
type costResult struct {
	Base       costMem // before the first client
	Idle       costMem // all logged in and in their rooms
	Loaded     costMem // after the load
	CPU        time.Duration
	Sent       int64
	Delivered  int64
	Expected   int64
	Goroutines int // with every client connected, after the load
	Errors     []string
}

// costMem is one reading of the child's memory.
type costMem struct {
	Heap, Stack, RSS int64 // bytes: HeapInuse, StackInuse after a collection; VmRSS
}

const costResultPrefix = "CLIENTCOST "

func BenchmarkClientCost(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	var counts []int
	for _, f := range strings.Split(*costClients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || n%costRoomSize != 0 {
			b.Fatalf("-cost.clients %q: want multiples of %d", *costClients, costRoomSize)
		}
		counts = append(counts, n)
	}
	reg := entity.NewRegistry()
	if err := reg.Register("Chatter", &Chatter{}); err != nil {
		b.Fatal(err)
	}
	cl := cluster.Start(b, cluster.Options{Registry: reg, BootEntity: "Chatter"})
	tag := byte('A')
	for _, n := range counts {
		for range *costRounds {
			for _, kind := range strings.Split(*costKinds, ",") {
				o := costOrders{Kind: kind, Clients: n, Addr: cl.GateAddr(0), Tag: string(tag), Duration: *costDuration, Profile: *costProfile}
				tag++
				if tag > 'Z' {
					tag = 'A'
				}
				b.Run(fmt.Sprintf("clients=%d/%s", n, kind), func(b *testing.B) {
					r := runCostChild(b, o)
					per := func(v int64) float64 { return float64(v) / 1024 / float64(n) }
					b.ReportMetric(0, "ns/op")
					b.ReportMetric(per(r.Idle.Heap+r.Idle.Stack-r.Base.Heap-r.Base.Stack), "idle-heap-KB/client")
					b.ReportMetric(per(r.Idle.RSS-r.Base.RSS), "idle-RSS-KB/client")
					b.ReportMetric(per(r.Loaded.Heap+r.Loaded.Stack-r.Base.Heap-r.Base.Stack), "heap-KB/client")
					b.ReportMetric(per(r.Loaded.RSS-r.Base.RSS), "RSS-KB/client")
					b.ReportMetric(float64(r.CPU)/float64(time.Microsecond)/float64(max(r.Delivered, 1)), "cpu-us/delivery")
					b.ReportMetric(float64(r.Delivered)/o.Duration.Seconds(), "deliveries/s")
					b.ReportMetric(float64(r.Goroutines)/float64(n), "goroutines/client")
					b.Logf("%s × %d: sent %d, delivered %d of %d; CPU %v; heap+stack %d → %d → %d KB (stack %d → %d → %d KB), RSS %d → %d → %d KB; %d goroutines",
						kind, n, r.Sent, r.Delivered, r.Expected, r.CPU.Round(time.Millisecond),
						(r.Base.Heap+r.Base.Stack)>>10, (r.Idle.Heap+r.Idle.Stack)>>10, (r.Loaded.Heap+r.Loaded.Stack)>>10,
						r.Base.Stack>>10, r.Idle.Stack>>10, r.Loaded.Stack>>10,
						r.Base.RSS>>10, r.Idle.RSS>>10, r.Loaded.RSS>>10, r.Goroutines)
					for _, e := range r.Errors {
						b.Error(e)
					}
					if r.Delivered != r.Expected {
						b.Errorf("%d of %d lines lost", r.Expected-r.Delivered, r.Expected)
					}
				})
			}
		}
	}
}

// runCostChild runs one kind of client in a child process and returns
// what it reports.
func runCostChild(b *testing.B, o costOrders) costResult {
	b.Helper()
	orders, err := json.Marshal(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+2*o.Duration)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestClientCostChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), costEnv+"="+string(orders))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, costResultPrefix); ok {
			var r costResult
			if jerr := json.Unmarshal([]byte(rest), &r); jerr != nil {
				b.Fatalf("child's result %q: %v", rest, jerr)
			}
			if err != nil {
				r.Errors = append(r.Errors, fmt.Sprintf("child: %v\n%s", err, bytes.TrimSpace(out)))
			}
			return r
		}
	}
	b.Fatalf("child (%s × %d) reported nothing: %v\n%s\n%s", o.Kind, o.Clients, err, out, stderr.Bytes())
	return costResult{}
}

// TestClientCostChild is BenchmarkClientCost's child process; it runs
// only with the orders in its environment.
func TestClientCostChild(t *testing.T) {
	orders := os.Getenv(costEnv)
	if orders == "" {
		t.Skip("BenchmarkClientCost's child process")
	}
	var o costOrders
	if err := json.Unmarshal([]byte(orders), &o); err != nil {
		t.Fatal(err)
	}
	r := costRun(o)
	line, _ := json.Marshal(r)
	fmt.Printf("%s%s\n", costResultPrefix, line)
}

// costBot is one client of either kind, as the load drives it.
type costBot interface {
	say(text string) error
	close()
}

// costRun sets up o.Clients clients of kind o.Kind, measures, drives
// the load, measures again and closes them.
func costRun(o costOrders) (r costResult) {
	var (
		delivered atomic.Int64
		errMu     sync.Mutex
	)
	fail := func(format string, a ...any) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(r.Errors) < 10 {
			r.Errors = append(r.Errors, fmt.Sprintf(format, a...))
		}
	}
	count := func(text string) {
		if len(text) == costMsgLen && text[0] == o.Tag[0] {
			delivered.Add(1)
		}
	}
	r.Base = costMemNow()
	bots := make([]costBot, o.Clients)
	defer func() {
		var wg sync.WaitGroup
		for _, bt := range bots {
			if bt != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					bt.close()
				}()
			}
		}
		wg.Wait()
	}()
	var hand *handFleet
	if o.Kind == "hand" {
		hand = newHandFleet()
		defer hand.stop()
	}
	var next atomic.Int64
	var setup sync.WaitGroup
	for range costSetupPar {
		setup.Add(1)
		go func() {
			defer setup.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.Clients {
					return
				}
				name, room := fmt.Sprintf("c%d", i), fmt.Sprintf("%s%d", o.Tag, i/costRoomSize)
				var err error
				switch o.Kind {
				case "client":
					bots[i], err = dialCostClient(o.Addr, name, room, count, fail)
				case "client-onevent":
					bots[i], err = dialCostOnEvent(o.Addr, name, room, count, fail)
				case "hand":
					bots[i], err = hand.dial(o.Addr, name, room, count, fail)
				default:
					err = fmt.Errorf("unknown kind %q", o.Kind)
				}
				if err != nil {
					fail("client %d: %v", i, err)
					next.Store(int64(o.Clients)) // stop the others
					return
				}
			}
		}()
	}
	setup.Wait()
	errMu.Lock()
	failed := len(r.Errors) > 0
	errMu.Unlock()
	if failed {
		return r
	}
	r.Idle = costMemNow()

	// The load: line k from client k mod N at start + k/rate.
	rate := float64(o.Clients) / costEvery.Seconds()
	total := int(rate * o.Duration.Seconds())
	stopProfile := costProfileStart(o, fail)
	cpu0 := procstat.SelfCPU()
	start := time.Now()
	for k := range total {
		due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if time.Since(start) > o.Duration+10*time.Second {
			fail("the sender fell behind: %d of %d sent", k, total)
			break
		}
		text := fmt.Sprintf("%s%05d%08d", o.Tag, k%o.Clients, k/o.Clients)
		text += strings.Repeat(".", costMsgLen-len(text))
		if err := bots[k%o.Clients].say(text); err != nil {
			fail("say: %v", err)
			break
		}
		r.Sent++
	}
	r.Expected = r.Sent * costRoomSize
	for end := time.Now().Add(30 * time.Second); delivered.Load() < r.Expected && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	r.CPU = procstat.SelfCPU() - cpu0
	stopProfile()
	r.Delivered = delivered.Load()
	r.Goroutines = runtime.NumGoroutine()
	r.Loaded = costMemNow()
	return r
}

// costProfileStart starts the CPU profile of the load, if o asks for
// profiles; what it returns stops it and writes the heap profile.
func costProfileStart(o costOrders, fail func(string, ...any)) func() {
	if o.Profile == "" {
		return func() {}
	}
	base := filepath.Join(o.Profile, fmt.Sprintf("%s-%d-%s", o.Kind, o.Clients, o.Tag))
	f, err := os.Create(base + ".cpu")
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fail("profile: %v", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		h, err := os.Create(base + ".heap")
		if err == nil {
			runtime.GC()
			err = errors.Join(pprof.WriteHeapProfile(h), h.Close())
		}
		if err != nil {
			fail("profile: %v", err)
		}
	}
}

// costMemNow reads the process's memory after a collection.
func costMemNow() costMem {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	kb, _ := procstat.RSSKB(os.Getpid())
	return costMem{Heap: int64(ms.HeapInuse), Stack: int64(ms.StackInuse), RSS: kb << 10}
}

// ---------------------------------------------------------------------
// Package client

// chatBot returns a package client bot's event handler: it joins room
// once its player exists (client returns the client, once it is set),
// counts the chat lines it hears, and reports the join, or a
// disconnection before it, on joined.
func chatBot(name, room string, cl func() *client.Client, joined chan error, count func(string), fail func(string, ...any)) func(client.Event) {
	return func(ev client.Event) {
		switch ev := ev.(type) {
		case client.EntityCreated:
			if ev.IsPlayer {
				if err := cl().Call(ev.ID, "Join", name, room); err != nil {
					joined <- err
				}
			}
		case client.Call:
			switch ev.Method {
			case "OnChat":
				if len(ev.Args) == 3 {
					text, _ := ev.Args[2].(string)
					count(text)
				}
			case "OnJoined":
				joined <- nil
			}
		case client.Disconnected:
			if !errors.Is(ev.Err, client.ErrClosed) {
				fail("%s disconnected: %s", name, ev.Reason)
				select {
				case joined <- errors.New(ev.Reason):
				default:
				}
			}
		}
	}
}

// costClient is a package client bot: Options{} (the defaults, as
// goworldctl bench uses), and a goroutine reading its events.
type costClient struct {
	c    *client.Client
	done chan struct{}
}

func dialCostClient(addr, name, room string, count func(string), fail func(string, ...any)) (*costClient, error) {
	c, err := client.Dial(addr, client.Options{})
	if err != nil {
		return nil, err
	}
	cc := &costClient{c: c, done: make(chan struct{})}
	joined := make(chan error, 1)
	handle := chatBot(name, room, func() *client.Client { return c }, joined, count, fail)
	go func() {
		defer close(cc.done)
		for ev := range c.Events() {
			handle(ev)
		}
	}()
	select {
	case err = <-joined:
	case <-time.After(time.Minute):
		err = errors.New("no OnJoined within a minute")
	}
	if err != nil {
		cc.close()
		return nil, err
	}
	return cc, nil
}

func (cc *costClient) say(text string) error { return cc.c.CallPlayer("Say", text) }

func (cc *costClient) close() {
	cc.c.Close()
	<-cc.done
}

// costOnEvent is a package client bot with Options.OnEvent: no goroutine
// of its own, the events handled on the client's reader.
type costOnEvent struct {
	c *client.Client
}

func dialCostOnEvent(addr, name, room string, count func(string), fail func(string, ...any)) (*costOnEvent, error) {
	joined := make(chan error, 1)
	ready := make(chan struct{})
	var c *client.Client
	handle := chatBot(name, room, func() *client.Client { <-ready; return c }, joined, count, fail)
	c, err := client.Dial(addr, client.Options{OnEvent: handle})
	if err != nil {
		return nil, err
	}
	close(ready)
	select {
	case err = <-joined:
	case <-time.After(time.Minute):
		err = errors.New("no OnJoined within a minute")
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return &costOnEvent{c: c}, nil
}

func (co *costOnEvent) say(text string) error { return co.c.CallPlayer("Say", text) }

func (co *costOnEvent) close() { co.c.Close() }

// ---------------------------------------------------------------------
// A minimal hand-written client: a socket, a 4 KiB read buffer, a
// goroutine reading frames and decoding calls, writes straight to the
// socket under a mutex, and one goroutine sending every client's
// heartbeats (the gate's default interval, 5 s).

// handFleet owns the heartbeat goroutine of its hand-written clients.
type handFleet struct {
	mu      sync.Mutex
	clients map[*handClient]struct{}
	quit    chan struct{}
	wg      sync.WaitGroup
}

func newHandFleet() *handFleet {
	f := &handFleet{clients: map[*handClient]struct{}{}, quit: make(chan struct{})}
	f.wg.Add(1)
	go f.heartbeats()
	return f
}

func (f *handFleet) heartbeats() {
	defer f.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.mu.Lock()
			for h := range f.clients {
				h.send(rpc.MsgHeartbeat, nil)
			}
			f.mu.Unlock()
		case <-f.quit:
			return
		}
	}
}

func (f *handFleet) stop() {
	close(f.quit)
	f.wg.Wait()
}

type handClient struct {
	fleet   *handFleet
	nc      net.Conn
	id      rpc.EntityID
	wmu     sync.Mutex
	wbuf    []byte // under wmu
	closing atomic.Bool
	done    chan struct{}
}

func (f *handFleet) dial(addr, name, room string, count func(string), fail func(string, ...any)) (*handClient, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	h := &handClient{fleet: f, nc: nc, done: make(chan struct{})}
	h.send(rpc.MsgClientHello, rpc.AppendClientHello(nil, rpc.ProtocolVersion))
	h.send(rpc.MsgHeartbeat, nil)
	br := bufio.NewReaderSize(nc, 4096)
	var hdr [rpc.HeaderSize]byte
	nc.SetReadDeadline(time.Now().Add(time.Minute))
	// Until the player entity, then until OnJoined.
	for joined := false; !joined; {
		t, body, err := rpc.ReadFrame(br, hdr[:], 1<<20)
		if err != nil {
			nc.Close()
			return nil, err
		}
		switch t {
		case rpc.MsgCreateEntity:
			r := rpc.NewReader(body)
			id, player := r.EntityID(), r.Uint8() != 0
			if r.Err() == nil && player {
				h.id = id
				if err := h.call("Join", name, room); err != nil {
					nc.Close()
					return nil, err
				}
			}
		case rpc.MsgCallClient:
			r := rpc.NewReader(body)
			r.EntityID()
			joined = r.String() == "OnJoined"
		case rpc.MsgKick:
			nc.Close()
			return nil, fmt.Errorf("kicked: %s", rpc.NewReader(body).String())
		}
	}
	nc.SetReadDeadline(time.Time{})
	f.mu.Lock()
	f.clients[h] = struct{}{}
	f.mu.Unlock()
	go func() {
		defer close(h.done)
		for {
			t, body, err := rpc.ReadFrame(br, hdr[:], 1<<20)
			if err != nil {
				if !h.closing.Load() {
					fail("%s: %v", name, err)
				}
				return
			}
			switch t {
			case rpc.MsgCallClient:
				r := rpc.NewReader(body)
				r.EntityID()
				method := r.String()
				args, err := rpc.DecodeAnyArgs(r.Rest())
				if r.Err() != nil || err != nil {
					fail("%s: malformed call: %v %v", name, r.Err(), err)
					continue
				}
				if method == "OnChat" && len(args) == 3 {
					text, _ := args[2].(string)
					count(text)
				}
			case rpc.MsgKick:
				fail("%s kicked: %s", name, rpc.NewReader(body).String())
			}
		}
	}()
	return h, nil
}

// send writes one frame.
func (h *handClient) send(t rpc.MsgType, body []byte) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.wbuf = rpc.AppendFrame(h.wbuf[:0], t, body)
	_, err := h.nc.Write(h.wbuf)
	return err
}

// call calls method on the player.
func (h *handClient) call(method string, args ...any) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	b := rpc.AppendHeader(h.wbuf[:0], rpc.MsgCallEntity, 0)
	b = rpc.AppendString(rpc.AppendEntityID(b, h.id), method)
	b, err := rpc.AppendArgs(b, args)
	if err != nil {
		return err
	}
	b = rpc.AppendHeader(b[:0], rpc.MsgCallEntity, len(b)-rpc.HeaderSize)[:len(b)]
	h.wbuf = b
	_, err = h.nc.Write(b)
	return err
}

func (h *handClient) say(text string) error { return h.call("Say", text) }

func (h *handClient) close() {
	h.fleet.mu.Lock()
	delete(h.fleet.clients, h)
	h.fleet.mu.Unlock()
	h.closing.Store(true)
	h.nc.Close()
	<-h.done
}
