package entity_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/entity"
)

// engineOnly lists the exported methods of *entity.Engine but World (the
// one way from the engine to the world, never back).
func engineOnly(t *testing.T) []string {
	t.Helper()
	typ := reflect.TypeFor[*entity.Engine]()
	var names []string
	for i := range typ.NumMethod() {
		if m := typ.Method(i); m.Name != "World" {
			names = append(names, m.Name)
		}
	}
	if len(names) < 10 {
		t.Fatalf("*entity.Engine has %d methods besides World: %v", len(names), names)
	}
	return names
}

// apiCheckGame is a small game, as a game developer writes it in a module
// of their own. The lines %s are where each engine method is tried: from
// an entity's method through Entity.World, and from an OnGameReady hook
// through goworld.World.
const apiCheckGame = `package main

import "github.com/goworld-engine/goworld"

type Player struct{ goworld.Entity }

func (p *Player) DescribeEntityType(desc *goworld.TypeDesc) {
	desc.DefineAttr("name", goworld.AttrAllClients)
	desc.ExposeToClient("Hello")
}

func (p *Player) Hello(name string) {
	p.Attrs.Set("name", name)
	p.World().CallAllClients("Greet", name)
	_ = p.World().NumEntities()
%s}

func main() {
	goworld.RegisterEntity("Player", &Player{})
	goworld.OnGameReady(func(w *goworld.World) {
		_, _ = w.CreateEntityLocally("Player", nil)
%s	})
	goworld.Run()
}
`

// TestGameCodeCannotDriveTheWorld is the proof that game code cannot reach
// the engine's driving methods: a game module of its own (the engine
// replaced by this checkout, offline) that calls each method of
// *entity.Engine on the world it gets, through e.World() and through
// goworld.World, fails to build with "has no field or method" at exactly
// those lines, and the same game without them builds and vets. The
// methods are read from *entity.Engine, so a new one is covered at once.
func TestGameCodeCannotDriveTheWorld(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := fmt.Sprintf("module example.com/apicheck\n\ngo %s\n\nrequire github.com/goworld-engine/goworld v0.0.0\n\nreplace github.com/goworld-engine/goworld => %s\n",
		goVersion(t, filepath.Join(repo, "go.mod")), repo)
	writeFile(t, filepath.Join(dir, "go.mod"), gomod)
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum")) // so that nothing needs the network
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "go.sum"), string(sum))
	goCmd := func(args ...string) (string, error) {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// The game as it should be written builds and vets.
	writeFile(t, filepath.Join(dir, "main.go"), fmt.Sprintf(apiCheckGame, "", ""))
	if out, err := goCmd("vet", "."); err != nil {
		t.Fatalf("the game without engine calls does not vet: %v\n%s", err, out)
	}

	// With the engine's methods tried, it fails at each of them, for that
	// reason, and for no other.
	names := engineOnly(t)
	var inMethod, inHook strings.Builder
	for _, n := range names {
		fmt.Fprintf(&inMethod, "\t_ = p.World().%s // engine\n", n)
		fmt.Fprintf(&inHook, "\t\t_ = w.%s // engine\n", n)
	}
	src := fmt.Sprintf(apiCheckGame, inMethod.String(), inHook.String())
	writeFile(t, filepath.Join(dir, "main.go"), src)
	want := map[int]string{} // line → method
	for i, line := range strings.Split(src, "\n") {
		if l, ok := strings.CutSuffix(line, " // engine"); ok {
			want[i+1] = l[strings.LastIndexByte(l, '.')+1:]
		}
	}
	if len(want) != 2*len(names) {
		t.Fatalf("%d lines to check for %d methods", len(want), len(names))
	}
	out, err := goCmd("build", "-gcflags=-e", "-o", os.DevNull, ".") // -e: every error, not the first ten
	if err == nil {
		t.Fatalf("a game that calls the engine's methods on its world builds:\n%s", src)
	}
	errLine := regexp.MustCompile(`(?m)^(?:\.[/\\])?main\.go:(\d+):\d+: (.*?)\r?$`)
	got := map[int]bool{}
	for _, m := range errLine.FindAllStringSubmatch(out, -1) {
		line, _ := strconv.Atoi(m[1])
		name, ok := want[line]
		switch {
		case !ok:
			t.Errorf("unexpected error at line %d: %s", line, m[2])
		case !strings.Contains(m[2], "has no field or method "+name):
			t.Errorf("line %d (%s): %s", line, name, m[2])
		default:
			got[line] = true
		}
	}
	for line, name := range want {
		if !got[line] {
			t.Errorf("line %d: no \"has no field or method %s\" error", line, name)
		}
	}
	if t.Failed() {
		t.Logf("go build:\n%s", out)
	}
}

// TestNoRouteToTheEngine: no exported function or method of the packages
// game code uses returns or takes an *entity.Engine, but NewEngine (which
// makes a new world, not the live one) and the Engine's own methods. The
// game package keeps its engine in an unexported field.
func TestNoRouteToTheEngine(t *testing.T) {
	for _, dir := range []string{".", "..", "../game", "../goworldtest", "../space", "../rpc", "../storage"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		fset := token.NewFileSet()
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || !fn.Name.IsExported() || mentionsEngine(fn.Recv) {
					continue
				}
				if mentionsEngine(fn.Type) && !(f.Name.Name == "entity" && fn.Name.Name == "NewEngine") {
					t.Errorf("%s: %s exposes an *entity.Engine", fset.Position(fn.Pos()), fn.Name.Name)
				}
			}
		}
	}
}

// mentionsEngine reports whether node names the type Engine (as Engine
// or entity.Engine).
func mentionsEngine(node ast.Node) bool {
	if node == nil || reflect.ValueOf(node).IsNil() {
		return false
	}
	found := false
	ast.Inspect(node, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Name == "Engine" {
			found = true
		}
		return !found
	})
	return found
}

func goVersion(t *testing.T, gomod string) string {
	t.Helper()
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no go line", gomod)
	}
	return string(m[1])
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
