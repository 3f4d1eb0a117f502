package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/proc"
	"github.com/goworld-engine/goworld/internal/procstat"
	"github.com/goworld-engine/goworld/internal/wsconn"
)

// Bounds of bench's flags: every run stops by itself.
const (
	benchMaxClients  = 100_000
	benchMaxDuration = time.Hour
	benchDrain       = 10 * time.Second // how long answers may trail the last request
)

// benchOptions are bench's flags.
type benchOptions struct {
	gate        string   // -gate as given: one address, or several separated by commas
	gates       []string // the addresses the bots connect to, client i to gates[i%len(gates)]
	allGates    bool     // without -gate: every gate of DIR rather than the first
	clients     int
	duration    time.Duration
	scenario    string
	kcp         bool
	ws          bool
	rate        float64 // requests per second per client (echo, move)
	parallel    int     // connections set up at once
	setup       time.Duration
	idle        time.Duration // the idle cluster's CPU is measured this long
	allowRemote bool
	cluster     *cluster // nil without DIR: no server CPU figures
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "drive bot clients against a running cluster and report throughput, latency and losses",
		Description: "Scenarios (each needs the matching demo's entity types):\n" +
			"  chat  examples/chatroom_demo: client i logs in as bench<i>, joins room r<i/50> and says\n" +
			"        one 32-byte message every 2 s; every member of the room must get it.\n" +
			"  echo  examples/chatroom_demo: Account.Echo before login, -rate calls/s per client.\n" +
			"  request  examples/chatroom_demo: the same as a request (Account.EchoRequest), whose\n" +
			"        answer is a MsgReply rather than a call back.\n" +
			"  move  examples/aoi_demo: -rate moves/s per client, and once a second a Say whose\n" +
			"        own copy times the round trip.\n" +
			"Requests are spread evenly over time. The last line is the summary:\n" +
			"  clients=N duration=Ds rpc/s=X p50=Yms p99=Zms errors=E lost=L\n" +
			"and bench exits 1 if anything errored or was lost. With DIR (or ./config.ini), the gate's\n" +
			"address defaults to the cluster's first gate (every gate with -all-gates), and the\n" +
			"servers' CPU is reported. With several gates, client i connects to gate i mod the number\n" +
			"of gates, so that a chat room's members are spread over all of them.",
		ArgsUsage: "[DIR]",
		Flags: []cli.Flag{
			configFlag,
			&cli.StringFlag{Name: "gate", Usage: "gate `ADDR`, or a ws:// URL, or several separated by commas (default: the first gate of DIR's config)"},
			&cli.BoolFlag{Name: "all-gates", Usage: "without -gate, spread the clients over every gate of DIR's config"},
			&cli.IntFlag{Name: "clients", Value: 100, Usage: "number of bot clients"},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "how long the load runs, after set-up"},
			&cli.StringFlag{Name: "scenario", Value: "chat", Usage: "chat|echo|request|move"},
			&cli.BoolFlag{Name: "kcp", Usage: "connect over KCP instead of TCP"},
			&cli.BoolFlag{Name: "ws", Usage: "connect over WebSocket (the gate's ws_addr) instead of TCP"},
			&cli.Float64Flag{Name: "rate", Value: 10, Usage: "requests per second per client (echo, move)"},
			&cli.IntFlag{Name: "parallel", Value: 16, Usage: "connections and logins set up at once"},
			&cli.DurationFlag{Name: "setup-timeout", Value: 5 * time.Minute, Usage: "how long connecting and logging in may take"},
			&cli.DurationFlag{Name: "idle", Value: 2 * time.Second, Usage: "how long the idle cluster's CPU is measured before the bots connect (0: not measured)"},
			&cli.BoolFlag{Name: "allow-remote", Usage: "allow a gate address that is not loopback"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			o := benchOptions{
				gate:        c.String("gate"),
				allGates:    c.Bool("all-gates"),
				clients:     c.Int("clients"),
				duration:    c.Duration("duration"),
				scenario:    c.String("scenario"),
				kcp:         c.Bool("kcp"),
				ws:          c.Bool("ws") || wsconn.IsURL(c.String("gate")),
				rate:        c.Float64("rate"),
				parallel:    c.Int("parallel"),
				setup:       c.Duration("setup-timeout"),
				idle:        c.Duration("idle"),
				allowRemote: c.Bool("allow-remote"),
			}
			if err := o.check(); err != nil {
				return err
			}
			if err := o.findCluster(c); err != nil {
				return err
			}
			return bench(c.Context, c.App.Writer, o)
		},
	}
}

