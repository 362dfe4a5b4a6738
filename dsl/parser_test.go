package dsl

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// sx renders an expression fully parenthesised, so tests see the tree.
func sx(e Expr) string {
	switch e := e.(type) {
	case *Binary:
		return "(" + e.Op + " " + sx(e.X) + " " + sx(e.Y) + ")"
	case *Unary:
		return "(" + e.Op + " " + sx(e.X) + ")"
	case *Paren:
		return "(paren " + sx(e.X) + ")"
	case *Selector:
		return sx(e.X) + "." + e.Sel
	case *Index:
		return sx(e.X) + "[" + sx(e.Index) + "]"
	case *Call:
		args := make([]string, len(e.Args))
		for i, a := range e.Args {
			args[i] = sx(a)
		}
		return sx(e.Fun) + "(" + strings.Join(args, ", ") + ")"
	case *IntLit:
		return fmt.Sprintf("%s=%d", e.Text, e.Value)
	case *StringLit:
		if e.Raw {
			return "raw" + fmt.Sprintf("%q", e.Value)
		}
		return fmt.Sprintf("%q", e.Value)
	case *BoolLit:
		return fmt.Sprint(e.Value)
	case *Ident:
		return e.Name
	case nil:
		return "<nil>"
	}
	return fmt.Sprintf("%T", e)
}

// stmtString describes a statement: `name := src(args) | stage(args) | …`.
func stmtString(st *Statement) string {
	var b strings.Builder
	if st.Name != "" {
		b.WriteString(st.Name + " := ")
	}
	if st.Chain == nil {
		b.WriteString("value " + sx(st.Value))
		return b.String()
	}
	if st.Value != nil {
		b.WriteString("BOTH CHAIN AND VALUE ")
	}
	if st.Chain.Ref != nil {
		b.WriteString("ref " + st.Chain.Ref.Name)
	} else {
		s := st.Chain.Source
		b.WriteString(s.Name + callArgs(s))
	}
	for _, s := range st.Chain.Stages {
		b.WriteString(" | " + s.Name + callArgs(s))
	}
	return b.String()
}

func callArgs(c *Call) string {
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = sx(a)
	}
	return "(" + strings.Join(args, ", ") + ")"
}

func progString(p *Program) string {
	var lines []string
	for _, st := range p.Statements {
		lines = append(lines, stmtString(st))
	}
	return strings.Join(lines, "\n")
}

func mustParse(t *testing.T, text string) *Program {
	t.Helper()
	p, err := Parse("test.ebt", text)
	if err != nil {
		t.Fatalf("Parse(%q): %v\n%s", text, err, Render(err, nil))
	}
	return p
}

func mustExpr(t *testing.T, text string) Expr {
	t.Helper()
	e, err := ParseExpr("", text)
	if err != nil {
		t.Fatalf("ParseExpr(%q): %v\n%s", text, err, Render(err, nil))
	}
	return e
}

// stripPos zeroes every Pos in an AST so trees can be compared by shape.
func stripPos(v any) {
	var walk func(reflect.Value)
	posType := reflect.TypeOf(Pos{})
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			if v.Type() == posType {
				v.Set(reflect.Zero(posType))
				return
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		}
	}
	walk(reflect.ValueOf(v))
}

