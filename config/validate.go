package config

import (
	"errors"
	"fmt"
	"go/token"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/goworld-engine/goworld/internal/clip"
	"github.com/goworld-engine/goworld/storage"
)

// maxPacketLimit caps max_packet_size and max_client_packet_size so that a
// frame length always fits the 32-bit length field of the wire format with
// room to spare, and a typo cannot disable the frame size check.
const maxPacketLimit = 1 << 30

// maxID is the largest process number: N of [gameN] is 1..maxID.
const maxID = 65535

// problem is one configuration error. Load, Parse and Validate return all
// problems joined with errors.Join.
type problem struct {
	section  string // without brackets; empty for problems of the whole cluster
	key      string // empty when msg alone says everything
	value    string
	hasValue bool   // print `key = "value": msg` rather than `key msg`
	msg      string // what is wrong or what was expected
	// ownValue is set when the problem is about the value of key alone, so
	// Parse may report it in the section where that value was written
	// (e.g. [game_common] instead of [game1] and [game2]).
	ownValue bool
	// keys are the keys of section the problem depends on; Parse drops the
	// problem when one of them already had a syntax error.
	keys []string
}

// Bounds on what a problem quotes from the file: a config file may be
// anything (a binary written over it, a huge line), and its bytes must
// reach a terminal or a log only escaped and cut.
const (
	maxShownName  = 64  // a section or key name
	maxShownValue = 128 // a value
	maxShownMsg   = 512 // a whole message, which may quote names itself
	maxProblems   = 20  // problems reported; the rest are counted
)

// show returns a name or message as written if it is short, valid UTF-8
// and printable; quoted and cut otherwise, to at most about 2n bytes
// (n/4 bytes of unprintable text, each escaped to at most 4).
func show(s string, n int) string {
	plain := utf8.ValidString(s)
	if plain {
		for _, r := range s {
			if !unicode.IsPrint(r) {
				plain = false
				break
			}
		}
	}
	switch {
	case plain && len(s) <= n:
		return s
	case plain:
		return clip.Quote(s, n)
	}
	return clip.Quote(s, n/4)
}

func (p problem) Error() string {
	var b strings.Builder
	if p.section != "" {
		b.WriteString("[" + show(p.section, maxShownName) + "] ")
	}
	switch {
	case p.key != "" && p.hasValue:
		fmt.Fprintf(&b, "%s = %s: %s", show(p.key, maxShownName), clip.Quote(p.value, maxShownValue), p.msg)
	case p.key != "":
		b.WriteString(show(p.key, maxShownName) + " " + p.msg)
	default:
		b.WriteString(p.msg)
	}
	return show(b.String(), maxShownMsg)
}

// problems collects problems.
type problems []problem

// bad records a bad value of one key.
func (ps *problems) bad(section, key, value, msg string) {
	*ps = append(*ps, problem{section: section, key: key, value: value, hasValue: true, msg: msg, ownValue: true, keys: []string{key}})
}

// add records a problem that is not about one key's value alone.
func (ps *problems) add(section, key, msg string, keys ...string) {
	*ps = append(*ps, problem{section: section, key: key, msg: msg, keys: keys})
}

// join turns problems into one error, each message prefixed with prefix.
// Identical messages are reported once.
func join(prefix string, ps []problem) error {
	var errs []error
	seen := make(map[string]bool)
	more := 0
	for _, p := range ps {
		msg := p.Error()
		if seen[msg] {
			continue
		}
		seen[msg] = true
		if len(errs) == maxProblems {
			more++
			continue
		}
		if prefix != "" {
			errs = append(errs, fmt.Errorf("%s: %w", prefix, p))
		} else {
			errs = append(errs, p)
		}
	}
	if more > 0 {
		summary := fmt.Errorf("… and %d more problems", more)
		if prefix != "" {
			summary = fmt.Errorf("%s: %w", prefix, summary)
		}
		errs = append(errs, summary)
	}
	return errors.Join(errs...)
}

