package rpc

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// EntityIDLength is the fixed length in bytes of an EntityID on the wire.
const EntityIDLength = 16

// EntityID identifies an entity across the cluster: 16 characters from the
// URL-safe base64 alphabet, from 96 random bits. The empty string stands for
// "no entity" and travels as 16 zero bytes.
type EntityID string

// GateID identifies a gate process (its config section number).
type GateID uint16

// GameID identifies a game process (its config section number).
type GameID uint16

// ClientID identifies a client connection within its gate.
type ClientID uint64

// NewEntityID returns a fresh random EntityID.
func NewEntityID() EntityID {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("rpc: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return EntityID(base64.RawURLEncoding.EncodeToString(b[:]))
}

// Valid reports whether id has the form NewEntityID produces.
func (id EntityID) Valid() bool {
	if len(id) != EntityIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// IsZero reports whether id is the empty "no entity" ID.
func (id EntityID) IsZero() bool { return id == "" }

// Shard maps id to one of n dispatchers (0 <= result < n).
func (id EntityID) Shard(n int) int { return ShardKey(string(id), n) }

// ShardKey maps key to one of n shards (0 <= result < n; 0 when n <= 1):
// FNV-1a of its bytes, modulo n. Every process computes the same, so it
// is part of the protocol: entity IDs to dispatchers, and a service's
// shard keys to its shards (entity.ServiceShard).
func ShardKey(key string, n int) int {
	if n <= 1 {
		return 0
	}
	// FNV-1a, inlined to avoid allocating a hash.Hash per packet.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Shard maps a gate to one of n dispatchers: every game→gate message for
// this gate goes through that dispatcher, which keeps them in order.
func (g GateID) Shard(n int) int {
	if n <= 1 {
		return 0
	}
	return int(g) % n
}

// Shard maps a client to one of n dispatchers (used for MsgClientConnected).
func (c ClientID) Shard(n int) int {
	if n <= 1 {
		return 0
	}
	return int(uint64(c) % uint64(n))
}

// ServiceEntityID returns the entity ID of shard shard of the service
// name (entity.Registry.RegisterService): the first 96 bits of the
// SHA-256 of the name and the shard number, in NewEntityID's form. Every
// process (and a client that knows a public service's name) computes the
// same ID, so a service shard is found without a lookup, and the
// dispatcher that owns the ID's shard is the one authority on whether it
// is live.
func ServiceEntityID(name string, shard int) EntityID {
	h := sha256.New()
	h.Write([]byte("goworld service\x00"))
	h.Write([]byte(name))
	h.Write([]byte{0, byte(shard >> 24), byte(shard >> 16), byte(shard >> 8), byte(shard)})
	sum := h.Sum(nil)
	return EntityID(base64.RawURLEncoding.EncodeToString(sum[:12]))
}
