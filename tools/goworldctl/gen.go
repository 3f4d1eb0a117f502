package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/goworld-engine/goworld/internal/stubgen"
)

func genCommand() *cli.Command {
	return &cli.Command{
		Name:      "gen",
		Usage:     "write typed client stubs for DIR's entity types: Go (over package client) or TypeScript declarations",
		ArgsUsage: "DIR",
		Description: "gen runs `go run DIR -print-registry` (or reads -registry FILE) and writes, for every entity type\n" +
			"a client sees: its synced attributes, the methods clients may call (with their results) and\n" +
			"the client methods it declares (DefineClientMethod). See docs/stubs.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lang", Usage: "`go` or `ts`", Required: true},
			&cli.StringFlag{Name: "o", Usage: "write to `FILE` (default: standard output)"},
			&cli.StringFlag{Name: "pkg", Usage: "the Go package `NAME` (default: the output file's directory name, else stubs)"},
			&cli.StringFlag{Name: "registry", Usage: "read the registry from this JSON `FILE` instead of running DIR"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			lang := c.String("lang")
			if lang != "go" && lang != "ts" {
				return usagef("gen: -lang must be go or ts, not %q", lang)
			}
			var data []byte
			dir := ""
			if f := c.String("registry"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				data = b
				if c.Args().Present() {
					dir = c.Args().First()
				}
			} else {
				d, err := dirArg(c)
				if err != nil {
					return err
				}
				dir = d
				if data, err = printRegistry(c.Context, dir); err != nil {
					return err
				}
			}
			reg, err := stubgen.Parse(data)
			if err != nil {
				return err
			}
			names := map[string]map[string][]string{}
			if dir != "" {
				names = stubgen.ParamNames(dir)
			}
			out := c.String("o")
			var src []byte
			switch lang {
			case "go":
				pkg := c.String("pkg")
				if pkg == "" {
					pkg = "stubs"
					if out != "" {
						if abs, err := filepath.Abs(out); err == nil {
							pkg = stubgen.PackageName(filepath.Base(filepath.Dir(abs)))
						}
					}
				}
				src, err = stubgen.Go(reg, names, pkg)
			case "ts":
				src = stubgen.TS(reg, names)
			}
			if err != nil {
				return err
			}
			if out == "" {
				_, err = c.App.Writer.Write(src)
				return err
			}
			return writeFileAtomic(out, src)
		},
	}
}

// printRegistry runs the game in dir with -print-registry.
func printRegistry(ctx context.Context, dir string) ([]byte, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("gen: the go command is not in PATH: %w", err)
	}
	cmd := exec.CommandContext(ctx, goCmd, "run", ".", "-print-registry")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("gen: go run %s -print-registry: %v\n%s", dir, err, strings.TrimRight(stderr.String(), "\n"))
	}
	return out, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gen-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
