package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// traceWhile runs a script in the background, does what act says once the
// probes are attached, and returns what the tracer printed after SIGINT.
func traceWhile(t *testing.T, args []string, act func()) result {
	t.Helper()
	cmd := exec.Command(bin.ebpftrace, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr := startAndWaitAttached(t, cmd)()
	act()
	time.Sleep(300 * time.Millisecond) // let the last events reach the ring buffer reader
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	r := result{stdout: out.String(), stderr: stderr(), code: cmd.ProcessState.ExitCode()}
	if err != nil {
		t.Fatalf("%v: %v\nstdout:\n%s\nstderr:\n%s", args, err, r.stdout, r.stderr)
	}
	return r
}

// TestScripts runs every ready tool in scripts/ and checks it prints what
// its header promises.
func TestScripts(t *testing.T) {
	needRoot(t)
	r := trace(t, "", "-l", "scripts").mustSucceed(t)
	for _, name := range []string{"execsnoop", "opensnoop", "syscount", "runqlat", "tcpconnect", "biolatency",
		"bashreadline", "killsnoop", "tcpretrans", "syscall-latency"} {
		if !strings.Contains(r.stdout, name+" ") {
			t.Errorf("-l scripts does not list %s:\n%s", name, r.stdout)
		}
	}

	t.Run("execsnoop", func(t *testing.T) {
		prog := filepath.Join(t.TempDir(), "uniqueexec")
		data, _ := os.ReadFile(bin.syscaller)
		os.WriteFile(prog, data, 0o755)
		var pid, pid2 int
		long := strings.Repeat("x", 200)
		many := []string{"exec", "/nonexistent-ebpftrace", long}
		for i := 0; i < 20; i++ {
			many = append(many, fmt.Sprint(i))
		}
		r := traceWhile(t, []string{"execsnoop"}, func() {
			c := exec.Command(prog, "getppid", "1")
			c.Run()
			pid = c.Process.Pid
			// An exec that fails (ENOENT), with more arguments than are
			// shown, one longer than is shown.
			c = exec.Command(prog, many...)
			c.Run()
			pid2 = c.Process.Pid
		})
		header := "TIME     PID     PPID    COMM             RET ARGS\n"
		line := regexp.MustCompile(fmt.Sprintf(`(?m)^\d\d:\d\d:\d\d +%d +%d +uniqueexec +0 %s getppid 1$`, pid, os.Getpid(), regexp.QuoteMeta(prog)))
		if !strings.HasPrefix(r.stdout, header) || !line.MatchString(r.stdout) {
			t.Errorf("want the header and a line `TIME %d %d uniqueexec 0 %s getppid 1`, got:\n%s", pid, os.Getpid(), prog, r.stdout)
		}
		// Its error, and 16 arguments, the long one cut at 127 bytes.
		args := "/nonexistent-ebpftrace " + long[:127] + "… 0 1 2 3 4 5 6 7 8 9 10 11 12 13 …"
		failed := regexp.MustCompile(fmt.Sprintf(`(?m)^\d\d:\d\d:\d\d +%d +%d +uniqueexec +-2 %s$`, pid2, os.Getpid(), regexp.QuoteMeta(args)))
		if !failed.MatchString(r.stdout) {
			t.Errorf("want a line `TIME %d %d uniqueexec -2 %s`, got:\n%s", pid2, os.Getpid(), args, r.stdout)
		}
		// -f json: structured fields named after the script's bindings.
		r = traceWhile(t, []string{"-f", "json", "execsnoop"}, func() { exec.Command(prog, "getppid", "1").Run() })
		if !strings.Contains(r.stdout, `"ppid":`+fmt.Sprint(os.Getpid())) || !strings.Contains(r.stdout, `"argv":"`+prog+` getppid 1"`) ||
			!strings.Contains(r.stdout, `"ret":0`) || !regexp.MustCompile(`"time":"\d\d:\d\d:\d\d"`).MatchString(r.stdout) {
			t.Errorf("json lacks time, ppid, ret and argv fields:\n%s", r.stdout)
		}
	})

	t.Run("opensnoop", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing")
		r := trace(t, "", "opensnoop", "-c", bin.syscaller+" open /etc/hostname "+missing).mustSucceed(t)
		// syscaller prints the fd each open returned.
		fd := regexp.MustCompile(`(?m)^/etc/hostname (\d+)$`).FindStringSubmatch(r.stdout)
		if fd == nil {
			t.Fatalf("syscaller did not open /etc/hostname:\n%s", r.stdout)
		}
		for _, want := range []string{
			`(?m)^TIME +PID +COMM +FD ERR FLAGS +PATH$`,
			fmt.Sprintf(`(?m)^\d\d:\d\d:\d\d +\d+ +syscaller +%s +0 +0x80000 +/etc/hostname$`, fd[1]),
			fmt.Sprintf(`(?m)^\d\d:\d\d:\d\d +\d+ +syscaller +-1 +2 +0x80000 +%s$`, regexp.QuoteMeta(missing)),
		} {
			if !regexp.MustCompile(want).MatchString(r.stdout) {
				t.Errorf("no line matching %s:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("opensnoop PID", func(t *testing.T) {
		// The parameter: only this process's opens show.
		mine := filepath.Join(t.TempDir(), "mine")
		r := traceWhile(t, []string{"opensnoop", fmt.Sprint(os.Getpid())}, func() {
			os.Open(mine)
			exec.Command("cat", "/etc/hostname").Run()
		})
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^\d\d:\d\d:\d\d +%d +\S+ +-1 +2 +0x80000 +%s$`, os.Getpid(), regexp.QuoteMeta(mine))).MatchString(r.stdout) {
			t.Errorf("no line for %s opened by %d:\n%s", mine, os.Getpid(), r.stdout)
		}
		if strings.Contains(r.stdout, " cat ") {
			t.Errorf("another process's opens show:\n%s", r.stdout)
		}
		// A parameter too many, of the wrong type, or unknown: the usage.
		for _, args := range [][]string{{"opensnoop", "1", "2"}, {"opensnoop", "bash"}, {"opensnoop", "pid=1"}} {
			r := trace(t, "", args...)
			if r.code != 2 || !strings.Contains(r.stderr, "Usage: ebpftrace opensnoop [PID]") || !strings.Contains(r.stderr, "target ") {
				t.Errorf("%q: exit %d, want 2 and the usage:\n%s", args, r.code, r.stderr)
			}
		}
	})

	t.Run("syscount", func(t *testing.T) {
		r := trace(t, "", "syscount", "-c", bin.syscaller+" getppid 1000").mustSucceed(t)
		wantLines(t, r, "@syscalls[110]: 1000\n") // getppid on x86-64
		if !regexp.MustCompile(`(?m)^@calls\[syscaller\]: \d{4,}$`).MatchString(r.stdout) {
			t.Errorf("no @calls[syscaller] of at least 1000:\n%s", r.stdout)
		}
	})

	t.Run("runqlat", func(t *testing.T) {
		r := traceWhile(t, []string{"runqlat"}, func() {
			for i := 0; i < 20; i++ {
				exec.Command(bin.syscaller, "sleep", "1ms").Run()
			}
		})
		if !regexp.MustCompile(`(?m)^@runqlat_us:\n(\[|\().* +\d+ \|@*`).MatchString(r.stdout) {
			t.Errorf("no run-queue latency histogram:\n%s", r.stdout)
		}
	})

	t.Run("tcpconnect", func(t *testing.T) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		// The listener sees the source port the kernel picked.
		sports := make(chan int, 1)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				select {
				case sports <- c.RemoteAddr().(*net.TCPAddr).Port:
				default:
				}
				c.Close()
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		r := trace(t, "", "tcpconnect", "-c", fmt.Sprintf("%s connect 127.0.0.1:%d", bin.syscaller, port)).mustSucceed(t)
		sport := <-sports
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^\d\d:\d\d:\d\d +\d+ +syscaller +127\.0\.0\.1 +%d +127\.0\.0\.1 +%d$`, sport, port)).MatchString(r.stdout) {
			t.Errorf("no connection line from port %d to port %d:\n%s", sport, port, r.stdout)
		}
	})

	t.Run("biolatency", func(t *testing.T) {
		dir, err := os.MkdirTemp(".", "bio")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) == nil && (st.Type == 0x01021994 || st.Type == 0x9123683e) { // tmpfs, btrfs
			t.Skip("skipped: the test directory is not on a plain block device")
		}
		r := traceWhile(t, []string{"biolatency"}, func() {
			out, err := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(dir, "f"), "bs=4k", "count=64", "oflag=direct").CombinedOutput()
			if err != nil {
				t.Skipf("skipped: direct I/O is not possible here: %v %s", err, out)
			}
		})
		if !strings.Contains(r.stdout, "@biolatency_us:\n") || !regexp.MustCompile(`(?m)^@ios\[\d+, W\S*\]: \d+$`).MatchString(r.stdout) {
			t.Errorf("no block latency histogram or write requests:\n%s", r.stdout)
		}
	})
}
