package compiler

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// compileEnv compiles src for env.
func compileEnv(t *testing.T, src string, env *Env) (*Program, error) {
	t.Helper()
	p, err := dsl.Parse("", src)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	return Compile(p, env)
}

// wantError checks that err is a *dsl.Error at pos whose message and hint
// hold msg and hint, rendered with a caret.
func wantError(t *testing.T, err error, pos, msg, hint string) {
	t.Helper()
	if err == nil {
		t.Fatal("compiled without error")
	}
	e, ok := err.(*dsl.Error)
	if !ok {
		t.Fatalf("error %T %v is not a *dsl.Error", err, err)
	}
	if got := e.Pos.String(); got != "<input>:"+pos {
		t.Errorf("at %s, want %s (%s)", got, pos, e.Msg)
	}
	if !strings.Contains(e.Msg, msg) {
		t.Errorf("message %q lacks %q", e.Msg, msg)
	}
	if !strings.Contains(e.Hint, hint) {
		t.Errorf("hint %q lacks %q", e.Hint, hint)
	}
	if !strings.Contains(e.Render(), "^\n") {
		t.Errorf("rendered error has no caret:\n%s", e.Render())
	}
}

// TestNewProbeErrors: the errors of the new sources and values, each at
// its place with a suggestion where one helps; no privileges needed.
func TestNewProbeErrors(t *testing.T) {
	tests := []struct {
		src, pos, msg, hint string
	}{
		{`software("page-fault").count()`, "1:10", `unknown software event "page-fault"`, "did you mean page-faults"},
		{`hardware("cache-mises", 10).count()`, "1:10", `unknown hardware event "cache-mises"`, "did you mean cache-misses"},
		{`software("page-faults", 0).count()`, "1:25", "the period must be at least 1", ""},
		{`software("cpu-clock", "fast").count()`, "1:23", `"fast" is not a rate`, ""},
		{`hardware("cycles", pid).count()`, "1:20", "second argument is a period", ""},
		{`software().count()`, "1:10", "software takes 1 to 2 arguments", ""},
		{`uprobe("*", "malloc").count()`, "1:8", `uprobe("*", …) probes every binary of one process: give it with -p PID or -c CMD`, `uprobe("libc", …)`},
		{`uretprobe("*", "malloc").count()`, "1:11", `uretprobe("*", …)`, ""},
		{`usdt("*", "python:gc__start").count()`, "1:6", `usdt("*", …) probes every binary`, ""},
		{`usdt("/bin/sh").count()`, "1:15", "usdt takes 2 arguments", ""},
		{`usdt("/bin/sh", "").count()`, "1:17", `usdt needs a probe, "provider:name"`, "-l 'usdt:BIN:*'"},
		{`usdt("/no/such/file", "a:b").count()`, "1:6", "no such file", ""},
		{`begin().print("%s", func)`, "1:21", "func is the probed function's name", ""},
		{`tracepoint("syscalls:sys_enter_openat").by(func).count()`, "1:44", "not on tracepoint:syscalls:sys_enter_openat", ""},
		{`begin().print("%d", cpid)`, "1:21", "cpid is the pid of the command -c starts", "run with -c CMD"},
		{`begin().print("%d", username)`, "1:21", "username is a user name, which %d cannot print", ""},
		{`begin().print("%s", strftime(1, nsecs))`, "1:30", "layout must be a string literal", ""},
		{`begin().print("%s", strftime("%Q", nsecs))`, "1:30", "%Q is not a time directive", ""},
		{`begin().print("%s", strftime("15:04", comm))`, "1:39", "strftime takes nanoseconds", ""},
		{`begin().print("%d", strftime("15:04", nsecs))`, "1:21", "which %d cannot print", ""},
		{`begin().print("%s", strftime(nsecs))`, "1:30", "strftime's layout must be a string literal", ""},
		{`rawtracepoint("sys_*").count()`, "1:15", "a raw tracepoint glob needs the kernel's BTF", ""},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := compile(t, tt.src)
			wantError(t, err, tt.pos, tt.msg, tt.hint)
		})
	}
}

func TestNewValues(t *testing.T) {
	env := testEnv()
	env.Command = true
	p, err := compileEnv(t, `begin().print("%d %s %d %s %s", cpid, username, ncpus, strftime("%H:%M:%S", nsecs), strftime("15:04", nsecs))`, env)
	if err != nil {
		t.Fatal(err)
	}
	var shows []string
	for _, f := range p.Events[1].Fields {
		shows = append(shows, f.Show)
	}
	if got := strings.Join(shows, ","); got != ",username,,strftime:15:04:05,strftime:15:04" {
		t.Errorf("shows %q", got)
	}
}