// Validate checks c as Load does after parsing, so it can be used on
// configurations built in code. It reports every problem, joined with
// errors.Join; each message names the section and key concerned, e.g.
// `[gate1] listen_addr = "localhost": not host:port (missing port)`.
// Validate does not modify c. It checks a complete configuration, as
// Parse and Default return: a zero tuning field, which a server would
// take as its default, is reported here as missing (start from Default),
// while Unlimited and Off are accepted where the key allows them.
func (c *Config) Validate() error {
	return join("", c.validate())
}

func (c *Config) validate() []problem {
	var ps problems
	if c == nil {
		ps.add("", "", "config is nil")
		return ps
	}
	if len(c.Dispatchers) == 0 {
		ps.add("", "", "no dispatcher: add a [dispatcher1] section with a listen_addr")
	}
	if len(c.Games) == 0 {
		ps.add("", "", "no game: add a [game1] section (boot_entity is required in it or in [game_common])")
	}
	if len(c.Gates) == 0 {
		ps.add("", "", "no gate: add a [gate1] section with a listen_addr")
	}

	addrs := newAddrSet()
	checkIDs(&ps, dispatcherKind, len(c.Dispatchers), func(i int) (int, string) { return c.Dispatchers[i].ID, c.Dispatchers[i].Name })
	for i := range c.Dispatchers {
		c.Dispatchers[i].validate(&ps, addrs)
	}
	checkIDs(&ps, gameKind, len(c.Games), func(i int) (int, string) { return c.Games[i].ID, c.Games[i].Name })
	for i := range c.Games {
		c.Games[i].validate(&ps, addrs)
	}
	checkIDs(&ps, gateKind, len(c.Gates), func(i int) (int, string) { return c.Gates[i].ID, c.Gates[i].Name })
	for i := range c.Gates {
		c.Gates[i].validate(&ps, addrs)
	}

	c.checkHosts(&ps)

	c.validateStorage(&ps)
	c.Cluster.validate(&ps)
	return ps
}

// checkIDs checks the IDs and names of the processes of one kind: IDs must
// be 1..65535, unique and increasing, and names must match them.
func checkIDs(ps *problems, kind string, n int, at func(int) (int, string)) {
	prev := 0
	for i := range n {
		id, name := at(i)
		sec := processName(kind, id)
		switch {
		case id < 1 || id > maxID:
			ps.add(sec, "", fmt.Sprintf("process ID %d out of range 1..%d", id, maxID))
		case id == prev:
			ps.add(sec, "", fmt.Sprintf("more than one %s has ID %d", kind, id))
		case id < prev:
			ps.add(sec, "", fmt.Sprintf("%ss must be sorted by ID (%s comes after %s)", kind, sec, processName(kind, prev)))
		}
		if name != sec {
			ps.add(sec, "", fmt.Sprintf("Name is %q, want %q", name, sec))
		}
		prev = max(prev, id)
	}
}

// checkCommon checks the keys every kind of process has.
func checkCommon(ps *problems, addrs *addrSet, sec, httpAddr string, allowRemote bool, logLevel, logFile string, maxPacket, sendBuf int) {
	if httpAddr != "" {
		if canon, msg := checkAddr(httpAddr); msg != "" {
			ps.bad(sec, "http_addr", httpAddr, msg)
		} else if !allowRemote && !IsLoopback(httpAddr) {
			ps.bad(sec, "http_addr", httpAddr, "is not a loopback address: the admin server exposes pprof and metrics to anyone "+
				"who can reach it; use 127.0.0.1 (or [::1], localhost), or set http_allow_remote = true behind a firewall")
		} else {
			addrs.use(ps, sec, "http_addr", httpAddr, canon)
		}
	}
	if msg := checkLogLevel(logLevel); msg != "" {
		ps.bad(sec, "log_level", logLevel, msg)
	}
	if logFile == "" {
		ps.add(sec, "log_file", "must not be empty (the default is "+sec+".log)", "log_file")
	}
	packetOK := checkSize(ps, sec, "max_packet_size", maxPacket, maxPacketLimit)
	bufOK := checkSize(ps, sec, "send_buffer_size", sendBuf, 0)
	if packetOK && bufOK && sendBuf < maxPacket {
		ps.add(sec, "send_buffer_size",
			fmt.Sprintf("(%d) must be at least max_packet_size (%d), or two large packets in a row close the connection as a slow consumer", sendBuf, maxPacket),
			"send_buffer_size", "max_packet_size")
	}
}

