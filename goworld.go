// Package goworld is the entry point for game developers: register entity
// types, then call Run from main. One binary serves as dispatcher, game or
// gate, chosen by flags, so a project builds once and goworldctl starts the
// whole cluster from it.
//
// A minimal game:
//
//	package main
//
//	import "github.com/goworld-engine/goworld"
//
//	type Account struct{ goworld.Entity }
//
//	func (a *Account) DescribeEntityType(desc *goworld.TypeDesc) {
//		desc.ExposeToClient("Hello")
//	}
//
//	func (a *Account) Hello(name string) { a.CallClient("Greet", "hello, "+name) }
//
//	func main() {
//		goworld.RegisterEntity("Account", &Account{})
//		goworld.Run()
//	}
//
// Entity code runs on the game loop, one goroutine per game process: it
// never needs a lock. See the entity package for attributes, timers,
// client binding and calls.
package goworld

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/goworld-engine/goworld/config"
	"github.com/goworld-engine/goworld/dispatcher"
	"github.com/goworld-engine/goworld/entity"
	"github.com/goworld-engine/goworld/game"
	"github.com/goworld-engine/goworld/gate"
	"github.com/goworld-engine/goworld/internal/proc"
	"github.com/goworld-engine/goworld/rpc"
	"github.com/goworld-engine/goworld/storage"
	"github.com/sirupsen/logrus"
)

// Aliases so that a game needs to import only this package.
type (
	// Entity is embedded by value in every entity type.
	Entity = entity.Entity
	// TypeDesc is what DescribeEntityType declares.
	TypeDesc = entity.TypeDesc
	// EntityID identifies an entity across the cluster.
	EntityID = rpc.EntityID
	// GameID identifies a game process ([game2] is 2; see World.Games).
	GameID = rpc.GameID
	// MapAttr is a map attribute.
	MapAttr = entity.MapAttr
	// ListAttr is a list attribute.
	ListAttr = entity.ListAttr
	// TimerID identifies an entity timer.
	TimerID = entity.TimerID
	// Vector3 is a position in a space (X and Z on the ground plane).
	Vector3 = entity.Vector3
	// World is a game process's world of entities (Entity.World).
	World = entity.World
)

// Attribute flags (see entity.AttrFlag).
const (
	AttrOwnClient  = entity.AttrOwnClient
	AttrAllClients = entity.AttrAllClients
	AttrPersistent = entity.AttrPersistent
)

// NoViewLimit, given to Entity.SetViewLimit, lets an entity's client hold
// everything its entity sees, whatever aoi_view_limit says.
const NoViewLimit = entity.NoViewLimit

// FilterOp is the comparison of World.CallFilteredClientsOp.
type FilterOp = rpc.FilterOp

// Filter operators for World.CallFilteredClientsOp (see rpc.FilterOp and
// rpc.CompareFilterValues: numbers when both sides are decimal numbers,
// otherwise strings).
const (
	FilterEq  = rpc.FilterEq  // property == value
	FilterNe  = rpc.FilterNe  // property != value (clients without it match)
	FilterLt  = rpc.FilterLt  // property < value
	FilterLe  = rpc.FilterLe  // property <= value
	FilterGt  = rpc.FilterGt  // property > value
	FilterGe  = rpc.FilterGe  // property >= value
	FilterAll = rpc.FilterAll // every client
)

// ErrFreezing is wrapped by the error of Entity.EnterSpace for a space on
// another game while this game freezes for a hot reload: try again later.
var ErrFreezing = entity.ErrFreezing

// ErrNotFound is returned by KV reads of missing keys, and wrapped by the
// error a load callback gets for an entity not in storage.
var ErrNotFound = storage.ErrNotFound

// Errors a load callback's *LoadError wraps (see Entity.LoadEntitySomewhere).
var (
	ErrEntityDamaged = entity.ErrEntityDamaged // stored data cannot be decoded
	ErrStorageFailed = entity.ErrStorageFailed // the storage backend failed
	ErrNotLoadable   = entity.ErrNotLoadable   // the loading game cannot load the type
)