func (o *benchOptions) check() error {
	switch {
	case o.clients < 1 || o.clients > benchMaxClients:
		return usagef("bench: -clients must be 1 to %d, not %d", benchMaxClients, o.clients)
	case o.duration <= 0 || o.duration > benchMaxDuration:
		return usagef("bench: -duration must be positive and at most %v, not %v", benchMaxDuration, o.duration)
	case o.rate <= 0 || o.rate > 1000:
		return usagef("bench: -rate must be in (0, 1000], not %v", o.rate)
	case o.parallel < 1 || o.parallel > 1024:
		return usagef("bench: -parallel must be 1 to 1024, not %d", o.parallel)
	case o.setup <= 0:
		return usagef("bench: -setup-timeout must be positive")
	case o.idle < 0 || o.idle > time.Minute:
		return usagef("bench: -idle must be 0 to 1m, not %v", o.idle)
	case o.kcp && o.ws:
		return usagef("bench: -kcp and -ws (or a ws:// -gate) exclude each other")
	case o.allGates && o.gate != "":
		return usagef("bench: -all-gates and -gate exclude each other")
	}
	if o.gate != "" {
		o.gates = strings.Split(o.gate, ",")
	}
	for _, g := range o.gates {
		switch {
		case g == "":
			return usagef("bench: -gate %q has an empty address", o.gate)
		case o.ws && !wsconn.IsURL(g):
			return usagef("bench: with -ws, -gate is a ws:// or wss:// URL, not %q", g)
		case !o.ws && wsconn.IsURL(g):
			return usagef("bench: -gate %q mixes WebSocket URLs and other addresses", o.gate)
		}
	}
	if _, ok := scenarios[o.scenario]; !ok {
		return usagef("bench: unknown -scenario %q (chat, echo, request or move)", o.scenario)
	}
	return nil
}

// findCluster loads DIR's cluster (DIR, or "." when it holds a config, or
// none) and, without -gate, takes the address of its first gate. Then it
// checks the address is loopback, unless -allow-remote.
func (o *benchOptions) findCluster(c *cli.Context) error {
	dir := ""
	switch args := c.Args(); {
	case args.Len() > 1:
		return usagef("bench: unexpected arguments %q after DIR", args.Tail())
	case args.Len() == 1:
		dir = args.First()
	case c.String(configFlag.Name) != "":
		dir = "."
	default:
		if _, err := os.Stat("config.ini"); err == nil {
			dir = "."
		}
	}
	if dir != "" {
		cl, err := loadCluster(dir, c.String(configFlag.Name))
		if err != nil {
			return err
		}
		o.cluster = cl
	}
	if len(o.gates) == 0 {
		if o.cluster == nil {
			return usagef("bench: give -gate ADDR, or a DIR whose config has a gate")
		}
		gates := o.cluster.ProcsOf(roleGate)
		if len(gates) == 0 {
			return fmt.Errorf("bench: %s configures no gate", o.cluster.ConfigPath)
		}
		if !o.allGates {
			gates = gates[:1]
		}
		gateAddr := o.cluster.gateAddr
		if o.ws {
			gateAddr = o.cluster.gateWSURL
		}
		for _, g := range gates {
			addr, err := gateAddr(g)
			if err != nil {
				return err
			}
			o.gates = append(o.gates, addr)
		}
		o.gate = strings.Join(o.gates, ",")
	}
	for _, g := range o.gates {
		if err := o.checkLoopback(g); err != nil {
			return err
		}
	}
	return nil
}

// checkLoopback refuses a gate address that is not loopback, unless
// -allow-remote.
func (o *benchOptions) checkLoopback(gate string) error {
	hostPort := gate
	if o.ws {
		u, err := url.Parse(gate)
		if err != nil {
			return usagef("bench: -gate %q: %v", gate, err)
		}
		hostPort = u.Host
	}
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return usagef("bench: -gate %q: %v", gate, err)
	}
	if ip := net.ParseIP(host); !o.allowRemote && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return usagef("bench: %s is not a loopback address; pass -allow-remote to load it anyway", gate)
	}
	return nil
}

