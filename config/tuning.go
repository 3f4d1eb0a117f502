package config

import (
	"net/netip"
	"time"
)

// Unlimited, in a limit of GateTuning or GameTuning that allows it, means
// no limit: config.ini writes it "unlimited" (max_clients = unlimited).
// Off, in a window that allows it, turns the feature off: config.ini
// writes it "off" (resume_window = off). In these structs zero always
// takes the default, as in net/http; a 0 written in config.ini for one of
// these keys is an error, since it was meant as one or the other.
const (
	Unlimited = -1
	Off       = -1
)

// GateTuning holds the tunables of a gate that config.ini sets: the keys
// of a [gateN] section other than the process's identity, addresses,
// certificates and logging. It is embedded both in GateConfig (what Parse
// fills from the file) and in gate.Config (what the gate runs with), so
// that a new tunable is declared once and the two cannot drift: goworld
// copies the struct, not its fields.
//
// A zero field takes its default (the Default* constant of this package;
// see SetDefaults). Parse and Default return every field set, so a
// GateConfig's fields are never zero but HeartbeatInterval's.
type GateTuning struct {
	// HeartbeatTimeout (heartbeat_timeout) disconnects a client that
	// sends nothing for this long (default DefaultHeartbeatTimeout).
	HeartbeatTimeout time.Duration
	// HeartbeatInterval (heartbeat_interval) is how often clients should
	// send a heartbeat; the gate announces it, with HeartbeatTimeout, in
	// every MsgHeartbeatAck, and the Go and JavaScript clients adopt
	// both, taking the gate as gone after min(4 intervals,
	// HeartbeatTimeout) without a frame from it. Zero, even after Parse
	// and SetDefaults: DefaultHeartbeatInterval, or half of
	// HeartbeatTimeout if that is shorter, which the gate works out, so
	// that a short heartbeat_timeout alone stays valid. The gate keeps it
	// within 100ms..10m and at most half of HeartbeatTimeout.
	HeartbeatInterval time.Duration
	// MaxClientPacketSize (max_client_packet_size) is the largest frame
	// body a client may send, in bytes (default DefaultMaxClientPacketSize).
	MaxClientPacketSize int
	// ClientSendBufferSize (client_send_buffer_size) bounds the bytes
	// queued for one client; past it the client is closed as a slow
	// consumer (default DefaultClientSendBufferSize).
	ClientSendBufferSize int
	// MaxPacketSize (max_packet_size) is the largest frame body accepted
	// from a dispatcher (default DefaultMaxPacketSize).
	MaxPacketSize int
	// SendBufferSize (send_buffer_size) is the bytes queued for a
	// dispatcher past which the clients whose frames fill it wait for it
	// to drain (back-pressure; default DefaultSendBufferSize).
	SendBufferSize int
	// ClientMsgRate (client_msg_rate) and ClientMsgBurst
	// (client_msg_burst) bound the frames one client may send: a token
	// bucket refilled at the rate per second, holding at most the burst
	// (defaults DefaultClientMsgRate and DefaultClientMsgBurst). A client
	// over it is kicked with "rate limit: ...". The rate may be
	// Unlimited.
	ClientMsgRate, ClientMsgBurst int
	// ClientByteRate (client_byte_rate) and ClientByteBurst
	// (client_byte_burst) do the same for the bytes a client sends,
	// frame headers included (defaults DefaultClientByteRate and
	// DefaultClientByteBurst). The gate raises a burst below one largest
	// frame (MaxClientPacketSize + 6) to it. The rate may be Unlimited.
	ClientByteRate, ClientByteBurst int
	// MaxClients (max_clients) bounds the clients connected to the gate;
	// more are kicked with "server full" as they connect (default
	// DefaultMaxClients; Unlimited: as many as the open-file limit
	// allows). The gate clamps it to its open-file limit (RLIMIT_NOFILE,
	// raised to its hard limit first) less gate.FDReserve descriptors and
	// one per dispatcher, with a warning, and refuses to start if that
	// leaves fewer than gate.MinClients.
	MaxClients int
	// MaxClientsPerIP (max_clients_per_ip) bounds the connections one
	// address holds at a time (an IPv6 address counts by its /64, which
	// one host usually has to itself): TCP, TLS, KCP and WebSocket
	// together, WebSocket ones from the moment they are accepted, still in
	// their HTTP handshake (default DefaultMaxClientsPerIP; may be
	// Unlimited). More are refused: "too many connections from your
	// address" (a kick; HTTP 429 for a WebSocket handshake). Addresses in
	// MaxClientsPerIPExempt are not bounded.
	MaxClientsPerIP int
	// MaxClientsPerIPExempt (max_clients_per_ip_exempt) lists the
	// networks that MaxClientsPerIP does not bound: the gate's own reverse
	// proxies, through which every client comes from one address. nil
	// takes the default, loopback (127.0.0.0/8 and ::1); empty (none)
	// exempts nothing.
	MaxClientsPerIPExempt []netip.Prefix
	// MaxClientRequests (max_client_requests) bounds the requests
	// (MsgRequest) one client may have waiting for their answers; the
	// gate answers one beyond with the code "overloaded" at once, without
	// forwarding it (default DefaultMaxClientRequests).
	MaxClientRequests int
	// KCPSessionRate (kcp_session_rate) and KCPSessionBurst
	// (kcp_session_burst) bound the new KCP sessions the gate accepts
	// per second (defaults DefaultKCPSessionRate and
	// DefaultKCPSessionBurst): the first datagram of a session beyond is
	// dropped before KCP sees it (the client's KCP resends it), and the
	// drops are logged at most once a second. The rate may be Unlimited.
	KCPSessionRate, KCPSessionBurst int
	// KCPHelloRate (kcp_hello_rate) bounds the KCP handshake hellos the
	// gate answers per second, in all, the burst being one second's
	// worth (default DefaultKCPHelloRate; may be Unlimited). The rest go
	// unanswered; clients resend theirs.
	KCPHelloRate int
	// KCPHandshakeTimeout (kcp_handshake_timeout) is how long a new KCP
	// session has to deliver its first complete frame (default
	// DefaultKCPHandshakeTimeout; the gate cuts it to HeartbeatTimeout).
	// Until then it is not a client and takes no MaxClients slot; then
	// it is closed.
	KCPHandshakeTimeout time.Duration
	// KCPInterval (kcp_interval) is how often KCP looks at each session
	// for retransmissions and window updates, whole milliseconds from
	// 10ms to 1s (default DefaultKCPInterval): every session costs a
	// little CPU at each look, idle or not, and a lost packet waits up to
	// one interval longer for its resend.
	KCPInterval time.Duration
	// ResumeWindow (resume_window) is how long the gate holds a
	// resumable session (docs/protocol.md, 8.1) after its connection
	// dropped without a quit, up to MaxResumeWindow (default
	// DefaultResumeWindow). Off makes sessions not resumable: the hello's
	// flag is ignored.
	ResumeWindow time.Duration
	// ResumeLimit (resume_limit) bounds the bytes of session frames the
	// gate keeps for one resumable client: unacknowledged ones while it
	// is connected (past it the oldest are forgotten), and everything
	// sent while it is away (past it the held session ends). From
	// MinResumeLimit to MaxResumeLimit (default DefaultResumeLimit).
	ResumeLimit int
}