// IsLoopback reports whether the host of host:port addr is a loopback
// address: an IP in 127.0.0.0/8 or ::1, or "localhost". An empty host
// (every interface) and other names are not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkListenAddr(ps *problems, addrs *addrSet, sec, addr string) {
	if addr == "" {
		ps.add(sec, "listen_addr", "is required (host:port, e.g. 127.0.0.1:13001; port 0 picks a free port)", "listen_addr")
		return
	}
	canon, msg := checkAddr(addr)
	if msg != "" {
		ps.bad(sec, "listen_addr", addr, msg)
		return
	}
	addrs.use(ps, sec, "listen_addr", addr, canon)
}

// The bounds of heartbeat_interval: rpc.MinHeartbeatInterval and
// rpc.MaxHeartbeatInterval (config does not import rpc).
const (
	minHeartbeatInterval = 100 * time.Millisecond
	maxHeartbeatInterval = 10 * time.Minute
)

func checkDuration(ps *problems, sec, key string, d time.Duration) {
	if msg := durationProblem(d); msg != "" {
		ps.bad(sec, key, d.String(), msg)
	}
}

func durationProblem(d time.Duration) string {
	if d <= 0 {
		return "must be positive"
	}
	return ""
}

// checkSize reports a size that is not positive or above limit (when limit
// is not 0). It reports whether n is fine.
func checkSize(ps *problems, sec, key string, n, limit int) bool {
	if msg := sizeProblem(n, limit); msg != "" {
		ps.bad(sec, key, strconv.Itoa(n), msg)
		return false
	}
	return true
}

func sizeProblem(n, limit int) string {
	if n <= 0 {
		return "must be a positive number of bytes"
	}
	if limit > 0 && n > limit {
		return fmt.Sprintf("must be at most %d bytes", limit)
	}
	return ""
}

// limitProblem reports a rate or count limit that is neither positive
// nor Unlimited.
func limitProblem(n int) string {
	if n <= 0 && n != Unlimited {
		return "must be a positive whole number, or unlimited (Unlimited)"
	}
	return ""
}

// checkOffDuration reports a duration that is neither positive nor Off.
func checkOffDuration(ps *problems, sec, key string, d time.Duration) {
	if d <= 0 && d != Off {
		ps.bad(sec, key, d.String(), "must be positive, or off (Off)")
	}
}

var logLevels = []string{"debug", "info", "warn", "error"}

func checkLogLevel(v string) string {
	for _, l := range logLevels {
		if v == l {
			return ""
		}
	}
	return "not a log level (use " + strings.Join(logLevels, ", ") + ")"
}

func checkIdentifier(v string) string {
	if !token.IsIdentifier(v) {
		return "not a valid Go identifier (the name of an entity type, e.g. Account)"
	}
	return ""
}

// checkAddr checks that addr is host:port with a numeric port 0..65535. It
// returns the address in a canonical form for comparisons.
func checkAddr(addr string) (canon, msg string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", "not host:port (" + ae.Err + ")"
		}
		return "", "not host:port"
	}
	if strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", "host contains white space or control characters"
	}
	if port == "" || strings.Trim(port, "0123456789") != "" {
		return "", "port must be a number 0..65535"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n > 65535 {
		return "", "port must be a number 0..65535"
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n)), ""
}

// addrSet finds two processes on one host that use the same host:port.
type addrSet struct {
	owner map[string]string // host and canonical address -> "[gate1] listen_addr"
	host  string            // the host whose addresses use records
}

