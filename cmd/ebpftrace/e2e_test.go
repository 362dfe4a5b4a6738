package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests run the built ebpftrace binary the way a user does,
// on real workloads, and check what it prints. They load and attach real
// BPF programs, so they need root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN for
// tracefs); without it they skip and say why.

var bin struct {
	dir       string
	ebpftrace string
	syscaller string
	worker    string // the C example; "" when there is no C compiler
	gocalls   string
	stripped  string // gocalls built with -ldflags=-s -w
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ebpftrace-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.dir = dir
	bin.ebpftrace = filepath.Join(dir, "ebpftrace")
	bin.syscaller = filepath.Join(dir, "syscaller")
	bin.gocalls = filepath.Join(dir, "gocalls")
	bin.stripped = filepath.Join(dir, "gocalls-stripped")
	for out, pkg := range map[string]string{bin.ebpftrace: ".", bin.syscaller: "../../examples/syscaller", bin.gocalls: "../../examples/gocalls", bin.stripped: "strip:../../examples/gocalls"} {
		// -buildvcs=false: the checkout may belong to another user (CI),
		// whose git then refuses to report the VCS status.
		args := []string{"build", "-buildvcs=false", "-o", out, pkg}
		if p, ok := strings.CutPrefix(pkg, "strip:"); ok {
			args = []string{"build", "-buildvcs=false", "-ldflags=-s -w", "-o", out, p}
		}
		cmd := exec.Command("go", args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			os.Exit(1)
		}
	}
	worker := filepath.Join(dir, "worker")
	if out, err := exec.Command("gcc", "-O1", "-fno-omit-frame-pointer", "-o", worker, "../../examples/cworker/worker.c").CombinedOutput(); err == nil {
		bin.worker = worker
	} else {
		fmt.Fprintf(os.Stderr, "note: cannot build the C example (tests using it skip): %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: loading BPF programs needs root (CAP_BPF, CAP_PERFMON); run the tests as root")
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// trace runs ebpftrace with args; stdin, when not empty, names a file for
// the tracer's (and so the -c child's) standard input.
func trace(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin.ebpftrace, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("ebpftrace %q did not finish in 60s; stderr:\n%s", args, errb.String())
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

func (r result) mustSucceed(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// aggLines returns the lines of stdout that print aggregations (start with @).
func wantLines(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", w, r.stdout, r.stderr)
		}
	}
}

func TestCountExact(t *testing.T) {
	needRoot(t)
	for _, n := range []int{1, 1000, 25000} {
		r := trace(t, "", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`,
			"-c", fmt.Sprintf("%s getppid %d", bin.syscaller, n)).mustSucceed(t)
		wantLines(t, r, fmt.Sprintf("@count: %d\n", n), fmt.Sprintf("called getppid %d times", n))
	}
}

func TestDDReads(t *testing.T) {
	needRoot(t)
	dd := "dd if=/dev/zero of=/dev/null bs=1000 count=7"
	read0 := `tracepoint("syscalls:sys_enter_read").filter(args.fd == 0)`
	tests := []struct {
		chain string
		want  []string
	}{
		{".by(comm).count()", []string{"@count[dd]: 7\n"}},
		{".sum(args.count)", []string{"@sum: 7000\n"}},
		{".by(comm).sum(args.count).as(\"bytes\")", []string{"@bytes[dd]: 7000\n"}},
		{".min(args.count)", []string{"@min: 1000\n"}},
		{".max(args.count)", []string{"@max: 1000\n"}},
		{".avg(args.count)", []string{"@avg: 1000\n"}},
		{".stats(args.count)", []string{"@stats: count 7, average 1000, total 7000\n"}},
		{".hist(args.count)", []string{"@hist:\n[512, 1K)              7 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.chain, func(t *testing.T) {
			r := trace(t, "", "-e", read0+tt.chain, "-c", dd).mustSucceed(t)
			wantLines(t, r, tt.want...)
		})
	}
}

// TestReadSizes reads fd 0 (/dev/zero) with five known sizes.
func TestReadSizes(t *testing.T) {
	needRoot(t)
	cmd := bin.syscaller + " reads - 1 10 100 1000 5000"
	read0 := `tracepoint("syscalls:sys_enter_read").filter(args.fd == 0 && comm == "syscaller")`
	tests := []struct {
		chain string
		want  []string
	}{
		{".count()", []string{"@count: 5\n"}},
		{".min(args.count)", []string{"@min: 1\n"}},
		{".max(args.count)", []string{"@max: 5000\n"}},
		{".avg(args.count)", []string{"@avg: 1222\n"}},
		{".stats(args.count)", []string{"@stats: count 5, average 1222, total 6111\n"}},
		{".hist(args.count)", []string{
			"[1]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n",
			"[8, 16)                1 |",
			"[64, 128)              1 |",
			"[512, 1K)              1 |",
			"[4K, 8K)               1 |",
		}},
		{".lhist(args.count, 0, 6000, 1000)", []string{
			"[0, 1000)              3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n",
			"[1000, 2000)           1 |@@@@@@@@@@@@@@@@@                                   |\n",
			"[5000, 6000)           1 |",
		}},
		{".lhist(args.count, 10, 20, 5)", []string{"(..., 10)              1 |", "[10, 15)               1 |", "[20, ...)              3 |"}},
	}
	for _, tt := range tests {
		t.Run(tt.chain, func(t *testing.T) {
			r := trace(t, "/dev/zero", "-e", read0+tt.chain, "-c", cmd).mustSucceed(t)
			wantLines(t, r, tt.want...)
		})
	}
}

func TestPrintAndKeys(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-c", "cat /etc/hostname", "-e",
		`tracepoint("syscalls:sys_enter_openat").filter(comm == "cat" && str(args.filename) == "/etc/hostname").print("%s opened %q dfd=%d", comm, str(args.filename), args.dfd)`).mustSucceed(t)
	wantLines(t, r, "cat opened \"/etc/hostname\" dfd=-100\n")
	if got := strings.Count(r.stdout, "opened"); got != 1 {
		t.Errorf("printed %d events, want 1:\n%s", got, r.stdout)
	}

	r = trace(t, "", "-c", "cat /etc/hostname", "-e",
		`tracepoint("syscalls:sys_enter_openat").by(comm, str(args.filename)).count()`).mustSucceed(t)
	wantLines(t, r, "@count[cat, /etc/hostname]: 1\n")

	r = trace(t, "", "-c", bin.syscaller+" getppid 3", "-e",
		`tracepoint("syscalls:sys_enter_getppid").print()`).mustSucceed(t)
	line := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{6} tracepoint:syscalls:sys_enter_getppid pid=\d+ comm=syscaller { __syscall_nr=110 }$`)
	if n := len(line.FindAllString(r.stdout, -1)); n != 3 {
		t.Errorf("default print: %d matching lines, want 3:\n%s", n, r.stdout)
	}
}

// TestLastEventBeforeExit checks that an event produced just before the -c
// child exits is printed: the tracer drains the ring buffer before leaving.
func TestLastEventBeforeExit(t *testing.T) {
	needRoot(t)
	for i := 0; i < 5; i++ {
		r := trace(t, "", "-c", bin.syscaller+" last 1", "-e",
			`tracepoint("syscalls:sys_enter_getppid").print("last getppid from %s", comm)`).mustSucceed(t)
		wantLines(t, r, "last getppid from syscaller\n")
	}
}

func TestJSONOutput(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-f", "json", "-c", bin.syscaller+" getppid 4", "-e",
		`tracepoint("syscalls:sys_enter_getppid").print("pid %d", pid)
tracepoint("syscalls:sys_enter_getppid").by(comm).count()
tracepoint("syscalls:sys_enter_getppid").hist(pid)`).mustSucceed(t)
	var events, aggs int
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			continue // the child's own output
		}
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		switch obj["type"] {
		case "event":
			events++
			if obj["probe"] != "tracepoint:syscalls:sys_enter_getppid" || !strings.HasPrefix(obj["text"].(string), "pid ") {
				t.Errorf("event %v", obj)
			}
		case "aggregation":
			aggs++
			if obj["kind"] == "count" {
				rows := obj["rows"].([]any)
				row := rows[0].(map[string]any)
				if row["value"].(float64) != 4 || row["key"].([]any)[0] != "syscaller" {
					t.Errorf("count row %v", row)
				}
			}
		default:
			t.Errorf("unknown object %v", obj)
		}
	}
	if events != 4 || aggs != 2 {
		t.Errorf("got %d events and %d aggregations, want 4 and 2:\n%s", events, aggs, r.stdout)
	}
}

