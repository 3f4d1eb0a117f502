// Package storage persists entities and serves a global key-value store.
//
// The engine talks to storage only through the [EntityStore] and [KVStore]
// interfaces (combined, with Close, into [Backend]) so that a networked
// backend such as Redis can be added later without touching game code. The
// embedded default, [Bolt], keeps everything in one bbolt database file.
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
// stored or none is. The engine calls it once per save tick with every dirty
// entity, so a backend should commit a batch in one round trip or
// transaction.
//
// [KVStore.PutIfAbsent] is atomic, so it can be used to claim unique names
// (for example when registering an account) without races between game
// processes sharing the store.
//
// # Usage
//
//	be, err := storage.Open("bbolt", "data/goworld.db")
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
