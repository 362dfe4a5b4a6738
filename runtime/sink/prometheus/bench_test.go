package prometheus

import (
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/tracefs"
	"github.com/ebpftrace/ebpftrace/runtime"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// BenchmarkScrape is one scrape of /metrics (collect, gather, text
// encoding) of a 10,000-key aggregation, the rows already read: what the
// exporter adds to Session.Snapshot's map reads (which the e2e benchmark
// in cmd/ebpftrace includes).
func BenchmarkScrape(b *testing.B) {
	const keys = 10000
	for _, tt := range []struct {
		name string
		kind string
		val  func(i int) agg.Value
	}{
		{"count", "count", func(i int) agg.Value { return agg.Value{Count: int64(i)} }},
		// 8 buckets published per key (one empty below, 7 with values).
		{"hist", "hist", func(i int) agg.Value { return buckets(map[int]uint64{10: 1, 12: uint64(i), 16: 3}, int64(i)*3000) }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			a := aggOf(b, tt.kind, tt.kind, "bench", "comm", "pid")
			rows := make([]sink.Row, keys)
			for i := range rows {
				rows[i] = row(tt.val(i), "worker-"+strconv.Itoa(i%100), uint64(i))
			}
			src := &fakeSource{aggs: []*compiler.Aggregation{a}, snaps: map[string]*sink.Snapshot{a.Name: snapOf(a, rows...)}}
			e := New(nil)
			e.Live(src)
			h := promhttp.HandlerFor(e.Registry(), promhttp.HandlerOpts{})
			req := httptest.NewRequest("GET", "/metrics", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkScrapeKernel is a whole scrape of a 10,000-key aggregation
// kept in the kernel: Session.Snapshot reads the per-CPU hash map (one
// lookup per key and CPU batch), then the exporter and client_golang
// publish it. The keys are the sizes this process asks of read(2), 1 to
// 10,000.
func BenchmarkScrapeKernel(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipped: loading BPF programs needs root")
	}
	src := fmt.Sprintf(`tracepoint("syscalls:sys_enter_read").filter(pid == %d).by(args.count).count().export("reads")`, os.Getpid())
	p, err := dsl.Parse("", src)
	if err != nil {
		b.Fatal(err)
	}
	prog, err := compiler.Compile(p, &compiler.Env{Tracepoints: &tracefs.Lazy{}})
	if err != nil {
		b.Fatal(dsl.Render(err, p.Source))
	}
	e := New(nil)
	sess, err := runtime.Start(prog, runtime.Options{Sinks: []sink.Sink{e}})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	f, err := os.Open("/dev/zero")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 10000)
	for n := 1; n <= 10000; n++ {
		if _, err := syscall.Read(int(f.Fd()), buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
	e.Live(sess)
	snap, err := sess.Snapshot("count")
	if err != nil || len(snap.Rows) < 10000 {
		b.Fatalf("%d keys, %v", len(snap.Rows), err)
	}
	h := promhttp.HandlerFor(e.Registry(), promhttp.HandlerOpts{})
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
