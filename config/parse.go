package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// Load reads, parses and validates the configuration file at path. Every
// error message is prefixed with path; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the prefix already
		}
		return nil, fmt.Errorf("%s: cannot read: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses and validates the contents of a configuration file; name is
// the file name used in error messages. On error it returns a nil Config and
// all problems found, joined with errors.Join, each of the form
//
//	name: [section] key = "value": what was expected
//
// A bad value is reported in the section where it is written, so a bad value
// in [game_common] is reported once, not once per game.
func Parse(name string, data []byte) (*Config, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		// A binary file (or a text file in UTF-16): nothing in it can be
		// read as INI, and echoing it would only spray bytes.
		return nil, fmt.Errorf("%s: not a text file (a NUL byte at offset %d); a config file is INI text in UTF-8", name, i)
	}
	f, err := ini.LoadSources(loadOptions(), data)
	if err != nil {
		return nil, syntaxError{name, err}
	}
	p := &parser{
		common:  make(map[string]*ini.Section),
		procs:   make(map[string]map[int]*ini.Section),
		sources: make(map[string]map[string]string),
		errored: make(map[[2]string]bool),
	}
	p.scan(f)

	cfg := &Config{
		Dispatchers: parseKind(p, dispatcherKind, newDispatcher, dispatcherFields),
		Games:       parseKind(p, gameKind, newGame, gameFields),
		Gates:       parseKind(p, gateKind, newGate, gateFields),
		Storage:     newStorage(),
	}
	if p.storage != nil {
		p.apply(p.storage.Name(), storageFields(&cfg.Storage), p.storage)
	}
	if p.cluster != nil {
		p.apply(p.cluster.Name(), clusterFields(&cfg.Cluster), p.cluster)
	}

	for _, vp := range cfg.validate() {
		if p.follows(vp) {
			continue
		}
		if vp.ownValue && vp.key != "" {
			if src := p.sources[vp.section][vp.key]; src != "" {
				vp.section = src
			}
		}
		p.problems = append(p.problems, vp)
	}
	if len(p.problems) > 0 {
		return nil, join(name, p.problems)
	}
	return cfg, nil
}

// syntaxError is an error of ini.v1, which cannot read the file at all.
type syntaxError struct {
	name string
	err  error
}

func (e syntaxError) Error() string {
	// ini.v1 quotes the offending line raw: show it escaped and cut.
	return e.name + ": " + show(strings.TrimSpace(e.err.Error()), maxShownMsg)
}
func (e syntaxError) Unwrap() error { return e.err }

// loadOptions makes ini.v1 strict: only "=" separates keys from values (so
// "host:port" can never be read as a key), a trailing backslash does not
// continue a line, an inline comment needs white space before it, and
// repeated keys and sections are kept apart so that they can be reported
// rather than silently overwritten or merged.
func loadOptions() ini.LoadOptions {
	return ini.LoadOptions{
		KeyValueDelimiters:         "=",
		IgnoreContinuation:         true,
		SpaceBeforeInlineComment:   true,
		AllowShadows:               true,
		AllowDuplicateShadowValues: true,
		AllowNonUniqueSections:     true,
	}
}

// parser holds the state of one Parse.
type parser struct {
	common   map[string]*ini.Section         // kind -> [kind_common]
	procs    map[string]map[int]*ini.Section // kind -> ID -> [kindN]
	storage  *ini.Section
	cluster  *ini.Section
	problems problems
	// sources maps a process section and a key to the section where the
	// key's value is written (the process section or its _common section).
	sources map[string]map[string]string
	// errored holds the (section, key) pairs whose value could not be used.
	errored map[[2]string]bool
}

const storageSection = "storage"

var kinds = []string{dispatcherKind, gameKind, gateKind}

// allowedKeys lists the keys each section kind accepts.
var allowedKeys = map[string][]string{
	dispatcherKind: fieldKeys(dispatcherFields(&DispatcherConfig{})),
	gameKind:       fieldKeys(gameFields(&GameConfig{})),
	gateKind:       fieldKeys(gateFields(&GateConfig{})),
	storageSection: fieldKeys(storageFields(&StorageConfig{})),
	clusterSection: fieldKeys(clusterFields(&ClusterConfig{})),
}

