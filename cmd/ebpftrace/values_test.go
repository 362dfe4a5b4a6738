package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestUserPointers: a syscall's pointer argument points into user memory;
// a cast of it, or its members selected without a cast (the tracepoint's
// format names the struct), are read with the user read.
func TestUserPointers(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-c", "sleep 0.123", "-e",
		`tracepoint("syscalls:sys_enter_clock_nanosleep").print("%d %d %d", (*__kernel_timespec)(args.rqtp).tv_nsec, args.rqtp.tv_nsec, args.rqtp.tv_sec)`).mustSucceed(t)
	if !strings.Contains(r.stdout, "123000000 123000000 0\n") {
		t.Errorf("want the 123 ms sleep coreutils asked for:\n%s%s", r.stdout, r.stderr)
	}
}

// TestCharArrayKeys: a char[N] field holds a string up to its first NUL;
// the bytes after it (stale in block_rq_issue's rwbs) must not split one
// key into several rows.
func TestCharArrayKeys(t *testing.T) {
	needRoot(t)
	file := filepath.Join(t.TempDir(), "f")
	if dir, _ := os.Getwd(); dir != "" {
		// O_DIRECT needs a real block device under the file (not tmpfs).
		file = filepath.Join(dir, ".chararray-test")
		defer os.Remove(file)
	}
	r := trace(t, "", "-c", "dd if=/dev/zero of="+file+" bs=4k count=200 oflag=direct,dsync status=none", "-e",
		`tracepoint("block:block_rq_issue").by(args.rwbs).count()`).mustSucceed(t)
	keys := regexp.MustCompile(`(?m)^@count\[(.*)\]: \d+$`).FindAllStringSubmatch(r.stdout, -1)
	if len(keys) == 0 {
		t.Skipf("skipped: no block requests were issued (no block device under %s?)\n%s", file, r.stdout)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k[1]] {
			t.Errorf("key %q printed twice:\n%s", k[1], r.stdout)
		}
		seen[k[1]] = true
	}
}