// gateAddr returns the address of gate p: the one it reported when it
// started (port 0 in the config picks one), else the configured one. A
// wildcard host becomes 127.0.0.1.
func (c *cluster) gateAddr(p process) (string, error) {
	if addr := c.reported(p, func(r proc.ReadyInfo) string { return r.Addr }); addr != "" {
		return addr, nil
	}
	g, ok := c.Config.Gate(p.ID)
	if !ok {
		return "", fmt.Errorf("bench: %s is not in %s", p.Name, c.ConfigPath)
	}
	return dialAddr(p, "listen_addr", g.ListenAddr)
}

// gateWSURL returns the WebSocket URL of gate p: the one it reported when
// it started, else one made of the configured ws_addr.
func (c *cluster) gateWSURL(p process) (string, error) {
	if url := c.reported(p, func(r proc.ReadyInfo) string { return r.WSURL }); url != "" {
		return url, nil
	}
	g, ok := c.Config.Gate(p.ID)
	if !ok || g.WSAddr == "" {
		return "", fmt.Errorf("bench: %s serves no WebSocket clients (no ws_addr in %s)", p.Name, c.ConfigPath)
	}
	addr, err := dialAddr(p, "ws_addr", g.WSAddr)
	if err != nil {
		return "", err
	}
	return g.WSURL(addr), nil
}

// reported returns field of the READY record of p, if p runs and the
// record is its own; "" otherwise.
func (c *cluster) reported(p process, field func(proc.ReadyInfo) string) string {
	paths := c.Paths(p)
	if pid, running, err := proc.Probe(paths.PIDFile); err == nil && running {
		if r, err := readReadyFile(paths.ReadyFile); err == nil && r.PID == pid {
			return field(r)
		}
	}
	return ""
}

// dialAddr turns p's configured address (config key key) into one to
// dial: a wildcard host becomes 127.0.0.1; port 0 is known only to the
// running process.
func dialAddr(p process, key, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("bench: %s %s %q: %v", p.Name, key, addr, err)
	}
	if port == "0" {
		return "", fmt.Errorf("bench: %s %s has port 0 and %s is not running; give -gate", p.Name, key, p.Name)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// scenario is one kind of load. A bot is set up by setup (which may read
// the client's events until it is ready), then its events go to recv and
// the scheduler calls send for each of its requests.
//
// A bot's events are handled on its client's reader goroutine
// (client.Options.OnEvent): during set-up the handler hands each to
// setup's goroutine (bot.setupEv), afterwards it calls recv itself. A
// bot has no goroutine of its own, so that a run of thousands of bots
// costs the bench process what the clients do (client.OnEvent in
// docs/performance.md): recv must not block.
type scenario struct {
	// period is the time between two requests of one client.
	period func(o benchOptions) time.Duration
	// setup prepares client i; it reads events from b.setupEv (through
	// awaitEvent) until the bot is ready.
	setup func(r *benchRun, b *bot) error
	// send sends request seq of bot b.
	send func(r *benchRun, b *bot, seq int) error
	// recv handles one event of bot b after set-up, on the client's
	// reader goroutine: it must not block.
	recv func(r *benchRun, b *bot, ev client.Event)
}

var scenarios = map[string]scenario{
	"chat":    chatScenario,
	"echo":    echoScenario,
	"request": requestScenario,
	"move":    moveScenario,
}

// bot is one client of a run.
type bot struct {
	i    int
	c    *client.Client
	done chan struct{} // closed once the client has delivered Disconnected

	// setupEv hands the events to setup's goroutine (unbuffered: each is
	// taken, in order, or none) until setupDone is closed; from then on
	// the handler calls recv.
	setupEv   chan client.Event
	setupDone chan struct{}

	mu     sync.Mutex
	sentAt map[int]time.Time // requests awaiting their answer, by seq
	last   map[int]int       // chat: last seq seen per sender, to catch duplicates and reordering
	state  any               // the scenario's
}

// benchRun is the shared state of a run. Counters are atomic: bots'
// goroutines update them.
type benchRun struct {
	o     benchOptions
	out   io.Writer
	sc    scenario
	bots  []*bot
	start time.Time
	// accounts prefixes the names of this run's bot accounts (chat): each
	// run registers its own, since the demo refuses a taken name and
	// counts the refusal against the address, as a failed login.
	accounts string

	sent      atomic.Int64 // requests sent
	expected  atomic.Int64 // answers or deliveries due for them
	delivered atomic.Int64 // of those, arrived
	errs      atomic.Int64
	firstErr  atomic.Pointer[string]

	latMu sync.Mutex
	lat   []time.Duration // round trips

	// waiting: requests of the request scenario waiting for their
	// answers, each on a goroutine of its own; they end at the answer,
	// their timeout (benchDrain) or the client's close.
	waiting sync.WaitGroup
}

// fail counts an error and keeps the first one for the report.
func (r *benchRun) fail(format string, a ...any) {
	r.errs.Add(1)
	msg := fmt.Sprintf(format, a...)
	r.firstErr.CompareAndSwap(nil, &msg)
}

func (r *benchRun) roundTrip(d time.Duration) {
	r.latMu.Lock()
	if len(r.lat) < 50_000_000 {
		r.lat = append(r.lat, d)
	}
	r.latMu.Unlock()
}

// answered resolves request seq of b, if it is awaited, and returns when it
// was sent.
func (b *bot) answered(seq int) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.sentAt[seq]
	if ok {
		delete(b.sentAt, seq)
	}
	return t, ok
}