// SetDefaults gives every zero field of t its default (all but
// HeartbeatInterval: see there). A negative size or duration takes the
// default too; a negative limit, rate or window (Unlimited, Off) is kept.
func (t *GateTuning) SetDefaults() {
	positiveOr(&t.HeartbeatTimeout, DefaultHeartbeatTimeout)
	positiveOr(&t.MaxClientPacketSize, DefaultMaxClientPacketSize)
	positiveOr(&t.ClientSendBufferSize, DefaultClientSendBufferSize)
	positiveOr(&t.MaxPacketSize, DefaultMaxPacketSize)
	positiveOr(&t.SendBufferSize, DefaultSendBufferSize)
	nonZeroOr(&t.ClientMsgRate, DefaultClientMsgRate)
	nonZeroOr(&t.ClientMsgBurst, DefaultClientMsgBurst)
	nonZeroOr(&t.ClientByteRate, DefaultClientByteRate)
	nonZeroOr(&t.ClientByteBurst, DefaultClientByteBurst)
	nonZeroOr(&t.MaxClients, DefaultMaxClients)
	nonZeroOr(&t.MaxClientsPerIP, DefaultMaxClientsPerIP)
	if t.MaxClientsPerIPExempt == nil {
		t.MaxClientsPerIPExempt = DefaultMaxClientsPerIPExempt()
	}
	positiveOr(&t.MaxClientRequests, DefaultMaxClientRequests)
	nonZeroOr(&t.KCPSessionRate, DefaultKCPSessionRate)
	nonZeroOr(&t.KCPSessionBurst, DefaultKCPSessionBurst)
	nonZeroOr(&t.KCPHelloRate, DefaultKCPHelloRate)
	positiveOr(&t.KCPHandshakeTimeout, DefaultKCPHandshakeTimeout)
	positiveOr(&t.KCPInterval, DefaultKCPInterval)
	nonZeroOr(&t.ResumeWindow, DefaultResumeWindow)
	positiveOr(&t.ResumeLimit, DefaultResumeLimit)
}

