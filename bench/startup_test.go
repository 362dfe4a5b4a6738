package bench

import (
	"bytes"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStartup times a whole one-liner run, from exec to exit: parse,
// compile, load, attach, run /bin/true, print the count, detach. ns/op is
// that wall time; peak-RSS-MiB is the largest resident set the tracer (or a
// child it reaped) reached over all runs, as wait4 reports it.
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
	var wall time.Duration
	runs := 0
	for b.Loop() {
		cmd := exec.Command(path, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
		err := cmd.Wait()
		timer.Stop()
		wall += time.Since(start)
		runs++
		if err != nil {
			b.Fatalf("%s %q: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, out.String(), errb.String())
		}
		if !want.Match(out.Bytes()) {
			b.Fatalf("%s printed no line matching %s, so the run is not measured\nstdout:\n%s\nstderr:\n%s", name, want, out.String(), errb.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > maxRSS {
			maxRSS = ru.Maxrss
		}
	}
	rssMiB := float64(maxRSS) / 1024
	b.ReportMetric(rssMiB, "peak-RSS-MiB")
	mean := wall / time.Duration(runs)
	record("startup/"+name, float64(mean))
	record("startup-rss/"+name, rssMiB)
	b.Logf("%s: %v from start to exit (mean of %d runs), peak RSS %.1f MiB", name, mean.Round(time.Microsecond), runs, rssMiB)
	if name == "bpftrace" {
		if e, ok := recorded("startup/ebpftrace"); ok {
			rss, _ := recorded("startup-rss/ebpftrace")
			b.Logf("ebpftrace: %.3f of bpftrace's wall time (target <= 0.10), %.1f MiB peak RSS (target <= 20 MiB)", e/float64(mean), rss)
		}
	}
}
