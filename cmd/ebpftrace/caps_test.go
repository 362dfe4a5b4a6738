package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnprivileged runs the binary as user nobody (no capabilities): what
// needs privileges says so in one line and exits 1, before anything
// fails deeper; what does not (--help, --dump ast, the functions of a
// binary) works.
func TestUnprivileged(t *testing.T) {
	needRoot(t) // to become nobody
	// Copies nobody can read and run (the build directory is root's).
	dir, err := os.MkdirTemp("", "ebpftrace-nobody")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	ebpftrace := filepath.Join(dir, "ebpftrace")
	gocalls := filepath.Join(dir, "gocalls")
	for from, to := range map[string]string{bin.ebpftrace: ebpftrace, bin.gocalls: gocalls} {
		copyFile(t, from, to)
	}
	asNobody := func(args ...string) result {
		cmd := exec.Command(ebpftrace, args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatal(err)
			}
		}
		return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
	}
	const want = "ebpftrace: needs root, or CAP_BPF and CAP_PERFMON (to load BPF programs and open perf events) with read access to tracefs; run it with sudo\n"
	count := `tracepoint("syscalls:sys_enter_getppid").count()`
	for _, args := range [][]string{
		{"-e", count},
		{"-c", "/bin/true", "-e", count},
		{"-e", `uprobe("` + gocalls + `", "main.work").count()`},
		{"--dump", "asm", "-e", count},
		{"-l", "syscalls:*"},
		{"-l", "kprobe:do_sys_open"},
		{"execsnoop"},
	} {
		r := asNobody(args...)
		if r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("as nobody, %q: exit %d\nstdout %q\nstderr %q\nwant exit 1 and %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
	for _, args := range [][]string{
		{"-h"},
		{"--dump", "ast", "-e", count},
		{"-l", "uprobe:" + gocalls + ":main.work"},
		{"-l", "scripts"},
	} {
		r := asNobody(args...)
		if r.code != 0 || strings.Contains(r.stderr, want) {
			t.Errorf("as nobody, %q: exit %d\nstdout %q\nstderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
