package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHugePrograms: programs BPF cannot encode are refused at compile time
// at their place, never with an offset that wraps around; a long sum loads
// (its source notes stay short for the kernel's BTF line info).
func TestHugePrograms(t *testing.T) {
	needRoot(t)
	open := `tracepoint("syscalls:sys_enter_getppid")`
	dir := t.TempDir()
	script := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file string
		want       []string
	}{
		{"10000 filters", script("filters.ebt", open+strings.Repeat(".filter(pid > 1)", 10000)+".count()\n"),
			[]string{"filters.ebt:1:1: program too large: a jump from tracepoint:syscalls:sys_enter_getppid spans", "\n    ^\n"}},
		{"100000-byte string", script("string.ebt", open+`.filter(comm == "`+strings.Repeat("a", 100000)+`").count()`+"\n"),
			[]string{"string.ebt:1:57: string longer than 1024 bytes (100000)"}},
		{"literal longer than comm", script("comm.ebt", open+`.filter(comm == "abcdefghijklmnopq").count()`+"\n"),
			[]string{`comm.ebt:1:54: comm holds at most 15 bytes; "abcdefghijklmnopq" (17 bytes) can never be equal to it`}},
		{"negative str length", script("str.ebt", open+`.print("%s", str(args.__syscall_nr, -1))`+"\n"),
			[]string{"str.ebt:1:77: str's length must be between 1 and 200, not -1"}},
		{"%z", script("z.ebt", open+`.print("%z", pid)`+"\n"),
			[]string{`z.ebt:1:49: format ends inside a verb "%z"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := trace(t, "", "--duration", "100ms", tt.file)
			if r.code == 0 {
				t.Fatalf("exit status 0:\n%s", r.stderr)
			}
			for _, w := range append(tt.want, "^") {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%.600s", w, r.stderr)
				}
			}
		})
	}
	// 17000 and 17001 negations: every jump of the generated code stays
	// in range, and the answers are right.
	for n, want := range map[int]string{17000: "@count: 7\n", 17001: "@count: 0\n"} {
		f := script("not.ebt", open+".filter("+strings.Repeat("!", n)+"pid).count()\n")
		r := trace(t, "", "-c", bin.syscaller+" getppid 7", f).mustSucceed(t)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("%d negations: want %q:\n%s", n, want, r.stdout)
		}
	}
	sum := strings.Repeat("pid+", 2999) + "pid"
	r := trace(t, "", "--duration", "100ms", "-e", open+".filter(pid == "+sum+").count()").mustSucceed(t)
	if !strings.Contains(r.stdout, "@count: 0") {
		t.Errorf("a 3000-term sum:\n%s", r.stdout)
	}
}

// TestJSONFieldNames: every field of a JSON event has its own name.
func TestJSONFieldNames(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-f", "json", "-c", bin.syscaller+" getppid 1", "-e",
		`tracepoint("syscalls:sys_enter_getppid").print("%s %s %d", comm, comm, 5)`).mustSucceed(t)
	if !strings.Contains(r.stdout, `"fields":{"comm":"syscaller","comm_2":"syscaller","arg3":5}`) {
		t.Errorf("want comm, comm_2 and arg3:\n%s", r.stdout)
	}
}
