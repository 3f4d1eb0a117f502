//go:build linux || darwin

package proc

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary, re-executed by a test, behave as one of
// the helper processes of runHelper instead of running the tests.
const helperEnv = "GOWORLD_PROC_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// noExitSleep stops a race-enabled helper from sleeping for a second at
// exit, which is the race detector's default.
const noExitSleep = "GORACE=atexit_sleep_ms=0"

// helperCmd returns a command running the test binary as helper mode.
func helperCmd(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testBinary(t), args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, noExitSleep)
	return cmd
}

func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// runHelper is the main function of a helper process. The flags follow the
// server binary contract where they apply.
func runHelper(mode string, args []string) int {
	fs := flag.NewFlagSet("helper", flag.ContinueOnError)
	pidfile := fs.String("pidfile", "", "")
	logPath := fs.String("log", "", "")
	name := fs.String("name", "helper1", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logw := io.Discard
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		logw = f
	}
	logf := func(format string, a ...any) { fmt.Fprintf(logw, format+"\n", a...) }
	acquire := func() *PIDFile {
		p, err := AcquirePIDFile(*pidfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return p
	}
	sleepForever := func() {
		for {
			time.Sleep(time.Hour)
		}
	}

	switch mode {
	case "hold":
		// Hold the PID file until stdin is closed.
		p := acquire()
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		if err := p.Release(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "ready":
		// A well-behaved server: ready, then graceful exit on SIGTERM.
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
		p := acquire()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer ln.Close()
		logf("listening on %s", ln.Addr())
		if err := SignalReady(ReadyInfo{Name: *name, Role: "gate", ID: 1, Addr: ln.Addr().String()}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		sig := <-sigc
		logf("stopping on %v", sig)
		if err := p.Release(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "linger":
		// Like ready, but still runs for a while after releasing its PID
		// file (as a server whose last deferred calls take time).
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGTERM)
		p := acquire()
		if err := SignalReady(ReadyInfo{Name: *name, Role: "game", ID: 1}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		<-sigc
		if err := p.Release(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		time.Sleep(300 * time.Millisecond)
		return 0
	case "usr1":
		// Ready; exits 0 on SIGUSR1 (as a game that froze for a hot
		// reload), after logging the signal.
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGUSR1)
		p := acquire()
		if err := SignalReady(ReadyInfo{Name: *name, Role: "game", ID: 1}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		logf("got %v", <-sigc)
		if err := p.Release(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "ignore-term":
		// Ready, but deaf to SIGTERM.
		signal.Ignore(syscall.SIGTERM)
		acquire()
		if err := SignalReady(ReadyInfo{Name: *name, Role: "game", ID: 1}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		sleepForever()
	case "fail":
		// Fails at start-up after logging.
		for i := 1; i <= 25; i++ {
			logf("log line %02d", i)
		}
		fmt.Fprintln(os.Stderr, "boom on stderr")
		return 1
	case "never":
		// Never signals.
		sleepForever()
	case "close-pipe":
		// Closes the ready pipe without a READY line and keeps running.
		os.NewFile(3, "ready").Close()
		sleepForever()
	case "garbage":
		// Writes something that is not a READY line and keeps running.
		os.NewFile(3, "ready").WriteString("hello\n")
		sleepForever()
	case "wrong-name":
		if err := SignalReady(ReadyInfo{Name: "somebody-else", Role: "gate", ID: 1}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		sleepForever()
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// startHolder starts a helper process holding pidfile and returns once it
// holds the lock. Closing the returned writer makes it release and exit.
func startHolder(t *testing.T, pidfile string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := helperCmd(t, "hold", "-pidfile", pidfile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("holder did not lock %s: %q, %v", pidfile, line, err)
	}
	return cmd, stdin
}
