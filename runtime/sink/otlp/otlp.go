// Package otlp sends spans over OTLP (--otlp ENDPOINT): one span for each
// event of a chain that has a start and an end (.latency() chains, and
// stdlib events with start and duration; the compiler's span records,
// compiler.EventSpan), through the OpenTelemetry Go SDK's exporters.
//
// A span starts and ends when the kernel saw the work start and end
// (CLOCK_MONOTONIC turned to wall time, as print's timestamps), is named
// after the probe or .as(), and carries the chain's values as attributes
// (process.pid, thread.id, thread.name, goid, by() keys, bound values, the
// stdlib event's fields) and ebpftrace.probe.
//
// Spans are batched (512 a request, or what a second gathered) by a
// processor that never blocks the tracer: when the endpoint is slow or
// down, a full queue drops spans and counts them, and Close reports what
// was sent and what was dropped.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/ebpftrace/ebpftrace/runtime/sink"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// Tuning of the batching; Options may change them (tests do).
const (
	DefaultQueue         = 8192
	DefaultBatch         = 512
	DefaultInterval      = time.Second
	DefaultExportTimeout = 10 * time.Second
)

// Options configure an Exporter.
type Options struct {
	// Endpoint is host:port or grpc://host:port (OTLP/gRPC, plain text),
	// grpcs://host:port (gRPC over TLS), or http://host:port[/path] and
	// https://… (OTLP/HTTP, path /v1/traces unless given).
	Endpoint string
	// Queue is how many finished spans wait for the exporter before new
	// ones are dropped; Batch how many go in one request; Interval how
	// long a partial batch waits; ExportTimeout bounds one request (with
	// its retries). Zero means the defaults above.
	Queue         int
	Batch         int
	Interval      time.Duration
	ExportTimeout time.Duration
}

// Exporter is a sink.SpanSink (and a no-op sink.Sink for the rest).
type Exporter struct {
	endpoint string
	tp       *sdktrace.TracerProvider
	tracer   trace.Tracer
	batch    *batcher
}

// New makes an Exporter for opts.Endpoint. Nothing is connected yet: a
// down endpoint shows as dropped spans, not as an error here.
func New(ctx context.Context, opts Options) (*Exporter, error) {
	exp, err := newSpanExporter(ctx, opts)
	if err != nil {
		return nil, err
	}
	b := newBatcher(exp, opts)
	host, _ := os.Hostname()
	res := resource.NewSchemaless(attribute.String("service.name", "ebpftrace"), attribute.String("host.name", host))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b), sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	return &Exporter{endpoint: opts.Endpoint, tp: tp, tracer: tp.Tracer("github.com/ebpftrace/ebpftrace"), batch: b}, nil
}

// newSpanExporter picks the SDK's gRPC or HTTP exporter by the
// endpoint's scheme.
func newSpanExporter(ctx context.Context, opts Options) (sdktrace.SpanExporter, error) {
	bad := func(why string) error {
		return fmt.Errorf("--otlp %s: %s; give host:port (OTLP/gRPC) or http://host:port (OTLP/HTTP)", opts.Endpoint, why)
	}
	ep := opts.Endpoint
	scheme := "grpc"
	if i := strings.Index(ep, "://"); i >= 0 {
		scheme, ep = ep[:i], ep[i+3:]
	}
	timeout := opts.ExportTimeout
	if timeout == 0 {
		timeout = DefaultExportTimeout
	}
	switch scheme {
	case "grpc", "grpcs":
		host, err := hostPort(ep, "4317")
		if err != nil {
			return nil, bad(err.Error())
		}
		o := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(host), otlptracegrpc.WithTimeout(timeout),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: timeout})}
		if scheme == "grpc" {
			o = append(o, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, o...)
	case "http", "https":
		u, err := url.Parse(scheme + "://" + ep)
		if err != nil {
			return nil, bad(err.Error())
		}
		host, err := hostPort(u.Host, "4318")
		if err != nil {
			return nil, bad(err.Error())
		}
		path := u.Path
		if path == "" || path == "/" {
			path = "/v1/traces"
		}
		o := []otlptracehttp.Option{otlptracehttp.WithEndpoint(host), otlptracehttp.WithURLPath(path), otlptracehttp.WithTimeout(timeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: timeout})}
		if scheme == "http" {
			o = append(o, otlptracehttp.WithInsecure())
		}
		return otlptracehttp.New(ctx, o...)
	}
	return nil, bad("unknown scheme " + scheme)
}