func TestScriptFileAndBindings(t *testing.T) {
	needRoot(t)
	script := filepath.Join(t.TempDir(), "getppid.ebt")
	os.WriteFile(script, []byte(`// count getppid calls, and show the ones of syscaller
calls := tracepoint("syscalls:sys_enter_getppid")
   .filter(comm == "syscaller")
calls.count().as("calls")
`), 0o644)
	r := trace(t, "", script, "-c", bin.syscaller+" getppid 42").mustSucceed(t)
	wantLines(t, r, "@calls: 42\n")
}

// TestExitBeforeCommandEnds: exit() stops tracing (and the -c command)
// while the command would still sleep; begin and end print around it.
func TestExitBeforeCommandEnds(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-c", bin.syscaller+" sleep 30s", "-e",
		`interval("100ms").exit()
begin().print("started")
end().print("ended")`).mustSucceed(t)
	if r.stdout != "started\nended\n" {
		t.Errorf("stdout %q, want started and ended", r.stdout)
	}
}

// heldPrograms returns the ids of the BPF programs process pid holds, from
// its file descriptors' fdinfo (exact, whatever else runs meanwhile).
func heldPrograms(t *testing.T, pid int) map[int]bool {
	t.Helper()
	ids := map[int]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if link != "anon_inode:bpf-prog" {
			continue
		}
		info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		for _, line := range strings.Split(string(info), "\n") {
			var id int
			if _, err := fmt.Sscanf(line, "prog_id:\t%d", &id); err == nil {
				ids[id] = true
			}
		}
	}
	return ids
}

