// Command fakeserver is a stand-in for a game server binary in the tests of
// goworldctl. It implements the server side of the process contract with
// package proc: it holds its PID file, listens on its configured address
// (dispatchers and gates), checks that it can reach the dispatchers given
// with -dispatchers (games and gates), signals readiness with its actual
// address and exits 0 on SIGTERM or SIGINT.
//
// If the file fail_NAME exists in its working directory, process NAME logs
// an error and exits 1 at start-up instead.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/internal/proc"
)

func main() {
	role := flag.String("role", "", "dispatcher, game or gate")
	id := flag.Int("id", 0, "process ID")
	configPath := flag.String("config", "", "config file")
	pidfile := flag.String("pidfile", "", "PID file")
	logPath := flag.String("log", "", "log file")
	dispatchers := flag.String("dispatchers", "", "dispatcher addresses")
	flag.Bool("restore", false, "ignored")
	flag.Parse()

	name := fmt.Sprintf("%s%d", *role, *id)
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		log.SetOutput(f)
	}
	log.SetPrefix(name + " ")
	if err := serve(name, *role, *id, *configPath, *pidfile, *dispatchers); err != nil {
		log.Printf("fatal: %v", err)
		fmt.Fprintf(os.Stderr, "fakeserver %s: %v\n", name, err)
		os.Exit(1)
	}
}

func serve(name, role string, id int, configPath, pidfile, dispatchers string) error {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	wd, _ := os.Getwd()
	log.Printf("starting in %s with -dispatchers %q", wd, dispatchers)
	if _, err := os.Stat("fail_" + name); err == nil {
		return errors.New("simulated start-up failure")
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	pf, err := proc.AcquirePIDFile(pidfile)
	if err != nil {
		return err
	}
	defer pf.Release()

	var listenAddr string
	switch role {
	case "dispatcher":
		d, ok := cfg.Dispatcher(id)
		if !ok {
			return fmt.Errorf("no [%s] in %s", name, configPath)
		}
		listenAddr = d.ListenAddr
	case "gate":
		g, ok := cfg.Gate(id)
		if !ok {
			return fmt.Errorf("no [%s] in %s", name, configPath)
		}
		listenAddr = g.ListenAddr
	case "game":
		if _, ok := cfg.Game(id); !ok {
			return fmt.Errorf("no [%s] in %s", name, configPath)
		}
	default:
		return fmt.Errorf("bad -role %q", role)
	}
	if role != "dispatcher" {
		if err := dialAll(dispatchers, len(cfg.Dispatchers)); err != nil {
			return err
		}
	}
	addr := ""
	if listenAddr != "" {
		ln, err := net.Listen("tcp", listenAddr)
		if err != nil {
			return err
		}
		defer ln.Close()
		go accept(ln)
		addr = ln.Addr().String()
		log.Printf("listening on %s", addr)
	}
	if err := proc.SignalReady(proc.ReadyInfo{Name: name, Role: role, ID: id, PID: os.Getpid(), Addr: addr}); err != nil {
		return err
	}
	sig := <-sigc
	log.Printf("shutting down on %v", sig)
	return nil
}

// dialAll checks that every dispatcher address is an actual one (no port
// 0) and accepts connections.
func dialAll(list string, want int) error {
	addrs := strings.Split(list, ",")
	if list == "" || len(addrs) != want {
		return fmt.Errorf("-dispatchers %q: want %d addresses", list, want)
	}
	for _, a := range addrs {
		if strings.HasSuffix(a, ":0") {
			return fmt.Errorf("-dispatchers %q: %s is not an actual address", list, a)
		}
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			return err
		}
		c.Close()
		log.Printf("connected to dispatcher %s", a)
	}
	return nil
}

func accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
