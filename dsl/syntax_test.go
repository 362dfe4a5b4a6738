package dsl

import (
	"strings"
	"testing"
)

// TestBindingsSlicesTables: `name := value` as a call argument, s[lo:hi]
// and []T{…} parse to their nodes, print back as written, and their
// mistakes say what was expected where.
func TestBindingsSlicesTables(t *testing.T) {
	good := []struct{ src, want string }{
		{`begin().with(p := str(args.filename), n := 1 + 2,).count()`, "p := str(args.filename)|n := 1 + 2"},
		{`begin().print("%s", comm[:3], comm[1:], comm[1:3], comm[:])`, `"%s"|comm[:3]|comm[1:]|comm[1:3]|comm[:]`},
		{"begin().print(\"%s\", []string{\"a\",\n  \"b\",\n}[pid], []int{1, -2}[0], []string{}[0])", `"%s"|[]string{"a", "b"}[pid]|[]int{1, -2}[0]|[]string{}[0]`},
	}
	for _, tt := range good {
		p, err := Parse("", tt.src)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		var args []string
		for _, a := range p.Statements[0].Chain.Stages[0].Args {
			args = append(args, ExprString(a))
		}
		if got := strings.Join(args, "|"); got != tt.want {
			t.Errorf("%s: args %s, want %s", tt.src, got, tt.want)
		}
	}
	p, err := Parse("", "s := []string{\"x\"}\nbegin().print(\"%s\", s[0])")
	if err != nil || len(p.Statements) != 2 || p.Statements[0].Name != "s" {
		t.Errorf("a table bound on its own line: %v %+v", err, p)
	}
	bad := []struct{ src, pos, msg string }{
		{`begin().with(a.b := 1)`, "1:14", "cannot bind to a.b: the left side of := must be a name"},
		{`x := []{1}`, "1:8", "expected the element type of a slice literal"},
		{`x := []string{, "a"}`, "1:6", `unexpected ","; expected an element`},
		{`x := []string{"a" "b"}`, "1:19", `expected "," or "}" to close "{" at 1:14`},
		{`x := {1}`, "1:6", `unexpected "{"; expected an expression`},
		{`x := a[1:2:3]`, "1:11", `unexpected ":"`},
		{`x := a[]`, "1:8", "expected an index, or a slice [lo:hi]"},
	}
	for _, tt := range bad {
		_, err := Parse("", tt.src)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: error %v, want one *Error", tt.src, err)
			continue
		}
		if got := e.Pos.String(); got != "<input>:"+tt.pos || !strings.Contains(e.Msg, tt.msg) {
			t.Errorf("%s: %s: %s, want %s: %s", tt.src, got, e.Msg, tt.pos, tt.msg)
		}
	}
}
