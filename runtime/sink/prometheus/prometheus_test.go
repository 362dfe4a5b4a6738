package prometheus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// fakeSource is a session's aggregations as a test writes them.
type fakeSource struct {
	aggs  []*compiler.Aggregation
	snaps map[string]*sink.Snapshot
	lost  sink.Lost
	reads int
}

func (f *fakeSource) Aggregations() []*compiler.Aggregation { return f.aggs }
func (f *fakeSource) Lost() sink.Lost                       { return f.lost }
func (f *fakeSource) Snapshot(name string) (*sink.Snapshot, error) {
	f.reads++
	s, ok := f.snaps[name]
	if !ok {
		return nil, fmt.Errorf("no aggregation @%s", name)
	}
	return s, nil
}

// aggOf describes an aggregation of kind with by() keys written as keys.
func aggOf(t testing.TB, kind, name, export string, keys ...string) *compiler.Aggregation {
	t.Helper()
	k, ok := agg.Lookup(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	a := &compiler.Aggregation{Name: name, Kind: k, Export: export, Pos: dsl.Pos{Line: 1, Col: 1}}
	for i, key := range keys {
		f := compiler.Field{Name: key, Offset: 8 * i, Size: 8}
		if key == "ustack" || key == "kstack" {
			f.Kind = compiler.FieldStack
		}
		a.Keys = append(a.Keys, f)
	}
	return a
}

func snapOf(a *compiler.Aggregation, rows ...sink.Row) *sink.Snapshot {
	s := &sink.Snapshot{Name: a.Name, Kind: a.Kind, Params: a.Params, Export: a.Export, Duration: a.Duration, Rows: rows}
	for _, k := range a.Keys {
		s.KeyNames = append(s.KeyNames, k.Name)
	}
	return s
}

func row(v agg.Value, key ...sink.Value) sink.Row { return sink.Row{Key: key, Value: v} }

// buckets makes a histogram value with count c in each bucket index.
func buckets(idx map[int]uint64, sum int64) agg.Value {
	n := 0
	for i := range idx {
		n = max(n, i+1)
	}
	v := agg.Value{Buckets: make([]uint64, n), Sum: sum}
	for i, c := range idx {
		v.Buckets[i] = c
	}
	return v
}

const lostText = `
# HELP ebpftrace_lost_events_total Events the kernel could not deliver: the ring buffer was full.
# TYPE ebpftrace_lost_events_total counter
ebpftrace_lost_events_total 0
# HELP ebpftrace_lost_updates_total Aggregation updates the kernel refused: a map was full.
# TYPE ebpftrace_lost_updates_total counter
ebpftrace_lost_updates_total 0
`

func TestCollect(t *testing.T) {
	count := aggOf(t, "count", "count", "")
	byComm := aggOf(t, "count", "calls", "syscalls", "comm")
	sum := aggOf(t, "sum", "bytes", "read_bytes", "args.fd", "str(args.filename)")
	sum.Signed = true
	lat := aggOf(t, "hist", "hist", "wait")
	lat.Duration = true
	lh := aggOf(t, "lhist", "lhist", "sizes")
	lh.Params = agg.Params{Min: 0, Max: 30, Step: 10}
	avg := aggOf(t, "avg", "avg", "size_avg", "pid")
	stats := aggOf(t, "stats", "stats", "size")
	mx := aggOf(t, "max", "max", "")
	stack := aggOf(t, "count", "stacks", "", "ustack")

	tests := []struct {
		name string
		aggs []*compiler.Aggregation
		rows map[*compiler.Aggregation][]sink.Row
		want string
		note string
	}{
		{
			name: "without export every aggregation is ebpftrace_<name>; keyless ones exist at zero",
			aggs: []*compiler.Aggregation{count, mx},
			want: `
# HELP ebpftrace_count_total ebpftrace @count: count(), at <input>:1:1
# TYPE ebpftrace_count_total counter
ebpftrace_count_total 0
`,
		},
		{
			name: "by keys are labels; only exported aggregations when some are",
			aggs: []*compiler.Aggregation{count, byComm},
			rows: map[*compiler.Aggregation][]sink.Row{count: {row(agg.Value{Count: 9})}, byComm: {row(agg.Value{Count: 3}, "bash"), row(agg.Value{Count: 1000}, "syscaller")}},
			want: `
# HELP syscalls_total ebpftrace @calls: count(), at <input>:1:1
# TYPE syscalls_total counter
syscalls_total{comm="bash"} 3
syscalls_total{comm="syscaller"} 1000
`,
		},
		{
			name: "sum: signed values, labels named after the field and the string read",
			aggs: []*compiler.Aggregation{sum},
			rows: map[*compiler.Aggregation][]sink.Row{sum: {row(agg.Value{Sum: -5}, int64(3), "/etc/passwd"), row(agg.Value{Sum: 4096}, int64(-1), "bad\xffname")}},
			want: `
# HELP read_bytes_total ebpftrace @bytes: sum(x), at <input>:1:1
# TYPE read_bytes_total counter
read_bytes_total{fd="-1",filename="bad�name"} 4096
read_bytes_total{fd="3",filename="/etc/passwd"} -5
`,
		},
		{
			name: "a histogram of nanoseconds: seconds, buckets from one below the smallest to the largest",
			aggs: []*compiler.Aggregation{lat},
			// [2^21, 2^22) ns: 3 values; [2^23, 2^24): 1; 18 ms in all.
			rows: map[*compiler.Aggregation][]sink.Row{lat: {row(buckets(map[int]uint64{23: 3, 25: 1}, 18e6))}},
			want: `
# HELP wait_seconds ebpftrace @hist: hist(x) in seconds, at <input>:1:1
# TYPE wait_seconds histogram
wait_seconds_bucket{le="0.002097152"} 0
wait_seconds_bucket{le="0.004194304"} 3
wait_seconds_bucket{le="0.008388608"} 3
wait_seconds_bucket{le="0.016777216"} 4
wait_seconds_bucket{le="+Inf"} 4
wait_seconds_sum 0.018
wait_seconds_count 4
`,
		},
		{
			name: "lhist publishes all its buckets",
			aggs: []*compiler.Aggregation{lh},
			rows: map[*compiler.Aggregation][]sink.Row{lh: {row(buckets(map[int]uint64{2: 5, 4: 1}, 5*15+35))}},
			want: `
# HELP sizes ebpftrace @lhist: lhist(x, min, max, step), at <input>:1:1
# TYPE sizes histogram
sizes_bucket{le="0"} 0
sizes_bucket{le="10"} 0
sizes_bucket{le="20"} 5
sizes_bucket{le="30"} 5
sizes_bucket{le="+Inf"} 6
sizes_sum 110
sizes_count 6
`,
		},
		{
			name: "avg is an exact gauge; a key without values yet has none",
			aggs: []*compiler.Aggregation{avg},
			rows: map[*compiler.Aggregation][]sink.Row{avg: {row(agg.Value{Count: 2, Sum: 5}, uint64(42)), row(agg.Value{}, uint64(7))}},
			want: `
# HELP size_avg ebpftrace @avg: avg(x), at <input>:1:1
# TYPE size_avg gauge
size_avg{pid="42"} 2.5
`,
		},
		{
			name: "stats is a summary with min and max gauges",
			aggs: []*compiler.Aggregation{stats},
			rows: map[*compiler.Aggregation][]sink.Row{stats: {row(agg.Value{Count: 4, Sum: 100, Min: 1, Max: 70})}},
			want: `
# HELP size ebpftrace @stats: stats(x), at <input>:1:1
# TYPE size summary
size_sum 100
size_count 4
# HELP size_max largest value of ebpftrace @stats: stats(x), at <input>:1:1
# TYPE size_max gauge
size_max 70
# HELP size_min smallest value of ebpftrace @stats: stats(x), at <input>:1:1
# TYPE size_min gauge
size_min 1
`,
		},
		{
			name: "stack keys are not published, and the user is told",
			aggs: []*compiler.Aggregation{stack, count},
			rows: map[*compiler.Aggregation][]sink.Row{count: {row(agg.Value{Count: 2})}},
			want: `
# HELP ebpftrace_count_total ebpftrace @count: count(), at <input>:1:1
# TYPE ebpftrace_count_total counter
ebpftrace_count_total 2
`,
			note: "@stacks is keyed by ustack",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{aggs: tt.aggs, snaps: map[string]*sink.Snapshot{}}
			for _, a := range tt.aggs {
				src.snaps[a.Name] = snapOf(a, tt.rows[a]...)
			}
			var notes bytes.Buffer
			e := New(&notes)
			e.Live(src)
			if err := testutil.GatherAndCompare(e.Registry(), strings.NewReader(tt.want+lostText)); err != nil {
				t.Error(err)
			}
			if !strings.Contains(notes.String(), tt.note) || tt.note == "" && notes.Len() > 0 {
				t.Errorf("notes %q, want %q", notes.String(), tt.note)
			}
		})
	}
}

