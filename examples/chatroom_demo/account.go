package main

import (
	"bytes"
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
	busy bool // a login or registration is hashing its password
}

// DescribeEntityType exposes Login, Register and Echo to the connection's
// own client. "login" (server-only) names the account and avatar while
// the avatar loads: an attribute, so that it survives a hot reload, as
// the load's callback does.
func (a *Account) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.DefineAttr("login", 0)
	desc.ExposeToClient("Login", "Register", "Echo", "EchoRequest")
	desc.DefineClientMethod("OnLoginFailed", "").Names("reason")
	desc.DefineClientMethod("OnEcho", "").Names("payload")
	desc.DefineClientMethod("OnError", "").Names("message")
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

// EchoRequest answers payload as a request (the client's Request gets
// it back): what goworldctl bench -scenario request measures, next to
// Echo's call back.
func (a *Account) EchoRequest(payload string) (string, error) {
	if len(payload) > maxEcho {
		return "", goworld.NewError(goworld.CodeUser, "an echo payload is at most 1024 bytes")
	}
	return payload, nil
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

// decodeRecord decodes a stored account record with a decoder of its
// own: msgpack.Unmarshal's pooled decoder keeps the buffer a damaged
// record's too-long string grew (see docs/architecture.md, wire protocol).
func decodeRecord(data []byte, rec *accountRecord) error {
	return msgpack.NewDecoder(bytes.NewReader(data)).Decode(rec)
}

// noSuchAccount is the salt and hash a login of a name that does not
// exist checks the password against: the same work as for one that
// exists, and never a match.
var noSuchAccount = accountRecord{Salt: make([]byte, 16), Hash: make([]byte, 32)}

// Answers to the client (OnLoginFailed).
const (
	msgStoreDown  = "the account store is unavailable; try again"
	msgTaken      = "that name is taken"
	msgBadName    = "a user name is 1 to 32 letters, digits, '_', '.' or '-'"
	msgBadPass    = "a password is 1 to 128 bytes"
	msgInternal   = "internal error"
	msgDamaged    = "this account's record is damaged; ask an operator"
	msgAvatarGone = "your avatar's saved data is damaged and cannot be loaded; ask an operator"
)

// start checks a login or registration before any work: the client is
// not busy already, the name and password are well-formed, the address
// (and, for a login, the name) is not locked for failed logins, and the
// server has room for one more password hash. It returns the address
// key, the guard and true, having admitted a hash; or false, having
// answered.
func (a *Account) start(user, password string, checkName bool) (string, *loginGuard, bool) {
	if a.busy || a.Attrs.GetMap("login") != nil {
		return "", nil, false
	}
	if !validName.MatchString(user) {
		a.CallClient("OnLoginFailed", msgBadName)
		return "", nil, false
	}
	if password == "" || len(password) > 128 {
		a.CallClient("OnLoginFailed", msgBadPass)
		return "", nil, false
	}
	g, addr := guardOf(a.World()), addrKey(a.ClientAddr())
	name := ""
	if checkName {
		name = user
	}
	if d := g.locked(addr, name, a.World().Now()); d > 0 {
		a.CallClient("OnLoginFailed", msgThrottled(d))
		return "", nil, false
	}
	if !g.admit(addr) {
		a.CallClient("OnLoginFailed", msgBusy)
		return "", nil, false
	}
	a.busy = true
	return addr, g, true
}

// Login logs in to an existing account: it checks the password, then
// gives the client to the account's Avatar. A name that does not exist
// and a wrong password get the same answer, after the same work (one
// password hash), so that logins tell nothing about which names exist.
func (a *Account) Login(user, password string) {
	addr, g, ok := a.start(user, password, true)
	if !ok {
		return
	}
	a.World().KVGet("account/"+user, func(val []byte, err error) {
		var rec accountRecord
		switch {
		case errors.Is(err, goworld.ErrNotFound):
			rec = noSuchAccount
		case err != nil:
			g.release(addr)
			a.fail(msgStoreDown)
			return
		case decodeRecord(val, &rec) != nil || !rec.Avatar.Valid():
			g.release(addr)
			a.fail(msgDamaged)
			return
		}
		var match bool
		a.World().Go(func() {
			match = subtle.ConstantTimeCompare(hashPassword(password, rec.Salt), rec.Hash) == 1 && rec.Avatar != ""
		}, func() {
			// Counted even if the client is gone: a guesser that hangs
			// up early must not escape its failures.
			g.release(addr)
			now := a.World().Now()
			if match {
				g.names.forget(user)
			} else {
				g.addrs.fail(addr, now)
				g.names.fail(user, now)
			}
			switch {
			case a.IsDestroyed():
			case !match:
				a.fail(msgWrong)
			default:
				a.loadAvatar(user, rec.Avatar)
			}
		})
	})
}

// Register creates an account and logs in to it. A name that is taken
// is refused, and counts against the client's address as a failed login
// does (otherwise Register would list the names that exist).
func (a *Account) Register(user, password string) {
	addr, g, ok := a.start(user, password, false)
	if !ok {
		return
	}
	key := "account/" + user
	taken := func() {
		g.addrs.fail(addr, a.World().Now())
		a.fail(msgTaken)
	}
	a.World().KVGet(key, func(_ []byte, err error) {
		switch {
		case err == nil:
			g.release(addr)
			taken()
			return
		case !errors.Is(err, goworld.ErrNotFound):
			g.release(addr)
			a.fail(msgStoreDown)
			return
		}
		rec := accountRecord{Avatar: goworld.NewEntityID(), Salt: make([]byte, 16)}
		rand.Read(rec.Salt)
		a.World().Go(func() { rec.Hash = hashPassword(password, rec.Salt) }, func() {
			g.release(addr)
			if a.IsDestroyed() {
				return
			}
			data, err := msgpack.Marshal(&rec)
			if err != nil {
				a.fail(msgInternal)
				return
			}
			// The record first, then the avatar (saved when created): a
			// crash between the two leaves an account whose avatar is
			// missing, which the next login repairs (OnAvatarLoaded).
			a.World().KVPutIfAbsent(key, data, func(stored bool, _ []byte, err error) {
				switch {
				case a.IsDestroyed():
				case err != nil:
					a.fail(msgStoreDown)
				case !stored:
					taken() // registered by someone else meanwhile
				default:
					if err := a.World().CreateEntitySomewhereWithID("Avatar", rec.Avatar, map[string]any{"name": user}); err != nil {
						a.fail(msgInternal)
						return
					}
					a.GiveClientTo(rec.Avatar)
				}
			})
		})
	})
}

// loadAvatar makes the account's avatar live; OnAvatarLoaded follows.
func (a *Account) loadAvatar(user string, avatar goworld.EntityID) {
	a.Attrs.Set("login", map[string]any{"user": user, "avatar": string(avatar)})
	if err := a.LoadEntitySomewhere("Avatar", avatar, "OnAvatarLoaded"); err != nil {
		a.World().Logger().WithError(err).Errorf("login of %q: cannot load avatar %s", user, avatar)
		a.fail(msgInternal)
	}
}

// OnAvatarLoaded is the avatar's load callback: the client goes to the
// avatar once it is live. An avatar that storage does not have is one
// whose registration was cut short (the process died between writing the
// account record and the avatar's first save): it is created afresh, so
// that no account is ever left that cannot log in.
func (a *Account) OnAvatarLoaded(id goworld.EntityID, err error) {
	login := a.Attrs.GetMap("login")
	if login == nil || login.GetString("avatar") != string(id) {
		return // not the load this account waits for
	}
	user := login.GetString("user")
	log := a.World().Logger().WithField("user", user).WithField("avatar", string(id))
	switch {
	case err == nil:
		a.GiveClientTo(id)
	case errors.Is(err, goworld.ErrNotFound):
		log.Warn("login: the account's avatar is missing from storage (a registration cut short); creating it afresh")
		if err := a.World().CreateEntitySomewhereWithID("Avatar", id, map[string]any{"name": user}); err != nil {
			log.WithError(err).Error("login: cannot create the avatar")
			a.fail(msgInternal)
			return
		}
		a.GiveClientTo(id)
	case errors.Is(err, goworld.ErrEntityDamaged):
		log.WithError(err).Error("login: the account's avatar cannot be loaded")
		a.fail(msgAvatarGone)
	default:
		log.WithError(err).Error("login: the account's avatar cannot be loaded")
		a.fail(msgStoreDown)
	}
}

func (a *Account) fail(reason string) {
	a.busy = false
	a.Attrs.Delete("login")
	a.CallClient("OnLoginFailed", reason)
}

// OnClientDisconnected destroys the account: after login its client went
// to the Avatar; before login the connection is gone.
func (a *Account) OnClientDisconnected() { a.Destroy() }
