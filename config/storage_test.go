package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func storageWith(fn func(s *StorageConfig)) StorageConfig {
	s := newStorage()
	fn(&s)
	return s
}

// storageMinimal is a cluster config without a [storage] section.
const storageMinimal = `
[dispatcher1]
listen_addr = 127.0.0.1:13001
[game_common]
boot_entity = Account
[game1]
[game2]
[gate1]
listen_addr = 127.0.0.1:14001
`

func TestStorageRedis(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       StorageConfig
	}{
		{"standalone with defaults", "[storage]\ntype = redis\naddr = 10.0.0.5:6379\n",
			storageWith(func(s *StorageConfig) { s.Type, s.Addr = "redis", "10.0.0.5:6379" })},
		{"cluster, every key", `[storage]
type = redis
addrs = 10.0.0.5:7000, 10.0.0.6:7000,10.0.0.7:7000
password = s3cret ; a comment
key_prefix = world2:
dial_timeout = 2s
read_timeout = 500ms
write_timeout = 1s
`, storageWith(func(s *StorageConfig) {
			s.Type, s.Addrs, s.Password, s.KeyPrefix = "redis", []string{"10.0.0.5:7000", "10.0.0.6:7000", "10.0.0.7:7000"}, "s3cret", "world2:"
			s.DialTimeout, s.ReadTimeout, s.WriteTimeout = 2*time.Second, 500*time.Millisecond, time.Second
		})},
		{"TLS and an ACL user", `[storage]
type = redis
addr = redis.internal:6380
username = game
password = s3cret
tls = true
tls_ca = certs/ca.pem
tls_cert = certs/game.pem
tls_key = certs/game.key
tls_server_name = redis.example
`, storageWith(func(s *StorageConfig) {
			s.Type, s.Addr, s.Username, s.Password = "redis", "redis.internal:6380", "game", "s3cret"
			s.TLS, s.TLSCA, s.TLSCert, s.TLSKey, s.TLSServerName = true, "certs/ca.pem", "certs/game.pem", "certs/game.key", "redis.example"
		})},
		{"db and an empty prefix", "[storage]\ntype = redis\naddr = localhost:6379\ndb = 3\nkey_prefix =\n",
			storageWith(func(s *StorageConfig) { s.Type, s.Addr, s.DB, s.KeyPrefix = "redis", "localhost:6379", 3, "" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Two games: Redis, unlike bbolt, is shared by several.
			cfg, err := Parse("config.ini", []byte(storageMinimal+tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Storage, tc.want) {
				t.Errorf("got  %+v\nwant %+v", cfg.Storage, tc.want)
			}
		})
	}
}

func TestStorageRedisErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"no address", "[storage]\ntype = redis\n",
			[]string{`config.ini: [storage] type = redis needs addr = HOST:PORT (a server) or addrs = A,B,C (nodes of a Redis Cluster)`}},
		{"both", "[storage]\ntype = redis\naddr = a:1\naddrs = b:1,c:1\n",
			[]string{`config.ini: [storage] set addr (a server) or addrs (a Redis Cluster), not both`}},
		{"bad addr", "[storage]\ntype = redis\naddr = redis.example\n",
			[]string{`config.ini: [storage] addr = "redis.example": not host:port (missing port in address)`}},
		{"port 0", "[storage]\ntype = redis\naddr = 127.0.0.1:0\n",
			[]string{`config.ini: [storage] addr = "127.0.0.1:0": port 0 is not a server's port`}},
		{"bad addrs", "[storage]\ntype = redis\naddrs = a:1,b\n",
			[]string{`config.ini: [storage] addrs = "a:1,b": "b": not host:port`}},
		{"empty addrs", "[storage]\ntype = redis\naddrs = ,\n",
			[]string{`config.ini: [storage] addrs = ",": no address`}},
		{"db on a cluster", "[storage]\ntype = redis\naddrs = a:1\ndb = 2\n",
			[]string{`config.ini: [storage] db must be 0 with addrs: a Redis Cluster has only database 0`}},
		{"bad db", "[storage]\ntype = redis\naddr = a:1\ndb = -1\n",
			[]string{`config.ini: [storage] db = "-1": not a database number (0, 1, ...)`}},
		{"hash tag prefix", "[storage]\ntype = redis\naddr = a:1\nkey_prefix = {w}\n",
			[]string{`config.ini: [storage] key_prefix = "{w}": must not contain { or }`}},
		{"bad timeout", "[storage]\ntype = redis\naddr = a:1\nread_timeout = 0s\n",
			[]string{`config.ini: [storage] read_timeout = "0s": must be positive`}},
		{"redis keys with bbolt", "[storage]\ntype = bbolt\naddr = a:1\npassword = x\n",
			[]string{`config.ini: [storage] addr is only used with type = redis`,
				`config.ini: [storage] password is only used with type = redis`}},
		{"TLS files without tls", "[storage]\ntype = redis\naddr = a:1\ntls_ca = ca.pem\ntls_server_name = r\n",
			[]string{`config.ini: [storage] tls_ca is set but tls is not: set tls = true to speak TLS to Redis`,
				`config.ini: [storage] tls_server_name is set but tls is not`}},
		{"client certificate without its key", "[storage]\ntype = redis\naddr = a:1\ntls = true\ntls_cert = c.pem\n",
			[]string{`config.ini: [storage] tls_cert and tls_key go together`}},
		{"tls with bbolt", "[storage]\ntype = bbolt\ntls = true\nusername = u\n",
			[]string{`config.ini: [storage] tls is only used with type = redis`,
				`config.ini: [storage] username is only used with type = redis`}},
		{"unknown key", "[storage]\ntype = redis\naddress = a:1\n",
			[]string{`config.ini: [storage] unknown key "address" (did you mean "addrs"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.ini", []byte(storageMinimal+tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestStoragePasswordNeverShown: a password that cannot be used is
// reported without its value.
func TestStoragePasswordNeverShown(t *testing.T) {
	_, err := Parse("config.ini", []byte(storageMinimal+"[storage]\ntype = redis\naddr = a:1\npassword = \"\"\"hunter2\nmore\"\"\"\n"))
	if err == nil {
		t.Fatal("a multi-line password was accepted")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the error quotes the password: %v", err)
	}
	if !strings.Contains(err.Error(), "[storage] password") {
		t.Fatalf("the error does not name the key: %v", err)
	}
}