func TestTimeLayout(t *testing.T) {
	for in, want := range map[string]string{
		"15:04:05":          "15:04:05",
		"%H:%M:%S":          "15:04:05",
		"%Y-%m-%d %H:%M":    "2006-01-02 15:04",
		"%H:%M:%S.%f %%":    "15:04:05.000000 %",
		"at %T on %a %b %e": "at 15:04:05 on Mon Jan _2",
	} {
		if got, err := timeLayout(in); err != nil || got != want {
			t.Errorf("timeLayout(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "%", "%H:%k"} {
		if _, err := timeLayout(bad); err == nil {
			t.Errorf("timeLayout(%q) gave no error", bad)
		}
	}
}

// kernelEnv is testEnv with the running kernel's BTF (readable without
// privileges on most systems); the test skips without it.
func kernelEnv(t *testing.T) *Env {
	t.Helper()
	spec, err := kernelSpec()
	if err != nil {
		t.Skipf("skipped: no kernel BTF: %v", err)
	}
	env := testEnv()
	env.KernelBTF = func() (*btf.Spec, error) { return spec, nil }
	return env
}

var kernelSpec = sync.OnceValues(btf.LoadKernelSpec)

// TestRawTracepointArgs: argN stops at the tracepoint's real arguments,
// a glob expands over BTF's raw tracepoints.
func TestRawTracepointArgs(t *testing.T) {
	env := kernelEnv(t)
	_, err := compileEnv(t, `rawtracepoint("sys_enter").print("%d", arg9)`, env)
	wantError(t, err, "1:40", "rawtracepoint:sys_enter has arguments arg0…arg1, not arg9", "arg0 is regs (struct pt_regs *), arg1 is id")
	if _, err := compileEnv(t, `rawtracepoint("sys_enter").filter(arg1 == 39).count()`, env); err != nil {
		t.Errorf("arg1 of sys_enter: %v", err)
	}
	p, err := compileEnv(t, `rawtracepoint("sys_*").by(probe).count()`, env)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pr := range p.Probes {
		names = append(names, pr.Attach.Target)
	}
	if strings.Join(names, " ") != "sys_enter sys_exit" {
		t.Errorf("sys_* is %q, want sys_enter sys_exit", names)
	}
	_, err = compileEnv(t, `rawtracepoint("sys_entr*").count()`, env)
	wantError(t, err, "1:15", `no raw tracepoint matches "sys_entr*"`, "sys_enter")
	// In a glob each probe has its own arguments: sched_switch has four.
	_, err = compileEnv(t, `rawtracepoint("sched_s*").print("%d", arg3)`, env)
	if err == nil {
		t.Error("arg3 of a glob with two-argument raw tracepoints compiled")
	}
}

// buildUSDTExample builds examples/cusdt (the program and its library)
// with gcc and <sys/sdt.h>, or skips.
func buildUSDTExample(t *testing.T) (prog, lib string) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("skipped: no gcc")
	}
	dir := t.TempDir()
	prog, lib = filepath.Join(dir, "usdt"), filepath.Join(dir, "libebtusdt.so")
	for _, args := range [][]string{
		{"-O2", "-shared", "-fPIC", "-o", lib, "../examples/cusdt/lib.c"},
		{"-O2", "-o", prog, "../examples/cusdt/usdt.c", "-L" + dir, "-lebtusdt"},
	} {
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			if strings.Contains(string(out), "sdt.h") {
				t.Skip("skipped: no <sys/sdt.h> (apt-get install systemtap-sdt-dev)")
			}
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	return prog, lib
}

func TestUSDTCompile(t *testing.T) {
	prog, lib := buildUSDTExample(t)
	p, err := compile(t, `usdt("`+prog+`", "ebt:a*").by(func, arg0, arg1, arg2, arg3, arg4, arg5, arg7).count()
usdt("`+lib+`", "fire").print("%d", arg0)`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Probes) != 2 {
		t.Fatalf("%d probes", len(p.Probes))
	}
	args, fire := p.Probes[0], p.Probes[1]
	if args.Name != "usdt:"+prog+":ebt:args" || args.Attach.Kind != AttachUSDT || args.Attach.RefCtrOffset == 0 || len(args.Attach.Offsets) != 1 {
		t.Errorf("ebt:args probe %+v", args)
	}
	if fire.Attach.RefCtrOffset != 0 || fire.Attach.Target != lib {
		t.Errorf("ebtlib:fire probe %+v", fire)
	}
	var keys []string
	for _, k := range p.Aggregations[0].Keys {
		keys = append(keys, k.Name)
		if k.Name == "func" && k.Show != "probe" {
			t.Errorf("func key %+v", k)
		}
	}
	if !strings.Contains(strings.Join(p.ProbeNames, " "), "fire") {
		t.Errorf("func names %q lack fire", p.ProbeNames)
	}
	for _, tt := range []struct{ src, pos, msg, hint string }{
		{`usdt("` + prog + `", "ebt:args").print("%d", arg8)`, "1:", "has arguments arg0…arg7, not arg8", "its note gives them as -8@"},
		{`usdt("` + prog + `", "ebt:gaurded").count()`, "1:", `has no USDT probe matching "ebt:gaurded"`, "did you mean ebt:guarded"},
		{`usdt("` + prog + `", "ebt").count()`, "1:", `has no USDT probe matching "ebt"`, `ebt is a provider: write "ebt:*"`},
		{`usdt("` + prog + `", "ebt:guarded").print("%s", args.x)`, "1:", "usdt probes have no args (USDT arguments have no names); read them as arg0…arg0", ""},
		{`usdt("/usr/bin/env", "a:b").count()`, "1:", "has no USDT probes (no .note.stapsdt section)", ""},
	} {
		_, err := compile(t, tt.src)
		if err == nil {
			t.Errorf("%s: compiled", tt.src)
			continue
		}
		e := err.(*dsl.Error)
		if !strings.Contains(e.Msg, tt.msg) || !strings.Contains(e.Hint, tt.hint) || !strings.Contains(e.Render(), "^\n") {
			t.Errorf("%s:\n%s\nwant %q, hint %q", tt.src, e.Render(), tt.msg, tt.hint)
		}
	}
}

// TestEveryBinary: uprobe("*", fn) finds fn in each binary of a process
// that has it, here libc's malloc in a running sleep.
func TestEveryBinary(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("skipped: cannot run sleep")
	}
	defer cmd.Process.Kill()
	env := testEnv()
	env.PID = cmd.Process.Pid
	var p *Program
	var err error
	// The loader maps libc a moment after exec; the executable's
	// DT_NEEDED list finds it even before.
	p, err = compileEnv(t, `uprobe("*", "malloc").by(func).count()`, env)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pr := range p.Probes {
		if strings.Contains(filepath.Base(pr.Attach.Target), "libc.so") && pr.Attach.Symbol == "malloc" {
			found = true
		}
	}
	if !found {
		t.Errorf("no malloc in libc among %d probes: %+v", len(p.Probes), p.Probes)
	}
	_, err = compileEnv(t, `uprobe("*", "no_such_function_anywhere").count()`, env)
	wantError(t, err, "1:13", `no binary of the process has a function "no_such_function_anywhere"`, "searched: ")
	if exe, _ := os.Readlink("/proc/self/exe"); exe == "" {
		t.Log("no /proc/self/exe")
	}
}

