// Package argkinds writes the Go types of a client call's arguments as the
// server decoded them (protocol.md 7.3, parameters of type any): the
// notation the client libraries' tests (clients/js, clients/csharp)
// compare against, so that a client that sends 3.0 as an integer, or a
// string as bytes, is caught.
package argkinds

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Describe writes v with its Go types: int64(42), float64(2.5),
// string("x"), bytes(00ff), nil, [..] for lists and {k:..} for maps,
// keys sorted; "unexpected T" for a type the decoder never gives.
func Describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case bool:
		return fmt.Sprintf("bool(%v)", x)
	case int64:
		return fmt.Sprintf("int64(%d)", x)
	case uint64:
		return fmt.Sprintf("uint64(%d)", x)
	case float64:
		return "float64(" + strconv.FormatFloat(x, 'g', -1, 64) + ")"
	case string:
		return fmt.Sprintf("string(%q)", x)
	case []byte:
		return fmt.Sprintf("bytes(%x)", x)
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = Describe(e)
		}
		return "[" + strings.Join(s, ",") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + ":" + Describe(x[k])
		}
		return "{" + strings.Join(keys, ",") + "}"
	}
	return fmt.Sprintf("unexpected %T", v)
}