// scan sorts the sections of f by kind and reports unknown and repeated
// sections and keys, keys in the DEFAULT section and keys set twice.
func (p *parser) scan(f *ini.File) {
	seen := make(map[string]bool)
	for _, sec := range f.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			for _, k := range sec.Keys() {
				p.problems.add(name, "", fmt.Sprintf(
					"key %q is outside of any section: the DEFAULT section must be empty; move the key below a [section] header",
					k.Name()))
			}
			continue
		}
		if seen[name] {
			p.problems.add(name, "", "section appears more than once; merge the two")
			continue
		}
		seen[name] = true

		kind := ""
		switch {
		case name == storageSection:
			kind = storageSection
			p.storage = sec
		case name == clusterSection:
			kind = clusterSection
			p.cluster = sec
		case strings.HasSuffix(name, "_common") && slices.Contains(kinds, strings.TrimSuffix(name, "_common")):
			kind = strings.TrimSuffix(name, "_common")
			p.common[kind] = sec
		default:
			for _, k := range kinds {
				digits, ok := strings.CutPrefix(name, k)
				if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
					continue
				}
				kind = k
				id, err := strconv.Atoi(digits)
				if err != nil || id < 1 || id > maxID || digits[0] == '0' {
					p.problems.add(name, "", fmt.Sprintf("bad process number %q: must be 1..%d without leading zeros", digits, maxID))
					break
				}
				if p.procs[k] == nil {
					p.procs[k] = make(map[int]*ini.Section)
				}
				p.procs[k][id] = sec
			}
		}
		if kind == "" {
			msg := "unknown section (use dispatcherN, gameN, gateN, dispatcher_common, game_common, gate_common, storage or cluster)"
			if s := suggest(name, []string{"dispatcher_common", "game_common", "gate_common", storageSection, clusterSection}); s != "" {
				msg = fmt.Sprintf("unknown section (did you mean [%s]?)", s)
			}
			p.problems.add(name, "", msg)
			continue
		}
		p.checkKeys(sec, kind)
	}
}

// checkKeys reports keys of sec that kind does not accept and keys set more
// than once.
func (p *parser) checkKeys(sec *ini.Section, kind string) {
	for _, k := range sec.Keys() {
		key := k.Name()
		if !slices.Contains(allowedKeys[kind], key) {
			p.problems.add(sec.Name(), "", unknownKey(key, kind))
			continue
		}
		// With AllowShadows, every repetition of a key is a shadow of its
		// first occurrence; ValueWithShadows skips empty values, so a first
		// empty value followed by a non-empty one is a repetition too.
		vals := k.ValueWithShadows()
		if len(vals) > 1 || (len(vals) == 1 && k.Value() == "") {
			p.problems.add(sec.Name(), "", fmt.Sprintf("key %q is set more than once (values %q)", key, vals))
			p.errored[[2]string{sec.Name(), key}] = true
		}
	}
}

func unknownKey(key, kind string) string {
	if strings.HasPrefix(key, "#") {
		// ini.v1 names the keys of "- = value" lines #1, #2, ...
		return fmt.Sprintf(`auto-numbered key "-" (%s) is not allowed`, key)
	}
	msg := fmt.Sprintf("unknown key %q", key)
	var in []string
	for _, k := range append(slices.Clone(kinds), storageSection) {
		if k != kind && slices.Contains(allowedKeys[k], key) {
			in = append(in, k)
		}
	}
	if len(in) > 0 {
		return msg + fmt.Sprintf(" (it is a key of %s sections)", strings.Join(in, " and "))
	}
	if s := suggest(key, allowedKeys[kind]); s != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}

