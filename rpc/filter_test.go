package rpc

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestCompareFilterValues: numbers compare as numbers when both sides are
// decimal numbers, everything else byte by byte.
func TestCompareFilterValues(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"9", "10", -1},       // numbers: 9 < 10 (as strings, "10" < "9")
		{"10", "9", 1},        //
		{"-2.5", "1", -1},     //
		{"1", "1.0", 0},       // equal as numbers
		{"1e3", "999", 1},     // exponent
		{"+3", "3", 0},        // sign
		{".5", "0.4", 1},      // leading dot
		{"5.", "5", 0},        // trailing dot
		{"alice", "bob", -1},  // strings
		{"bob", "alice", 1},   //
		{"lobby", "lobby", 0}, //
		{"10", "9a", -1},      // one side not a number: strings
		{"0x10", "9", -1},     // hexadecimal is not a decimal number: strings
		{"Inf", "1", 1},       // nor Inf ("I" > "1")
		{"NaN", "NaN", 0},     // nor NaN
		{"1_000", "2", -1},    // nor underscores
		{"1e400", "2", -1},    // out of range: strings
		{"", "0", -1},         // empty is not a number
		{"-", "0", -1},        //
		{"1e", "1", 1},        // incomplete exponent: strings
	} {
		if got := CompareFilterValues(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareFilterValues(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestCompareFilterValuesOrders: over numbers alone, the order is that of
// their float64 values; over non-numbers alone, that of strings.Compare;
// and it is antisymmetric over anything.
func TestCompareFilterValuesOrders(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	nums := make([]string, 200)
	for i := range nums {
		f := (r.Float64() - 0.5) * 1e6
		switch i % 3 {
		case 0:
			nums[i] = strconv.Itoa(int(f))
		case 1:
			nums[i] = strconv.FormatFloat(f, 'f', -1, 64)
		default:
			nums[i] = strconv.FormatFloat(f, 'e', 3, 64)
		}
	}
	words := []string{"", "a", "ab", "b", "lobby", "Lobby", "room-1", "zz", "é", "9a"}
	all := append(append([]string{}, nums...), words...)
	for _, a := range nums {
		x, _ := strconv.ParseFloat(a, 64)
		for _, b := range nums {
			y, _ := strconv.ParseFloat(b, 64)
			want := 0
			if x < y {
				want = -1
			} else if x > y {
				want = 1
			}
			if got := CompareFilterValues(a, b); got != want {
				t.Fatalf("CompareFilterValues(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, a := range words {
		for _, b := range words {
			if got, want := CompareFilterValues(a, b), strings.Compare(a, b); got != want {
				t.Fatalf("CompareFilterValues(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, a := range all {
		for _, b := range all {
			if CompareFilterValues(a, b) != -CompareFilterValues(b, a) {
				t.Fatalf("CompareFilterValues(%q, %q) is not antisymmetric", a, b)
			}
		}
	}
}

// TestFilterOpMatch: each operator against a property, with and without
// the property; unknown operators match nothing.
func TestFilterOpMatch(t *testing.T) {
	type row struct {
		prop string
		has  bool
		val  string
		// want for Eq, Ne, All, Lt, Le, Gt, Ge
		want [7]bool
	}
	for _, tc := range []row{
		{"5", true, "10", [7]bool{false, true, true, true, true, false, false}},
		{"10", true, "10", [7]bool{true, false, true, false, true, false, true}},
		{"10.0", true, "10", [7]bool{false, true, true, false, true, false, true}}, // equal as numbers, not as bytes
		{"bob", true, "alice", [7]bool{false, true, true, false, false, true, true}},
		{"", false, "alice", [7]bool{false, true, true, false, false, false, false}},
		{"", false, "", [7]bool{false, true, true, false, false, false, false}},
	} {
		for op := FilterEq; op <= FilterGe; op++ {
			if got := op.Match(tc.prop, tc.has, tc.val); got != tc.want[op] {
				t.Errorf("%q (has %v) %v %q = %v, want %v", tc.prop, tc.has, op, tc.val, got, tc.want[op])
			}
		}
	}
	for _, op := range []FilterOp{7, 200, 255} {
		if op.Valid() || op.Match("a", true, "a") {
			t.Errorf("%v: valid or matches", op)
		}
		if op.String() != "FilterOp("+strconv.Itoa(int(op))+")" {
			t.Errorf("String of %d: %s", op, op)
		}
	}
}