func (b *bot) sending(seq int) {
	b.mu.Lock()
	b.sentAt[seq] = time.Now()
	b.mu.Unlock()
}

// bench runs one load and prints the report.
func bench(ctx context.Context, out io.Writer, o benchOptions) error {
	r := &benchRun{o: o, out: out, sc: scenarios[o.scenario], accounts: fmt.Sprintf("b%x", rand.Uint32())}
	fmt.Fprintf(out, "bench scenario=%s gate=%s clients=%d duration=%v kcp=%v ws=%v\n", o.scenario, o.gate, o.clients, o.duration, o.kcp, o.ws)

	// The idle cluster's CPU, before any bot connects.
	pids := benchPIDs(o.cluster)
	var idleCPU map[string]time.Duration
	if len(pids) > 0 && o.idle > 0 {
		c0 := cpuOf(pids)
		t0 := time.Now()
		select {
		case <-time.After(o.idle):
		case <-ctx.Done():
			return ctx.Err()
		}
		idleCPU = perSecond(cpuOf(pids), c0, time.Since(t0))
	}

	// Requests still waiting (request scenario) end when closeAll, run
	// first, closes their clients.
	defer r.waiting.Wait()
	defer r.closeAll()
	if err := r.setUp(ctx); err != nil {
		return err
	}
	var cpu *cpuTracker
	if o.cluster != nil {
		cpu = trackCPU(o.cluster)
	}
	self0, st0 := procstat.SelfCPU(), r.stats()
	if err := r.load(ctx); err != nil {
		if cpu != nil {
			cpu.Stop()
		}
		return err
	}
	elapsed := time.Since(r.start)
	r.drain(ctx)
	if cpu != nil {
		cpu.Stop()
	}
	self1, st1 := procstat.SelfCPU(), r.stats()
	for _, b := range r.bots { // a disconnect is an error, and its answers are lost
		select {
		case <-b.done:
			r.fail("client %d disconnected", b.i)
		default:
		}
	}

	sent, expected, delivered := r.sent.Load(), r.expected.Load(), r.delivered.Load()
	lost := max(expected-delivered, 0)
	p50, p99 := r.percentiles()
	secs := elapsed.Seconds()
	fmt.Fprintf(out, "sent=%d expected=%d delivered=%d deliveries/s=%.0f bytes-in/s/client=%.0f bytes-out/s/client=%.0f bench-cpu=%.1f%%\n",
		sent, expected, delivered, float64(delivered)/secs,
		float64(st1.BytesIn-st0.BytesIn)/secs/float64(o.clients), float64(st1.BytesOut-st0.BytesOut)/secs/float64(o.clients),
		(self1-self0).Seconds()/secs*100)
	if len(pids) > 0 {
		var total time.Duration
		line := "servers"
		for _, name := range sortedKeys(pids) {
			d, running, restarts, ok := cpu.used(name)
			if !ok || !running { // not running at the start or the end of the load
				line += fmt.Sprintf(" %s=gone", name)
				continue
			}
			total += d
			line += fmt.Sprintf(" %s=%.1f%%", name, d.Seconds()/secs*100)
			if restarts > 0 { // a hot reload: the old process and the new one both count
				line += fmt.Sprintf("(restarted×%d)", restarts)
			}
		}
		var idle time.Duration
		for _, d := range idleCPU {
			idle += d
		}
		perDelivery := 0.0
		if delivered > 0 {
			perDelivery = float64(total.Nanoseconds()) / 1e3 / float64(delivered)
		}
		line += fmt.Sprintf(" cpu/delivery=%.2fµs", perDelivery)
		if idleCPU != nil {
			line += fmt.Sprintf(" idle-cluster-cpu=%.1f%%", idle.Seconds()*100)
		}
		fmt.Fprintln(out, line)
	}
	if m := r.firstErr.Load(); m != nil {
		fmt.Fprintf(out, "first error: %s\n", *m)
	}
	errs := r.errs.Load()
	fmt.Fprintf(out, "clients=%d duration=%.0fs rpc/s=%.0f p50=%.2fms p99=%.2fms errors=%d lost=%d\n",
		o.clients, secs, float64(sent)/secs, ms(p50), ms(p99), errs, lost)
	if errs > 0 || lost > 0 {
		return benchFailed{}
	}
	return nil
}

