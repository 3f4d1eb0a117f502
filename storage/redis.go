package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of [RedisOptions].
const (
	// DefaultRedisKeyPrefix is the key prefix config.ini's [storage]
	// key_prefix defaults to.
	DefaultRedisKeyPrefix = "goworld:"
	// DefaultRedisDialTimeout is how long a connection attempt may take.
	DefaultRedisDialTimeout = 5 * time.Second
	// DefaultRedisReadTimeout is how long a reply may take.
	DefaultRedisReadTimeout = 3 * time.Second
	// DefaultRedisWriteTimeout is how long sending a command may take.
	DefaultRedisWriteTimeout = 3 * time.Second
)

const (
	// redisMaxValue is the longest entity data or KV value: Redis's
	// default proto-max-bulk-len (512 MiB) less room for the command.
	redisMaxValue = 512<<20 - 1<<10
	// redisMaxName is the longest entity type name, entity ID or KV key.
	redisMaxName = 32 << 10
	// redisMaxPrefix is the longest key prefix.
	redisMaxPrefix = 256
	// redisScanCount is the COUNT hint of the SCANs of ListEntities.
	redisScanCount = 1000
)

// RedisOptions configures [OpenRedis]. Set Addr for a standalone server or
// Addrs for a Redis Cluster, not both.
type RedisOptions struct {
	// Addr is a standalone server's host:port.
	Addr string
	// Addrs are some nodes of a Redis Cluster (host:port each); the client
	// discovers the others.
	Addrs []string
	// Username is the ACL user (Redis 6 and later) that AUTH names with
	// Password; empty means the default user.
	Username string
	// Password is sent with AUTH; empty means none.
	Password string
	// TLS, if set, makes every connection to the server (each node of a
	// cluster) speak TLS with this configuration; nil means plain TCP. An
	// empty ServerName is the host of the address dialled.
	TLS *tls.Config
	// DB is the database number (SELECT) of a standalone server; a
	// cluster has only database 0.
	DB int
	// KeyPrefix starts every key the backend writes, so that several
	// worlds (or other applications) can share a server. It is used as
	// given (empty is allowed); it may not contain '{' or '}', which
	// Redis Cluster reads as a hash tag.
	KeyPrefix string
	// DialTimeout, ReadTimeout and WriteTimeout bound connecting, reading
	// a reply and sending a command; zero selects DefaultRedisDialTimeout,
	// DefaultRedisReadTimeout and DefaultRedisWriteTimeout.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
}

// where names the server(s) in messages.
func (o *RedisOptions) where() string {
	if len(o.Addrs) > 0 {
		return "cluster " + strings.Join(o.Addrs, ",")
	}
	return o.Addr
}

// Redis is the [Backend] on a Redis server or a Redis Cluster.
//
// # Keys
//
// Every key starts with the configured prefix P and a hash tag, so that
// Redis Cluster places it by the tag alone, whatever bytes the names hold:
//
//	P{t}:e:<len(type)>:<type>:<id>   an entity's data (a string)
//	P{t}:f:<len(type)>:<type>:<id>   the entity's fencing epoch (an integer)
//	P{t}:m:<len(type)>:<type>:<id>   the entity's mailbox (a list)
//	P{t}:k:<key>                     a key of the KV store (a string)
//
// t is 8 hex digits of the FNV-1a hash of the entity's (type, ID), or of
// the KV key. Every key of one entity has the same tag, so its data and
// its epoch share a slot and one script reads and writes both; different
// entities spread over the cluster's slots. The length before the type keeps
// "Avatar" and "Avatar2" apart.
//
// # Atomicity
//
// On a standalone server SaveEntities writes the whole batch with one Lua
// script: all of it (but the fenced records) or, if the connection fails
// before the script was sent, none; a script runs whole, and one that
// starts with the server out of memory fails at its first write, before
// writing anything. (If the
// connection fails after it was sent, the error is returned but the batch
// may have been applied; saving it again is harmless: a record's epoch
// equals the stored one, and a claim claims again.) A Redis Cluster
// cannot run a script over several nodes: there the batch is pipelined,
// one script per entity, to every master at once; each entity is
// written whole or not at all, but when SaveEntities fails some entities
// of the batch may hold their new data and others their old. The engine
// saves whole entity states and retries a failed batch whole, so either
// way nothing it acknowledged is lost. PutIfAbsent is one Lua script on
// the key's node: atomic across every process sharing the store.
//
// ListEntities SCANs the keyspace (every master of a cluster) for the
// type's keys: its cost grows with the number of keys, so it is meant for
// tools, not for a game loop's every tick (the engine does not call it).
type Redis struct {
	opts    RedisOptions
	where   string
	prefix  string
	client  redis.UniversalClient
	cluster *redis.ClusterClient // nil for a standalone server

	mu     sync.RWMutex // held for reading by calls, for writing by Close
	closed bool
}