// stillLoaded returns those of ids that `bpftool prog show` still lists
// under an ebt_ name.
func stillLoaded(t *testing.T, ids map[int]bool) []string {
	t.Helper()
	out, err := exec.Command("bpftool", "-j", "prog", "show").Output()
	if err != nil {
		t.Skipf("skipped: bpftool is needed to list loaded programs: %v", err)
	}
	var progs []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(out, &progs); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range progs {
		if ids[p.ID] && strings.HasPrefix(p.Name, "ebt_") {
			left = append(left, fmt.Sprintf("%d %s", p.ID, p.Name))
		}
	}
	return left
}

// ourPrograms lists the ebt_ programs that process pid loaded and that are
// still loaded: the first call records pid's programs, later calls (pid
// may have exited) check those.
type programWatch struct {
	ids map[int]bool
}

func (w *programWatch) record(t *testing.T, pid int) int {
	w.ids = heldPrograms(t, pid)
	return len(stillLoaded(t, w.ids))
}

// gone waits up to 3 s for the recorded programs to be unloaded: the
// kernel frees a program once its last link is released, which it may
// defer a moment after the process is gone.
func (w *programWatch) gone(t *testing.T) []string {
	left := stillLoaded(t, w.ids)
	for deadline := time.Now().Add(3 * time.Second); len(left) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		left = stillLoaded(t, w.ids)
	}
	return left
}

func TestSignalsDetach(t *testing.T) {
	needRoot(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin.ebpftrace, "-e", `tracepoint("raw_syscalls:sys_enter").by(comm).count()
tracepoint("syscalls:sys_enter_getppid").print("x")`)
			var out bytes.Buffer
			cmd.Stdout = &out
			waitAttached := startAndWaitAttached(t, cmd)
			errb := waitAttached()
			var w programWatch
			if w.record(t, cmd.Process.Pid) == 0 {
				t.Errorf("bpftool shows no ebt_ program of the running tracer")
			}
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			if err != nil {
				t.Errorf("after %v: %v\n%s", sig, err, errb())
			}
			if !strings.Contains(out.String(), "@count[") {
				t.Errorf("after %v the aggregation was not printed:\n%s", sig, out.String())
			}
			left := w.gone(t)
			if len(left) > 0 {
				t.Errorf("after %v these programs are still loaded: %v", sig, left)
			}
		})
	}
}

// startAndWaitAttached starts cmd and returns a function that waits until
// it reports its probes attached; that returns a function giving all of
// stderr read so far.
func startAndWaitAttached(t *testing.T, cmd *exec.Cmd) func() func() string {
	t.Helper()
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	attached := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if strings.HasPrefix(sc.Text(), "Attached") {
				once.Do(func() { close(attached) })
			}
		}
	}()
	get := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "\n")
	}
	return func() func() string {
		select {
		case <-attached:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("no \"Attached\" line in 20s:\n%s", get())
		}
		return get
	}
}

