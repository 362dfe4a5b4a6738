package bench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

var nsPerCall = regexp.MustCompile(`ns/call ([0-9.]+)`)

// BenchmarkUprobeCost is what a uprobe on a Go function costs each call,
// as the traced program feels it: goloop times N calls of main.add with no
// tracer, then under ebpftrace and bpftrace each counting the calls in the
// kernel (uprobe(…, "main.add").count() / uprobe:…:main.add { @ = count(); }).
// The cost per hit is the difference in ns per call; it is mostly the
// kernel's uprobe trap, plus the tracer's program.
func BenchmarkUprobeCost(b *testing.B) {
	needRoot(b)
	ebpftrace, _ := build(b)
	loop := filepath.Join(filepath.Dir(ebpftrace), "goloop")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", loop, "./testdata/goloop").CombinedOutput(); err != nil {
		b.Fatalf("go build goloop: %v\n%s", err, out)
	}
	const calls = 50000
	run := func(b *testing.B, name string, cmd ...string) float64 {
		var sum float64
		for i := 0; i < b.N; i++ {
			out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
			m := nsPerCall.FindSubmatch(out)
			if err != nil || m == nil {
				b.Fatalf("%s: %v\n%s", name, err, out)
			}
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			sum += v
		}
		return sum / float64(b.N)
	}
	var base float64
	b.Run("untraced", func(b *testing.B) {
		base = run(b, "goloop", loop, fmt.Sprint(calls))
		b.ReportMetric(base, "ns/call")
	})
	report := func(b *testing.B, name string, v float64) {
		b.ReportMetric(v, "ns/call")
		b.ReportMetric(v-base, "ns/hit")
		record("uprobe/"+name, v-base)
		b.Logf("%s: %.0f ns per call traced, %.0f ns untraced: %.0f ns per uprobe hit", name, v, base, v-base)
	}
	b.Run("ebpftrace", func(b *testing.B) {
		v := run(b, "ebpftrace", ebpftrace, "-c", fmt.Sprintf("%s %d", loop, calls),
			"-e", fmt.Sprintf(`uprobe(%q, "main.add").count()`, loop))
		report(b, "ebpftrace", v)
	})
	b.Run("bpftrace", func(b *testing.B) {
		bt := needBpftrace(b)
		v := run(b, "bpftrace", bt, "-c", fmt.Sprintf("%s %d", loop, calls),
			"-e", fmt.Sprintf(`uprobe:%s:main.add { @ = count(); }`, loop))
		report(b, "bpftrace", v)
		if e, ok := recorded("uprobe/ebpftrace"); ok {
			b.Logf("ebpftrace's cost per hit is %.2f× bpftrace's", e/(v-base))
		}
	})
}
