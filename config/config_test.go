package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid file: everything else takes its default.
const minimal = noWS + "ws_addr = 127.0.0.1:14002\n"

// noWS is minimal without its WebSocket port.
const noWS = `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game1]
boot_entity = Account
[gate1]
listen_addr = 127.0.0.1:14001
`

func TestDefaultFile(t *testing.T) {
	cfg, err := Load("../config.ini")
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("../config.ini:\n got %+v\nwant %+v", cfg, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestMinimalFileIsDefault(t *testing.T) {
	cfg, err := Parse("config.ini", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
}

func TestDefaultIsACopy(t *testing.T) {
	a := Default()
	a.Gates[0].ListenAddr = "changed"
	if b := Default(); b.Gates[0].ListenAddr != "127.0.0.1:14001" {
		t.Errorf("Default shares state between calls: %q", b.Gates[0].ListenAddr)
	}
}

func TestInheritanceAndOverride(t *testing.T) {
	const text = `
; comment
[dispatcher_common]
log_level = warn
max_packet_size = 1048576
send_buffer_size = 2097152
http_addr = 127.0.0.1:0

[dispatcher2]
listen_addr = 127.0.0.1:13002
log_file = /var/log/d2.log

[dispatcher1]
listen_addr = 127.0.0.1:13001
log_level = debug
http_addr = 127.0.0.1:15001

[game_common]
boot_entity = Avatar
save_interval = 5m
log_level = error

[game7]
save_interval = 2m ; inline comment
log_level = "debug"

[gate_common]
kcp = false
heartbeat_timeout = 1m
heartbeat_interval = 2s
listen_addr = 0.0.0.0:0
max_client_packet_size = 4096
max_packet_size = 8192
send_buffer_size = 8192
client_msg_rate = 10
client_msg_burst = 20
max_clients = unlimited

[gate2]
kcp = yes
client_send_buffer_size = 100
client_msg_rate = Unlimited
client_byte_rate = 5000
client_byte_burst = 9000
max_clients = 7
kcp_session_rate = unlimited
kcp_session_burst = 3
kcp_interval = 40ms
kcp_hello_rate = unlimited
kcp_handshake_timeout = 1500ms

[gate1]
listen_addr = 127.0.0.1:14001

[storage]
type = bbolt
path = data/world#1.db
`
	cfg, err := Parse("config.ini", []byte(text))
	if err != nil {
		t.Fatal(err)
	}

	d1, d2 := newDispatcher(1), newDispatcher(2)
	d1.ListenAddr, d1.HTTPAddr, d1.LogLevel = "127.0.0.1:13001", "127.0.0.1:15001", "debug"
	d2.ListenAddr, d2.HTTPAddr, d2.LogLevel, d2.LogFile = "127.0.0.1:13002", "127.0.0.1:0", "warn", "/var/log/d2.log"
	for _, d := range []*DispatcherConfig{&d1, &d2} {
		d.MaxPacketSize, d.SendBufferSize = 1<<20, 2<<20
	}
	g7 := newGame(7)
	g7.BootEntity, g7.SaveInterval, g7.LogLevel = "Avatar", 2*time.Minute, "debug"
	gt1, gt2 := newGate(1), newGate(2)
	for _, g := range []*GateConfig{&gt1, &gt2} {
		g.KCP, g.HeartbeatTimeout, g.HeartbeatInterval, g.ListenAddr = false, time.Minute, 2*time.Second, "0.0.0.0:0"
		g.MaxClientPacketSize, g.MaxPacketSize, g.SendBufferSize = 4096, 8192, 8192
		g.ClientMsgRate, g.ClientMsgBurst, g.MaxClients = 10, 20, Unlimited
	}
	gt1.ListenAddr = "127.0.0.1:14001"
	gt2.KCP, gt2.ClientSendBufferSize = true, 100
	gt2.ClientMsgRate, gt2.ClientByteRate, gt2.ClientByteBurst = Unlimited, 5000, 9000
	gt2.MaxClients, gt2.KCPSessionRate, gt2.KCPSessionBurst = 7, Unlimited, 3
	gt2.KCPInterval = 40 * time.Millisecond
	gt2.KCPHelloRate, gt2.KCPHandshakeTimeout = Unlimited, 1500*time.Millisecond
	want := &Config{
		Dispatchers: []DispatcherConfig{d1, d2},
		Games:       []GameConfig{g7},
		Gates:       []GateConfig{gt1, gt2},
		Storage:     storageWith(func(s *StorageConfig) { s.Path = "data/world#1.db" }),
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}

	if got := cfg.DispatcherAddrs(); !slices.Equal(got, []string{"127.0.0.1:13001", "127.0.0.1:13002"}) {
		t.Errorf("DispatcherAddrs() = %q", got)
	}
	if d, ok := cfg.Dispatcher(2); !ok || d.Name != "dispatcher2" {
		t.Errorf("Dispatcher(2) = %+v, %v", d, ok)
	}
	if g, ok := cfg.Game(7); !ok || g.BootEntity != "Avatar" {
		t.Errorf("Game(7) = %+v, %v", g, ok)
	}
	if g, ok := cfg.Gate(2); !ok || g.ClientSendBufferSize != 100 {
		t.Errorf("Gate(2) = %+v, %v", g, ok)
	}
	if _, ok := cfg.Game(1); ok {
		t.Error("Game(1) found, want none")
	}
	if _, ok := cfg.Gate(3); ok {
		t.Error("Gate(3) found, want none")
	}
	if _, ok := cfg.Dispatcher(0); ok {
		t.Error("Dispatcher(0) found, want none")
	}
	g, _ := cfg.Gate(1)
	g.KCP = true
	if !cfg.Gates[0].KCP {
		t.Error("Gate(1) does not point into cfg.Gates")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // each must appear in the error, exactly once
		// unwanted must not appear in the error.
		unwanted []string
	}{
		{
			name: "unknown key",
			text: minimal + "[gate_common]\nheartbeat_timout = 10s\n",
			want: []string{`config.ini: [gate_common] unknown key "heartbeat_timout" (did you mean "heartbeat_timeout"?)`},
		},
		{
			name: "keep_freeze_files is a count of files",
			text: minimal + "[game_common]\nkeep_freeze_files = -1\n",
			want: []string{`config.ini: [game_common] keep_freeze_files = "-1": must be a positive whole number`},
		},
		{
			name: "dispatcher recovery bounds",
			text: minimal + "[dispatcher_common]\nrecover_window = 0s\nrecover_queue_limit = -5\n",
			want: []string{
				`config.ini: [dispatcher_common] recover_window = "0s": 0 is ambiguous: write recover_window = off to turn it off, or remove the key for the default (20s)`,
				`config.ini: [dispatcher_common] recover_queue_limit = "-5": must be a positive number of bytes`,
			},
		},
		{
			name: "unknown key in process section",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game1]
boot_entity = Account
[gate1]
listen_addr = 127.0.0.1:14001
heartbeat_timout = 10s
`,
			want: []string{`config.ini: [gate1] unknown key "heartbeat_timout"`},
		},
		{
			name: "key of another kind",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game1]
boot_entity = Account
listen_addr = 127.0.0.1:13005
[gate1]
listen_addr = 127.0.0.1:14001
`,
			want: []string{`config.ini: [game1] unknown key "listen_addr" (it is a key of dispatcher and gate sections)`},
		},
		{
			name: "unknown section",
			text: minimal + "[gat2]\nlisten_addr = 127.0.0.1:14002\n",
			want: []string{`config.ini: [gat2] unknown section`},
		},
		{
			name: "misspelt common section",
			text: minimal + "[game_commom]\nlog_level = debug\n",
			want: []string{`config.ini: [game_commom] unknown section (did you mean [game_common]?)`},
		},
		{
			name: "bad process number",
			text: minimal + "[game0]\n[gate01]\nlisten_addr = 127.0.0.1:14002\n[dispatcher65536]\n",
			want: []string{
				`config.ini: [game0] bad process number "0": must be 1..65535`,
				`config.ini: [gate01] bad process number "01"`,
				`config.ini: [dispatcher65536] bad process number "65536"`,
			},
		},
		{
			name: "key in DEFAULT section",
			text: "log_level = debug\n" + minimal,
			want: []string{`config.ini: [DEFAULT] key "log_level" is outside of any section`},
		},
		{
			name: "explicit DEFAULT section",
			text: minimal + "[DEFAULT]\nfoo = bar\n",
			want: []string{`config.ini: [DEFAULT] key "foo"`},
		},
		{
			name: "duplicate key",
			text: minimal + "[game_common]\nlog_level = debug\nlog_level = warn\n",
			want: []string{`config.ini: [game_common] key "log_level" is set more than once`},
		},
		{
			name: "duplicate key with the same value",
			text: minimal + "[game_common]\nsave_interval = 1m\nsave_interval = 1m\n",
			want: []string{`config.ini: [game_common] key "save_interval" is set more than once`},
		},
		{
			name: "duplicate key first empty",
			text: minimal + "[gate_common]\nhttp_addr =\nhttp_addr = 127.0.0.1:15000\n",
			want: []string{`config.ini: [gate_common] key "http_addr" is set more than once`},
		},
		{
			name: "duplicate section",
			text: minimal + "[game1]\nlog_level = debug\n",
			want: []string{`config.ini: [game1] section appears more than once`},
		},
		{
			name: "bad duration",
			text: minimal + "[game_common]\nsave_interval = 10 minutes\n",
			want: []string{`config.ini: [game_common] save_interval = "10 minutes": not a duration (use e.g. 60s, 5m)`},
		},
		{
			name: "zero position sync interval",
			text: minimal + "[game_common]\nposition_sync_interval = 0s\n",
			want: []string{`config.ini: [game_common] position_sync_interval = "0s": must be positive`},
		},
		{
			name: "bad AOI sync limit",
			text: minimal + "[game_common]\naoi_sync_limit = many\n",
			want: []string{`config.ini: [game_common] aoi_sync_limit = "many": must be a positive whole number`},
		},
		{
			name: "AOI sync limit past what a positions message counts",
			text: minimal + "[game_common]\naoi_sync_limit = 65536\n",
			want: []string{`config.ini: [game_common] aoi_sync_limit = "65536": must be at most 65535`},
		},
		{
			name: "bad client limits",
			text: minimal + "[gate_common]\nclient_msg_rate = -1\nclient_byte_rate = 1MiB\nmax_clients = lots\n" +
				"client_msg_burst = 0\nclient_byte_burst = -5\nkcp_session_rate = 1.5\nkcp_session_burst = none\n",
			want: []string{
				`config.ini: [gate_common] client_msg_rate = "-1": must be positive (or unlimited)`,
				`config.ini: [gate_common] client_byte_rate = "1MiB": not a whole number (or unlimited)`,
				`config.ini: [gate_common] max_clients = "lots": not a whole number (or unlimited)`,
				`config.ini: [gate_common] client_msg_burst = "0": must be a positive whole number`,
				`config.ini: [gate_common] client_byte_burst = "-5": must be a positive whole number`,
				`config.ini: [gate_common] kcp_session_rate = "1.5": not a whole number (or unlimited)`,
				`config.ini: [gate_common] kcp_session_burst = "none": must be a positive whole number`,
			},
		},
		{
			name: "bad WebSocket settings",
			text: noWS + "ws_addr = 127.0.0.1:14001\nws_tls_cert = cert.pem\nws_origins = https://ok.example, game.example, https://x.example/path\n",
			want: []string{
				`config.ini: [gate1] ws_addr = "127.0.0.1:14001": address already used by [gate1] listen_addr`,
				`config.ini: [gate1] ws_tls_cert and ws_tls_key go together`,
				`config.ini: [gate1] ws_origins = "https://ok.example, game.example, https://x.example/path": "game.example" is not an origin`,
			},
		},
		{
			name: "TLS key without its certificate",
			text: minimal + "tls_key = key.pem\n",
			want: []string{`config.ini: [gate1] tls_cert and tls_key go together`},
		},
		{
			name: "WebSocket settings without ws_addr",
			text: noWS + "ws_tls_cert = c.pem\nws_tls_key = k.pem\nws_origins = https://ok.example\n",
			want: []string{
				`config.ini: [gate1] ws_tls_cert is set but ws_addr is not`,
				`config.ini: [gate1] ws_origins is set but ws_addr is not`,
			},
		},
		{
			name: "limit in a process section",
			text: minimal + "max_clients = -3\n",
			want: []string{`config.ini: [gate1] max_clients = "-3": must be positive (or unlimited)`},
		},
		{
			name: "exempt networks that are not",
			text: minimal + "max_clients_per_ip_exempt = 10.0.0.0/8, proxy.example\n",
			want: []string{`config.ini: [gate1] max_clients_per_ip_exempt = "10.0.0.0/8, proxy.example": "proxy.example": not a network (10.0.0.0/8) or an address`},
		},
		{
			name: "exempt networks empty",
			text: minimal + "max_clients_per_ip_exempt = ,\n",
			want: []string{`max_clients_per_ip_exempt = ",": no network (write none to exempt nothing)`},
		},
		{
			name: "duration without unit",
			text: minimal + "[gate_common]\nheartbeat_timeout = 30\n",
			want: []string{`config.ini: [gate_common] heartbeat_timeout = "30": not a duration`},
		},
		{
			name: "negative duration",
			text: minimal + "[game_common]\nsave_interval = -1s\n",
			want: []string{`config.ini: [game_common] save_interval = "-1s": must be positive`},
		},
		{
			name: "zero duration",
			text: minimal + "[game_common]\nsave_interval = 0\n",
			want: []string{`config.ini: [game_common] save_interval = "0": must be positive`},
		},
		{
			name: "bad bool",
			text: minimal + "[gate_common]\nkcp = maybe\n",
			want: []string{`config.ini: [gate_common] kcp = "maybe": not a boolean (use true or false)`},
		},
		{
			name: "bad size",
			text: minimal + "[dispatcher_common]\nmax_packet_size = 16M\nsend_buffer_size = 0\n",
			want: []string{
				`config.ini: [dispatcher_common] max_packet_size = "16M": not a whole number of bytes`,
				`config.ini: [dispatcher_common] send_buffer_size = "0": must be a positive number of bytes`,
			},
		},
		{
			name: "packet size too large",
			text: minimal + "[game_common]\nmax_packet_size = 99999999999\nsend_buffer_size = 99999999999\n",
			want: []string{`config.ini: [game_common] max_packet_size = "99999999999": must be at most 1073741824 bytes`},
		},
		{
			name: "client packet larger than server packet",
			text: minimal + "[gate_common]\nmax_client_packet_size = 2048\nmax_packet_size = 1024\n",
			want: []string{`config.ini: [gate1] max_client_packet_size (2048) must not exceed max_packet_size (1024)`},
		},
		{
			name: "kcp interval out of range",
			text: minimal + "[gate_common]\nkcp_interval = 5ms\n[gate2]\nlisten_addr = 127.0.0.1:14003\nkcp_interval = 2s\n[gate3]\nlisten_addr = 127.0.0.1:14004\nkcp_interval = 15500us\n",
			want: []string{
				`config.ini: [gate_common] kcp_interval = "5ms": must be whole milliseconds from 10ms to 1s`,
				`config.ini: [gate2] kcp_interval = "2s": must be whole milliseconds from 10ms to 1s`,
				`config.ini: [gate3] kcp_interval = "15.5ms": must be whole milliseconds from 10ms to 1s`,
			},
		},
		{
			name: "heartbeat interval out of range, or over half the timeout",
			text: minimal + "[gate_common]\nheartbeat_interval = 50ms\n[gate2]\nlisten_addr = 127.0.0.1:14003\nheartbeat_interval = 11m\nheartbeat_timeout = 1h\n[gate3]\nlisten_addr = 127.0.0.1:14004\nheartbeat_interval = 2s\nheartbeat_timeout = 3s\n",
			want: []string{
				`config.ini: [gate_common] heartbeat_interval = "50ms": must be from 100ms to 10m`,
				`config.ini: [gate2] heartbeat_interval = "11m0s": must be from 100ms to 10m`,
				`config.ini: [gate3] heartbeat_interval (2s) must be at most half of heartbeat_timeout (3s): a client whose heartbeat or its answer is lost once must not be taken for dead`,
			},
		},
		{
			name: "kcp handshake timeout",
			text: minimal + "[gate_common]\nkcp_handshake_timeout = 0s\nkcp_hello_rate = -1\n",
			want: []string{
				`config.ini: [gate_common] kcp_handshake_timeout = "0s": must be positive`,
				`config.ini: [gate_common] kcp_hello_rate = "-1": must be positive (or unlimited)`,
			},
		},
		{
			name: "send buffer smaller than a packet",
			text: minimal + "[dispatcher_common]\nsend_buffer_size = 1000\n",
			want: []string{`config.ini: [dispatcher1] send_buffer_size (1000) must be at least max_packet_size (16777216)`},
		},
		{
			name: "bad log level",
			text: minimal + "[gate_common]\nlog_level = verbose\n",
			want: []string{`config.ini: [gate_common] log_level = "verbose": not a log level (use debug, info, warn, error)`},
		},
		{
			name: "admin address not on loopback",
			text: minimal + "[gate_common]\nhttp_addr = 0.0.0.0:15000\n[game_common]\nhttp_addr = :15001\n",
			want: []string{
				`config.ini: [game_common] http_addr = ":15001": is not a loopback address`,
				`config.ini: [gate_common] http_addr = "0.0.0.0:15000": is not a loopback address`,
			},
		},
		{
			name: "empty log file",
			text: minimal + "[game_common]\nlog_file =\n",
			want: []string{`config.ini: [game1] log_file must not be empty`},
		},
		{
			name: "bad address",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game1]
boot_entity = Account
http_addr = localhost
[gate1]
listen_addr = localhost
`,
			want: []string{
				`config.ini: [gate1] listen_addr = "localhost": not host:port (missing port in address)`,
				`config.ini: [game1] http_addr = "localhost": not host:port`,
			},
		},
		{
			name: "bad port",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:70000
[game1]
boot_entity = Account
[gate1]
listen_addr = 127.0.0.1:http
`,
			want: []string{
				`config.ini: [dispatcher1] listen_addr = "127.0.0.1:70000": port must be a number 0..65535`,
				`config.ini: [gate1] listen_addr = "127.0.0.1:http": port must be a number 0..65535`,
			},
		},
		{
			name: "bad address in common section reported once",
			text: `
[dispatcher_common]
listen_addr = 127.0.0.1:-1
[dispatcher1]
[dispatcher2]
[game1]
boot_entity = Account
[gate1]
listen_addr = 127.0.0.1:14001
`,
			want: []string{`config.ini: [dispatcher_common] listen_addr = "127.0.0.1:-1": port must be a number 0..65535`},
		},
		{
			name: "duplicate address",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game1]
boot_entity = Account
http_addr = 127.0.0.1:13001
[gate1]
listen_addr = 127.0.0.1:13001
`,
			want: []string{
				`config.ini: [game1] http_addr = "127.0.0.1:13001": address already used by [dispatcher1] listen_addr (every process needs its own port)`,
				`config.ini: [gate1] listen_addr = "127.0.0.1:13001": address already used by [dispatcher1] listen_addr`,
			},
		},
		{
			name: "duplicate address inherited",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game1]
boot_entity = Account
[gate_common]
listen_addr = 127.0.0.1:14001
[gate1]
[gate2]
`,
			want: []string{`config.ini: [gate2] listen_addr = "127.0.0.1:14001": address already used by [gate1] listen_addr`},
		},
		{
			name: "missing listen_addr",
			text: `
[dispatcher1]
[game1]
boot_entity = Account
[gate1]
listen_addr = 127.0.0.1:14001
`,
			want: []string{`config.ini: [dispatcher1] listen_addr is required`},
		},
		{
			name: "no processes",
			text: "[storage]\npath = x.db\n",
			want: []string{
				`config.ini: no dispatcher: add a [dispatcher1] section with a listen_addr`,
				`config.ini: no game: add a [game1] section`,
				`config.ini: no gate: add a [gate1] section with a listen_addr`,
			},
		},
		{
			name: "no gate",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game1]
boot_entity = Account
[gate_common]
listen_addr = 127.0.0.1:14001
`,
			want: []string{`config.ini: no gate: add a [gate1] section with a listen_addr`},
		},
		{
			name: "bad boot_entity",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game_common]
boot_entity = my-entity
[game1]
[gate1]
listen_addr = 127.0.0.1:14001
`,
			want: []string{`config.ini: [game_common] boot_entity = "my-entity": not a valid Go identifier`},
		},
		{
			name: "missing boot_entity",
			text: `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game1]
[gate1]
listen_addr = 127.0.0.1:14001
`,
			want: []string{`config.ini: [game1] boot_entity is required`},
		},
		{
			name: "two games with bbolt",
			text: minimal + "[game2]\nboot_entity = Account\n",
			want: []string{`config.ini: [storage] type = "bbolt": allows one game process (a bbolt file can be opened by one process at a time), ` +
				`but 2 are configured: [game1], [game2]; to run several games, set type = redis and addr = HOST:PORT`},
		},
		{
			name: "unknown storage type",
			text: minimal + "[storage]\ntype = mongodb\n",
			want: []string{`config.ini: [storage] type = "mongodb": unknown storage type (use bbolt, redis or none)`},
		},
		{
			name: "bbolt needs a path",
			text: minimal + "[storage]\ntype = bbolt\npath =\n",
			want: []string{`config.ini: [storage] path is required`},
		},
		{
			name: "host on some processes only",
			text: minimal + "[dispatcher_common]\nhost = a\n",
			want: []string{
				`config.ini: [game1] host is not set, but other processes name their hosts (a): set host in every process section, or once in its _common section`,
				`config.ini: [gate1] host is not set, but other processes name their hosts (a)`,
			},
		},
		{
			name: "bad host names",
			text: minimal + "[dispatcher_common]\nhost = -a\n[game_common]\nhost = a b\n[gate_common]\nhost = " + strings.Repeat("h", 64) + "\n",
			want: []string{
				`config.ini: [dispatcher_common] host = "-a": not a host name (letters, digits, '-', '_' and '.', starting with a letter or digit`,
				`config.ini: [game_common] host = "a b": not a host name`,
				`config.ini: [gate_common] host = "` + strings.Repeat("h", 64) + `": is longer than 63 bytes`,
			},
			unwanted: []string{"is not set", "loopback"}, // no follow-ups of the bad names
		},
		{
			name: "dispatcher unreachable from other hosts",
			text: `
[dispatcher1]
host = a
listen_addr = 127.0.0.1:13001
[dispatcher2]
host = a
listen_addr = 0.0.0.0:13002
[dispatcher3]
host = a
listen_addr = 10.0.0.1:0
[dispatcher4]
host = a
listen_addr = 0.0.0.0:13004
advertise_addr = 0.0.0.0:13004
[dispatcher5]
host = a
listen_addr = 0.0.0.0:13005
advertise_addr = 10.0.0.1:0
[game_common]
boot_entity = Account
[game1]
host = b
[gate1]
host = a
listen_addr = 127.0.0.1:14001
[storage]
type = redis
addr = 10.0.0.5:6379
`,
			want: []string{
				`config.ini: [dispatcher1] listen_addr = "127.0.0.1:13001": is a loopback address, but games or gates on other hosts (b) dial this dispatcher: ` +
					`listen on this host's address on the network they share with a fixed port, or set advertise_addr to it`,
				`config.ini: [dispatcher2] listen_addr = "0.0.0.0:13002": names every interface rather than one address, but games or gates on other hosts (b)`,
				`config.ini: [dispatcher3] listen_addr = "10.0.0.1:0": has port 0 (a port picked at start-up, which other hosts cannot know), but games`,
				`config.ini: [dispatcher4] advertise_addr = "0.0.0.0:13004": names every interface rather than one address: it is the address games and gates dial`,
				`config.ini: [dispatcher5] advertise_addr = "10.0.0.1:0": has port 0`,
			},
		},
		{
			name: "same address twice on one host",
			text: minimal + "[dispatcher_common]\nhost = a\n[game_common]\nhost = a\n[gate_common]\nhost = a\n[gate2]\nlisten_addr = 127.0.0.1:14001\n",
			want: []string{`config.ini: [gate2] listen_addr = "127.0.0.1:14001": address already used by [gate1] listen_addr`},
		},
		{
			name: "auto-numbered key",
			text: minimal + "[storage]\n- = bbolt\n",
			want: []string{`config.ini: [storage] auto-numbered key "-" (#1) is not allowed`},
		},
		{
			name: "multi-line value",
			text: minimal + "[storage]\npath = \"\"\"a\nb.db\"\"\"\n",
			want: []string{`config.ini: [storage] path = "a\nb.db": multi-line values are not allowed`},
		},
		{
			name: "ini syntax error",
			text: minimal + "[storage]\ntype: bbolt\n",
			want: []string{`config.ini: key-value delimiter not found`},
		},
		{
			name: "many problems at once",
			text: `
foo = 1
[dispatcher1]
listen_addr = nowhere
[game_common]
save_interval = soon
[game1]
boot_entity = 1x
[gate1]
listen_addr = 127.0.0.1:14001
kcp = sometimes
bogus = 1
`,
			want: []string{
				`config.ini: [DEFAULT] key "foo"`,
				`config.ini: [dispatcher1] listen_addr = "nowhere": not host:port`,
				`config.ini: [game_common] save_interval = "soon": not a duration`,
				`config.ini: [game1] boot_entity = "1x": not a valid Go identifier`,
				`config.ini: [gate1] kcp = "sometimes": not a boolean`,
				`config.ini: [gate1] unknown key "bogus"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("config.ini", []byte(tt.text))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if n := strings.Count(msg, w); n != 1 {
					t.Errorf("error contains %q %d times, want once; error:\n%s", w, n, msg)
				}
			}
			for _, u := range tt.unwanted {
				if strings.Contains(msg, u) {
					t.Errorf("error contains %q; error:\n%s", u, msg)
				}
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "config.ini: ") {
					t.Errorf("error line %q does not start with the file name", line)
				}
			}
		})
	}
}

// TestSyntaxErrorHidesFollowUps checks that a value that could not be read
// does not cause more messages about the default put in its place.
func TestSyntaxErrorHidesFollowUps(t *testing.T) {
	text := minimal + "[gate_common]\nmax_packet_size = big\nmax_client_packet_size = 100000000\n"
	_, err := Parse("config.ini", []byte(text))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	want := `config.ini: [gate_common] max_packet_size = "big": not a whole number of bytes (e.g. 16777216)`
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.ini")
	if err := os.WriteFile(path, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load(%s) = %+v", path, cfg)
	}

	if err := os.WriteFile(path, []byte(minimal+"[game1]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+": [game1] ") {
		t.Errorf("Load of a bad file: %v, want prefix %q", err, path+": [game1] ")
	}

	missing := filepath.Join(dir, "missing.ini")
	_, err = Load(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), missing+": ") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestValidateHandBuilt(t *testing.T) {
	// A typical test cluster: every address on a free port.
	ok := Default()
	ok.Dispatchers = append(ok.Dispatchers, newDispatcher(2))
	for i := range ok.Dispatchers {
		ok.Dispatchers[i].ListenAddr = "127.0.0.1:0"
		ok.Dispatchers[i].HTTPAddr = "127.0.0.1:0"
	}
	ok.Gates[0].ListenAddr = "127.0.0.1:0"
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	if got := ok.DispatcherAddrs(); !slices.Equal(got, []string{"127.0.0.1:0", "127.0.0.1:0"}) {
		t.Errorf("DispatcherAddrs() = %q", got)
	}

	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string
	}{
		{"nil", nil, []string{"config is nil"}},
		{"empty", func(c *Config) { *c = Config{} }, []string{
			"no dispatcher", "no game", "no gate", "[storage] type is required (bbolt, redis or none)",
		}},
		{"zero values", func(c *Config) {
			c.Gates[0] = GateConfig{ID: 1, Name: "gate1"}
		}, []string{
			"[gate1] listen_addr is required",
			`[gate1] heartbeat_timeout = "0s": must be positive`,
			`[gate1] max_client_packet_size = "0": must be a positive number of bytes`,
			`[gate1] client_send_buffer_size = "0"`,
			`[gate1] max_packet_size = "0"`,
			`[gate1] send_buffer_size = "0"`,
			`[gate1] log_level = "": not a log level`,
			"[gate1] log_file must not be empty",
			`[gate1] client_msg_burst = "0": must be a positive whole number`,
			`[gate1] client_byte_burst = "0": must be a positive whole number`,
			`[gate1] kcp_session_burst = "0": must be a positive whole number`,
		}},
		{"limits and windows", func(c *Config) {
			// Unlimited (-1) is fine; 0 and other negatives are not.
			c.Gates[0].MaxClients, c.Gates[0].KCPSessionRate, c.Gates[0].ClientMsgRate = Unlimited, -2, 0
			c.Gates[0].ResumeWindow, c.Games[0].MaxClientString = 0, -7
			c.Dispatchers[0].RecoverWindow, c.Games[0].SlowCall = Off, -time.Second
		}, []string{
			`[gate1] kcp_session_rate = "-2": must be a positive whole number, or unlimited (Unlimited)`,
			`[gate1] client_msg_rate = "0": must be a positive whole number, or unlimited (Unlimited)`,
			`[gate1] resume_window = "0s": must be positive and at most 1h, or off (Off)`,
			`[game1] max_client_string = "-7": must be a positive whole number, or unlimited (Unlimited)`,
			`[game1] slow_call = "-1s": must be positive, or off (Off)`,
		}},
		{"bad IDs", func(c *Config) {
			c.Dispatchers = append(c.Dispatchers, c.Dispatchers[0])
			c.Dispatchers[1].ListenAddr = "127.0.0.1:13002"
			g := newGate(3)
			g.ListenAddr = "127.0.0.1:14003"
			c.Gates = append([]GateConfig{g}, c.Gates...)
			c.Games[0].ID = 0
		}, []string{
			"[dispatcher1] more than one dispatcher has ID 1",
			"[gate1] gates must be sorted by ID (gate1 comes after gate3)",
			"[game0] process ID 0 out of range 1..65535",
			`[game0] Name is "game1", want "game0"`,
		}},
		{"same address different spelling", func(c *Config) {
			c.Gates[0].ListenAddr = "127.0.0.1:013001"
			c.Games[0].HTTPAddr = "[::1]:80"
			c.Gates[0].HTTPAddr = "[::1]:80"
		}, []string{
			`[gate1] listen_addr = "127.0.0.1:013001": address already used by [dispatcher1] listen_addr`,
			`[gate1] http_addr = "[::1]:80": address already used by [game1] http_addr`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *Config
			if tt.modify != nil {
				c = Default()
				tt.modify(c)
			}
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			for _, w := range tt.want {
				if n := strings.Count(err.Error(), w); n != 1 {
					t.Errorf("error contains %q %d times, want once; error:\n%s", w, n, err)
				}
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"heartbeat_timout", "heartbeat_timeout", 1},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestAdminAddress(t *testing.T) {
	cfg, err := Parse("config.ini", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if a, b, c := cfg.Dispatchers[0].HTTPAddr, cfg.Games[0].HTTPAddr, cfg.Gates[0].HTTPAddr; a != DefaultHTTPAddr || b != a || c != a {
		t.Errorf("default http_addr = %q %q %q, want %q", a, b, c, DefaultHTTPAddr)
	}
	// Empty disables; a remote address is allowed when asked for.
	cfg, err = Parse("config.ini", []byte(minimal+"[dispatcher_common]\nhttp_addr =\n[gate_common]\nhttp_addr = 0.0.0.0:15000\nhttp_allow_remote = true\n[game_common]\nhttp_addr = [::1]:15001\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d, g, gt := cfg.Dispatchers[0], cfg.Games[0], cfg.Gates[0]; d.HTTPAddr != "" || g.HTTPAddr != "[::1]:15001" || g.HTTPAllowRemote ||
		gt.HTTPAddr != "0.0.0.0:15000" || !gt.HTTPAllowRemote {
		t.Errorf("got %+v\n%+v\n%+v", d, g, gt)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.9.9.9:1": true, "[::1]:1": true, "LocalHost:1": true,
		":1": false, "0.0.0.0:1": false, "[::]:1": false, "10.0.0.1:1": false, "example.com:1": false, "127.0.0.1": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}

func TestDispatcherRecoverySettings(t *testing.T) {
	cfg, err := Parse("config.ini", []byte(minimal+"[dispatcher_common]\nrecover_window = 5s\nrecover_queue_limit = 1048576\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Dispatchers[0]
	if d.RecoverWindow != 5*time.Second || d.RecoverQueueLimit != 1<<20 {
		t.Errorf("recover_window %v, recover_queue_limit %d; want 5s, 1048576", d.RecoverWindow, d.RecoverQueueLimit)
	}
}

func TestWebSocketSettings(t *testing.T) {
	cfg, err := Parse("config.ini", []byte(noWS+"ws_addr = 127.0.0.1:14002\nws_tls_cert = tls/cert.pem\nws_tls_key = tls/key.pem\n"+
		"ws_origins = https://game.example http://localhost:8080/, HTTPS://Other.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Gates[0]
	if g.WSAddr != "127.0.0.1:14002" || g.WSTLSCert != "tls/cert.pem" || g.WSTLSKey != "tls/key.pem" {
		t.Errorf("ws_addr %q, ws_tls_cert %q, ws_tls_key %q", g.WSAddr, g.WSTLSCert, g.WSTLSKey)
	}
	want := []string{"https://game.example", "http://localhost:8080", "https://Other.example"}
	if strings.Join(g.WSOrigins, " ") != strings.Join(want, " ") {
		t.Errorf("ws_origins %q, want %q", g.WSOrigins, want)
	}
	cfg, err = Parse("config.ini", []byte(noWS))
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Gates[0]; g.WSAddr != "" || g.WSOrigins != nil || g.WSTLSCert != "" {
		t.Errorf("a gate without ws_addr serves WebSocket: %+v", g)
	}
}

// TestHeartbeatIntervalDefault: without heartbeat_interval a
// gate's interval is left to the gate (5s, or half of a shorter
// heartbeat_timeout), so a config with a short timeout stays valid; one
// that is set is kept.
func TestHeartbeatIntervalDefault(t *testing.T) {
	for _, tc := range []struct {
		text string
		want time.Duration
	}{
		{"[gate_common]\nheartbeat_timeout = 4s\n", 0},
		{"[gate_common]\nheartbeat_timeout = 4s\nheartbeat_interval = 1s\n", time.Second},
	} {
		cfg, err := Parse("config.ini", []byte(minimal+tc.text))
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if got := cfg.Gates[0].HeartbeatInterval; got != tc.want {
			t.Errorf("%q: heartbeat_interval %v, want %v", tc.text, got, tc.want)
		}
	}
}
