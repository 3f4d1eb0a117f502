package config

import (
	"strings"
	"testing"
	"time"
)

// TestResumeSettings: resume_window and resume_limit in [gate_common]
// are read, default to 60s and 1 MiB, take "off" (Off) for the window,
// and refuse a window of 0 (ambiguous), over an hour or negative and a
// limit outside 64 KiB..256 MiB, naming the key.
func TestResumeSettings(t *testing.T) {
	ini := func(gate string) []byte {
		return []byte("[dispatcher1]\nlisten_addr = 127.0.0.1:0\n[game_common]\nboot_entity = Account\n[game1]\n[gate_common]\n" +
			gate + "[gate1]\nlisten_addr = 127.0.0.1:0\n")
	}
	c, err := Parse("t.ini", ini(""))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Gates[0]; g.ResumeWindow != DefaultResumeWindow || g.ResumeLimit != DefaultResumeLimit || DefaultResumeWindow != time.Minute || DefaultResumeLimit != 1<<20 {
		t.Fatalf("defaults: %v %d", g.ResumeWindow, g.ResumeLimit)
	}
	c, err = Parse("t.ini", ini("resume_window = off\nresume_limit = 65536\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Gates[0]; g.ResumeWindow != Off || g.ResumeLimit != 65536 {
		t.Fatalf("set: %v %d", g.ResumeWindow, g.ResumeLimit)
	}
	for _, bad := range []struct{ gate, key string }{
		{"resume_window = 2h\n", "resume_window"},
		{"resume_window = 0\n", `resume_window = "0": 0 is ambiguous: write resume_window = off to turn it off, or remove the key for the default (1m0s)`},
		{"resume_window = 0s\n", `resume_window = "0s": 0 is ambiguous`},
		{"resume_window = unlimited\n", `resume_window = "unlimited": not a duration (use e.g. 60s, 5m; or off)`},
		{"resume_window = -1s\n", "resume_window"},
		{"resume_window = soon\n", "resume_window"},
		{"resume_limit = 1000\n", "resume_limit"},
		{"resume_limit = 1073741824\n", "resume_limit"},
	} {
		if _, err := Parse("t.ini", ini(bad.gate)); err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%q: %v", bad.gate, err)
		}
	}
}
