package compiler

import (
	"fmt"
	"testing"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// FuzzCompile: whatever parses, compiling it gives a program or an error,
// never a panic.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`tracepoint("syscalls:sys_enter_openat").filter(comm == "bash").print("%d %s", pid, str(args.filename))`,
		`tracepoint("syscalls:sys_enter_open*").by(comm, probe).count().as("x").top(3)`,
		`tracepoint("sched:sched_switch").by(args.prev_comm).hist(args.prev_pid).every("1s")`,
		`tracepoint("sched:sched_process_exec").print()`,
		`begin().print("%d %x %v", 1 + 2 * 3, hex(-1), !0 || 1 > 2)`,
		`x := 5; interval("1s").lhist(x, 0, 10, 1)`,
		`c := tracepoint("syscalls:sys_enter_execve"); c.print("%s", str(args.filename))`,
		`rawtracepoint("sys_enter").filter(arg1 == 3).stats(arg0 / 2 % 3)`,
		`profile(99).by(kstack, ustack, cpu).count()`,
		`tracepoint("syscalls:sys_enter_openat").latency(tracepoint("syscalls:sys_enter_open"), pid, pid).avg(elapsed)`,
		`begin().print("%s", ntop(0x0100007f)).exit()`,
		`software("page-faults", 100).by(comm, func).count()`,
		`hardware("cycles", "99hz").by(cpu).count()`,
		`usdt("/bin/sh", "python:gc__start").print("%d %s", arg0, str(arg1))`,
		`uprobe("*", "malloc").by(func).count()`,
		`uretprobe("*", "read*").hist(retval)`,
		`rawtracepoint("sys_*").filter(arg1 == 0).by(probe).count()`,
		`begin().print("%s %s %d %d", strftime("%H:%M:%S", nsecs), username, ncpus, cpid)`,
		`tracepoint("syscalls:sys_enter_openat").with(p := str(args.filename), f := hex(args.flags)).pair(tracepoint("syscalls:sys_exit_openat")).filter(strings.HasSuffix(p, ".so")).print("%s %d %v %d", p, cond(args.ret >= 0, args.ret, -1), f, elapsed)`,
		`tracepoint("syscalls:sys_enter_execve").with(a := join(args.argv), b := comm[:4]).latency(tracepoint("syscalls:sys_exit_execve"), pid, pid).by(a, b).count()`,
		`s := []string{"", "one", "two"}; begin().with(x := s[pid % 3]).filter(strings.Contains(x, "o") || strings.HasPrefix(comm, x)).print("%s %d", cond(1 > 2, x, comm[1:]), []int{7, 8}[1])`,
		`n := param(5, "how many"); begin().print("%d", n)`,
	} {
		f.Add(s)
	}
	// Values typed from a Go binary (testdata/govalues), with and
	// without DWARF.
	for _, stripped := range []bool{false, true} {
		u := fmt.Sprintf(`uprobe(%q, "main.use")`, goValuesBinary(f, stripped))
		for _, chain := range []string{
			`.print("%d %s %s %d", args.t.P.A, args.t.Name, args.t.I, len(args.t.S))`,
			`.print("%d %d", args.t.S[pid], args.t.Arr[2])`,
			`.filter(len(args.t.M) > 0).by(args.e).count()`,
			`.print("%s", (*errors.errorString)(args.e).s)`,
			`.print("%d %d %u", *arg0, int32(arg1), int8(arg2))`,
			`.print("%s", (*net/http.Request)(arg3).URL.Path)`,
			`.print("%d", (*args.t).Embedded.E)`,
		} {
			f.Add(u + chain)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := dsl.Parse("", src)
		if err != nil {
			return
		}
		if _, err := Compile(p, testEnv()); err != nil {
			if _, ok := err.(*dsl.Error); !ok {
				t.Fatalf("%q: error %T is not a *dsl.Error: %v", src, err, err)
			}
		}
	})
}
