package rpc

import (
	"encoding/base64"
	"hash/fnv"
	"math"
	"strings"
	"testing"
)

func TestEntityIDValid(t *testing.T) {
	tests := []struct {
		id   EntityID
		want bool
	}{
		{"", false},
		{"AAAAAAAAAAAAAAAA", true},
		{"zzzzzzzzzzzzzzzz", true},
		{"0123456789-_abcD", true},
		{"AAAAAAAAAAAAAAA", false},   // 15
		{"AAAAAAAAAAAAAAAAA", false}, // 17
		{"AAAAAAAAAAAAAAA=", false},
		{"AAAAAAAAAAAAAAA+", false},
		{"AAAAAAAAAAAAAAA/", false},
		{"AAAAAAAAAAAAAAA ", false},
		{"AAAAAAAAAAAAAAA.", false},
		{"\x00AAAAAAAAAAAAAAA", false},
		{EntityID(strings.Repeat("\x00", 16)), false},
		{"AAAAAAAAAAAAAAé", false}, // 16 bytes, non-ASCII
		{"AAAAAAAAAAAAAA`", false},
		{"AAAAAAAAAAAAAAA[", false},
		{"AAAAAAAAAAAAAAA{", false},
		{"AAAAAAAAAAAAAAA@", false},
		{"AAAAAAAAAAAAAAA:", false},
	}
	for _, tt := range tests {
		if got := tt.id.Valid(); got != tt.want {
			t.Errorf("%q.Valid() = %v, want %v", tt.id, got, tt.want)
		}
	}
	if !EntityID("").IsZero() || EntityID("AAAAAAAAAAAAAAAA").IsZero() {
		t.Error("IsZero")
	}
}

func TestNewEntityID(t *testing.T) {
	const n = 20000
	seen := make(map[EntityID]bool, n)
	for i := 0; i < n; i++ {
		id := NewEntityID()
		if len(id) != EntityIDLength || !id.Valid() || id.IsZero() {
			t.Fatalf("NewEntityID() = %q is not valid", id)
		}
		if seen[id] {
			t.Fatalf("duplicate ID %q after %d", id, i)
		}
		seen[id] = true
		raw, err := base64.RawURLEncoding.DecodeString(string(id))
		if err != nil || len(raw) != 12 {
			t.Fatalf("%q is not 96 bits of raw URL base64: %v", id, err)
		}
	}
}

func fnv1a(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func TestEntityIDShard(t *testing.T) {
	// Every process must map an ID to the same dispatcher, now and after
	// upgrades: the shard is FNV-1a of the ID's bytes modulo n.
	golden := []struct {
		id    EntityID
		n     int
		shard int
	}{
		{"AAAAAAAAAAAAAAAA", 7, int(fnv1a("AAAAAAAAAAAAAAAA") % 7)},
		{"", 3, int(fnv1a("") % 3)},
	}
	for _, g := range golden {
		if got := g.id.Shard(g.n); got != g.shard {
			t.Errorf("%q.Shard(%d) = %d, want %d", g.id, g.n, got, g.shard)
		}
	}
	if got, want := EntityID("AAAAAAAAAAAAAAAA").Shard(1<<20), int(fnv1a("AAAAAAAAAAAAAAAA")%(1<<20)); got != want {
		t.Errorf("large n: %d, want %d", got, want)
	}

	ids := make([]EntityID, 4000)
	for i := range ids {
		ids[i] = NewEntityID()
	}
	for _, n := range []int{-5, 0, 1} {
		for _, id := range ids[:10] {
			if s := id.Shard(n); s != 0 {
				t.Fatalf("%q.Shard(%d) = %d, want 0", id, n, s)
			}
		}
	}
	for n := 2; n <= 17; n++ {
		counts := make([]int, n)
		for _, id := range ids {
			s := id.Shard(n)
			if s < 0 || s >= n {
				t.Fatalf("%q.Shard(%d) = %d out of range", id, n, s)
			}
			if s != id.Shard(n) || s != int(fnv1a(string(id))%uint32(n)) {
				t.Fatalf("%q.Shard(%d) is not stable FNV-1a", id, n)
			}
			counts[s]++
		}
		// Crude uniformity check: every shard gets at least half its share.
		for s, c := range counts {
			if c < len(ids)/n/2 {
				t.Errorf("Shard(%d): shard %d got %d of %d IDs", n, s, c, len(ids))
			}
		}
	}
}

func TestGateAndClientShard(t *testing.T) {
	for _, n := range []int{-1, 0, 1} {
		if GateID(12345).Shard(n) != 0 || ClientID(math.MaxUint64).Shard(n) != 0 {
			t.Fatalf("Shard(%d) != 0", n)
		}
	}
	for n := 2; n <= 9; n++ {
		for _, g := range []GateID{0, 1, 2, 100, math.MaxUint16} {
			if got := g.Shard(n); got != int(g)%n {
				t.Errorf("GateID(%d).Shard(%d) = %d", g, n, got)
			}
		}
		for _, c := range []ClientID{0, 1, 77, 1 << 63, math.MaxUint64, math.MaxUint64 - 3} {
			got := c.Shard(n)
			if got < 0 || got >= n || got != int(uint64(c)%uint64(n)) {
				t.Errorf("ClientID(%d).Shard(%d) = %d", c, n, got)
			}
		}
	}
}