func TestPrecedence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a + b * c == d && e || f", "(|| (&& (== (+ a (* b c)) d) e) f)"},
		{"a || b && c", "(|| a (&& b c))"},
		{"a == b && c != d", "(&& (== a b) (!= c d))"},
		{"a < b == c > d", "(> (== (< a b) c) d)"}, // one level, left to right, as in Go
		{"a <= b != c >= d", "(>= (!= (<= a b) c) d)"},
		{"a | b ^ c + d - e", "(- (+ (^ (| a b) c) d) e)"},
		{"a * b / c % d << e >> f & g &^ h", "(&^ (& (>> (<< (% (/ (* a b) c) d) e) f) g) h)"},
		{"a + b << c", "(+ a (<< b c))"},
		{"a & b == c", "(== (& a b) c)"},
		{"a - b - c", "(- (- a b) c)"},
		{"(a + b) * c", "(* (paren (+ a b)) c)"},
		{"-a * b", "(* (- a) b)"},
		{"!a && !b", "(&& (! a) (! b))"},
		{"^a | -b", "(| (^ a) (- b))"},
		{"*p + &x", "(+ (* p) (& x))"},
		{"!!-x", "(! (! (- x)))"},
		{"+x", "x"},
		{"- -x", "(- (- x))"},
		{"-a.b[1]", "(- a.b[1=1])"},
		{"a.b.c(d)[e].f", "a.b.c(d)[e].f"},
		{"f(x, y,)", "f(x, y)"},
		{"f()", "f()"},
		{"f(\n  x,\n  y,\n)", "f(x, y)"},
		{"a\n+\nb", "(+ a b)"}, // newlines are blanks in an expression
		{"args.flags & 0x80000 != 0", "(!= (& args.flags 0x80000=524288) 0=0)"},
	}
	for _, tt := range tests {
		if got := sx(mustExpr(t, tt.in)); got != tt.want {
			t.Errorf("ParseExpr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestLiterals(t *testing.T) {
	tests := []struct{ in, want string }{
		{"42", "42=42"},
		{"0", "0=0"},
		{"1_000_000", "1_000_000=1000000"},
		{"0x1F", "0x1F=31"},
		{"0XfF", "0XfF=255"},
		{"0x_ff", "0x_ff=255"},
		{"0o17", "0o17=15"},
		{"0O17", "0O17=15"},
		{"0777", "0777=511"},
		{"0b1010", "0b1010=10"},
		{"0B1_0", "0B1_0=2"},
		{"18446744073709551615", "18446744073709551615=18446744073709551615"},
		{"0xffffffffffffffff", "0xffffffffffffffff=18446744073709551615"},
		{"'a'", "'a'=97"},
		{`'\n'`, `'\n'=10`},
		{`'\''`, `'\''=39`},
		{`'\x41'`, `'\x41'=65`},
		{`'\377'`, `'\377'=255`},
		{`'é'`, `'é'=233`},
		{`'\u00e9'`, `'\u00e9'=233`},
		{`"hello"`, `"hello"`},
		{`""`, `""`},
		{`"a\tb\n\"c\"\\"`, `"a\tb\n\"c\"\\"`},
		{`"\x41\101\u00e9"`, `"AAé"`},
		{"`raw\\n`", `raw"raw\\n"`},
		{"`two\nlines`", `raw"two\nlines"`},
		{"`cr\r\nlf`", `raw"cr\nlf"`}, // Go drops carriage returns from raw strings
		{"true", "true"},
		{"false", "false"},
		{"truex", "truex"},
	}
	for _, tt := range tests {
		if got := sx(mustExpr(t, tt.in)); got != tt.want {
			t.Errorf("ParseExpr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// Node types, not just their rendering.
	if _, ok := mustExpr(t, "'a'").(*IntLit); !ok {
		t.Errorf("char literal is not an IntLit")
	}
	if s, ok := mustExpr(t, "`x`").(*StringLit); !ok || !s.Raw {
		t.Errorf("raw string: %#v", s)
	}
	if b, ok := mustExpr(t, "true").(*BoolLit); !ok || !b.Value {
		t.Errorf("true: %#v", b)
	}
}

func TestChains(t *testing.T) {
	tests := []struct{ in, want string }{
		{`tracepoint("syscalls:sys_enter_openat").filter(comm == "bash").print("%d %s", pid, str(args.filename))`,
			`tracepoint("syscalls:sys_enter_openat") | filter((== comm "bash")) | print("%d %s", pid, str(args.filename))`},
		{`tracepoint("raw_syscalls:sys_enter").by(comm).count()`,
			`tracepoint("raw_syscalls:sys_enter") | by(comm) | count()`},
		{`uprobe("/usr/bin/bash", "readline").print("readline from %d", pid)`,
			`uprobe("/usr/bin/bash", "readline") | print("readline from %d", pid)`},
		{`kprobe("do_sys_open").filter("args->flags & 0x80000").print("open O_CREAT")`,
			`kprobe("do_sys_open") | filter("args->flags & 0x80000") | print("open O_CREAT")`},
		{`begin()`, `begin()`},
		{`profile(99).by(kstack).count()`, `profile(99=99) | by(kstack) | count()`},
		{`http.server("/srv/app").by(path).hist(duration)`, `http.server("/srv/app") | by(path) | hist(duration)`},
		{`grpc.client(bin).count()`, `grpc.client(bin) | count()`},
		{`goroutine.blocked("/srv/app").by(reason).sum(duration)`, `goroutine.blocked("/srv/app") | by(reason) | sum(duration)`},
		{`kprobe("x")->count()`, `kprobe("x") | count()`},
		{`kretprobe("vfs_read").filter(retval > 0).lhist(retval, 0, 1000, 100).as("reads").every("1s").top(10)`,
			`kretprobe("vfs_read") | filter((> retval 0=0)) | lhist(retval, 0=0, 1000=1000, 100=100) | as("reads") | every("1s") | top(10=10)`},
		{`reads.count()`, `ref reads | count()`},
		{`kprobe("tcp_connect").print("%d", (*sock)(arg0).__sk_common.skc_dport)`,
			`kprobe("tcp_connect") | print("%d", (paren (* sock))(arg0).__sk_common.skc_dport)`},
		// Not chains: plain values.
		{`n := 5`, `n := value 5=5`},
		{`x := args.a + 1`, `x := value (+ args.a 1=1)`},
		{`pid`, `value pid`},
		{`reads.count`, `value reads.count`},
		{`(*T)(p).x()`, `value (paren (* T))(p).x()`},
		{`f(1) + 2`, `value (+ f(1=1) 2=2)`},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.in)
		if got := progString(p); got != tt.want {
			t.Errorf("Parse(%q)\n got: %s\nwant: %s", tt.in, got, tt.want)
		}
	}
}

func TestStatementsAndSeparators(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"\n\n  \n", ""},
		{"// only a comment\n/* and another */", ""},
		{"a()\nb()", "a()\nb()"},
		{"a(); b()", "a()\nb()"},
		{";;a();;;b();\n;\n", "a()\nb()"},
		{"a()\n\n\n// c\n\nb()\n", "a()\nb()"},
		{"a() // trailing\nb() /* x */ ; c()", "a()\nb()\nc()"},
		{"a() /* spans\nlines */ b()", "a()\nb()"},
		{"a() /* one line */ .count()", "a() | count()"},
		{"a(1,\n  2)\nb()", "a(1=1, 2=2)\nb()"},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.in)
		if got := progString(p); got != tt.want {
			t.Errorf("Parse(%q)\n got: %q\nwant: %q", tt.in, got, tt.want)
		}
	}
}

func TestMultiLineChains(t *testing.T) {
	tests := []struct{ in, want string }{
		{"tracepoint(\"a:b\")\n  .count()", `tracepoint("a:b") | count()`},
		{"tracepoint(\"a:b\").\n  count()", `tracepoint("a:b") | count()`},
		{"tracepoint(\"a:b\")\n\n  // why\n  .filter(pid == 1)\n  /* c */\n  .count()",
			`tracepoint("a:b") | filter((== pid 1=1)) | count()`},
		{"tracepoint(\"a:b\")\n  ->count()", `tracepoint("a:b") | count()`},
		{"kprobe(\"f\").filter(\n  pid == 1 &&\n  comm == \"x\"\n).count()",
			`kprobe("f") | filter((&& (== pid 1=1) (== comm "x"))) | count()`},
		// A trailing binary operator continues the line, as in Go.
		{"n := 1 +\n  2\nm := 3", "n := value (+ 1=1 2=2)\nm := value 3=3"},
		// A leading operator does not: this is `a` then `-b`.
		{"a\n-b", "value a\nvalue (- b)"},
		{"reads := kretprobe(\"vfs_read\")\nreads\n  .by(comm)\n  .count()",
			"reads := kretprobe(\"vfs_read\")\nref reads | by(comm) | count()"},
		{"a()\r\n.count()\r\nb()", "a() | count()\nb()"},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.in)
		if got := progString(p); got != tt.want {
			t.Errorf("Parse(%q)\n got: %s\nwant: %s", tt.in, got, tt.want)
		}
	}
}

