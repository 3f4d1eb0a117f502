package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestDeploymentGuideConfig: the config.ini of docs/deployment.md is one
// the engine accepts, with the hosts, games and storage the guide
// describes, so the guide cannot drift from the parser.
func TestDeploymentGuideConfig(t *testing.T) {
	doc, err := os.ReadFile("../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```ini\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/deployment.md has no ```ini block")
	}
	c, err := Parse("config.ini", []byte(block))
	if err != nil {
		t.Fatalf("the guide's config.ini: %v", err)
	}
	if len(c.Games) != 4 || len(c.Gates) != 2 || c.Storage.Type != StorageRedis || c.Cluster.SecretFile == "" {
		t.Fatalf("the guide's config.ini: %d games, %d gates, storage %q, secret_file %q", len(c.Games), len(c.Gates), c.Storage.Type, c.Cluster.SecretFile)
	}
	if hosts := c.Hosts(); !slices.Equal(hosts, []string{"a", "b", "c"}) {
		t.Fatalf("the guide's hosts: %v", hosts)
	}
}
