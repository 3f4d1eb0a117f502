package jsclient_test

// goworld.js as an npm package (package.json): what `npm pack` puts in
// it, importing it by its name under Node (ES module and CommonJS, through
// "exports"), the ES module against a real cluster, and the TypeScript
// declarations type-checked by a real tsc.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/goworld-engine/goworld/internal/testkit/nodetest"
)

// requireNPMEnv makes the npm tests fail, rather than skip, where npm is
// missing (.ci/run sets it; tsc's are internal/testkit/nodetest.TSC's).
const requireNPMEnv = "GOWORLD_REQUIRE_NPM"

// packageName is the package's name on npm (package.json).
const packageName = "@goworld-engine/client"

type packageJSON struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	License string            `json:"license"`
	Main    string            `json:"main"`
	Types   string            `json:"types"`
	Files   []string          `json:"files"`
	Engines map[string]string `json:"engines"`
	Deps    map[string]string `json:"dependencies"`
	DevDeps map[string]string `json:"devDependencies"`
	Peer    map[string]string `json:"peerDependencies"`
	Scripts map[string]string `json:"scripts"`
	Publish struct {
		Access string `json:"access"`
	} `json:"publishConfig"`
}

func readPackageJSON(t *testing.T) packageJSON {
	t.Helper()
	b, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var p packageJSON
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	return p
}

// packedFiles is what npm puts in the package: the "files" of
// package.json, and package.json, README.md and LICENSE, which npm always
// adds.
func packedFiles(t *testing.T) []string {
	t.Helper()
	files := append(readPackageJSON(t).Files, "package.json", "README.md", "LICENSE")
	slices.Sort(files)
	return files
}

