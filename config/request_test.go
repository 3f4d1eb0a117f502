package config

import (
	"strings"
	"testing"
	"time"
)

// TestRequestSettings: request_timeout and slow_call in [game_common] (or
// a game's section) and max_client_requests in [gate_common] are read,
// default when absent, and a value that is not positive is an error
// naming the key.
func TestRequestSettings(t *testing.T) {
	base := "[dispatcher1]\nlisten_addr = 127.0.0.1:0\n[game_common]\nboot_entity = Account\n%s[game1]\n[gate_common]\n%s[gate1]\nlisten_addr = 127.0.0.1:0\n"
	ini := func(game, gate string) []byte {
		return []byte(strings.Replace(strings.Replace(base, "%s", game, 1), "%s", gate, 1))
	}
	c, err := Parse("t.ini", ini("", ""))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Games[0]; g.RequestTimeout != DefaultRequestTimeout || g.SlowCall != DefaultSlowCall || c.Gates[0].MaxClientRequests != DefaultMaxClientRequests {
		t.Fatalf("defaults: %v %v %d", g.RequestTimeout, g.SlowCall, c.Gates[0].MaxClientRequests)
	}
	c, err = Parse("t.ini", ini("request_timeout = 3s\nslow_call = 10ms\n", "max_client_requests = 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Games[0]; g.RequestTimeout != 3*time.Second || g.SlowCall != 10*time.Millisecond || c.Gates[0].MaxClientRequests != 5 {
		t.Fatalf("set: %v %v %d", g.RequestTimeout, g.SlowCall, c.Gates[0].MaxClientRequests)
	}
	for _, bad := range []struct{ game, gate, key string }{
		{"request_timeout = 0s\n", "", "request_timeout"},
		{"slow_call = -1ms\n", "", "slow_call"},
		{"", "max_client_requests = 0\n", "max_client_requests"},
	} {
		if _, err := Parse("t.ini", ini(bad.game, bad.gate)); err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%s: %v", bad.key, err)
		}
	}
}