var _ Backend = (*Redis)(nil)

// putIfAbsentScript stores ARGV[1] under KEYS[1] unless the key exists.
// It returns {1} if it stored, {0, existing} if not. An empty string is a
// value (true in Lua); only a missing key reads as false.
var putIfAbsentScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return {0, v} end
redis.call('SET', KEYS[1], ARGV[1])
return {1}
`)

// saveScript saves one record of SaveEntities: KEYS[1] the entity's data,
// KEYS[2] its epoch, ARGV[1] the data, ARGV[2] the record's epoch. Epoch 0
// claims a new one (INCR) and stores; an epoch older than the stored one
// is refused; an equal or newer one stores (and records a newer one). It
// returns {1, the epoch stored with} or {0, the newer stored epoch}.
// Epochs stay far below 2^53, where Lua's numbers are exact.
var saveScript = redis.NewScript(saveSource)

const saveSource = `
local e = tonumber(ARGV[2])
if e == 0 then
  e = redis.call('INCR', KEYS[2])
else
  local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
  if cur > e then return {0, cur} end
  if cur < e then redis.call('SET', KEYS[2], ARGV[2]) end
end
redis.call('SET', KEYS[1], ARGV[1])
return {1, e}
`

// saveBatchScript is saveScript over a whole batch on one server: KEYS
// are data and epoch keys by pairs, ARGV data and epoch by pairs; it
// returns the pairs saveScript returns, flattened, in record order.
var saveBatchScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS, 2 do
  local e = tonumber(ARGV[i+1])
  local ok = 1
  if e == 0 then
    e = redis.call('INCR', KEYS[i+1])
  else
    local cur = tonumber(redis.call('GET', KEYS[i+1]) or '0')
    if cur > e then
      ok, e = 0, cur
    elseif cur < e then
      redis.call('SET', KEYS[i+1], ARGV[i+1])
    end
  end
  if ok == 1 then redis.call('SET', KEYS[i], ARGV[i]) end
  out[#out+1] = ok
  out[#out+1] = e
end
return out
`)

// claimScript reads an entity (KEYS[1]) and raises its epoch (KEYS[2]),
// returning {data, epoch}, or nil (not found: nothing claimed).
var claimScript = redis.NewScript(`
local d = redis.call('GET', KEYS[1])
if not d then return false end
return {d, redis.call('INCR', KEYS[2])}
`)

// deleteScript deletes an entity (KEYS[1]) and its mailbox (KEYS[3]) and raises its epoch (KEYS[2])
// if it had data or an epoch, so that no live copy saves it back.
var deleteScript = redis.NewScript(`
redis.call('DEL', KEYS[3])
local had = redis.call('DEL', KEYS[1])
if had == 1 or redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCR', KEYS[2]) end
return had
`)