func newAddrSet() *addrSet { return &addrSet{owner: make(map[string]string)} }

// at returns the view of s for the processes of host: the same address on
// two hosts is no conflict.
func (s *addrSet) at(host string) *addrSet { return &addrSet{owner: s.owner, host: host} }

func (s *addrSet) use(ps *problems, sec, key, addr, canon string) {
	if strings.HasSuffix(canon, ":0") {
		return // any free port: never a conflict
	}
	who := "[" + sec + "] " + key
	canon = s.host + " " + canon
	if prev, ok := s.owner[canon]; ok {
		*ps = append(*ps, problem{section: sec, key: key, value: addr, hasValue: true,
			msg: "address already used by " + prev + " (every process needs its own port)", keys: []string{key}})
		return
	}
	s.owner[canon] = who
}

// maxHostName bounds a host name (the longest DNS label is 63 bytes).
const maxHostName = 63

// checkHostName reports what is wrong with a host name: 1..63 letters,
// digits, '-', '_' and '.', starting with a letter or digit. The name is
// goworldctl's -host argument and appears in its output; it need not be
// the machine's DNS name.
func checkHostName(h string) string {
	if len(h) > maxHostName {
		return fmt.Sprintf("is longer than %d bytes", maxHostName)
	}
	for i, r := range h {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '_' || r == '.')
		if !ok {
			return "not a host name (letters, digits, '-', '_' and '.', starting with a letter or digit, e.g. machine-a)"
		}
	}
	return ""
}

// checkHosts checks the host keys: valid names, set for every process or
// for none, and dispatchers that games and gates on other hosts can dial.
func (c *Config) checkHosts(ps *problems) {
	type proc struct{ sec, host string }
	var all []proc
	for _, d := range c.Dispatchers {
		all = append(all, proc{processName(dispatcherKind, d.ID), d.Host})
	}
	for _, g := range c.Games {
		all = append(all, proc{processName(gameKind, g.ID), g.Host})
	}
	for _, g := range c.Gates {
		all = append(all, proc{processName(gateKind, g.ID), g.Host})
	}
	hosts := c.Hosts()
	if len(hosts) == 0 {
		return // one machine
	}
	badName := false
	for _, p := range all {
		if p.host == "" {
			// A process without a host would run on every machine, or on none.
			ps.add(p.sec, "host", fmt.Sprintf("is not set, but other processes name their hosts (%s): set host in every process "+
				"section, or once in its _common section, so that goworldctl start -host NAME knows where it runs",
				strings.Join(hosts, ", ")), "host")
		} else if msg := checkHostName(p.host); msg != "" {
			ps.bad(p.sec, "host", p.host, msg)
			badName = true
		}
	}
	if badName {
		return // which process runs where is not known
	}
	// A dispatcher is dialled by every game and gate; those on another
	// host need an address that means this dispatcher from there.
	for _, d := range c.Dispatchers {
		var remote []string
		for _, p := range all {
			if p.host != "" && p.host != d.Host && !strings.HasPrefix(p.sec, dispatcherKind) && !slices.Contains(remote, p.host) {
				remote = append(remote, p.host)
			}
		}
		if len(remote) == 0 || d.Host == "" {
			continue
		}
		sec := processName(dispatcherKind, d.ID)
		key, addr := "listen_addr", d.ListenAddr
		if d.AdvertiseAddr != "" {
			continue // checked with the dispatcher's keys
		}
		if _, msg := checkAddr(addr); msg != "" {
			continue // reported already
		}
		if msg := dialProblem(addr); msg != "" || IsLoopback(addr) {
			if msg == "" {
				msg = "is a loopback address"
			}
			*ps = append(*ps, problem{section: sec, key: key, value: addr, hasValue: true, keys: []string{"listen_addr", "advertise_addr", "host"},
				msg: fmt.Sprintf("%s, but games or gates on other hosts (%s) dial this dispatcher: listen on this host's address "+
					"on the network they share with a fixed port, or set advertise_addr to it (e.g. listen_addr = 0.0.0.0:13001 "+
					"and advertise_addr = 10.0.0.1:13001)", msg, strings.Join(remote, ", "))})
		}
	}
}