// parseKind builds the processes of one kind, in ID order, from their
// sections and the kind's _common section.
func parseKind[T any](p *parser, kind string, newT func(int) T, fields func(*T) []field) []T {
	ids := make([]int, 0, len(p.procs[kind]))
	for id := range p.procs[kind] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		sec := p.procs[kind][id]
		secs := []*ini.Section{sec}
		if c := p.common[kind]; c != nil {
			secs = []*ini.Section{c, sec} // the process section overrides
		}
		t := newT(id)
		p.apply(sec.Name(), fields(&t), secs...)
		out = append(out, t)
	}
	return out
}

// apply sets the fields of section sec from the keys of secs, later
// sections overriding earlier ones, and records where each value came from.
func (p *parser) apply(sec string, fields []field, secs ...*ini.Section) {
	src := make(map[string]string)
	vals := make(map[string]string)
	for _, s := range secs {
		for _, k := range s.Keys() {
			src[k.Name()] = s.Name()
			vals[k.Name()] = k.Value()
		}
	}
	p.sources[sec] = src
	for _, f := range fields {
		v, ok := vals[f.key]
		if !ok {
			continue
		}
		from := src[f.key]
		if p.errored[[2]string{from, f.key}] {
			continue
		}
		msg := "multi-line values are not allowed"
		if !strings.ContainsAny(v, "\r\n") {
			msg = f.set(v)
		}
		if msg != "" {
			if secretKeys[f.key] {
				v = "(not shown)"
			}
			p.problems.bad(from, f.key, v, msg)
			p.errored[[2]string{from, f.key}] = true
		}
	}
}

// follows reports whether vp is a consequence of a value already reported
// as unusable.
func (p *parser) follows(vp problem) bool {
	for _, k := range vp.keys {
		from := p.sources[vp.section][k]
		if from == "" {
			from = vp.section
		}
		if p.errored[[2]string{from, k}] {
			return true
		}
	}
	return false
}

// field is one key of a section and how to store its value.
type field struct {
	key string
	set func(v string) string // stores v; returns what was expected if v is bad
}

func fieldKeys(fs []field) []string {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return keys
}

func strField(key string, p *string) field {
	return field{key, func(v string) string { *p = v; return "" }}
}

func durField(key string, p *time.Duration) field {
	return field{key, func(v string) string {
		d, err := time.ParseDuration(v)
		if err != nil {
			return "not a duration (use e.g. 60s, 5m)"
		}
		if msg := durationProblem(d); msg != "" {
			return msg
		}
		*p = d
		return ""
	}}
}

// offDurField parses a positive duration, or "off" (Off). An explicit 0
// is refused: in config.ini it used to mean off for resume_window, while
// a zero in the Go structs takes the default, so it is ambiguous; the
// message names both ways of saying what was meant.
func offDurField(key string, p *time.Duration, def time.Duration) field {
	return field{key, func(v string) string {
		if strings.EqualFold(v, "off") {
			*p = Off
			return ""
		}
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return "not a duration (use e.g. 60s, 5m; or off)"
		case d == 0:
			return fmt.Sprintf("0 is ambiguous: write %s = off to turn it off, or remove the key for the default (%v)", key, def)
		case d < 0:
			return "must be positive (or off)"
		}
		*p = d
		return ""
	}}
}

// countField parses a positive whole number of things (not bytes).
func countField(key string, p *int) field {
	return field{key, func(v string) string {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return "must be a positive whole number"
		}
		*p = n
		return ""
	}}
}

// limitField parses a limit: a positive whole number of things, or
// "unlimited" (Unlimited). An explicit 0 is refused: in config.ini it used
// to mean unlimited, while a zero in the Go structs takes the default, so
// it is ambiguous; the message names both ways of saying what was meant.
// prefixListField reads a list of networks (CIDR prefixes such as
// 10.0.0.0/8, or single addresses) separated by commas or spaces, or none.
func prefixListField(key string, p *[]netip.Prefix) field {
	return field{key, func(v string) string {
		if strings.EqualFold(strings.TrimSpace(v), "none") {
			*p = []netip.Prefix{}
			return ""
		}
		var list []netip.Prefix
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			pf, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					if len(s) > maxShownName {
						s = s[:maxShownName] + "..."
					}
					return strconv.Quote(s) + ": not a network (10.0.0.0/8) or an address (use none for no network)"
				}
				pf = netip.PrefixFrom(a, a.BitLen())
			}
			list = append(list, pf.Masked())
		}
		if len(list) == 0 {
			return "no network (write none to exempt nothing)"
		}
		*p = list
		return ""
	}}
}

