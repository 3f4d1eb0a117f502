package config

import (
	"slices"
	"strconv"
	"time"
)

// Defaults used by Default and by Load and Parse for keys that are set
// neither in a process section nor in its _common section.
const (
	// DefaultMaxPacketSize is the default max_packet_size: the largest frame,
	// in bytes, accepted on a connection between two server processes.
	DefaultMaxPacketSize = 16 << 20
	// DefaultMaxClientPacketSize is the default max_client_packet_size: the
	// largest frame, in bytes, that a client may send to a gate.
	DefaultMaxClientPacketSize = 64 << 10
	// DefaultClientSendBufferSize is the default client_send_buffer_size: the
	// number of bytes a gate queues for one client before it closes the
	// client as a slow consumer.
	DefaultClientSendBufferSize = 1 << 20
	// DefaultSendBufferSize is the default send_buffer_size: the number of
	// bytes queued for one server peer past which its senders wait for it
	// to drain (back-pressure); past twice that the connection is closed
	// as a slow consumer.
	DefaultSendBufferSize = 64 << 20
	// DefaultHeartbeatTimeout is the default heartbeat_timeout: a client that
	// sends nothing for this long is disconnected by its gate.
	DefaultHeartbeatTimeout = 30 * time.Second
	// DefaultHeartbeatInterval is the default heartbeat_interval: how often
	// a gate asks its clients to send a heartbeat (it announces it in its
	// answers to their heartbeats), or half of heartbeat_timeout if that
	// is shorter.
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultSaveInterval is the default save_interval: how often a game
	// saves its persistent entities.
	DefaultSaveInterval = 60 * time.Second
	// DefaultHTTPAddr is the default http_addr of every process: the admin
	// HTTP server (/metrics, /debug/pprof/) on a free loopback port, which
	// the process reports to goworldctl when it is ready.
	DefaultHTTPAddr = "127.0.0.1:0"
	// DefaultLogLevel is the default log_level of every process.
	DefaultLogLevel = "info"
	// DefaultKCP is the default of the gate's kcp key.
	DefaultKCP = true
	// DefaultStorageType is the default type of the [storage] section.
	DefaultStorageType = "bbolt"
	// DefaultStoragePath is the default path of the [storage] section.
	DefaultStoragePath = "goworld.db"
	// DefaultRedisKeyPrefix is the default key_prefix of [storage] with
	// type = redis.
	DefaultRedisKeyPrefix = "goworld:"
	// DefaultRedisDialTimeout is the default dial_timeout of [storage].
	DefaultRedisDialTimeout = 5 * time.Second
	// DefaultRedisReadTimeout is the default read_timeout of [storage].
	DefaultRedisReadTimeout = 3 * time.Second
	// DefaultRedisWriteTimeout is the default write_timeout of [storage].
	DefaultRedisWriteTimeout = 3 * time.Second
	// DefaultFreezeQueueLimit bounds what a dispatcher queues for a game
	// frozen for a hot reload.
	DefaultFreezeQueueLimit = 64 << 20
	// DefaultRestoreTimeout is how long a dispatcher waits for a frozen game.
	DefaultRestoreTimeout = 60 * time.Second
	// DefaultRecoverWindow is how long a restarted dispatcher holds what is
	// routed to entities and gates that have not come back yet.
	DefaultRecoverWindow = 20 * time.Second
	// DefaultRecoverQueueLimit bounds the bytes held during that window.
	DefaultRecoverQueueLimit = 64 << 20
	// DefaultFreezeDir is where games write freeze files (relative to the
	// server directory).
	DefaultFreezeDir = "freeze"
	// DefaultKeepFreezeFiles is how many freeze files per game are kept.
	DefaultKeepFreezeFiles = 5
	// DefaultFreezeTimeout bounds a game's freeze.
	DefaultFreezeTimeout = 10 * time.Second
	// DefaultStallThreshold is how long one wake-up of a game loop may run
	// (or the loop fall behind) before it is logged as stuck.
	DefaultStallThreshold = time.Second
	// DefaultPositionSyncInterval is how often a game sends clients the
	// positions of what moved in their view.
	DefaultPositionSyncInterval = 100 * time.Millisecond
	// MaxAOISyncLimit is aoi_sync_limit's largest value: what one
	// positions message can count (16 bits).
	MaxAOISyncLimit = 1<<16 - 1
	// DefaultAOISyncLimit bounds the entity creates and position updates
	// one client is sent per position sync.
	DefaultAOISyncLimit = 64
	// DefaultAOISyncTotal bounds those of one position sync for a whole
	// space: enough for 2,000 clients walking in one space, each seeing
	// about 60 others (see space.DefaultSyncTotal).
	DefaultAOISyncTotal = 128000
	// DefaultAOISyncWork bounds the pairs one position sync examines per
	// space to find what moved: (client, entity in its view) pairs, or
	// (mover, watcher) pairs when few moved (see space.Config.SyncWork).
	DefaultAOISyncWork = 128000
	// DefaultMaxClientString bounds each string in a client's call
	// arguments, in bytes (max_client_string).
	DefaultMaxClientString = 4096
	// DefaultMaxClientCoordinate bounds each coordinate of a position a
	// client sends for its player (max_client_coordinate).
	DefaultMaxClientCoordinate = 1_000_000
	// DefaultRequestTimeout is the default request_timeout: how long an
	// entity's request waits for its answer.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultServiceGrace is the default service_grace: how long a game
	// that is ready leaves the service shards of other games to them.
	DefaultServiceGrace = 2 * time.Second
	// DefaultMailboxLimit is the default mailbox_limit: the offline calls
	// kept in storage for one entity.
	DefaultMailboxLimit = 256
	// DefaultSlowCall is the default slow_call: a method holding the game
	// loop longer is logged.
	DefaultSlowCall = 50 * time.Millisecond
	// DefaultMaxClientRequests is the default max_client_requests: the
	// requests one client may have waiting for their answers.
	DefaultMaxClientRequests = 64
	// DefaultClientMsgRate is the default client_msg_rate: the frames per
	// second one client may send to its gate, on average.
	DefaultClientMsgRate = 1000
	// DefaultClientMsgBurst is the default client_msg_burst: the frames a
	// client may send at once above client_msg_rate.
	DefaultClientMsgBurst = 2000
	// DefaultClientByteRate is the default client_byte_rate: the bytes per
	// second (frame headers included) one client may send, on average.
	DefaultClientByteRate = 1 << 20
	// DefaultClientByteBurst is the default client_byte_burst: the bytes a
	// client may send at once above client_byte_rate.
	DefaultClientByteBurst = 2 << 20
	// DefaultMaxClients is the default max_clients: the clients one gate
	// serves at a time.
	DefaultMaxClients = 50000
	// DefaultMaxClientsPerIP is the default max_clients_per_ip: the
	// connections one address may hold at a gate, so that one host cannot
	// take every place (or every descriptor, with WebSocket handshakes).
	// Players behind one NAT share an address: a thousand is far more than
	// one house, school or office, and still a fiftieth of a gate.
	DefaultMaxClientsPerIP = 1000
	// DefaultResumeWindow is the default resume_window: how long a gate
	// holds a resumable session after its connection dropped.
	DefaultResumeWindow = 60 * time.Second
	// MaxResumeWindow is the longest resume_window.
	MaxResumeWindow = time.Hour
	// DefaultResumeLimit is the default resume_limit: the bytes of
	// session frames a gate keeps for one resumable client.
	DefaultResumeLimit = 1 << 20
	// MinResumeLimit and MaxResumeLimit bound resume_limit.
	MinResumeLimit = 64 << 10
	MaxResumeLimit = 256 << 20
	// DefaultKCPInterval is the default kcp_interval.
	DefaultKCPInterval = 10 * time.Millisecond
	// DefaultKCPSessionRate is the default kcp_session_rate: the new KCP
	// sessions per second one gate accepts, on average.
	DefaultKCPSessionRate = 500
	// DefaultKCPSessionBurst is the default kcp_session_burst: the new KCP
	// sessions a gate accepts at once above kcp_session_rate.
	DefaultKCPSessionBurst = 2500
	// DefaultKCPHelloRate is the default kcp_hello_rate: the KCP
	// handshake hellos one gate answers per second.
	DefaultKCPHelloRate = 2000
	// DefaultKCPHandshakeTimeout is the default kcp_handshake_timeout: how
	// long a new KCP session has to deliver its first frame.
	DefaultKCPHandshakeTimeout = 3 * time.Second
)

