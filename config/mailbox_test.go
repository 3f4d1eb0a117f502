package config

import (
	"strings"
	"testing"
)

// TestMailboxLimit: mailbox_limit in [game_common] is read, defaults to
// 256 when absent, and a value outside 1..65536 is an error naming the
// key.
func TestMailboxLimit(t *testing.T) {
	ini := func(game string) []byte {
		return []byte("[dispatcher1]\nlisten_addr = 127.0.0.1:0\n[game_common]\nboot_entity = Account\n" + game +
			"[game1]\n[gate1]\nlisten_addr = 127.0.0.1:0\n")
	}
	c, err := Parse("t.ini", ini(""))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Games[0].MailboxLimit; got != 256 {
		t.Fatalf("default mailbox_limit %d, want 256", got)
	}
	if c, err = Parse("t.ini", ini("mailbox_limit = 65536\n")); err != nil {
		t.Fatal(err)
	}
	if got := c.Games[0].MailboxLimit; got != 65536 {
		t.Fatalf("mailbox_limit %d, want 65536", got)
	}
	for _, bad := range []string{"0", "-1", "65537", "many"} {
		if _, err := Parse("t.ini", ini("mailbox_limit = "+bad+"\n")); err == nil || !strings.Contains(err.Error(), "mailbox_limit") {
			t.Errorf("mailbox_limit = %s: %v", bad, err)
		}
	}
}
