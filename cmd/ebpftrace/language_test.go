package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCarriedValues: what .with() binds at a start probe is read at its
// end, each start with its own end: per goroutine on Go (through
// recursion that copies the goroutine's stack), per thread or by key in
// the kernel.
func TestCarriedValues(t *testing.T) {
	needRoot(t)
	g := bin.gocalls
	tests := []struct {
		name, prog, cmd string
		want            []string
	}{
		// depth(n) returns n: every return sees its own call's n.
		{"through recursion", fmt.Sprintf(`uprobe(%[1]q, "main.depth").with(n := args.n).pair(uretprobe(%[1]q, "main.depth")).filter(retval == n).count().as("own")
uprobe(%[1]q, "main.depth").with(n := args.n).pair(uretprobe(%[1]q, "main.depth")).filter(retval != n).count().as("other")`, g),
			g + " 1", []string{"@own: 65\n", "@other: 0\n"}},
		// work(i) on 4 goroutines returns 2*i, on the goroutine that called.
		{"per goroutine", fmt.Sprintf(`uprobe(%[1]q, "main.work").with(i := args.i, who := goid).pair(uretprobe(%[1]q, "main.work")).filter(retval == 2 * i && who == goid).count()`, g),
			g + " 1", []string{"@count: 40\n"}},
		// A Go string read at the entry, shown with the result.
		{"strings", fmt.Sprintf(`uprobe(%[1]q, "main.greet").with(name := args.name, n := args.n).pair(uretprobe(%[1]q, "main.greet")).print("%%s %%d -> %%s", name, n, retval)`, g),
			g + " 7", []string{"gopher 7 -> hello gopher #7\n"}},
		// By key, in the kernel, a path matched at the exit.
		{"by key", `tracepoint("syscalls:sys_enter_openat").with(p := str(args.filename)).pair(tracepoint("syscalls:sys_exit_openat"), tid, tid).filter(strings.HasSuffix(p, "/hostname")).print("%s %d", p, args.ret)`,
			bin.syscaller + " open /etc/hostname", []string{"/etc/hostname 3\n"}},
		// Values bound after the pairing, at the end probe.
		{"bound at the end", `tracepoint("syscalls:sys_enter_openat").with(p := str(args.filename)).pair(tracepoint("syscalls:sys_exit_openat")).with(ok := cond(args.ret >= 0, "ok", "failed")).filter(p[:5] == "/etc/").print("%s %s", p, ok)`,
			bin.syscaller + " open /etc/hostname /etc/nonexistent", []string{"/etc/hostname ok\n", "/etc/nonexistent failed\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := trace(t, "", "-e", tt.prog, "-c", tt.cmd).mustSucceed(t)
			if tt.name == "by key" {
				// syscaller says which fd it got.
				fd := regexp.MustCompile(`(?m)^/etc/hostname (\d+)$`).FindStringSubmatch(r.stdout)
				if fd == nil {
					t.Fatalf("no fd:\n%s", r.stdout)
				}
				tt.want = []string{"/etc/hostname " + fd[1] + "\n"}
			}
			wantLines(t, r, tt.want...)
		})
	}
}

// TestLanguageErrorsE2E: the new forms' mistakes, as a user sees them:
// the place, the line with a caret, a suggestion, nothing attached.
func TestLanguageErrorsE2E(t *testing.T) {
	needRoot(t)
	open := `tracepoint("syscalls:sys_enter_openat")`
	tests := []struct {
		prog string
		want []string
	}{
		{open + `.print("%s", path).with(path := str(args.filename))`, []string{
			"<input>:1:53: path is bound by .with() at 1:64", "\n" + strings.Repeat(" ", 4+52) + "^\n", "bind it before this stage"}},
		{open + `.filter(hasPrefix(comm, "ba")).count()`, []string{
			`<input>:1:48: unknown function "hasPrefix"`, "did you mean strings.HasPrefix?"}},
		{open + `.print("%s", cond(args.flags, "a", 1))`, []string{
			"<input>:1:75: cond's values must be two numbers or two strings", `cond(ret < 0, "error", "ok")`}},
	}
	for _, tt := range tests {
		r := trace(t, "", "-e", tt.prog)
		if r.code != 1 || !strings.Contains(r.stderr, "\n    "+tt.prog+"\n") || strings.Contains(r.stderr, "Attached") {
			t.Errorf("%s: exit %d:\n%s", tt.prog, r.code, r.stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tt.prog, w, r.stderr)
			}
		}
	}
}

