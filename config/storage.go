package config

import (
	"strconv"
	"strings"
)

// maxKeyPrefix bounds [storage] key_prefix (as storage.OpenRedis does).
const maxKeyPrefix = 256

// redisKeys are the [storage] keys used only with type = redis.
var redisKeys = []string{"addr", "addrs", "username", "password", "db", "key_prefix", "dial_timeout", "read_timeout", "write_timeout",
	"tls", "tls_ca", "tls_cert", "tls_key", "tls_server_name"}

// checkRedis checks the keys of [storage] type = redis.
func (s *StorageConfig) checkRedis(ps *problems) {
	const sec = "storage"
	switch {
	case s.Addr == "" && len(s.Addrs) == 0:
		ps.add(sec, "", "type = redis needs addr = HOST:PORT (a server) or addrs = A,B,C (nodes of a Redis Cluster)", "addr", "addrs")
	case s.Addr != "" && len(s.Addrs) > 0:
		ps.add(sec, "", "set addr (a server) or addrs (a Redis Cluster), not both", "addr", "addrs")
	}
	if s.Addr != "" {
		if _, msg := checkAddr(s.Addr); msg != "" {
			ps.bad(sec, "addr", s.Addr, msg)
		} else if strings.HasSuffix(s.Addr, ":0") {
			ps.bad(sec, "addr", s.Addr, "port 0 is not a server's port")
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		ps.add(sec, "tls_cert", "and tls_key go together: set both (a client certificate and its key, PEM) or neither", "tls_cert", "tls_key")
	}
	if !s.TLS {
		for _, k := range []struct {
			key string
			set bool
		}{{"tls_ca", s.TLSCA != ""}, {"tls_cert", s.TLSCert != ""}, {"tls_key", s.TLSKey != ""}, {"tls_server_name", s.TLSServerName != ""}} {
			if k.set {
				ps.add(sec, k.key, "is set but tls is not: set tls = true to speak TLS to Redis", k.key, "tls")
			}
		}
	}
	if len(s.Addrs) > 0 && s.DB != 0 {
		ps.add(sec, "db", "must be 0 with addrs: a Redis Cluster has only database 0", "db", "addrs")
	}
	if strings.ContainsAny(s.KeyPrefix, "{}") {
		ps.bad(sec, "key_prefix", s.KeyPrefix, "must not contain { or }, which Redis Cluster reads as a hash tag")
	} else if len(s.KeyPrefix) > maxKeyPrefix {
		ps.bad(sec, "key_prefix", s.KeyPrefix, "longer than "+strconv.Itoa(maxKeyPrefix)+" bytes")
	}
	for _, t := range []struct {
		key string
		ok  bool
	}{{"dial_timeout", s.DialTimeout > 0}, {"read_timeout", s.ReadTimeout > 0}, {"write_timeout", s.WriteTimeout > 0}} {
		if !t.ok {
			ps.add(sec, t.key, "must be positive", t.key)
		}
	}
}

// checkNotRedis reports the keys of type = redis set with another type:
// a config that sets addr but says type = bbolt is most likely missing
// its type line.
func (s *StorageConfig) checkNotRedis(ps *problems) {
	set := map[string]bool{
		"addr": s.Addr != "", "addrs": len(s.Addrs) > 0, "password": s.Password != "", "db": s.DB != 0,
		"username": s.Username != "", "tls": s.TLS, "tls_ca": s.TLSCA != "", "tls_cert": s.TLSCert != "",
		"tls_key": s.TLSKey != "", "tls_server_name": s.TLSServerName != "",
	}
	for _, k := range redisKeys {
		if set[k] {
			ps.add("storage", k, "is only used with type = redis", k, "type")
		}
	}
}

// addrListField reads a list of host:port addresses separated by commas
// or spaces.
func addrListField(key string, p *[]string) field {
	return field{key: key, set: func(v string) string {
		var list []string
		for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if _, msg := checkAddr(a); msg != "" {
				if len(a) > maxShownName {
					a = a[:maxShownName] + "..."
				}
				return strconv.Quote(a) + ": " + msg + " (use host:port, separated by commas)"
			}
			list = append(list, a)
		}
		if len(list) == 0 {
			return "no address (use host:port, separated by commas)"
		}
		*p = list
		return ""
	}}
}

// secretKeys are the keys whose values messages never quote.
var secretKeys = map[string]bool{"password": true}

// secretField reads a value that messages never quote (see secretKeys).
func secretField(key string, p *string) field {
	secretKeys[key] = true
	return strField(key, p)
}

// dbField reads a Redis database number.
func dbField(key string, p *int) field {
	return field{key: key, set: func(v string) string {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return "not a database number (0, 1, ...)"
		}
		*p = n
		return ""
	}}
}
