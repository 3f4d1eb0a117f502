package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultBoltTimeout is how long [OpenBolt] waits for the database file lock
// when [BoltOptions.Timeout] is zero.
const DefaultBoltTimeout = time.Second

const (
	// boltEntityPrefix prefixes the bucket of each entity type: "e/<type>".
	boltEntityPrefix = "e/"
	// boltFencePrefix prefixes the bucket of each entity type's epochs
	// (fencing tokens, 8 bytes big-endian by ID): "f/<type>".
	boltFencePrefix = "f/"
	// boltMailboxPrefix prefixes the bucket of each entity type's
	// mailboxes: "m/<type>", holding a bucket per entity ID whose keys
	// are the messages' sequence numbers (8 bytes big-endian).
	boltMailboxPrefix = "m/"
	// boltKVBucket is the bucket of the global key-value store.
	boltKVBucket = "kv"

	// boltMaxKey is the longest key bbolt accepts (bolt.MaxKeySize).
	boltMaxKey = bolt.MaxKeySize
	// boltMaxValue is the longest value bbolt accepts (bolt.MaxValueSize).
	boltMaxValue = bolt.MaxValueSize
	// boltMaxType is the longest entity type name: its bucket name is a key
	// too, and carries the prefix.
	boltMaxType = boltMaxKey - len(boltEntityPrefix)
)

// BoltOptions configures [OpenBolt]. The zero value and nil select the
// defaults.
type BoltOptions struct {
	// Timeout is how long to wait for the exclusive lock on the database
	// file, which another process (or another open handle in this process)
	// may hold. Zero means DefaultBoltTimeout (1s); a negative value means
	// try once and do not wait.
	Timeout time.Duration
}

// Bolt is the embedded [Backend]: one bbolt database file with one bucket per
// entity type ("e/<type>"), one per entity type for the entities' epochs
// ("f/<type>") and one bucket "kv" for the key-value store.
//
// Bolt is safe for concurrent use by multiple goroutines. Reads run in
// parallel; writes are serialised by bbolt, and each write method commits
// (and fsyncs) one transaction, so batch entity saves with SaveEntities. A
// database file can be open by only one Bolt at a time, across processes.
type Bolt struct {
	path string

	// mu guards db: methods hold it for reading for the duration of their
	// transaction, Close holds it for writing, so Close waits for calls in
	// progress and no call can touch a closed bbolt.DB.
	mu sync.RWMutex
	db *bolt.DB // nil once closed

	// claimMu orders claims with the writes that compare epochs. claims
	// holds the epochs ClaimEntity handed out that no write has stored
	// yet: a claim costs a read, not an fsynced commit. They are stored
	// by the entity's next save or delete, or at Close. A crash loses
	// them, which is harmless: the file is one process's, and every copy
	// it made ends with it.
	claimMu sync.Mutex
	claims  map[[2]string]uint64
}

var _ Backend = (*Bolt)(nil)

// OpenBolt opens or creates the bbolt database file at path, creating the
// parent directory if it is missing. A new file gets mode 0600. opts may be
// nil.
//
// If another process (or another open Bolt in this process) holds the file,
// OpenBolt waits up to opts.Timeout and then fails with an error that names
// the path and wraps [ErrLocked].
//
// A file that exists but is not a usable database is refused with an error
// that names it, says what to do (restore it from a backup, or move it
// away to start a new world) and wraps [ErrCorrupt]: an empty file (which
// bbolt would silently turn into a new, empty database, every account
// gone), a file shorter than its header says (cut short: bbolt could crash
// reading it), a file without a valid bbolt header. These are checked
// before bbolt sees the file; damage they cannot see that makes bbolt
// panic while opening is recovered and refused the same way.
func OpenBolt(path string, opts *BoltOptions) (*Bolt, error) {
	if path == "" {
		return nil, fmt.Errorf("storage: open bbolt: empty path: %w", ErrInvalidArgument)
	}
	timeout := DefaultBoltTimeout
	if opts != nil && opts.Timeout != 0 {
		timeout = opts.Timeout
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("storage: open bbolt %q: create directory: %w", path, err)
		}
	}

	if err := checkBoltFile(path); err != nil {
		return nil, err
	}
	var (
		db   *bolt.DB
		file *os.File // bbolt's, to close (and unlock) if bbolt panics
	)
	err := guard(func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout,
			OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, mode)
				file = f
				return f, err
			}})
		return err
	})
	if db == nil && file != nil && errors.Is(err, ErrCorrupt) {
		// bbolt panicked: it did not close the file it locked, and may
		// have left a memory map of it (the map stays; the process is
		// about to refuse to start).
		unlockFile(file)
		file.Close()
	}
	if err != nil {
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("storage: open bbolt %q: %w. %s", path, err, damagedAdvice)
		}
		if errors.Is(err, berrors.ErrTimeout) {
			wait := timeout
			if wait < 0 {
				wait = 0
			}
			return nil, fmt.Errorf("storage: open bbolt %q: file is locked by another process "+
				"(or is already open in this one); gave up after %v: %w", path, wait, ErrLocked)
		}
		return nil, fmt.Errorf("storage: open bbolt %q: %w", path, err)
	}
	if err := guard(func() error {
		return db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists([]byte(boltKVBucket))
			return err
		})
	}); err != nil {
		_ = db.Close()
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("storage: open bbolt %q: %w. %s", path, err, damagedAdvice)
		}
		return nil, fmt.Errorf("storage: open bbolt %q: create bucket %q: %w", path, boltKVBucket, err)
	}
	return &Bolt{path: path, db: db, claims: map[[2]string]uint64{}}, nil
}