// install copies the package's files, as npm would pack them, into
// node_modules/@goworld-engine/client of a new temporary directory, and
// the given scripts (from testdata) next to node_modules; it returns the
// directory. No registry is involved: the package has no dependencies.
func install(t *testing.T, scripts ...string) string {
	t.Helper()
	dir := t.TempDir()
	pkg := filepath.Join(dir, "node_modules", filepath.FromSlash(packageName))
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range packedFiles(t) {
		copyFile(t, f, filepath.Join(pkg, f))
	}
	for _, s := range scripts {
		copyFile(t, filepath.Join("testdata", s), filepath.Join(dir, filepath.Base(s)))
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPackageJSON: the fields a published package needs, and none that
// would make installing it fetch anything or run anything.
func TestPackageJSON(t *testing.T) {
	p := readPackageJSON(t)
	if p.Name != packageName || p.Version == "" || p.License != "Apache-2.0" || p.Engines["node"] != ">=20" {
		t.Errorf("package.json: name %q, version %q, license %q, engines %v", p.Name, p.Version, p.License, p.Engines)
	}
	if p.Publish.Access != "public" {
		t.Errorf("package.json: publishConfig.access %q, want public (a scoped package is private by default)", p.Publish.Access)
	}
	if len(p.Deps)+len(p.DevDeps)+len(p.Peer)+len(p.Scripts) != 0 {
		t.Errorf("package.json has dependencies or scripts: %v %v %v %v", p.Deps, p.DevDeps, p.Peer, p.Scripts)
	}
	for _, f := range packedFiles(t) {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a packed file is missing: %v", err)
		}
	}
	// LICENSE is a copy of the repository's, for npm (which packs only
	// the package's own directory).
	mine, err1 := os.ReadFile("LICENSE")
	root, err2 := os.ReadFile("../../LICENSE")
	if err1 != nil || err2 != nil || !bytes.Equal(mine, root) {
		t.Errorf("clients/js/LICENSE is not a copy of ../../LICENSE (%v, %v): cp LICENSE clients/js/", err1, err2)
	}
}

// TestPackageFiles: `npm pack --dry-run` lists exactly what install()
// copies, so the tests below test what a user installs.
func TestPackageFiles(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		msg := "npm is not on PATH (Debian: apt-get install npm): the package's pack test needs it"
		if os.Getenv(requireNPMEnv) == "1" {
			t.Fatalf("%s, and %s=1 is set", msg, requireNPMEnv)
		}
		t.Skip(msg)
	}
	out := run(t, ".", npm, "pack", "--dry-run", "--json", "--ignore-scripts")
	var packs []struct {
		Name  string `json:"name"`
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	if err := json.Unmarshal(out, &packs); err != nil || len(packs) != 1 {
		t.Fatalf("npm pack --dry-run --json: %v\n%s", err, out)
	}
	var got []string
	for _, f := range packs[0].Files {
		got = append(got, f.Path)
	}
	slices.Sort(got)
	if want := packedFiles(t); !slices.Equal(got, want) || packs[0].Name != packageName {
		t.Errorf("npm packs %s with %q, want %s with %q", packs[0].Name, got, packageName, want)
	}
}

// run runs a command (not node) in dir within a minute, with npm kept
// off the network and out of the user's cache, and returns its stdout.
func run(t *testing.T, dir, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_offline=true", "npm_config_update_notifier=false",
		"npm_config_fund=false", "npm_config_audit=false", "npm_config_cache="+t.TempDir())
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// TestPackageImports: imported by its name from a directory where it is
// installed, the ES module and CommonJS give the same GoWorld, named
// exports match its keys, and only "." and package.json are exported
// (testdata/pkg/imports.mjs).
func TestPackageImports(t *testing.T) {
	nodetest.Find(t)
	dir := install(t, "pkg/imports.mjs")
	if out := nodetest.Run(t, dir, nodeTimeout, "imports.mjs"); !strings.Contains(out, "imports: ok") {
		t.Fatalf("imports.mjs did not report ok:\n%s", out)
	}
}

// TestPackageAgainstCluster: the installed ES module, imported by name,
// against a real in-process cluster over WebSocket
// (testdata/pkg/cluster.mjs; the boot entity is request_test.go's
// JsAnswerer).
func TestPackageAgainstCluster(t *testing.T) {
	nodetest.Find(t)
	reg := entity.NewRegistry()
	if err := reg.Register("JsAnswerer", &JsAnswerer{}); err != nil {
		t.Fatal(err)
	}
	c := cluster.Start(t, cluster.Options{Registry: reg, BootEntity: "JsAnswerer", WebSocket: true})
	dir := install(t, "pkg/cluster.mjs")
	if out := nodetest.Run(t, dir, nodeTimeout, "cluster.mjs", c.GateWSURL(0)); !strings.Contains(out, "cluster: ok") {
		t.Fatalf("cluster.mjs did not report ok:\n%s", out)
	}
}

// findTSC finds tsc (internal/testkit/nodetest.TSC).
func findTSC(t *testing.T) string { return nodetest.TSC(t, "the type declarations' test") }

// TestTypeDeclarations type-checks programs that use the API through the
// installed package (testdata/types): as an ES module (goworld.d.mts) and
// as CommonJS (goworld.d.ts) with Node's module resolution and without
// the DOM library or Node's types (tsconfig.json), with the DOM's
// WebSocket (tsconfig.dom.json), and with a bundler's resolution, by
// name and as the global of a classic script (tsconfig.global.json).
// Right uses
// compile; wrong ones, marked
// `// @ts-expect-error`, must be rejected (tsc fails on a marker with no
// error under it). A generated program checks that the declarations name
// exactly the values goworld.js exports, read from Node.
func TestTypeDeclarations(t *testing.T) {
	tsc := findTSC(t)
	node, _ := nodetest.Find(t)
	dir := install(t, "types/tsconfig.json", "types/tsconfig.dom.json", "types/tsconfig.global.json", "types/esm.mts", "types/cjs.cts",
		"types/global.ts", "types/bundler.ts", "types/dom.mts")
	t.Logf("%s", bytes.TrimSpace(run(t, dir, tsc, "--version")))

	// The values goworld.js exports at run time.
	keysJSON := run(t, dir, node, "-e", `console.log(JSON.stringify(Object.keys(require("`+packageName+`"))))`)
	var keys []string
	if err := json.Unmarshal(keysJSON, &keys); err != nil || len(keys) < 10 || !slices.Contains(keys, "Client") {
		t.Fatalf("goworld.js's exports: %v %s", err, keysJSON)
	}
	writeKeys(t, dir, keys)
	for _, cfg := range []string{"tsconfig.json", "tsconfig.dom.json", "tsconfig.global.json"} {
		if out, err := tscRun(tsc, dir, cfg); err != nil {
			t.Fatalf("tsc -p %s: %v\n%s", cfg, err, out)
		}
	}

	// The check can fail: with Client left out of the runtime list, the
	// declared Client is one too many.
	writeKeys(t, dir, slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "Client" }))
	if out, err := tscRun(tsc, dir, "tsconfig.json"); err == nil || !strings.Contains(string(out), "keys.mts") {
		t.Errorf("tsc accepted keys.mts with Client left out of the runtime list (%v):\n%s", err, out)
	}
}

// writeKeys writes keys.mts: a program that compiles only if the
// declarations declare exactly these values (and the default export).
func writeKeys(t *testing.T, dir string, keys []string) {
	t.Helper()
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = strconv.Quote(k)
	}
	gen := `// Generated by TestTypeDeclarations from goworld.js's exports.
import * as GW from "` + packageName + `";
// Every value goworld.js exports is declared...
export const declared: (keyof typeof GW)[] = [` + strings.Join(quoted, ", ") + `];
// ...and nothing else is (but the ES module's default export).
type Extra = Exclude<keyof typeof GW, ` + strings.Join(quoted, " | ") + ` | "default">;
export const noExtra: [Extra] extends [never] ? true : Extra = true;
`
	if err := os.WriteFile(filepath.Join(dir, "keys.mts"), []byte(gen), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tscRun runs tsc -p cfg in dir, within two minutes.
func tscRun(tsc, dir, cfg string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tsc, "-p", cfg)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = ctx.Err()
	}
	return out, err
}
