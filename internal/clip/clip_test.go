package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPrefix(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc"},
		{"abc", 0, ""},
		{"abc", -1, ""},
		{"ab€", 3, "ab"},                // € is 3 bytes: it does not fit
		{"ab€", 4, "ab"},                // nor here
		{"ab€x", 5, "ab€"},              // here it does
		{"é", 1, ""},                    // a 2-byte character cut in half goes
		{"😀😀", 5, "😀"},                  // 4-byte
		{"\xff\xff\xff", 2, "\xff\xff"}, // invalid bytes count one each
		{"a\x80\x80\x80\x80b", 3, "a\x80\x80"},
	} {
		if got := Prefix(tc.s, tc.n); got != tc.want {
			t.Errorf("Prefix(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("abc", 10); got != `"abc"` {
		t.Errorf("short: %s", got)
	}
	if got := Quote(strings.Repeat("a", 65500), 4); got != `"aaaa…" (65500 bytes)` {
		t.Errorf("long: %s", got)
	}
	if got := Quote("a\nb\x00c"+strings.Repeat("z", 100), 4); got != `"a\nb\x00…" (105 bytes)` {
		t.Errorf("escaped: %s", got)
	}
	// Bounded whatever the input: every byte escaped is at most 4 bytes.
	evil := strings.Repeat("\x00", 1<<20)
	if got := Quote(evil, Default); len(got) > 4*Default+32 || strings.ContainsRune(got, 0) {
		t.Errorf("%d bytes for a 1 MiB input, or a raw NUL", len(got))
	}
}

func TestText(t *testing.T) {
	if got := Text("hello", 5); got != "hello" {
		t.Error(got)
	}
	if got := Text("héllo", 2); got != "h… (6 bytes)" {
		t.Error(got)
	}
}

func TestName(t *testing.T) {
	for s, want := range map[string]string{
		"Name":                  "Name",
		"room_1.a-b":            "room_1.a-b",
		"":                      `""`,
		"two words":             `"two words"`,
		"a\"b":                  `"a\"b"`,
		"nl\n":                  `"nl\n"`,
		strings.Repeat("x", 65): `"` + strings.Repeat("x", 64) + `…" (65 bytes)`,
		"\xff":                  `"\xff"`,
	} {
		if got := Name(s); got != want {
			t.Errorf("Name(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzQuote checks Prefix and Quote on any string and bound: a prefix
// within the bound, cut on a character boundary of valid UTF-8, no more
// than a character short; a quote on one line, bounded by the bound.
func FuzzQuote(f *testing.F) {
	f.Add("abc", 2)
	f.Add("€€€", 4)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1000
		p := Prefix(s, n)
		if len(p) > max(n, 0) || !strings.HasPrefix(s, p) {
			t.Fatalf("Prefix(%q, %d) = %q", s, n, p)
		}
		if utf8.ValidString(s) && !utf8.ValidString(p) {
			t.Fatalf("Prefix(%q, %d) = %q: invalid UTF-8", s, n, p)
		}
		if len(s) > n && n > utf8.UTFMax && len(p) < n-utf8.UTFMax+1 {
			t.Fatalf("Prefix(%q, %d) = %q: cut more than a character", s, n, p)
		}
		q := Quote(s, max(n, 0))
		if strings.ContainsAny(q, "\n\r\x00") || len(q) > 4*max(n, 0)+40 {
			t.Fatalf("Quote(%q, %d) = %q", s, n, q)
		}
	})
}