// TestErrors checks that each kind of bad input names the place, shows the
// line with a caret under it, suggests the nearest real names, exits
// non-zero and leaves nothing loaded.
func TestErrors(t *testing.T) {
	needRoot(t)
	open := `tracepoint("syscalls:sys_enter_openat")`
	tests := []struct {
		name, prog string
		want       []string
	}{
		{"syntax", open + `.filter(comm == ).count()`, []string{
			"<input>:1:56: unexpected \")\"", "\n" + strings.Repeat(" ", 4+55) + "^\n"}},
		{"unknown probe", `tracepont("syscalls:sys_enter_openat").count()`, []string{
			"<input>:1:1: unknown probe \"tracepont\"", "\n    ^\n", "did you mean tracepoint"}},
		{"unknown tracepoint", `tracepoint("syscalls:sys_enter_opnat").count()`, []string{
			"<input>:1:12: no tracepoint matches \"syscalls:sys_enter_opnat\"", "\n" + strings.Repeat(" ", 4+11) + "^\n", "did you mean syscalls:sys_enter_openat"}},
		{"unknown stage", open + `.cout()`, []string{
			"<input>:1:41: unknown stage \"cout\"", "\n" + strings.Repeat(" ", 4+40) + "^\n", "did you mean count?"}},
		{"unknown field", open + `.print("%s", str(args.filenme))`, []string{
			"<input>:1:62: tracepoint:syscalls:sys_enter_openat has no field \"filenme\"", "did you mean filename?"}},
		{"unknown function", open + `.print("%s", strr(args.filename))`, []string{
			"<input>:1:53: unknown function \"strr\"", "did you mean str?"}},
		{"unknown value", open + `.by(pidd).count()`, []string{
			"<input>:1:44: unknown name \"pidd\"", "did you mean pid"}},
		{"type error", open + `.sum(comm)`, []string{
			"<input>:1:45: sum takes a number, not string[16]", "\n" + strings.Repeat(" ", 4+44) + "^\n"}},
		{"format error", open + `.print("%d", comm)`, []string{
			"<input>:1:53: comm is string[16], which %d cannot print"}},
		{"stack", open + `.by(str(args.filename, 200), str(args.filename, 200), str(args.filename, 200)).count()`, []string{
			"<input>:1:119: program too large: count needs more than the 512 bytes of stack a BPF program has",
			"\n" + strings.Repeat(" ", 4+118) + "^\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := trace(t, "", "-e", tt.prog)
			if r.code == 0 {
				t.Fatalf("exit status 0 for a bad program; stderr:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, "\n    "+tt.prog+"\n") {
				t.Errorf("stderr does not show the line:\n%s", r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "Attached") {
				t.Errorf("a bad program attached probes:\n%s", r.stderr)
			}
		})
	}
}

func TestErrorInScriptFile(t *testing.T) {
	needRoot(t)
	script := filepath.Join(t.TempDir(), "bad.ebt")
	os.WriteFile(script, []byte("// a comment\ntracepoint(\"syscalls:sys_enter_getppid\")\n    .by(comm)\n    .hist(comm)\n"), 0o644)
	r := trace(t, "", script)
	if r.code == 0 {
		t.Fatal("exit status 0")
	}
	want := script + ":4:11: hist takes a number, not string[16]\n        .hist(comm)\n" + strings.Repeat(" ", 4+10) + "^\n"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
}

func TestProbeKinds(t *testing.T) {
	needRoot(t)
	getppid := bin.syscaller + " getppid 77"
	tests := []struct {
		name, prog, cmd string
		want            []string
	}{
		{"rawtracepoint", `rawtracepoint("sys_enter").filter(arg1 == 110).count()`, getppid, []string{"@count: 77\n"}},
		{"wildcard", `tracepoint("syscalls:sys_enter_getpp*").by(probe).count()`, getppid,
			[]string{"@count[tracepoint:syscalls:sys_enter_getppid]: 77\n"}},
		{"wildcard shares one map", `tracepoint("syscalls:sys_*_getppid").by(probe).count()`, getppid,
			[]string{"@count[tracepoint:syscalls:sys_enter_getppid]: 77\n", "@count[tracepoint:syscalls:sys_exit_getppid]: 77\n"}},
		{"values", `tracepoint("syscalls:sys_enter_getppid").filter(pid == tid && uid == 0 && gid == 0 && nsecs > elapsed && cgroup > 0 && cpu < 4096).count()`, getppid,
			[]string{"@count: 77\n"}},
		{"exit", `tracepoint("syscalls:sys_enter_getppid").print("first").exit()`, bin.syscaller + " sleep 30s", nil},
		{"begin end", `begin().print("hello")
end().print("bye")`, "/bin/true", []string{"hello\nbye\n"}},
		{"top", `tracepoint("syscalls:sys_enter_getppid").by(nsecs).count().top(2)`, getppid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := trace(t, "", "-e", tt.prog, "-c", tt.cmd).mustSucceed(t)
			wantLines(t, r, tt.want...)
			if tt.name == "top" {
				if n := strings.Count(r.stdout, "@count["); n != 2 {
					t.Errorf("top(2) printed %d rows:\n%s", n, r.stdout)
				}
			}
		})
	}
}

func TestExitStopsTracing(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-e", `interval("100ms").print("tick").exit()`).mustSucceed(t)
	if r.stdout != "tick\n" {
		t.Errorf("stdout %q, want one tick", r.stdout)
	}
}

func TestIntervalEveryAndProfile(t *testing.T) {
	needRoot(t)
	// Periods are kernel-timed, their prints Go-timed: leave room for a
	// loaded machine (the tests of other packages run meanwhile).
	r := trace(t, "", "--duration", "1400ms", "-e", `interval("100ms").count().every("500ms")
profile(99).by(cpu).count().as("samples")`).mustSucceed(t)
	header := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\n@count: (\d+)$`)
	ms := header.FindAllStringSubmatch(r.stdout, -1)
	if len(ms) < 2 {
		t.Fatalf("want two periodic prints of @count, got:\n%s", r.stdout)
	}
	for _, m := range ms[:2] {
		n, _ := strconv.Atoi(m[1])
		if n < 3 || n > 7 {
			t.Errorf("a 500ms period of a 100ms interval counted %d:\n%s", n, r.stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^@samples\[0\]: \d+$`).MatchString(r.stdout) {
		t.Errorf("no profile samples of cpu 0:\n%s", r.stdout)
	}
}