// dialProblem reports why host:port addr cannot be dialled from another
// machine as written: a port chosen at start-up, or no host.
func dialProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "not host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n == 0 {
		return "has port 0 (a port picked at start-up, which other hosts cannot know)"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return "names every interface rather than one address"
	}
	return ""
}

// validate checks one [dispatcherN] section.
func (d *DispatcherConfig) validate(ps *problems, all *addrSet) {
	sec := processName(dispatcherKind, d.ID)
	addrs := all.at(d.Host)
	checkListenAddr(ps, addrs, sec, d.ListenAddr)
	if d.AdvertiseAddr != "" {
		if _, msg := checkAddr(d.AdvertiseAddr); msg != "" {
			ps.bad(sec, "advertise_addr", d.AdvertiseAddr, msg)
		} else if msg := dialProblem(d.AdvertiseAddr); msg != "" {
			ps.bad(sec, "advertise_addr", d.AdvertiseAddr, msg+": it is the address games and gates dial")
		}
	}
	checkCommon(ps, addrs, sec, d.HTTPAddr, d.HTTPAllowRemote, d.LogLevel, d.LogFile, d.MaxPacketSize, d.SendBufferSize)
	checkSize(ps, sec, "freeze_queue_limit", d.FreezeQueueLimit, 0)
	checkDuration(ps, sec, "restore_timeout", d.RestoreTimeout)
	checkOffDuration(ps, sec, "recover_window", d.RecoverWindow)
	checkSize(ps, sec, "recover_queue_limit", d.RecoverQueueLimit, 0)
}

// validate checks one [gameN] section.
func (g *GameConfig) validate(ps *problems, all *addrSet) {
	sec := processName(gameKind, g.ID)
	addrs := all.at(g.Host)
	if msg := checkIdentifier(g.BootEntity); msg != "" {
		if g.BootEntity == "" {
			ps.add(sec, "boot_entity", "is required: the entity type created for each new client, e.g. Account", "boot_entity")
		} else {
			ps.bad(sec, "boot_entity", g.BootEntity, msg)
		}
	}
	checkDuration(ps, sec, "save_interval", g.SaveInterval)
	checkDuration(ps, sec, "freeze_timeout", g.FreezeTimeout)
	checkDuration(ps, sec, "position_sync_interval", g.PositionSyncInterval)
	checkDuration(ps, sec, "stall_threshold", g.StallThreshold)
	checkDuration(ps, sec, "request_timeout", g.RequestTimeout)
	checkDuration(ps, sec, "service_grace", g.ServiceGrace)
	checkOffDuration(ps, sec, "slow_call", g.SlowCall)
	if g.MailboxLimit <= 0 || g.MailboxLimit > storage.MaxMailboxLimit {
		ps.bad(sec, "mailbox_limit", strconv.Itoa(g.MailboxLimit), fmt.Sprintf("must be a whole number from 1 to %d", storage.MaxMailboxLimit))
	}
	for key, n := range map[string]int{"aoi_sync_limit": g.AOISyncLimit, "aoi_sync_total": g.AOISyncTotal, "aoi_sync_work": g.AOISyncWork} {
		if n <= 0 {
			ps.bad(sec, key, strconv.Itoa(n), "must be a positive whole number")
		}
	}
	if g.AOISyncLimit > MaxAOISyncLimit {
		// One client's positions message counts its entries in 16 bits.
		ps.bad(sec, "aoi_sync_limit", strconv.Itoa(g.AOISyncLimit), fmt.Sprintf("must be at most %d", MaxAOISyncLimit))
	}
	if msg := limitProblem(g.AOIViewLimit); msg != "" {
		ps.bad(sec, "aoi_view_limit", strconv.Itoa(g.AOIViewLimit), msg)
	}
	if msg := limitProblem(g.MaxClientString); msg != "" {
		ps.bad(sec, "max_client_string", strconv.Itoa(g.MaxClientString), msg)
	}
	if msg := limitProblem(g.MaxClientCoordinate); msg != "" {
		ps.bad(sec, "max_client_coordinate", strconv.Itoa(g.MaxClientCoordinate), msg)
	}
	if g.KeepFreezeFiles <= 0 {
		ps.bad(sec, "keep_freeze_files", strconv.Itoa(g.KeepFreezeFiles), "must be a positive whole number (of files)")
	}
	if g.FreezeDir == "" {
		ps.add(sec, "freeze_dir", "must not be empty", "freeze_dir")
	}
	checkCommon(ps, addrs, sec, g.HTTPAddr, g.HTTPAllowRemote, g.LogLevel, g.LogFile, g.MaxPacketSize, g.SendBufferSize)
}

