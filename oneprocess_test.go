package goworld

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/entity"
	"github.com/sirupsen/logrus"
)

// clicker is the boot entity of the one-process test.
type clicker struct{ Entity }

func (c *clicker) DescribeEntityType(d *TypeDesc) {
	d.DefineAttr("clicks", AttrOwnClient)
	d.ExposeToClient("Click")
}

func (c *clicker) Click() (int, error) {
	n := c.Attrs.GetInt("clicks") + 1
	c.Attrs.Set("clicks", n)
	return int(n), nil
}

// TestOneProcess: without -role, every server of the config runs in this
// process (a dispatcher, two games and a gate, on ports the system
// picks), a real client plays, and a stop tells the
// client (the gates go first) and returns cleanly.
func TestOneProcess(t *testing.T) {
	addrs, cancel, done := startOneProcess(t, "[dispatcher1]\nlisten_addr = 127.0.0.1:0\n[game_common]\nboot_entity = Clicker\n[game1]\n[game2]\n"+
		"[gate1]\nlisten_addr = 127.0.0.1:0\nkcp = false\n[storage]\ntype = none\n")
	defer cancel()
	c, err := client.Dial(addrs[0], client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitPlayer(t, c)
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	for i := 1; i <= 3; i++ {
		if n, err := client.RequestAs[int](rctx, c, "Click"); err != nil || n != i {
			t.Fatalf("click %d answered %v, %v", i, n, err)
		}
	}

	cancel()
	var reason string
	for ev := range c.Events() {
		if d, ok := ev.(client.Disconnected); ok {
			reason = d.Reason
		}
	}
	if !strings.Contains(reason, "server shutting down") {
		t.Errorf("the client was disconnected with %q, want the gate's shutdown notice", reason)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runAll: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runAll did not return after the stop")
	}
}

// startOneProcess runs the servers of config.ini text ini in this process
// (runAll) with the test registry, and returns the gates' addresses once
// they are ready, the cancel that stops them, and where runAll's error
// comes.
func startOneProcess(t *testing.T, ini string) (addrs []string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	saved, savedErr := registry, registerErr
	t.Cleanup(func() { registry, registerErr = saved, savedErr })
	registry, registerErr = newTestRegistry(t), nil

	cfg, log := loadIni(t, ini)
	ctx, cancel := context.WithCancel(context.Background())
	gates := make(chan []string, 1)
	errc := make(chan error, 1)
	go func() { errc <- runAll(ctx, cfg, nil, log, func(g []string) { gates <- g }) }()
	select {
	case addrs = <-gates:
	case err := <-errc:
		cancel()
		t.Fatalf("runAll returned before it was ready: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("not ready")
	}
	return addrs, cancel, errc
}

// loadIni loads config.ini text ini, written in a temporary directory,
// and returns it with a logger that writes nowhere.
func loadIni(t *testing.T, ini string) (*config.Config, *logrus.Logger) {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "config.ini")
	if err := os.WriteFile(cfgPath, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	return cfg, log
}

func newTestRegistry(t *testing.T) *entity.Registry {
	r := entity.NewRegistry()
	if err := r.Register("Clicker", &clicker{}); err != nil {
		t.Fatal(err)
	}
	return r
}

func waitPlayer(t *testing.T, c *client.Client) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if _, ok := c.Player(); ok {
			return
		}
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("disconnected before the player entity came")
			}
			if d, ok := ev.(client.Disconnected); ok {
				t.Fatalf("disconnected: %s", d.Reason)
			}
		case <-deadline:
			t.Fatal("no player entity")
		}
	}
}
