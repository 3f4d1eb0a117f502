package storage_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/goworld-engine/goworld/storage"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "goworld-storage-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	be, err := storage.Open("bbolt", filepath.Join(dir, "data", "goworld.db"))
	if err != nil {
		panic(err)
	}
	defer be.Close()

	// Register an account name; only one process can win it.
	stored, _, err := be.PutIfAbsent("account/alice", []byte("avatar-1"))
	fmt.Println("registered:", stored, err)
	stored, owner, err := be.PutIfAbsent("account/alice", []byte("avatar-2"))
	fmt.Println("registered again:", stored, string(owner), err)

	// Save this tick's dirty entities in one atomic batch.
	err = be.SaveEntities([]storage.EntityRecord{
		{Type: "Avatar", ID: "avatar-1", Data: []byte("msgpack...")},
		{Type: "Guild", ID: "guild-7", Data: []byte("msgpack...")},
	})
	fmt.Println("saved:", err)

	data, err := be.LoadEntity("Avatar", "avatar-1")
	fmt.Println("loaded:", string(data), err)
	_, err = be.LoadEntity("Avatar", "avatar-2")
	fmt.Println("missing:", errors.Is(err, storage.ErrNotFound))
	ids, err := be.ListEntities("Avatar")
	fmt.Println("avatars:", ids, err)

	// Output:
	// registered: true <nil>
	// registered again: false avatar-1 <nil>
	// saved: <nil>
	// loaded: msgpack... <nil>
	// missing: true
	// avatars: [avatar-1] <nil>
}
