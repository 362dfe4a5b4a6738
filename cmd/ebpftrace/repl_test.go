package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"
	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/tracefs"
)

// testREPL is a REPL without a terminal, its tracepoints read from the
// copy of a tracefs tree in internal/tracefs/testdata.
func testREPL() (*repl, *bytes.Buffer) {
	var out bytes.Buffer
	tp := &tracefs.FS{Root: "../../internal/tracefs/testdata/tracefs"}
	return &repl{
		c:      &config{},
		stdout: &out, stderr: &out,
		cenv:      &compiler.Env{Tracepoints: tp},
		env:       func(pid int) *compiler.Env { return &compiler.Env{Tracepoints: tp, PID: pid} },
		argsCache: map[string][]string{},
	}, &out
}

func TestNeedsMore(t *testing.T) {
	for text, want := range map[string]bool{
		`tracepoint("a:b").count()`:                false,
		`tracepoint("a:b").`:                       true,
		`tracepoint("a:b")`:                        false,
		`tracepoint("a:b").filter(`:                true,
		`tracepoint("a:b").filter(pid == 1 &&`:     true,
		`tracepoint("a:b").print("(%d", pid)`:      false,
		`tracepoint("a:b").print("%d", pid) // (`:  false,
		"tracepoint(\"a:b\").filter(\n  pid == 1)": false,
		"n := `a":         true,
		"/* a":            true,
		`n :=`:            true,
		`tracepoint("a:b`: false, // the parser reports it
		``:                false,
	} {
		if got := needsMore(text); got != want {
			t.Errorf("needsMore(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestHistoryEntry(t *testing.T) {
	for text, want := range map[string]string{
		`tracepoint("a:b").count()`:                                              `tracepoint("a:b").count()`,
		"tracepoint(\"a:b\").\n  filter(pid == 1).\n  count()":                   `tracepoint("a:b").filter(pid == 1).count()`,
		"tracepoint(\"a:b\").filter(\n  pid == 1 && // one\n  comm == \"x//y\")": `tracepoint("a:b").filter(pid == 1 && comm == "x//y")`,
	} {
		if got := historyEntry(text); got != want {
			t.Errorf("historyEntry(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestCompletion(t *testing.T) {
	r, _ := testREPL()
	r.remember(mustParse(t, `reads := tracepoint("syscalls:sys_enter_openat")`), `reads := tracepoint("syscalls:sys_enter_openat")`)
	r.remember(mustParse(t, `limit := 4096`), `limit := 4096`)
	tests := []struct {
		pending, line string
		head          string   // what stays before the completion
		want          []string // exactly these, unless contains
		contains      bool
	}{
		// Tracepoint names inside tracepoint("…"): categories, then names.
		{line: `tracepoint("sch`, head: `tracepoint("`, want: []string{"sched:"}},
		{line: `tracepoint("syscalls:sys_enter_exe`, head: `tracepoint("`, want: []string{`syscalls:sys_enter_execve")`}},
		{line: `tracepoint("syscalls:sys_enter_openat`, head: `tracepoint("`, want: []string{"syscalls:sys_enter_openat", "syscalls:sys_enter_openat2"}},
		{line: `tracepoint("sys_enter_exe`, head: `tracepoint("`, want: []string{`syscalls:sys_enter_execve")`}},
		{line: `rawtracepoint("sys_en`, head: `rawtracepoint("`, want: []string{"sys_enter", "sys_enter_execve", "sys_enter_landlock_create_ruleset", "sys_enter_open", "sys_enter_openat", "sys_enter_openat2"}},
		// args fields of the probe being typed, also through a binding
		// and across lines.
		{line: `tracepoint("syscalls:sys_enter_openat").print("%s", args.fi`, head: `tracepoint("syscalls:sys_enter_openat").print("%s", args.`, want: []string{"filename"}},
		{line: `tracepoint("syscalls:sys_enter_openat").filter(args->`, head: `tracepoint("syscalls:sys_enter_openat").filter(args->`, want: []string{"__syscall_nr", "dfd", "filename", "flags", "mode"}},
		{line: `reads.filter(args.fl`, head: `reads.filter(args.`, want: []string{"flags"}},
		{pending: "tracepoint(\"syscalls:sys_enter_openat\").\n", line: `filter(args.mo`, head: `filter(args.`, want: []string{"mode"}},
		{line: `tracepoint("syscalls:sys_enter_openat").print("%s ar`, head: `tracepoint("syscalls:sys_enter_openat").print("%s ar`},
		// Stages after ").", and after a bound chain.
		{line: `tracepoint("syscalls:sys_enter_openat").cou`, head: `tracepoint("syscalls:sys_enter_openat").`, want: []string{"count()"}},
		{line: `tracepoint("syscalls:sys_enter_openat").by(comm).h`, head: `tracepoint("syscalls:sys_enter_openat").by(comm).`, want: []string{"hist("}},
		{line: `reads.co`, head: `reads.`, want: []string{"count()"}},
		// Values and functions inside arguments.
		{line: `tracepoint("syscalls:sys_enter_openat").filter(pi`, head: `tracepoint("syscalls:sys_enter_openat").filter(`, want: []string{"pid"}},
		{line: `tracepoint("syscalls:sys_enter_openat").print("%s", st`, head: `tracepoint("syscalls:sys_enter_openat").print("%s", `, want: []string{"str(", "strftime(", "strings.Contains(", "strings.HasPrefix(", "strings.HasSuffix("}},
		{line: `tracepoint("syscalls:sys_enter_openat").filter(args.count < lim`, head: `tracepoint("syscalls:sys_enter_openat").filter(args.count < `, want: []string{"limit"}},
		// Probe sources where a statement starts.
		{line: `tr`, head: ``, want: []string{`tracepoint("`}},
		{line: `be`, head: ``, want: []string{"begin()"}},
		{line: `x := tracepoint("a:b").count(); inter`, head: `x := tracepoint("a:b").count(); `, want: []string{`interval("`}},
		{line: `n := tr`, head: `n := `, want: []string{`tracepoint("`}},
		{line: ``, head: ``, want: []string{`tracepoint("`, `interval("`, "reads"}, contains: true},
		// Commands.
		{line: `:l`, head: ``, want: []string{":list"}},
		{line: `:list sysc`, head: `:list `, want: []string{"syscalls:"}},
		{line: `:list -v sysc`, head: `:list -v `, want: []string{"syscalls:"}},
		{line: `:dump tracepoint("syscalls:sys_enter_openat").cou`, head: `:dump tracepoint("syscalls:sys_enter_openat").`, want: []string{"count()"}},
	}
	for _, tt := range tests {
		r.pending = tt.pending
		head, items, tail := r.complete(tt.line+" tail", len([]rune(tt.line)))
		if head != tt.head || tail != " tail" {
			t.Errorf("complete(%q): head %q tail %q, want %q and \" tail\"", tt.line, head, tail, tt.head)
		}
		if tt.contains {
			for _, w := range tt.want {
				if !slices.Contains(items, w) {
					t.Errorf("complete(%q) = %q, lacks %q", tt.line, items, w)
				}
			}
		} else if !slices.Equal(items, tt.want) {
			t.Errorf("complete(%q) = %q, want %q", tt.line, items, tt.want)
		}
	}
}

func mustParse(t *testing.T, text string) *dsl.Program {
	t.Helper()
	p, err := dsl.Parse(replInputName, text)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBindings: earlier bindings are put before an input that uses them,
// errors still point into the input as typed, and a name bound again
// replaces the old binding.
func TestBindings(t *testing.T) {
	r, out := testREPL()
	for _, in := range []string{"n := 5", "m := n + 1; unused := 7", `reads := tracepoint("syscalls:sys_enter_openat")`} {
		r.bind(in)
	}
	if got := out.String(); !strings.Contains(got, "bound m, unused") {
		t.Errorf("bind printed %q", got)
	}
	in := "reads.filter(pid != m).count()"
	if got, want := r.prefixFor(in, mustParse(t, in)), "n := 5\nm := n + 1\nreads := tracepoint(\"syscalls:sys_enter_openat\")\n"; got != want {
		t.Errorf("prefix %q, want %q", got, want)
	}
	in = "n := 9; tracepoint(\"syscalls:sys_enter_openat\").filter(pid != m).count()"
	if got, want := r.prefixFor(in, mustParse(t, in)), "m := n + 1\n"; got != want {
		t.Errorf("prefix %q, want %q", got, want)
	}
	if p, _ := r.compile("reads.filter(pid != m).count()", r.cenv); p == nil {
		t.Fatalf("compile with bindings failed:\n%s", out)
	}
	out.Reset()
	if p, _ := r.compile("reads.filter(pid != m).\n  cout()", r.cenv); p != nil {
		t.Fatal("cout() compiled")
	}
	want := "<input>:2:3: unknown stage \"cout\"\n      cout()\n      ^\ndid you mean count?\n"
	if out.String() != want {
		t.Errorf("error rendered as\n%s\nwant\n%s", out, want)
	}
	r.bind("n := 6")
	if got := r.bindings[len(r.bindings)-1]; got.text != "n := 6" || len(r.bindings) != 4 {
		t.Errorf("bindings after rebinding n: %+v", r.bindings)
	}
}

// tmuxREPL drives the built ebpftrace in a tmux pane, as a user would.
type tmuxREPL struct {
	t      *testing.T
	sock   string
	target string
}

func (p *tmuxREPL) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// keys sends tmux key names (Tab, Enter, C-c, Up).
func (p *tmuxREPL) keys(keys ...string) {
	p.t.Helper()
	p.tmux(append([]string{"send-keys", "-t", p.target}, keys...)...)
}

// typeText types s literally.
func (p *tmuxREPL) typeText(s string) {
	p.t.Helper()
	p.tmux("send-keys", "-t", p.target, "-l", s)
}

// screen is the visible pane, wrapped lines joined, trailing blanks cut.
func (p *tmuxREPL) screen() string {
	p.t.Helper()
	lines := strings.Split(p.tmux("capture-pane", "-p", "-J", "-t", p.target), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// waitFor polls the screen until ok holds, for 20 s at most.
func (p *tmuxREPL) waitFor(what string, ok func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := p.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s; the screen:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *tmuxREPL) waitForText(s string) string {
	p.t.Helper()
	return p.waitFor(strconv.Quote(s), func(screen string) bool { return strings.Contains(screen, s) })
}

// atPrompt: the last line of the screen is an empty prompt.
func atPrompt(screen string) bool {
	lines := strings.Split(screen, "\n")
	return strings.TrimSpace(lines[len(lines)-1]) == strings.TrimSpace(replPrompt)
}

// fresh drops any unfinished input and clears the screen, so that what a
// step then sees is its own.
func (p *tmuxREPL) fresh() {
	p.t.Helper()
	p.keys("C-c")
	p.keys("C-l")
	p.tmux("clear-history", "-t", p.target)
	p.waitFor("a clear screen with the prompt", func(s string) bool {
		return strings.TrimSpace(s) == strings.TrimSpace(replPrompt)
	})
}

func (p *tmuxREPL) pid() int {
	p.t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(p.tmux("display-message", "-p", "-t", p.target, "#{pane_pid}")))
	if err != nil {
		p.t.Fatal(err)
	}
	return pid
}

// dead reports that the pane's process has ended and tmux has its exit
// status. tmux can see the pane close and then miss the SIGCHLD, leaving
// the process a zombie until another child of the server exits; a
// run-shell makes one.
func (p *tmuxREPL) dead() bool {
	f := strings.Fields(p.tmux("list-panes", "-t", p.target, "-F", "#{pane_dead} #{pane_dead_status}"))
	if len(f) == 1 && f[0] == "1" {
		p.tmux("run-shell", "true")
	}
	return len(f) == 2 && f[0] == "1"
}

// bpfProg is one entry of `bpftool -j prog show`.
type bpfProg struct {
	ID   int      `json:"id"`
	Name string   `json:"name"`
	Pids []bpfPid `json:"pids"`
}

// bpfPid is a process holding a program.
type bpfPid struct {
	Pid int `json:"pid"`
}

// heldBy reports whether pid holds the program.
func (p bpfProg) heldBy(pid int) bool {
	return slices.ContainsFunc(p.Pids, func(o bpfPid) bool { return o.Pid == pid })
}

// ebtPrograms lists the loaded ebt_ programs; ok is false without bpftool.
func ebtPrograms(t *testing.T) (progs []bpfProg, ok bool) {
	t.Helper()
	out, err := exec.Command("bpftool", "-j", "prog", "show").Output()
	if err != nil {
		return nil, false
	}
	var all []bpfProg
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if strings.HasPrefix(p.Name, "ebt_") {
			progs = append(progs, p)
		}
	}
	return progs, true
}

// TestREPLInTmux runs the REPL in a tmux pane: completion of tracepoint
// names, args fields and stages; a chain that runs until Ctrl-C, prints
// its count and detaches; a compile error that keeps the session; and the
// history kept across a restart.
func TestREPLInTmux(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	hist := filepath.Join(dir, "history")
	p := startTmuxREPL(t, dir, hist, "")
	pid := p.pid()

	t.Run("complete tracepoint name", func(t *testing.T) {
		p.t = t
		p.fresh()
		p.typeText(`tracepoint("syscalls:sys_enter_getpp`)
		p.keys("Tab")
		p.waitForText(replPrompt + `tracepoint("syscalls:sys_enter_getppid")`)
	})

	t.Run("complete args field", func(t *testing.T) {
		p.t = t
		p.fresh()
		p.typeText(`tracepoint("syscalls:sys_enter_openat").print("%s", args.fi`)
		p.keys("Tab")
		p.waitForText(`.print("%s", args.filename`)
	})

	t.Run("complete stage", func(t *testing.T) {
		p.t = t
		p.fresh()
		p.typeText(`tracepoint("syscalls:sys_enter_getppid").cou`)
		p.keys("Tab")
		p.waitForText(`tracepoint("syscalls:sys_enter_getppid").count()`)
	})

	t.Run("run until Ctrl-C", func(t *testing.T) {
		p.t = t
		p.fresh()
		before, haveBpftool := ebtPrograms(t)
		p.typeText(`tracepoint("syscalls:sys_enter_getppid").count()`)
		p.keys("Enter")
		p.waitForText("Attached 1 probe")
		// While it runs, bpftool shows its program: owned by the REPL's
		// pid, or, where bpftool cannot say who holds a program, new.
		var ours []int
		if haveBpftool {
			deadline := time.Now().Add(10 * time.Second)
			for len(ours) == 0 {
				progs, _ := ebtPrograms(t)
				for _, pr := range progs {
					owned := pr.heldBy(pid)
					isNew := len(pr.Pids) == 0 && !slices.ContainsFunc(before, func(b bpfProg) bool { return b.ID == pr.ID })
					if owned || isNew {
						ours = append(ours, pr.ID)
					}
				}
				if len(ours) == 0 && time.Now().After(deadline) {
					t.Fatalf("bpftool shows no ebt_ program of the REPL (pid %d) while the chain runs: %+v", pid, progs)
				}
				time.Sleep(50 * time.Millisecond)
			}
		} else {
			t.Log("bpftool is not installed: not checking what is loaded")
		}
		if out, err := exec.Command(bin.syscaller, "getppid", "3").CombinedOutput(); err != nil {
			t.Fatalf("syscaller: %v\n%s", err, out)
		}
		p.keys("C-c")
		screen := p.waitFor("@count and the prompt after Ctrl-C", func(s string) bool {
			return strings.Contains(s, "@count:") && atPrompt(s)
		})
		m := regexp.MustCompile(`@count: (\d+)`).FindStringSubmatch(screen)
		if n, _ := strconv.Atoi(m[1]); n < 3 {
			t.Errorf("@count: %d, want at least the 3 getppid calls made:\n%s", n, screen)
		}
		if p.pid() != pid || p.dead() {
			t.Fatalf("the REPL did not survive Ctrl-C:\n%s", screen)
		}
		if haveBpftool {
			deadline := time.Now().Add(10 * time.Second)
			for {
				progs, _ := ebtPrograms(t)
				var left []bpfProg
				for _, pr := range progs {
					if slices.Contains(ours, pr.ID) || pr.heldBy(pid) {
						left = append(left, pr)
					}
				}
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after Ctrl-C these programs are still loaded: %+v", left)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	})

	const bad = `tracepoint("syscalls:sys_enter_openat").cout()`
	t.Run("compile error keeps the session", func(t *testing.T) {
		p.t = t
		p.fresh()
		p.typeText(bad)
		p.keys("Enter")
		screen := p.waitFor("the error and the prompt", func(s string) bool {
			return strings.Contains(s, "did you mean count?") && atPrompt(s)
		})
		want := `<input>:1:41: unknown stage "cout"` + "\n    " + bad + "\n" + strings.Repeat(" ", 44) + "^\ndid you mean count?\n" + strings.TrimSpace(replPrompt)
		if !strings.Contains(screen, want) {
			t.Errorf("the screen:\n%s\nlacks:\n%s", screen, want)
		}
		if p.pid() != pid || p.dead() {
			t.Fatalf("the REPL ended after a compile error:\n%s", screen)
		}
	})

	t.Run("history survives a restart", func(t *testing.T) {
		p.t = t
		p.fresh()
		p.keys("C-d")
		p.waitFor("the REPL to end on Ctrl-D", func(string) bool { return p.dead() })
		b, err := os.ReadFile(hist)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(b), "tracepoint(\"syscalls:sys_enter_getppid\").count()\n"+bad+"\n") {
			t.Errorf("history file:\n%s", b)
		}
		p.tmux("respawn-pane", "-t", p.target)
		p.waitFor("the prompt after the restart", atPrompt)
		if p.pid() == pid {
			t.Fatal("respawn-pane did not start a new REPL")
		}
		p.fresh()
		p.keys("Up")
		p.waitForText(replPrompt + bad)
		p.keys("Up")
		p.waitForText(replPrompt + `tracepoint("syscalls:sys_enter_getppid").count()`)
		p.keys("C-c")
		p.typeText(":quit")
		p.keys("Enter")
		p.waitFor("the REPL to end on :quit", func(string) bool { return p.dead() })
		if st := p.tmux("list-panes", "-t", p.target, "-F", "#{pane_dead_status}"); strings.TrimSpace(st) != "0" {
			t.Errorf(":quit exit status %s", st)
		}
	})
}

// startTmuxREPL starts ebpftrace's REPL (with args, e.g. flags) in a tmux
// pane of its own server under dir, its history in history, and waits for
// the prompt. It skips when tmux is missing.
func startTmuxREPL(t *testing.T, dir, history, args string) *tmuxREPL {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("skipped: tmux is not installed (apt-get install tmux); the REPL test types into a tmux pane")
	}
	p := &tmuxREPL{t: t, sock: filepath.Join(dir, "tmux.sock"), target: "repl"}
	// A first session keeps the server up and sets remain-on-exit before
	// the REPL's pane exists, so that its end can be seen.
	p.tmux("-f", "/dev/null", "new-session", "-d", "-s", "keep", "sleep 3600")
	t.Cleanup(func() { exec.Command("tmux", "-S", p.sock, "kill-server").Run() })
	p.tmux("set-option", "-g", "remain-on-exit", "on")
	p.tmux("new-session", "-d", "-s", "repl", "-x", "220", "-y", "50",
		strings.TrimSpace(fmt.Sprintf("exec env EBPFTRACE_HISTORY=%s %s %s", shellQuote(history), shellQuote(bin.ebpftrace), args)))
	p.waitFor("the prompt", atPrompt)
	return p
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestKernelFunctionCompletion completes kernel function names from the
// running kernel's BTF inside kprobe(" and its kin.
func TestKernelFunctionCompletion(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("skipped: this kernel has no BTF")
	}
	r, _ := testREPL()
	r.cenv.KernelBTF = btf.LoadKernelSpec
	for _, src := range []string{"kprobe", "kretprobe", "fentry", "fexit"} {
		line := src + `("do_sys_ope`
		head, items, _ := r.complete(line, len(line))
		if head != src+`("` || !slices.Contains(items, "do_sys_open") || !slices.Contains(items, "do_sys_openat2") {
			t.Errorf("complete(%q): head %q, items %q", line, head, items)
		}
	}
	line := `kprobe("do_sys_openat`
	if _, items, _ := r.complete(line, len(line)); !slices.Equal(items, []string{`do_sys_openat2")`}) {
		t.Errorf("complete(%q) = %q, want the one name, closed", line, items)
	}
}

// TestBindingsFoundByTheLexer: a binding is put before an input that
// uses it after an operator such as ">" or inside a filter string (both
// missed by the REPL's former scanner of its own).
func TestBindingsFoundByTheLexer(t *testing.T) {
	r, out := testREPL()
	for _, in := range []string{"limit := 4096", `who := "bash"`} {
		r.bind(in)
	}
	for in, want := range map[string]string{
		`tracepoint("syscalls:sys_enter_openat").filter(args.flags > limit).count()`: "limit := 4096\n",
		`tracepoint("syscalls:sys_enter_openat").filter("comm == who").count()`:      "who := \"bash\"\n",
	} {
		if got := r.prefixFor(in, mustParse(t, in)); got != want {
			t.Errorf("prefix for %s: %q, want %q", in, got, want)
		}
		if p, _ := r.compile(in, r.cenv); p == nil {
			t.Errorf("%s does not compile with its bindings:\n%s", in, out)
		}
	}
}

// TestREPLExporters: in the REPL each input is a run for the exporters:
// --metrics serves its counts while it runs and stops with it, and the
// next input serves its own.
func TestREPLExporters(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	caller := filepath.Join(dir, "replcaller")
	if data, err := os.ReadFile(bin.syscaller); err != nil || os.WriteFile(caller, data, 0o755) != nil {
		t.Fatal("cannot copy syscaller")
	}
	p := startTmuxREPL(t, dir, filepath.Join(dir, "history"), "--metrics 127.0.0.1:0")
	serving := regexp.MustCompile(`Serving metrics at (http://\S+/metrics)`)
	for i, n := range []int{4, 7} {
		p.fresh()
		p.typeText(`tracepoint("syscalls:sys_enter_getppid").filter(comm == "replcaller").count().export("calls")`)
		p.keys("Enter")
		screen := p.waitForText("Attached 1 probe")
		m := serving.FindStringSubmatch(screen)
		if m == nil {
			t.Fatalf("input %d: no metrics address:\n%s", i+1, screen)
		}
		if out, err := exec.Command(caller, "getppid", strconv.Itoa(n)).CombinedOutput(); err != nil {
			t.Fatalf("syscaller: %v\n%s", err, out)
		}
		want := fmt.Sprintf("calls_total %d\n", n)
		var body string
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(body, want) {
			if time.Now().After(deadline) {
				t.Fatalf("input %d: %s lacks %q:\n%s", i+1, m[1], want, body)
			}
			time.Sleep(100 * time.Millisecond)
			if resp, err := http.Get(m[1]); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
			}
		}
		p.keys("C-c")
		p.waitFor("the prompt after Ctrl-C", func(s string) bool { return strings.Contains(s, fmt.Sprintf("@count: %d", n)) && atPrompt(s) })
		if resp, err := http.Get(m[1]); err == nil {
			resp.Body.Close()
			t.Errorf("input %d: %s still answers after its run ended", i+1, m[1])
		}
	}
}
