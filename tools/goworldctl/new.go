package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/urfave/cli/v2"
)

// scaffoldFS holds the files goworldctl new writes, as templates.
//
//go:embed scaffold
var scaffoldFS embed.FS

// goworldModule is the engine's module path.
const goworldModule = "github.com/goworld-engine/goworld"

// scaffold is what the templates are filled with.
type scaffold struct {
	Name, Module, Goworld, GoVersion string
	DispatcherPort, GatePort         int
}

func newCommand() *cli.Command {
	return &cli.Command{
		Name:      "new",
		Usage:     "write a new game module in DIR (which must not exist or be empty): a main package, config.ini, a client and a test",
		ArgsUsage: "DIR",
		Description: "The module builds against a goworld checkout (it is not published yet): the one goworldctl\n" +
			"runs from (go run ./tools/goworldctl in a checkout, or a module that requires it), or -goworld.\n" +
			"Then, in DIR: go test ./... ; go tool goworldctl start . ; go run ./client",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "module", Usage: "the module `PATH` (default example.com/<base name of DIR>)"},
			&cli.StringFlag{Name: "goworld", Usage: "the goworld checkout `DIR` to build against (default: found with go list)"},
			&cli.BoolFlag{Name: "no-tidy", Usage: "do not run go mod tidy in DIR afterwards"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			dir, err := dirArg(c)
			if err != nil {
				return err
			}
			return newGame(c.Context, c.App.Writer, dir, c.String("module"), c.String("goworld"), !c.Bool("no-tidy"))
		},
	}
}

// newGame writes the scaffold into dir.
func newGame(ctx context.Context, out io.Writer, dir, modPath, goworld string, tidy bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	name := filepath.Base(abs)
	if modPath == "" {
		modPath = "example.com/" + strings.ToLower(name)
	}
	if err := checkModulePath(modPath); err != nil {
		return usagef("new: module path %q: %v (give one with -module)", modPath, err)
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return fmt.Errorf("new: %s is not empty: give a new directory", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("new: %w", err)
	}
	if goworld == "" {
		if goworld, err = findGoworld(ctx); err != nil {
			return err
		}
	}
	if goworld, err = filepath.Abs(goworld); err != nil {
		return err
	}
	goVersion, err := moduleGoVersion(filepath.Join(goworld, "go.mod"))
	if err != nil {
		return fmt.Errorf("new: -goworld %s: %w", goworld, err)
	}
	s := scaffold{Name: name, Module: modPath, Goworld: goworld, GoVersion: goVersion, DispatcherPort: 13031, GatePort: 14031}
	if err := writeScaffold(abs, s); err != nil {
		return err
	}
	// go.sum: the engine's, so that go mod tidy needs nothing that a
	// checkout which has built does not have already.
	if sum, err := os.ReadFile(filepath.Join(goworld, "go.sum")); err == nil {
		if err := os.WriteFile(filepath.Join(abs, "go.sum"), sum, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "wrote a new game module %s in %s (building against %s)\n", modPath, dir, goworld)
	if tidy {
		cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
		cmd.Dir = abs
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("new: go mod tidy in %s: %v\n%s(the files are written; run it again when the module proxy is reachable)", dir, err, stderr.String())
		}
	}
	fmt.Fprintf(out, "next, in %s:\n  go test ./...\n  go tool goworldctl start .\n  go run ./client\n  go tool goworldctl stop .\n", dir)
	return nil
}

// writeScaffold fills the templates into dir.
func writeScaffold(dir string, s scaffold) error {
	return fs.WalkDir(scaffoldFS, "scaffold", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, "scaffold/"), ".tmpl")
		if rel == "gitignore" {
			rel = ".gitignore" // embed skips dot files
		}
		src, err := scaffoldFS.ReadFile(p)
		if err != nil {
			return err
		}
		tmpl, err := template.New(rel).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, s); err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b.Bytes(), 0o644)
	})
}

// findGoworld returns the directory of the goworld module that the
// current directory builds with: the main module itself in a checkout,
// or the one it requires.
func findGoworld(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-json", goworldModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("new: cannot find a goworld checkout from here (%v: %s); run goworldctl new in one, or give -goworld DIR",
			err, strings.TrimSpace(stderr.String()))
	}
	var m struct {
		Dir     string
		Replace *struct{ Dir string }
	}
	if err := json.Unmarshal(outb, &m); err != nil {
		return "", fmt.Errorf("new: go list: %w", err)
	}
	if m.Replace != nil && m.Replace.Dir != "" {
		return m.Replace.Dir, nil
	}
	if m.Dir == "" {
		return "", errors.New("new: go list names no directory for " + goworldModule + "; give -goworld DIR")
	}
	return m.Dir, nil
}

// moduleGoVersion reads the go directive of a go.mod, checking that it
// is goworld's.
func moduleGoVersion(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	var mod, goVer string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" {
			mod = f[1]
		}
		if len(f) == 2 && f[0] == "go" {
			goVer = f[1]
		}
	}
	if mod != goworldModule {
		return "", fmt.Errorf("%s is the go.mod of %q, not of %s", gomod, mod, goworldModule)
	}
	if goVer == "" {
		return "", fmt.Errorf("%s has no go directive", gomod)
	}
	return goVer, nil
}

// checkModulePath checks the shape of a module path: slash-separated
// elements of letters, digits and -._~, the first with a dot (a domain)
// unless the path has one element.
func checkModulePath(p string) error {
	if p == "" || len(p) > 256 {
		return errors.New("empty or too long")
	}
	for i, elem := range strings.Split(p, "/") {
		if elem == "" || elem == "." || elem == ".." || strings.HasPrefix(elem, ".") || strings.HasSuffix(elem, ".") {
			return fmt.Errorf("bad element %q", elem)
		}
		for _, r := range elem {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
				return fmt.Errorf("character %q not allowed", r)
			}
		}
		if i == 0 && strings.Contains(p, "/") && !strings.Contains(elem, ".") {
			return fmt.Errorf("the first element %q is not a domain name", elem)
		}
	}
	return nil
}
