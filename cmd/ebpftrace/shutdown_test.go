package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// storm keeps both CPUs busy with system calls until the test ends.
func storm(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	for range 2 {
		cmd := exec.CommandContext(ctx, "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "status=none")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Wait() })
	}
	t.Cleanup(cancel)
}

// TestExitUnderStorm: exit() stops at the first event that reaches it, even
// when every CPU produces events as fast as it can: one line, status 0.
func TestExitUnderStorm(t *testing.T) {
	needRoot(t)
	storm(t)
	for range 5 {
		r := trace(t, "", "-e", `tracepoint("raw_syscalls:sys_enter").print("%d %s", pid, comm).exit()`).mustSucceed(t)
		if n := strings.Count(r.stdout, "\n"); n != 1 {
			t.Fatalf("exit() printed %d lines, want 1:\n%.500s", n, r.stdout)
		}
	}
}

// TestStopUnderStorm: at the end of --duration under a storm the probes
// stop first, every event produced is printed or counted lost, and the
// aggregation comes last.
func TestStopUnderStorm(t *testing.T) {
	needRoot(t)
	storm(t)
	r := trace(t, "", "--duration", "1s", "-e", `tracepoint("raw_syscalls:sys_enter").filter(comm == "dd").print("x").count()`).mustSucceed(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	m := regexp.MustCompile(`^@count: (\d+)$`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("the last line is %q, want the aggregation", last)
	}
	produced, _ := strconv.Atoi(m[1])
	printed := len(lines) - 1
	for _, l := range lines[:printed] {
		if l != "x" {
			t.Fatalf("line %q before the aggregation", l)
		}
	}
	lost := 0
	if m := regexp.MustCompile(`(\d+) events were lost`).FindStringSubmatch(r.stderr); m != nil {
		lost, _ = strconv.Atoi(m[1])
	}
	if printed+lost != produced {
		t.Errorf("printed %d + lost %d != produced %d", printed, lost, produced)
	}
	if produced < 1000 {
		t.Errorf("only %d events in a storm", produced)
	}
	t.Logf("%d produced: %d printed, %d lost", produced, printed, lost)
}

// TestWriteErrors: output that cannot be written is an error, reported,
// with a non-zero status.
func TestWriteErrors(t *testing.T) {
	needRoot(t)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("skipped: no /dev/full: %v", err)
	}
	defer full.Close()
	for _, prog := range []string{`begin().print("hello")`, `begin().count()`, `begin().print("%d", pid).exit()`} {
		var stderr strings.Builder
		cmd := exec.Command(bin.ebpftrace, "--duration", "200ms", "-e", prog)
		cmd.Stdout, cmd.Stderr = full, &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("%s > /dev/full: %v, stderr:\n%s", prog, err, stderr.String())
		}
	}
}
