package goworld

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/internal/testkit/redistest"
	"github.com/goworld-engine/goworld/internal/testkit/testcert"
)

// TestRedisOverTLS: config.ini's [storage] with tls, a CA file, a client
// certificate and an ACL user takes the games to a Redis server that
// serves only TLS clients with certificates: they connect over TLS as
// that user, and a player plays. A CA file that does not exist stops the
// start with a message that names the key.
func TestRedisOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _, err := testcert.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.StartTLS(t, redistest.TLS{CertFile: certFile, KeyFile: keyFile, CAFile: certFile, AuthClients: true},
		"--user", "game", "on", ">s3cret", "~goworld:*", "+@all")
	ini := func(ca string) string {
		return "[dispatcher1]\nlisten_addr = 127.0.0.1:0\n[game_common]\nboot_entity = Clicker\n[game1]\n[game2]\n" +
			"[gate1]\nlisten_addr = 127.0.0.1:0\nkcp = false\n" +
			fmt.Sprintf("[storage]\ntype = redis\naddr = %s\nusername = game\npassword = s3cret\n", srv.TLSAddr) +
			fmt.Sprintf("tls = true\ntls_ca = %s\ntls_cert = %s\ntls_key = %s\n", ca, certFile, keyFile)
	}
	addrs, cancel, done := startOneProcess(t, ini(certFile))
	c, err := client.Dial(addrs[0], client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	waitPlayer(t, c)
	// The games' store (one in this process) is connected on the TLS
	// port, as the ACL user.
	list, err := srv.Command("CLIENT", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "laddr="+srv.TLSAddr) && strings.Contains(line, " user=game ") {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no connection as user game on the TLS port:\n%s", list)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runAll: %v", err)
	}

	// The same with a CA file that does not exist: runAll fails before
	// any gate is ready.
	cfg, log := loadIni(t, ini(filepath.Join(dir, "missing.pem")))
	err = runAll(context.Background(), cfg, nil, log, func([]string) { t.Error("a gate got ready") })
	if err == nil || !strings.Contains(err.Error(), "[storage] tls_ca") || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("a missing tls_ca file: %v, want an error naming [storage] tls_ca and the file", err)
	}
}
