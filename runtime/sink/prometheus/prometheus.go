// Package prometheus publishes a session's aggregations as Prometheus
// metrics (--metrics ADDR): a sink beside text and JSON, and a
// prometheus.Collector that reads the kernel's maps when it is scraped,
// through Session.Snapshot, so a scrape always sees the counts of that
// moment and nothing is copied between scrapes.
//
// Which aggregations: those marked .export("name"); when a program marks
// none, every aggregation, as ebpftrace_<name>. Aggregations keyed by a
// stack are never metrics (--pprof writes them).
//
// How each kind becomes a metric (agg.Kind.Metric):
//
//	count()              counter   name_total
//	sum(x)               counter   name_total
//	hist(x), lhist(…),   histogram name_bucket{le=…}, name_count, name_sum
//	quantiles(x)
//	avg(x), min, max     gauge     name
//	stats(x)             summary   name_count, name_sum; gauges name_min, name_max
//
// by() keys become labels, named after the key (`comm`, `args.fd` → fd,
// `str(args.filename)` → filename, a bound name → that name).
//
// Durations: when the aggregated value is nanoseconds of time (`elapsed`,
// a stdlib `duration`, or a metric named *_seconds; compiler.Aggregation
// .Duration), values and bucket bounds are published in seconds and the
// name ends in _seconds, Prometheus' base unit.
//
// Histogram buckets: a bucket's `le` is its exclusive upper bound as the
// text output shows it ([4K, 8K) → le="8192"), so a value equal to a bound
// is counted in the next bucket, as it is printed. A power-of-two
// histogram publishes the buckets from the one below the smallest value
// seen to the largest seen, a range that only grows, so every series
// keeps its buckets; lhist publishes all of its buckets.
//
// .every(period) keeps its meaning: the metric changes once a period.
// Counters and histograms add up the periods (a Prometheus counter never
// goes down); gauges and summaries show the last period. Without every()
// each scrape reads the maps. .top(n) limits printing only.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// DefaultPrefix names the aggregations of a program without .export().
const DefaultPrefix = "ebpftrace_"

// Exporter is a sink (sink.Sink and sink.Live) and a prom.Collector.
// Register it with a registry, or serve it with Listen.
type Exporter struct {
	notes io.Writer

	mu  sync.Mutex
	src sink.Source
	// aggs are the published aggregations of the current program, in its
	// order; state of the same name and shape survives a --watch reload.
	aggs []*aggState
	// lost is the last lost count read, served once the session is gone.
	lost sink.Lost
	// noted: aggregations already explained to the user.
	noted map[string]bool
	// ran: a session has run (Live was called with one).
	ran bool
}

// New returns an Exporter; notes (may be nil) is told which aggregations
// are not published, and why.
func New(notes io.Writer) *Exporter {
	if notes == nil {
		notes = io.Discard
	}
	return &Exporter{notes: notes, noted: map[string]bool{}}
}

// aggState is one published aggregation.
type aggState struct {
	a *compiler.Aggregation
	m *metricDef
	// lo and hi are the bucket range a power-of-two histogram publishes
	// (lo > hi: none yet).
	lo, hi int
	// periods holds, for every() aggregations, the sum of the finished
	// periods (counters, histograms) or the last period (gauges), by key.
	periods *rowSet
	// last is the last snapshot read; final marks the one handed over at
	// exit, which stays until the next program.
	last  *sink.Snapshot
	final bool
}

// Live implements sink.Live: from now on scrapes read src (nil: the
// session has ended; scrapes serve what was read last).
func (e *Exporter) Live(src sink.Source) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if src == nil {
		if e.src != nil {
			e.lost = e.src.Lost()
		}
		e.src = nil
		return
	}
	e.src, e.ran = src, true
	old := map[string]*aggState{}
	for _, s := range e.aggs {
		old[s.a.Name] = s
	}
	all := true
	for _, a := range src.Aggregations() {
		if a.Export != "" {
			all = false
		}
	}
	e.aggs = e.aggs[:0]
	for _, a := range src.Aggregations() {
		if a.Export == "" && !all {
			continue
		}
		if k := stackKey(a); k != "" {
			if !e.noted[a.Name] {
				e.noted[a.Name] = true
				fmt.Fprintf(e.notes, "ebpftrace: --metrics: @%s is keyed by %s, which is not a metric label; it is not published (--pprof writes stacks)\n", a.Name, k)
			}
			continue
		}
		s := &aggState{a: a, m: newMetricDef(a), lo: 1, hi: 0}
		if o := old[a.Name]; o != nil && o.a.SameShape(a) && o.m.name == s.m.name {
			s.lo, s.hi, s.periods = o.lo, o.hi, o.periods
			s.last = o.last
		}
		e.aggs = append(e.aggs, s)
	}
}

