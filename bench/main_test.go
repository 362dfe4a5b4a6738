// Package bench compares ebpftrace with bpftrace and with hand-written
// eBPF: how long a one-liner takes from start to exit and how much memory
// it needs (BenchmarkStartup), and what one event costs inside the kernel
// (BenchmarkEventCost). See README.md for how to run them and the figures.
//
// The package has no tests, only benchmarks: `go test ./bench/` builds
// nothing and passes at once. The benchmarks load real BPF programs, so
// they need root; the bpftrace side also needs bpftrace. Without either
// they skip and say why.
package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	events = flag.Int("events", 200000, "getppid calls (so probe runs) per EventCost measurement")
	pinCPU = flag.String("syscaller-cpu", "last", "CPU to run syscaller on in EventCost: last (the highest this process may use), none, or a number")
)

// bins holds ebpftrace and syscaller, built once into a temporary
// directory the first time a benchmark needs them.
var bins struct {
	once      sync.Once
	err       error
	dir       string
	ebpftrace string
	syscaller string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// build returns the paths of the ebpftrace and syscaller binaries.
func build(b *testing.B) (ebpftrace, syscaller string) {
	b.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "ebpftrace-bench")
		if err != nil {
			bins.err = err
			return
		}
		bins.dir = dir
		bins.ebpftrace = filepath.Join(dir, "ebpftrace")
		bins.syscaller = filepath.Join(dir, "syscaller")
		for _, t := range []struct{ out, pkg string }{
			{bins.ebpftrace, "../cmd/ebpftrace"},
			{bins.syscaller, "../examples/syscaller"},
		} {
			out, err := exec.Command("go", "build", "-buildvcs=false", "-o", t.out, t.pkg).CombinedOutput()
			if err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", t.pkg, err, out)
				return
			}
		}
	})
	if bins.err != nil {
		b.Fatal(bins.err)
	}
	return bins.ebpftrace, bins.syscaller
}

// skip skips b, printing why even without -v (go test shows a skipped
// benchmark's log only with -v).
func skip(b *testing.B, reason string) {
	b.Helper()
	if !testing.Verbose() {
		fmt.Printf("--- SKIP: %s: %s\n", b.Name(), reason)
	}
	b.Skip(reason)
}

func needRoot(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		skip(b, "skipped: loading and attaching BPF programs needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN); run the benchmarks as root")
	}
}

// needBpftrace returns bpftrace's path, or skips.
func needBpftrace(b *testing.B) string {
	b.Helper()
	path, err := exec.LookPath("bpftrace")
	if err != nil {
		skip(b, "skipped: bpftrace is not installed (e.g. apt-get install bpftrace), so there is nothing to compare with")
	}
	return path
}

// results keeps figures of sub-benchmarks already run, so that later ones
// can log a ratio to them.
var results = struct {
	sync.Mutex
	m map[string]float64
}{m: map[string]float64{}}

func record(key string, v float64) {
	results.Lock()
	defer results.Unlock()
	results.m[key] = v
}

func recorded(key string) (float64, bool) {
	results.Lock()
	defer results.Unlock()
	v, ok := results.m[key]
	return v, ok
}
