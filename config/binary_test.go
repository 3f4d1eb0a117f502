package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// TestBinaryConfigNotEchoed: a binary file given as the config (a build
// output, an image) is refused in one short line naming the file, not
// echoed byte by byte into the terminal or a log.
func TestBinaryConfigNotEchoed(t *testing.T) {
	exe, err := os.Executable() // the test binary: a real binary file
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(exe)
	if err == nil {
		t.Fatal("a binary file loaded as a config")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, exe+": not a text file (a NUL byte at offset ") || strings.Count(msg, "\n") != 0 || len(msg) > len(exe)+200 {
		t.Fatalf("error for a binary file: %.500q", msg)
	}
}

// TestConfigErrorsAreBounded: whatever a text config holds — control
// characters, invalid UTF-8, megabyte values and section names, thousands
// of bad lines — its errors are printable, each line short, and there
// are at most maxProblems of them plus a count.
func TestConfigErrorsAreBounded(t *testing.T) {
	huge := strings.Repeat("v", 1<<20)
	var b strings.Builder
	b.WriteString("[gate1]\nlisten_addr = \x01\x02\xff" + huge + "\n")
	b.WriteString("[gate2\x1b[31m]\nlisten_addr = 127.0.0.1:0\n")
	b.WriteString("[" + strings.Repeat("s", 5000) + "]\n")
	b.WriteString("[game1]\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("bogus_key_" + strings.Repeat("k", i) + " = 1\n")
	}
	b.WriteString("this line has no equals sign \x07\xfe" + huge + "\n")
	for _, data := range []string{b.String(), "[gate1]\n\x07garbage without equals " + huge + "\n"} {
		_, err := Parse("c.ini", []byte(data))
		if err == nil {
			t.Fatal("accepted")
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) > maxProblems+1 {
			t.Errorf("%d lines of errors", len(lines))
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "c.ini: ") || len(l) > maxShownMsg+200 {
				t.Errorf("line of %d bytes: %.300q", len(l), l)
			}
			for _, r := range l {
				if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
					t.Errorf("unprintable %U in %.300q", r, l)
					break
				}
			}
		}
		if n := len(lines); n == maxProblems+1 && !strings.Contains(lines[n-1], "more problems") {
			t.Errorf("the last line does not count the rest: %q", lines[n-1])
		}
	}
}

// TestConfigNamesShownPlainly: ordinary section names and keys are not
// quoted in messages (the bound changes nothing for real configs).
func TestConfigNamesShownPlainly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.ini")
	os.WriteFile(path, []byte("[dispatcher1]\nlisten_adr = 127.0.0.1:0\n"), 0o644)
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), `[dispatcher1] unknown key "listen_adr"`) {
		t.Fatalf("%v", err)
	}
}
