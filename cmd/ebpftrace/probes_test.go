package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildC compiles C sources with gcc into dir/out, or skips the test.
func buildC(t *testing.T, out string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("skipped: no gcc (apt-get install gcc)")
	}
	full := append([]string{"-o", out}, args...)
	if o, err := exec.Command("gcc", full...).CombinedOutput(); err != nil {
		if strings.Contains(string(o), "sdt.h") {
			t.Skip("skipped: no <sys/sdt.h> (apt-get install systemtap-sdt-dev)")
		}
		t.Fatalf("gcc %v: %v\n%s", full, err, o)
	}
	return out
}

// usdtExample is examples/cusdt built at -O2 and -O0 (arguments in
// registers, and in stack memory), with its library beside them.
var usdtExample struct {
	once       sync.Once
	dir        string
	o2, o0, so string
	skip       string
}

func buildUSDTExample(t *testing.T) {
	t.Helper()
	usdtExample.once.Do(func() {
		dir := filepath.Join(bin.dir, "cusdt")
		os.MkdirAll(dir, 0o755)
		usdtExample.dir = dir
		usdtExample.so = filepath.Join(dir, "libebtusdt.so")
		usdtExample.o2 = filepath.Join(dir, "usdt")
		usdtExample.o0 = filepath.Join(dir, "usdt-O0")
		for _, args := range [][]string{
			{"-O2", "-shared", "-fPIC", "-o", usdtExample.so, "../../examples/cusdt/lib.c"},
			{"-O2", "-o", usdtExample.o2, "../../examples/cusdt/usdt.c", "-L" + dir, "-lebtusdt", "-Wl,-rpath,$ORIGIN"},
			{"-O0", "-o", usdtExample.o0, "../../examples/cusdt/usdt.c", "-L" + dir, "-lebtusdt", "-Wl,-rpath,$ORIGIN"},
		} {
			if _, err := exec.LookPath("gcc"); err != nil {
				usdtExample.skip = "skipped: no gcc (apt-get install gcc)"
				return
			}
			if o, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
				usdtExample.skip = fmt.Sprintf("skipped: cannot build the USDT example (apt-get install systemtap-sdt-dev): %v\n%s", err, o)
				return
			}
		}
	})
	if usdtExample.skip != "" {
		t.Skip(usdtExample.skip)
	}
}

// TestUSDT traces the C example's probes: every argument kind (registers
// of each width, stack memory, a constant, a string), signedness, the
// semaphore (the program fires ebt:guarded only while it is counted up),
// a probe in a library found from the program's RUNPATH before the
// loader maps it, and func.
func TestUSDT(t *testing.T) {
	needRoot(t)
	buildUSDTExample(t)
	prog := `usdt(BIN, "ebt:args").print("args %d %d %d %d %d %d %s %d in %s", arg0, arg1, arg2, arg3, arg4, arg5, str(arg6), arg7, func)
usdt(BIN, "guarded").by(arg0).count()
usdt("libebtusdt", "ebtlib:fire").print("lib %d %s", arg0, str(arg1))`
	for _, exe := range []string{usdtExample.o2, usdtExample.o0} {
		t.Run(filepath.Base(exe), func(t *testing.T) {
			r := trace(t, "", "-c", exe+" 3", "-e", strings.ReplaceAll(prog, "BIN", strconv.Quote(exe))).mustSucceed(t)
			wantLines(t, r, "fired 3, guarded 3\n",
				"args 1 -1 2 -3 -1 250 usdt 7 in fire\n",
				"args 2 -2 4 -3 -1 250 usdt 7 in fire\n",
				"args 3 -3 6 -3 -1 250 usdt 7 in fire\n",
				"lib 1 lib\nlib 2 lib\nlib 3 lib\n",
				"@count[1]: 1\n@count[2]: 1\n@count[3]: 1\n")
			if !strings.Contains(r.stderr, "Attached 3 probes") {
				t.Errorf("stderr: %s", r.stderr)
			}
		})
	}
	// Untraced, nobody holds the semaphore.
	if out, err := exec.Command(usdtExample.o2, "2").Output(); err != nil || string(out) != "fired 2, guarded 0\n" {
		t.Errorf("untraced run: %q %v", out, err)
	}

	t.Run("list", func(t *testing.T) {
		r := trace(t, "", "-l", "usdt:"+usdtExample.o2).mustSucceed(t)
		if r.stdout != "usdt:"+usdtExample.o2+":ebt:args\nusdt:"+usdtExample.o2+":ebt:guarded\n" {
			t.Errorf("-l usdt:\n%s", r.stdout)
		}
		r = trace(t, "", "-lv", "usdt:"+usdtExample.o2+":*:guarded").mustSucceed(t)
		if !regexp.MustCompile(`:ebt:guarded\n    semaphore at 0x[0-9a-f]+\n    int64 arg0 \(%rcx\)\n$`).MatchString(r.stdout) {
			t.Errorf("-lv usdt:\n%s", r.stdout)
		}
	})

	t.Run("errors", func(t *testing.T) {
		r := trace(t, "", "-e", `usdt("`+usdtExample.o2+`", "ebt:args").print("%d", arg8)`)
		if r.code == 0 || !strings.Contains(r.stderr, "has arguments arg0…arg7, not arg8") || !strings.Contains(r.stderr, "^") {
			t.Errorf("arg8: %d\n%s", r.code, r.stderr)
		}
		r = trace(t, "", "-e", `usdt("`+usdtExample.o2+`", "ebt:arg").count()`)
		if r.code == 0 || !strings.Contains(r.stderr, "did you mean ebt:args?") {
			t.Errorf("misspelt probe: %d\n%s", r.code, r.stderr)
		}
	})
}

