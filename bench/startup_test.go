package bench

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStartup times a whole one-liner run, from exec to exit: parse,
// compile, load, attach, run /bin/true, print the count, detach. ns/op is
// that wall time; ms-to-result is the time until the count is printed (the
// user has the answer then; what follows is the detach); peak-RSS-MiB is
// the largest resident set the tracer (or a child it reaped) reached over
// all runs, as wait4 reports it.
func BenchmarkStartup(b *testing.B) {
	b.Run("ebpftrace", func(b *testing.B) {
		needRoot(b)
		ebpftrace, _ := build(b)
		benchStartup(b, "ebpftrace", regexp.MustCompile(`(?m)^@count: \d+$`), ebpftrace,
			"-e", `tracepoint("syscalls:sys_enter_getppid").count()`, "-c", "/bin/true")
	})
	b.Run("bpftrace", func(b *testing.B) {
		needRoot(b)
		bpftrace := needBpftrace(b)
		benchStartup(b, "bpftrace", regexp.MustCompile(`(?m)^@: \d+$`), bpftrace,
			"-e", `tracepoint:syscalls:sys_enter_getppid { @ = count(); }`, "-c", "/bin/true")
	})
}

func benchStartup(b *testing.B, name string, want *regexp.Regexp, path string, args ...string) {
	var maxRSS int64 // KiB
	var wall, toResult time.Duration
	runs := 0
	for b.Loop() {
		cmd := exec.Command(path, args...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
		var out bytes.Buffer
		var resultAt time.Duration
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if resultAt == 0 && want.MatchString(sc.Text()) {
				resultAt = time.Since(start)
			}
		}
		err = cmd.Wait()
		timer.Stop()
		wall += time.Since(start)
		toResult += resultAt
		runs++
		if err != nil {
			b.Fatalf("%s %q: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, out.String(), errb.String())
		}
		if resultAt == 0 {
			b.Fatalf("%s printed no line matching %s, so the run is not measured\nstdout:\n%s\nstderr:\n%s", name, want, out.String(), errb.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > maxRSS {
			maxRSS = ru.Maxrss
		}
	}
	result := toResult / time.Duration(runs)
	b.ReportMetric(float64(result.Microseconds())/1000, "ms-to-result")
	record("result/"+name, float64(result))
	rssMiB := float64(maxRSS) / 1024
	b.ReportMetric(rssMiB, "peak-RSS-MiB")
	mean := wall / time.Duration(runs)
	record("startup/"+name, float64(mean))
	record("startup-rss/"+name, rssMiB)
	b.Logf("%s: %v from start to exit, %v to the printed result (mean of %d runs), peak RSS %.1f MiB", name, mean.Round(time.Microsecond), result.Round(time.Microsecond), runs, rssMiB)
	if name == "bpftrace" {
		if e, ok := recorded("startup/ebpftrace"); ok {
			rss, _ := recorded("startup-rss/ebpftrace")
			r, _ := recorded("result/ebpftrace")
			b.Logf("ebpftrace: %.3f of bpftrace's wall time to exit and %.3f of its time to the printed result (target <= 0.10), %.1f MiB peak RSS (target <= 20 MiB)", e/float64(mean), r/float64(result), rss)
		}
	}
}