// LoadError is the error a load callback gets (see Entity.LoadEntitySomewhere).
type LoadError = entity.LoadError

// ReplyError is the error of a failed request (Entity.Request, a
// client's request): a code and a message. Methods return one made with
// NewError to answer with a code of the game's own.
type ReplyError = rpc.ReplyError

// ReplyHandle is a request's answer put off by Entity.DeferReply, to be
// given later with Entity.Reply (see entity.ReplyHandle).
type ReplyHandle = entity.ReplyHandle

// ErrorCode is a ReplyError's code.
type ErrorCode = rpc.ErrorCode

// NewError returns a *ReplyError with the game's own code (CodeUser or
// more) for a method to return: the caller's callback, or the client,
// gets the code and the message.
func NewError(code ErrorCode, message string) *ReplyError { return rpc.NewError(code, message) }

// Error codes of a request's answer (compare with errors.Is and the
// Err... values of package rpc, or read ReplyError.Code).
const (
	CodeTimeout    = rpc.CodeTimeout    // no answer within the timeout
	CodeNoEntity   = rpc.CodeNoEntity   // no such entity
	CodeNoMethod   = rpc.CodeNoMethod   // no such method (or not exposed to this client)
	CodeBadArgs    = rpc.CodeBadArgs    // the arguments do not convert
	CodePanicked   = rpc.CodePanicked   // the callee panicked
	CodeOverloaded = rpc.CodeOverloaded // too many requests outstanding
	CodeFailed     = rpc.CodeFailed     // the method returned an error without a code
	CodeUser       = rpc.CodeUser       // the first of the game's own codes
)

// registry is the process's entity registry. Package-level state is
// confined to this facade, which exists to be called from main.
var (
	registry    = entity.NewRegistry()
	registerErr []error
)

// RegisterEntity registers an entity type under name. proto is a pointer
// to the type's zero value, e.g. &Avatar{}. An invalid type is reported
// here (the error is returned) and again by Run, which then refuses to
// start: a typo fails at start-up, never in production.
func RegisterEntity(name string, proto any) error {
	err := registry.Register(name, proto)
	if err != nil {
		registerErr = append(registerErr, err)
	}
	return err
}

// RegisterService registers a service: an entity type of which the
// cluster keeps one entity alive per shard (shards from 1, a singleton,
// to entity.MaxServiceShards), created when the cluster starts and
// re-created on a surviving game when its game dies (from its saved
// state if the type is persistent). Reach it by name with
// World.CallService and Entity.RequestService; see entity/service.go for
// how shards are placed. Errors are reported as RegisterEntity's are.
func RegisterService(name string, proto any, shards int) error {
	err := registry.RegisterService(name, proto, shards)
	if err != nil {
		registerErr = append(registerErr, err)
	}
	return err
}

// OnGameReady adds fn to what runs once per game process when it is
// ready for world set-up (connected to the cluster, its service shards
// asked for), on the game loop. A game restored from a hot reload does
// not run it again.
func OnGameReady(fn func(w *World)) { registry.OnGameReady(fn) }

// GameWatcher is implemented by entity types that want OnGameGone(game)
// when a game of the cluster is gone (see entity.GameWatcher).
type GameWatcher = entity.GameWatcher

// RegistrationErr returns the errors of RegisterEntity and
// RegisterService calls so far, joined (nil if none): Run refuses to
// start with them, and so does goworldtest.Start.
func RegistrationErr() error { return errors.Join(registerErr...) }

// Registry returns the registry RegisterEntity fills, for tests that
// start servers in-process.
func Registry() *entity.Registry { return registry }