// TestUSDTPython traces Debian's python3.11, whose probes have
// semaphores and a memory argument (gc__start: -4@112(%rsp)): a script
// that collects generation 1 three times.
func TestUSDTPython(t *testing.T) {
	needRoot(t)
	const python = "/usr/bin/python3.11"
	if _, err := os.Stat(python); err != nil {
		t.Skip("skipped: no " + python + " (apt-get install python3.11)")
	}
	script := filepath.Join(t.TempDir(), "gc3.py")
	os.WriteFile(script, []byte("import gc\nfor i in range(3):\n    gc.collect(1)\n"), 0o644)
	r := trace(t, "", "-c", python+" "+script, "-e", `usdt("`+python+`", "python:gc__start").filter(arg0 == 1).count()`).mustSucceed(t)
	wantLines(t, r, "@count: 3\n")

	// -p: the semaphore of a process already running is counted up too.
	loop := filepath.Join(t.TempDir(), "gcloop.py")
	os.WriteFile(loop, []byte("import gc, time\nfor i in range(600):\n    gc.collect(1)\n    time.sleep(0.01)\n"), 0o644)
	py := exec.Command(python, loop)
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	defer py.Process.Kill()
	r = trace(t, "", "-p", strconv.Itoa(py.Process.Pid), "--duration", "500ms", "-e", `usdt("*", "python:gc__start").filter(arg0 == 1).count()`).mustSucceed(t)
	if !regexp.MustCompile(`(?m)^@count: [1-9]\d*$`).MatchString(r.stdout) {
		t.Errorf("no collections counted in the running python:\n%s\n%s", r.stdout, r.stderr)
	}
}

// TestUprobeEveryBinary: uprobe("*", fn) attaches in every binary of
// the process that has fn (libc's getppid, found from the executable's
// needed libraries before the loader maps them); without -p/-c it is an
// error that says so.
func TestUprobeEveryBinary(t *testing.T) {
	needRoot(t)
	if bin.worker == "" {
		t.Skip("skipped: the C example was not built (no gcc)")
	}
	r := trace(t, "", "-c", bin.worker+" getppid 321", "-e", `uprobe("*", "getppid").by(func).count()`).mustSucceed(t)
	wantLines(t, r, "@count[getppid]: 321\n")
	r = trace(t, "", "-e", `uprobe("*", "getppid").count()`)
	if r.code == 0 || !strings.Contains(r.stderr, `uprobe("*", …) probes every binary of one process: give it with -p PID or -c CMD`) {
		t.Errorf("without -p: %d\n%s", r.code, r.stderr)
	}
}

// TestRawTracepointProbes: a glob over raw tracepoints, and argN past a
// raw tracepoint's arguments refused at compile time with the arguments
// it has.
func TestRawTracepointProbes(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-c", bin.syscaller+" getppid 1000", "-e", `rawtracepoint("sys_*").filter(pid == cpid).by(probe).count()`).mustSucceed(t)
	for _, name := range []string{"sys_enter", "sys_exit"} {
		m := regexp.MustCompile(`@count\[rawtracepoint:` + name + `\]: (\d+)`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no count for %s:\n%s", name, r.stdout)
		}
		if n, _ := strconv.Atoi(m[1]); n < 1000 {
			t.Errorf("%s: %d events, want at least 1000", name, n)
		}
	}
	r = trace(t, "", "-c", bin.syscaller+" getppid 1000", "-e", `rawtracepoint("sys_enter").filter(pid == cpid && arg1 == 110).count()`).mustSucceed(t)
	wantLines(t, r, "@count: 1000\n")
	r = trace(t, "", "-e", `rawtracepoint("sys_enter").print("%d", arg9)`)
	want := "<input>:1:40: rawtracepoint:sys_enter has arguments arg0…arg1, not arg9\n" +
		"    rawtracepoint(\"sys_enter\").print(\"%d\", arg9)\n" +
		"                                           ^\n"
	if r.code == 0 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("arg9: %d\n%s\nwant\n%s", r.code, r.stderr, want)
	}
}