func TestBindings(t *testing.T) {
	p := mustParse(t, "reads := kretprobe(\"vfs_read\")\nn := 5\nreads.filter(retval > n).count()\nhttp.server(bin)\nhttp := begin()\nhttp.count()")
	want := []string{
		`reads := kretprobe("vfs_read")`,
		`n := value 5=5`,
		`ref reads | filter((> retval n)) | count()`,
		`http.server(bin)`,
		`http := begin()`,
		`ref http | count()`, // a bound name shadows the package
	}
	if got := progString(p); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if st := p.Statements[0]; st.Name != "reads" || st.Pos.Col != 1 || st.Chain.Pos.Col != 10 || st.Value != nil {
		t.Errorf("binding statement: %+v", st)
	}
	if st := p.Statements[1]; st.Chain != nil || st.Value == nil {
		t.Errorf("value statement: %+v", st)
	}
	if r := p.Statements[2].Chain; r.Source != nil || r.Ref == nil || r.Ref.Pos.Line != 3 || r.Ref.Pos.Col != 1 {
		t.Errorf("ref chain: %+v", r)
	}
}

// parseWithFilter parses in and, as the compiler does, the expression a
// string given to filter holds.
func parseWithFilter(file, in string) error {
	p, err := Parse(file, in)
	if err != nil {
		return err
	}
	for _, st := range p.Statements {
		if st.Chain == nil {
			continue
		}
		for _, s := range st.Chain.Stages {
			if len(s.Args) == 0 {
				continue
			}
			if lit, ok := s.Args[0].(*StringLit); ok && s.Name == "filter" {
				if _, err := ParseString(p.Source, lit); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// filterArg is the expression the string argument of the first stage holds.
func filterArg(t *testing.T, p *Program) Expr {
	t.Helper()
	lit, ok := p.Statements[0].Chain.Stages[0].Args[0].(*StringLit)
	if !ok {
		t.Fatalf("the stage's argument is not a string")
	}
	e, err := ParseString(p.Source, lit)
	if err != nil {
		t.Fatalf("ParseString: %v", err)
	}
	return e
}

func TestParseString(t *testing.T) {
	pairs := [][2]string{
		{`kprobe("f").filter("args->flags & 0x80000")`, `kprobe("f").filter(args.flags & 0x80000)`},
		{"kprobe(\"f\").filter(`args->flags & 0x80000`)", `kprobe("f").filter(args.flags & 0x80000)`},
		{`kprobe("f").filter("comm == \"bash\" && pid != 1")`, `kprobe("f").filter(comm == "bash" && pid != 1)`},
		{`kprobe("f").filter("(*sock)(arg0)->sk_state == 1")`, `kprobe("f").filter((*sock)(arg0).sk_state == 1)`},
	}
	for _, pr := range pairs {
		a := filterArg(t, mustParse(t, pr[0]))
		b := mustParse(t, pr[1]).Statements[0].Chain.Stages[0].Args[0]
		if ExprString(a) != ExprString(b) {
			t.Errorf("%s holds %s, want %s", pr[0], ExprString(a), ExprString(b))
		}
	}
	// A bad expression in the string is an error inside it.
	p := mustParse(t, `kprobe("f").filter("a == ")`)
	lit := p.Statements[0].Chain.Stages[0].Args[0].(*StringLit)
	if _, err := ParseString(p.Source, lit); err == nil || !strings.Contains(err.Error(), "1:25") {
		t.Errorf("ParseString of a bad expression: %v", err)
	}
}

func TestParseStringPositions(t *testing.T) {
	// Without escapes, positions land inside the string exactly.
	src := "kprobe(\"f\")\n  .filter(\"args->flags & 0x80000\")"
	arg := filterArg(t, mustParse(t, src)).(*Binary)
	sel := arg.X.(*Selector)
	check := func(what string, got Pos, line, col int, text string) {
		t.Helper()
		if got.Line != line || got.Col != col || got.File != "test.ebt" {
			t.Errorf("%s at %s, want %d:%d", what, got, line, col)
		}
		if !strings.HasPrefix(src[got.Offset:], text) {
			t.Errorf("%s: offset %d holds %q, want %q", what, got.Offset, src[got.Offset:], text)
		}
	}
	check("args", sel.Pos, 2, 12, "args")
	check("flags", sel.SelPos, 2, 18, "flags")
	check("&", arg.OpPos, 2, 24, "&")
	check("0x80000", arg.Y.Position(), 2, 26, "0x80000")

	// A raw string spanning lines maps exactly too.
	src = "kprobe(\"f\").filter(`a ==\n  b`)"
	bin := filterArg(t, mustParse(t, src)).(*Binary)
	check("b", bin.Y.Position(), 2, 3, "b")

	// With escapes every position is the literal's start.
	src = `kprobe("f").filter("comm == \"x\"")`
	bin = filterArg(t, mustParse(t, src)).(*Binary)
	check("comm", bin.X.Position(), 1, 20, `"comm`)
	check("==", bin.OpPos, 1, 20, `"comm`)
}

func TestPositions(t *testing.T) {
	src := "// header\nx := tracepoint(\"a:b\")\n  .filter(args->x[2] + -y)\n  .count()"
	p := mustParse(t, src)
	if p.Source == nil || p.Source.Name != "test.ebt" || p.Source.Text != src {
		t.Fatalf("Program.Source = %+v", p.Source)
	}
	st := p.Statements[0]
	at := func(what string, got Pos, line, col int, text string) {
		t.Helper()
		if got.Line != line || got.Col != col || got.File != "test.ebt" {
			t.Errorf("%s at %d:%d (%s), want %d:%d", what, got.Line, got.Col, got.File, line, col)
		}
		if !strings.HasPrefix(src[got.Offset:], text) {
			t.Errorf("%s: offset %d holds %.10q…, want %q", what, got.Offset, src[got.Offset:], text)
		}
	}
	at("statement", st.Pos, 2, 1, "x :=")
	at("chain", st.Chain.Pos, 2, 6, "tracepoint")
	src0 := st.Chain.Source
	at("source", src0.Pos, 2, 6, "tracepoint")
	at("source (", src0.LParen, 2, 16, `("a:b")`)
	at("source )", src0.RParen, 2, 22, ")")
	at("source end", src0.EndCall, 2, 23, "\n")
	filter := st.Chain.Stages[0]
	at("filter", filter.Pos, 3, 4, "filter(")
	at("filter fun", filter.Fun.Position(), 3, 4, "filter(")
	at("filter (", filter.LParen, 3, 10, "(args")
	at("filter )", filter.RParen, 3, 26, ")\n")
	at("filter end", filter.EndCall, 3, 27, "\n")
	bin := filter.Args[0].(*Binary)
	at("binary", bin.Pos, 3, 11, "args")
	at("binary op", bin.OpPos, 3, 22, "+ -y")
	ix := bin.X.(*Index)
	at("index", ix.Pos, 3, 11, "args")
	at("index value", ix.Index.Position(), 3, 19, "2]")
	sel := ix.X.(*Selector)
	at("selector", sel.Pos, 3, 11, "args")
	at("selector name", sel.SelPos, 3, 17, "x[2]")
	un := bin.Y.(*Unary)
	at("unary", un.Pos, 3, 24, "-y")
	at("unary operand", un.X.Position(), 3, 25, "y)")
	count := st.Chain.Stages[1]
	at("count", count.Pos, 4, 4, "count()")

	// Columns count bytes, so a multi-byte character before a token
	// shifts it by its UTF-8 length.
	src = `print("é", x)`
	e := mustExpr(t, src).(*Call)
	if got := e.Args[1].Position(); got.Col != 13 || got.Offset != 12 || got.File != "<input>" {
		t.Errorf("after é: %+v", got)
	}
	// Paren and cast positions.
	src = "(*T)(p)"
	c := mustExpr(t, src).(*Call)
	if c.Name != "" || c.Pos.Col != 1 || c.LParen.Col != 5 || c.Fun.(*Paren).X.(*Unary).X.Position().Col != 3 {
		t.Errorf("cast: %s %+v", sx(c), c)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		in   string
		pos  string // line:col
		want string
	}{
		{`f(a +)`, "1:6", `unexpected ")"; expected an expression`},
		{`tracepoint("a:b").filter(pid == 1`, "1:34", `unexpected end of input; expected ")" to close "(" at 1:25`},
		// Inside the parentheses `1\n.count()` is a call on 1, so the error is at the end.
		{"tracepoint(\"a:b\")\n  .filter(pid == 1\n  .count()", "3:11",
			`unexpected end of input; expected ")" to close "(" at 2:10`},
		{`f(a b)`, "1:5", `unexpected name b; expected "," or ")" to close "(" at 1:2`},
		{"a()\n\n  b(1,\n    2 3)", "4:7", `unexpected literal 3; expected "," or ")" to close "(" at 3:4`},
		{`a[1`, "1:4", `unexpected end of input; expected "]" to close "[" at 1:2`},
		{`a[1, 2]`, "1:4", `unexpected ","; expected "]" to close "[" at 1:2`},
		{`[]int{1 2}`, "1:9", `unexpected literal 2; expected "," or "}" to close "{" at 1:6`},
		{`(a]`, "1:3", `unexpected "]"; expected ")" to close "(" at 1:1`},
		{`f(a; b)`, "1:4", `unexpected ";"; expected ")" to close "(" at 1:2`},
		{`a)`, "1:2", `unexpected ")" with no matching "("`},
		{`)`, "1:1", `unexpected ")"; expected an expression`},
		{`a b`, "1:3", `unexpected name b; expected an operator or the end of the statement`},
		{`a "s"`, "1:3", `unexpected literal "s"; expected an operator or the end of the statement`},
		{`a,`, "1:2", `unexpected ","; expected an operator or the end of the statement`},
		{`a.`, "1:3", `unexpected end of input; expected a name after "."`},
		{"a.\n\n", "1:3", `unexpected end of input; expected a name after "."`},
		{`a->1`, "1:4", `unexpected literal 1; expected a name after "->"`},
		{`a = 1`, "1:3", `unexpected "="; use == to compare, or := to bind a name`},
		{`x := y := z`, "1:8", `unexpected ":="; expected an operator or the end of the statement`},
		{`x :=`, "1:5", `unexpected end of input; expected an expression`},
		{"x :=\n  // nothing\n", "1:5", `unexpected end of input; expected an expression`},
		{"a &&\n;", "2:1", `unexpected ";"; expected an expression`},
		{`f(,)`, "1:3", `unexpected ","; expected an expression`},
		{`f(a,,b)`, "1:5", `unexpected ","; expected an expression`},
		{`a[]`, "1:3", `unexpected "]"; expected an index, or a slice [lo:hi]`},
		{`&^x`, "1:1", `unexpected "&^"; expected an expression`},
		{`"abc`, "1:1", `unterminated string`},
		{`a + "abc`, "1:5", `unterminated string`},
		{"a &&\n\n// end\n", "1:5", `unexpected end of input; expected an expression`},
		{"a()\nx := \"ab\nc()", "2:6", `unterminated string`},
		{"x := `abc", "1:6", "unterminated raw string: missing `"},
		{`a /* x`, "1:3", `unterminated comment: missing */`},
		{`x := 'a`, "1:6", `unterminated character literal`},
		{`x := 'ab'`, "1:6", `character literal 'ab' holds more than one character`},
		{`x := ''`, "1:6", `empty character literal`},
		{`x := '\q'`, "1:6", `invalid character literal '\q'`},
		{`x := "a\qb"`, "1:8", `invalid escape sequence in string`},
		{`x := 0x`, "1:6", `invalid integer literal 0x`},
		{`x := 08`, "1:6", `invalid integer literal 08`},
		{`x := 1__0`, "1:6", `invalid integer literal 1__0`},
		{`x := 12ab`, "1:6", `invalid integer literal 12ab`},
		{`x := 1e9`, "1:6", `invalid integer literal 1e9`},
		{`x := 1.5`, "1:6", `floating-point numbers are not supported: 1.5`},
		{`x := 18446744073709551616`, "1:6", `integer literal 18446744073709551616 overflows 64 bits`},
		{`a @ b`, "1:3", `unexpected character '@' (U+0040)`},
		{"a\x00", "1:2", `unexpected character '\x00' (U+0000)`},
		{"a \xff", "1:3", `unexpected character byte 0xff (invalid UTF-8)`},
		{`x := "é" # 1`, "1:11", `unexpected character '#' (U+0023)`},
		{`(a) := 1`, "1:1", `cannot bind to (a): the left side of := must be a name`},
		{`a.b := 1`, "1:1", `cannot bind to a.b: the left side of := must be a name`},
		{`tracepoint("x").foo`, "1:17", `expected "(" after stage name foo: a chain continues only with .stage(arguments)`},
		{`tracepoint("x").foo.count()`, "1:17", `expected "(" after stage name foo: a chain continues only with .stage(arguments)`},
		{"tracepoint(\"x\")\n  .count\n  .print()", "2:4", `expected "(" after stage name count: a chain continues only with .stage(arguments)`},
		{`tracepoint("x")[0]`, "1:16", `unexpected "["; a chain continues only with .stage(arguments)`},
		{`tracepoint("x").count()[0]`, "1:24", `unexpected "["; a chain continues only with .stage(arguments)`},
		{`tracepoint("x")(1)`, "1:16", `unexpected "("; a chain continues only with .stage(arguments)`},
		{`a[1].b()`, "1:2", `unexpected "["; a probe source is a name followed by (arguments)`},
		// Errors inside a filter string point into it...
		{`kprobe("f").filter("a +")`, "1:24", `unexpected end of input; expected an expression`},
		{`kprobe("f").filter("a + )")`, "1:25", `unexpected ")"; expected an expression`},
		{`kprobe("f").filter("(a")`, "1:23", `unexpected end of input; expected ")" to close "(" at 1:21`},
		{`kprobe("f").filter("a $")`, "1:23", `unexpected character '$' (U+0024)`},
		{`kprobe("f").filter("")`, "1:21", `unexpected end of input; expected an expression`},
		{`kprobe("f").filter("a; b")`, "1:22", `unexpected ";"; expected an operator or the end of the expression`},
		// ...or at the string when escapes make offsets inexact.
		{`kprobe("f").filter("a == \"x\" +")`, "1:20", `unexpected end of input; expected an expression`},
		{`kprobe("f").filter("(a == \"x\"")`, "1:20", `unexpected end of input; expected ")" to close "("`},
		// The earliest error wins, lexical or syntactic.
		{`a b "unterminated`, "1:3", `unexpected name b; expected an operator or the end of the statement`},
		{`"x\q" +`, "1:3", `invalid escape sequence in string`},
		{`f(a +) @`, "1:6", `unexpected ")"; expected an expression`},
		{strings.Repeat("(", 300), "1:201", `expression nested too deeply (more than 200 brackets)`},
	}
	for _, tt := range tests {
		err := parseWithFilter("t.ebt", tt.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q): error %v (%T), want *Error", tt.in, err, err)
			continue
		}
		if got := fmt.Sprintf("%d:%d", e.Pos.Line, e.Pos.Col); got != tt.pos || e.Msg != tt.want {
			t.Errorf("Parse(%q):\n got %s: %s\nwant %s: %s", tt.in, got, e.Msg, tt.pos, tt.want)
		}
		if e.Source == nil || e.Source.Text != tt.in || e.Pos.File != "t.ebt" {
			t.Errorf("Parse(%q): error without its source or file: %+v", tt.in, e)
		}
		checkCaret(t, tt.in, e)
	}
}

// checkCaret checks that Render puts the caret under the error's column,
// counting display columns the way a terminal would (tabs as 4).
func checkCaret(t *testing.T, src string, e *Error) {
	t.Helper()
	out := e.Render()
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], e.Pos.String()+": "+e.Msg) {
		t.Errorf("Render:\n%s", out)
		return
	}
	line := strings.Split(src, "\n")[e.Pos.Line-1]
	line = strings.TrimRight(line, "\r")
	want := 0
	for _, r := range line[:min(e.Pos.Col-1, len(line))] {
		if r == '\t' {
			want += 4
		} else {
			want++
		}
	}
	want += max(0, e.Pos.Col-1-len(line))
	if lines[2] != "    "+strings.Repeat(" ", want)+"^" {
		t.Errorf("caret for %q at %s:\n%s", src, e.Pos, out)
	}
}

func TestRender(t *testing.T) {
	tests := []struct{ in, want string }{
		{`tracepoint("a:b").filter(pid == 1`, `
x.ebt:1:34: unexpected end of input; expected ")" to close "(" at 1:25
    tracepoint("a:b").filter(pid == 1
                                     ^
`},
		{"tracepoint(\"a:b\")\n\t.filter(pid == = 1)", `
x.ebt:2:17: unexpected "="; expected an expression
        .filter(pid == = 1)
                       ^
`},
		{`x := "é" @`, `
x.ebt:1:11: unexpected character '@' (U+0040)
    x := "é" @
             ^
`},
		{"kprobe(\"f\")\n  .filter(\"args->flags &\")", `
x.ebt:2:25: unexpected end of input; expected an expression
      .filter("args->flags &")
                            ^
`},
	}
	for _, tt := range tests {
		err := parseWithFilter("x.ebt", tt.in)
		if got := Render(err, nil); got != tt.want[1:] {
			t.Errorf("Render for %q:\n%s\nwant:\n%s", tt.in, got, tt.want[1:])
		}
	}
}

func TestErrorList(t *testing.T) {
	_, err := Parse("", "a().foo\nb().bar()\nc()[1]")
	var el ErrorList
	if !errors.As(err, &el) || len(el) != 2 {
		t.Fatalf("want 2 errors, got %v", err)
	}
	if el[0].Pos.String() != "<input>:1:5" || el[1].Pos.String() != "<input>:3:4" {
		t.Errorf("positions: %s, %s", el[0].Pos, el[1].Pos)
	}
	for _, e := range el {
		if e.Source == nil || e.Source.Name != "<input>" {
			t.Errorf("error without source: %+v", e)
		}
	}
	if r := Render(err, nil); strings.Count(r, "^") != 2 {
		t.Errorf("Render:\n%s", r)
	}
}

func TestParseExpr(t *testing.T) {
	e := mustExpr(t, "a &&\n  b")
	if b, ok := e.(*Binary); !ok || b.OpPos.Line != 1 || b.Y.Position().Line != 2 {
		t.Errorf("got %s", sx(e))
	}
	for _, tt := range []struct{ in, pos, want string }{
		{"", "1:1", `unexpected end of input; expected an expression`},
		{"a;", "1:2", `unexpected ";"; expected an operator or the end of the expression`},
		{"a b", "1:3", `unexpected name b; expected an operator or the end of the expression`},
		{"x := 1", "1:3", `unexpected ":="; expected an operator or the end of the expression`},
	} {
		_, err := ParseExpr("", tt.in)
		var e *Error
		if !errors.As(err, &e) || fmt.Sprintf("%d:%d", e.Pos.Line, e.Pos.Col) != tt.pos || e.Msg != tt.want {
			t.Errorf("ParseExpr(%q) = %v, want %s: %s", tt.in, err, tt.pos, tt.want)
		}
	}
}

func TestExprStringRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a+b*c", "a + b * c"},
		{"(a + b)*c", "(a + b) * c"},
		{"a->b.c[1](x,y,)", "a.b.c[1](x, y)"},
		{"!-x", "!-x"},
		{"- -x", "--x"},
		{"+x", "x"},
		{"`raw\\n`", "`raw\\n`"},
		{`"q\"s\t"`, `"q\"s\t"`},
		{`"\x41"`, `"A"`},
		{"'a' + '\\n'", "'a' + '\\n'"},
		{"0x_1F | 0b1 | 0o7 | 017", "0x_1F | 0b1 | 0o7 | 017"},
		{"(*sock)(arg0)->__sk_common.skc_dport", "(*sock)(arg0).__sk_common.skc_dport"},
		{"true && !false", "true && !false"},
		{"f(\n  x,\n)", "f(x)"},
		{"a == b != c", "a == b != c"},
		{"a &^ b", "a &^ b"},
		{"a & ^b", "a & ^b"},
	}
	for _, tt := range tests {
		e := mustExpr(t, tt.in)
		s := ExprString(e)
		if s != tt.want {
			t.Errorf("ExprString(ParseExpr(%q)) = %q, want %q", tt.in, s, tt.want)
		}
		again := mustExpr(t, s)
		stripPos(e)
		stripPos(again)
		if !reflect.DeepEqual(e, again) {
			t.Errorf("%q does not round-trip: %s vs %s", tt.in, sx(e), sx(again))
		}
	}
}