// TestLatencyShared: keyed latency() chains that end alike share their
// start map and one end program (runqlat's wakeups and preemptions);
// chains that end differently keep their own.
func TestLatencyShared(t *testing.T) {
	src := `switched := tracepoint("sched:sched_switch")
tracepoint("sched:sched_process_exec").latency(switched, pid, args.next_pid).hist(elapsed / 1000).as("q")
switched.filter(args.prev_state == 0).latency(switched, args.prev_pid, args.next_pid).hist(elapsed / 1000).as("q")
tracepoint("sched:sched_process_exec").latency(switched, pid, args.next_pid).count()`
	p, err := compile(t, src)
	if err != nil {
		t.Fatal(err)
	}
	latMaps := map[string]bool{}
	ends := 0
	for _, pr := range p.Probes {
		for _, ins := range p.Spec.Programs[pr.Program].Instructions {
			if r := ins.Reference(); strings.HasPrefix(r, "ebt_l") {
				latMaps[r] = true
			}
		}
		if pr.Name == "tracepoint:sched:sched_switch" {
			ends++
		}
	}
	// Starts: exec, the preempting switch, the third chain's exec; ends:
	// one shared by the first two, one for the count.
	if len(p.Probes) != 5 || len(latMaps) != 2 || ends != 3 {
		t.Errorf("%d probes, %d latency maps, %d sched_switch programs; want 5, 2, 3 (one start, two ends)", len(p.Probes), len(latMaps), ends)
	}
}

// TestFuncOnKernelProbes: func names the kernel function of a kprobe and
// of its fentry fallback alike.
func TestFuncOnKernelProbes(t *testing.T) {
	env := kernelEnv(t)
	p, err := compileEnv(t, `kretprobe("vfs_read").by(func).count()`, env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(p.ProbeNames, " "), "vfs_read") || p.Probes[0].Fallback == nil {
		t.Errorf("func names %q; fallback %v", p.ProbeNames, p.Probes[0].Fallback)
	}
}
