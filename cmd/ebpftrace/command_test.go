package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The -c tests run the built binary on examples/syscaller, sh and true:
// the command's own exec is seen, every process it starts is traced,
// nothing of ebpftrace's own start-up of it is, the exit status is the
// command's, and its cgroups are gone afterwards.

// leftCgroups lists the cgroups that the ebpftrace process pid made and
// did not remove, "" when none (or when there is no cgroup2 to look in).
func leftCgroups(t *testing.T, pid int) string {
	t.Helper()
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	mnt, root, ok := cgroup2Mount(bytes.NewReader(mountinfo))
	if !ok {
		return ""
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := ownCgroupDir(string(self), mnt, root)
	if err != nil {
		return ""
	}
	left, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("ebpftrace-%d-*", pid)))
	return strings.Join(left, " ")
}

// traceCommand runs ebpftrace like trace, and fails the test if it left
// a cgroup behind.
func traceCommand(t *testing.T, args ...string) result {
	t.Helper()
	return traceCommandEnv(t, nil, args...)
}

// traceCommandEnv is traceCommand with env added to the environment.
func traceCommandEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin.ebpftrace, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("ebpftrace %q did not finish in 60s; stderr:\n%s", args, errb.String())
	}
	if left := leftCgroups(t, cmd.Process.Pid); left != "" {
		t.Errorf("ebpftrace %q left cgroups behind: %s", args, left)
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// withoutCommandOutput drops syscaller's own lines from stdout, which
// the command and ebpftrace share in no set order.
func withoutCommandOutput(stdout string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(stdout, "\n") {
		if !strings.HasPrefix(l, "called getppid") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestCommandOwnExec: the command's own execve is its first event; what
// ebpftrace's child does before it (Go's fork code calls getppid for the
// parent-death signal) is not seen.
func TestCommandOwnExec(t *testing.T) {
	needRoot(t)
	r := traceCommand(t, "-c", "/bin/true", "-e", `tracepoint("sched:sched_process_exec").print("exec %s", comm)`).mustSucceed(t)
	if r.stdout != "exec true\n" {
		t.Errorf("stdout %q, want the exec of true", r.stdout)
	}
	// The first system calls, in order: the execve, then the command's.
	prog := fmt.Sprintf(`tracepoint("raw_syscalls:sys_enter").filter(args.id == %d || args.id == %d).print("%%d", args.id)`, syscall.SYS_EXECVE, syscall.SYS_GETPPID)
	r = traceCommand(t, "-c", bin.syscaller+" getppid 3", "-e", prog).mustSucceed(t)
	want := fmt.Sprintf("%d\n%d\n%d\n%d\n", syscall.SYS_EXECVE, syscall.SYS_GETPPID, syscall.SYS_GETPPID, syscall.SYS_GETPPID)
	if got := withoutCommandOutput(r.stdout); got != want {
		t.Errorf("events %q, want %q: the execve, then exactly the 3 getppid of the command", got, want)
	}
	// The ready tool sees the command it was given.
	r = traceCommand(t, "execsnoop", "-c", bin.syscaller+" getppid 1").mustSucceed(t)
	if !strings.Contains(r.stdout, " "+bin.syscaller+" getppid 1\n") {
		t.Errorf("execsnoop -c does not show the command's exec:\n%s", r.stdout)
	}
}

// TestCommandDescendants: `sh -c 'a; b'` traces sh and both children,
// and their children; -p stays one process (TestPIDFilter).
func TestCommandDescendants(t *testing.T) {
	needRoot(t)
	s := bin.syscaller
	getppid := `tracepoint("syscalls:sys_enter_getppid").filter(comm == "syscaller")`
	r := traceCommand(t, "-c", fmt.Sprintf("sh -c '%s getppid 5; %s getppid 7'", s, s), "-e", getppid+`.count()`).mustSucceed(t)
	wantLines(t, r, "@count: 12\n")
	r = traceCommand(t, "-c", fmt.Sprintf("sh -c '%s getppid 5; %s getppid 7'", s, s), "-e", getppid+`.by(pid).count()`).mustSucceed(t)
	if n := strings.Count(r.stdout, "@count["); n != 2 || !strings.Contains(r.stdout, "]: 5\n") || !strings.Contains(r.stdout, "]: 7\n") {
		t.Errorf("want one count of 5 and one of 7, by pid:\n%s", r.stdout)
	}
	// Grandchildren, one of them in the background.
	r = traceCommand(t, "-c", fmt.Sprintf(`sh -c 'sh -c "%s getppid 3" & %s getppid 4; wait'`, s, s), "-e", getppid+`.count()`).mustSucceed(t)
	wantLines(t, r, "@count: 7\n")
	r = traceCommand(t, "-c", fmt.Sprintf("sh -c '%s getppid 2; /bin/true'", s), "-e", `tracepoint("sched:sched_process_exec").print("exec %s", comm)`).mustSucceed(t)
	if withoutCommandOutput(r.stdout) != "exec sh\nexec syscaller\nexec true\n" {
		t.Errorf("the execs of sh and its children: %q", r.stdout)
	}
}

// TestCommandExitStatus: ebpftrace exits with the command's status, or
// 128+N when signal N ended it, as a shell does.
func TestCommandExitStatus(t *testing.T) {
	needRoot(t)
	count := `tracepoint("syscalls:sys_enter_getppid").count()`
	tests := []struct {
		cmd  string
		want int
	}{
		{"/bin/true", 0},
		{"/bin/false", 1},
		{"sh -c 'exit 7'", 7},
		{"sh -c 'kill -TERM $$'", 128 + int(syscall.SIGTERM)},
		{"sh -c 'kill -KILL $$'", 128 + int(syscall.SIGKILL)},
	}
	for _, tt := range tests {
		r := traceCommand(t, "-c", tt.cmd, "-e", count)
		if r.code != tt.want || !strings.Contains(r.stdout, "@count: ") {
			t.Errorf("-c %q: exit status %d, want %d; stdout %q stderr %q", tt.cmd, r.code, tt.want, r.stdout, r.stderr)
		}
	}
	// ebpftrace stopping first ends the command, and exits 0.
	r := traceCommand(t, "-c", bin.syscaller+" sleep 30s", "--duration", "200ms", "-e", count)
	if r.code != 0 {
		t.Errorf("--duration before the command's end: exit status %d; stderr %q", r.code, r.stderr)
	}
}

// TestCommandErrors: a command that cannot run is said so before anything
// is attached, with exit status 1 (2 for a bad command line).
func TestCommandErrors(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "data")
	os.WriteFile(notExec, []byte("not a program\n"), 0o644)
	count := `tracepoint("syscalls:sys_enter_getppid").count()`
	tests := []struct {
		cmd  string
		code int
		want string
	}{
		{"", 2, "-c: the command is empty"},
		{"  ", 2, "-c: the command is empty"},
		{"'unterminated", 2, "unterminated single quote"},
		{"/etc/passwd", 1, "-c: /etc/passwd: not executable"},
		{notExec + " arg", 1, "-c: " + notExec + ": not executable"},
		{"no-such-command-xyz", 1, "-c: no-such-command-xyz: command not found"},
		{dir + "/missing", 1, "-c: " + dir + "/missing: no such file"},
		{dir, 1, "-c: " + dir + ": is a directory"},
	}
	for _, tt := range tests {
		r := traceCommand(t, "-c", tt.cmd, "-e", count)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "Attached") {
			t.Errorf("-c %q: exit status %d (want %d), stderr %q (want %q, nothing attached)", tt.cmd, r.code, tt.code, r.stderr, tt.want)
		}
	}
	// A compile error after the cgroups were made leaves none behind.
	r := traceCommand(t, "-c", "/bin/true", "-e", `tracepoint("syscalls:sys_enter_getppid").cout()`)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown stage "cout"`) {
		t.Errorf("compile error with -c: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestCommandSignalsRemoveCgroup: SIGINT or SIGTERM while the command
// runs detaches, ends the command and removes its cgroups.
func TestCommandSignalsRemoveCgroup(t *testing.T) {
	needRoot(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(bin.ebpftrace, "-c", bin.syscaller+" sleep 30s", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`)
		// Its own process group: the signal goes to ebpftrace only.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		errb := startAndWaitAttached(t, cmd)()
		if leftCgroups(t, cmd.Process.Pid) == "" && cgroupsUsable(t) {
			t.Errorf("no cgroup of the running ebpftrace")
		}
		cmd.Process.Signal(sig)
		if err := cmd.Wait(); err != nil {
			t.Errorf("after %v: %v\n%s", sig, err, errb())
		}
		if left := leftCgroups(t, cmd.Process.Pid); left != "" {
			t.Errorf("after %v these cgroups are left: %s", sig, left)
		}
	}
}

