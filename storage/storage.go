package storage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goworld-engine/goworld/internal/clip"
)

var (
	// ErrNotFound is returned when an entity or key does not exist.
	// Implementations may wrap it; test with errors.Is.
	ErrNotFound = errors.New("storage: not found")

	// ErrClosed is returned by every method of a Backend after Close has been
	// called, including a second call to Close.
	ErrClosed = errors.New("storage: closed")

	// ErrInvalidArgument is wrapped by the errors returned for invalid input:
	// empty entity type names, entity IDs or keys, and names or values larger
	// than the backend supports. Test with errors.Is.
	ErrInvalidArgument = errors.New("storage: invalid argument")

	// ErrLocked is wrapped by the error [OpenBolt] returns when the database
	// file is locked by another process (or by another open handle in this
	// process) for longer than [BoltOptions.Timeout].
	ErrLocked = errors.New("storage: database file is locked")

	// ErrCorrupt is wrapped by the errors for a damaged database: a file
	// that [OpenBolt] refuses (empty, truncated, not a database) and a
	// failure inside the database library while reading or writing it.
	// The message names the file and says what to do.
	ErrCorrupt = errors.New("storage: database file is damaged")

	// ErrFenced is wrapped by the *FenceError SaveEntities returns when it
	// refused records because the entity has been claimed since by a newer
	// copy (see [EntityRecord.Epoch]). Test with errors.Is.
	ErrFenced = errors.New("storage: entity was claimed by a newer copy")

	// ErrMailboxFull is wrapped by the error AppendMessage returns when
	// the entity's mailbox already holds as many messages as the limit
	// allows. Test with errors.Is.
	ErrMailboxFull = errors.New("storage: mailbox full")
)

// Bounds of MailboxStore's arguments: a larger message or limit is an
// invalid argument.
const (
	// MaxMailboxMessage is the largest message AppendMessage accepts.
	MaxMailboxMessage = 1 << 20
	// MaxMailboxLimit is the largest limit AppendMessage accepts.
	MaxMailboxLimit = 1 << 16
)

// EntityRecord is one persistent entity's saved state.
//
// Type is the entity type name and ID its entity ID; both must be non-empty
// and may hold arbitrary bytes. Data is opaque to the store (the engine
// stores msgpack); a nil Data is stored as an empty value.
//
// Epoch is the fencing token of the copy of the entity that makes the save
// (see [EntityStore]): the epoch ClaimEntity returned when that copy was
// loaded, or the one its first save claimed. Zero claims a new epoch: the
// record is stored whatever epoch the store holds, the stored epoch goes
// up by one, and SaveEntities sets Epoch to it.
type EntityRecord struct {
	Type  string
	ID    string
	Data  []byte
	Epoch uint64
}

// MaxEpoch is the largest EntityRecord.Epoch a backend accepts (2^53-1,
// exact in Lua's numbers); a larger one is an invalid argument. Epochs
// grow by one per load, so no entity reaches it.
const MaxEpoch = 1<<53 - 1

// FencedRecord is a record SaveEntities refused: Epoch is the record's,
// Current the newer one the store holds.
type FencedRecord struct {
	Type    string
	ID      string
	Epoch   uint64
	Current uint64
}

// FenceError is the error of a SaveEntities that refused some records
// because their entity was claimed by a newer copy since (a load or a
// create elsewhere): those records were not stored, every other record of
// the batch was. It wraps [ErrFenced].
type FenceError struct {
	Fenced []FencedRecord
}

// maxFencedNamed bounds the records a FenceError's message names.
const maxFencedNamed = 5

// Error names the first few fenced records (type and ID clipped).
func (e *FenceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage: %d record(s) refused, their entity claimed by a newer copy:", len(e.Fenced))
	for i, f := range e.Fenced {
		if i == maxFencedNamed {
			fmt.Fprintf(&b, " and %d more", len(e.Fenced)-i)
			break
		}
		fmt.Fprintf(&b, " %s<%s> (epoch %d, stored %d)", clip.Name(f.Type), clip.Name(f.ID), f.Epoch, f.Current)
	}
	return b.String()
}