// GameTuning holds the tunables of a game that config.ini sets: the keys
// of a [gameN] section other than the process's identity, boot entity
// and logging. It is embedded both in GameConfig and in game.Config (see
// GateTuning for why). A zero field takes its default (SetDefaults);
// Parse and Default return every field set.
type GameTuning struct {
	// SaveInterval (save_interval) is how often changed persistent
	// entities are saved (default DefaultSaveInterval).
	SaveInterval time.Duration
	// MaxPacketSize (max_packet_size) is the largest frame body accepted
	// from a dispatcher (default DefaultMaxPacketSize).
	MaxPacketSize int
	// SendBufferSize (send_buffer_size) is the bytes queued for a
	// dispatcher past which the game loop waits for the link to drain
	// (back-pressure), and a quarter of what the dispatchers may queue
	// for the loop (default DefaultSendBufferSize).
	SendBufferSize int
	// FreezeDir (freeze_dir) is where hot-reload freeze files are
	// written, relative to the server directory (default
	// DefaultFreezeDir).
	FreezeDir string
	// KeepFreezeFiles (keep_freeze_files) is how many freeze files of
	// the game are kept for post-mortems (default DefaultKeepFreezeFiles).
	KeepFreezeFiles int
	// FreezeTimeout (freeze_timeout) bounds a freeze: waiting for the
	// dispatchers' acknowledgements and for storage to drain (default
	// DefaultFreezeTimeout).
	FreezeTimeout time.Duration
	// StallThreshold (stall_threshold) is how long one wake-up of the
	// game loop may run, or the loop fall behind, before it is logged as
	// stuck, with the loop's stack, and counted (default
	// DefaultStallThreshold).
	StallThreshold time.Duration
	// PositionSyncInterval (position_sync_interval) is how often clients
	// are sent the positions of what moved in their view (default
	// DefaultPositionSyncInterval).
	PositionSyncInterval time.Duration
	// AOISyncLimit (aoi_sync_limit) bounds the entity creates and
	// position updates one client is sent per position sync; the rest
	// wait (default DefaultAOISyncLimit, at most MaxAOISyncLimit).
	AOISyncLimit int
	// AOISyncTotal (aoi_sync_total) bounds them for a whole space per
	// sync (default DefaultAOISyncTotal).
	AOISyncTotal int
	// AOISyncWork (aoi_sync_work) bounds the pairs one position sync
	// examines per space to find what moved (space.Config.SyncWork;
	// default DefaultAOISyncWork).
	AOISyncWork int
	// AOIViewLimit (aoi_view_limit) bounds the entities one client holds
	// in its space at a time: a client whose player sees more is shown
	// the nearest of them (space.Config.ViewLimit; default Unlimited).
	AOIViewLimit int
	// MaxClientString (max_client_string) bounds every string in the
	// arguments of a client's call, in bytes (any depth, map keys
	// included); a longer one refuses the call and disconnects the
	// client (default DefaultMaxClientString). Unlimited leaves only the
	// frame's bound, max_client_packet_size.
	MaxClientString int
	// MaxClientCoordinate (max_client_coordinate) bounds each coordinate
	// (|x|, |y|, |z|) of a position a client sends for its player; a
	// position beyond it disconnects the client, as a NaN does (default
	// DefaultMaxClientCoordinate). Unlimited leaves only float32's range,
	// where the AOI grid's moves compare every member of the space.
	MaxClientCoordinate int
	// RequestTimeout (request_timeout) is how long an entity's request
	// (Entity.Request) waits for its answer, unless it gives its own
	// (default DefaultRequestTimeout).
	RequestTimeout time.Duration
	// SlowCall (slow_call): an entity method (a call, a request, a
	// timer) that holds the game loop longer is logged, naming the type,
	// the entity and the method (default DefaultSlowCall; Off: never).
	SlowCall time.Duration
	// MailboxLimit (mailbox_limit) bounds the offline calls
	// (Entity.CallOffline) kept in storage for one entity (default
	// DefaultMailboxLimit).
	MailboxLimit int
	// ServiceGrace (service_grace): a game that is ready asks at once for
	// the service shards it is preferred for, and for the others after
	// this long, in case their games are not coming (default
	// DefaultServiceGrace).
	ServiceGrace time.Duration
}