// appendScript appends ARGV[1] to an entity's mailbox (KEYS[2]) if the
// entity (KEYS[1]) exists and the mailbox holds fewer than ARGV[2]
// messages, returning the new length; -1 if there is no entity, -2 if
// the mailbox is full.
var appendScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[2]) then return -2 end
return redis.call('RPUSH', KEYS[2], ARGV[1])
`)

// takeScript returns an entity's mailbox (KEYS[1]) and deletes it.
var takeScript = redis.NewScript(`
local m = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return m
`)

// quietLogger drops go-redis's own log lines (failed dials, mostly),
// which bypass the process's logger: the same failures reach the callers
// as errors, which the engine logs and counts.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// OpenRedis connects to the server (or every master of the cluster) and
// checks that it answers, or fails with an error that names the address.
// opts may not be nil. The first call silences go-redis's own logger
// (process-wide): the failures it would print come back as errors.
//
// A standalone server that turns out to be a cluster node is refused (its
// keys live on several nodes: configure addrs), and so is a cluster
// address that is not one.
func OpenRedis(opts *RedisOptions) (*Redis, error) {
	if opts == nil {
		return nil, fmt.Errorf("storage: open redis: no options: %w", ErrInvalidArgument)
	}
	o := *opts
	o.Addrs = slices.Clone(o.Addrs)
	if err := checkRedisOptions(&o); err != nil {
		return nil, err
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultRedisDialTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultRedisReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultRedisWriteTimeout
	}
	quietOnce.Do(func() { redis.SetLogger(quietLogger{}) })
	r := &Redis{opts: o, where: o.where(), prefix: o.KeyPrefix}
	noMaint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if len(o.Addrs) > 0 {
		r.cluster = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: o.Addrs, Username: o.Username, Password: o.Password, TLSConfig: o.TLS,
			// Retries are the backend's (see retry): go-redis would
			// also retry PutIfAbsent, whose first try may have stored.
			MaxRetries:  -1,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			DialerRetries: 2, DisableIdentity: true, MaintNotificationsConfig: noMaint,
		})
		r.client = r.cluster
	} else {
		r.client = redis.NewClient(&redis.Options{
			Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLS,
			MaxRetries:  -1,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			DialerRetries: 2, DisableIdentity: true, MaintNotificationsConfig: noMaint,
		})
	}
	if err := r.check(); err != nil {
		_ = r.client.Close()
		return nil, err
	}
	return r, nil
}

func checkRedisOptions(o *RedisOptions) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("storage: open redis: %s: %w", fmt.Sprintf(format, args...), ErrInvalidArgument)
	}
	switch {
	case o.Addr == "" && len(o.Addrs) == 0:
		return bad("no address (set Addr for a server, Addrs for a cluster)")
	case o.Addr != "" && len(o.Addrs) > 0:
		return bad("both Addr (a server) and Addrs (a cluster) are set")
	case len(o.Addrs) > 0 && o.DB != 0:
		return bad("DB %d on a cluster, which has only database 0", o.DB)
	case o.DB < 0:
		return bad("DB %d is negative", o.DB)
	case strings.ContainsAny(o.KeyPrefix, "{}"):
		return bad("key prefix %q contains '{' or '}' (a Redis Cluster hash tag)", o.KeyPrefix)
	case len(o.KeyPrefix) > redisMaxPrefix:
		return bad("key prefix is %d bytes, more than %d", len(o.KeyPrefix), redisMaxPrefix)
	}
	addrs := o.Addrs
	if len(addrs) == 0 {
		addrs = []string{o.Addr}
	}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return bad("address %q is not host:port", a)
		}
	}
	return nil
}

// check pings the server, or every master of the cluster.
func (r *Redis) check() error {
	ctx := context.Background()
	fail := func(err error) error {
		return fmt.Errorf("storage: redis %s: cannot use the server: %w%s", r.where, err, r.tlsHint(err))
	}
	if r.cluster == nil {
		info, err := r.client.Info(ctx, "cluster").Result()
		if err != nil {
			return fail(err)
		}
		if strings.Contains(info, "cluster_enabled:1") {
			return fmt.Errorf("storage: redis %s is a Redis Cluster node: set addrs (the cluster's nodes) instead of addr: %w",
				r.where, ErrInvalidArgument)
		}
		return nil
	}
	// ForEachMaster loads the cluster's slots first: that fails on a
	// server that is not a cluster node, or a cluster that is down.
	if err := r.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		if err := c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("master %s: %w", c.Options().Addr, err)
		}
		return nil
	}); err != nil {
		return fail(err)
	}
	return nil
}

// tlsHint returns what an error at Open says of TLS set on one side
// only: a TLS-only server closes a plain connection at once, and a plain
// server never answers a TLS handshake.
func (r *Redis) tlsHint(err error) string {
	switch {
	case r.opts.TLS == nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return " (the server closed the connection at once, as one that speaks only TLS does to a plain client: " +
			"set tls = true in [storage], RedisOptions.TLS)"
	case r.opts.TLS != nil && (errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err)):
		return " (no answer to the TLS handshake within the dial timeout: is this the server's TLS port?)"
	}
	return ""
}

// Where returns the server's address, or "cluster A,B,C".
func (r *Redis) Where() string { return r.where }

// Close closes the connections, waiting for calls in progress to finish.
func (r *Redis) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.closed = true
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("storage: close redis %s: %w", r.where, err)
	}
	return nil
}

// use runs fn with the backend open (ErrClosed otherwise), retrying it
// once after a failure of the connection (not after a reply of the
// server): a connection that went stale when the server restarted is
// dropped by go-redis and the second try dials a new one. Only
// idempotent operations use it.
func (r *Redis) use(op string, idempotent bool, fn func(ctx context.Context) error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return ErrClosed
	}
	ctx := context.Background()
	err := fn(ctx)
	if err != nil && idempotent && retryable(err) {
		time.Sleep(20 * time.Millisecond)
		err = fn(ctx)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil), errors.Is(err, ErrNotFound):
		return ErrNotFound
	case errors.Is(err, redis.ErrClosed):
		return ErrClosed
	default:
		return fmt.Errorf("storage: redis %s: %s: %w", r.where, op, err)
	}
}

// retryable reports whether err is a failure of the connection rather
// than an answer of the server.
func retryable(err error) bool {
	if errors.Is(err, redis.Nil) || errors.Is(err, redis.ErrClosed) || errors.Is(err, ErrNotFound) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		// The server answered. LOADING (after a restart, while it reads
		// its data) and TRYAGAIN/CLUSTERDOWN pass; the rest do not.
		msg := re.Error()
		return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "TRYAGAIN") || strings.HasPrefix(msg, "CLUSTERDOWN")
	}
	return true
}

// tag returns the hash tag of the given parts.
func tag(parts ...string) string {
	h := fnv.New32a()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return fmt.Sprintf("{%08x}", h.Sum32())
}

// entityKey is P{t}:e:<len>:<type>:<id>.
func (r *Redis) entityKey(typeName, id string) string {
	var b strings.Builder
	b.Grow(len(r.prefix) + 16 + len(typeName) + len(id))
	b.WriteString(r.prefix)
	b.WriteString(tag(typeName, id))
	b.WriteString(":e:")
	b.WriteString(strconv.Itoa(len(typeName)))
	b.WriteByte(':')
	b.WriteString(typeName)
	b.WriteByte(':')
	b.WriteString(id)
	return b.String()
}

// fenceKey is P{t}:f:<len>:<type>:<id>, the entity's epoch, in the slot
// of its data.
func (r *Redis) fenceKey(typeName, id string) string {
	k := r.entityKey(typeName, id)
	i := len(r.prefix) + len("{00000000}")
	return k[:i] + ":f:" + k[i+len(":e:"):]
}

// mailboxKey is P{t}:m:<len>:<type>:<id>, the entity's mailbox, in the
// slot of its data.
func (r *Redis) mailboxKey(typeName, id string) string {
	k := r.entityKey(typeName, id)
	i := strings.Index(k, ":e:")
	return k[:i] + ":m:" + k[i+len(":e:"):]
}

// kvKey is P{t}:k:<key>.
func (r *Redis) kvKey(key string) string {
	return r.prefix + tag(key) + ":k:" + key
}

// typePattern is the SCAN pattern of every entity key of typeName, and
// the length of the key before the ID.
func (r *Redis) typePattern(typeName string) (string, int) {
	head := ":e:" + strconv.Itoa(len(typeName)) + ":" + typeName + ":"
	return globEscape(r.prefix) + "{????????}" + globEscape(head) + "*",
		len(r.prefix) + len("{00000000}") + len(head)
}

// globEscape escapes the characters Redis's glob patterns give a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func checkRedisEntity(typeName, id string) error {
	switch {
	case typeName == "":
		return fmt.Errorf("empty entity type name: %w", ErrInvalidArgument)
	case len(typeName) > redisMaxName:
		return fmt.Errorf("entity type name is %d bytes, more than %d: %w", len(typeName), redisMaxName, ErrInvalidArgument)
	case id == "":
		return fmt.Errorf("empty entity ID (type %q): %w", typeName, ErrInvalidArgument)
	case len(id) > redisMaxName:
		return fmt.Errorf("entity ID is %d bytes, more than %d: %w", len(id), redisMaxName, ErrInvalidArgument)
	}
	return nil
}

func checkRedisKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key: %w", ErrInvalidArgument)
	case len(key) > redisMaxName:
		return fmt.Errorf("key is %d bytes, more than %d: %w", len(key), redisMaxName, ErrInvalidArgument)
	}
	return nil
}

func checkRedisValue(value []byte) error {
	if len(value) > redisMaxValue {
		return fmt.Errorf("value is %d bytes, more than %d: %w", len(value), redisMaxValue, ErrInvalidArgument)
	}
	return nil
}

// SaveEntities validates every record, then writes the batch with fenced
// save scripts: one script for the whole batch on a standalone server,
// one per record pipelined to every master at once on a cluster (see the
// type's documentation for what each guarantees). A script compares each
// record's epoch with the stored one and writes the data (and a new
// epoch) on the entity's node, in the round trip the SETs took: fencing
// adds no round trip.
func (r *Redis) SaveEntities(recs []EntityRecord) error {
	for i := range recs {
		rec := &recs[i]
		if err := checkRedisEntity(rec.Type, rec.ID); err != nil {
			return fmt.Errorf("storage: SaveEntities: record %d: %w", i, err)
		}
		if err := checkRedisValue(rec.Data); err != nil {
			return fmt.Errorf("storage: SaveEntities: record %d (%q/%q): %w", i, rec.Type, rec.ID, err)
		}
		if rec.Epoch > MaxEpoch {
			return fmt.Errorf("storage: SaveEntities: record %d (%q/%q): epoch %d is above %d: %w",
				i, rec.Type, rec.ID, rec.Epoch, uint64(MaxEpoch), ErrInvalidArgument)
		}
	}
	var (
		stored []uint64 // per record: the epoch it was stored with, 0 if fenced
		fenced []FencedRecord
	)
	err := r.use("SaveEntities", true, func(ctx context.Context) error {
		if len(recs) == 0 {
			return nil
		}
		var (
			res []int64 // per record: 1 or 0 (fenced), then an epoch
			err error
		)
		if r.cluster == nil {
			res, err = r.saveStandalone(ctx, recs)
		} else {
			res, err = r.saveCluster(ctx, recs)
		}
		if err != nil {
			return err
		}
		if len(res) != 2*len(recs) {
			return fmt.Errorf("save script: %d results for %d records", len(res), len(recs))
		}
		stored, fenced = make([]uint64, len(recs)), nil
		for i := range recs {
			ok, e := res[2*i], res[2*i+1]
			switch {
			case e <= 0:
				return fmt.Errorf("save script: unexpected epoch %d", e)
			case ok == 1:
				stored[i] = uint64(e)
			default:
				fenced = append(fenced, FencedRecord{Type: recs[i].Type, ID: recs[i].ID, Epoch: recs[i].Epoch, Current: uint64(e)})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, e := range stored {
		if e != 0 {
			recs[i].Epoch = e
		}
	}
	if len(fenced) > 0 {
		return &FenceError{Fenced: fenced}
	}
	return nil
}

// saveStandalone runs the whole batch as one batch script: one command,
// atomic as MULTI/EXEC was (a script runs whole; out of memory at its
// start, it fails at its first write, before writing anything), and one
// script run rather than one per record.
func (r *Redis) saveStandalone(ctx context.Context, recs []EntityRecord) ([]int64, error) {
	keys := make([]string, 0, 2*len(recs))
	args := make([]any, 0, 2*len(recs))
	for i := range recs {
		rec := &recs[i]
		keys = append(keys, r.entityKey(rec.Type, rec.ID), r.fenceKey(rec.Type, rec.ID))
		args = append(args, rec.Data, rec.Epoch)
	}
	return saveBatchScript.Run(ctx, r.client, keys, args...).Int64Slice()
}

// saveCluster pipelines one save script per record to the masters (a
// script's keys must share a slot; each record's do).
func (r *Redis) saveCluster(ctx context.Context, recs []EntityRecord) ([]int64, error) {
	var cmds []*redis.Cmd
	write := func(p redis.Pipeliner) error {
		cmds = cmds[:0]
		for i := range recs {
			// Commands run in order: a later record of one entity
			// overwrites an earlier.
			rec := &recs[i]
			cmds = append(cmds, p.EvalSha(ctx, saveScript.Hash(),
				[]string{r.entityKey(rec.Type, rec.ID), r.fenceKey(rec.Type, rec.ID)}, rec.Data, rec.Epoch))
		}
		return nil
	}
	_, err := r.client.Pipelined(ctx, write)
	if noScript(err, cmds) {
		// The servers do not know the script (a first save, a restart,
		// SCRIPT FLUSH): load it on every master and run the batch
		// again, which is harmless for records the first run stored
		// (their epoch is stored; a claim claims again).
		if err := r.client.ScriptLoad(ctx, saveSource).Err(); err != nil {
			return nil, err
		}
		_, err = r.client.Pipelined(ctx, write)
	}
	if err != nil {
		return nil, err
	}
	res := make([]int64, 0, 2*len(recs))
	for _, c := range cmds {
		v, err := c.Int64Slice()
		if err != nil || len(v) != 2 {
			return nil, fmt.Errorf("save script: unexpected reply %v (%v)", v, err)
		}
		res = append(res, v...)
	}
	return res, nil
}

// noScript reports whether a pipeline failed because the server did not
// know a script (NOSCRIPT), by its error or any command's.
func noScript(err error, cmds []*redis.Cmd) bool {
	isNo := func(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }
	if isNo(err) {
		return true
	}
	for _, c := range cmds {
		if isNo(c.Err()) {
			return true
		}
	}
	return false
}

// LoadEntity returns the entity's data, or ErrNotFound. It claims
// nothing.
func (r *Redis) LoadEntity(typeName, id string) ([]byte, error) {
	if err := checkRedisEntity(typeName, id); err != nil {
		return nil, fmt.Errorf("storage: LoadEntity: %w", err)
	}
	var out []byte
	err := r.use("LoadEntity", true, func(ctx context.Context) (err error) {
		out, err = r.client.Get(ctx, r.entityKey(typeName, id)).Bytes()
		return err
	})
	if err != nil {
		return nil, err
	}
	return nonNil(out), nil
}

// ClaimEntity returns the entity's data and a new epoch for it, read and
// claimed by one Lua script on the entity's node (one round trip, as a
// GET), or ErrNotFound. A try after a lost reply claims again: the epoch
// of the lost claim is never used by anyone.
func (r *Redis) ClaimEntity(typeName, id string) ([]byte, uint64, error) {
	if err := checkRedisEntity(typeName, id); err != nil {
		return nil, 0, fmt.Errorf("storage: ClaimEntity: %w", err)
	}
	var (
		out   []byte
		epoch uint64
	)
	err := r.use("ClaimEntity", true, func(ctx context.Context) error {
		res, err := claimScript.Run(ctx, r.client, []string{r.entityKey(typeName, id), r.fenceKey(typeName, id)}).Slice()
		if err != nil {
			return err
		}
		if len(res) != 2 {
			return fmt.Errorf("claim script: unexpected reply %v", res)
		}
		d, ok1 := res[0].(string)
		e, ok2 := res[1].(int64)
		if !ok1 || !ok2 || e <= 0 {
			return fmt.Errorf("claim script: unexpected reply (%T, %T)", res[0], res[1])
		}
		out, epoch = []byte(d), uint64(e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return nonNil(out), epoch, nil
}

// DeleteEntity removes the entity and raises its epoch if it was ever
// stored or claimed, in one Lua script; deleting a missing one is not an
// error.
func (r *Redis) DeleteEntity(typeName, id string) error {
	if err := checkRedisEntity(typeName, id); err != nil {
		return fmt.Errorf("storage: DeleteEntity: %w", err)
	}
	return r.use("DeleteEntity", true, func(ctx context.Context) error {
		return deleteScript.Run(ctx, r.client, []string{r.entityKey(typeName, id), r.fenceKey(typeName, id), r.mailboxKey(typeName, id)}).Err()
	})
}

// AppendMessage appends msg to the entity's mailbox with one Lua script
// on the entity's node (see MailboxStore). It is not retried.
func (r *Redis) AppendMessage(typeName, id string, msg []byte, limit int) (int, error) {
	if err := checkRedisEntity(typeName, id); err != nil {
		return 0, fmt.Errorf("storage: AppendMessage: %w", err)
	}
	if err := checkMailbox(msg, limit); err != nil {
		return 0, fmt.Errorf("storage: AppendMessage: %w", err)
	}
	var n int64
	err := r.use("AppendMessage", false, func(ctx context.Context) (err error) {
		n, err = appendScript.Run(ctx, r.client, []string{r.entityKey(typeName, id), r.mailboxKey(typeName, id)}, msg, limit).Int64()
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case n == -1:
		return 0, ErrNotFound
	case n == -2:
		return limit, mailboxFull(typeName, id, limit)
	case n < 1:
		return 0, fmt.Errorf("storage: redis %s: AppendMessage: unexpected reply %d", r.where, n)
	}
	return int(n), nil
}

// TakeMessages returns the entity's mailbox and deletes it with one Lua
// script on the entity's node. It is not retried.
func (r *Redis) TakeMessages(typeName, id string) ([][]byte, error) {
	if err := checkRedisEntity(typeName, id); err != nil {
		return nil, fmt.Errorf("storage: TakeMessages: %w", err)
	}
	var out [][]byte
	err := r.use("TakeMessages", false, func(ctx context.Context) error {
		res, err := takeScript.Run(ctx, r.client, []string{r.mailboxKey(typeName, id)}).StringSlice()
		if err != nil {
			return err
		}
		for _, m := range res {
			out = append(out, []byte(m))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListEntities SCANs the keyspace (every master of a cluster) for the
// type's entities and returns their IDs in byte order.
func (r *Redis) ListEntities(typeName string) ([]string, error) {
	switch {
	case typeName == "":
		return nil, fmt.Errorf("storage: ListEntities: empty entity type name: %w", ErrInvalidArgument)
	case len(typeName) > redisMaxName:
		return nil, fmt.Errorf("storage: ListEntities: entity type name is %d bytes, more than %d: %w",
			len(typeName), redisMaxName, ErrInvalidArgument)
	}
	pattern, head := r.typePattern(typeName)
	var ids []string
	err := r.use("ListEntities", true, func(ctx context.Context) error {
		seen := map[string]bool{}
		var mu sync.Mutex
		scan := func(ctx context.Context, c redis.Cmdable) error {
			it := c.Scan(ctx, 0, pattern, redisScanCount).Iterator()
			for it.Next(ctx) {
				k := it.Val()
				if len(k) < head {
					continue
				}
				mu.Lock()
				seen[k[head:]] = true // SCAN may return a key twice
				mu.Unlock()
			}
			return it.Err()
		}
		var err error
		if r.cluster == nil {
			err = scan(ctx, r.client)
		} else {
			err = r.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
		}
		ids = make([]string, 0, len(seen))
		for id := range seen {
			ids = append(ids, id)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// Get returns the value stored under key, or ErrNotFound.
func (r *Redis) Get(key string) ([]byte, error) {
	if err := checkRedisKey(key); err != nil {
		return nil, fmt.Errorf("storage: Get: %w", err)
	}
	var out []byte
	err := r.use("Get", true, func(ctx context.Context) (err error) {
		out, err = r.client.Get(ctx, r.kvKey(key)).Bytes()
		return err
	})
	if err != nil {
		return nil, err
	}
	return nonNil(out), nil
}

// Put stores value under key.
func (r *Redis) Put(key string, value []byte) error {
	if err := checkRedisKey(key); err != nil {
		return fmt.Errorf("storage: Put: %w", err)
	}
	if err := checkRedisValue(value); err != nil {
		return fmt.Errorf("storage: Put: %w", err)
	}
	return r.use("Put", true, func(ctx context.Context) error {
		return r.client.Set(ctx, r.kvKey(key), value, 0).Err()
	})
}

// PutIfAbsent stores value under key unless it has a value, in one Lua
// script on the key's server. It is never retried: when it fails, the
// value may or may not have been stored (a reply lost with the
// connection), and a second try could not tell its own value from a
// winner's.
func (r *Redis) PutIfAbsent(key string, value []byte) (stored bool, existing []byte, err error) {
	if err := checkRedisKey(key); err != nil {
		return false, nil, fmt.Errorf("storage: PutIfAbsent: %w", err)
	}
	if err := checkRedisValue(value); err != nil {
		return false, nil, fmt.Errorf("storage: PutIfAbsent: %w", err)
	}
	err = r.use("PutIfAbsent", false, func(ctx context.Context) error {
		res, err := putIfAbsentScript.Run(ctx, r.client, []string{r.kvKey(key)}, value).Slice()
		if err != nil {
			return err
		}
		switch {
		case len(res) == 1 && res[0] == int64(1):
			stored = true
		case len(res) == 2 && res[0] == int64(0):
			s, ok := res[1].(string)
			if !ok {
				return fmt.Errorf("unexpected reply %T", res[1])
			}
			existing = []byte(s)
		default:
			return fmt.Errorf("unexpected reply %v", res)
		}
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	return stored, existing, nil
}

// Delete removes key; deleting a missing key is not an error.
func (r *Redis) Delete(key string) error {
	if err := checkRedisKey(key); err != nil {
		return fmt.Errorf("storage: Delete: %w", err)
	}
	return r.use("Delete", true, func(ctx context.Context) error {
		return r.client.Del(ctx, r.kvKey(key)).Err()
	})
}

// nonNil turns a nil slice (an empty value) into an empty one.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
