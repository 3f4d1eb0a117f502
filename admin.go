package goworld

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/metrics"
	"sync/atomic"
	"time"

	gwmetrics "github.com/goworld-engine/goworld/internal/metrics"
	"github.com/goworld-engine/goworld/internal/procstat"
	"github.com/sirupsen/logrus"
)

// admin is a process's admin HTTP server: Prometheus metrics at /metrics
// and Go's pprof under /debug/pprof/. A nil *admin (no http_addr) is valid
// and does nothing.
type admin struct {
	ln      net.Listener
	srv     *http.Server
	done    chan struct{}
	process string                                // the process label
	source  atomic.Pointer[func(io.Writer) error] // the server's WriteMetrics, once it exists
}

// startAdmin serves the admin endpoints on addr (the config's http_addr;
// empty means none, and returns nil). process names the process in the
// metrics' process label, e.g. "gate1".
func startAdmin(addr, process string, log logrus.FieldLogger) (*admin, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http_addr: %w", err)
	}
	a := &admin{ln: ln, done: make(chan struct{}), process: process}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", a.serveMetrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("admin HTTP server stopped")
		}
	}()
	entry := log.WithField("http_addr", ln.Addr().String())
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		// The config refuses this unless http_allow_remote is set.
		entry.Warn("admin HTTP (metrics, pprof) listening on a non-loopback address: anyone who can reach it can profile this process")
	} else {
		entry.Info("admin HTTP (metrics, pprof) listening")
	}
	return a, nil
}

// Addr returns the bound address, "" without a server.
func (a *admin) Addr() string {
	if a == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// SetMetrics makes /metrics include what fn writes (the server's
// WriteMetrics). Before it is called, /metrics has the process's own
// metrics only.
func (a *admin) SetMetrics(fn func(io.Writer) error) {
	if a != nil {
		a.source.Store(&fn)
	}
}

// Stop stops the server and waits for it.
func (a *admin) Stop() {
	if a == nil {
		return
	}
	a.srv.Close()
	<-a.done
}

func (a *admin) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	err := writeProcessMetrics(&buf, a.process)
	if fn := a.source.Load(); err == nil && fn != nil {
		err = (*fn)(&buf)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(buf.Bytes())
}

// runtimeSamples are read from runtime/metrics, which, unlike
// runtime.ReadMemStats, does not stop the world.
var runtimeSamples = []struct{ key, name, help string }{
	{"/sched/goroutines:goroutines", "go_goroutines", "Goroutines that exist now."},
	{"/memory/classes/heap/objects:bytes", "go_heap_objects_bytes", "Bytes of live heap objects and of dead ones not yet swept."},
	{"/memory/classes/total:bytes", "go_memory_total_bytes", "Bytes of memory mapped by the Go runtime."},
	{"/gc/cycles/total:gc-cycles", "go_gc_cycles_total", "Completed GC cycles."},
}

// writeProcessMetrics writes the process-wide metrics: Go runtime figures,
// CPU time and resident memory, and goworld_up.
func writeProcessMetrics(out io.Writer, process string) error {
	w := gwmetrics.NewWriter(out, "process", process)
	w.Gauge("goworld_up", "1 while the process serves.", 1)
	ss := make([]metrics.Sample, len(runtimeSamples))
	for i, s := range runtimeSamples {
		ss[i].Name = s.key
	}
	metrics.Read(ss)
	for i, s := range runtimeSamples {
		var v float64
		switch ss[i].Value.Kind() {
		case metrics.KindUint64:
			v = float64(ss[i].Value.Uint64())
		case metrics.KindFloat64:
			v = ss[i].Value.Float64()
		default:
			continue // not supported by this Go version
		}
		if s.name == "go_gc_cycles_total" {
			w.Counter(s.name, s.help, uint64(v))
		} else {
			w.Gauge(s.name, s.help, v)
		}
	}
	w.FloatCounter("process_cpu_seconds_total", "User and system CPU time of the process.", procstat.SelfCPU().Seconds())
	if kb, err := procstat.RSSKB(os.Getpid()); err == nil {
		w.Gauge("process_resident_memory_bytes", "Resident memory of the process.", float64(kb)*1024)
	}
	return w.Err()
}