// guard runs fn, turning a panic inside bbolt into an error wrapping
// ErrCorrupt: bbolt panics on pages it cannot make sense of, and a fault
// reading its memory map (a page past the end of a file that shrank)
// becomes a panic too while fn runs, instead of killing the process.
// bbolt rolls back a transaction that panics.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: bbolt failed: %v", ErrCorrupt, p)
		}
	}()
	return fn()
}

// Path returns the path of the database file, as given to OpenBolt.
func (b *Bolt) Path() string {
	if b == nil {
		return ""
	}
	return b.path
}

// Close closes the database file, waiting for calls in progress to finish.
// It returns ErrClosed if the Bolt is already closed.
func (b *Bolt) Close() error {
	if b == nil {
		return ErrClosed
	}
	// claimMu before mu, as the writes take them.
	b.claimMu.Lock()
	defer b.claimMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.db == nil {
		return ErrClosed
	}
	perr := b.storeClaims()
	err := b.db.Close()
	b.db = nil
	if err != nil {
		return fmt.Errorf("storage: close bbolt %q: %w", b.path, err)
	}
	if perr != nil {
		return fmt.Errorf("storage: close bbolt %q: storing the epochs of loaded entities: %w", b.path, perr)
	}
	return nil
}

// storeClaims writes the claims no save stored yet, in one transaction.
// The caller holds b.mu for writing and b.claimMu.
func (b *Bolt) storeClaims() error {
	if len(b.claims) == 0 {
		return nil
	}
	err := guard(func() error {
		return b.db.Update(func(tx *bolt.Tx) error {
			for k, e := range b.claims {
				fb, err := tx.CreateBucketIfNotExists(fenceBucket(k[0]))
				if err != nil {
					return err
				}
				if e > boltEpoch(fb, k[1]) {
					if err := fb.Put([]byte(k[1]), binary.BigEndian.AppendUint64(nil, e)); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
	if err == nil {
		clear(b.claims)
	}
	return err
}

// view runs fn in a read-only transaction, or returns ErrClosed.
func (b *Bolt) view(fn func(tx *bolt.Tx) error) error {
	if b == nil {
		return ErrClosed
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.db == nil {
		return ErrClosed
	}
	return guard(func() error { return b.db.View(fn) })
}

// update runs fn in a read-write transaction, or returns ErrClosed.
func (b *Bolt) update(fn func(tx *bolt.Tx) error) error {
	if b == nil {
		return ErrClosed
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.db == nil {
		return ErrClosed
	}
	return guard(func() error { return b.db.Update(fn) })
}

// SaveEntities stores all records in one read-write transaction (one fsynced
// commit): either all of them are stored or, on error, none, except that
// fenced records are refused one by one (a *FenceError) while the rest
// commits. Every record is validated before the transaction starts.
// Records are applied in order: if the batch holds the same (Type, ID)
// more than once, the last one wins.
func (b *Bolt) SaveEntities(recs []EntityRecord) error {
	for i := range recs {
		r := &recs[i]
		if err := checkEntity(r.Type, r.ID); err != nil {
			return fmt.Errorf("storage: SaveEntities: record %d: %w", i, err)
		}
		if int64(len(r.Data)) > boltMaxValue {
			return fmt.Errorf("storage: SaveEntities: record %d (%q/%q): data is %d bytes, more than %d: %w",
				i, r.Type, r.ID, len(r.Data), int64(boltMaxValue), ErrInvalidArgument)
		}
		if r.Epoch > MaxEpoch {
			return fmt.Errorf("storage: SaveEntities: record %d (%q/%q): epoch %d is above %d: %w",
				i, r.Type, r.ID, r.Epoch, uint64(MaxEpoch), ErrInvalidArgument)
		}
	}
	if len(recs) == 0 {
		return b.view(func(*bolt.Tx) error { return nil }) // ErrClosed if closed
	}
	var (
		claimed []uint64 // per record: the epoch it was stored with, 0 if fenced
		fenced  []FencedRecord
	)
	b.claimMu.Lock()
	defer b.claimMu.Unlock()
	err := b.update(func(tx *bolt.Tx) error {
		claimed, fenced = make([]uint64, len(recs)), nil
		var (
			lastType          string
			lastBucket, lastF *bolt.Bucket
		)
		for i := range recs {
			r := &recs[i]
			if lastBucket == nil || r.Type != lastType {
				bk, err := tx.CreateBucketIfNotExists(entityBucket(r.Type))
				if err != nil {
					return fmt.Errorf("bucket for type %q: %w", r.Type, err)
				}
				fb, err := tx.CreateBucketIfNotExists(fenceBucket(r.Type))
				if err != nil {
					return fmt.Errorf("epoch bucket for type %q: %w", r.Type, err)
				}
				lastType, lastBucket, lastF = r.Type, bk, fb
			}
			stored := boltEpoch(lastF, r.ID)
			cur := max(stored, b.claims[[2]string{r.Type, r.ID}])
			epoch := r.Epoch
			switch {
			case epoch == 0:
				epoch = cur + 1
			case epoch < cur:
				fenced = append(fenced, FencedRecord{Type: r.Type, ID: r.ID, Epoch: r.Epoch, Current: cur})
				continue
			}
			if epoch != stored {
				if err := lastF.Put([]byte(r.ID), binary.BigEndian.AppendUint64(nil, epoch)); err != nil {
					return fmt.Errorf("record %d (%q/%q): epoch: %w", i, r.Type, r.ID, err)
				}
			}
			if err := lastBucket.Put([]byte(r.ID), r.Data); err != nil {
				return fmt.Errorf("record %d (%q/%q): %w", i, r.Type, r.ID, err)
			}
			claimed[i] = epoch
		}
		return nil
	})
	if err != nil {
		return wrapErr("SaveEntities", err)
	}
	for i, e := range claimed {
		if e != 0 {
			recs[i].Epoch = e
			k := [2]string{recs[i].Type, recs[i].ID}
			if c, ok := b.claims[k]; ok && c <= e {
				delete(b.claims, k) // stored now
			}
		}
	}
	if len(fenced) > 0 {
		return &FenceError{Fenced: fenced}
	}
	return nil
}

// ClaimEntity returns a copy of the entity's data and a new epoch for it,
// or ErrNotFound. It reads in a read-only transaction and keeps the new
// epoch in memory until the entity's next write (see Bolt), so a claim
// costs no fsync.
func (b *Bolt) ClaimEntity(typeName, id string) ([]byte, uint64, error) {
	if err := checkEntity(typeName, id); err != nil {
		return nil, 0, fmt.Errorf("storage: ClaimEntity: %w", err)
	}
	var (
		out    []byte
		stored uint64
	)
	b.claimMu.Lock()
	defer b.claimMu.Unlock()
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(entityBucket(typeName))
		if bk == nil {
			return ErrNotFound
		}
		v, ok := get(bk, []byte(id))
		if !ok {
			return ErrNotFound
		}
		out = v
		if fb := tx.Bucket(fenceBucket(typeName)); fb != nil {
			stored = boltEpoch(fb, id)
		}
		return nil
	})
	if err != nil {
		return nil, 0, wrapErr("ClaimEntity", err)
	}
	k := [2]string{typeName, id}
	epoch := max(stored, b.claims[k]) + 1
	b.claims[k] = epoch
	return out, epoch, nil
}

// boltEpoch returns the epoch stored for id in fb, 0 if none.
func boltEpoch(fb *bolt.Bucket, id string) uint64 {
	v := fb.Get([]byte(id))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// LoadEntity returns a copy of the entity's data, or ErrNotFound.
func (b *Bolt) LoadEntity(typeName, id string) ([]byte, error) {
	if err := checkEntity(typeName, id); err != nil {
		return nil, fmt.Errorf("storage: LoadEntity: %w", err)
	}
	var out []byte
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(entityBucket(typeName))
		if bk == nil {
			return ErrNotFound
		}
		v, ok := get(bk, []byte(id))
		if !ok {
			return ErrNotFound
		}
		out = v
		return nil
	})
	if err != nil {
		return nil, wrapErr("LoadEntity", err)
	}
	return out, nil
}

// DeleteEntity removes the entity; deleting a missing one is not an error.
// It commits one transaction.
func (b *Bolt) DeleteEntity(typeName, id string) error {
	if err := checkEntity(typeName, id); err != nil {
		return fmt.Errorf("storage: DeleteEntity: %w", err)
	}
	b.claimMu.Lock()
	defer b.claimMu.Unlock()
	k := [2]string{typeName, id}
	err := b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(entityBucket(typeName))
		had := false
		if bk != nil {
			_, had = get(bk, []byte(id))
			if err := bk.Delete([]byte(id)); err != nil {
				return err
			}
		}
		// Bump the epoch of an entity that was ever claimed or stored,
		// so that no copy live somewhere can save it back.
		if mb := tx.Bucket(mailboxBucket(typeName)); mb != nil && mb.Bucket([]byte(id)) != nil {
			if err := mb.DeleteBucket([]byte(id)); err != nil {
				return err
			}
		}
		fb := tx.Bucket(fenceBucket(typeName))
		if !had && (fb == nil || fb.Get([]byte(id)) == nil) && b.claims[k] == 0 {
			return nil
		}
		fb, err := tx.CreateBucketIfNotExists(fenceBucket(typeName))
		if err != nil {
			return err
		}
		return fb.Put([]byte(id), binary.BigEndian.AppendUint64(nil, max(boltEpoch(fb, id), b.claims[k])+1))
	})
	if err == nil {
		delete(b.claims, k)
	}
	return wrapErr("DeleteEntity", err)
}

// ListEntities returns the IDs of all entities of typeName in byte order.
// An unknown type yields an empty, non-nil slice.
func (b *Bolt) ListEntities(typeName string) ([]string, error) {
	if err := checkType(typeName); err != nil {
		return nil, fmt.Errorf("storage: ListEntities: %w", err)
	}
	ids := []string{}
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket(entityBucket(typeName))
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			ids = append(ids, string(k)) // string() copies out of the mmap
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr("ListEntities", err)
	}
	return ids, nil
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (b *Bolt) Get(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("storage: Get: %w", err)
	}
	var out []byte
	err := b.view(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(boltKVBucket))
		if bk == nil {
			return ErrNotFound
		}
		v, ok := get(bk, []byte(key))
		if !ok {
			return ErrNotFound
		}
		out = v
		return nil
	})
	if err != nil {
		return nil, wrapErr("Get", err)
	}
	return out, nil
}

