package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watched runs `ebpftrace --watch` on a script and lets the test edit it.
type watched struct {
	t      *testing.T
	script string
	cmd    *exec.Cmd
	out    bytes.Buffer
	stderr func() string
	caller string // a copy of syscaller under a name of its own
}

func startWatched(t *testing.T, text string) *watched {
	t.Helper()
	w := &watched{t: t, script: filepath.Join(t.TempDir(), "v.ebt"), caller: filepath.Join(t.TempDir(), "hocaller")}
	if data, err := os.ReadFile(bin.syscaller); err != nil || os.WriteFile(w.caller, data, 0o755) != nil {
		t.Fatal("cannot copy syscaller")
	}
	w.write(text)
	w.cmd = exec.Command(bin.ebpftrace, "--watch", w.script)
	w.cmd.Stdout = &w.out
	w.stderr = startAndWaitAttached(t, w.cmd)()
	t.Cleanup(func() { w.cmd.Process.Kill() })
	return w
}

// write replaces the script as editors do, through a rename.
func (w *watched) write(text string) {
	tmp := w.script + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, w.script); err != nil {
		w.t.Fatal(err)
	}
}

// reload writes a new version and waits until it is attached.
func (w *watched) reload(text string, probes int) {
	w.t.Helper()
	w.write(text)
	want := fmt.Sprintf("Reloaded %s: attached %d probe", w.script, probes)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.stderr(), want) {
		if time.Now().After(deadline) {
			w.t.Fatalf("no %q on stderr in 10s:\n%s", want, w.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *watched) run(args ...string) {
	w.t.Helper()
	if out, err := exec.Command(w.caller, args...).CombinedOutput(); err != nil {
		w.t.Fatalf("syscaller: %v\n%s", err, out)
	}
}

// stop interrupts ebpftrace and returns what it printed.
func (w *watched) stop() string {
	w.t.Helper()
	w.cmd.Process.Signal(syscall.SIGINT)
	if err := w.cmd.Wait(); err != nil {
		w.t.Fatalf("%v\n%s", err, w.stderr())
	}
	return w.out.String()
}

// TestHandOverProbeNames: by(probe) keys are handed over by name. A new
// version that adds a chain first numbers the probes differently; the
// counts of the old version must stay under their own probe's name.
func TestHandOverProbeNames(t *testing.T) {
	needRoot(t)
	getppid := `tracepoint("syscalls:sys_enter_getppid").filter(comm == "hocaller").by(probe).count().as("calls")` + "\n"
	w := startWatched(t, getppid)
	w.run("getppid", "10")
	w.reload(`tracepoint("syscalls:sys_enter_getpid").filter(comm == "hocaller").by(probe).count().as("calls")`+"\n"+getppid, 2)
	w.run("getppid", "5")
	out := w.stop()
	if !strings.Contains(out, "@calls[tracepoint:syscalls:sys_enter_getppid]: 15\n") {
		t.Errorf("want the 10 getppid calls of the first version and the 5 of the second under getppid:\n%s", out)
	}
	// The Go runtime calls getpid once at start; the old version's ten
	// getppid calls must not be among them.
	if m := regexp.MustCompile(`sys_enter_getpid\]: (\d+)`).FindStringSubmatch(out); m != nil {
		if n, _ := strconv.Atoi(m[1]); n >= 10 {
			t.Errorf("getppid calls of the first version were counted under getpid:\n%s", out)
		}
	}
}

// TestHandOverStacks: stack keys are handed over as stacks, not as ids
// into the old version's stack map, which is gone after the reload.
func TestHandOverStacks(t *testing.T) {
	needRoot(t)
	prog := `tracepoint("syscalls:sys_enter_getppid").filter(comm == "hocaller").by(kstack).count().as("st")` + "\n"
	w := startWatched(t, prog)
	w.run("getppid", "3")
	// The new version sees no getppid at all: the row is the old one's.
	w.reload(`tracepoint("syscalls:sys_enter_getpid").count().as("other")`+"\n"+prog, 2)
	out := w.stop()
	if !strings.Contains(out, "do_syscall_64") || !strings.Contains(out, "]: 3\n") {
		t.Errorf("want the old version's kernel stack, named, with its 3 calls:\n%s", out)
	}
}

// TestWatchCommandPID: a version loaded while the -c command runs knows
// its pid too (cpid), not only the first one.
func TestWatchCommandPID(t *testing.T) {
	needRoot(t)
	w := &watched{t: t, script: filepath.Join(t.TempDir(), "v.ebt")}
	w.write(`tracepoint("syscalls:sys_enter_getppid").count()` + "\n")
	w.cmd = exec.Command(bin.ebpftrace, "--watch", w.script, "-c", bin.syscaller+" sleep 4s")
	w.cmd.Stdout = &w.out
	w.stderr = startAndWaitAttached(t, w.cmd)()
	t.Cleanup(func() { w.cmd.Process.Kill() })
	w.reload(`tracepoint("syscalls:sys_enter_exit_group").print("cpid=%d pid=%d", cpid, pid)`+"\n", 1)
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, w.stderr())
	}
	m := regexp.MustCompile(`cpid=(\d+) pid=(\d+)`).FindStringSubmatch(w.out.String())
	if m == nil || m[1] == "0" || m[1] != m[2] {
		t.Errorf("want the command's exit with cpid equal to its pid in the reloaded version:\n%s\n%s", w.out.String(), w.stderr())
	}
}
