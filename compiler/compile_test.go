package compiler

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/tracefs"
)

// testEnv types tracepoints from real format files kept as test data, so
// these tests need neither root nor tracefs.
func testEnv() *Env {
	return &Env{Tracepoints: &tracefs.FS{Root: "../internal/tracefs/testdata/tracefs"}, StartNs: 1}
}

func compile(t *testing.T, src string) (*Program, error) {
	t.Helper()
	p, err := dsl.Parse("", src)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	return Compile(p, testEnv())
}

func TestCompileErrors(t *testing.T) {
	open := `tracepoint("syscalls:sys_enter_openat")`
	tests := []struct {
		src, pos, msg, hint string
	}{
		{`tracepont("syscalls:sys_enter_openat").count()`, "1:1", `unknown probe "tracepont"`, "did you mean tracepoint"},
		{`count()`, "1:1", `unknown probe "count"`, "count is a stage"},
		{`tracepoint("syscalls:sys_enter_opnat").count()`, "1:12", `no tracepoint matches`, "syscalls:sys_enter_openat"},
		{`tracepoint(42).count()`, "1:12", "must be a string literal", ""},
		{`tracepoint().count()`, "1:12", "tracepoint takes one argument", ""},
		{open + `.cout()`, "1:41", `unknown stage "cout"`, "did you mean count?"},
		{open + `.count(1)`, "1:41", "count takes no arguments", ""},
		{open + `.print("%s", args.filenme)`, "1:58", `has no field "filenme"`, "did you mean filename?"},
		{open + `.print("%s", strr(args.filename))`, "1:53", `unknown function "strr"`, "did you mean str?"},
		{open + `.by(pidd).count()`, "1:44", `unknown name "pidd"`, "did you mean pid"},
		{open + `.sum(comm)`, "1:45", "sum takes a number, not string[16]", ""},
		{open + `.filter(comm)`, "1:48", "filter needs a condition", ""},
		{open + `.filter(comm + 1 > 2)`, "1:53", "operator + cannot take string[16] and int64", ""},
		{open + `.filter(comm < "a")`, "1:53", "strings compare only with == and !=", ""},
		{open + `.print("%d", comm)`, "1:53", "comm is string[16], which %d cannot print", ""},
		{open + `.print("%d %d", pid)`, "1:51", "verb %d has no argument", ""},
		{open + `.print("%d", pid, tid)`, "1:58", "the format has 1 verbs but print has 2 arguments", ""},
		{open + `.print("%y", pid)`, "1:48", "unknown verb %y", ""},
		{open + `.print(pid)`, "1:47", "first argument must be a format string", ""},
		{open + `.as("x")`, "1:41", "as must follow an aggregation", ""},
		{open + `.count().top(0)`, "1:53", "top needs a positive integer constant", ""},
		{open + `.count().every("1")`, "1:55", `"1" is not a positive duration`, ""},
		{open + `.lhist(pid, 10, 0, 1)`, "1:56", "max must be larger than its min", ""},
		{open + `.lhist(pid, 0, 10, 3)`, "1:59", "multiple of step", ""},
		{open + `.lhist(pid, 0, pid, 1)`, "1:55", "must be integer constants", ""},
		{open + `.print("%s", str(args.filename, 1000))`, "1:72", "between 1 and 200", ""},
		{open + `.print("%d", arg0)`, "1:53", "arg0 is not available on tracepoint probes; use args.<field> (__syscall_nr, dfd, filename", ""},
		{open + `.print("%d", retval)`, "1:53", "retval is only set on return probes", ""},
		{open + `.print("%d", args.dfd[0])`, "1:53", "not an array", ""},
		{`rawtracepoint("sys_enter").print("%d", args.id)`, "1:40", "cannot type the args of rawtracepoint:sys_enter", ""},
		{`interval("1x").count()`, "1:10", `"1x" is not a positive duration`, ""},
		{`profile(0).count()`, "1:9", "between 1 and 100000", ""},
		{`begin(1).count()`, "1:7", "begin takes no arguments", ""},
		{`x := 1; x := 2; begin().count()`, "1:9", "x is already bound", ""},
		{`pid := 1; begin().count()`, "1:1", "built-in value", ""},
		{`x := 5`, "1:1", "has no probes", ""},
		{`calls.count()`, "1:1", `unknown probe or chain "calls"`, ""},
		{open + `.print("%d", (*task_struct)(args.filename))`, "1:55", "a cast to a kernel type needs the kernel's BTF", ""},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := compile(t, tt.src)
			if err == nil {
				t.Fatal("compiled without error")
			}
			e, ok := err.(*dsl.Error)
			if !ok {
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
			if !strings.Contains(e.Render(), "^\n") {
				t.Errorf("rendered error has no caret:\n%s", e.Render())
			}
		})
	}
}