// Put stores value under key. It commits one transaction.
func (b *Bolt) Put(key string, value []byte) error {
	if err := checkKV(key, value); err != nil {
		return fmt.Errorf("storage: Put: %w", err)
	}
	err := b.update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(boltKVBucket))
		if err != nil {
			return err
		}
		return bk.Put([]byte(key), value)
	})
	return wrapErr("Put", err)
}

// PutIfAbsent stores value under key unless the key already has a value, in
// which case it returns a copy of that value. The check and the write happen
// in one read-write transaction, and bbolt runs those one at a time, so
// concurrent callers cannot both store.
func (b *Bolt) PutIfAbsent(key string, value []byte) (stored bool, existing []byte, err error) {
	if err := checkKV(key, value); err != nil {
		return false, nil, fmt.Errorf("storage: PutIfAbsent: %w", err)
	}
	err = b.update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(boltKVBucket))
		if err != nil {
			return err
		}
		if v, ok := get(bk, []byte(key)); ok {
			existing = v
			return nil
		}
		stored = true
		return bk.Put([]byte(key), value)
	})
	if err != nil {
		return false, nil, wrapErr("PutIfAbsent", err)
	}
	return stored, existing, nil
}

// Delete removes key; deleting a missing key is not an error. It commits one
// transaction.
func (b *Bolt) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("storage: Delete: %w", err)
	}
	err := b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(boltKVBucket))
		if bk == nil {
			return nil
		}
		return bk.Delete([]byte(key))
	})
	return wrapErr("Delete", err)
}