func limitField(key string, p *int, def int) field {
	return field{key, func(v string) string {
		if strings.EqualFold(v, "unlimited") {
			*p = Unlimited
			return ""
		}
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return "not a whole number (or unlimited)"
		case n == 0 && def == Unlimited:
			return fmt.Sprintf("0 is ambiguous: write %s = unlimited for no limit (the default), or a positive number", key)
		case n == 0:
			return fmt.Sprintf("0 is ambiguous: write %s = unlimited for no limit, or remove the key for the default (%d)", key, def)
		case n < 0:
			return "must be positive (or unlimited)"
		}
		*p = n
		return ""
	}}
}

func sizeField(key string, p *int, limit int) field {
	return field{key, func(v string) string {
		n, err := strconv.Atoi(v)
		if err != nil {
			return "not a whole number of bytes (e.g. 16777216)"
		}
		if msg := sizeProblem(n, limit); msg != "" {
			return msg
		}
		*p = n
		return ""
	}}
}

// originsField reads a list of browser origins (scheme://host[:port]),
// separated by commas or spaces.
func originsField(key string, p *[]string) field {
	return field{key, func(v string) string {
		var list []string
		for _, o := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
				return fmt.Sprintf("%q is not an origin (use scheme://host[:port], e.g. https://game.example, http://localhost:8080)", o)
			}
			list = append(list, u.Scheme+"://"+u.Host)
		}
		*p = list
		return ""
	}}
}

func boolField(key string, p *bool) field {
	return field{key, func(v string) string {
		switch strings.ToLower(v) {
		case "true", "yes", "on", "1":
			*p = true
		case "false", "no", "off", "0":
			*p = false
		default:
			return "not a boolean (use true or false)"
		}
		return ""
	}}
}

func dispatcherFields(d *DispatcherConfig) []field {
	return []field{
		strField("host", &d.Host),
		strField("listen_addr", &d.ListenAddr),
		strField("advertise_addr", &d.AdvertiseAddr),
		strField("http_addr", &d.HTTPAddr),
		boolField("http_allow_remote", &d.HTTPAllowRemote),
		strField("log_level", &d.LogLevel),
		strField("log_file", &d.LogFile),
		sizeField("max_packet_size", &d.MaxPacketSize, maxPacketLimit),
		sizeField("send_buffer_size", &d.SendBufferSize, 0),
		sizeField("freeze_queue_limit", &d.FreezeQueueLimit, 0),
		durField("restore_timeout", &d.RestoreTimeout),
		offDurField("recover_window", &d.RecoverWindow, DefaultRecoverWindow),
		sizeField("recover_queue_limit", &d.RecoverQueueLimit, 0),
	}
}

func gameFields(g *GameConfig) []field {
	return []field{
		strField("host", &g.Host),
		strField("boot_entity", &g.BootEntity),
		durField("save_interval", &g.SaveInterval),
		strField("freeze_dir", &g.FreezeDir),
		countField("keep_freeze_files", &g.KeepFreezeFiles),
		durField("freeze_timeout", &g.FreezeTimeout),
		durField("position_sync_interval", &g.PositionSyncInterval),
		durField("stall_threshold", &g.StallThreshold),
		countField("aoi_sync_limit", &g.AOISyncLimit),
		countField("aoi_sync_total", &g.AOISyncTotal),
		countField("aoi_sync_work", &g.AOISyncWork),
		limitField("aoi_view_limit", &g.AOIViewLimit, Unlimited),
		limitField("max_client_string", &g.MaxClientString, DefaultMaxClientString),
		limitField("max_client_coordinate", &g.MaxClientCoordinate, DefaultMaxClientCoordinate),
		durField("request_timeout", &g.RequestTimeout),
		durField("service_grace", &g.ServiceGrace),
		offDurField("slow_call", &g.SlowCall, DefaultSlowCall),
		countField("mailbox_limit", &g.MailboxLimit),
		strField("http_addr", &g.HTTPAddr),
		boolField("http_allow_remote", &g.HTTPAllowRemote),
		strField("log_level", &g.LogLevel),
		strField("log_file", &g.LogFile),
		sizeField("max_packet_size", &g.MaxPacketSize, maxPacketLimit),
		sizeField("send_buffer_size", &g.SendBufferSize, 0),
	}
}