// hostPort checks host[:port], adding the default port.
func hostPort(s, port string) (string, error) {
	if s == "" {
		return "", errors.New("no host")
	}
	if strings.Contains(s, "/") {
		return "", errors.New("a gRPC endpoint has no path")
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return net.JoinHostPort(strings.Trim(s, "[]"), port), nil
	}
	if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("bad port %q", p)
	}
	return net.JoinHostPort(h, p), nil
}

// Span implements sink.SpanSink: e's record becomes one span, queued for
// the exporter (or counted dropped when the queue is full).
func (x *Exporter) Span(e *sink.Event) error {
	fs := e.Layout.Fields
	if len(fs) < 2 {
		return nil
	}
	start, ok := e.R.Field(e.Raw, fs[0]).(time.Time)
	if !ok {
		return nil
	}
	d, _ := e.R.Field(e.Raw, fs[1]).(uint64)
	// A slice of its own per span: the SDK may keep it until the batch
	// is sent.
	attrs := make([]attribute.KeyValue, 0, len(fs)-1)
	attrs = append(attrs, attribute.String("ebpftrace.probe", e.Layout.Probe))
	for _, f := range fs[2:] {
		attrs = append(attrs, attr(f.Name, e.R.Field(e.Raw, f), e.R))
	}
	name := e.Layout.Span
	if sch := e.Layout.Schema; sch != nil && sch.Span != nil {
		// A stdlib event: its pack names the span and gives the semantic
		// conventions' attributes (http.request.method, rpc.service…).
		var extra []pack.Attr
		name, extra = sch.Span(func(field string) any {
			for _, f := range fs[2:] {
				if f.Name == field {
					return e.R.Field(e.Raw, f)
				}
			}
			return nil
		})
		for _, a := range extra {
			switch v := a.Value.(type) {
			case int64:
				attrs = append(attrs, attribute.Int64(a.Key, v))
			default:
				attrs = append(attrs, attribute.String(a.Key, fmt.Sprint(v)))
			}
		}
	}
	_, span := x.tracer.Start(context.Background(), name,
		trace.WithTimestamp(start), trace.WithAttributes(attrs...), trace.WithSpanKind(kind(e.Layout.Probe)))
	span.End(trace.WithTimestamp(start.Add(time.Duration(d))))
	return nil
}

// kind is a server or client span for the stdlib's request events.
func kind(probe string) trace.SpanKind {
	src, _, _ := strings.Cut(probe, ":")
	switch {
	case strings.HasSuffix(src, ".server"):
		return trace.SpanKindServer
	case strings.HasSuffix(src, ".client"):
		return trace.SpanKindClient
	}
	return trace.SpanKindInternal
}

// attr is one decoded value as an attribute.
func attr(name string, v sink.Value, r sink.Resolver) attribute.KeyValue {
	switch v := v.(type) {
	case int64:
		return attribute.Int64(name, v)
	case uint64:
		if v > math.MaxInt64 {
			return attribute.String(name, strconv.FormatUint(v, 10))
		}
		return attribute.Int64(name, int64(v))
	case string:
		return attribute.String(name, strings.ToValidUTF8(v, "\uFFFD"))
	case sink.Hex:
		return attribute.String(name, "0x"+strconv.FormatUint(uint64(v), 16))
	case sink.Symbol:
		return attribute.String(name, r.Name(v))
	case netip.Addr:
		return attribute.String(name, v.String())
	case time.Time:
		return attribute.String(name, v.Format(time.RFC3339Nano))
	}
	return attribute.String(name, fmt.Sprint(v))
}

// Event implements sink.Sink; print() lines are not spans.
func (x *Exporter) Event(*sink.Event) error { return nil }

// Aggregation implements sink.Sink.
func (x *Exporter) Aggregation(*sink.Snapshot) error { return nil }

// Lost implements sink.Sink.
func (x *Exporter) Lost(sink.Lost) error { return nil }

// Flush implements sink.Sink; the batcher sends on its own.
func (x *Exporter) Flush() error { return nil }

