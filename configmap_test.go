package goworld

import (
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/sirupsen/logrus"
)

// TestServerConfigsCarryEveryKey guards against the drift that the shared
// tuning structs exist to prevent: every field of a process's section in
// config (config.GateConfig, GameConfig, DispatcherConfig), each set to a
// value of its own, reaches the server's Config (gate.Config, game.Config,
// dispatcher.Config) through goworld's mapping, as the embedded
// config.*Tuning struct or as one of a short, explicit list of identity
// fields; the others are used by the process itself (its log and admin
// server). Every field of the server's Config that config.ini does not set
// is listed too. A field added on either side without a decision fails
// here, naming it. (config's TestEveryKeySetsAField checks the other half:
// that every key of config.ini sets a field, and every field has its key.)
func TestServerConfigsCarryEveryKey(t *testing.T) {
	log := logrus.New()
	// Used by the process itself (run, runOneProcess, startAdmin), or, for
	// AdvertiseAddr, by the games and gates that dial the dispatcher.
	process := []string{"Name", "Host", "HTTPAddr", "HTTPAllowRemote", "LogLevel", "LogFile"}

	t.Run("gate", func(t *testing.T) {
		var c config.GateConfig
		fillDistinct(t, reflect.ValueOf(&c).Elem(), new(int))
		got := gateConfig(&c, []string{"127.0.0.1:1"}, log)
		checkCarried(t, c, got, "GateTuning",
			map[string]string{
				"ID": "ID", "ListenAddr": "ListenAddr", "KCP": "KCP", "WSAddr": "WSAddr", "WSOrigins": "WSOrigins",
				"TLSCert": "TLSCertFile", "TLSKey": "TLSKeyFile", "WSTLSCert": "WSTLSCertFile", "WSTLSKey": "WSTLSKeyFile",
			},
			process,
			[]string{"Dispatchers", "Secret", "Logger", "TLSHandshakeTimeout", "ShutdownReason", "ShutdownGrace"})
	})
	t.Run("game", func(t *testing.T) {
		var c config.GameConfig
		fillDistinct(t, reflect.ValueOf(&c).Elem(), new(int))
		cfg := &config.Config{Games: []config.GameConfig{c}}
		got := gameConfig(cfg, &c, []string{"127.0.0.1:1"}, nil, nil, log)
		checkCarried(t, c, got, "GameTuning",
			map[string]string{"ID": "ID", "BootEntity": "BootEntity"},
			process,
			[]string{"Games", "Dispatchers", "Registry", "Storage", "Secret", "ShutdownTimeout", "StorageQueueLimit",
				"SaveRetryTimeout", "Restore", "Logger"})
	})
	t.Run("dispatcher", func(t *testing.T) {
		var c config.DispatcherConfig
		fillDistinct(t, reflect.ValueOf(&c).Elem(), new(int))
		cfg := &config.Config{Dispatchers: []config.DispatcherConfig{c}}
		got := dispatcherConfig(cfg, c.ID, nil, log)
		checkCarried(t, c, got, "DispatcherTuning",
			map[string]string{"ID": "ID", "ListenAddr": "ListenAddr"},
			append(slices.Clone(process), "AdvertiseAddr"),
			[]string{"Index", "Count", "HelloTimeout", "Secret", "Games", "MigrateQueueLimit", "ShutdownGrace", "Logger"})
	})
}

// checkCarried checks that src (a config.*Config) reaches dst (the
// server's Config): its embedded struct embed whole, the fields of mapped
// under their names in dst, and none other than those of process; and
// that every field of dst is embed, a target of mapped or in serverOnly.
func checkCarried(t *testing.T, src, dst any, embed string, mapped map[string]string, process, serverOnly []string) {
	t.Helper()
	sv, dv := reflect.ValueOf(src), reflect.ValueOf(dst)
	targets := map[string]bool{}
	for _, f := range reflect.VisibleFields(sv.Type()) {
		if len(f.Index) > 1 {
			continue // inside the embedded struct: compared whole
		}
		switch to, ok := mapped[f.Name]; {
		case f.Anonymous && f.Name == embed:
			if s, d := sv.FieldByName(embed).Interface(), dv.FieldByName(embed).Interface(); !reflect.DeepEqual(s, d) {
				t.Errorf("%s differs:\n config %+v\n server %+v", embed, s, d)
			}
		case ok:
			targets[to] = true
			if s, d := sv.FieldByIndex(f.Index).Interface(), dv.FieldByName(to).Interface(); !reflect.DeepEqual(s, d) {
				t.Errorf("%s.%s = %v reaches %s.%s as %v", sv.Type(), f.Name, s, dv.Type(), to, d)
			}
		case slices.Contains(process, f.Name):
		default:
			t.Errorf("%s.%s reaches nothing of %s: if it is a tunable, move it into config.%s; else map it in goworld.go and list it in this test",
				sv.Type(), f.Name, dv.Type(), embed)
		}
	}
	for _, f := range reflect.VisibleFields(dv.Type()) {
		if len(f.Index) > 1 || (f.Anonymous && f.Name == embed) || targets[f.Name] || slices.Contains(serverOnly, f.Name) {
			continue
		}
		t.Errorf("%s.%s is not set from config.ini: if it is a tunable, move it into config.%s (with its ini key); else list it in this test",
			dv.Type(), f.Name, embed)
	}
}

// fillDistinct sets every exported field of the struct v, embedded
// structs' included, to a non-zero value of its own, counting with n.
func fillDistinct(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		*n++
		switch {
		case f.Kind() == reflect.Struct:
			fillDistinct(t, f, n)
		case f.Type() == reflect.TypeFor[time.Duration]():
			f.SetInt(int64(*n) * int64(time.Millisecond))
		case f.Kind() == reflect.Int:
			f.SetInt(int64(*n))
		case f.Kind() == reflect.String:
			f.SetString("s" + strconv.Itoa(*n))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Type() == reflect.TypeFor[[]string]():
			f.Set(reflect.ValueOf([]string{"s" + strconv.Itoa(*n)}))
		case f.Type() == reflect.TypeFor[[]netip.Prefix]():
			f.Set(reflect.ValueOf([]netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(*n)}), 32)}))
		default:
			t.Fatalf("fillDistinct: field %s of type %s: add its kind", sf.Name, f.Type())
		}
	}
}
