// Package config loads and validates the cluster configuration file,
// config.ini, shared by the dispatcher, game and gate processes.
//
// The file is an INI file with one section per process and one shared
// section per process kind:
//
//	[dispatcher_common]
//	log_level = info
//
//	[dispatcher1]
//	listen_addr = 127.0.0.1:13001
//
//	[game_common]
//	boot_entity = Account
//
//	[game1]
//
//	[gate_common]
//	kcp = true
//
//	[gate1]
//	listen_addr = 127.0.0.1:14001
//
//	[storage]
//	type = bbolt
//	path = goworld.db
//
// [storage] selects the backend: type = bbolt keeps everything in the file
// path (one game process only); type = redis uses a Redis server (addr =
// HOST:PORT, db) or a Redis Cluster (addrs = A,B,C), shared by every game,
// with username and password, key_prefix (default "goworld:"),
// dial_timeout (5s), read_timeout and write_timeout (3s), and tls = true
// with tls_ca, tls_cert and tls_key (PEM files) and tls_server_name for a
// server that speaks TLS. The keys of redis are errors with another type,
// and a password is never quoted in a message.
//
// A section named dispatcherN, gameN or gateN (N in 1..65535, written without
// leading zeros) defines one process. It inherits every key of the matching
// dispatcher_common, game_common or gate_common section and may override any
// of them. Keys that are absent everywhere take the Default* constants of this
// package. Keys outside of any section, unknown sections, unknown keys,
// sections that appear twice and keys set twice in one section are errors.
// An inline comment must be preceded by white space ("key = value ; note").
//
// A cluster over several machines names each process's machine with the
// host key (in every process section, or in the _common sections; every
// process or none), and a dispatcher bound to every interface names the
// address other machines dial with advertise_addr; see Config.Hosts,
// DispatcherConfig.DialAddr and docs/deployment.md.
//
// The keys that tune a server are the fields of one struct per kind,
// GateTuning, GameTuning and DispatcherTuning, embedded both in the
// section's config (GateConfig...) and in the server's own Config
// (gate.Config...), so that the two cannot drift: a zero field takes its
// default (SetDefaults), and Unlimited and Off (-1) lift a limit or turn a
// window off where the field allows it. In the file these are words:
// max_clients = unlimited, resume_window = off; an explicit 0 for such a
// key is an error that names both ways of saying what was meant.
//
// Load and Parse report every problem they find, joined with errors.Join, and
// each message names the file, the section and the key, for example:
//
//	config.ini: [gate1] unknown key "heartbeat_timout" (did you mean "heartbeat_timeout"?)
//	config.ini: [game_common] save_interval = "10 minutes": not a duration (use e.g. 60s, 5m)
//
// A typical process reads the file once at start-up and looks up its own
// section:
//
//	cfg, err := config.Load("config.ini")
//	if err != nil {
//		log.Fatal(err)
//	}
//	gate, ok := cfg.Gate(1)
//	if !ok {
//		log.Fatal("config.ini has no [gate1] section")
//	}
//	ln, err := net.Listen("tcp", gate.ListenAddr)
//
// Tests usually start from Default and change what they need, then call
// Validate:
//
//	cfg := config.Default()
//	cfg.Dispatchers[0].ListenAddr = "127.0.0.1:0"
//	cfg.Gates[0].ListenAddr = "127.0.0.1:0"
//	if err := cfg.Validate(); err != nil {
//		t.Fatal(err)
//	}
package config