// Config is the configuration of a whole cluster.
type Config struct {
	Dispatchers []DispatcherConfig // sorted by ID
	Games       []GameConfig       // sorted by ID
	Gates       []GateConfig       // sorted by ID
	Storage     StorageConfig
	Cluster     ClusterConfig // [cluster]: the secret of the server links
}

// DispatcherConfig is the configuration of one dispatcher process, section
// [dispatcherN].
type DispatcherConfig struct {
	ID         int    // N of [dispatcherN], 1..65535
	Name       string // section name, e.g. "dispatcher1"
	Host       string // host: the machine it runs on (see Config.Hosts); empty on a one-machine cluster
	ListenAddr string // listen_addr: host:port the games and gates connect to
	// AdvertiseAddr (advertise_addr) is the host:port games and gates dial
	// when it differs from ListenAddr: a dispatcher listening on 0.0.0.0
	// (every interface) advertises this machine's address on the network
	// the cluster shares. Empty: they dial ListenAddr.
	AdvertiseAddr string
	HTTPAddr      string // http_addr: admin HTTP host:port; empty means disabled
	LogLevel      string // log_level: debug, info, warn or error
	LogFile       string // log_file: defaults to Name + ".log"
	// HTTPAllowRemote (http_allow_remote) allows an http_addr that is not
	// a loopback address.
	HTTPAllowRemote bool
	// DispatcherTuning holds the other keys: sizes, queue limits and
	// windows, which dispatcher.Config embeds as they are.
	DispatcherTuning
}

