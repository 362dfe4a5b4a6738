package prometheus

import (
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
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
		{"hist", "hist", func(i int) agg.Value { return buckets(map[int]uint64{10: 1, 12: uint64(i), 16: 3}) }},
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