// benchFailed makes bench exit 1 after its summary, which already said why.
type benchFailed struct{}

func (benchFailed) Error() string { return "bench: errors or losses (see the summary)" }

// setUp connects every bot, at most o.parallel at a time, and sets it up.
func (r *benchRun) setUp(ctx context.Context) error {
	o := r.o
	r.bots = make([]*bot, o.clients)
	ctx, cancel := context.WithTimeout(ctx, o.setup)
	defer cancel()
	var next, ready atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, o.parallel)
	t0 := time.Now()
	for range o.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.clients {
					return
				}
				if err := r.setUpBot(i); err != nil {
					errc <- fmt.Errorf("bench: client %d: %w", i, err)
					cancel()
					return
				}
				ready.Add(1)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			select {
			case err := <-errc:
				return err
			default:
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("bench: %d of %d clients set up in %v: %w", ready.Load(), o.clients, o.setup, err)
			}
			fmt.Fprintf(r.out, "set up %d clients in %.1fs\n", o.clients, time.Since(t0).Seconds())
			return nil
		case <-tick.C:
			fmt.Fprintf(r.out, "setting up: %d/%d clients\n", ready.Load(), o.clients)
		}
	}
}

func (r *benchRun) setUpBot(i int) error {
	b := &bot{i: i, done: make(chan struct{}), sentAt: map[int]time.Time{},
		setupEv: make(chan client.Event), setupDone: make(chan struct{})}
	c, err := client.Dial(r.o.gates[i%len(r.o.gates)], client.Options{KCP: r.o.kcp, OnEvent: func(ev client.Event) {
		if _, last := ev.(client.Disconnected); last {
			// Counted after the run, once; set-up may be waiting for it.
			defer close(b.done)
		}
		select {
		case b.setupEv <- ev:
			return
		case <-b.setupDone:
		}
		if _, last := ev.(client.Disconnected); !last {
			r.sc.recv(r, b, ev)
		}
	}})
	if err != nil {
		return err
	}
	b.c = c
	r.bots[i] = b
	err = r.sc.setup(r, b)
	close(b.setupDone)
	if err != nil {
		c.Close() // the handler, no longer handing over, closes done
		return err
	}
	return nil
}

// awaitEvent reads b's events until match accepts one (nil) or says it
// failed (an error), for at most 30 s.
func awaitEvent(b *bot, what string, match func(client.Event) (bool, error)) error {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case ev := <-b.setupEv:
			if d, isD := ev.(client.Disconnected); isD {
				return fmt.Errorf("disconnected waiting for %s: %s", what, d.Reason)
			}
			if ok, err := match(ev); ok || err != nil {
				return err
			}
		case <-deadline.C:
			return fmt.Errorf("no %s after 30s", what)
		}
	}
}

