package config

import (
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// keySamples holds, per section kind and key, lines that set the key to a
// valid value other than its default (with the keys it needs: tls_key
// with tls_cert...). host is set in every section (see sampleText).
var keySamples = map[string]map[string]string{
	dispatcherKind: {
		"host": "host = a", "listen_addr": "listen_addr = 127.0.0.1:13009", "advertise_addr": "advertise_addr = 127.0.0.1:13001",
		"http_addr": "http_addr = 127.0.0.1:15001", "http_allow_remote": "http_allow_remote = true",
		"log_level": "log_level = debug", "log_file": "log_file = d.log", "max_packet_size": "max_packet_size = 1048576",
		"send_buffer_size": "send_buffer_size = 33554432", "freeze_queue_limit": "freeze_queue_limit = 1000",
		"restore_timeout": "restore_timeout = 5s", "recover_window": "recover_window = off", "recover_queue_limit": "recover_queue_limit = 1000",
	},
	gameKind: {
		"host": "host = a", "boot_entity": "boot_entity = Avatar", "save_interval": "save_interval = 5m", "freeze_dir": "freeze_dir = fz",
		"keep_freeze_files": "keep_freeze_files = 2", "freeze_timeout": "freeze_timeout = 3s",
		"position_sync_interval": "position_sync_interval = 50ms", "stall_threshold": "stall_threshold = 2s",
		"aoi_sync_limit": "aoi_sync_limit = 10", "aoi_sync_total": "aoi_sync_total = 10", "aoi_sync_work": "aoi_sync_work = 10",
		"aoi_view_limit":    "aoi_view_limit = 100",
		"max_client_string": "max_client_string = unlimited", "request_timeout": "request_timeout = 3s",
		"max_client_coordinate": "max_client_coordinate = 5000",
		"service_grace":         "service_grace = 1s", "slow_call": "slow_call = off", "mailbox_limit": "mailbox_limit = 10",
		"http_addr": "http_addr = 127.0.0.1:15002", "http_allow_remote": "http_allow_remote = true", "log_level": "log_level = debug",
		"log_file": "log_file = g.log", "max_packet_size": "max_packet_size = 1048576", "send_buffer_size": "send_buffer_size = 33554432",
	},
	gateKind: {
		"host": "host = a", "listen_addr": "listen_addr = 127.0.0.1:14009", "http_addr": "http_addr = 127.0.0.1:15003",
		"http_allow_remote": "http_allow_remote = true", "kcp": "kcp = false", "ws_addr": "ws_addr = 127.0.0.1:14002",
		"tls_cert": "tls_cert = c.pem\ntls_key = k.pem", "tls_key": "tls_cert = c.pem\ntls_key = k.pem",
		"ws_tls_cert":       "ws_addr = 127.0.0.1:14002\nws_tls_cert = c.pem\nws_tls_key = k.pem",
		"ws_tls_key":        "ws_addr = 127.0.0.1:14002\nws_tls_cert = c.pem\nws_tls_key = k.pem",
		"ws_origins":        "ws_addr = 127.0.0.1:14002\nws_origins = https://a.example",
		"heartbeat_timeout": "heartbeat_timeout = 20s", "heartbeat_interval": "heartbeat_interval = 2s",
		"max_client_packet_size": "max_client_packet_size = 1000", "client_send_buffer_size": "client_send_buffer_size = 1000",
		"max_packet_size": "max_packet_size = 1048576", "send_buffer_size": "send_buffer_size = 33554432",
		"log_level": "log_level = debug", "log_file": "log_file = t.log",
		"client_msg_rate": "client_msg_rate = unlimited", "client_msg_burst": "client_msg_burst = 5",
		"client_byte_rate": "client_byte_rate = unlimited", "client_byte_burst": "client_byte_burst = 5",
		"max_clients": "max_clients = unlimited", "max_clients_per_ip": "max_clients_per_ip = 8", "max_clients_per_ip_exempt": "max_clients_per_ip_exempt = 10.0.0.0/8, 192.0.2.7", "max_client_requests": "max_client_requests = 5",
		"kcp_session_rate": "kcp_session_rate = unlimited", "kcp_session_burst": "kcp_session_burst = 5",
		"kcp_hello_rate": "kcp_hello_rate = unlimited", "kcp_handshake_timeout": "kcp_handshake_timeout = 1s",
		"kcp_interval": "kcp_interval = 20ms", "resume_window": "resume_window = off", "resume_limit": "resume_limit = 65536",
	},
}

// sampleText is a valid config with lines added to the section of kind,
// and host = a in every section if the lines set host.
func sampleText(kind, lines string) string {
	secs := []struct{ kind, text string }{
		{dispatcherKind, "listen_addr = 127.0.0.1:13001"},
		{gameKind, "boot_entity = Account"},
		{gateKind, "listen_addr = 127.0.0.1:14001"},
	}
	var b strings.Builder
	for _, s := range secs {
		b.WriteString("[" + s.kind + "1]\n")
		if s.kind == kind {
			key, _, _ := strings.Cut(s.text, " =")
			if !strings.Contains(lines, key+" =") {
				b.WriteString(s.text + "\n")
			}
			b.WriteString(lines + "\n")
		} else {
			b.WriteString(s.text + "\n")
		}
		if strings.HasPrefix(lines, "host =") && s.kind != kind {
			b.WriteString("host = a\n")
		}
	}
	return b.String()
}

// changedFields returns the names of the fields of struct v that differ from
// those of w, embedded structs' fields by their own names.
func changedFields(v, w reflect.Value) []string {
	var out []string
	for _, f := range reflect.VisibleFields(v.Type()) {
		if f.Type.Kind() == reflect.Struct && f.Anonymous {
			continue // its fields are visited one by one
		}
		if !reflect.DeepEqual(v.FieldByIndex(f.Index).Interface(), w.FieldByIndex(f.Index).Interface()) {
			out = append(out, f.Name)
		}
	}
	return out
}

// TestEveryKeySetsAField: every key a section accepts sets a field of
// its process's config (the sample value, not the default, is what comes
// out of Parse), and every field of DispatcherConfig, GameConfig and
// GateConfig, those of the embedded tuning structs included, is set by
// some key (ID and Name by the section's name). A key or a field added
// without the other fails here; a key without a sample too, so that it
// gets one.
func TestEveryKeySetsAField(t *testing.T) {
	proc := func(c *Config, kind string) reflect.Value {
		switch kind {
		case dispatcherKind:
			return reflect.ValueOf(c.Dispatchers[0])
		case gameKind:
			return reflect.ValueOf(c.Games[0])
		}
		return reflect.ValueOf(c.Gates[0])
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			base, err := Parse("base.ini", []byte(sampleText(kind, "")))
			if err != nil {
				t.Fatal(err)
			}
			set := map[string]bool{"ID": true, "Name": true}
			for _, key := range allowedKeys[kind] {
				lines, ok := keySamples[kind][key]
				if !ok {
					t.Errorf("key %s has no sample in keySamples[%q]: add one (a valid value other than its default)", key, kind)
					continue
				}
				c, err := Parse("sample.ini", []byte(sampleText(kind, lines)))
				if err != nil {
					t.Errorf("%s: %v", key, err)
					continue
				}
				changed := changedFields(proc(c, kind), proc(base, kind))
				if len(changed) == 0 {
					t.Errorf("%q sets no field", lines)
				}
				for _, f := range changed {
					set[f] = true
				}
			}
			var unset []string
			for _, f := range reflect.VisibleFields(proc(base, kind).Type()) {
				if !(f.Anonymous && f.Type.Kind() == reflect.Struct) && !set[f.Name] {
					unset = append(unset, f.Name)
				}
			}
			sort.Strings(unset)
			if len(unset) > 0 {
				t.Errorf("fields no key of [%s1] sets: %v", kind, unset)
			}
		})
	}
}