// PrintRegistry writes the registered entity types as indented JSON
// (entity.RegistryInfo, schema entity.RegistrySchema; docs/stubs.md), as
// `-print-registry` does.
func PrintRegistry(w io.Writer) error {
	b, err := json.MarshalIndent(registry.Describe(), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Run runs this process in the role its flags name, until SIGTERM or
// SIGINT, then exits. It does not return. Without -role it runs every
// dispatcher, game and gate of the config in this one process, for
// development (`go run .`; see oneprocess.go for what differs). Flags:
//
//	-role dispatcher|game|gate  which server to run (default: all of them, in this process)
//	-id N                       its number, [gameN] etc. (default 1)
//	-config PATH                the cluster config (default config.ini)
//	-dispatchers A,B            dispatcher addresses, overriding the config
//	-log PATH                   log file (default: the config's log_file); with one, logs go
//	                            there only (goworldctl sends stderr to log/NAME.stderr, which
//	                            then holds only what the runtime writes: panics, fatal errors)
//	-pidfile PATH               hold this PID file while running
//	-print-registry             print the registered types as JSON and exit (no config
//	                            needed; `goworldctl gen` reads it: docs/stubs.md)
//
// goworldctl passes all of them; see tools/goworldctl.
func Run() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "goworld:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func run(args []string) error {
	fs := flag.NewFlagSet("goworld", flag.ContinueOnError)
	role := fs.String("role", "", "dispatcher, game or gate")
	id := fs.Int("id", 1, "process number")
	cfgPath := fs.String("config", "config.ini", "cluster config file")
	dispatchers := fs.String("dispatchers", "", "comma-separated dispatcher addresses (overrides the config)")
	logPath := fs.String("log", "", "log file (default: the config's log_file)")
	pidPath := fs.String("pidfile", "", "PID file to hold while running")
	restore := fs.Bool("restore", false, "game: resume from the newest freeze file in freeze_dir (hot reload)")
	restoreFrom := fs.String("restore-from", "", "game: resume from this freeze file")
	printRegistry := fs.Bool("print-registry", false, "print the registered entity types as JSON (docs/stubs.md) and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(registerErr) > 0 {
		return fmt.Errorf("entity registration failed: %w", errors.Join(registerErr...))
	}
	if *printRegistry {
		return PrintRegistry(os.Stdout)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	var dispAddrs []string
	if *dispatchers != "" {
		dispAddrs = strings.Split(*dispatchers, ",")
		if len(dispAddrs) != len(cfg.Dispatchers) {
			return fmt.Errorf("-dispatchers lists %d addresses but the config has %d dispatchers", len(dispAddrs), len(cfg.Dispatchers))
		}
	} else {
		dispAddrs = cfg.DispatcherAddrs()
	}

	if *role == "" {
		if *restore || *restoreFrom != "" {
			return errors.New("-restore is for a game's own process (-role game): a hot reload needs the split layout")
		}
		return runOneProcess(cfg, *logPath, *pidPath)
	}
	var name, level, logFile, httpAddr string
	switch *role {
	case "dispatcher":
		c, ok := cfg.Dispatcher(*id)
		if !ok {
			return fmt.Errorf("no [dispatcher%d] in %s", *id, *cfgPath)
		}
		name, level, logFile, httpAddr = c.Name, c.LogLevel, c.LogFile, c.HTTPAddr
	case "game":
		c, ok := cfg.Game(*id)
		if !ok {
			return fmt.Errorf("no [game%d] in %s", *id, *cfgPath)
		}
		name, level, logFile, httpAddr = c.Name, c.LogLevel, c.LogFile, c.HTTPAddr
	case "gate":
		c, ok := cfg.Gate(*id)
		if !ok {
			return fmt.Errorf("no [gate%d] in %s", *id, *cfgPath)
		}
		name, level, logFile, httpAddr = c.Name, c.LogLevel, c.LogFile, c.HTTPAddr
	default:
		return fmt.Errorf("-role must be dispatcher, game or gate (or none, to run them all in this process), not %q", *role)
	}
	if *logPath != "" {
		logFile = *logPath
	}
	log, closeLog, err := newLogger(logFile, level)
	if err != nil {
		return err
	}
	defer closeLog()
	entry := log.WithField("process", name)

	if *pidPath != "" {
		pf, err := proc.AcquirePIDFile(*pidPath)
		if err != nil {
			return err
		}
		defer pf.Release()
	}

	adm, err := startAdmin(httpAddr, name, entry)
	if err != nil {
		entry.WithError(err).Error("cannot start")
		return err
	}
	defer adm.Stop()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var frozen *entity.Frozen
	if *restore || *restoreFrom != "" {
		if *role != "game" {
			return fmt.Errorf("-restore is for games, not a %s", *role)
		}
		if frozen, err = loadFrozen(cfg, *id, *restoreFrom); err != nil {
			entry.WithError(err).Error("cannot restore")
			return err
		}
	}

	secret, warn, err := cfg.Cluster.LoadSecret()
	if err != nil {
		entry.WithError(err).Error("cannot start")
		return err
	}
	if warn != "" {
		entry.Warn(warn)
	}

	err = runRole(ctx, *role, *id, name, cfg, dispAddrs, secret, frozen, adm, entry)
	if err != nil {
		entry.WithError(err).Error("exiting with error")
		return err
	}
	entry.Info("stopped")
	return nil
}

func newLogger(path, level string) (*logrus.Logger, func(), error) {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	log := logrus.New()
	log.SetLevel(lvl)
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02T15:04:05.000Z07:00"})
	if path == "" {
		log.SetOutput(os.Stderr)
		return log, func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	// Each line is written once, to the file: copied to stderr as well
	// (which goworldctl keeps in log/NAME.stderr), every line cost twice
	// the disk. A failure to start still reaches stderr: Run prints the
	// error there before exiting, and goworldctl start shows the tails
	// of both files.
	log.SetOutput(f)
	return log, func() { f.Close() }, nil
}

// loadFrozen reads the freeze file to restore: path if given, else the
// newest of game id's files in its freeze_dir.
func loadFrozen(cfg *config.Config, id int, path string) (*entity.Frozen, error) {
	c, ok := cfg.Game(id)
	if !ok {
		return nil, fmt.Errorf("no [game%d]", id)
	}
	if path == "" {
		files, err := game.FreezeFiles(c.FreezeDir, id)
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("-restore: no freeze file of game%d in %s (%v)", id, c.FreezeDir, err)
		}
		path = files[len(files)-1]
	}
	return game.LoadFreezeFile(path, id)
}

// gateShutdownGrace bounds how long a gate stopped with SIGTERM waits for
// its kicked clients to go before it closes.
const gateShutdownGrace = 3 * time.Second

// runRole runs the server of role; secret is the cluster secret (nil:
// none), for the links between games or gates and dispatchers.
func runRole(ctx context.Context, role string, id int, name string, cfg *config.Config, dispAddrs []string, secret []byte, frozen *entity.Frozen, adm *admin, log *logrus.Entry) error {
	r := &roleRun{ctx: ctx, role: role, id: id, name: name, cfg: cfg, dispAddrs: dispAddrs, secret: secret, frozen: frozen, adm: adm, log: log}
	switch role {
	case "dispatcher":
		return r.dispatcher()
	case "gate":
		return r.gate()
	case "game":
		return r.game()
	}
	return fmt.Errorf("unknown role %q", role)
}

// roleRun is one server process's run (runRole).
type roleRun struct {
	ctx       context.Context
	role      string
	id        int
	name      string
	cfg       *config.Config
	dispAddrs []string
	secret    []byte
	frozen    *entity.Frozen
	adm       *admin
	log       *logrus.Entry
}

// readyInfo is what the process says when it is ready, serving at addr.
func (r *roleRun) readyInfo(addr string) proc.ReadyInfo {
	return proc.ReadyInfo{Name: r.name, Role: r.role, ID: r.id, PID: os.Getpid(), Addr: addr, HTTPAddr: r.adm.Addr()}
}

// signalReady tells goworldctl (or whoever started the process) it is ready.
func (r *roleRun) signalReady(info proc.ReadyInfo) {
	if err := proc.SignalReady(info); err != nil {
		r.log.WithError(err).Warn("cannot signal readiness")
	}
}

// ready signals readiness, serving at addr.
func (r *roleRun) ready(addr string) { r.signalReady(r.readyInfo(addr)) }

// dispatcher runs a dispatcher until the process is told to stop.
func (r *roleRun) dispatcher() error {
	d, err := dispatcher.New(dispatcherConfig(r.cfg, r.id, r.secret, r.log))
	if err != nil {
		return err
	}
	if r.secret == nil && !loopbackListen(d.Addr()) {
		r.log.Warnf("listening on %s without a cluster secret: games and gates from other machines will be refused; give every process the same [cluster] secret_file (docs/architecture.md, \"Server links\")", d.Addr())
	}
	r.adm.SetMetrics(d.WriteMetrics)
	r.ready(d.Addr().String())
	if err := d.Run(r.ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, dispatcher.ErrServerClosed) {
		return err
	}
	return d.Close()
}

// gate runs a gate until the process is told to stop.
func (r *roleRun) gate() error {
	c, _ := r.cfg.Gate(r.id)
	gc := gateConfig(c, r.dispAddrs, r.log)
	gc.Secret = r.secret
	g, err := gate.New(gc)
	if err != nil {
		return err
	}
	r.adm.SetMetrics(g.WriteMetrics)
	errc := make(chan error, 1)
	// The gate runs until SIGTERM, which shuts it down gracefully:
	// its clients are told why (a kick) before it closes.
	go func() { errc <- g.Run(r.ctx) }()
	select {
	case <-g.Ready():
		info := r.readyInfo(g.Addr().String())
		if a := g.WSAddr(); a != nil {
			info.WSURL = c.WSURL(a.String())
		}
		r.signalReady(info)
	case err := <-errc:
		return err
	}
	err = <-errc
	if errors.Is(err, context.Canceled) || errors.Is(err, gate.ErrServerClosed) {
		err = nil
	}
	return err
}

// game runs a game until the process is told to stop, or freezes.
func (r *roleRun) game() error {
	c, _ := r.cfg.Game(r.id)
	// With [storage] type = none the game has no storage (nil).
	var backend storage.Backend
	if r.cfg.Storage.Type != config.StorageNone {
		b, err := openStorage(&r.cfg.Storage)
		if err != nil {
			return err
		}
		defer b.Close()
		backend = b
	}
	gc := gameConfig(r.cfg, c, r.dispAddrs, backend, r.secret, r.log)
	gc.Restore = r.frozen
	g, err := game.New(gc)
	if err != nil {
		return err
	}
	r.adm.SetMetrics(g.WriteMetrics)
	stopFreeze := onFreezeSignal(g.RequestFreeze)
	defer stopFreeze()
	errc := make(chan error, 1)
	go func() { errc <- g.Run(r.ctx) }()
	select {
	case <-g.Ready():
		info := r.readyInfo("")
		if r.frozen != nil {
			info.Restored, info.Entities = true, len(r.frozen.Entities)
			info.PauseMS = float64(g.Pause().Microseconds()) / 1000
			rep := g.RestoreReport()
			info.RestoreHooks, info.RestorePanics = rep.Hooks, rep.HookPanics
		}
		r.signalReady(info)
	case err := <-errc:
		if err == nil {
			err = r.ctx.Err()
		}
		return err
	}
	err = <-errc
	switch {
	case errors.Is(err, game.ErrFrozen):
		r.log.Info("frozen for a hot reload; exiting")
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, game.ErrServerClosed):
		return nil // stopped (SIGTERM) and saved
	}
	return err
}

// dispatcherConfig is the dispatcher.Config of [dispatcherID]: its
// identity and place in the cluster, and config.ini's tunables as they
// are (config.DispatcherTuning).
func dispatcherConfig(cfg *config.Config, id int, secret []byte, log logrus.FieldLogger) dispatcher.Config {
	c, _ := cfg.Dispatcher(id)
	index := 0
	for i, d := range cfg.Dispatchers {
		if d.ID == id {
			index = i
		}
	}
	return dispatcher.Config{
		ID: id, Index: index, Count: len(cfg.Dispatchers), ListenAddr: c.ListenAddr,
		DispatcherTuning: c.DispatcherTuning, Logger: log, Games: gameIDs(cfg), Secret: secret,
	}
}

// gameConfig is the game.Config of the game c configures: its identity,
// cluster and storage, and config.ini's tunables as they are
// (config.GameTuning).
func gameConfig(cfg *config.Config, c *config.GameConfig, dispAddrs []string, backend storage.Backend, secret []byte, log logrus.FieldLogger) game.Config {
	return game.Config{
		ID: c.ID, Games: gameIDs(cfg), Dispatchers: dispAddrs, BootEntity: c.BootEntity, Registry: registry,
		Storage: backend, GameTuning: c.GameTuning, Logger: log, Secret: secret,
	}
}

// NewEntityID returns a fresh entity ID (for CreateEntitySomewhereWithID).
func NewEntityID() EntityID { return rpc.NewEntityID() }

// gameIDs returns the IDs of the games cfg configures.
func gameIDs(cfg *config.Config) []rpc.GameID {
	ids := make([]rpc.GameID, len(cfg.Games))
	for i, g := range cfg.Games {
		ids[i] = rpc.GameID(g.ID)
	}
	return ids
}

// gateConfig is the gate.Config of the gate configured by c: its
// identity, addresses and certificates, and config.ini's tunables as they
// are (config.GateTuning).
func gateConfig(c *config.GateConfig, dispAddrs []string, log logrus.FieldLogger) gate.Config {
	return gate.Config{
		ID: c.ID, ListenAddr: c.ListenAddr, KCP: c.KCP, Dispatchers: dispAddrs,
		TLSCertFile: c.TLSCert, TLSKeyFile: c.TLSKey,
		WSAddr: c.WSAddr, WSTLSCertFile: c.WSTLSCert, WSTLSKeyFile: c.WSTLSKey, WSOrigins: c.WSOrigins,
		GateTuning: c.GateTuning, Logger: log, ShutdownGrace: gateShutdownGrace,
	}
}

// loopbackListen reports whether a is a loopback address: only this
// machine can connect to it.
func loopbackListen(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// openStorage opens the backend of config.ini's [storage] section.
func openStorage(s *config.StorageConfig) (storage.Backend, error) {
	c := storage.Config{Type: s.Type, Path: s.Path}
	if s.Type == storage.TypeRedis {
		tc, err := redisTLS(s)
		if err != nil {
			return nil, err
		}
		c.Redis = &storage.RedisOptions{
			Addr: s.Addr, Addrs: s.Addrs, Username: s.Username, Password: s.Password, TLS: tc, DB: s.DB, KeyPrefix: s.KeyPrefix,
			DialTimeout: s.DialTimeout, ReadTimeout: s.ReadTimeout, WriteTimeout: s.WriteTimeout,
		}
	}
	return storage.OpenConfig(c)
}

// redisTLS returns the TLS configuration of [storage] tls = true, its
// files read (nil without tls).
func redisTLS(s *config.StorageConfig) (*tls.Config, error) {
	if !s.TLS {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.TLSServerName}
	if s.TLSCA != "" {
		pem, err := os.ReadFile(s.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("[storage] tls_ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("[storage] tls_ca: %s holds no PEM certificate", s.TLSCA)
		}
	}
	if s.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("[storage] tls_cert, tls_key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
