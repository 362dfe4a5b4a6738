package dsl

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fuzzSeeds are realistic programs: the examples of LANGUAGE.md and more.
// The corpus under testdata/fuzz/FuzzParse adds odd and broken ones.
var fuzzSeeds = []string{
	`tracepoint("syscalls:sys_enter_openat").filter(comm == "bash").print("%d %s", pid, str(args.filename))`,
	`tracepoint("raw_syscalls:sys_enter").by(comm).count()`,
	`uprobe("/usr/bin/bash", "readline").print("readline from %d", pid)`,
	`kprobe("do_sys_open").filter("args->flags & 0x80000").print("open O_CREAT")   // the seed's example, verbatim`,
	`reads := kretprobe("vfs_read")`,
	"reads := kretprobe(\"vfs_read\")\nreads.filter(retval > 0).hist(retval)",
	`begin().print("tracing... hit Ctrl-C to end")`,
	`end().print("bye")`,
	`interval("1s").print("tick %d", elapsed)`,
	`profile(99).filter(pid == 1234).by(kstack).count().top(10)`,
	`profile("10ms").by(ustack, comm).count()`,
	`rawtracepoint("sched_switch").by(cpu).count()`,
	`fentry("tcp_sendmsg").by(comm).sum(args.size).as("bytes")`,
	`fexit("vfs_read").filter(retval < 0).print("%s failed: %d", comm, retval)`,
	`kprobe("tcp_connect").print("%d", (*sock)(arg0).__sk_common.skc_dport)`,
	`http.server("/srv/app").by(path, status).hist(duration).every("10s")`,
	`http.client("/srv/app").filter(status >= 500).print("%s %s %d", method, path, status)`,
	`grpc.server("/srv/api").by(method, kind).stats(duration).export("grpc_server_seconds")`,
	`goroutine.blocked("/srv/app").filter(reason == "chan recv").by(ustack).sum(duration)`,
	"kprobe(\"vfs_read\")\n  .latency(kretprobe(\"vfs_read\"))\n  .by(comm)\n  .hist(elapsed)",
	"// count syscalls by process\ntracepoint(\"raw_syscalls:sys_enter\")\n  .by(comm, pid)\n  .count()\n  .every(\"1s\")\n",
	"tracepoint(\"syscalls:sys_enter_execve\").\n  print(\"%s\", str(args.filename)); end().exit()",
	"/* block\n comment */ kprobe(\"f\").filter(`args->flags & 0x40 != 0 && comm != \"sh\"`).count()",
	`uretprobe("libc", "malloc").filter(retval == 0).print("%x %c %q %%", hex(retval), 'x', comm).exit()`,
	`kprobe("f").filter(!(pid == 1) || -arg0 < ^arg1 && arg2 &^ 0b1010 >> 2 != 0o17 % 0777).lhist(arg0, 0, 1_000, 100)`,
	`kprobe("f").filter(curtask.real_parent.comm == "systemd").print("%s", ksym(arg0))`,
	`n := 5; m := n * 2 + 'a'`,
	`uprobe("/bin/x", "main.handler").filter(gostr(arg0, arg1) == "GET").print("%v", goid)`,
	`kprobe("f").print("%s", ntop(args.addr[0]))`,
	`kprobe("f").filter("comm == \"bash\"")`,
	"tracepoint(\"syscalls:sys_enter_openat\")\n  .with(path := str(args.filename), f := hex(args.flags),)\n  .pair(tracepoint(\"syscalls:sys_exit_openat\"))\n  .print(\"%s %d\", path, cond(args.ret < 0, -args.ret, 0))",
	`tracepoint("syscalls:sys_enter_execve").with(a := join(args.argv, ",")).latency(tracepoint("syscalls:sys_exit_execve"), pid, pid).print("%s", a)`,
	"states := []string{\"\", \"ESTABLISHED\",\n  \"SYN_SENT\",\n}\nn := []int{1, -2}[0]",
	`begin().filter(strings.HasPrefix(comm, "ba") && !strings.Contains(comm[1:], "x") || comm[:2] == "sh"[:]).print("%s", []string{"a"}[pid])`,
	`target := param(0, "a process id"); who := param(string, "a name")`,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		prog, err := Parse("fuzz.ebt", text)
		lines := strings.Count(text, "\n") + 1
		if err != nil {
			checkFuzzError(t, text, lines, err)
			return
		}
		if prog.Source == nil || prog.Source.Text != text {
			t.Fatalf("Program.Source not set")
		}
		checkPositions(t, text, prog)
		for _, st := range prog.Statements {
			if (st.Chain == nil) == (st.Value == nil) {
				t.Fatalf("statement needs exactly one of Chain and Value: %+v", st)
			}
			if st.Value != nil {
				checkRoundTrip(t, st.Value)
				continue
			}
			if (st.Chain.Source == nil) == (st.Chain.Ref == nil) {
				t.Fatalf("chain needs exactly one of Source and Ref: %+v", st.Chain)
			}
			for _, s := range st.Chain.Stages {
				for _, a := range s.Args {
					checkRoundTrip(t, a)
				}
			}
		}
	})
}

