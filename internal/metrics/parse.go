package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Sample is one line of an exposition: a name, its labels and a value.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is a parsed exposition, in the order of its lines.
type Samples []Sample

// maxLine bounds one line of an exposition that Parse accepts.
const maxLine = 64 << 10

// Parse reads an exposition in the text format and checks it strictly:
// valid metric and label names, at most one TYPE per family and before its
// samples, a family's lines together, values that are numbers, and
// histograms whose buckets are cumulative and end with le="+Inf" equal to
// their _count. Timestamps are accepted and dropped.
func Parse(r io.Reader) (Samples, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	var out Samples
	types := map[string]string{}
	done := map[string]bool{} // families whose group has ended
	cur := ""
	enter := func(fam string) error {
		if fam == cur {
			return nil
		}
		if done[fam] {
			return fmt.Errorf("lines of %s are not together", fam)
		}
		if cur != "" {
			done[cur] = true
		}
		cur = fam
		return nil
	}
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(format string, args ...any) (Samples, error) {
			return nil, fmt.Errorf("metrics: line %d: %s: %q", n, fmt.Sprintf(format, args...), line)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") {
				continue // a plain comment
			}
			if !validName(f[2], true) {
				return fail("bad metric name")
			}
			if err := enter(f[2]); err != nil {
				return fail("%v", err)
			}
			if f[1] == "TYPE" {
				if len(f) != 4 {
					return fail("TYPE needs one type")
				}
				switch f[3] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					return fail("unknown type")
				}
				if _, ok := types[f[2]]; ok {
					return fail("second TYPE")
				}
				for _, s := range out {
					if family(s.Name, f[3]) == f[2] || s.Name == f[2] {
						return fail("TYPE after samples")
					}
				}
				types[f[2]] = f[3]
			}
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return fail("%v", err)
		}
		fam := s.Name
		for base, typ := range types {
			if family(s.Name, typ) == base {
				fam = base
			}
		}
		if err := enter(fam); err != nil {
			return fail("%v", err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	for name, typ := range types {
		if typ == "histogram" {
			if err := checkHistogram(out, name); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// family returns the family a sample name belongs to if the family has
// type typ: name itself, or for histograms and summaries name without its
// _bucket, _sum or _count suffix.
func family(name, typ string) string {
	if typ == "histogram" || typ == "summary" {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suf); ok {
				if suf == "_bucket" && typ == "summary" {
					continue
				}
				return base
			}
		}
	}
	return name
}

func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name, line = line[:i], line[i:]
	if !validName(s.Name, true) {
		return s, fmt.Errorf("bad metric name")
	}
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " ")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.IndexByte(line, '=')
			if eq < 0 {
				return s, fmt.Errorf("label without value")
			}
			k := strings.TrimSpace(line[:eq])
			if !validName(k, false) {
				return s, fmt.Errorf("bad label name %q", k)
			}
			if _, dup := s.Labels[k]; dup {
				return s, fmt.Errorf("label %s twice", k)
			}
			v, rest, err := parseQuoted(strings.TrimLeft(line[eq+1:], " "))
			if err != nil {
				return s, err
			}
			s.Labels[k] = v
			line = strings.TrimLeft(rest, " ")
			if strings.HasPrefix(line, ",") {
				line = line[1:]
			} else if !strings.HasPrefix(line, "}") {
				return s, fmt.Errorf("expected , or } after label %s", k)
			}
		}
	}
	f := strings.Fields(line)
	if len(f) < 1 || len(f) > 2 {
		return s, fmt.Errorf("want a value and an optional timestamp")
	}
	v, err := parseFloat(f[0])
	if err != nil {
		return s, err
	}
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return s, fmt.Errorf("bad timestamp")
		}
	}
	s.Value = v
	return s, nil
}

func parseQuoted(s string) (val, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", fmt.Errorf("label value not quoted")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			i++
			if i == len(s) {
				return "", "", fmt.Errorf("unterminated label value")
			}
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", "", fmt.Errorf("bad escape \\%c", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated label value")
}

func parseFloat(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "xXpP_") || strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity") {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return v, nil
}