// Unwrap returns ErrFenced.
func (e *FenceError) Unwrap() error { return ErrFenced }

// EntityStore saves and loads persistent entities, addressed by
// (type name, ID).
//
// Implementations are safe for concurrent use by multiple goroutines. They do
// not retain the byte slices passed to them, and the slices they return are
// owned by the caller.
type EntityStore interface {
	// SaveEntities stores every record of recs, overwriting existing
	// entities, unless it is fenced: a record whose Epoch is not zero and
	// is older than the epoch the store holds for the entity is refused.
	// When records were refused and nothing else failed, it returns a
	// *FenceError (wrapping ErrFenced) naming them, and every other record
	// is stored. Otherwise it is atomic: when it returns another error,
	// none of the records was stored (a Redis Cluster writes each entity
	// atomically; see [Redis]). A record with Epoch zero claims a new
	// epoch: SaveEntities sets its Epoch to it when it was stored. Records
	// are applied in order, so if a batch holds the same (Type, ID) more
	// than once, the last one wins. An empty batch is a no-op. The engine
	// calls it once per save tick, so implementations commit a batch as
	// one transaction.
	//
	// Saving a record again with the epoch it was stored with succeeds,
	// so a batch retried after a lost reply does not fence itself.
	SaveEntities(recs []EntityRecord) error

	// ClaimEntity loads one entity as LoadEntity does and, atomically with
	// the read, claims a new epoch for the copy the caller makes of it: the
	// store's epoch for the entity goes up by one and is returned. From
	// then on, saves carrying an older epoch are refused. An entity that
	// does not exist is not claimed (an error wrapping ErrNotFound).
	ClaimEntity(typeName, id string) (data []byte, epoch uint64, err error)

	// LoadEntity returns the data of one entity, or an error wrapping
	// ErrNotFound if it does not exist. It claims nothing: it is for
	// reading (tools, tests), not for making a live copy.
	LoadEntity(typeName, id string) ([]byte, error)

	// DeleteEntity removes one entity, and its mailbox (see
	// [MailboxStore]). Deleting an entity that does not exist is not an
	// error. The entity's epoch stays, one higher, so a
	// copy still live somewhere cannot save it back into existence.
	DeleteEntity(typeName, id string) error

	// ListEntities returns the IDs of all entities of typeName, sorted in
	// byte order (the order of sort.Strings). An unknown type yields an empty
	// list and no error. Types are isolated from each other.
	ListEntities(typeName string) ([]string, error)
}

// MailboxStore keeps messages for persistent entities that are not
// live (offline messages): each entity of the EntityStore has a mailbox,
// a list of opaque messages in the order they were appended, stored with
// the entity (on Redis under its hash tag). The engine appends a call to
// an entity that is not loaded and takes the mailbox when it loads it.
//
// Implementations are safe for concurrent use by multiple goroutines. They do
// not retain the byte slices passed to them, and the slices they return are
// owned by the caller.
type MailboxStore interface {
	// AppendMessage appends msg to the mailbox of the entity (typeName,
	// id) and returns how many messages the mailbox holds then. It
	// appends nothing and returns an error wrapping ErrMailboxFull when
	// the mailbox holds limit messages already, and one wrapping
	// ErrNotFound when no such entity is stored. limit is 1 to
	// MaxMailboxLimit and msg at most MaxMailboxMessage bytes (it may be
	// empty); otherwise the error wraps ErrInvalidArgument. It is not
	// retried after a lost reply (that could append twice).
	AppendMessage(typeName, id string, msg []byte, limit int) (n int, err error)

	// TakeMessages returns the messages of the entity's mailbox in the
	// order they were appended and empties it, atomically: a message
	// appended concurrently is either returned or left for the next
	// take, never lost or returned twice. An empty mailbox, or an entity
	// that does not exist, yields no messages and no error. It is not
	// retried after a lost reply (that would lose the messages).
	TakeMessages(typeName, id string) ([][]byte, error)
}

