package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// build compiles the main package in dir into dir/bin/<base name of dir>
// and returns the binary's path. It builds into a temporary directory under
// dir/bin and renames the result into place, so a running binary is never
// overwritten: running processes keep the old file.
func build(ctx context.Context, out io.Writer, dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build: the go command is not in PATH: %w", err)
	}
	target := binaryPath(dir)
	binDir := filepath.Dir(target)
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	// A directory whose name starts with "." is ignored by "./..." patterns.
	tmp, err := os.MkdirTemp(binDir, ".build-")
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, filepath.Base(target))

	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", built, ".")
	cmd.Dir = dir
	output, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimRight(string(output), "\n")
		if ctx.Err() != nil {
			return "", fmt.Errorf("build in %s interrupted: %w", dir, ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return "", fmt.Errorf("go build in %s failed:\n%s", dir, msg)
		}
		return "", fmt.Errorf("go build in %s failed: %v\n%s", dir, err, msg)
	}
	if isArchive(built) {
		// go build -o of a package that is not main writes its archive.
		return "", fmt.Errorf("build: %s is not a main package: goworldctl builds a game's binary from the package whose main calls goworld.Run", dir)
	}
	if err := os.Rename(built, target); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	fmt.Fprintf(out, "built %s\n", target)
	return target, nil
}

// installBinary copies the executable src to dst, written as a new file
// (mode 0755) and renamed into place: a process running the old dst keeps
// its file, and dst is never seen half written. It returns dst.
func installBinary(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("install binary: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("install binary: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("install binary: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return "", fmt.Errorf("install binary %s: %w", dst, err)
	}
	return dst, nil
}

// slowBuild is how long a build runs before buildNoting says why it takes
// so long.
var slowBuild = 3 * time.Second

// buildNoting is build, with a note on progress (stderr) if it runs
// longer than slowBuild: a first build compiles the engine and its
// dependencies, which takes a minute or more on a cold cache, and
// silence would look like a hang.
func buildNoting(ctx context.Context, out, progress io.Writer, dir string) (string, error) {
	if progress != nil {
		// The note is written under mu, and never after buildNoting
		// returns (a timer's Stop does not wait for its function).
		var mu sync.Mutex
		done := false
		note := time.AfterFunc(slowBuild, func() {
			mu.Lock()
			defer mu.Unlock()
			if !done {
				fmt.Fprintf(progress, "still building %s: a first build compiles the engine and its dependencies (a minute or more on a cold cache)\n", dir)
			}
		})
		defer func() {
			note.Stop()
			mu.Lock()
			done = true
			mu.Unlock()
		}()
	}
	return build(ctx, out, dir)
}

// isArchive reports whether the file at path is a Go package archive
// ("!<arch>\n"), not an executable.
func isArchive(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	return string(head[:n]) == "!<arch>\n"
}