// TestUnlimitedAndOff: the keys that may be lifted take "unlimited" (any
// case) for Unlimited, the windows "off" for Off; an explicit 0 is refused
// with a message naming the key, both ways of saying what was meant and
// the default; negative numbers and the other word are refused too.
func TestUnlimitedAndOff(t *testing.T) {
	// get returns the process of kind's field.
	get := func(c *Config, kind, field string) int64 {
		v := map[string]any{dispatcherKind: c.Dispatchers[0], gameKind: c.Games[0], gateKind: c.Gates[0]}[kind]
		return reflect.ValueOf(v).FieldByName(field).Int()
	}
	for _, tc := range []struct {
		kind, key, field string
		window           bool   // a duration that may be off, else a limit
		def              string // the default, as the message shows it
	}{
		{gateKind, "client_msg_rate", "ClientMsgRate", false, strconv.Itoa(DefaultClientMsgRate)},
		{gateKind, "client_byte_rate", "ClientByteRate", false, strconv.Itoa(DefaultClientByteRate)},
		{gateKind, "max_clients", "MaxClients", false, strconv.Itoa(DefaultMaxClients)},
		{gateKind, "kcp_session_rate", "KCPSessionRate", false, strconv.Itoa(DefaultKCPSessionRate)},
		{gateKind, "kcp_hello_rate", "KCPHelloRate", false, strconv.Itoa(DefaultKCPHelloRate)},
		{gameKind, "max_client_string", "MaxClientString", false, strconv.Itoa(DefaultMaxClientString)},
		{gameKind, "max_client_coordinate", "MaxClientCoordinate", false, strconv.Itoa(DefaultMaxClientCoordinate)},
		{gameKind, "aoi_view_limit", "AOIViewLimit", false, "unlimited"},
		{gateKind, "resume_window", "ResumeWindow", true, DefaultResumeWindow.String()},
		{dispatcherKind, "recover_window", "RecoverWindow", true, DefaultRecoverWindow.String()},
		{gameKind, "slow_call", "SlowCall", true, DefaultSlowCall.String()},
	} {
		sec := "[" + tc.kind + "_common]"
		parse := func(v string) (*Config, error) {
			return Parse("config.ini", []byte(minimal+sec+"\n"+tc.key+" = "+v+"\n"))
		}
		word, lifted, other, ok, okWant := "unlimited", int64(Unlimited), "off", "7", int64(7)
		bad := map[string]string{
			"0":  "0 is ambiguous: write " + tc.key + " = unlimited for no limit, or remove the key for the default (" + tc.def + ")",
			"-1": "must be positive (or unlimited)",
		}
		if tc.def == "unlimited" {
			bad["0"] = "0 is ambiguous: write " + tc.key + " = unlimited for no limit (the default), or a positive number"
		}
		if tc.window {
			word, lifted, other, ok, okWant = "off", int64(Off), "unlimited", "7s", int64(7*time.Second)
			msg0 := "0 is ambiguous: write " + tc.key + " = off to turn it off, or remove the key for the default (" + tc.def + ")"
			bad = map[string]string{"0": msg0, "0s": msg0, "-1s": "must be positive (or off)"}
		}
		bad[other] = map[bool]string{false: "not a whole number (or unlimited)", true: "not a duration (use e.g. 60s, 5m; or off)"}[tc.window]
		for _, v := range []string{word, strings.ToUpper(word), strings.ToUpper(word[:1]) + word[1:]} {
			c, err := parse(v)
			if err != nil {
				t.Errorf("%s = %s: %v", tc.key, v, err)
			} else if got := get(c, tc.kind, tc.field); got != lifted {
				t.Errorf("%s = %s: %s is %d, want %d", tc.key, v, tc.field, got, lifted)
			}
		}
		if c, err := parse(ok); err != nil || get(c, tc.kind, tc.field) != okWant {
			t.Errorf("%s = %s: %v", tc.key, ok, err)
		}
		for v, msg := range bad {
			want := "config.ini: " + sec + " " + tc.key + ` = "` + v + `": ` + msg
			if _, err := parse(v); err == nil || err.Error() != want {
				t.Errorf("%s = %s: %v\nwant %s", tc.key, v, err, want)
			}
		}
	}
}

