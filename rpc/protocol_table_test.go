package rpc

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// msgTypeConsts returns every constant of type MsgType declared in
// msgtype.go, name → number, read from the source so that a new constant
// cannot be missed.
func msgTypeConsts(t *testing.T) map[string]int {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "msgtype.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]int{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "MsgType" {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: not a literal number", name.Name)
				}
				n, err := strconv.Atoi(lit.Value)
				if err != nil {
					t.Fatalf("%s = %s: %v", name.Name, lit.Value, err)
				}
				consts[name.Name] = n
			}
		}
	}
	return consts
}

// TestProtocolDocMessageTypeTables checks the message-type tables of
// docs/protocol.md (section 5, the client protocol; section 15, the
// server's) against the code: every MsgType constant has a row with its
// number and name, in the client table below 1000 and in the server
// table from 1000, no row names anything else, and each constant's
// String is its name.
func TestProtocolDocMessageTypeTables(t *testing.T) {
	consts := msgTypeConsts(t)
	if len(consts) < 40 {
		t.Fatalf("found only %d MsgType constants in msgtype.go", len(consts))
	}
	f, err := os.Open("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// | 3    | `MsgCallEntity`    | client → gate  | …
	row := regexp.MustCompile("^\\|\\s*(\\d+)\\s*\\|\\s*`(Msg\\w+)`\\s*\\|")
	var section string
	seen := map[string]int{}
	rows := map[string]int{} // rows per section
	sc := bufio.NewScanner(f)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			section = strings.Fields(line)[1]
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		name := m[2]
		switch section {
		case "5.", "15.":
		default:
			t.Errorf("protocol.md:%d: a message-type row outside sections 5 and 15: %s", lineNo, line)
			continue
		}
		rows[section]++
		want, ok := consts[name]
		switch {
		case !ok:
			t.Errorf("protocol.md:%d: %s %d is not a message type in rpc/msgtype.go", lineNo, name, n)
		case want != n:
			t.Errorf("protocol.md:%d: %s is %d in the table, %d in the code", lineNo, name, n, want)
		case section == "5." && n >= 1000, section == "15." && n < 1000:
			t.Errorf("protocol.md:%d: %s (%d) in section %s, the wrong table", lineNo, name, n, section)
		}
		if seen[name] > 0 {
			t.Errorf("protocol.md:%d: %s has a second row", lineNo, name)
		}
		seen[name]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name, n := range consts {
		if seen[name] == 0 {
			t.Errorf("%s (%d) has no row in docs/protocol.md's message-type tables", name, n)
		}
		if got := MsgType(n).String(); got != strings.TrimPrefix(name, "Msg") {
			t.Errorf("MsgType(%d).String() = %q, want %q", n, got, strings.TrimPrefix(name, "Msg"))
		}
	}
	if rows["5."] == 0 || rows["15."] == 0 {
		t.Fatalf("rows in section 5: %d, in section 15: %d; has the document's format changed?", rows["5."], rows["15."])
	}
}
