// Command tcpfloor measures what loopback TCP costs a bare Go program, to
// give the floor under an engine's CPU per delivered message on the same
// machine: a server can batch, but it cannot deliver one message to one
// client for less than one write(2).
//
//	tcpfloor fanout [-conns 1000] [-rate 25000] [-burst 50] [-duration 10s] [-unix]
//	tcpfloor echo   [-conns 1000] [-rate 10000] [-duration 10s] [-unix]
//
// fanout writes 40-byte messages to -conns connections, -rate messages per
// second in all, -burst at a time back to back (a chat message to a room
// of 50 is one burst of 50), as a gate does. echo answers 40-byte
// messages that -conns clients send at -rate in all, spread evenly, one
// read and one write per message, as any request/response server does.
//
// The other end runs in a child process (this program again), so that the
// figure printed, the measuring process's user+system CPU divided by the
// messages, holds only the server's side, as `goworldctl bench` counts
// it. Everything is on 127.0.0.1 and every loop is bounded by the message
// count (rate × duration) and by a deadline.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/goworld-engine/goworld/internal/procstat"
)

// peerEnv marks the child process, so that a test binary run as the
// child acts as the peer instead of running the tests.
const peerEnv = "TCPFLOOR_PEER"

// msgSize is the size of every message (a 32-byte chat line and its frame header).
const msgSize = 40

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tcpfloor:", err)
		os.Exit(1)
	}
}

type options struct {
	conns, rate, burst int
	duration           time.Duration
	unix               bool   // a Unix domain socket instead of loopback TCP
	peer               string // internal: the address of the measuring process
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "fanout" && args[0] != "echo") {
		return errors.New("usage: tcpfloor fanout|echo [-conns N] [-rate R] [-burst B] [-duration D]")
	}
	mode := args[0]
	fs := flag.NewFlagSet("tcpfloor "+mode, flag.ContinueOnError)
	var o options
	fs.IntVar(&o.conns, "conns", 1000, "connections")
	fs.IntVar(&o.rate, "rate", map[string]int{"fanout": 25000, "echo": 10000}[mode], "messages per second, in all")
	fs.IntVar(&o.burst, "burst", 50, "fanout: messages written back to back per wake-up")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (at most 10m)")
	fs.BoolVar(&o.unix, "unix", false, "use a Unix domain socket instead of loopback TCP")
	fs.StringVar(&o.peer, "peer", "", "internal: run as the other end, connecting to this address")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if o.conns < 1 || o.conns > 15000 || o.rate < 1 || o.burst < 1 || o.duration <= 0 || o.duration > 10*time.Minute {
		return errors.New("need 1 <= -conns <= 15000, -rate >= 1, -burst >= 1, 0 < -duration <= 10m")
	}
	if o.peer != "" {
		return runPeer(mode, o)
	}
	return measure(mode, o, out)
}

func (o options) total() int { return int(float64(o.rate) * o.duration.Seconds()) }

// pace sleeps until message k of rate per second is due after start.
func pace(start time.Time, k, rate int) {
	if d := time.Until(start.Add(time.Duration(k) * time.Second / time.Duration(rate))); d > 0 {
		time.Sleep(d)
	}
}

func measure(mode string, o options, out io.Writer) error {
	network, addr := "tcp", "127.0.0.1:0"
	if o.unix {
		dir, err := os.MkdirTemp("", "tcpfloor")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		network, addr = "unix", dir+"/sock"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, mode, "-conns", strconv.Itoa(o.conns), "-rate", strconv.Itoa(o.rate),
		"-burst", strconv.Itoa(o.burst), "-duration", o.duration.String(), "-peer", ln.Addr().String(),
		"-unix="+strconv.FormatBool(o.unix))
	child.Stderr = os.Stderr
	child.Env = append(os.Environ(), peerEnv+"=1") // for a test binary standing in for this program
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Wait()
	defer child.Process.Kill() // by the PID we started; a no-op once it exited

	ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(time.Minute))
	conns := make([]net.Conn, o.conns)
	for i := range conns {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		defer c.Close()
		conns[i] = c
	}
	total := o.total()
	deadline := time.Now().Add(o.duration + time.Minute)
	start, cpu0 := time.Now(), procstat.SelfCPU()
	switch mode {
	case "fanout":
		msg := make([]byte, msgSize)
		for k := 0; k < total; k++ {
			if k%o.burst == 0 {
				pace(start, k, o.rate)
			}
			c := conns[k%o.conns]
			c.SetWriteDeadline(deadline)
			if _, err := c.Write(msg); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	case "echo":
		answered := make(chan int, o.conns)
		for i, c := range conns {
			n := total / o.conns // the peer sends message k on connection k mod conns
			if i < total%o.conns {
				n++
			}
			go func() {
				c.SetDeadline(deadline)
				b := make([]byte, msgSize)
				done := 0
				for ; done < n; done++ {
					if _, err := io.ReadFull(c, b); err != nil {
						break
					}
					if _, err := c.Write(b); err != nil {
						break
					}
				}
				answered <- done
			}()
		}
		got := 0
		for range conns {
			got += <-answered
		}
		if got != total {
			return fmt.Errorf("echoed %d of %d messages", got, total)
		}
	}
	used, elapsed := procstat.SelfCPU()-cpu0, time.Since(start)
	fmt.Fprintf(out, "mode=%s net=%s conns=%d rate=%d burst=%d messages=%d elapsed=%v cpu=%v cpu/message=%.2fµs\n",
		mode, network, o.conns, o.rate, o.burst, total, elapsed.Round(time.Millisecond), used.Round(time.Millisecond),
		float64(used.Nanoseconds())/1e3/float64(total))
	for _, c := range conns {
		c.Close() // the peer's readers end
	}
	return child.Wait()
}

// runPeer is the other end: it reads what fanout writes, or sends what
// echo answers and reads the answers.
func runPeer(mode string, o options) error {
	deadline := time.Now().Add(o.duration + 2*time.Minute)
	conns := make([]net.Conn, o.conns)
	for i := range conns {
		network := "tcp"
		if o.unix {
			network = "unix"
		}
		c, err := net.DialTimeout(network, o.peer, 10*time.Second)
		if err != nil {
			return err
		}
		c.SetDeadline(deadline)
		defer c.Close()
		conns[i] = c
	}
	ended := make(chan struct{}, o.conns)
	for _, c := range conns {
		go func() { io.Copy(io.Discard, c); ended <- struct{}{} }()
	}
	if mode == "echo" {
		msg := make([]byte, msgSize)
		start := time.Now()
		for k := 0; k < o.total(); k++ {
			pace(start, k, o.rate)
			if _, err := conns[k%o.conns].Write(msg); err != nil {
				return err
			}
		}
	}
	for range conns {
		<-ended // the measuring side closes when it is done
	}
	return nil
}
