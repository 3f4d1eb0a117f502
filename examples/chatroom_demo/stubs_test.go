package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/goworld-engine/goworld/internal/stubgen"
)

// The clients' typed stubs, generated from the game's registry
// (goworldctl gen): Go for the terminal client, TypeScript declarations
// for the web page.
//go:generate go run ../../tools/goworldctl gen -lang go -pkg stubs -o stubs/stubs.go .
//go:generate go run ../../tools/goworldctl gen -lang ts -o web/chat.d.ts .

// TestStubsAreCurrent fails when the committed stubs differ from what
// goworldctl gen writes from the types as they are now: a client method
// declared, renamed or retyped without `go generate`.
func TestStubsAreCurrent(t *testing.T) {
	info := registry(t).Describe()
	names := stubgen.ParamNames(".")
	goSrc, err := stubgen.Go(&info, names, "stubs")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{
		{"stubs/stubs.go", goSrc},
		{"web/chat.d.ts", stubgen.TS(&info, names)},
	} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatalf("%v: run go generate ./examples/chatroom_demo", err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s is stale: run go generate ./examples/chatroom_demo", f.path)
		}
	}
}