// Report is what became of the spans.
type Report struct {
	Endpoint string
	// Spans were made; Sent reached the endpoint; Dropped did not (queue
	// full, the endpoint refused or was down, or time ran out at exit).
	Spans, Sent, Dropped uint64
	// Err is the last export error.
	Err error
}

func (r Report) String() string {
	s := fmt.Sprintf("%d span%s sent to %s", r.Sent, plural(r.Sent), r.Endpoint)
	if r.Dropped > 0 {
		s += fmt.Sprintf("; %d dropped", r.Dropped)
		if r.Err != nil {
			s += " (" + r.Err.Error() + ")"
		}
	}
	return s
}

func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Proven reports whether the endpoint took spans and the last request
// succeeded: worth waiting for at exit longer than an endpoint that
// never answered or is failing.
func (x *Exporter) Proven() bool { return x.batch.sent.Load() > 0 && !x.batch.failing.Load() }

// Close sends what is queued, waiting until ctx ends at most, and reports.
func (x *Exporter) Close(ctx context.Context) Report {
	err := x.tp.Shutdown(ctx)
	b := x.batch
	r := Report{Endpoint: x.endpoint, Spans: b.ended.Load(), Sent: b.sent.Load(), Err: b.err()}
	r.Dropped = r.Spans - r.Sent
	if r.Err == nil && err != nil && r.Dropped > 0 {
		r.Err = err
	}
	return r
}

// batcher is a span processor that queues without blocking, counts what
// it drops, and exports in batches from one goroutine.
type batcher struct {
	exp      sdktrace.SpanExporter
	queue    chan sdktrace.ReadOnlySpan
	batch    int
	interval time.Duration

	ended, sent atomic.Uint64
	// failing: the last export failed.
	failing atomic.Bool
	emu     sync.Mutex
	lastErr error

	// ctx ends the exports in flight when Shutdown's time is up.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newBatcher(exp sdktrace.SpanExporter, o Options) *batcher {
	b := &batcher{exp: exp, batch: o.Batch, interval: o.Interval, stop: make(chan struct{}), done: make(chan struct{})}
	q := o.Queue
	if q <= 0 {
		q = DefaultQueue
	}
	if b.batch <= 0 {
		b.batch = DefaultBatch
	}
	if b.interval <= 0 {
		b.interval = DefaultInterval
	}
	b.queue = make(chan sdktrace.ReadOnlySpan, q)
	b.ctx, b.cancel = context.WithCancel(context.Background())
	go b.run()
	return b
}

func (b *batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues s, or drops it when the queue is full: the tracer must
// never wait for the network.
func (b *batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	b.ended.Add(1)
	select {
	case b.queue <- s:
	default:
	}
}

func (b *batcher) run() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	var batch []sdktrace.ReadOnlySpan
	send := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithCancel(b.ctx)
		err := b.exp.ExportSpans(ctx, batch)
		cancel()
		if err != nil {
			b.emu.Lock()
			// Giving up at exit cancels the request; the reason worth
			// telling is why the endpoint had not answered before.
			if b.lastErr == nil || b.ctx.Err() == nil {
				b.lastErr = err
			}
			b.emu.Unlock()
			b.failing.Store(true)
		} else {
			b.sent.Add(uint64(len(batch)))
			b.failing.Store(false)
		}
		clear(batch)
		batch = batch[:0]
	}
	for {
		select {
		case s := <-b.queue:
			batch = append(batch, s)
			if len(batch) >= b.batch {
				send()
			}
		case <-t.C:
			send()
		case <-b.stop:
			for {
				select {
				case s := <-b.queue:
					batch = append(batch, s)
					if len(batch) >= b.batch {
						send()
					}
					continue
				default:
				}
				break
			}
			send()
			return
		}
	}
}

func (b *batcher) err() error {
	b.emu.Lock()
	defer b.emu.Unlock()
	return b.lastErr
}

// Shutdown sends what is queued until ctx ends, then gives up on the rest.
func (b *batcher) Shutdown(ctx context.Context) error {
	b.once.Do(func() { close(b.stop) })
	select {
	case <-b.done:
	case <-ctx.Done():
		b.cancel()
		<-b.done
	}
	b.cancel()
	return b.exp.Shutdown(ctx)
}

// ForceFlush is not used: Shutdown sends everything.
func (b *batcher) ForceFlush(context.Context) error { return nil }