// GameConfig is the configuration of one game process, section [gameN].
type GameConfig struct {
	ID         int    // N of [gameN], 1..65535
	Name       string // section name, e.g. "game1"
	Host       string // host: the machine it runs on; empty on a one-machine cluster
	BootEntity string // boot_entity: entity type created for each new client
	// HTTPAllowRemote (http_allow_remote) allows an http_addr that is not
	// a loopback address.
	HTTPAllowRemote bool
	HTTPAddr        string // http_addr: admin HTTP host:port; empty means disabled
	LogLevel        string // log_level: debug, info, warn or error
	LogFile         string // log_file: defaults to Name + ".log"
	// GameTuning holds the other keys: intervals, sizes and limits, which
	// game.Config embeds as they are.
	GameTuning
}

// GateConfig is the configuration of one gate process, section [gateN].
type GateConfig struct {
	ID              int    // N of [gateN], 1..65535
	Name            string // section name, e.g. "gate1"
	Host            string // host: the machine it runs on; empty on a one-machine cluster
	ListenAddr      string // listen_addr: host:port clients connect to
	HTTPAddr        string // http_addr: admin HTTP host:port; empty means disabled
	HTTPAllowRemote bool   // http_allow_remote: allow a non-loopback http_addr
	KCP             bool   // kcp: also serve KCP (UDP) on the port of ListenAddr
	// WSAddr (ws_addr) is the host:port of the gate's WebSocket port; empty
	// serves no WebSocket clients.
	WSAddr string
	// TLSCert (tls_cert) and TLSKey (tls_key) are PEM files, relative to
	// the server directory, that make the TCP client port speak TLS (KCP
	// on the same port number stays plain).
	TLSCert, TLSKey string
	// WSTLSCert (ws_tls_cert) and WSTLSKey (ws_tls_key) are PEM files, relative
	// to the server directory; set both to serve wss:// on WSAddr.
	WSTLSCert, WSTLSKey string
	// WSOrigins (ws_origins) lists the browser origins allowed to connect
	// over WebSocket, e.g. https://game.example; empty allows any.
	WSOrigins []string
	LogLevel  string // log_level: debug, info, warn or error
	LogFile   string // log_file: defaults to Name + ".log"
	// GateTuning holds the other keys: heartbeats, sizes, rates, client
	// limits, KCP and resume settings, which gate.Config embeds as they
	// are.
	GateTuning
}

