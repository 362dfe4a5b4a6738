package compiler

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// TestLanguageErrors: each new form's mistakes name their place, with a
// caret, and suggest what to write.
func TestLanguageErrors(t *testing.T) {
	open := `tracepoint("syscalls:sys_enter_openat")`
	exit := `tracepoint("syscalls:sys_exit_openat")`
	tests := []struct {
		src, pos, msg, hint string
	}{
		// .with() and pairing
		{open + `.with(1).count()`, "1:46", "with binds names: write name := value", "e.g. .with(path := str(args.filename))"},
		{open + `.with(pid := 1).count()`, "1:46", "pid is a built-in value", ""},
		{open + `.with(str := 1).count()`, "1:46", "str is a built-in function", ""},
		{open + `.with(arg2 := 1).count()`, "1:46", "arg2 is a raw argument", ""},
		{`n := 1; ` + open + `.with(n := 1).count()`, "1:54", "n is already bound by the program", "another name"},
		{open + `.with(a := 1, a := 2).count()`, "1:54", "a is already bound in this chain, at 1:46", ""},
		{open + `.with(a := args).count()`, "1:51", "args is the probe's arguments", "bind the fields you need"},
		{open + `.print("%s", path).with(path := comm)`, "1:53", "path is bound by .with() at 1:64, and only the stages after", "bind it before this stage"},
		{open + `.with(path := comm).count(); ` + exit + `.print("%s", path)`, "1:120", "path is bound by .with() at 1:46", ""},
		{open + `.filter(x := 1).count()`, "1:50", "x := 1 binds a name only in .with()", "e.g. .with(x := 1)"},
		{open + `.pair(` + exit + `, pid).count()`, "1:86", "pair() takes both keys or neither", ""},
		{open + `.pair(` + exit + `).pair(` + exit + `).count()`, "1:86", "only one latency() or pair() per chain", ""},
		{open + `.with(p := str(args.filename)).pair(` + exit + `).print("%d", p)`, "1:128", "p is string[64], which %d cannot print", ""},
		// cond
		{`begin().print("%d", cond(comm, 1, 2))`, "1:26", "cond's condition must be a number", ""},
		{`begin().print("%d", cond(1, comm, 2))`, "1:35", "cond's values must be two numbers or two strings", `cond(ret < 0, "error", "ok")`},
		{`begin().print("%d", cond(1, ksym(1), usym(1)))`, "1:38", "cond's values are shown differently", ""},
		{`begin().print("%d", iif(1, 2, 3))`, "1:21", `unknown function "iif"`, "did you mean cond(c, a, b)?"},
		// strings
		{`begin().print("%d", strings.Contains(comm, comm))`, "1:44", "strings.Contains looks for a constant string", `strings.Contains(comm, "text")`},
		{`begin().print("%d", strings.HasPrefix(pid, "a"))`, "1:39", "strings.HasPrefix takes a string, not uint32", "read the string first"},
		{`begin().print("%d", strings.HasSuffix(comm, 1))`, "1:45", "strings.HasSuffix looks for a string, not int64", ""},
		{`begin().print("%d", strings.Contains(comm, "sixteen letters!"))`, "1:44", "comm holds at most 15 bytes", ""},
		{`begin().print("%d", strings.HasPrefx(comm, "a"))`, "1:21", `unknown function "strings.HasPrefx"`, "did you mean strings.HasPrefix"},
		{`begin().print("%d", hasPrefix(comm, "a"))`, "1:21", `unknown function "hasPrefix"`, "did you mean strings.HasPrefix?"},
		{`begin().print("%d", strncmp(comm, "a", 1))`, "1:21", `unknown function "strncmp"`, "strings.HasPrefix(s, prefix), or =="},
		{`begin().print("%s", comm[:pid])`, "1:27", "slice bounds are integer constants", ""},
		{`begin().print("%s", comm[:17])`, "1:27", "comm holds 16 bytes; 17 is out of its range", ""},
		{`begin().print("%s", comm[3:1])`, "1:25", "the slice's bounds are inverted", ""},
		{`begin().print("%s", pid[1:])`, "1:24", "only strings are sliced here", ""},
		// join
		{`begin().print("%s", join(comm))`, "1:26", "join takes the address of a NULL-terminated array", ""},
		{open + `.print("%s", join(args.filename))`, "1:58", "not const char *", "a char * is one string: read it with str()"},
		{open + `.print("%s", join(args.flags, comm))`, "1:70", "separator must be a constant string", ""},
		{open + `.print("%s", join(args.flags, "123456789"))`, "1:70", "separator is at most 8 bytes", ""},
		// tables
		{`x := []float{1}; begin().print("%d", x[0])`, "1:8", "a table is a []string or an []int, not a []float", "states[args.state]"},
		{`begin().print("%s", []string{comm}[0])`, "1:30", "constant strings, not comm", ""},
		{`begin().print("%d", []int{pid}[0])`, "1:27", "integer constants, not pid", ""},
		{`begin().print("%v", []string{"a"})`, "1:21", "is a table; print one of its elements", ""},
		{`begin().print("%s", []string{"a"}[comm])`, "1:35", "a table's index is a number", ""},
		// param
		{`begin().print("%d", param(0, "x"))`, "1:21", "param() declares a script parameter", "target := param(0"},
		{`x := param(1.5)`, "1:12", "floating-point", ""},
		{`x := param(comm, "d"); begin().print("%d", x)`, "1:12", "param's first argument is its default", `param(string, "a command name")`},
		{`x := param(0, d); begin().print("%d", x)`, "1:15", "param's second argument says what the parameter is", ""},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := dsl.Parse("", tt.src)
			if err == nil {
				_, err = Compile(p, testEnv())
			}
			if err == nil {
				t.Fatal("compiled without error")
			}
			var e *dsl.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *dsl.Error", err, err)
			}
			if got := e.Pos.String(); got != "<input>:"+tt.pos {
				t.Errorf("at %s, want %s (%s)", got, tt.pos, e.Msg)
			}
			if !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("message %q lacks %q", e.Msg, tt.msg)
			}
			if !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("hint %q lacks %q", e.Hint, tt.hint)
			}
			if e.Source != nil && !strings.Contains(e.Render(), "^\n") {
				t.Errorf("rendered error has no caret:\n%s", e.Render())
			}
		})
	}
}

