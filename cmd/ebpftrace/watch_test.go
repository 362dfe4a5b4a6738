package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWatchRefusesNonRegular: --watch takes a regular file of at most
// 1 MiB, and says so at once for a FIFO (which would block a read), a
// device (/dev/zero would fill memory) or a larger file.
func TestWatchRefusesNonRegular(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.ebt")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.ebt")
	os.WriteFile(big, bytes.Repeat([]byte("// padding\n"), 100_000), 0o644)
	zero := filepath.Join(dir, "zero.ebt")
	os.Symlink("/dev/zero", zero)
	tests := []struct{ file, want string }{
		{fifo, "--watch: " + fifo + " is a FIFO, not a regular file"},
		{"/dev/zero", "--watch: /dev/zero is a character device, not a regular file"},
		{zero, "--watch: " + zero + " is a character device, not a regular file"},
		{big, "--watch: " + big + " is larger than 1 MiB (1100000 bytes)"},
		{dir, "--watch: " + dir + " is a directory, not a regular file"},
	}
	for _, tt := range tests {
		r := trace(t, "", "--watch", tt.file)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "Attached") {
			t.Errorf("--watch %s: exit %d, stderr %q; want exit 2 and %q", tt.file, r.code, r.stderr, tt.want)
		}
	}
	// Without --watch a pipe is a fine script, but no more than 1 MiB of
	// one is read.
	r := trace(t, "", "/dev/zero")
	if r.code != 2 || !strings.Contains(r.stderr, "/dev/zero is larger than 1 MiB") {
		t.Errorf("/dev/zero as a script: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestWatchSurvivesBadReplacements: a watched script replaced by a FIFO,
// by /dev/zero or by a huge file is reported, the running version keeps
// running, and SIGINT still ends it at once with its counts.
func TestWatchSurvivesBadReplacements(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "calls.ebt")
	os.WriteFile(script, []byte(`tracepoint("syscalls:sys_enter_getppid").filter(comm == "watchcaller").count()`+"\n"), 0o644)
	caller := filepath.Join(dir, "watchcaller")
	copyFile(t, bin.syscaller, caller)
	cmd := exec.Command(bin.ebpftrace, "--watch", script)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr := startAndWaitAttached(t, cmd)()
	defer cmd.Process.Kill()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q on stderr in 10s:\n%s", what, stderr())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	replace := func(make func(tmp string) error) {
		t.Helper()
		tmp := script + ".tmp"
		os.Remove(tmp)
		if err := make(tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, script); err != nil {
			t.Fatal(err)
		}
	}
	replace(func(tmp string) error { return syscall.Mkfifo(tmp, 0o600) })
	waitFor(script + " is a FIFO, not a regular file; the previous version keeps running")
	replace(func(tmp string) error { return os.Symlink("/dev/zero", tmp) })
	waitFor(script + " is a character device, not a regular file")
	replace(func(tmp string) error {
		return os.WriteFile(tmp, bytes.Repeat([]byte("// padding\n"), 200_000), 0o644)
	})
	waitFor(script + " is larger than 1 MiB")
	if out, err := exec.Command(caller, "getppid", "9").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // let the events reach the ring buffer reader
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("SIGINT did not end ebpftrace --watch:\n%s", stderr())
	}
	if !strings.Contains(out.String(), "@count: 9\n") {
		t.Errorf("the first version should have counted 9:\n%s\nstderr:\n%s", out.String(), stderr())
	}
	if n := strings.Count(stderr(), "is a FIFO"); n != 1 {
		t.Errorf("the FIFO was reported %d times, want once:\n%s", n, stderr())
	}
}