// WSURL returns the URL a client dials for the gate's WebSocket port at
// hostPort (its bound ws_addr): wss:// with ws_tls_cert, else ws://.
func (g *GateConfig) WSURL(hostPort string) string {
	if g.WSTLSCert != "" {
		return "wss://" + hostPort + "/"
	}
	return "ws://" + hostPort + "/"
}

// StorageConfig is the [storage] section: where persistent entities and
// the KV store are kept.
type StorageConfig struct {
	Type string // type: the backend, "bbolt" (one game process), "redis" or "none" (any number)
	Path string // path (bbolt): the database file, relative to the server directory

	// The keys of type = redis (see storage.RedisOptions).
	Addr     string   // addr: a standalone server's host:port
	Addrs    []string // addrs: nodes of a Redis Cluster, host:port each
	Username string   // username: the ACL user AUTH names (Redis 6+); empty: the default user
	Password string   // password: sent with AUTH; never printed
	// TLS (tls) makes the connections to Redis speak TLS. TLSCA (tls_ca)
	// is a PEM file of the CAs that verify the server (empty: the
	// system's); TLSCert and TLSKey (tls_cert, tls_key) a client
	// certificate and key, for a server that requires one; TLSServerName
	// (tls_server_name) the name the server's certificate must carry
	// (empty: the host of addr). Files are relative to the server
	// directory.
	TLS                                   bool
	TLSCA, TLSCert, TLSKey, TLSServerName string

	DB           int           // db: the database number (standalone only)
	KeyPrefix    string        // key_prefix: starts every key (default "goworld:")
	DialTimeout  time.Duration // dial_timeout (default 5s)
	ReadTimeout  time.Duration // read_timeout (default 3s)
	WriteTimeout time.Duration // write_timeout (default 3s)
}

// newStorage returns the [storage] section's defaults.
func newStorage() StorageConfig {
	return StorageConfig{
		Type: DefaultStorageType, Path: DefaultStoragePath,
		KeyPrefix: DefaultRedisKeyPrefix, DialTimeout: DefaultRedisDialTimeout,
		ReadTimeout: DefaultRedisReadTimeout, WriteTimeout: DefaultRedisWriteTimeout,
	}
}

// Storage types that [StorageConfig.Type] names.
const (
	// StorageBolt is the embedded bbolt file: one game process opens it,
	// so a cluster with bbolt storage has one game.
	StorageBolt = "bbolt"
	// StorageRedis is a Redis server or cluster that every game of the
	// cluster shares.
	StorageRedis = "redis"
	// StorageNone keeps nothing: a game has no storage, so persistent
	// entities cannot be saved or loaded and KV calls fail (with
	// entity.ErrNoStorage). For worlds that keep nothing, any number of
	// games.
	StorageNone = "none"
)

// Section name prefixes of the three process kinds.
const (
	dispatcherKind = "dispatcher"
	gameKind       = "game"
	gateKind       = "gate"
)

func processName(kind string, id int) string { return kind + strconv.Itoa(id) }

func newDispatcher(id int) DispatcherConfig {
	name := processName(dispatcherKind, id)
	d := DispatcherConfig{ID: id, Name: name, HTTPAddr: DefaultHTTPAddr, LogLevel: DefaultLogLevel, LogFile: name + ".log"}
	d.DispatcherTuning.SetDefaults()
	return d
}