// Ran reports whether a session has run with e: there are final values
// to serve.
func (e *Exporter) Ran() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ran
}

// stackKey names a's first stack key, if any.
func stackKey(a *compiler.Aggregation) string {
	for _, k := range a.Keys {
		if k.Kind == compiler.FieldStack {
			return k.Name
		}
	}
	return ""
}

// Event implements sink.Sink; events are not metrics.
func (e *Exporter) Event(*sink.Event) error { return nil }

// Aggregation implements sink.Sink: an every() period's end folds the
// period into the published totals; the snapshot at exit is kept, and
// served until the next program.
func (e *Exporter) Aggregation(snap *sink.Snapshot) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.state(snap.Name)
	if s == nil {
		return nil
	}
	if s.a.Every > 0 {
		if s.periods == nil {
			s.periods = newRowSet()
		}
		if s.m.cumulative() {
			s.periods.add(snap, s.a.Signed)
		} else if len(snap.Rows) > 0 || !snap.Time.IsZero() {
			s.periods.replace(snap)
		}
	}
	if snap.Time.IsZero() {
		s.last, s.final = snap, true
	}
	return nil
}

// Lost implements sink.Sink.
func (e *Exporter) Lost(l sink.Lost) error {
	e.mu.Lock()
	e.lost = l
	e.mu.Unlock()
	return nil
}

// Flush implements sink.Sink.
func (e *Exporter) Flush() error { return nil }

func (e *Exporter) state(name string) *aggState {
	for _, s := range e.aggs {
		if s.a.Name == name {
			return s
		}
	}
	return nil
}

// Describe implements prom.Collector. It sends nothing: the metrics
// depend on the program, which --watch may replace, so the collector is
// unchecked.
func (e *Exporter) Describe(chan<- *prom.Desc) {}

// Collect implements prom.Collector: it reads every published
// aggregation now (or, for every() ones, the periods so far).
func (e *Exporter) Collect(ch chan<- prom.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.aggs {
		rows, r, err := e.rows(s)
		if err != nil {
			ch <- prom.NewInvalidMetric(s.m.desc, err)
			continue
		}
		s.m.collect(ch, s, rows, r)
	}
	lost := e.lost
	if e.src != nil {
		lost = e.src.Lost()
	}
	ch <- prom.MustNewConstMetric(lostEvents, prom.CounterValue, float64(lost.Events))
	ch <- prom.MustNewConstMetric(lostUpdates, prom.CounterValue, float64(lost.Updates))
}

var (
	lostEvents  = prom.NewDesc("ebpftrace_lost_events_total", "Events the kernel could not deliver: the ring buffer was full.", nil, nil)
	lostUpdates = prom.NewDesc("ebpftrace_lost_updates_total", "Aggregation updates the kernel refused: a map was full.", nil, nil)
)

// rows returns what a scrape publishes of s now.
func (e *Exporter) rows(s *aggState) ([]sink.Row, sink.Resolver, error) {
	switch {
	case s.a.Every > 0:
		if s.periods == nil {
			return nil, nil, nil
		}
		return s.periods.rows, s.periods.r, nil
	case s.final || e.src == nil:
		if s.last == nil {
			return nil, nil, nil
		}
		return s.last.Rows, s.last.R, nil
	}
	snap, err := e.src.Snapshot(s.a.Name)
	if err != nil {
		return nil, nil, err
	}
	s.last = snap
	return snap.Rows, snap.R, nil
}

// Registry returns a registry holding e alone.
func (e *Exporter) Registry() *prom.Registry {
	reg := prom.NewRegistry()
	reg.MustRegister(e)
	return reg
}

// Server serves an Exporter's /metrics over HTTP.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Listen serves e's metrics at http://addr/metrics until Close. The
// address is bound before it returns, so a bad or busy one is an error
// here, before anything is traced.
func (e *Exporter) Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.Registry(), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ebpftrace: metrics at /metrics\n")
	})
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on (with the port chosen when
// addr's was 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, letting scrapes in progress finish until ctx
// ends.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}
