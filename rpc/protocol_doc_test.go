package rpc

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestProtocolDocHexExamples checks the annotated hex dumps in
// docs/protocol.md against their own comments, so that a hand edit of the
// document cannot leave a wrong byte behind: the length prefix, the message
// type, quoted strings and IDs, float32 values, and each "As one line"
// string against the block above it.
func TestProtocolDocHexExamples(t *testing.T) {
	f, err := os.Open("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	var (
		byteTok  = regexp.MustCompile(`^[0-9a-f]{2}$`)
		lengthRe = regexp.MustCompile(`^length = (\d+)`)
		typeRe   = regexp.MustCompile(`^type (\d+) Msg`)
		quotedRe = regexp.MustCompile(`"([^"]*)"`)
		lenRe    = regexp.MustCompile(`len (\d+), "([^"]*)"`)
		floatRe  = regexp.MustCompile(`\b(x|y|z|yaw) (?:= )?(-?\d+(?:\.\d+)?)`)
		posRe    = regexp.MustCompile(`position: (-?[\d.]+), (-?[\d.]+), (-?[\d.]+), yaw (-?[\d.]+)`)
		oneLine  = regexp.MustCompile("^As one line: `([0-9a-f]+)`")
	)

	sc := bufio.NewScanner(f)
	lineNo := 0
	inBlock, hexBlock := false, false
	var block []byte              // bytes of the current (or last) hex block
	var lastFrame []byte          // the last whole frame of that block
	frameStart, frameType := 0, 0 // offsets in block of the next frame and of the current frame's type
	blocks, checks := 0, 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if inBlock && hexBlock {
				blocks++
				lastFrame = checkFrames(t, lineNo, block, &checks)
			}
			if !inBlock {
				block, lastFrame = nil, nil
				hexBlock = false
				frameStart, frameType = 0, 0
			}
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			if m := oneLine.FindStringSubmatch(line); m != nil {
				if m[1] != hex.EncodeToString(block) && m[1] != hex.EncodeToString(lastFrame) {
					t.Errorf("protocol.md:%d: one-line hex is neither the block above nor its last frame:\n %s\n block %x", lineNo, m[1], block)
				}
				checks++
			}
			continue
		}
		// A hex line: byte tokens, then a comment.
		toks := strings.Fields(line)
		var lb []byte
		for len(toks) > 0 && byteTok.MatchString(toks[0]) {
			b, _ := hex.DecodeString(toks[0])
			lb = append(lb, b[0])
			toks = toks[1:]
		}
		if len(lb) == 0 {
			continue
		}
		comment := strings.Join(toks, " ")
		hexBlock = true
		offset := len(block)
		block = append(block, lb...)
		if offset == frameStart && len(lb) >= 4 {
			// This line starts a frame: its first bytes are the length
			// prefix, and (on this line or the next) the type.
			n := int(binary.LittleEndian.Uint32(lb))
			frameStart = offset + 4 + n
			frameType = offset + 4
			if m := lengthRe.FindStringSubmatch(comment); m != nil {
				if want, _ := strconv.Atoi(m[1]); n != want {
					t.Errorf("protocol.md:%d: bytes % x do not say length %d", lineNo, lb[:4], want)
				}
				checks++
			}
		}
		if m := typeRe.FindStringSubmatch(comment); m != nil {
			want, _ := strconv.Atoi(m[1])
			at := frameType - offset
			if at < 0 || at+2 > len(lb) || int(binary.LittleEndian.Uint16(lb[at:])) != want {
				t.Errorf("protocol.md:%d: bytes % x do not say type %d", lineNo, lb, want)
			}
			checks++
		}
		if m := lenRe.FindStringSubmatch(comment); m != nil {
			n, _ := strconv.Atoi(m[1])
			want := binary.LittleEndian.AppendUint16(nil, uint16(n))
			want = append(want, m[2]...)
			if len(m[2]) != n || string(lb) != string(want) {
				t.Errorf("protocol.md:%d: bytes % x are not a string of length %d %q", lineNo, lb, n, m[2])
			}
			checks++
		} else if strings.Contains(comment, "ID \"") {
			m := quotedRe.FindStringSubmatch(comment)
			if string(lb) != m[1] {
				t.Errorf("protocol.md:%d: bytes % x are not the ID %q", lineNo, lb, m[1])
			}
			checks++
		}
		fs := floatRe.FindAllStringSubmatch(comment, -1)
		if m := posRe.FindStringSubmatch(comment); m != nil {
			fs = [][]string{{"", "x", m[1]}, {"", "y", m[2]}, {"", "z", m[3]}, {"", "yaw", m[4]}}
		}
		if fs != nil && !strings.Contains(comment, "attrs") {
			if len(fs)*4 != len(lb) {
				t.Errorf("protocol.md:%d: %d float values named for %d bytes", lineNo, len(fs), len(lb))
				continue
			}
			for i, m := range fs {
				v, _ := strconv.ParseFloat(m[2], 32)
				got := math.Float32frombits(binary.LittleEndian.Uint32(lb[4*i:]))
				if got != float32(v) {
					t.Errorf("protocol.md:%d: %s: bytes say %v, comment says %v", lineNo, m[1], got, v)
				}
				checks++
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if blocks < 15 || checks < 100 {
		t.Fatalf("found only %d hex blocks and made %d checks: has the document's format changed?", blocks, checks)
	}
	t.Logf("%d hex blocks, %d checks", blocks, checks)
}

// checkFrames checks that a block which starts with a length prefix is a
// sequence of whole frames, and returns the last one. A block whose first
// length runs past its end is an abbreviated dump, not checked here.
func checkFrames(t *testing.T, endLine int, b []byte, checks *int) (last []byte) {
	t.Helper()
	if len(b) < 6 || 4+int(binary.LittleEndian.Uint32(b)) > len(b) {
		return nil
	}
	for len(b) > 0 {
		if len(b) < 6 {
			t.Errorf("protocol.md: block ending at line %d: %d bytes left over after the last frame", endLine, len(b))
			return nil
		}
		n := 4 + int(binary.LittleEndian.Uint32(b))
		if n > len(b) {
			t.Errorf("protocol.md: block ending at line %d: a frame of %d bytes with only %d left", endLine, n, len(b))
			return nil
		}
		last, b = b[:n], b[n:]
		*checks++
	}
	return last
}