func newGame(id int) GameConfig {
	name := processName(gameKind, id)
	g := GameConfig{ID: id, Name: name, HTTPAddr: DefaultHTTPAddr, LogLevel: DefaultLogLevel, LogFile: name + ".log"}
	g.GameTuning.SetDefaults()
	return g
}

func newGate(id int) GateConfig {
	name := processName(gateKind, id)
	g := GateConfig{ID: id, Name: name, KCP: DefaultKCP, HTTPAddr: DefaultHTTPAddr, LogLevel: DefaultLogLevel, LogFile: name + ".log"}
	g.GateTuning.SetDefaults()
	return g
}

// Default returns a new copy of the configuration in the default config.ini:
// dispatcher1 listening on 127.0.0.1:13001, game1 booting "Account" entities,
// gate1 listening on 127.0.0.1:14001 with KCP and on 127.0.0.1:14002 for
// WebSocket clients, and bbolt storage in goworld.db; every other setting
// has its Default* value (a gate without ws_addr serves no WebSocket).
func Default() *Config {
	d := newDispatcher(1)
	d.ListenAddr = "127.0.0.1:13001"
	g := newGame(1)
	g.BootEntity = "Account"
	gt := newGate(1)
	gt.ListenAddr = "127.0.0.1:14001"
	gt.WSAddr = "127.0.0.1:14002"
	return &Config{
		Dispatchers: []DispatcherConfig{d},
		Games:       []GameConfig{g},
		Gates:       []GateConfig{gt},
		Storage:     newStorage(),
	}
}

// Dispatcher returns the dispatcher with the given ID. The pointer refers to
// the element of c.Dispatchers.
func (c *Config) Dispatcher(id int) (*DispatcherConfig, bool) {
	for i := range c.Dispatchers {
		if c.Dispatchers[i].ID == id {
			return &c.Dispatchers[i], true
		}
	}
	return nil, false
}

// Game returns the game with the given ID. The pointer refers to the element
// of c.Games.
func (c *Config) Game(id int) (*GameConfig, bool) {
	for i := range c.Games {
		if c.Games[i].ID == id {
			return &c.Games[i], true
		}
	}
	return nil, false
}

// Gate returns the gate with the given ID. The pointer refers to the element
// of c.Gates.
func (c *Config) Gate(id int) (*GateConfig, bool) {
	for i := range c.Gates {
		if c.Gates[i].ID == id {
			return &c.Gates[i], true
		}
	}
	return nil, false
}

// DispatcherAddrs returns the addresses games and gates dial to reach the
// dispatchers (each one's DialAddr), in ID order, the order in which games
// and gates index them.
func (c *Config) DispatcherAddrs() []string {
	ds := slices.Clone(c.Dispatchers)
	slices.SortStableFunc(ds, func(a, b DispatcherConfig) int { return a.ID - b.ID })
	addrs := make([]string, len(ds))
	for i, d := range ds {
		addrs[i] = d.DialAddr()
	}
	return addrs
}

// DialAddr returns the address games and gates dial to reach d: its
// advertise_addr if set, else its listen_addr.
func (d *DispatcherConfig) DialAddr() string {
	if d.AdvertiseAddr != "" {
		return d.AdvertiseAddr
	}
	return d.ListenAddr
}

// Hosts returns the host names the processes of c name, sorted, each
// once; none for a cluster on one machine, whose processes name no host.
// Validate makes sure that either every process names its host or none
// does.
func (c *Config) Hosts() []string {
	var hosts []string
	add := func(h string) {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, d := range c.Dispatchers {
		add(d.Host)
	}
	for _, g := range c.Games {
		add(g.Host)
	}
	for _, g := range c.Gates {
		add(g.Host)
	}
	slices.Sort(hosts)
	return hosts
}