// TestScriptParams: a script's parameters, given in order, by name and
// after --, and its usage when they are wrong.
func TestScriptParams(t *testing.T) {
	needRoot(t)
	script := filepath.Join(t.TempDir(), "p.ebt")
	os.WriteFile(script, []byte(`// p: parameters.
// Usage: ebpftrace p.ebt N [WHO]
n := param(int, "how many getppid calls to see")
who := param("syscaller", "the command")
tracepoint("syscalls:sys_enter_getppid").filter(comm == who).count().as("calls")
tracepoint("syscalls:sys_enter_getppid").filter(comm == who).print("%d", n).exit()
`), 0o644)
	for _, args := range [][]string{{script, "3"}, {script, "who=syscaller", "n=3"}, {script, "--", "3", "syscaller"}} {
		r := trace(t, "", append([]string{"-c", bin.syscaller + " getppid 5"}, args...)...).mustSucceed(t)
		wantLines(t, r, "3\n")
	}
	r := trace(t, "", script, "-c", bin.syscaller+" getppid 5")
	if r.code != 2 || !strings.Contains(r.stderr, "ebpftrace: missing parameter n (how many getppid calls to see)\nUsage: ebpftrace p.ebt N [WHO]\n") ||
		!strings.Contains(r.stderr, "  who          the command (string, default syscaller)\n") || strings.Contains(r.stderr, "Attached") {
		t.Errorf("missing parameter: exit %d:\n%s", r.code, r.stderr)
	}
	// -e takes parameters after --.
	r = trace(t, "", "-e", `n := param(int, "a number"); begin().print("%d", n + 1).exit()`, "--", "41").mustSucceed(t)
	wantLines(t, r, "42\n")
}

// TestRequestPathAtItsEnd: a Go server's request path and method, read
// at the entry of net/http's ServeHTTP and shown at its return with the
// duration (docs/LANGUAGE.md's example): /slow sleeps 100 ms.
func TestRequestPathAtItsEnd(t *testing.T) {
	needRoot(t)
	srv, addr := startHTTPServer(t, buildHTTPServer(t, "dwarf", ""))
	fn := "net/http.serverHandler.ServeHTTP"
	prog := fmt.Sprintf(`uprobe(%[1]q, %[2]q)
    .with(method := args.req.Method, path := args.req.URL.Path)
    .latency(uretprobe(%[1]q, %[2]q))
    .print("%%s %%s %%d us", method, path, elapsed / 1000)`, srv.Path, fn)
	r := traceGoValues(t, srv.Process.Pid, prog, func() {
		rawRequest(t, addr, reqFast)
		rawRequest(t, addr, reqChunked)
	})
	fast := regexp.MustCompile(`(?m)^GET /fast (\d+) us$`).FindStringSubmatch(r.stdout)
	slow := regexp.MustCompile(`(?m)^POST /slow (\d+) us$`).FindStringSubmatch(r.stdout)
	if fast == nil || slow == nil {
		t.Fatalf("want `GET /fast N us` and `POST /slow N us`:\n%s\n%s", r.stdout, r.stderr)
	}
	// At least its sleep, by definition (only the lower bound is checked).
	var s int
	fmt.Sscan(slow[1], &s)
	if s < 100000 {
		t.Errorf("/slow took %d us; it sleeps 100 ms", s)
	}
}

// TestLanguageDocExamples runs docs/LANGUAGE.md's Go examples for 100 ms
// each: they compile, load and attach. Those that need a binary or a
// process of the reader's (/srv/api, -c), a USDT probe or hardware
// counters are left out; the parameters example gets its parameter.
func TestLanguageDocExamples(t *testing.T) {
	needRoot(t)
	doc, err := os.ReadFile("../../docs/LANGUAGE.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	ran := 0
	for _, b := range blocks {
		prog := b[1]
		if strings.Contains(prog, "/srv/") || strings.Contains(prog, `uprobe("*"`) || strings.Contains(prog, "usdt(") || strings.Contains(prog, "hardware(") {
			continue
		}
		args := []string{"--duration", "100ms", "-e", prog}
		if strings.Contains(prog, "param(") {
			args = append(args, "--", "who=sh")
		}
		if r := trace(t, "", args...); r.code != 0 {
			t.Errorf("docs/LANGUAGE.md example failed (exit %d):\n%s\n%s", r.code, prog, r.stderr)
		}
		ran++
	}
	if ran < 7 {
		t.Errorf("ran %d of the %d examples", ran, len(blocks))
	}
}
