package main

import (
	"strings"
	"testing"
)

// TestWildcardSkipsUnattachable: one probe of a wildcard that the kernel
// refuses is skipped with a warning naming it; the others run. Alone, it
// is an error.
func TestWildcardSkipsUnattachable(t *testing.T) {
	needRoot(t)
	// On this kernel irq_vectors:irq_work_exit cannot be opened (EPERM)
	// while the rest of irq_vectors can.
	r := trace(t, "", "--duration", "200ms", "-e", `tracepoint("irq_vectors:irq_work_exit").count()`)
	if r.code == 0 {
		t.Skipf("skipped: every irq_vectors tracepoint attaches on this kernel, so nothing is refused")
	}
	r = trace(t, "", "--duration", "200ms", "-e", `tracepoint("irq_vectors:*").count()`).mustSucceed(t)
	if !strings.Contains(r.stderr, "ebpftrace: skipped tracepoint:irq_vectors:irq_work_exit: ") || !strings.Contains(r.stdout, "@count: ") {
		t.Errorf("want the run with a warning naming irq_work_exit:\n%s\n%s", r.stderr, r.stdout)
	}
}

// TestGlobSkipsFunctionsWithoutReturn: a return-probe glob skips the Go
// functions that never return, with a warning; alone, such a function is
// an error.
func TestGlobSkipsFunctionsWithoutReturn(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "--duration", "100ms", "-e", `uretprobe("`+bin.gocalls+`", "runtime.mstart*").count()`).mustSucceed(t)
	if !strings.Contains(r.stderr, "warning: <input>:1:") || !strings.Contains(r.stderr, "runtime.mstart0.abi0 has no RET instruction (it never returns) (skipped)") {
		t.Errorf("want a warning for runtime.mstart0:\n%s", r.stderr)
	}
	r = trace(t, "", "--duration", "100ms", "-e", `uretprobe("`+bin.gocalls+`", "runtime.mstart0.abi0").count()`)
	if r.code == 0 || !strings.Contains(r.stderr, "has no RET instruction") {
		t.Errorf("a function that never returns alone: status %d\n%s", r.code, r.stderr)
	}
}

// TestChainsRunInOrder: chains on one function run in the order written
// (the kernel runs a uprobe's consumers newest first).
func TestChainsRunInOrder(t *testing.T) {
	needRoot(t)
	fn := `uprobe("` + bin.syscaller + `", "syscall.RawSyscall")`
	r := trace(t, "", "-c", bin.syscaller+" getppid 1", "-e", fn+`.print("u1")`+"\n"+fn+`.print("u2")`+"\n"+fn+`.print("u3")`).mustSucceed(t)
	if !strings.Contains(r.stdout, "u1\nu2\nu3\n") {
		t.Errorf("chains ran out of order:\n%s", r.stdout)
	}
}
