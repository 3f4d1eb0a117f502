package storage_test

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/internal/testkit/testcert"
	"github.com/goworld-engine/goworld/storage"
	"github.com/goworld-engine/goworld/storage/storagetest"
)

// tlsServer starts a redis-server that serves TLS with a fresh
// self-signed certificate, and returns it with a client TLS config that
// trusts it and presents it as the client's own certificate too.
func tlsServer(t *testing.T, authClients bool) (*redistest.Server, *tls.Config) {
	t.Helper()
	certFile, keyFile, pool, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.StartTLS(t, redistest.TLS{CertFile: certFile, KeyFile: keyFile, CAFile: certFile, AuthClients: authClients})
	return srv, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// mustRefuse opens o, which must fail within a bound, with an error that
// names the server and says want.
func mustRefuse(t *testing.T, what string, o storage.RedisOptions, want string) {
	t.Helper()
	start := time.Now()
	b, err := storage.OpenRedis(&o)
	if err == nil {
		b.Close()
		t.Fatalf("%s: OpenRedis succeeded", what)
	}
	if !strings.Contains(err.Error(), o.Addr) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %q does not name %s and say %q", what, err, o.Addr, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("%s: OpenRedis took %v to fail", what, d)
	}
}

// TestRedisTLSConformance runs the suite over TLS.
func TestRedisTLSConformance(t *testing.T) {
	srv, tc := tlsServer(t, false)
	storagetest.Run(t, storagetest.Factory{
		Open: func(t *testing.T, dir string) storage.Backend {
			return openRedis(t, storage.RedisOptions{Addr: srv.TLSAddr, TLS: tc, KeyPrefix: dirPrefix(dir)})
		},
	})
}

// TestRedisTLS: over TLS the backend stores where a plain client finds
// it; a client that does not trust the server's certificate, and a plain
// client on the TLS port, are refused at Open with errors that say so.
func TestRedisTLS(t *testing.T) {
	srv, tc := tlsServer(t, false)
	b := openRedis(t, storage.RedisOptions{Addr: srv.TLSAddr, TLS: tc, KeyPrefix: "tls:"})
	defer b.Close()
	if err := b.Put("k", []byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	if got, err := srv.Command("GET", "tls:"+keyTag("k")+":k:k"); err != nil || got != "over TLS" {
		t.Fatalf("the key put over TLS reads %q, %v on the plain port", got, err)
	}
	_, _, otherPool, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, "an untrusted certificate", storage.RedisOptions{Addr: srv.TLSAddr,
		TLS: &tls.Config{RootCAs: otherPool, MinVersion: tls.VersionTLS12}}, "certificate")
	mustRefuse(t, "plain TCP to the TLS port", storage.RedisOptions{Addr: srv.TLSAddr, DialTimeout: time.Second,
		ReadTimeout: time.Second}, "TLS")
	mustRefuse(t, "TLS to the plain port", storage.RedisOptions{Addr: srv.Addr, TLS: tc, DialTimeout: time.Second}, "TLS")
}

// TestRedisMutualTLS: a server that requires client certificates
// (tls-auth-clients yes) takes a client that presents one it trusts, and
// refuses one that presents none.
func TestRedisMutualTLS(t *testing.T) {
	srv, tc := tlsServer(t, true)
	b := openRedis(t, storage.RedisOptions{Addr: srv.TLSAddr, TLS: tc})
	if err := b.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	noCert := tc.Clone()
	noCert.Certificates = nil
	mustRefuse(t, "no client certificate", storage.RedisOptions{Addr: srv.TLSAddr, TLS: noCert}, "cannot use the server")
}

// TestRedisACLUser: an ACL user (Redis 6 and later) with its password is
// served with what its rules allow; a wrong password is refused at Open.
func TestRedisACLUser(t *testing.T) {
	srv := redistest.Start(t, "--user", "game", "on", ">s3cret", "~goworld:*", "+@all")
	b := openRedis(t, storage.RedisOptions{Addr: srv.Addr, Username: "game", Password: "s3cret", KeyPrefix: "goworld:"})
	defer b.Close()
	if err := b.Put("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get("k"); err != nil || string(got) != "v" {
		t.Fatalf("Get: %q, %v", got, err)
	}
	// The user's rules hold: a key outside its pattern is refused.
	nb := openRedis(t, storage.RedisOptions{Addr: srv.Addr, Username: "game", Password: "s3cret", KeyPrefix: "other:"})
	defer nb.Close()
	if err := nb.Put("k", []byte("v")); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("Put outside the user's keys: %v, want a NOPERM error", err)
	}
	mustRefuse(t, "a wrong password", storage.RedisOptions{Addr: srv.Addr, Username: "game", Password: "wrong"}, "WRONGPASS")
}