// TestPairMaps: what a pairing keeps per start, by how it pairs and what
// it carries, and the scratch values of the programs that bind names.
func TestPairMaps(t *testing.T) {
	open := `tracepoint("syscalls:sys_enter_openat")`
	exit := `tracepoint("syscalls:sys_exit_openat")`
	tests := []struct {
		src      string
		typ      ebpf.MapType
		val, max uint32
		scratch  uint32 // the scratch value's size, 0 for none
	}{
		// The time only: as latency() always kept it.
		{open + `.latency(` + exit + `).hist(elapsed)`, ebpf.Hash, 8 + 8*128, latencyStackEntries, 0},
		{open + `.latency(` + exit + `, tid, tid).hist(elapsed)`, ebpf.LRUHash, 8, latencyEntries, 0},
		// The time and a path of 64 and a number: 8+64+8 bytes a start.
		{open + `.with(p := str(args.filename), f := args.flags).pair(` + exit + `).print("%s %d", p, f)`, ebpf.Hash, 8 + 80*102, latencyStackEntries, 80},
		{open + `.with(p := str(args.filename), f := args.flags).pair(` + exit + `, tid, tid).print("%s %d", p, f)`, ebpf.LRUHash, 80, latencyEntries, 80},
		// Large values: fewer starts kept.
		{open + `.with(p := join(args.flags)).pair(` + exit + `).print("%s", p)`, ebpf.Hash, 8 + 2112*3, latencyStackEntries, 2112},
	}
	for _, tt := range tests {
		p, err := compile(t, tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		var pair *ebpf.MapSpec
		for name, ms := range p.Spec.Maps {
			if strings.HasPrefix(name, "ebt_l") && !strings.HasSuffix(name, "z") {
				pair = ms
			}
		}
		if pair == nil || pair.Type != tt.typ || pair.ValueSize != tt.val || pair.MaxEntries != tt.max {
			t.Errorf("%s: pairing map %+v, want %v of %d-byte values, %d entries", tt.src, pair, tt.typ, tt.val, tt.max)
		}
		ms := p.Spec.Maps[withMap]
		switch {
		case tt.scratch == 0 && ms != nil:
			t.Errorf("%s: a scratch map %+v for a chain that binds nothing", tt.src, ms)
		case tt.scratch != 0 && (ms == nil || ms.ValueSize != tt.scratch || ms.MaxEntries != 2 || ms.Type != ebpf.PerCPUArray):
			t.Errorf("%s: scratch map %+v, want 2 per-CPU values of %d bytes (start and end)", tt.src, ms, tt.scratch)
		}
	}
}

// TestParams: a script's parameters from the command line, in order and
// by name, and each mistake as a ParamError with the usage.
func TestParams(t *testing.T) {
	src := "// t: a test.\n// Usage: ebpftrace t.ebt PID [N]\n//          (more)\n" +
		`target := param(int, "a process")
n := param(10, "how many")
who := param("x", "a name")
begin().print("%d %d %s", target, n, who)`
	tests := []struct {
		args []string
		want string // the constants bound, or the error
	}{
		{[]string{"5"}, "5 10 x"},
		{[]string{"5", "-3", "y z"}, "5 -3 y z"},
		{[]string{"n=0x10", "7"}, "7 16 x"},
		{[]string{"who=a=b", "7"}, "7 10 a=b"},
		{[]string{"7", "who="}, "7 10 "},
		{nil, "missing parameter target (a process)"},
		{[]string{"1", "2", "3", "4"}, `too many parameters: "4" is one more than the 3`},
		{[]string{"x"}, `parameter target is an integer, not "x"`},
		{[]string{"1", "nn=2"}, "unknown parameter nn (did you mean n?)"},
		{[]string{"1", "n=2", "n=3"}, "parameter n is given twice"},
	}
	for _, tt := range tests {
		p, err := dsl.Parse("t.ebt", src)
		if err != nil {
			t.Fatal(err)
		}
		env := testEnv()
		env.Params = tt.args
		_, err = Compile(p, env)
		var pe *ParamError
		if errors.As(err, &pe) {
			if !strings.Contains(pe.Msg, tt.want) {
				t.Errorf("%q: %v, want %q", tt.args, pe.Msg, tt.want)
			}
			u := pe.UsageText()
			if !strings.Contains(u, "Usage: ebpftrace t.ebt PID [N]\n  (more)\n") || !strings.Contains(u, "  target       a process (int, required)\n") ||
				!strings.Contains(u, "  n            how many (int, default 10)\n") {
				t.Errorf("%q: usage\n%s", tt.args, u)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		var got []string
		for _, st := range p.Statements {
			if st.Name != "" {
				got = append(got, strings.Trim(dsl.ExprString(st.Value), `"`))
			}
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%q: bound %q, want %q", tt.args, got, tt.want)
		}
	}
	// A program without parameters refuses them.
	p, _ := dsl.Parse("", `begin().print("x")`)
	env := testEnv()
	env.Params = []string{"1"}
	if _, err := Compile(p, env); err == nil || !strings.Contains(err.Error(), "takes no parameters") {
		t.Errorf("parameters for a program that declares none: %v", err)
	}
}