func TestPIDFilter(t *testing.T) {
	needRoot(t)
	child := exec.Command(bin.syscaller, "sleep", "30s")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	// The sleeping child makes (almost) no syscalls; others make many.
	r := trace(t, "", "-p", fmt.Sprint(child.Process.Pid), "--duration", "500ms", "-e",
		`tracepoint("raw_syscalls:sys_enter").by(pid).count()`).mustSucceed(t)
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line != "" && !strings.HasPrefix(line, fmt.Sprintf("@count[%d]: ", child.Process.Pid)) {
			t.Errorf("-p %d let through %q", child.Process.Pid, line)
		}
	}
	// The tracer stops when the -p process exits.
	short := exec.Command(bin.syscaller, "sleep", "300ms")
	if err := short.Start(); err != nil {
		t.Fatal(err)
	}
	go short.Wait()
	r = trace(t, "", "-p", fmt.Sprint(short.Process.Pid), "-e", `tracepoint("raw_syscalls:sys_enter").count()`).mustSucceed(t)
	wantLines(t, r, "@count: ")
	r = trace(t, "", "-p", "999999999", "-e", `tracepoint("raw_syscalls:sys_enter").count()`)
	if r.code == 0 || !strings.Contains(r.stderr, "no such process") {
		t.Errorf("-p of a missing process: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestListAndDump(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-l", "syscalls:sys_enter_getpp*").mustSucceed(t)
	if r.stdout != "tracepoint:syscalls:sys_enter_getppid\n" {
		t.Errorf("-l: %q", r.stdout)
	}
	r = trace(t, "", "-l", "sched_switch").mustSucceed(t)
	wantLines(t, r, "tracepoint:sched:sched_switch\n")
	// The stdlib sources list beside the kernel's, their fields with -v.
	r = trace(t, "", "-l", "http.*").mustSucceed(t)
	if got := regexp.MustCompile(`(?m)^\S+`).FindAllString(r.stdout, -1); fmt.Sprint(got) != "[http.client http.server]" {
		t.Errorf("-l http.*: %q", r.stdout)
	}
	r = trace(t, "", "-lv", "goroutine.blocked").mustSucceed(t)
	wantLines(t, r, "goroutine.blocked  one event each time a goroutine", "    uint64   duration   ns from blocking", "    ustack   stack ", "    string   reason ")
	r = trace(t, "", "--dump", "asm", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`).mustSucceed(t)
	wantLines(t, r, "ebt_p0 tracepoint:syscalls:sys_enter_getppid", "Call FnMapLookupElem", "; 1:42 count")
	r = trace(t, "", "--dump", "ast", "-e", `tracepoint("a:b").filter(args->x & 1).count()`).mustSucceed(t)
	wantLines(t, r, "probe tracepoint @1:1", ".filter @1:19", "binary &", "selector .x", ".count @1:39")
}

func TestKernelTypes(t *testing.T) {
	needRoot(t)
	getppid := bin.syscaller + " getppid 5"
	tests := []struct {
		name, prog string
		want       []string
	}{
		{"curtask parent", `tracepoint("syscalls:sys_enter_getppid").by(curtask.real_parent.comm, curtask.comm).count()`,
			[]string{"@count[ebpftrace, syscaller]: 5\n"}},
		{"curtask fields", `tracepoint("syscalls:sys_enter_getppid").filter(curtask.tgid == pid && curtask.pid == tid).count()`,
			[]string{"@count: 5\n"}},
		{"nested structs", `tracepoint("syscalls:sys_enter_getppid").by(curtask.nsproxy.uts_ns.name.sysname).count()`,
			[]string{"@count[Linux]: 5\n"}},
		{"cast walk", `rawtracepoint("sys_enter").filter((*pt_regs)(arg0).orig_ax == 110).count()`,
			[]string{"@count: 5\n"}},
		{"raw tracepoint args", `rawtracepoint("sys_enter").filter(args.id == 110 && args.regs.orig_ax == args.id).count()`,
			[]string{"@count: 5\n"}},
		{"kstack", `tracepoint("syscalls:sys_enter_getppid").by(kstack).count()`,
			[]string{"        do_syscall_64+", "]: 5\n"}},
		{"print kstack", `tracepoint("syscalls:sys_enter_getppid").print("%s", kstack)`,
			[]string{"        do_syscall_64+"}},
		{"ksym ntop", `tracepoint("syscalls:sys_enter_getppid").print("%s %s", ntop(0x0100007f), ksym(0)).exit()`,
			[]string{"127.0.0.1 0x0\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := trace(t, "", "-e", tt.prog, "-c", getppid).mustSucceed(t)
			wantLines(t, r, tt.want...)
		})
	}
}

func TestKernelTypeErrors(t *testing.T) {
	needRoot(t)
	tests := []struct{ prog, want string }{
		{`tracepoint("syscalls:sys_enter_getppid").print("%s", curtask.real_parnt.comm)`,
			"<input>:1:62: struct task_struct has no field \"real_parnt\"\n    tracepoint(\"syscalls:sys_enter_getppid\").print(\"%s\", curtask.real_parnt.comm)\n" + strings.Repeat(" ", 65) + "^\ndid you mean real_parent"},
		{`rawtracepoint("sys_enter").print("%d", (*pt_regz)(arg0).ax)`,
			"<input>:1:42: the kernel has no type \"pt_regz\"\n    rawtracepoint(\"sys_enter\").print(\"%d\", (*pt_regz)(arg0).ax)\n" + strings.Repeat(" ", 45) + "^\ndid you mean pt_regs"},
		{`rawtracepoint("sys_enter").print("%d", args.idd)`, "has no field \"idd\""},
		{`kprobe("do_sys_opn").count()`, "the kernel has no function \"do_sys_opn\""},
	}
	for _, tt := range tests {
		r := trace(t, "", "-e", tt.prog)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant it to contain:\n%s", tt.prog, r.code, r.stderr, tt.want)
		}
	}
}

// TestKprobeFallback: this kernel has no kprobes and refuses fentry; the
// seed example type-checks (args.flags from BTF), shows its code, and then
// fails to attach with both causes and the tracepoints to use instead.
func TestKprobeFallback(t *testing.T) {
	needRoot(t)
	seed := `kprobe("do_sys_open").filter("args->flags & 0x80000").print("open O_CREAT")`
	r := trace(t, "", "--dump", "asm", "-e", seed).mustSucceed(t)
	wantLines(t, r, "ebt_p0 kprobe:do_sys_open (Kprobe", "; 1:23 filter", "; 1:55 print")
	r = trace(t, "", "-e", seed)
	if r.code == 0 {
		if !strings.Contains(r.stderr, "Attached 1 probe") {
			t.Fatalf("exit 0 without attaching:\n%s", r.stderr)
		}
		t.Skip("this kernel attached the kprobe: the clear-error path is not reachable here")
	}
	for _, w := range []string{
		"<input>:1:1: cannot attach kprobe:do_sys_open\n    " + seed + "\n    ^\n",
		"tracepoints that see the same event: ", "syscalls:sys_enter_openat",
		"kprobe:do_sys_open: ", "and its fallback fentry:do_sys_open: ",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if _, err := os.Stat("/sys/bus/event_source/devices/kprobe"); err != nil && !strings.Contains(r.stderr, "this kernel has no kprobes (CONFIG_KPROBES is off)") {
		t.Errorf("the cause is not named:\n%s", r.stderr)
	}
}

func needWorker(t *testing.T) {
	t.Helper()
	if bin.worker == "" {
		t.Skip("skipped: the C example could not be built (no gcc)")
	}
}

// TestUserStacks: user stacks in aggregations are printed after the -c
// command exited, named from its binary and libc.
func TestUserStacks(t *testing.T) {
	needRoot(t)
	needWorker(t)
	r := trace(t, "", "-c", bin.worker+" getppid 3", "-e", `tracepoint("syscalls:sys_enter_getppid").by(ustack).count()`).mustSucceed(t)
	wantLines(t, r, "        getppid+", "        main+", "]: 3\n")
	r = trace(t, "", "-c", bin.syscaller+" getppid 2", "-e", `tracepoint("syscalls:sys_enter_getppid").by(ustack, comm).count()`).mustSucceed(t)
	wantLines(t, r, "        syscall.RawSyscall+", "        main.main+", "        runtime.main+", "syscaller]: 2\n")
}

// TestHotReload edits a script under a running tracer: counts continue
// across a good edit, and a broken edit keeps the old program running.
func TestHotReload(t *testing.T) {
	needRoot(t)
	script := filepath.Join(t.TempDir(), "calls.ebt")
	write := func(text string) {
		// Write to a temporary file and rename, as editors do.
		tmp := script + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, script); err != nil {
			t.Fatal(err)
		}
	}
	// A copy of syscaller under its own name, so that no other process
	// (another test, a benchmark) passes the comm filter.
	caller := filepath.Join(t.TempDir(), "reloadcaller")
	if data, err := os.ReadFile(bin.syscaller); err != nil || os.WriteFile(caller, data, 0o755) != nil {
		t.Fatal("cannot copy syscaller")
	}
	run := func(n int) {
		if out, err := exec.Command(caller, "getppid", fmt.Sprint(n)).CombinedOutput(); err != nil {
			t.Fatalf("syscaller: %v\n%s", err, out)
		}
	}
	write(`tracepoint("syscalls:sys_enter_getppid").filter(comm == "reloadcaller").count().as("calls")` + "\n")
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
	run(10)
	// A good edit: another filter form and a new chain; @calls keeps counting.
	write(`calls := tracepoint("syscalls:sys_enter_getppid").filter("comm == \"reloadcaller\"")
calls.count().as("calls")
calls.by(comm).count()
`)
	waitFor("Reloaded " + script + ": attached 2 probes")
	run(5)
	// A broken edit: the error is shown, the running version stays.
	write(`tracepoint("syscalls:sys_enter_getppid").cout()` + "\n")
	waitFor("does not load; the previous version keeps running")
	waitFor(script + ":1:42: unknown stage \"cout\"")
	waitFor("\n" + strings.Repeat(" ", 4+41) + "^")
	run(7)
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, stderr())
	}
	if !strings.Contains(out.String(), "@calls: 22\n") || !strings.Contains(out.String(), "@count[reloadcaller]: 12\n") {
		t.Errorf("want @calls: 22 (10+5+7 across reloads) and @count[reloadcaller]: 12, got:\n%s\nstderr:\n%s", out.String(), stderr())
	}
}

// TestGoUprobes runs probes on a Go program built in the test.
func TestGoUprobes(t *testing.T) {
	needRoot(t)
	g := bin.gocalls
	plain, err := exec.Command(g, "1").Output()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, prog, n string
		want          []string
	}{
		{"count and sum of arg0", fmt.Sprintf(`uprobe(%q, "main.add").count()
uprobe(%q, "main.add").sum(arg0)
uprobe(%q, "main.add").sum(args.a).as("a")
uprobe(%q, "main.add").sum(arg1).as("b")`, g, g, g, g), "1000", []string{"@count: 1000\n", "@sum: 499500\n", "@a: 499500\n", "@b: 1000\n"}},
		{"string argument", fmt.Sprintf(`uprobe(%q, "main.greet").print("%%s|%%d|%%s", args.name, args.n, gostr(arg0, arg1))`, g), "7", []string{"gopher|7|gopher\n"}},
		{"returns through stack growth", fmt.Sprintf(`uretprobe(%q, "main.depth").stats(retval)`, g), "1",
			[]string{"@stats: count 65, average 32, total 2080\n"}},
		{"latency pairs every call", fmt.Sprintf(`uprobe(%q, "main.add").latency(uretprobe(%q, "main.add")).count()
uprobe(%q, "main.add").latency(uretprobe(%q, "main.add")).filter(elapsed > 0 && elapsed < 1000000000).count().as("sane")`, g, g, g, g), "500",
			[]string{"@count: 500\n", "@sane: 500\n"}},
		{"latency per goroutine", fmt.Sprintf(`uprobe(%q, "main.work").latency(uretprobe(%q, "main.work")).by(goid).count()`, g, g), "1",
			[]string{"]: 10\n"}},
		{"latency through recursion and stack copies", fmt.Sprintf(`uprobe(%q, "main.depth").latency(uretprobe(%q, "main.depth")).count()
uprobe(%q, "main.depth").latency(uretprobe(%q, "main.depth")).max(elapsed)
uprobe(%q, "main.depth").latency(uretprobe(%q, "main.depth")).min(elapsed)`, g, g, g, g, g, g), "1",
			[]string{"@count: 65\n"}},
		{"goroutines", fmt.Sprintf(`uprobe(%q, "main.work").by(goid).count()
uprobe(%q, "main.work").filter(goid > 1).count().as("nonmain")`, g, g), "1", []string{"@nonmain: 40\n"}},
		{"glob", fmt.Sprintf(`uprobe(%q, "main.*d*").by(probe).count()`, g), "3",
			[]string{"@count[uprobe:" + g + ":main.add]: 3\n", "@count[uprobe:" + g + ":main.depth]: 65\n", "@count[uprobe:" + g + ":main.main.func1.deferwrap1]: 4\n"}},
		{"inlined frames in user stacks", `tracepoint("syscalls:sys_enter_getppid").by(ustack).count()`, "1",
			[]string{"        main.parent (inlined)\n        main.stacks+", "]: 1\n"}},
		{"inlined frames of a stripped binary", `tracepoint("syscalls:sys_enter_getppid").by(ustack).count()`, "1",
			[]string{"        main.parent (inlined)\n        main.stacks+", "]: 1\n"}},
		{"stripped binary", fmt.Sprintf(`uprobe(%q, "main.add").sum(arg0)
uretprobe(%q, "main.depth").count()`, bin.stripped, bin.stripped), "10", []string{"@sum: 45\n", "@count: 65\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := g
			if strings.Contains(tt.name, "stripped") {
				target = bin.stripped
			}
			r := trace(t, "", "-e", tt.prog, "-c", target+" "+tt.n).mustSucceed(t)
			wantLines(t, r, tt.want...)
			if tt.name == "latency through recursion and stack copies" {
				// Each call pairs with its own return: the outermost lasts
				// through all 64 calls it makes, the innermost through none.
				var lo, hi int64
				fmt.Sscan(regexp.MustCompile(`@min: (\d+)`).FindStringSubmatch(r.stdout + "@min: 0")[1], &lo)
				fmt.Sscan(regexp.MustCompile(`@max: (\d+)`).FindStringSubmatch(r.stdout + "@max: 0")[1], &hi)
				if lo <= 0 || hi < 10*lo {
					t.Errorf("min %d ns, max %d ns: nested calls did not pair with their own returns", lo, hi)
				}
			}
			if tt.name == "goroutines" && strings.Count(r.stdout, "]: 10\n") != 4 {
				t.Errorf("want 4 goroutines with 10 calls each:\n%s", r.stdout)
			}
			if tt.n == "1" && !strings.Contains(r.stdout, string(plain)) {
				t.Errorf("the traced program's output changed:\n%s\nwant:\n%s", r.stdout, plain)
			}
		})
	}
}

func TestLibcUprobe(t *testing.T) {
	needRoot(t)
	needWorker(t)
	r := trace(t, "", "-c", bin.worker+" getppid 321", "-e", `uprobe("libc", "getppid").count()`).mustSucceed(t)
	wantLines(t, r, "@count: 321\n")
	r = trace(t, "", "-c", bin.worker+" getppid 5", "-e", `uprobe("libc", "getppid").by(ustack).count()`).mustSucceed(t)
	wantLines(t, r, "        getppid+0\n", "        main+", "]: 5\n")
}

func TestUprobeErrors(t *testing.T) {
	needRoot(t)
	tests := []struct{ prog, want string }{
		{`uprobe("/no/such/binary", "main.add").count()`, "<input>:1:8: uprobe: /no/such/binary: no such file"},
		{`uprobe("no-such-command-xyz", "f").count()`, "is not a file, a command on PATH or a library"},
		{fmt.Sprintf(`uprobe(%q, "main.ad").count()`, bin.gocalls), "has no function \"main.ad\""},
		{fmt.Sprintf(`uprobe(%q, "main.ad").count()`, bin.gocalls), "main.add"},
		{fmt.Sprintf(`uprobe(%q, "main.add").print("%%d", args.a)`, bin.stripped), "DWARF"},
		{fmt.Sprintf(`uprobe(%q, "main.add").print("%%d", args.c)`, bin.gocalls), "has no field \"c\""},
		{fmt.Sprintf(`uretprobe(%q, "main.add").print("%%d", arg0)`, bin.gocalls), "arg0 is not available"},
		{`tracepoint("syscalls:sys_enter_getppid").print("%d", goid)`, "goid is only known on user probes of Go binaries"},
	}
	for _, tt := range tests {
		r := trace(t, "", "-e", tt.prog)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "^\n") {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant it to contain %q and a caret", tt.prog, r.code, r.stderr, tt.want)
		}
		if strings.Contains(r.stderr, "Attached") {
			t.Errorf("%s attached probes", tt.prog)
		}
	}
}

func TestListUprobe(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-lv", "uprobe:"+bin.gocalls+":main.*").mustSucceed(t)
	wantLines(t, r, "uprobe:"+bin.gocalls+":main.add\n    a int  // rax\n    b int  // rbx\n", "uprobe:"+bin.gocalls+":main.greet\n    name string  // rax rbx; pointer, length\n")
	r = trace(t, "", "-l", "uprobe:libc:getppid").mustSucceed(t)
	if !strings.HasSuffix(strings.TrimSpace(r.stdout), "libc.so.6:getppid") {
		t.Errorf("-l uprobe:libc:getppid: %q", r.stdout)
	}
}

func TestCUprobes(t *testing.T) {
	needRoot(t)
	needWorker(t)
	w := bin.worker
	r := trace(t, "", "-c", w+" callback 4", "-e", fmt.Sprintf(`uprobe(%q, "call_with").print("%%s %%d", usym(arg0), arg1)
uretprobe(%q, "work").print("work returned %%d", retval)
uprobe(%q, "work").latency(uretprobe(%q, "work")).filter(elapsed > 0).count()`, w, w, w, w)).mustSucceed(t)
	wantLines(t, r, "work 4\n", "work returned ", "@count: 1\n")
}

func TestListKernel(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-lv", "rawtracepoint:sys_enter").mustSucceed(t)
	if r.stdout != "rawtracepoint:sys_enter\n    struct pt_regs * regs\n    long int id\n" {
		t.Errorf("-lv rawtracepoint:sys_enter:\n%s", r.stdout)
	}
	r = trace(t, "", "-lv", "kprobe:do_sys_open").mustSucceed(t)
	wantLines(t, r, "kprobe:do_sys_open\n    int dfd\n    const char * filename\n    int flags\n")
	r = trace(t, "", "-l", "*sys_enter_getppid*").mustSucceed(t)
	wantLines(t, r, "tracepoint:syscalls:sys_enter_getppid\n")
	r = trace(t, "", "-h")
	for _, w := range []string{"-watch", "-l[v]", "-dump", "-duration", "-buffer", "REPL", "ready tool"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("--help does not mention %s", w)
		}
	}
}

// TestDropsAreCounted: every event is either printed or counted as lost,
// and lost ones are reported at exit.
func TestDropsAreCounted(t *testing.T) {
	needRoot(t)
	const n = 30000
	// A one-page ring buffer, so that the reader cannot keep up.
	r := trace(t, "", "--buffer", "4096", "-c", fmt.Sprintf("%s getppid %d", bin.syscaller, n), "-e",
		`tracepoint("syscalls:sys_enter_getppid").print("%d %s %s %s", nsecs, str(args.__syscall_nr, 200), str(args.__syscall_nr, 200), comm)`).mustSucceed(t)
	printed := strings.Count(r.stdout, " syscaller\n")
	lost := 0
	if m := regexp.MustCompile(`(\d+) events were lost`).FindStringSubmatch(r.stderr); m != nil {
		fmt.Sscan(m[1], &lost)
	}
	if printed+lost != n {
		t.Errorf("printed %d + lost %d != %d events\n%s", printed, lost, n, r.stderr)
	}
	if lost == 0 {
		t.Errorf("no event was lost through a one-page ring buffer: the drop path went untested")
	}
	t.Logf("%d printed, %d reported lost", printed, lost)
}

// TestFullMapIsReported: updates a full by() map refuses are counted and
// reported, and with the keys kept they add up to every event.
func TestFullMapIsReported(t *testing.T) {
	needRoot(t)
	const n = 20000
	r := trace(t, "", "-c", fmt.Sprintf("%s getppid %d", bin.syscaller, n), "-e",
		`tracepoint("syscalls:sys_enter_getppid").by(nsecs).count()`).mustSucceed(t)
	kept := strings.Count(r.stdout, "@count[")
	lost := 0
	if m := regexp.MustCompile(`(\d+) aggregation updates were lost: a map was full \(10240 keys\)`).FindStringSubmatch(r.stderr); m != nil {
		fmt.Sscan(m[1], &lost)
	}
	if kept != 10240 || kept+lost != n {
		t.Errorf("kept %d keys (want 10240) and reported %d lost (want %d)\n%s", kept, lost, n-10240, r.stderr)
	}
}

// TestProgramOnStdin: with no program and standard input not a terminal,
// what it reads runs as a script.
func TestProgramOnStdin(t *testing.T) {
	needRoot(t)
	script := filepath.Join(t.TempDir(), "in.ebt")
	os.WriteFile(script, []byte("n := 42\ninterval(\"50ms\").print(\"n=%d\", n).exit()\n"), 0o644)
	r := trace(t, script).mustSucceed(t)
	if r.stdout != "n=42\n" {
		t.Errorf("stdout %q, want n=42", r.stdout)
	}
}