// load sends every request on schedule: request k is bot k%n's number
// k/n, due at start + k·period/n, so the load is spread evenly. It stops
// after o.duration, or at ctx's end.
func (r *benchRun) load(ctx context.Context) error {
	n := len(r.bots)
	period := r.sc.period(r.o)
	gap := period / time.Duration(n)
	// Requests due within the duration, at least one per client.
	total := max(int64(float64(r.o.duration)/float64(period)*float64(n)), int64(n))
	if gap <= 0 {
		gap = 1
	}
	r.start = time.Now()
	progress := r.start.Add(time.Second)
	for k := int64(0); k < total; k++ {
		due := r.start.Add(time.Duration(k) * gap)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if now := time.Now(); now.After(progress) {
			// Checked before the line is printed: whatever happens after a
			// progress line (a server dies) meets at least a second of
			// requests, which are counted as lost if it cuts them off.
			if !r.anyConnected() {
				r.fail("every client is disconnected")
				return nil
			}
			fmt.Fprintf(r.out, "t=%.0fs sent=%d delivered=%d/%d errors=%d\n",
				now.Sub(r.start).Seconds(), r.sent.Load(), r.delivered.Load(), r.expected.Load(), r.errs.Load())
			progress = progress.Add(time.Second)
		}
		if time.Since(r.start) > r.o.duration+benchDrain {
			r.fail("fell behind: sent %d of %d requests in %v", k, total, time.Since(r.start))
			return nil
		}
		b := r.bots[k%int64(n)]
		if err := r.sc.send(r, b, int(k/int64(n))); err != nil {
			r.fail("client %d: %v", b.i, err)
		}
	}
	// The rates are per second of the whole duration: wait for its end.
	select {
	case <-time.After(time.Until(r.start.Add(r.o.duration))):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// drain waits until everything due has arrived, for at most benchDrain,
// or until no bot is left connected to receive it.
func (r *benchRun) drain(ctx context.Context) {
	deadline := time.Now().Add(benchDrain)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for r.delivered.Load() < r.expected.Load() && time.Now().Before(deadline) && r.anyConnected() {
		select {
		case <-t.C: // polling a counter that the bots' goroutines advance
		case <-ctx.Done():
			return
		}
	}
}

// anyConnected reports whether any bot is still connected.
func (r *benchRun) anyConnected() bool {
	for _, b := range r.bots {
		select {
		case <-b.done:
		default:
			return true
		}
	}
	return false
}

// closeAll closes every bot, all at once: a KCP client's Close waits for
// the gate's answer to its goodbye (a round trip), which one bot after
// another would pay in turn.
func (r *benchRun) closeAll() {
	var wg sync.WaitGroup
	for _, b := range r.bots {
		if b != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.c.Close()
				<-b.done
			}()
		}
	}
	wg.Wait()
}

func (r *benchRun) stats() client.Stats {
	var s client.Stats
	for _, b := range r.bots {
		t := b.c.Stats()
		s.FramesIn += t.FramesIn
		s.BytesIn += t.BytesIn
		s.FramesOut += t.FramesOut
		s.BytesOut += t.BytesOut
	}
	return s
}

func (r *benchRun) percentiles() (p50, p99 time.Duration) {
	r.latMu.Lock()
	defer r.latMu.Unlock()
	if len(r.lat) == 0 {
		return 0, 0
	}
	slices.Sort(r.lat)
	at := func(q float64) time.Duration { return r.lat[min(int(q*float64(len(r.lat))), len(r.lat)-1)] }
	return at(0.50), at(0.99)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchPIDs returns the PIDs of c's running processes, each checked by its
// PID file's lock (proc.Probe), so a stale file never names a stranger.
func benchPIDs(c *cluster) map[string]int {
	pids := map[string]int{}
	if c == nil {
		return pids
	}
	for _, p := range c.Procs {
		if pid, running, err := proc.Probe(c.Paths(p).PIDFile); err == nil && running {
			pids[p.Name] = pid
		}
	}
	return pids
}

func cpuOf(pids map[string]int) map[string]time.Duration {
	m := map[string]time.Duration{}
	for name, pid := range pids {
		if d, err := procstat.CPU(pid); err == nil {
			m[name] = d
		}
	}
	return m
}

func perSecond(after, before map[string]time.Duration, over time.Duration) map[string]time.Duration {
	m := map[string]time.Duration{}
	for k, v := range after {
		m[k] = time.Duration(float64(v-before[k]) / over.Seconds())
	}
	return m
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// token is a request's text: the sender and seq, padded to size bytes.
func token(sender, seq, size int) string {
	s := strconv.Itoa(sender) + " " + strconv.Itoa(seq) + " "
	for len(s) < size {
		s += "."
	}
	return s
}

// parseToken returns the sender and seq of a token.
func parseToken(s string) (sender, seq int, err error) {
	var a, b int
	if _, err := fmt.Sscanf(s, "%d %d ", &a, &b); err != nil {
		return 0, 0, errors.New("malformed token " + strconv.Quote(s))
	}
	return a, b, nil
}
