package compiler

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// The typed-value tests compile chains on a uprobe of this test binary
// itself (built with DWARF), on Compile(p *dsl.Program, env *Env): no
// root needed, and real types (pointers, slices, interfaces, strings).

var govalues struct {
	once            sync.Once
	dwarf, stripped string
	err             error
}

// goValuesBinary builds testdata/govalues with DWARF and stripped, once.
func goValuesBinary(t testing.TB, stripped bool) string {
	t.Helper()
	govalues.once.Do(func() {
		dir, err := os.MkdirTemp("", "ebpftrace-govalues")
		if err != nil {
			govalues.err = err
			return
		}
		govalues.dwarf, govalues.stripped = filepath.Join(dir, "govalues"), filepath.Join(dir, "govalues-stripped")
		for out, flags := range map[string][]string{govalues.dwarf: nil, govalues.stripped: {"-ldflags=-s -w"}} {
			cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), "./testdata/govalues")...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
			if msg, err := cmd.CombinedOutput(); err != nil {
				govalues.err = fmt.Errorf("%v: %s", err, msg)
				return
			}
		}
	})
	if govalues.err != nil {
		t.Skipf("skipped: cannot build testdata/govalues: %v", govalues.err)
	}
	if stripped {
		return govalues.stripped
	}
	return govalues.dwarf
}

func selfProbe(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf(`uprobe(%q, "main.use")`, goValuesBinary(t, false))
}

func TestGoValuesCompile(t *testing.T) {
	probe := selfProbe(t)
	for _, chain := range []string{
		`.print("%d %d %s %d %s %d", args.t.N, len(args.t.S), args.t.I, args.t.P.A, args.t.P.B, args.t.E)`,
		`.print("%d %v %v %s", (*args.t).N, args.t.Ok, args.t.M, args.t.Any)`,
		`.print("%s %s %d %s", args.t.Name, str(args.t.Name, 200), args.v.A, args.v.B)`,
		`.filter(args.t.Name == "x" && len(args.t.Name) > 0 && len(args.t.M) == 1).by(args.t.Name).count()`,
		`.print("%d %d %d %d", args.t.S[pid], args.t.Arr[3], args.t.Arr[pid], len(args.t.Arr))`,
		`.print("%s %d %s %d", args.s[0], len(args.s), args.e, args.t.Name[0])`,
		`.print("%d %d %x %u", int32(arg0), uint8(pid) + 1, uint16(arg1), int8(arg2))`,
		`.print("%s", (*main.Inner)(arg0).B)`,
		`.print("%s", (*errors.errorString)(args.e).s)`,
		`.print("%d", *arg0)`,
		`.by(args.t.I).count()`,
		`.print()`,
		`.by(ustack).count()`,
		`.latency(uretprobe("` + goValuesBinary(t, false) + `", "main.use")).hist(elapsed)`,
	} {
		if _, err := compile(t, probe+chain); err != nil {
			t.Errorf("%s: %v", chain, err)
		}
	}
}

func TestGoValuesErrors(t *testing.T) {
	probe := selfProbe(t)
	tests := []struct {
		chain, at, msg, hint string
	}{
		{`.print("%d", args.t.NN)`, "NN", "has no field NN", "did you mean N?"},
		{`.print("%d", args.t.I.s)`, ".s)", "has no field s: it is error", "(*T)(args.t.I).s"},
		{`.print("%d", len(args.t))`, "args.t)", "len takes a Go string, slice, array or map", ""},
		{`.print("%d", args.t.P.Nope)`, "Nope", "has no field Nope", ""},
		{`.print("%d", *args.t)`, "*args.t", "which %d cannot print", ""},
		{`.print("%d", args.t.I)`, "args.t.I", "which %d cannot print", ""},
		{`.print("%d", args.t.F)`, "F)", "floating-point values cannot be read", ""},
		{`.print("%d", args.f)`, "f)", "floating-point values cannot be read", ""},
		{`.print("%d", args.t.Arr[4])`, "4]", "index 4 is out of range", ""},
		{`.print("%d", args.t.M[1])`, `1]`, "reading a map's entries is not supported", ""},
		{`.print("%d", (*net/http.Request)(arg0).Method)`, "net/", "has no type net/http.Request", ""},
		{`.print("%d", (*task_struct)(arg0).pid)`, "task_struct", "a cast to a kernel type needs the kernel's BTF", ""},
		{`.print("%d", *comm)`, "*comm", "cannot follow comm", ""},
		{`.print("%d", int32(comm))`, "comm)", "int32 takes a number", ""},
		{`.print("%d", args.t.S["a"])`, `"a"`, "an index must be a number", ""},
		{`.print("%d", (*main.T)(args.t.Name))`, "args.t.Name)", "cannot cast string", ""},
		{`.latency(tracepoint("syscalls:sys_enter_openat")).count()`, "tracepoint", "is not a probe of a Go program", "latency(end, startKey, endKey)"},
	}
	for _, tt := range tests {
		t.Run(tt.chain, func(t *testing.T) {
			src := probe + tt.chain
			_, err := compile(t, src)
			if err == nil {
				t.Fatal("compiled without error")
			}
			e, ok := err.(*dsl.Error)
			if !ok {
				t.Fatalf("error %T %v is not a *dsl.Error", err, err)
			}
			at := strings.Index(src, tt.at)
			if strings.HasPrefix(tt.at, ".") {
				at++
			}
			if want := fmt.Sprintf("<input>:1:%d", at+1); e.Pos.String() != want {
				t.Errorf("at %s, want %s (%s)", e.Pos, want, e.Msg)
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

// TestGoValuesStripped: without DWARF, args are an error that says what
// works; casts to types the runtime descriptors keep work, others are an
// error that says why.
func TestGoValuesStripped(t *testing.T) {
	bin := goValuesBinary(t, true)
	probe := fmt.Sprintf(`uprobe(%q, "main.use")`, bin)
	if _, err := compile(t, probe+`.print("%s %d", (*errors.errorString)(arg3).s, *arg0)`); err != nil {
		t.Errorf("cast to a type with a runtime descriptor: %v", err)
	}
	for _, tt := range []struct{ chain, at, msg, more string }{
		{`.print("%d", args.t.N)`, "args", "cannot type the args", "(*net/http.Request)(arg3)"},
		{`.print("%d", (*main.T)(arg0).N)`, "main.T", "has no DWARF and no runtime type descriptor for main.T", "arg0…arg8"},
	} {
		src := probe + tt.chain
		_, err := compile(t, src)
		e, ok := err.(*dsl.Error)
		if !ok {
			t.Errorf("%s: error %v", tt.chain, err)
			continue
		}
		if want := fmt.Sprintf("<input>:1:%d", strings.Index(src, tt.at)+1); e.Pos.String() != want || !strings.Contains(e.Msg, tt.msg) ||
			!strings.Contains(e.Render(), tt.more) || !strings.Contains(e.Render(), "^\n") {
			t.Errorf("%s: want %s %q, saying %q, with a caret; got:\n%s", tt.chain, want, tt.msg, tt.more, e.Render())
		}
	}
}