// TestSetDefaults: SetDefaults gives every zero field its Default*
// constant (HeartbeatInterval excepted: the gate works it out), and
// Default and Parse fill the tuning structs the same way; a negative
// size takes the default, while Unlimited and Off are kept.
func TestSetDefaults(t *testing.T) {
	var gt GateTuning
	gt.SetDefaults()
	var gm GameTuning
	gm.SetDefaults()
	var dt DispatcherTuning
	dt.SetDefaults()
	for _, v := range []reflect.Value{reflect.ValueOf(gt), reflect.ValueOf(gm), reflect.ValueOf(dt)} {
		for _, f := range reflect.VisibleFields(v.Type()) {
			if v.FieldByIndex(f.Index).IsZero() && f.Name != "HeartbeatInterval" {
				t.Errorf("%s.%s is zero after SetDefaults: give it its default", v.Type(), f.Name)
			}
		}
	}
	want := GateTuning{
		HeartbeatTimeout: DefaultHeartbeatTimeout, MaxClientPacketSize: DefaultMaxClientPacketSize,
		ClientSendBufferSize: DefaultClientSendBufferSize, MaxPacketSize: DefaultMaxPacketSize, SendBufferSize: DefaultSendBufferSize,
		ClientMsgRate: DefaultClientMsgRate, ClientMsgBurst: DefaultClientMsgBurst, ClientByteRate: DefaultClientByteRate,
		ClientByteBurst: DefaultClientByteBurst, MaxClients: DefaultMaxClients, MaxClientRequests: DefaultMaxClientRequests,
		KCPSessionRate: DefaultKCPSessionRate, KCPSessionBurst: DefaultKCPSessionBurst, KCPHelloRate: DefaultKCPHelloRate,
		KCPHandshakeTimeout: DefaultKCPHandshakeTimeout, KCPInterval: DefaultKCPInterval,
		ResumeWindow: DefaultResumeWindow, ResumeLimit: DefaultResumeLimit,
		MaxClientsPerIP: DefaultMaxClientsPerIP, MaxClientsPerIPExempt: DefaultMaxClientsPerIPExempt(),
	}
	if !reflect.DeepEqual(gt, want) {
		t.Errorf("GateTuning defaults\n got %+v\nwant %+v", gt, want)
	}
	c := Default()
	if !reflect.DeepEqual(c.Gates[0].GateTuning, gt) || c.Games[0].GameTuning != gm || c.Dispatchers[0].DispatcherTuning != dt {
		t.Errorf("Default's tuning differs from SetDefaults'")
	}
	p, err := Parse("config.ini", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Gates[0].GateTuning, gt) || p.Games[0].GameTuning != gm || p.Dispatchers[0].DispatcherTuning != dt {
		t.Errorf("Parse's tuning differs from SetDefaults'")
	}

	neg := GateTuning{MaxPacketSize: -5, HeartbeatTimeout: -time.Second, MaxClients: Unlimited, ClientMsgRate: Unlimited, ResumeWindow: Off}
	neg.SetDefaults()
	if neg.MaxPacketSize != DefaultMaxPacketSize || neg.HeartbeatTimeout != DefaultHeartbeatTimeout ||
		neg.MaxClients != Unlimited || neg.ClientMsgRate != Unlimited || neg.ResumeWindow != Off {
		t.Errorf("negative sizes and Unlimited/Off: %+v", neg)
	}
	g := GameTuning{MaxClientString: Unlimited, SlowCall: Off, AOISyncLimit: -1}
	g.SetDefaults()
	if g.MaxClientString != Unlimited || g.SlowCall != Off || g.AOISyncLimit != DefaultAOISyncLimit {
		t.Errorf("GameTuning: %+v", g)
	}
	d := DispatcherTuning{RecoverWindow: Off, FreezeQueueLimit: -1}
	d.SetDefaults()
	if d.RecoverWindow != Off || d.FreezeQueueLimit != DefaultFreezeQueueLimit {
		t.Errorf("DispatcherTuning: %+v", d)
	}
}

// max_clients_per_ip_exempt: networks and single addresses, masked; none
// is an empty list (nothing exempt), which SetDefaults keeps; absent, the
// default, loopback.
func TestMaxClientsPerIPExempt(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []netip.Prefix
	}{
		{"", DefaultMaxClientsPerIPExempt()},
		{"max_clients_per_ip_exempt = none\n", []netip.Prefix{}},
		{"max_clients_per_ip_exempt = 10.1.2.3/8 2001:db8::5\n",
			[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::5/128")}},
	} {
		c, err := Parse("config.ini", []byte(minimal+tc.line))
		if err != nil {
			t.Fatal(err)
		}
		got := c.Gates[0].MaxClientsPerIPExempt
		if !reflect.DeepEqual(got, tc.want) || got == nil {
			t.Errorf("%q: exempt %v, want %v", tc.line, got, tc.want)
		}
	}
}
