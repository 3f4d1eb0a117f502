// Package storage persists entities and serves a global key-value store.
//
// The engine talks to storage only through the [EntityStore] and [KVStore]
// interfaces (combined, with Close, into [Backend]), so that backends can be
// added without touching game code. There are two: the embedded default,
// [Bolt], keeps everything in one bbolt database file (one process); [Redis]
// keeps it on a Redis server or a Redis Cluster, which every game process
// of a cluster shares. [OpenConfig] opens either from config.ini's [storage]
// section.
//
// # Contracts
//
// Every Backend is safe for concurrent use by multiple goroutines. Byte
// slices passed in are not retained after a call returns, and byte slices
// returned are owned by the caller (they are copies, never views into the
// database). Missing entities and keys are reported with [ErrNotFound]
// (test with errors.Is); invalid arguments such as empty type names, IDs or
// keys are reported with [ErrInvalidArgument]; every call made after Close
// fails with [ErrClosed]. No input makes a method panic.
//
// [EntityStore.SaveEntities] is atomic: either every record of the batch is
// stored or none is, except for fenced records (below). The engine calls it
// once per save tick with every dirty entity, so a backend should commit a
// batch in one round trip or transaction.
//
// # Fencing
//
// A persistent entity is live at most once in a cluster. The dispatcher
// decides where it lives, and the store makes sure a copy the dispatcher
// lost track of (a game cut off from it) cannot overwrite a newer copy:
// every entity has an epoch, a fencing token stored with it. Making a copy
// live claims a new epoch atomically with it: [EntityStore.ClaimEntity]
// for a load, a save of a record with Epoch 0 for a new entity (the
// store sets the record's Epoch to the one claimed). Every later save of
// the copy carries its epoch ([EntityRecord.Epoch]), and a record older
// than the stored epoch is refused: SaveEntities stores the rest of the
// batch and returns a [*FenceError] (wrapping [ErrFenced]) naming the
// refused records. A record with the stored epoch is stored, so a batch
// retried after a lost reply does not fence itself. DeleteEntity raises
// the epoch, so no copy live before it saves the entity back. The engine
// retires a fenced copy (package entity). LoadEntity claims nothing: it
// is for tools. Epochs are at most [MaxEpoch].
//
// # Mailboxes
//
// Every stored entity has a mailbox ([MailboxStore]): opaque messages,
// kept in the order appended, for the engine's offline calls to an entity
// that is not live. AppendMessage is bounded by the caller's limit
// ([ErrMailboxFull] past it) and needs a stored entity; TakeMessages
// reads and empties the mailbox atomically. On Redis the mailbox shares
// the entity's hash tag; DeleteEntity deletes it.
//
// [KVStore.PutIfAbsent] is atomic, so it can be used to claim unique names
// (for example when registering an account) without races between game
// processes sharing the store.
//
// # When a save counts as done
//
// A save is done when SaveEntities returns nil: bbolt has then written and
// fsynced the batch; Redis has applied it, and it reaches the disk as the
// server's persistence says. Run Redis with appendonly yes and appendfsync
// everysec (the recommended configuration): the AOF is fsynced every
// second, so a crash of the Redis server (kill -9, power loss) loses at most
// about the last second of acknowledged writes, and a clean restart
// (SHUTDOWN, SIGTERM, systemctl restart) loses nothing. appendfsync always
// loses nothing even in a crash, at an fsync per write (see
// docs/perf/2026-12-06-storage-redis-bbolt.md); without an AOF, Redis keeps only its RDB snapshots
// and a crash loses everything since the last one (minutes).
//
// Atomicity: Bolt commits a batch in one transaction. Redis commits it in one
// Lua script on a standalone server; a Redis Cluster cannot run a transaction
// over several nodes, so there each entity is written whole, but a failed
// batch may have stored some of its entities and not others (see [Redis]).
// Either way a failed batch is retried whole by the engine, and an entity's
// data is never torn.
//
// What the engine adds (package game): an entity is saved when created,
// every save_interval if it changed, when destroyed and at shutdown, one
// batch at a time, in order. A kill -9 of a game process loses what changed
// since each entity's last completed save: at most save_interval (plus, if
// the store was failing at that moment, the saves still being retried). A
// failing save is retried with backoff; meanwhile loads and KV operations
// fail at once, and nothing the store acknowledged is lost when it comes
// back.
//
// # Usage
//
//	be, err := storage.Open("bbolt", "data/goworld.db")
//	// or: storage.OpenConfig(storage.Config{Type: storage.TypeRedis,
//	//	Redis: &storage.RedisOptions{Addr: "127.0.0.1:6379", KeyPrefix: "goworld:"}})
//	if err != nil {
//		return err
//	}
//	defer be.Close()
//
//	// Claim an account name for a new avatar.
//	stored, owner, err := be.PutIfAbsent("account/alice", []byte(avatarID))
//	if err != nil {
//		return err
//	}
//	if !stored {
//		avatarID = string(owner) // the name was already taken
//	}
//
//	// Save every dirty entity of this tick in one atomic batch.
//	err = be.SaveEntities([]storage.EntityRecord{
//		{Type: "Avatar", ID: avatarID, Data: avatarMsgpack},
//	})
//
//	data, err := be.LoadEntity("Avatar", avatarID)
//	if errors.Is(err, storage.ErrNotFound) {
//		// create a fresh avatar
//	}
//
// Backend implementations should run the conformance suite in package
// storage/storagetest from their tests.
package storage
