package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParse parses arbitrary config.ini contents. Parse must not panic;
// it returns a configuration that passes Validate, or an error whose
// every problem is prefixed with the file name; and the same text gives
// the same result every time (problems in the same order).
func FuzzParse(f *testing.F) {
	def, err := os.ReadFile("../config.ini")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(def),
		minimal,
		"",
		minimal + "[gate_common]\nheartbeat_timout = 10s\n",
		minimal + "[gat2]\nlisten_addr = 127.0.0.1:14002\n",
		minimal + "[game1]\nsave_interval = 5m\n",
		minimal + "[gate1]\nlisten_addr = 127.0.0.1:14001\nlisten_addr = 127.0.0.1:14002\n",
		minimal + "[game_common]\nsave_interval = -1s\naoi_sync_limit = 99999999999999999999\n",
		minimal + "[gate_common]\nmax_client_packet_size = 1k\nkcp = maybe\n",
		minimal + "[storage]\ntype = redis\npath = \n",
		minimal + "[storage]\ntype = redis\naddrs = a:1, b:2,c:3\npassword = p\nkey_prefix = w:\ndial_timeout = 1s\nread_timeout = 2s\nwrite_timeout = 3s\n",
		minimal + "[storage]\ntype = redis\naddr = a:1\ndb = 3\naddrs = x,\xff\x01:9\nkey_prefix = {\n",
		minimal + "[storage]\ntype = \x00bolt\naddr = a:1\npassword = \"\"\"a\nb\"\"\"\n",
		minimal + "[storage]\ntype = redis\naddr = a:1\nusername = u\ntls = yes\ntls_ca = ca.pem\ntls_cert = c.pem\ntls_server_name = \xff\n",
		minimal + "[gate_common]\nmax_clients_per_ip = 0\nmax_clients_per_ip_exempt = 10.0.0.0/33, ::1/128,, none fe80::%eth0\n",
		"key = value\n[dispatcher0]\n[game-1]\n[gate99999999999999999999]\n",
		"[dispatcher1\nlisten_addr\n= x\n",
		"[game_common]\nlog_level = \"debug\n[game1]\nboot_entity = `A` ; c\n",
		minimal + "[dispatcher1]\nhttp_addr = 127.0.0.1:15001\n",
		minimal + "[gate1\x1b]\nlisten_addr = \x01\xff\n[game1]\nmax_client_string = -5\n",
		"\x7fELF\x02\x01\x01\x00\x00",
		threeHosts,
		minimal + "[dispatcher_common]\nhost = a\n[game1]\nhost = \x01b\n[gate1]\nhost = -c\n",
		minimal + "[dispatcher1]\nadvertise_addr = 0.0.0.0:0\nhost = a\n[game_common]\nhost = b\n[gate_common]\nhost = b\n",
		minimal + "[game2]\nboot_entity = Account\n[storage]\ntype = none\n",
		minimal + "[cluster]\nsecret = short\nsecret_file = cluster.secret\n",
		minimal + "[gate_common]\nmax_clients = unlimited\nclient_msg_rate = UNLIMITED\nresume_window = off\nkcp_hello_rate = 0\n",
		minimal + "[game_common]\nmax_client_string = 0\nslow_call = Off\n[dispatcher_common]\nrecover_window = 0s\n",
		minimal + "[gate_common]\nmax_clients = unlimite\nresume_window = of\nkcp_session_rate = -1\n[dispatcher_common]\nrecover_window = unlimited\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.ini"
		cfg, err := Parse(name, data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one of a config and an error", cfg, err)
		}
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			if len(errs) > maxProblems+1 {
				t.Fatalf("%d problems reported, want at most %d and a count", len(errs), maxProblems)
			}
			for _, e := range errs {
				msg := e.Error()
				if !strings.HasPrefix(msg, name+": ") {
					t.Fatalf("problem without the file name: %q", e)
				}
				// Nothing from the file reaches the message raw or long.
				if len(msg) > len(name)+2+2*maxShownMsg+64 {
					t.Fatalf("a problem of %d bytes: %.300q", len(msg), msg)
				}
				for _, r := range msg {
					if !unicode.IsPrint(r) || r == utf8.RuneError {
						t.Fatalf("unprintable %U in %q", r, msg)
					}
				}
			}
			if _, again := Parse(name, data); again == nil || again.Error() != err.Error() {
				t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err, again)
			}
			var se syntaxError
			if errors.As(err, &se) && len(errs) != 1 {
				t.Fatalf("a syntax error among other problems: %v", err)
			}
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", verr)
		}
		if again, _ := Parse(name, data); !reflect.DeepEqual(again, cfg) {
			t.Fatalf("Parse is not deterministic: %+v then %+v", cfg, again)
		}
	})
}