func TestLabelNames(t *testing.T) {
	tests := []struct {
		keys []string
		want string
	}{
		{[]string{"comm"}, "comm"},
		{[]string{"args.fd", "str(args.filename)", "route"}, "fd filename route"},
		{[]string{"args->fd"}, "fd"},
		{[]string{"comm", "curtask.real_parent.comm"}, "comm curtask_real_parent_comm"},
		{[]string{"args.le", "args.quantile", "args.__x"}, "key_le key_quantile x"},
		{[]string{"pid / 1000"}, "pid_1000"},
		{[]string{"(*sock)(arg0).__sk_common.skc_dport"}, "skc_dport"},
		{[]string{"usym(arg0)", "hex(arg1)"}, "arg0 arg1"},
	}
	for _, tt := range tests {
		var keys []compiler.Field
		for _, k := range tt.keys {
			keys = append(keys, compiler.Field{Name: k})
		}
		if got := strings.Join(labelNames(keys), " "); got != tt.want {
			t.Errorf("labelNames(%q) = %q, want %q", tt.keys, got, tt.want)
		}
	}
}

// every(): counters and histograms add up the periods (a counter never
// goes down); gauges show the last period; scrapes do not read the maps.
func TestEvery(t *testing.T) {
	c := aggOf(t, "count", "count", "ticks", "comm")
	c.Every = time.Second
	g := aggOf(t, "max", "max", "peak")
	g.Every = time.Second
	src := &fakeSource{aggs: []*compiler.Aggregation{c, g}}
	e := New(nil)
	e.Live(src)
	period := func(at time.Time, n int64, peak int64) {
		for _, s := range []*sink.Snapshot{
			snapOf(c, row(agg.Value{Count: n}, "a")),
			snapOf(g, row(agg.Value{Count: 1, Min: peak, Max: peak})),
		} {
			s.Time = at
			if err := e.Aggregation(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	period(time.Unix(1, 0), 3, 10)
	period(time.Unix(2, 0), 4, 7)
	want := `
# HELP peak ebpftrace @max: max(x), at <input>:1:1
# TYPE peak gauge
peak 7
# HELP ticks_total ebpftrace @count: count(), at <input>:1:1
# TYPE ticks_total counter
ticks_total{comm="a"} 7
`
	if err := testutil.GatherAndCompare(e.Registry(), strings.NewReader(want), "ticks_total", "peak"); err != nil {
		t.Error(err)
	}
	if src.reads != 0 {
		t.Errorf("scrapes of every() aggregations read the maps %d times", src.reads)
	}
}

// After the session ends, the last values stay published: what it handed
// over at exit, and the lost counts.
func TestAfterTheSession(t *testing.T) {
	c := aggOf(t, "count", "count", "")
	src := &fakeSource{aggs: []*compiler.Aggregation{c}, snaps: map[string]*sink.Snapshot{"count": snapOf(c, row(agg.Value{Count: 1}))}, lost: sink.Lost{Events: 2}}
	e := New(nil)
	e.Live(src)
	if err := e.Aggregation(snapOf(c, row(agg.Value{Count: 5}))); err != nil {
		t.Fatal(err)
	}
	e.Live(nil)
	src.snaps = nil // the maps are gone
	want := `
# HELP ebpftrace_count_total ebpftrace @count: count(), at <input>:1:1
# TYPE ebpftrace_count_total counter
ebpftrace_count_total 5
# HELP ebpftrace_lost_events_total Events the kernel could not deliver: the ring buffer was full.
# TYPE ebpftrace_lost_events_total counter
ebpftrace_lost_events_total 2
`
	if err := testutil.GatherAndCompare(e.Registry(), strings.NewReader(want), "ebpftrace_count_total", "ebpftrace_lost_events_total"); err != nil {
		t.Error(err)
	}
}

// The server binds before tracing starts, serves /metrics, and stops.
func TestListen(t *testing.T) {
	if _, err := New(nil).Listen("127.0.0.1:-1"); err == nil || !strings.Contains(err.Error(), "--metrics 127.0.0.1:-1") {
		t.Errorf("bad address: %v", err)
	}
	e := New(nil)
	c := aggOf(t, "count", "count", "hits")
	e.Live(&fakeSource{aggs: []*compiler.Aggregation{c}, snaps: map[string]*sink.Snapshot{"count": snapOf(c, row(agg.Value{Count: 42}))}})
	srv, err := e.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hits_total 42\n") {
		t.Errorf("/metrics:\n%s", body)
	}
	if err := srv.Close(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := http.Get("http://" + srv.Addr() + "/metrics"); err == nil {
		t.Error("still serving after Close")
	}
}

// Scrapes run on the HTTP server's goroutines while the session hands
// over periods and comes and goes (go test -race).
func TestConcurrentScrapes(t *testing.T) {
	c := aggOf(t, "count", "count", "hits", "comm")
	e := New(nil)
	src := &fakeSource{aggs: []*compiler.Aggregation{c}, snaps: map[string]*sink.Snapshot{"count": snapOf(c, row(agg.Value{Count: 1}, "a"))}}
	reg := e.Registry()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 200 {
		switch i % 3 {
		case 0:
			e.Live(src)
		case 1:
			e.Aggregation(snapOf(c, row(agg.Value{Count: int64(i)}, "a")))
		case 2:
			e.Live(nil)
		}
	}
	<-done
}