// KVStore is a global key-value store, for lookups such as
// account name → avatar ID. Keys are non-empty and may hold arbitrary bytes;
// values may be empty, which is distinct from absent.
//
// Implementations are safe for concurrent use by multiple goroutines. They do
// not retain the byte slices passed to them, and the slices they return are
// owned by the caller.
type KVStore interface {
	// Get returns the value stored under key, or an error wrapping
	// ErrNotFound if there is none.
	Get(key string) ([]byte, error)

	// Put stores value under key, overwriting any existing value.
	Put(key string, value []byte) error

	// PutIfAbsent stores value under key only if the key has no value yet.
	// It is atomic with respect to every other call on the store, including
	// calls from other processes sharing it: when many callers race on one
	// key, exactly one gets stored == true and all others get stored ==
	// false with existing holding the winner's value. existing is nil when
	// stored is true.
	PutIfAbsent(key string, value []byte) (stored bool, existing []byte, err error)

	// Delete removes key. Deleting a missing key is not an error.
	Delete(key string) error
}

// Backend is a complete storage backend: an EntityStore with the
// entities' mailboxes and a KVStore that can be closed.
//
// Close waits for calls in progress to finish and releases the backend's
// resources. After Close has been called, every method, Close included,
// returns ErrClosed. It is safe to call Close concurrently with other
// methods: each of them either completes normally or returns ErrClosed.
type Backend interface {
	EntityStore
	MailboxStore
	KVStore
	Close() error
}

// Backend type names accepted by [Open] and [OpenConfig].
const (
	// TypeBolt selects the embedded bbolt backend ([Bolt]).
	TypeBolt = "bbolt"
	// TypeRedis selects the Redis backend ([Redis]): a standalone server
	// or a Redis Cluster.
	TypeRedis = "redis"
)

// Config selects and configures a backend for [OpenConfig]: the
// [storage] section of config.ini.
type Config struct {
	// Type is TypeBolt or TypeRedis.
	Type string
	// Path is the bbolt database file (TypeBolt).
	Path string
	// Redis configures TypeRedis; it must be set for that type.
	Redis *RedisOptions
}

// Open opens a backend by type name with default options: for "bbolt"
// ([TypeBolt]) path is the database file, opened with [OpenBolt]. A Redis
// backend needs its options: open it with [OpenConfig] or [OpenRedis].
func Open(typ, path string) (Backend, error) {
	return OpenConfig(Config{Type: typ, Path: path})
}

// OpenConfig opens the backend cfg describes: [OpenBolt] on cfg.Path with
// default options, or [OpenRedis] with cfg.Redis. Its errors name the file
// or the server.
func OpenConfig(cfg Config) (Backend, error) {
	switch cfg.Type {
	case TypeBolt:
		b, err := OpenBolt(cfg.Path, nil)
		if err != nil {
			return nil, err
		}
		return b, nil
	case TypeRedis:
		if cfg.Redis == nil {
			return nil, fmt.Errorf("storage: type %q needs Redis options (an address): %w", cfg.Type, ErrInvalidArgument)
		}
		r, err := OpenRedis(cfg.Redis)
		if err != nil {
			return nil, err
		}
		return r, nil
	default:
		return nil, fmt.Errorf("storage: unknown backend type %q (known: %q, %q): %w", cfg.Type, TypeBolt, TypeRedis, ErrInvalidArgument)
	}
}

// checkMailbox checks AppendMessage's arguments other than the entity.
func checkMailbox(msg []byte, limit int) error {
	switch {
	case limit < 1 || limit > MaxMailboxLimit:
		return fmt.Errorf("mailbox limit %d is not in 1..%d: %w", limit, MaxMailboxLimit, ErrInvalidArgument)
	case len(msg) > MaxMailboxMessage:
		return fmt.Errorf("message is %d bytes, more than %d: %w", len(msg), MaxMailboxMessage, ErrInvalidArgument)
	}
	return nil
}

// mailboxFull is the error of an AppendMessage past the limit.
func mailboxFull(typeName, id string, limit int) error {
	return fmt.Errorf("storage: mailbox of %s<%s> holds %d messages, its limit: %w", clip.Name(typeName), clip.Name(id), limit, ErrMailboxFull)
}
