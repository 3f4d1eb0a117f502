package goworld

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goworld-engine/goworld/entity"
	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(serverHelperEnv) != "" {
		serverHelper() // the test binary as a server process (fdlimit_test.go)
	}
	goleak.VerifyTestMain(m,
		// kcp-go starts process-wide scheduler goroutines at init and never stops them.
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).sched"),
		goleak.IgnoreTopFunction("github.com/xtaci/kcp-go/v5.(*TimedSched).prepend"),
	)
}

type okEntity struct{ Entity }

type badEntity struct{ Entity }

func (b *badEntity) DescribeEntityType(d *TypeDesc) { d.ExposeToClient("Hello") } // no such method

func TestRunRefusesBadInvocations(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.ini")
	os.WriteFile(cfg, []byte("[dispatcher1]\nlisten_addr = 127.0.0.1:0\n[game_common]\nboot_entity = Account\n[game1]\n[gate1]\nlisten_addr = 127.0.0.1:0\n"), 0o644)
	bad := filepath.Join(dir, "bad.ini")
	os.WriteFile(bad, []byte("[dispatcher1]\nlisten_adr = 127.0.0.1:0\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-role", "lobby", "-config", cfg}, `-role must be dispatcher, game or gate (or none, to run them all in this process), not "lobby"`},
		{[]string{"-role", "game", "-id", "2", "-config", cfg}, "no [game2]"},
		{[]string{"-role", "gate", "-config", filepath.Join(dir, "missing.ini")}, "missing.ini"},
		{[]string{"-role", "gate", "-config", bad}, `unknown key "listen_adr"`},
		{[]string{"-role", "gate", "-config", cfg, "-dispatchers", "a:1,b:2"}, "-dispatchers lists 2 addresses but the config has 1"},
		{[]string{"-bogus"}, "flag provided but not defined"},
	} {
		err := run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

func TestRegistrationErrorsStopRun(t *testing.T) {
	// A registry of its own: the process's registry would keep "Fine"
	// and fail the next run of this test (-count 2).
	saved, savedErr := registry, registerErr
	registry, registerErr = entity.NewRegistry(), nil
	t.Cleanup(func() { registry, registerErr = saved, savedErr })
	if err := RegisterEntity("Fine", &okEntity{}); err != nil {
		t.Fatal(err)
	}
	if err := RegisterEntity("Broken", &badEntity{}); err == nil || !strings.Contains(err.Error(), "exposed method Hello does not exist") {
		t.Fatalf("RegisterEntity: %v", err)
	}
	err := run([]string{"-role", "game"})
	if err == nil || !strings.Contains(err.Error(), "entity registration failed") || !strings.Contains(err.Error(), "Hello") {
		t.Fatalf("run after a bad registration: %v", err)
	}
	if !Registry().Has("Fine") || Registry().Has("Broken") {
		t.Fatalf("registry holds %v", Registry().Names())
	}
}

func TestAdminServesPprof(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	a, err := startAdmin("127.0.0.1:0", "game1", log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	resp, err := http.Get("http://" + a.Addr() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("pprof: %d %.100q", resp.StatusCode, body)
	}
	// Before the server exists, /metrics has the process's own metrics;
	// then the server's too.
	ss, err := scrape(a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ss.Sum("goworld_up", "process", "game1"); v != 1 {
		t.Errorf("goworld_up = %v", v)
	}
	if _, found := ss.Sum("extra"); found {
		t.Error("server metrics before SetMetrics")
	}
	a.SetMetrics(func(w io.Writer) error { _, err := io.WriteString(w, "# TYPE extra gauge\nextra 7\n"); return err })
	if ss, err = scrape(a.Addr()); err != nil {
		t.Fatal(err)
	}
	if v, _ := ss.Sum("extra"); v != 7 {
		t.Errorf("server metric = %v", v)
	}
	a.SetMetrics(func(w io.Writer) error { return errors.New("broken") })
	if _, err := scrape(a.Addr()); err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Errorf("failing source: %v", err)
	}

	if _, err := startAdmin(a.Addr(), "game1", log); err == nil || !strings.Contains(err.Error(), "http_addr") {
		t.Fatalf("taken address: %v", err)
	}
	none, err := startAdmin("", "game1", log)
	if none != nil || err != nil || none.Addr() != "" {
		t.Fatalf("empty http_addr: %v %v", none, err)
	}
	none.SetMetrics(nil) // a nil admin does nothing
	none.Stop()
}
