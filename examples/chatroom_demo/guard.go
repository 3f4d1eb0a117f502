package main

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/goworld-engine/goworld"
)

// What stands between password guessers and everyone else's logins.
//
// Hashing a password (PBKDF2, 100,000 rounds) costs tens of milliseconds
// of CPU by design, so it is what guessers spend and what they could make
// everyone else wait for. Three things bound it, per game:
//
//   - A failed login (a wrong password, or a name that does not exist:
//     the same thing, to a guesser) counts against the client's address
//     and against the name. After freeFailures failures either is locked
//     for firstLock, and every further failure doubles the lock (up to
//     maxAddrLock, maxNameLock). A locked address or name is refused at
//     once ("too many failed logins; try again in …"), before any hashing
//     or storage. A login that succeeds clears its name's count, not its
//     address's. A registration of a taken name counts as a failure of
//     the address, so that names cannot be listed through Register either.
//   - Hashes are admitted, not queued without end: at most hashSlots
//     admitted at a time (running on the game's two World.Go workers or
//     waiting for one), of which hashSlotsPerAddr from one address. Past
//     that, "the server is busy; try again in a moment". A guesser's
//     burst therefore costs at most hashSlotsPerAddr hashes before its
//     failures lock it, and a login from elsewhere waits behind at most
//     hashSlots others.
//   - Each connection runs one login or registration at a time.
//
// The state is the game's own (in memory: a restart or a hot reload
// forgets it), so with several games each throttles for itself. The
// tables are bounded (maxEntries each); entries without a failure for
// forgetAfter are forgotten. IPv6 addresses count by /64, which one
// user typically holds whole.
const (
	freeFailures     = 5
	firstLock        = 15 * time.Second
	maxAddrLock      = 10 * time.Minute
	maxNameLock      = 2 * time.Minute
	forgetAfter      = 30 * time.Minute
	maxEntries       = 10_000
	hashSlots        = 64
	hashSlotsPerAddr = 8
)

// The answers a guard gives.
const (
	msgWrong = "wrong name or password"
	msgBusy  = "the server is busy; try again in a moment"
)

func msgThrottled(d time.Duration) string {
	return fmt.Sprintf("too many failed logins; try again in %v", d.Round(time.Second))
}

// loginGuard is one game's throttle state. Only that game's loop uses it.
type loginGuard struct {
	addrs, names failTable
	pending      int            // hashes admitted and not finished
	perAddr      map[string]int // of which per address
	hashes       int            // hashes admitted in all (tests count them)
}

// guards holds each game world's loginGuard: one per game process in
// production; in tests several games share a process, each with its own.
// An entry goes when its world is garbage.
var guards = struct {
	sync.Mutex
	m map[weak.Pointer[goworld.World]]*loginGuard
}{m: map[weak.Pointer[goworld.World]]*loginGuard{}}

// guardOf returns w's loginGuard.
func guardOf(w *goworld.World) *loginGuard {
	wp := weak.Make(w)
	guards.Lock()
	defer guards.Unlock()
	g := guards.m[wp]
	if g == nil {
		g = &loginGuard{addrs: failTable{max: maxAddrLock}, names: failTable{max: maxNameLock}, perAddr: map[string]int{}}
		guards.m[wp] = g
		runtime.AddCleanup(w, func(wp weak.Pointer[goworld.World]) {
			guards.Lock()
			delete(guards.m, wp)
			guards.Unlock()
		}, wp)
	}
	return g
}

// addrKey is what an address counts as: its IP (IPv4), or its /64
// (IPv6); "" if the gate did not say, which only per-name limits cover.
func addrKey(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return ""
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// locked returns how long addr or name (either may be "") stays locked.
func (g *loginGuard) locked(addr, name string, now time.Time) time.Duration {
	return max(g.addrs.locked(addr, now), g.names.locked(name, now))
}

// admit reserves a hash for addr; false means the server is busy.
func (g *loginGuard) admit(addr string) bool {
	if g.pending >= hashSlots || (addr != "" && g.perAddr[addr] >= hashSlotsPerAddr) {
		return false
	}
	g.pending++
	g.hashes++
	if addr != "" {
		g.perAddr[addr]++
	}
	return true
}

// release returns what admit reserved.
func (g *loginGuard) release(addr string) {
	g.pending--
	if addr != "" {
		if g.perAddr[addr]--; g.perAddr[addr] <= 0 {
			delete(g.perAddr, addr)
		}
	}
}

// failTable counts failures by key and locks keys that fail too often.
type failTable struct {
	max time.Duration // the longest lock
	m   map[string]*failRecord
}

type failRecord struct {
	n     int       // failures counted
	last  time.Time // the last one
	until time.Time // locked until
}

// locked returns how long key stays locked (0: not locked; "" never is).
func (t *failTable) locked(key string, now time.Time) time.Duration {
	if r := t.m[key]; key != "" && r != nil && now.Before(r.until) {
		return r.until.Sub(now)
	}
	return 0
}

// fail counts a failure of key (nothing for ""); from the freeFailures-th
// on, key is locked, for twice as long each time.
func (t *failTable) fail(key string, now time.Time) {
	if key == "" {
		return
	}
	r := t.m[key]
	if r != nil && now.Sub(r.last) > forgetAfter && !now.Before(r.until) {
		r = nil // long quiet: a fresh start
	}
	if r == nil {
		if t.m == nil {
			t.m = map[string]*failRecord{}
		}
		t.makeRoom(now)
		r = &failRecord{}
		t.m[key] = r
	}
	r.n++
	r.last = now
	if r.n >= freeFailures {
		d := t.max
		if shift := r.n - freeFailures; shift < 20 {
			d = min(firstLock<<shift, t.max)
		}
		r.until = now.Add(d)
	}
}

// forget clears key's failures (a login that succeeded).
func (t *failTable) forget(key string) { delete(t.m, key) }

// makeRoom keeps the table under maxEntries: it drops what has been quiet
// for forgetAfter and is not locked, and if that is not enough, the entry
// whose last failure is the oldest.
func (t *failTable) makeRoom(now time.Time) {
	if len(t.m) < maxEntries {
		return
	}
	var oldest string
	for k, r := range t.m {
		if now.Sub(r.last) > forgetAfter && !now.Before(r.until) {
			delete(t.m, k)
		} else if oldest == "" || r.last.Before(t.m[oldest].last) {
			oldest = k
		}
	}
	if len(t.m) >= maxEntries {
		delete(t.m, oldest)
	}
}
