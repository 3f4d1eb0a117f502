package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoServer: goworldctl drives the servers through processes,
// files and HTTP, never by linking them: it imports none of the servers
// (game, gate, dispatcher). (It does import entity, for the registry's
// description that goworldctl gen reads: types, not a server.)
func TestImportsNoServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, server := range []string{"game", "gate", "dispatcher"} {
			if pkg == "github.com/goworld-engine/goworld/"+server {
				t.Errorf("goworldctl imports %s", pkg)
			}
		}
	}
}
