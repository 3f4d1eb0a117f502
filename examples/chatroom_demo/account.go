package main

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"regexp"

	"github.com/goworld-engine/goworld"
	"github.com/vmihailenco/msgpack/v5"
)

// Account is the boot entity: one per connection until login succeeds.
type Account struct {
	goworld.Entity
	busy bool // a login is in progress
}

// DescribeEntityType exposes Login and Echo to the connection's own client.
func (a *Account) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.ExposeToClient("Login", "Echo")
}

// maxEcho is the longest payload Echo returns, in bytes.
const maxEcho = 1024

// Echo sends payload back to the client as OnEcho(payload): one round trip
// through gate, dispatcher and game with no other work, which is what
// goworldctl bench -scenario echo measures.
func (a *Account) Echo(payload string) {
	if len(payload) > maxEcho {
		a.CallClient("OnError", "an echo payload is at most 1024 bytes")
		return
	}
	a.CallClient("OnEcho", payload)
}

// accountRecord is what the KV store holds per account name.
type accountRecord struct {
	Avatar goworld.EntityID `msgpack:"avatar"`
	Salt   []byte           `msgpack:"salt"`
	Hash   []byte           `msgpack:"hash"`
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

const pbkdf2Iterations = 100_000

func hashPassword(password string, salt []byte) []byte {
	h, err := pbkdf2.Key(sha256.New, password, salt, pbkdf2Iterations, 32)
	if err != nil {
		panic(err) // only for invalid parameters, which these are not
	}
	return h
}

// Login registers the account if the name is free, or checks the password
// if it exists, then gives the client to the account's Avatar.
func (a *Account) Login(user, password string) {
	if a.busy {
		return
	}
	if !validName.MatchString(user) {
		a.CallClient("OnLoginFailed", "a user name is 1 to 32 letters, digits, '_', '.' or '-'")
		return
	}
	if password == "" || len(password) > 128 {
		a.CallClient("OnLoginFailed", "a password is 1 to 128 bytes")
		return
	}
	a.busy = true
	key := "account/" + user
	a.World().KVGet(key, func(val []byte, err error) {
		if a.IsDestroyed() {
			return
		}
		switch {
		case errors.Is(err, goworld.ErrNotFound):
			a.register(key, user, password)
		case err != nil:
			a.fail("the account store is unavailable, try again")
		default:
			a.check(val, password)
		}
	})
}

func (a *Account) register(key, user, password string) {
	rec := accountRecord{Avatar: goworld.NewEntityID(), Salt: make([]byte, 16)}
	rand.Read(rec.Salt)
	// Hashing takes milliseconds by design: do it off the game loop.
	a.World().Go(func() { rec.Hash = hashPassword(password, rec.Salt) }, func() {
		if !a.IsDestroyed() {
			a.store(key, user, password, rec)
		}
	})
}

func (a *Account) store(key, user, password string, rec accountRecord) {
	data, err := msgpack.Marshal(&rec)
	if err != nil {
		a.fail("internal error")
		return
	}
	a.World().KVPutIfAbsent(key, data, func(stored bool, existing []byte, err error) {
		if a.IsDestroyed() {
			return
		}
		switch {
		case err != nil:
			a.fail("the account store is unavailable, try again")
		case !stored:
			a.check(existing, password) // registered concurrently by someone else
		default:
			if err := a.World().CreateEntitySomewhereWithID("Avatar", rec.Avatar, map[string]any{"name": user}); err != nil {
				a.fail("internal error")
				return
			}
			a.GiveClientTo(rec.Avatar)
		}
	})
}

func (a *Account) check(data []byte, password string) {
	var rec accountRecord
	if err := msgpack.Unmarshal(data, &rec); err != nil || !rec.Avatar.Valid() {
		a.fail("this account's record is damaged")
		return
	}
	var ok bool
	a.World().Go(func() { ok = subtle.ConstantTimeCompare(hashPassword(password, rec.Salt), rec.Hash) == 1 }, func() {
		switch {
		case a.IsDestroyed():
		case !ok:
			a.fail("wrong password")
		case a.World().LoadEntitySomewhere("Avatar", rec.Avatar) != nil:
			a.fail("internal error")
		default:
			a.GiveClientTo(rec.Avatar)
		}
	})
}

func (a *Account) fail(reason string) {
	a.busy = false
	a.CallClient("OnLoginFailed", reason)
}

// OnClientDisconnected destroys the account: after login its client went
// to the Avatar; before login the connection is gone.
func (a *Account) OnClientDisconnected() { a.Destroy() }
