package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/stubgen"
	"github.com/goworld-engine/goworld/internal/testkit/nodetest"
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

// TestWebPageTypeChecks type-checks the web page's code (web/chat.js,
// // @ts-check) with the real tsc against the JavaScript client's
// declarations and the game's generated ones (web/chat.d.ts): the page
// handles only client methods the game declares, with their parameter
// types, and calls only methods the game exposes. A copy of the page's
// code with a handler of an undeclared method must fail, so the check
// is not vacuous.
func TestWebPageTypeChecks(t *testing.T) {
	tsc := nodetest.TSC(t, "the web page's type check")
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.ToSlash(a)
	}
	check := func(page string) (string, error) {
		dir := t.TempDir()
		cfg := map[string]any{
			"compilerOptions": map[string]any{
				"allowJs": true, "checkJs": true, "noEmit": true, "strict": false,
				"target": "es2022", "module": "es2022", "moduleResolution": "bundler",
				"lib": []string{"es2022", "dom"}, "types": []string{},
				"paths": map[string]any{"@goworld-engine/client": []string{abs("../../clients/js/goworld.d.ts")}},
			},
			"files": []string{page, abs("web/chat.d.ts"), abs("../../clients/js/goworld.d.ts")},
		}
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tsconfig.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, tsc, "-p", "tsconfig.json")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(abs("web/chat.js")); err != nil {
		t.Fatalf("tsc on web/chat.js: %v\n%s", err, out)
	}
	src, err := os.ReadFile("web/chat.js")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(src), `c.onCall("OnJoined"`, `c.onCall("OnJoinedTypo"`, 1)
	if bad == string(src) {
		t.Fatal("web/chat.js has no OnJoined handler to break")
	}
	// The copy sits next to chat.d.ts, as the page does.
	badPath := filepath.Join("web", ".typecheck-bad.js")
	if err := os.WriteFile(badPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(badPath) })
	if out, err := check(abs(badPath)); err == nil || !strings.Contains(out, "OnJoinedTypo") {
		t.Fatalf("tsc accepted a handler of an undeclared client method (err %v):\n%s", err, out)
	}
}