func TestMapChoice(t *testing.T) {
	open := `tracepoint("syscalls:sys_enter_openat")`
	tests := []struct {
		chain    string
		typ      ebpf.MapType
		key, val uint32
		entries  uint32
	}{
		{".count()", ebpf.PerCPUArray, 4, 8, 1},
		{".sum(args.flags)", ebpf.PerCPUArray, 4, 8, 1},
		{".avg(args.flags)", ebpf.PerCPUArray, 4, 16, 1},
		{".stats(args.flags)", ebpf.PerCPUArray, 4, 32, 1},
		{".hist(args.flags)", ebpf.PerCPUArray, 4, 16, 66},
		{".lhist(args.flags, 0, 100, 10)", ebpf.PerCPUArray, 4, 16, 12},
		{".by(comm).count()", ebpf.PerCPUHash, 16, 8, MaxKeys},
		{".by(comm, pid).max(args.mode)", ebpf.PerCPUHash, 24, 16, MaxKeys},
		{".by(str(args.filename)).hist(args.flags)", ebpf.PerCPUHash, 72, 16, MaxKeys},
	}
	for _, tt := range tests {
		p, err := compile(t, open+tt.chain)
		if err != nil {
			t.Fatalf("%s: %v", tt.chain, err)
		}
		ms := p.Spec.Maps[p.Aggregations[0].Map]
		if ms.Type != tt.typ || ms.KeySize != tt.key || ms.ValueSize != tt.val || ms.MaxEntries != tt.entries {
			t.Errorf("%s: map %v key %d value %d entries %d, want %v %d %d %d", tt.chain,
				ms.Type, ms.KeySize, ms.ValueSize, ms.MaxEntries, tt.typ, tt.key, tt.val, tt.entries)
		}
		if p.RingBuf != "" {
			t.Errorf("%s: an aggregation-only chain made a ring buffer", tt.chain)
		}
	}
}

func TestWildcardSharesAggregation(t *testing.T) {
	p, err := compile(t, `tracepoint("syscalls:sys_enter_open*").by(probe).count().as("opens")`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Probes) != 3 || len(p.Aggregations) != 1 || p.Aggregations[0].Name != "opens" {
		t.Fatalf("%d probes, %d aggregations (%v)", len(p.Probes), len(p.Aggregations), p.Aggregations)
	}
	for _, pr := range p.Probes {
		if !strings.HasPrefix(pr.Name, "tracepoint:syscalls:sys_enter_open") || pr.Attach.Kind != AttachTracepoint {
			t.Errorf("probe %+v", pr)
		}
	}
}

func TestEventLayout(t *testing.T) {
	p, err := compile(t, `tracepoint("syscalls:sys_enter_openat").print("%s %d %s %x", comm, args.dfd, str(args.filename, 20), hex(args.flags))`)
	if err != nil {
		t.Fatal(err)
	}
	ev := p.Events[1]
	want := []Field{
		{Name: "comm", Offset: 8, Size: 16, Kind: FieldString},
		{Name: "args.dfd", Offset: 24, Size: 8, Signed: true},
		{Name: "str(args.filename, 20)", Offset: 32, Size: 24, Kind: FieldString},
		{Name: "hex(args.flags)", Offset: 56, Size: 8, Signed: true, Hex: true},
	}
	if ev.Format != "%s %d %s %x" || ev.Size != 64 || len(ev.Fields) != len(want) {
		t.Fatalf("event %+v", ev)
	}
	for i := range want {
		if ev.Fields[i] != want[i] {
			t.Errorf("field %d = %+v, want %+v", i, ev.Fields[i], want[i])
		}
	}
}

// TestCountIsLean guards the cost of the commonest program: a keyless
// count is a pid-less lookup and an add, nothing more.
func TestCountIsLean(t *testing.T) {
	p, err := compile(t, `tracepoint("syscalls:sys_enter_openat").count()`)
	if err != nil {
		t.Fatal(err)
	}
	insns := p.Spec.Programs[p.Probes[0].Program].Instructions
	if n := len(insns); n > 14 {
		t.Errorf("count() compiled to %d instructions:\n%v", n, insns)
	}
}

func TestAggregationNames(t *testing.T) {
	open := `tracepoint("syscalls:sys_enter_openat")`
	p, err := compile(t, open+".count()\n"+open+".count()\n"+open+`.count().as("x")`+"\n"+open+`.filter(pid > 1).count().as("x")`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range p.Aggregations {
		names = append(names, a.Name)
	}
	if strings.Join(names, " ") != "count count_1 x" {
		t.Errorf("names %q, want count count_1 x (the two @x share a map)", names)
	}
	// Both @x chains update the one map left.
	x := p.Aggregations[2].Map
	uses := 0
	for _, ps := range p.Spec.Programs {
		for _, ins := range ps.Instructions {
			if ins.Reference() == x {
				uses++
				break
			}
		}
	}
	if uses != 2 || len(p.Spec.Maps) != 4 { // and the control word
		t.Errorf("@x map used by %d programs (want 2), %d maps (want 4)", uses, len(p.Spec.Maps))
	}
	_, err = compile(t, open+`.count().as("x")`+"\n"+open+`.by(comm).count().as("x")`)
	if err == nil || !strings.Contains(err.Error(), "@x is already a count with keys () at 1:41") {
		t.Errorf("two @x of different keys: %v", err)
	}
}