func TestHostileInput(t *testing.T) {
	// None of these may panic or overflow the stack; the deep ones must be
	// errors, the long flat ones must parse.
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{strings.Repeat("(", 100000), false},
		{strings.Repeat("[", 100000), false},
		{strings.Repeat("f(", 100000), false},
		{strings.Repeat("(", 199) + "a" + strings.Repeat(")", 199), true},
		{strings.Repeat("!", 20000) + "a", true},
		{"x := a" + strings.Repeat(" + a", 20000), true},
		{strings.Repeat("a().count()\n", 2000), true},
		{strings.Repeat(";", 10000), true},
		{strings.Repeat(")", 10000), false},
		{strings.Repeat("\"", 10001), false},
	} {
		_, err := Parse("", tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%.20q…): err = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "internal") {
			t.Errorf("Parse(%.20q…): %v", tt.in, err)
		}
	}
}

// The participle parsers are package globals; parsing must be safe from
// several goroutines (the REPL completes while a script runs).
func TestConcurrentParse(t *testing.T) {
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			p, err := Parse("", fuzzSeeds[0]+"\n"+fuzzSeeds[3])
			if err != nil {
				done <- err.Error()
				return
			}
			done <- progString(p)
		}()
	}
	first := <-done
	for i := 1; i < 8; i++ {
		if got := <-done; got != first {
			t.Errorf("concurrent parses differ:\n%s\n%s", got, first)
		}
	}
}
