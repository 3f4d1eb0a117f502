package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterSection(t *testing.T) {
	cfg, err := Parse("config.ini", []byte(minimal+"[cluster]\nsecret_file = /etc/goworld/cluster.secret\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.SecretFile != "/etc/goworld/cluster.secret" || cfg.Cluster.Secret != "" {
		t.Fatalf("%+v", cfg.Cluster)
	}
	const secret = "s3cr3t-but-short"
	for _, tc := range []struct {
		text string
		want string
	}{
		{"[cluster]\nsecret = 0123456789abcdef0\nsecret_file = x\n", "config.ini: [cluster] set secret or secret_file, not both"},
		{"[cluster]\nsecret = " + secret[:10] + "\n", "config.ini: [cluster] secret is too short (10 bytes): at least 16"},
		{"[cluster]\nsecret = " + strings.Repeat("x", MaxSecretSize+1) + "\n", "config.ini: [cluster] secret is too long (4097 bytes)"},
		{"[cluster]\nsecrets = x\n", `config.ini: [cluster] unknown key "secrets"`},
		{"[clustr]\n", "did you mean [cluster]?"},
	} {
		_, err := Parse("config.ini", []byte(minimal+tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret[:10]) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	const secret = "bm90IGEgcmVhbCBzZWNyZXQsIGJ1dCAzMiBieXRlcw=="

	if s, warn, err := (&ClusterConfig{}).LoadSecret(); s != nil || warn != "" || err != nil {
		t.Fatalf("no secret: %q %q %v", s, warn, err)
	}
	if s, _, err := (&ClusterConfig{Secret: secret}).LoadSecret(); string(s) != secret || err != nil {
		t.Fatalf("inline secret: %q %v", s, err)
	}
	good := write("good", secret+"\n", 0o600)
	if s, warn, err := (&ClusterConfig{SecretFile: good}).LoadSecret(); string(s) != secret || warn != "" || err != nil {
		t.Fatalf("secret file: %q %q %v", s, warn, err)
	}
	open := write("open", "  "+secret+"\r\n", 0o644)
	if s, warn, err := (&ClusterConfig{SecretFile: open}).LoadSecret(); string(s) != secret || !strings.Contains(warn, "readable by other users") || err != nil {
		t.Fatalf("readable secret file: %q %q %v", s, warn, err)
	}
	for name, tc := range map[string]struct {
		path, want string
	}{
		"missing":   {filepath.Join(dir, "missing"), "no such file"},
		"short":     {write("short", "tiny-secret\n", 0o600), "the secret is 11 bytes, at least 16"},
		"empty":     {write("empty", "\n", 0o600), "the secret is 0 bytes"},
		"huge":      {write("huge", strings.Repeat("y", 3*MaxSecretSize), 0o600), "not a secret file"},
		"directory": {dir, "not a regular file"},
	} {
		s, _, err := (&ClusterConfig{SecretFile: tc.path}).LoadSecret()
		if err == nil || s != nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "secret_file") {
			t.Errorf("%s: %q %v, want an error with %q", name, s, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "tiny-secret") {
			t.Errorf("%s: the error quotes the file's contents: %v", name, err)
		}
	}
}