// validate checks one [gateN] section.
func (g *GateConfig) validate(ps *problems, all *addrSet) {
	sec := processName(gateKind, g.ID)
	addrs := all.at(g.Host)
	checkListenAddr(ps, addrs, sec, g.ListenAddr)
	if g.WSAddr != "" {
		if canon, msg := checkAddr(g.WSAddr); msg != "" {
			ps.bad(sec, "ws_addr", g.WSAddr, msg)
		} else {
			addrs.use(ps, sec, "ws_addr", g.WSAddr, canon)
		}
	}
	if (g.TLSCert == "") != (g.TLSKey == "") {
		ps.add(sec, "tls_cert", "and tls_key go together: set both (PEM certificate chain and key) or neither", "tls_cert", "tls_key")
	}
	switch {
	case (g.WSTLSCert == "") != (g.WSTLSKey == ""):
		ps.add(sec, "ws_tls_cert", "and ws_tls_key go together: set both (PEM certificate chain and key) or neither", "ws_tls_cert", "ws_tls_key")
	case g.WSTLSCert != "" && g.WSAddr == "":
		ps.add(sec, "ws_tls_cert", "is set but ws_addr is not: TLS is for the WebSocket port", "ws_tls_cert", "ws_addr")
	}
	if len(g.WSOrigins) > 0 && g.WSAddr == "" {
		ps.add(sec, "ws_origins", "is set but ws_addr is not: origins are checked on the WebSocket port", "ws_origins", "ws_addr")
	}
	g.validateTimers(ps, sec)
	clientOK := checkSize(ps, sec, "max_client_packet_size", g.MaxClientPacketSize, maxPacketLimit)
	checkSize(ps, sec, "client_send_buffer_size", g.ClientSendBufferSize, 0)
	if clientOK && g.MaxPacketSize > 0 && g.MaxClientPacketSize > g.MaxPacketSize {
		ps.add(sec, "max_client_packet_size",
			fmt.Sprintf("(%d) must not exceed max_packet_size (%d)", g.MaxClientPacketSize, g.MaxPacketSize),
			"max_client_packet_size", "max_packet_size")
	}
	checkCommon(ps, addrs, sec, g.HTTPAddr, g.HTTPAllowRemote, g.LogLevel, g.LogFile, g.MaxPacketSize, g.SendBufferSize)
	g.validateRates(ps, sec)
}