func gateFields(g *GateConfig) []field {
	return []field{
		strField("host", &g.Host),
		strField("listen_addr", &g.ListenAddr),
		strField("http_addr", &g.HTTPAddr),
		boolField("http_allow_remote", &g.HTTPAllowRemote),
		boolField("kcp", &g.KCP),
		strField("ws_addr", &g.WSAddr),
		strField("tls_cert", &g.TLSCert),
		strField("tls_key", &g.TLSKey),
		strField("ws_tls_cert", &g.WSTLSCert),
		strField("ws_tls_key", &g.WSTLSKey),
		originsField("ws_origins", &g.WSOrigins),
		durField("heartbeat_timeout", &g.HeartbeatTimeout),
		durField("heartbeat_interval", &g.HeartbeatInterval),
		sizeField("max_client_packet_size", &g.MaxClientPacketSize, maxPacketLimit),
		sizeField("client_send_buffer_size", &g.ClientSendBufferSize, 0),
		sizeField("max_packet_size", &g.MaxPacketSize, maxPacketLimit),
		sizeField("send_buffer_size", &g.SendBufferSize, 0),
		strField("log_level", &g.LogLevel),
		strField("log_file", &g.LogFile),
		limitField("client_msg_rate", &g.ClientMsgRate, DefaultClientMsgRate),
		countField("client_msg_burst", &g.ClientMsgBurst),
		limitField("client_byte_rate", &g.ClientByteRate, DefaultClientByteRate),
		countField("client_byte_burst", &g.ClientByteBurst),
		limitField("max_clients", &g.MaxClients, DefaultMaxClients),
		limitField("max_clients_per_ip", &g.MaxClientsPerIP, DefaultMaxClientsPerIP),
		prefixListField("max_clients_per_ip_exempt", &g.MaxClientsPerIPExempt),
		countField("max_client_requests", &g.MaxClientRequests),
		limitField("kcp_session_rate", &g.KCPSessionRate, DefaultKCPSessionRate),
		countField("kcp_session_burst", &g.KCPSessionBurst),
		limitField("kcp_hello_rate", &g.KCPHelloRate, DefaultKCPHelloRate),
		durField("kcp_handshake_timeout", &g.KCPHandshakeTimeout),
		durField("kcp_interval", &g.KCPInterval),
		offDurField("resume_window", &g.ResumeWindow, DefaultResumeWindow),
		sizeField("resume_limit", &g.ResumeLimit, 0),
	}
}

func storageFields(s *StorageConfig) []field {
	return []field{
		strField("type", &s.Type),
		strField("path", &s.Path),
		strField("addr", &s.Addr),
		addrListField("addrs", &s.Addrs),
		strField("username", &s.Username),
		secretField("password", &s.Password),
		boolField("tls", &s.TLS),
		strField("tls_ca", &s.TLSCA),
		strField("tls_cert", &s.TLSCert),
		strField("tls_key", &s.TLSKey),
		strField("tls_server_name", &s.TLSServerName),
		dbField("db", &s.DB),
		strField("key_prefix", &s.KeyPrefix),
		durField("dial_timeout", &s.DialTimeout),
		durField("read_timeout", &s.ReadTimeout),
		durField("write_timeout", &s.WriteTimeout),
	}
}

// suggest returns the candidate closest to s if it is a likely typo of it.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3 // at most two edits
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