// get looks key up in bk and returns a copy of its value. bbolt values point
// into the memory map and are only valid inside the transaction. A present
// key with an empty value yields a non-nil empty slice.
func get(bk *bolt.Bucket, key []byte) ([]byte, bool) {
	k, v := bk.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return append(make([]byte, 0, len(v)), v...), true
}

// entityBucket returns the bucket name of an entity type.
func entityBucket(typeName string) []byte {
	return []byte(boltEntityPrefix + typeName)
}

// fenceBucket returns the name of the bucket of an entity type's epochs.
func fenceBucket(typeName string) []byte {
	return []byte(boltFencePrefix + typeName)
}

// mailboxBucket returns the name of the bucket of an entity type's
// mailboxes.
func mailboxBucket(typeName string) []byte {
	return []byte(boltMailboxPrefix + typeName)
}

// AppendMessage appends msg to the entity's mailbox (see MailboxStore)
// in one transaction (one fsync).
func (b *Bolt) AppendMessage(typeName, id string, msg []byte, limit int) (int, error) {
	if err := checkEntity(typeName, id); err != nil {
		return 0, fmt.Errorf("storage: AppendMessage: %w", err)
	}
	if err := checkMailbox(msg, limit); err != nil {
		return 0, fmt.Errorf("storage: AppendMessage: %w", err)
	}
	n := 0
	err := b.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(entityBucket(typeName))
		if bk == nil || bk.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		mb, err := tx.CreateBucketIfNotExists(mailboxBucket(typeName))
		if err != nil {
			return err
		}
		box, err := mb.CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		n = box.Stats().KeyN
		if n >= limit {
			return mailboxFull(typeName, id, limit)
		}
		seq, err := box.NextSequence()
		if err != nil {
			return err
		}
		n++
		return box.Put(binary.BigEndian.AppendUint64(nil, seq), append([]byte{}, msg...))
	})
	if errors.Is(err, ErrMailboxFull) {
		return n, err
	}
	if err != nil {
		return 0, wrapErr("AppendMessage", err)
	}
	return n, nil
}

