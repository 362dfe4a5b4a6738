package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPrint measures how many events a second a tracer prints, text
// and JSON, beside bpftrace on the same workload, with what it lost and
// its peak RSS. Two workloads:
//
//   - dd: `dd if=/dev/zero of=/dev/null bs=1 count=300000`, every read
//     printed with its size and comm (the producer runs at ~600k reads/s
//     on one core; the default 1 MiB ring buffer);
//   - storm: two `syscaller getppid` loops for 1 s on both CPUs, every
//     getppid printed, so the consumer competes with the producers.
//
// events/s is lines printed over the tracer's wall time from start to exit
// (dd) or over the run's duration (storm); lost is what the tracer reported
// lost. Output goes to a file, as `> out.txt` would.
func BenchmarkPrint(b *testing.B) {
	needRoot(b)
	ebpftrace, syscaller := build(b)
	bpftrace, _ := exec.LookPath("bpftrace")
	const ddCount = 300000
	// A full path: bpftrace refuses a name that /bin and /usr/bin both hold.
	ddPath, err := exec.LookPath("dd")
	if err != nil {
		skip(b, "skipped: no dd")
	}
	if p, err := filepath.EvalSymlinks(ddPath); err == nil {
		ddPath = p
	}
	dd := fmt.Sprintf("%s if=/dev/zero of=/dev/null bs=1 count=%d status=none", ddPath, ddCount)
	workloads := []struct {
		name     string
		ours     string
		theirs   string
		cmd      string
		duration time.Duration
	}{
		{"dd", `tracepoint("syscalls:sys_enter_read").print("%d %s", args.count, comm)`,
			`tracepoint:syscalls:sys_enter_read { printf("%d %s\n", args->count, comm); }`, dd, 0},
		{"storm", `tracepoint("syscalls:sys_enter_getppid").filter(comm == "syscaller").print("%d %s", pid, comm)`,
			`tracepoint:syscalls:sys_enter_getppid /comm == "syscaller"/ { printf("%d %s\n", pid, comm); }`, "", time.Second},
	}
	for _, w := range workloads {
		for _, format := range []string{"text", "json"} {
			b.Run(w.name+"/ebpftrace/"+format, func(b *testing.B) {
				args := []string{"-f", format, "-e", w.ours}
				if w.cmd != "" {
					args = append(args, "-c", w.cmd)
				} else {
					args = append(args, "--duration", w.duration.String())
				}
				benchPrint(b, w.duration, syscaller, ebpftrace, args...)
			})
			b.Run(w.name+"/bpftrace/"+format, func(b *testing.B) {
				if bpftrace == "" {
					skip(b, "skipped: bpftrace is not installed (apt-get install bpftrace)")
				}
				args := []string{"-e", w.theirs}
				if format == "json" {
					args = append([]string{"-f", "json"}, args...)
				}
				if w.cmd != "" {
					args = append(args, "-c", w.cmd)
				}
				benchPrint(b, w.duration, syscaller, bpftrace, args...)
			})
		}
	}
}

var (
	ourLost   = regexp.MustCompile(`(\d+) events were lost`)
	theirLost = regexp.MustCompile(`Lost (\d+) events`)
)

// benchPrint runs the tracer b.N times; with a duration, it starts two
// getppid loops once the tracer has attached and stops the tracer after it.
func benchPrint(b *testing.B, duration time.Duration, syscaller, path string, args ...string) {
	var printed, lost int
	var wall time.Duration
	var peak int64
	out := filepath.Join(b.TempDir(), "out")
	for b.Loop() {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(path, args...)
		cmd.Stdout, cmd.Stderr = f, &stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if duration > 0 {
			if !waitAttached(&stderr, out) {
				cmd.Process.Kill()
				b.Fatalf("%s did not attach:\n%s", path, stderr.String())
			}
			start = time.Now()
			var loops []*exec.Cmd
			for range 2 {
				l := exec.Command(syscaller, "getppid", "1000000000")
				l.Start()
				loops = append(loops, l)
			}
			time.Sleep(duration)
			cmd.Process.Signal(syscall.SIGINT)
			for _, l := range loops {
				l.Process.Kill()
				l.Wait()
			}
		}
		err = cmd.Wait()
		elapsed := time.Since(start)
		if duration > 0 {
			elapsed = duration
		}
		f.Close()
		if err != nil {
			b.Fatalf("%s: %v\n%s", path, err, stderr.String())
		}
		n, err := countLines(out)
		if err != nil {
			b.Fatal(err)
		}
		printed += n
		wall += elapsed
		for _, re := range []*regexp.Regexp{ourLost, theirLost} {
			if m := re.FindStringSubmatch(stderr.String()); m != nil {
				l, _ := strconv.Atoi(m[1])
				lost += l
			}
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss)
		}
	}
	b.ReportMetric(float64(printed)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(printed)/float64(b.N), "printed/op")
	b.ReportMetric(float64(lost)/float64(b.N), "lost/op")
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
}

// waitAttached waits until the tracer says it attached: ours "Attached N
// probes" on stderr, bpftrace "Attaching N probes..." (or its JSON
// attached_probes) on stdout.
func waitAttached(stderr *bytes.Buffer, stdout string) bool {
	for range 500 {
		head, _ := os.ReadFile(stdout)
		if bytes.Contains(stderr.Bytes(), []byte("Attached")) || bytes.Contains(head, []byte("ttach")) {
			time.Sleep(50 * time.Millisecond) // bpftrace says it before it has
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// countLines counts a file's lines in a small buffer: the benchmark's own
// RSS is what the tracer starts with after fork, before exec, so it must
// stay small for peak-RSS to be the tracer's.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte("\n"))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