// validName reports whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, without colons, a label name.
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (colon && c == ':') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// checkHistogram checks each histogram of family name: buckets ascending
// by le, counts cumulative, a +Inf bucket equal to _count.
func checkHistogram(ss Samples, name string) error {
	type hist struct {
		les    []float64
		counts []float64
		count  float64
		hasCnt bool
	}
	hs := map[string]*hist{}
	get := func(s Sample) *hist {
		k := labelKey(s.Labels, "le")
		if hs[k] == nil {
			hs[k] = &hist{}
		}
		return hs[k]
	}
	for _, s := range ss {
		switch s.Name {
		case name + "_bucket":
			le, ok := s.Labels["le"]
			if !ok {
				return fmt.Errorf("metrics: %s_bucket without le", name)
			}
			b, err := parseFloat(le)
			if err != nil {
				return fmt.Errorf("metrics: %s_bucket: le: %w", name, err)
			}
			h := get(s)
			h.les = append(h.les, b)
			h.counts = append(h.counts, s.Value)
		case name + "_count":
			h := get(s)
			h.count, h.hasCnt = s.Value, true
		}
	}
	for k, h := range hs {
		n := len(h.les)
		if n == 0 || !math.IsInf(h.les[n-1], 1) {
			return fmt.Errorf("metrics: histogram %s{%s} has no +Inf bucket last", name, k)
		}
		for i := 1; i < n; i++ {
			if h.les[i] <= h.les[i-1] || h.counts[i] < h.counts[i-1] {
				return fmt.Errorf("metrics: histogram %s{%s}: buckets not ascending and cumulative", name, k)
			}
		}
		if !h.hasCnt || h.count != h.counts[n-1] {
			return fmt.Errorf("metrics: histogram %s{%s}: _count %v != +Inf bucket %v", name, k, h.count, h.counts[n-1])
		}
	}
	return nil
}

// labelKey formats labels, less the one named skip, in a canonical order.
func labelKey(labels map[string]string, skip string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != skip {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, labels[k])
	}
	return b.String()
}

// matches reports whether s has every label pair of match (name, value...).
func (s Sample) matches(name string, match []string) bool {
	if s.Name != name {
		return false
	}
	for i := 0; i+1 < len(match); i += 2 {
		if s.Labels[match[i]] != match[i+1] {
			return false
		}
	}
	return true
}

// Sum returns the sum of the samples called name whose labels include the
// pairs match (name, value...), and whether there was any.
func (ss Samples) Sum(name string, match ...string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range ss {
		if s.matches(name, match) {
			sum += s.Value
			found = true
		}
	}
	return sum, found
}

// Quantile estimates the q-quantile (0 < q < 1) of histogram family name,
// adding up the buckets of all its histograms whose labels include match,
// by linear interpolation within a bucket as Prometheus's
// histogram_quantile does. ok is false without observations. A quantile
// in the +Inf bucket is reported as the largest finite bound.
func (ss Samples) Quantile(q float64, name string, match ...string) (v float64, ok bool) {
	byLE := map[float64]float64{}
	for _, s := range ss {
		if !s.matches(name+"_bucket", match) {
			continue
		}
		le, err := parseFloat(s.Labels["le"])
		if err != nil {
			continue
		}
		byLE[le] += s.Value
	}
	les := make([]float64, 0, len(byLE))
	for le := range byLE {
		les = append(les, le)
	}
	sort.Float64s(les)
	if len(les) == 0 || byLE[les[len(les)-1]] == 0 {
		return 0, false
	}
	total := byLE[les[len(les)-1]]
	rank := q * total
	prevLE, prevN := 0.0, 0.0
	for _, le := range les {
		n := byLE[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return prevLE, true
			}
			if n == prevN {
				return le, true
			}
			return prevLE + (le-prevLE)*(rank-prevN)/(n-prevN), true
		}
		prevLE, prevN = le, n
	}
	return prevLE, true
}

// Delta returns the samples of ss less the value of the sample with the
// same name and labels in prev (as they are where prev has none): for
// counters and histogram buckets, what happened between two scrapes.
// Gauges in the result mean nothing.
func (ss Samples) Delta(prev Samples) Samples {
	before := make(map[string]float64, len(prev))
	for _, s := range prev {
		before[s.Name+"{"+labelKey(s.Labels, "")+"}"] = s.Value
	}
	out := make(Samples, len(ss))
	for i, s := range ss {
		out[i] = s
		out[i].Value -= before[s.Name+"{"+labelKey(s.Labels, "")+"}"]
	}
	return out
}
