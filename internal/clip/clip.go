// Package clip bounds text that comes from outside the process (a client's
// method name, a value in a config file) before it goes into a log line,
// a kick reason or an error message: a few hundred bytes of it say what
// it was, and the rest would only amplify whoever sent it.
package clip

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Default is the number of bytes of outside text that Quote keeps by
// default in log lines and reasons (QuoteDefault).
const Default = 64

// Prefix returns the longest prefix of s of at most n bytes that does not
// end inside a UTF-8 sequence: a valid UTF-8 string stays valid. Bytes
// that are not UTF-8 count as one character each. n < 0 counts as 0.
func Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	// Back up over at most utf8.UTFMax-1 continuation bytes to the start
	// of the character that would be cut, then keep it only if it fits.
	i := n
	for k := 0; k < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); k++ {
		i--
	}
	if utf8.RuneStart(s[i]) {
		if _, size := utf8.DecodeRuneInString(s[i:]); size > 1 && i+size > n {
			return s[:i]
		}
	}
	return s[:n]
}

// Quote returns s as a Go-quoted string (non-printable bytes escaped, so
// a log line stays one line of text) of at most n bytes of s; a longer s
// is cut on a character boundary and followed by an ellipsis and its
// length: "aaaa…" (65500 bytes). The result is at most about 4n+32
// bytes, whatever s is.
func Quote(s string, n int) string {
	if len(s) <= n {
		return strconv.Quote(s)
	}
	q := strconv.Quote(Prefix(s, n))
	return q[:len(q)-1] + `…" (` + strconv.Itoa(len(s)) + " bytes)"
}

// QuoteDefault is Quote(s, Default).
func QuoteDefault(s string) string { return Quote(s, Default) }

// Text cuts an already-escaped message (an error's text, say) to at most
// n bytes on a character boundary, marking a cut with an ellipsis and the
// original length.
func Text(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Prefix(s, n) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// Name returns s as it is if it is short (at most Default bytes) and
// plain (printable, no spaces or quotes: an identifier, a number, a
// path), and Quote(s, Default) otherwise. For names a peer chose that
// are almost always plain: a field name, a map key, a section name.
func Name(s string) string {
	if len(s) <= Default && s != "" {
		plain := true
		for _, r := range s {
			if r == utf8.RuneError || r <= ' ' || r == '"' || r == '\\' || r == 0x7f || !unicode.IsPrint(r) {
				plain = false
				break
			}
		}
		if plain {
			return s
		}
	}
	return Quote(s, Default)
}