// SetDefaults gives every zero field of t its default. A negative size,
// count or duration takes the default too; a negative AOIViewLimit,
// MaxClientString or MaxClientCoordinate (Unlimited) or SlowCall (Off) is
// kept.
func (t *GameTuning) SetDefaults() {
	positiveOr(&t.SaveInterval, DefaultSaveInterval)
	positiveOr(&t.MaxPacketSize, DefaultMaxPacketSize)
	positiveOr(&t.SendBufferSize, DefaultSendBufferSize)
	if t.FreezeDir == "" {
		t.FreezeDir = DefaultFreezeDir
	}
	positiveOr(&t.KeepFreezeFiles, DefaultKeepFreezeFiles)
	positiveOr(&t.FreezeTimeout, DefaultFreezeTimeout)
	positiveOr(&t.StallThreshold, DefaultStallThreshold)
	positiveOr(&t.PositionSyncInterval, DefaultPositionSyncInterval)
	positiveOr(&t.AOISyncLimit, DefaultAOISyncLimit)
	positiveOr(&t.AOISyncTotal, DefaultAOISyncTotal)
	positiveOr(&t.AOISyncWork, DefaultAOISyncWork)
	nonZeroOr(&t.AOIViewLimit, Unlimited)
	nonZeroOr(&t.MaxClientString, DefaultMaxClientString)
	nonZeroOr(&t.MaxClientCoordinate, DefaultMaxClientCoordinate)
	positiveOr(&t.RequestTimeout, DefaultRequestTimeout)
	nonZeroOr(&t.SlowCall, DefaultSlowCall)
	positiveOr(&t.MailboxLimit, DefaultMailboxLimit)
	positiveOr(&t.ServiceGrace, DefaultServiceGrace)
}

// DispatcherTuning holds the tunables of a dispatcher that config.ini
// sets: the keys of a [dispatcherN] section other than the process's
// identity, addresses and logging. It is embedded both in
// DispatcherConfig and in dispatcher.Config (see GateTuning for why). A
// zero field takes its default (SetDefaults); Parse and Default return
// every field set.
type DispatcherTuning struct {
	// MaxPacketSize (max_packet_size) is the largest frame body accepted
	// from a peer (default DefaultMaxPacketSize).
	MaxPacketSize int
	// SendBufferSize (send_buffer_size) is the bytes queued for one peer
	// past which the peers whose frames fill it wait for it to drain
	// (back-pressure); a peer is closed as a slow consumer only past
	// twice that, or when it reads nothing for the write timeout (default
	// DefaultSendBufferSize).
	SendBufferSize int
	// FreezeQueueLimit (freeze_queue_limit) bounds the bytes queued for a
	// game frozen for a hot reload (default DefaultFreezeQueueLimit).
	// Frames beyond it are dropped and counted, with an error in the log.
	FreezeQueueLimit int
	// RestoreTimeout (restore_timeout) is how long a frozen game that
	// disconnected may take to come back before the dispatcher gives up
	// on it and tells its peers it is gone (default
	// DefaultRestoreTimeout).
	RestoreTimeout time.Duration
	// RecoverWindow (recover_window) is how long a restarted dispatcher
	// (one that a peer says was not the dispatcher it knew) holds frames
	// for entities not registered yet, gates not connected yet, and new
	// clients while no game is connected (default DefaultRecoverWindow;
	// Off: it holds nothing). What is still held at its end is dropped,
	// with an error in the log.
	RecoverWindow time.Duration
	// RecoverQueueLimit (recover_queue_limit) bounds the bytes held
	// during RecoverWindow (default DefaultRecoverQueueLimit). Frames
	// beyond it are dropped and counted.
	RecoverQueueLimit int
}

// SetDefaults gives every zero field of t its default. A negative size
// or duration takes the default too; a negative RecoverWindow (Off) is
// kept.
func (t *DispatcherTuning) SetDefaults() {
	positiveOr(&t.MaxPacketSize, DefaultMaxPacketSize)
	positiveOr(&t.SendBufferSize, DefaultSendBufferSize)
	positiveOr(&t.FreezeQueueLimit, DefaultFreezeQueueLimit)
	positiveOr(&t.RestoreTimeout, DefaultRestoreTimeout)
	nonZeroOr(&t.RecoverWindow, DefaultRecoverWindow)
	positiveOr(&t.RecoverQueueLimit, DefaultRecoverQueueLimit)
}

// positiveOr sets *p to def unless it is positive.
// DefaultMaxClientsPerIPExempt returns the default
// max_clients_per_ip_exempt: loopback, where a reverse proxy on the gate's
// own machine (and a load test) connects from.
func DefaultMaxClientsPerIPExempt() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

func positiveOr[T int | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}

// nonZeroOr sets *p to def if it is zero: a negative value (Unlimited,
// Off) is kept.
func nonZeroOr[T int | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}