// TakeMessages returns the entity's messages in order and deletes its
// mailbox, in one transaction (an fsync only if there were messages).
func (b *Bolt) TakeMessages(typeName, id string) ([][]byte, error) {
	if err := checkEntity(typeName, id); err != nil {
		return nil, fmt.Errorf("storage: TakeMessages: %w", err)
	}
	var out [][]byte
	// A read first: most loads find no mailbox, and need no write.
	err := b.view(func(tx *bolt.Tx) error {
		if mb := tx.Bucket(mailboxBucket(typeName)); mb != nil && mb.Bucket([]byte(id)) != nil {
			out = [][]byte{}
		}
		return nil
	})
	if err != nil || out == nil {
		return nil, wrapErr("TakeMessages", err)
	}
	out = nil
	err = b.update(func(tx *bolt.Tx) error {
		out = nil
		mb := tx.Bucket(mailboxBucket(typeName))
		if mb == nil {
			return nil
		}
		box := mb.Bucket([]byte(id))
		if box == nil {
			return nil
		}
		c := box.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			out = append(out, append([]byte{}, v...))
		}
		return mb.DeleteBucket([]byte(id))
	})
	if err != nil {
		return nil, wrapErr("TakeMessages", err)
	}
	return out, nil
}

// wrapErr gives an error from a transaction the method's name, leaving the
// package's sentinel errors bare.
func wrapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case err == ErrNotFound, err == ErrClosed:
		return err
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	default:
		return fmt.Errorf("storage: %s: %w", op, err)
	}
}

func checkType(typeName string) error {
	switch {
	case typeName == "":
		return fmt.Errorf("empty entity type name: %w", ErrInvalidArgument)
	case len(typeName) > boltMaxType:
		return fmt.Errorf("entity type name is %d bytes, more than %d: %w", len(typeName), boltMaxType, ErrInvalidArgument)
	}
	return nil
}

func checkEntity(typeName, id string) error {
	if err := checkType(typeName); err != nil {
		return err
	}
	switch {
	case id == "":
		return fmt.Errorf("empty entity ID (type %q): %w", typeName, ErrInvalidArgument)
	case len(id) > boltMaxKey:
		return fmt.Errorf("entity ID is %d bytes, more than %d: %w", len(id), boltMaxKey, ErrInvalidArgument)
	}
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key: %w", ErrInvalidArgument)
	case len(key) > boltMaxKey:
		return fmt.Errorf("key is %d bytes, more than %d: %w", len(key), boltMaxKey, ErrInvalidArgument)
	}
	return nil
}

func checkKV(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if int64(len(value)) > boltMaxValue {
		return fmt.Errorf("value is %d bytes, more than %d: %w", len(value), int64(boltMaxValue), ErrInvalidArgument)
	}
	return nil
}
