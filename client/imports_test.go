package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoServerMachinery checks that the client library, which
// bots, load tools and server-side clients are built on, links only the
// wire format: no server package, no dispatcher link, no logging library.
func TestImportsNoServerMachinery(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps found only %q", deps)
	}
	banned := map[string]bool{
		"github.com/sirupsen/logrus":                   true,
		"github.com/goworld-engine/goworld/rpc/link":   true,
		"github.com/goworld-engine/goworld/entity":     true,
		"github.com/goworld-engine/goworld/game":       true,
		"github.com/goworld-engine/goworld/gate":       true,
		"github.com/goworld-engine/goworld/dispatcher": true,
	}
	found := false
	for _, pkg := range deps {
		if banned[pkg] {
			t.Errorf("the client links %s", pkg)
		}
		found = found || pkg == "github.com/goworld-engine/goworld/rpc"
	}
	if !found {
		t.Fatal("the client does not link rpc: is this the client package?")
	}
}