func checkFuzzError(t *testing.T, text string, lines int, err error) {
	var list ErrorList
	var one *Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = ErrorList{one}
	default:
		t.Fatalf("error of type %T: %v", err, err)
	}
	for _, e := range list {
		if strings.Contains(e.Msg, "internal") {
			t.Fatalf("internal error: %v", e)
		}
		// participle's own wording means syntaxError failed to rephrase it.
		if strings.Contains(e.Msg, "unexpected token") || strings.Contains(e.Msg, "lexer:") {
			t.Fatalf("raw participle message: %v", e)
		}
		if e.Pos.Line < 1 || e.Pos.Line > lines+1 || e.Pos.Col < 1 || e.Pos.Offset < 0 || e.Pos.Offset > len(text) {
			t.Fatalf("error position %+v out of range (%d lines, %d bytes): %v", e.Pos, lines, len(text), e)
		}
		if e.Source == nil || e.Source.Text != text {
			t.Fatalf("error without its source: %v", e)
		}
		_ = e.Render()
	}
}

// checkPositions checks every Pos in the program against the text: in
// range, line and column agreeing with the offset, and every name found
// where its Pos says (or at the quote of a filter string with escapes,
// whose positions all map to the literal).
func checkPositions(t *testing.T, text string, prog *Program) {
	posType := reflect.TypeOf(Pos{})
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), path)
			}
		case reflect.Struct:
			if v.Type() == posType {
				checkPos(t, text, v.Interface().(Pos), path)
				return
			}
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if f.IsExported() {
					walk(v.Field(i), path+"."+f.Name)
				}
			}
			if v.Type() == reflect.TypeOf(Ident{}) {
				id := v.Interface().(Ident)
				rest := text[id.Pos.Offset:]
				if !strings.HasPrefix(rest, id.Name) && !strings.HasPrefix(rest, `"`) && !strings.HasPrefix(rest, "`") {
					t.Fatalf("ident %q at %s, where the text is %.10q", id.Name, id.Pos, text[id.Pos.Offset:])
				}
			}
		}
	}
	for _, st := range prog.Statements {
		walk(reflect.ValueOf(st), "stmt")
	}
}

func checkPos(t *testing.T, text string, p Pos, path string) {
	if p.File != "fuzz.ebt" || p.Offset < 0 || p.Offset > len(text) {
		t.Fatalf("%s: bad position %+v", path, p)
	}
	line := strings.Count(text[:p.Offset], "\n") + 1
	col := p.Offset - (strings.LastIndexByte(text[:p.Offset], '\n') + 1) + 1
	if p.Line != line || p.Col != col {
		t.Fatalf("%s: position %+v, but offset %d is %d:%d", path, p, p.Offset, line, col)
	}
}

// checkRoundTrip checks that ExprString gives text that parses back to the
// same tree. Unary & before & or ^ renders as the operator && or &^, which
// cannot round-trip; such trees are skipped.
func checkRoundTrip(t *testing.T, e Expr) {
	if glued(e) {
		return
	}
	s := ExprString(e)
	back, err := ParseExpr("", s)
	if b, ok := e.(*Bind); ok {
		// A binding is an argument only: f(name := value).
		var call Expr
		if call, err = ParseExpr("", "f("+s+")"); err == nil {
			back = call.(*Call).Args[0]
			e = b
		}
	}
	if err != nil {
		t.Fatalf("ExprString gave %q, which does not parse: %v", s, err)
	}
	// Stripping positions in place is fine: checkPositions has run.
	a, b := e, back
	stripPos(a)
	stripPos(b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%q does not round-trip:\n%s\n%s", s, sx(a), sx(b))
	}
}

func glued(e Expr) bool {
	found := false
	var walk func(Expr)
	walk = func(e Expr) {
		switch e := e.(type) {
		case *Unary:
			if u, ok := e.X.(*Unary); ok && e.Op == "&" && (u.Op == "&" || u.Op == "^") {
				found = true
			}
			walk(e.X)
		case *Binary:
			walk(e.X)
			walk(e.Y)
		case *Selector:
			walk(e.X)
		case *Index:
			walk(e.X)
			walk(e.Index)
		case *Call:
			walk(e.Fun)
			for _, a := range e.Args {
				walk(a)
			}
		case *Paren:
			walk(e.X)
		case *Bind:
			walk(e.Value)
		case *SliceExpr:
			walk(e.X)
			if e.Lo != nil {
				walk(e.Lo)
			}
			if e.Hi != nil {
				walk(e.Hi)
			}
		case *SliceLit:
			for _, x := range e.Elts {
				walk(x)
			}
		}
	}
	walk(e)
	return found
}
