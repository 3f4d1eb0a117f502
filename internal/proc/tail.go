package proc

import (
	"bytes"
	"io"
	"os"
)

// maxTailBytes bounds how much of the end of a file tail reads.
const maxTailBytes = 64 << 10

// tailLines is the number of lines of each file that a StartError carries.
const tailLines = 20

// fileSize returns the size of the file at path, or 0 if it cannot be
// stat'ed (usually because it does not exist yet).
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// tail returns the last n lines written to the file at path after byte
// offset from; if the file is now shorter than from (it was truncated or
// replaced), it reads from the start. A missing or unreadable file has no
// lines.
func tail(path string, from int64, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	size := fi.Size()
	if size < from {
		from = 0
	}
	start := from
	partial := false
	if size-start > maxTailBytes {
		start = size - maxTailBytes
		partial = true
	}
	buf := make([]byte, size-start)
	k, err := f.ReadAt(buf, start)
	if err != nil && err != io.EOF {
		return nil
	}
	buf = bytes.TrimRight(buf[:k], "\r\n")
	if len(buf) == 0 {
		return nil
	}
	lines := bytes.Split(buf, []byte("\n"))
	if partial && len(lines) > 1 {
		lines = lines[1:] // the first line was cut
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(bytes.TrimRight(l, "\r"))
	}
	return out
}
