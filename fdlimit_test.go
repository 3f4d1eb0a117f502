//go:build linux

package goworld

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goworld-engine/goworld/client"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/internal/proc"
	"github.com/goworld-engine/goworld/internal/testkit/cluster"
	"github.com/sirupsen/logrus"
)

// serverHelperEnv makes the test binary run as a goworld server: with
// serverHelperEnv=exec it lowers its own RLIMIT_NOFILE (soft and hard) to
// GOWORLD_TEST_NOFILE and execs itself with serverHelperEnv=run, which
// runs Run with its command-line arguments. The test process's
// own limit is never touched.
const serverHelperEnv = "GOWORLD_TEST_SERVER"

func serverHelper() {
	switch os.Getenv(serverHelperEnv) {
	case "exec":
		n, err := strconv.ParseUint(os.Getenv("GOWORLD_TEST_NOFILE"), 10, 64)
		if err == nil {
			err = setNoFile(n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		os.Setenv(serverHelperEnv, "run")
		exe, _ := os.Executable()
		err = syscall.Exec(exe, os.Args, os.Environ())
		fmt.Fprintln(os.Stderr, "helper: exec:", err)
		os.Exit(3)
	case "run":
		RegisterEntity("Player", &fdPlayer{})
		Run() // with the arguments the test gave proc.Start
	}
	os.Exit(3)
}

func setNoFile(n uint64) error {
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
}

type fdPlayer struct{ entity.Entity }

// TestGateClampsMaxClientsToTheFileLimit: a gate process whose open-file
// limit (160, soft and hard) is below its max_clients (the default,
// 50,000) starts, says so in a warning naming both numbers and the key,
// serves the clamped number of clients (160 - 64 - 1 dispatcher = 95),
// refuses the next with "server full", and its /metrics still answers
// with every client connected: the reserve is left for it.
func TestGateClampsMaxClientsToTheFileLimit(t *testing.T) {
	r := entity.NewRegistry()
	if err := r.Register("Player", &fdPlayer{}); err != nil {
		t.Fatal(err)
	}
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	cl := cluster.Start(t, cluster.Options{Registry: r, BootEntity: "Player", Logger: quiet}) // with its own gate1

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.ini")
	os.WriteFile(cfgPath, []byte("[dispatcher1]\nlisten_addr = 127.0.0.1:0\n[game_common]\nboot_entity = Player\n[game1]\n"+
		"[gate2]\nlisten_addr = 127.0.0.1:0\nkcp = false\n"), 0o644)
	const nofile, clamped = 160, 160 - 64 - 1
	args := []string{"-role", "gate", "-id", "2", "-config", cfgPath, "-dispatchers", cl.Dispatchers[0].Addr().String(),
		"-log", filepath.Join(dir, "gate2.log"), "-pidfile", filepath.Join(dir, "gate2.pid")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exe, _ := os.Executable()
	s, err := proc.Start(ctx, proc.StartSpec{
		Binary: exe, Args: args, Dir: dir, Name: "gate2", LogFile: filepath.Join(dir, "gate2.log"),
		Env: []string{serverHelperEnv + "=exec", "GOWORLD_TEST_NOFILE=" + strconv.Itoa(nofile)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(s.PID, syscall.SIGTERM)
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			syscall.Kill(s.PID, syscall.SIGKILL)
			<-s.Done()
		}
	}()

	log, _ := os.ReadFile(filepath.Join(dir, "gate2.log"))
	want := fmt.Sprintf("max_clients = 50000 does not fit the open-file limit (RLIMIT_NOFILE) of %d descriptors, 65 of which are kept", nofile)
	if !strings.Contains(string(log), want) || !strings.Contains(string(log), fmt.Sprintf("serving at most %d clients", clamped)) {
		t.Fatalf("no warning with both numbers; log:\n%s", log)
	}

	var clients []*client.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := 0; i < clamped; i++ {
		c, err := client.Dial(s.Ready.Addr, client.Options{})
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		clients = append(clients, c)
		waitEvent(t, c, func(ev client.Event) bool {
			if d, ok := ev.(client.Disconnected); ok {
				log, _ := os.ReadFile(filepath.Join(dir, "gate2.log"))
				t.Fatalf("client %d disconnected: %s; gate log:\n%s", i, d.Reason, log)
			}
			e, ok := ev.(client.EntityCreated)
			return ok && e.IsPlayer
		})
	}
	extra, err := client.Dial(s.Ready.Addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	waitEvent(t, extra, func(ev client.Event) bool {
		d, ok := ev.(client.Disconnected)
		if ok && d.Reason != "server full" {
			t.Fatalf("client %d: %q, want server full", clamped+1, d.Reason)
		}
		return ok
	})

	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + s.Ready.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics at the clamp: %v", err)
	}
	defer resp.Body.Close()
	var sawClients, sawMax bool
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		sawClients = sawClients || strings.HasPrefix(line, "goworld_gate_clients{") && strings.HasSuffix(line, " "+strconv.Itoa(clamped))
		sawMax = sawMax || strings.HasPrefix(line, "goworld_gate_max_clients{") && strings.HasSuffix(line, " "+strconv.Itoa(clamped))
	}
	if resp.StatusCode != 200 || !sawClients || !sawMax {
		t.Fatalf("/metrics: status %d, clients=%d line %v, max_clients=%d line %v", resp.StatusCode, clamped, sawClients, clamped, sawMax)
	}
}

// TestGateRefusesAFileLimitTooLowForAnyClient: with an open-file limit
// below the reserve, the gate does not start, and says why.
func TestGateRefusesAFileLimitTooLowForAnyClient(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.ini")
	os.WriteFile(cfgPath, []byte("[dispatcher1]\nlisten_addr = 127.0.0.1:1\n[game_common]\nboot_entity = Player\n[game1]\n[gate1]\nlisten_addr = 127.0.0.1:0\nkcp = false\n"), 0o644)
	args := []string{"-role", "gate", "-id", "1", "-config", cfgPath, "-log", filepath.Join(dir, "gate1.log")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exe, _ := os.Executable()
	_, err := proc.Start(ctx, proc.StartSpec{
		Binary: exe, Args: args, Dir: dir, Name: "gate1", LogFile: filepath.Join(dir, "gate1.log"),
		Env: []string{serverHelperEnv + "=exec", "GOWORLD_TEST_NOFILE=70"},
	})
	if err == nil || !strings.Contains(err.Error(), "the open-file limit (RLIMIT_NOFILE) is 70 descriptors") || !strings.Contains(err.Error(), "ulimit -n") {
		t.Fatalf("start with 70 descriptors: %v", err)
	}
}
