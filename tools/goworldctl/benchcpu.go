package main

import (
	"sync"
	"time"

	"github.com/goworld-engine/goworld/internal/proc"
	"github.com/goworld-engine/goworld/internal/procstat"
)

// cpuTracker measures the CPU of a cluster's processes over a bench run,
// by name, across restarts: a game reloaded during the run is a new
// process (a new PID) under the same name, and both count. It samples
// every cpuSampleEvery; the CPU an old process used between its last
// sample and its exit is not counted (at most that interval's worth).
type cpuTracker struct {
	c *cluster

	mu    sync.Mutex
	procs map[string]*cpuProc

	stop chan struct{}
	done chan struct{}
}

// cpuSampleEvery is how often a cpuTracker samples.
const cpuSampleEvery = 200 * time.Millisecond

type cpuProc struct {
	pid        int
	base, last time.Duration // pid's CPU when tracking began (0 for one started since) and at the last sample
	banked     time.Duration // what earlier processes of this name used
	restarts   int           // PID changes seen
	running    bool          // at the last sample
}

// trackCPU starts a tracker of c's running processes, which samples until
// Stop.
func trackCPU(c *cluster) *cpuTracker {
	t := &cpuTracker{c: c, procs: map[string]*cpuProc{}, stop: make(chan struct{}), done: make(chan struct{})}
	for name, pid := range benchPIDs(c) {
		p := &cpuProc{pid: pid, running: true}
		if d, err := procstat.CPU(pid); err == nil {
			p.base, p.last = d, d
		}
		t.procs[name] = p
	}
	go t.run()
	return t
}

func (t *cpuTracker) run() {
	defer close(t.done)
	tick := time.NewTicker(cpuSampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.sample()
		}
	}
}

// sample reads each process's PID (checked by its PID file's lock) and
// CPU.
func (t *cpuTracker) sample() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, pr := range t.c.Procs {
		p := t.procs[pr.Name]
		if p == nil {
			continue // not running when the run began: not measured
		}
		pid, running, err := proc.Probe(t.c.Paths(pr).PIDFile)
		if err != nil || !running {
			p.running = false
			continue
		}
		if pid != p.pid {
			p.banked += p.last - p.base
			p.pid, p.base, p.last = pid, 0, 0
			p.restarts++
		}
		if d, err := procstat.CPU(pid); err == nil {
			p.last, p.running = d, true
		}
	}
}

// Stop takes a last sample and stops the tracker.
func (t *cpuTracker) Stop() {
	close(t.stop)
	<-t.done
	t.sample()
}

// used returns the CPU the processes of name used since tracking began,
// whether one runs now, and how many times it was restarted (reloaded)
// meanwhile. ok is false for a name that was not running at the start.
func (t *cpuTracker) used(name string) (d time.Duration, running bool, restarts int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.procs[name]
	if p == nil {
		return 0, false, 0, false
	}
	return p.banked + p.last - p.base, p.running, p.restarts, true
}