// cgroupsUsable: this machine runs -c commands in cgroups.
func cgroupsUsable(t *testing.T) bool {
	r := traceCommand(t, "-c", "/bin/true", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`)
	return r.code == 0 && !strings.Contains(r.stderr, "no cgroup")
}

// TestCommandWithoutCgroup runs ebpftrace where cgroup2 is not mounted (a
// mount namespace of its own, cgroup2 unmounted there): it says so once,
// and follows the command's processes by pid.
func TestCommandWithoutCgroup(t *testing.T) {
	needRoot(t)
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	mnt, _, ok := cgroup2Mount(bytes.NewReader(mountinfo))
	s := bin.syscaller
	script := "exec " + shellQuote(bin.ebpftrace) + ` "$@"`
	if ok {
		script = "umount -l " + shellQuote(mnt) + " && " + script
	}
	run := func(args ...string) result {
		cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
		// Go makes the new mount namespace's mounts private.
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
	}
	r := run("-c", fmt.Sprintf("sh -c '%s getppid 5; %s getppid 7; exit 3'", s, s), "-e",
		`tracepoint("syscalls:sys_enter_getppid").filter(comm == "syscaller").by(pid).count()`)
	if r.code != 3 {
		t.Fatalf("exit status %d, want the command's 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stdout, "@count["); n != 2 || !strings.Contains(r.stdout, "]: 5\n") || !strings.Contains(r.stdout, "]: 7\n") {
		t.Errorf("want one count of 5 and one of 7, by pid:\n%s", r.stdout)
	}
	if strings.Count(r.stderr, "no cgroup for the command (cgroup2 is not mounted)") != 1 || !strings.Contains(r.stderr, "Attached 1 probe\n") {
		t.Errorf("stderr should say once why the command is followed by pid, and count only the user's probe:\n%s", r.stderr)
	}
	// Exactly, from after its exec on.
	r = run("-c", s+" getppid 1000", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`)
	if r.code != 0 || !strings.Contains(r.stdout, "@count: 1000\n") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestCommandOneCPU: with one P (a one-CPU machine, GOMAXPROCS=1) the
// command still starts: the goroutine that holds its P through the
// vfork must not starve the one that steps the child to its exec.
func TestCommandOneCPU(t *testing.T) {
	needRoot(t)
	one := []string{"GOMAXPROCS=1"}
	r := traceCommandEnv(t, one, "-c", bin.syscaller+" getppid 10", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`).mustSucceed(t)
	wantLines(t, r, "@count: 10\n")
	r = traceCommandEnv(t, one, "-c", bin.syscaller+" getppid 2", "-e", `tracepoint("syscalls:sys_enter_getppid").by(ustack).count()`).mustSucceed(t)
	wantLines(t, r, "        main.main+", "]: 2\n")
}