// pageToucher writes one byte to each of N fresh pages (no huge pages),
// so it takes at least N page faults.
const pageToucher = `#include <stdlib.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	char *p = mmap(0, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return 1;
	madvise(p, n * 4096, MADV_NOHUGEPAGE);
	for (long i = 0; i < n; i++) p[i * 4096] = 1;
	return 0;
}
`

// TestPerfEvents: software page faults of a program that touches a known
// number of pages; a hardware counter either counts or, where the
// machine has none (most VMs), fails with a clear error at the source.
func TestPerfEvents(t *testing.T) {
	needRoot(t)
	src := filepath.Join(t.TempDir(), "touch.c")
	os.WriteFile(src, []byte(pageToucher), 0o644)
	touch := buildC(t, filepath.Join(t.TempDir(), "touch"), "-O1", src)
	faults := func(pages int, chain string) int {
		r := trace(t, "", "-c", fmt.Sprintf("%s %d", touch, pages), "-e", chain).mustSucceed(t)
		m := regexp.MustCompile(`(?m)^@count: (\d+)$`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no count:\n%s\n%s", r.stdout, r.stderr)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	few, many := faults(1000, `software("page-faults", 1).count()`), faults(11000, `software("faults", 1).count()`)
	// The same program start-up either way (give or take a few faults of
	// the loader): the difference is the pages.
	if few < 1000 || many-few < 9900 || many-few > 10100 {
		t.Errorf("page faults: %d for 1000 pages, %d for 11000 (want ≥1000, and 10000±100 more)", few, many)
	}
	if n := faults(11000, `software("page-faults").count()`); n < 50 || n > many/100+50 {
		t.Errorf("default period 100: %d samples for %d faults", n, many)
	}
	r := trace(t, "", "-c", touch+" 10", "-e", `hardware("cycles", 100000).count()`)
	switch {
	case r.code == 0 && regexp.MustCompile(`@count: [1-9]\d*\n`).MatchString(r.stdout):
	case r.code != 0 && strings.Contains(r.stderr, "cannot attach hardware:cpu-cycles:100000") &&
		strings.Contains(r.stderr, "no hardware performance counter") && strings.Contains(r.stderr, "^"):
		t.Log("this machine has no hardware counters: the error says so")
	default:
		t.Errorf("hardware cycles: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = trace(t, "", "-l", "software:*faults")
	if !strings.Contains(r.stdout, "software:page-faults\n") || !strings.Contains(r.stdout, "software:major-faults\n") {
		t.Errorf("-l software:\n%s", r.stdout)
	}
}

// TestNewValues: func on a glob of user functions, cpid, username,
// ncpus and strftime, against what the test knows.
func TestNewValues(t *testing.T) {
	needRoot(t)
	if bin.worker == "" {
		t.Skip("skipped: the C example was not built (no gcc)")
	}
	r := trace(t, "", "-c", bin.worker+" getppid 5", "-e", `uprobe("`+bin.worker+`", "w*").by(func).count()`).mustSucceed(t)
	wantLines(t, r, "@count[work]: 1\n")

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	r = trace(t, "", "-c", bin.syscaller+" getppid 1", "-e",
		`tracepoint("syscalls:sys_enter_getppid").print("%d %d %s %d %s", pid, cpid, username, ncpus, strftime("%Y-%m-%d %H:%M", nsecs))`).mustSucceed(t)
	after := time.Now()
	m := regexp.MustCompile(`(?m)^(\d+) (\d+) (\S+) (\d+) (\d{4}-\d\d-\d\d \d\d:\d\d)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no line:\n%s", r.stdout)
	}
	if m[1] != m[2] {
		t.Errorf("pid %s is not cpid %s", m[1], m[2])
	}
	if m[3] != me.Username {
		t.Errorf("username %q, want %q", m[3], me.Username)
	}
	if n, _ := strconv.Atoi(m[4]); n < 1 || n > 4096 {
		t.Errorf("ncpus %s", m[4])
	}
	if m[5] != before.Format("2006-01-02 15:04") && m[5] != after.Format("2006-01-02 15:04") {
		t.Errorf("strftime gave %s, the clock said %s…%s", m[5], before.Format("15:04"), after.Format("15:04"))
	}
}