// validateTimers checks a gate's heartbeat, KCP and resume settings.
func (g *GateConfig) validateTimers(ps *problems, sec string) {
	checkDuration(ps, sec, "heartbeat_timeout", g.HeartbeatTimeout)
	switch {
	case g.HeartbeatInterval == 0: // the default: 5s, or half of heartbeat_timeout
	case g.HeartbeatInterval < minHeartbeatInterval || g.HeartbeatInterval > maxHeartbeatInterval:
		ps.bad(sec, "heartbeat_interval", g.HeartbeatInterval.String(), "must be from 100ms to 10m")
	case g.HeartbeatTimeout > 0 && g.HeartbeatInterval > g.HeartbeatTimeout/2:
		ps.add(sec, "heartbeat_interval",
			fmt.Sprintf("(%v) must be at most half of heartbeat_timeout (%v): a client whose heartbeat or its answer is lost once must not be taken for dead", g.HeartbeatInterval, g.HeartbeatTimeout),
			"heartbeat_interval", "heartbeat_timeout")
	}
	checkDuration(ps, sec, "kcp_handshake_timeout", g.KCPHandshakeTimeout)
	if g.KCPInterval < 10*time.Millisecond || g.KCPInterval > time.Second || g.KCPInterval%time.Millisecond != 0 {
		ps.bad(sec, "kcp_interval", g.KCPInterval.String(), "must be whole milliseconds from 10ms to 1s")
	}
	if g.ResumeWindow != Off && (g.ResumeWindow <= 0 || g.ResumeWindow > MaxResumeWindow) {
		ps.bad(sec, "resume_window", g.ResumeWindow.String(), "must be positive and at most 1h, or off (Off)")
	}
	if g.ResumeLimit < MinResumeLimit || g.ResumeLimit > MaxResumeLimit {
		ps.bad(sec, "resume_limit", strconv.Itoa(g.ResumeLimit), fmt.Sprintf("must be from %d (64 KiB) to %d (256 MiB) bytes", MinResumeLimit, MaxResumeLimit))
	}
}

// validateRates checks a gate's rate limits and their bursts.
func (g *GateConfig) validateRates(ps *problems, sec string) {
	for _, l := range []struct {
		key string
		n   int
	}{
		{"client_msg_rate", g.ClientMsgRate}, {"client_byte_rate", g.ClientByteRate},
		{"max_clients", g.MaxClients}, {"kcp_session_rate", g.KCPSessionRate},
		{"kcp_hello_rate", g.KCPHelloRate},
	} {
		if msg := limitProblem(l.n); msg != "" {
			ps.bad(sec, l.key, strconv.Itoa(l.n), msg)
		}
	}
	for _, b := range []struct {
		key string
		n   int
	}{
		{"client_msg_burst", g.ClientMsgBurst}, {"client_byte_burst", g.ClientByteBurst},
		{"kcp_session_burst", g.KCPSessionBurst},
	} {
		if b.n <= 0 {
			ps.bad(sec, b.key, strconv.Itoa(b.n), "must be a positive whole number")
		}
	}
	if msg := limitProblem(g.MaxClientsPerIP); msg != "" {
		ps.bad(sec, "max_clients_per_ip", strconv.Itoa(g.MaxClientsPerIP), msg)
	}
}

// validateStorage checks [storage] against the games it serves.
func (c *Config) validateStorage(ps *problems) {
	switch c.Storage.Type {
	case StorageBolt:
		// A bbolt file is locked by the one process that opens it: a
		// second game would wait for the lock and fail to start.
		if len(c.Games) > 1 {
			names := make([]string, len(c.Games))
			for i, g := range c.Games {
				names[i] = "[" + processName(gameKind, g.ID) + "]"
			}
			ps.bad("storage", "type", c.Storage.Type, fmt.Sprintf(
				"allows one game process (a bbolt file can be opened by one process at a time), but %d are configured: %s; "+
					"to run several games, set type = redis and addr = HOST:PORT: every game shares the Redis store",
				len(c.Games), strings.Join(names, ", ")))
		}
		if c.Storage.Path == "" {
			ps.add("storage", "path", "is required: the database file, e.g. goworld.db", "path")
		}
	case StorageRedis:
		// Every game shares the store: any number of games.
		c.Storage.checkRedis(ps)
	case StorageNone:
		// No store: any number of games.
	case "":
		ps.add("storage", "type", "is required (bbolt, redis or none)", "type")
	default:
		ps.bad("storage", "type", c.Storage.Type, "unknown storage type (use bbolt, redis or none)")
	}
	if c.Storage.Type != StorageRedis {
		c.Storage.checkNotRedis(ps)
	}
}
