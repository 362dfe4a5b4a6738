package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	ebpfrt "github.com/ebpftrace/ebpftrace/runtime"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
	"github.com/ebpftrace/ebpftrace/runtime/sink/otlp"
	"github.com/ebpftrace/ebpftrace/runtime/sink/pprof"
	"github.com/ebpftrace/ebpftrace/runtime/sink/prometheus"
)

// outputOptions are the sinks of a session: the chosen format on stdout,
// and the lost counts on stderr with what to do about them.
func outputOptions(format string, stdout, stderr io.Writer) ebpfrt.Options {
	var out sink.Sink = sink.NewText(stdout)
	if format == "json" {
		out = sink.NewJSON(stdout)
	}
	return ebpfrt.Options{Sinks: []sink.Sink{out, lostAdvice{stderr}}}
}

// exportFlags are the exporters asked for on the command line.
type exportFlags struct {
	metrics string // --metrics ADDR
	pprof   string // --pprof FILE
	otlp    string // --otlp ENDPOINT
}

// define adds the exporters' flags to fs.
func (x *exportFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&x.metrics, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (e.g. :9100 or 127.0.0.1:9100): the aggregations marked .export(), or all of them when none is (docs/EXPORTERS.md)")
	fs.StringVar(&x.pprof, "pprof", "", "write the aggregations keyed by ustack or kstack to `FILE` as a pprof profile at exit")
	fs.StringVar(&x.otlp, "otlp", "", "send a span for each event of a chain with a start and an end (.latency(), http.*, grpc.*, goroutine.blocked) to `ENDPOINT`: host:port for OTLP/gRPC, http://host:port for OTLP/HTTP")
}

// outputs are the sinks of one run: the format on stdout, lost counts on
// stderr, and the exporters the flags ask for, with their lifetimes.
type outputs struct {
	opts   ebpfrt.Options
	stderr io.Writer
	// linger: when the run ends on its own (-c, -p, exit()), keep
	// serving the final metrics until a signal; not after --duration.
	linger bool

	metrics   *prometheus.Exporter
	server    *prometheus.Server
	profile   *pprof.Profile
	pprofPath string
	spans     *otlp.Exporter
}

// openOutputs builds the sinks for program p: it binds the metrics
// address and checks that p has something to profile before anything is
// attached, so that a mistake costs nothing.
func openOutputs(x exportFlags, format string, duration time.Duration, p *compiler.Program, stdout, stderr io.Writer) (*outputs, error) {
	o := &outputs{opts: outputOptions(format, stdout, stderr), stderr: stderr, linger: duration == 0}
	if x.pprof != "" {
		prof, err := pprof.New(p)
		if err != nil {
			return nil, err
		}
		// The file is written at exit; a directory that is not there
		// is better said now.
		if st, err := os.Stat(filepath.Dir(x.pprof)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--pprof %s: no directory %s to write it in", x.pprof, filepath.Dir(x.pprof))
		}
		o.profile, o.pprofPath = prof, x.pprof
		o.opts.Sinks = append(o.opts.Sinks, prof)
	}
	if x.otlp != "" {
		if !hasSpans(p) {
			return nil, errors.New("--otlp: the program has no chain with a start and an end; spans come from .latency() chains, e.g. uprobe(bin, fn).latency(uretprobe(bin, fn)), and from http.*, grpc.* and goroutine.blocked")
		}
		spans, err := otlp.New(context.Background(), otlp.Options{Endpoint: x.otlp})
		if err != nil {
			return nil, err
		}
		o.spans = spans
		o.opts.Sinks = append(o.opts.Sinks, spans)
	}
	if x.metrics != "" {
		o.metrics = prometheus.New(stderr)
		srv, err := o.metrics.Listen(x.metrics)
		if err != nil {
			o.close(context.Background(), 1)
			return nil, err
		}
		o.server = srv
		o.opts.Sinks = append(o.opts.Sinks, o.metrics)
		fmt.Fprintf(stderr, "Serving metrics at http://%s/metrics\n", srv.Addr())
		if len(p.Aggregations) == 0 {
			fmt.Fprintf(stderr, "ebpftrace: --metrics: the program has no aggregations; /metrics shows only the lost counts\n")
		}
	}
	return o, nil
}

// hasSpans reports whether p writes span records.
func hasSpans(p *compiler.Program) bool {
	for _, ev := range p.Events {
		if ev.Kind == compiler.EventSpan {
			return true
		}
	}
	return false
}

// close ends the exporters once the run is over: spans are sent (for a
// few seconds at most) and counted, the profile written, and the metrics
// server stopped, after serving the final values until ctx (the signals)
// ends when tracing ended on its own. It returns the exit code: code (the
// -c command's status when tracing went well), or 1 when an exporter
// failed.
func (o *outputs) close(ctx context.Context, code int) int {
	if o.spans != nil {
		// Spans still queued get a few seconds: five from an endpoint
		// that has been taking them, two from one yet to answer.
		wait := 2 * time.Second
		if o.spans.Proven() {
			wait = 5 * time.Second
		}
		sctx, cancel := context.WithTimeout(context.Background(), wait)
		rep := o.spans.Close(sctx)
		cancel()
		if rep.Spans > 0 || code == 0 {
			fmt.Fprintf(o.stderr, "ebpftrace: --otlp: %s\n", rep)
		}
	}
	if o.profile != nil && o.profile.Ran() {
		if err := o.profile.WriteFile(o.pprofPath); err != nil {
			fmt.Fprintf(o.stderr, "ebpftrace: %v\n", err)
			if code == 0 {
				code = 1
			}
		} else {
			fmt.Fprintf(o.stderr, "ebpftrace: --pprof: wrote %s (go tool pprof -top %s)\n", o.pprofPath, o.pprofPath)
		}
	}
	if o.server != nil {
		if o.linger && o.metrics.Ran() && ctx.Err() == nil {
			fmt.Fprintf(o.stderr, "ebpftrace: tracing ended; serving the final metrics at http://%s/metrics until stopped (Ctrl-C)\n", o.server.Addr())
			<-ctx.Done()
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := o.server.Close(sctx); err != nil {
			fmt.Fprintf(o.stderr, "ebpftrace: --metrics: %v\n", err)
		}
		cancel()
	}
	return code
}

// lostAdvice tells the user what was lost and how to lose less.
type lostAdvice struct{ w io.Writer }

func (lostAdvice) Event(*sink.Event) error          { return nil }
func (lostAdvice) Aggregation(*sink.Snapshot) error { return nil }
func (lostAdvice) Flush() error                     { return nil }

func (a lostAdvice) Lost(l sink.Lost) error {
	if l.Events > 0 {
		fmt.Fprintf(a.w, "ebpftrace: %d events were lost: the ring buffer was full (print less, aggregate in the kernel, or give --buffer more room)\n", l.Events)
	}
	if l.Updates > 0 {
		fmt.Fprintf(a.w, "ebpftrace: %d aggregation updates were lost: a map was full (%d keys); aggregate by fewer keys\n", l.Updates, compiler.MaxKeys)
	}
	return nil
}

// start loads and attaches p. A probe the kernel refuses becomes an error
// at its place in the program, with what to do about it.
func start(p *compiler.Program, opts ebpfrt.Options) (*ebpfrt.Session, error) {
	s, err := ebpfrt.Start(p, opts)
	var pe *ebpfrt.ProbeError
	if !errors.As(err, &pe) {
		return s, err
	}
	e := &dsl.Error{Pos: pe.Pos, Source: p.Source, Detail: pe.Err.Error()}
	switch {
	case pe.Verifier != nil:
		e.Msg = fmt.Sprintf("the kernel's verifier rejected the code of %s", pe.Node)
		e.Detail = "the verifier said:\n    " + strings.Join(pe.Verifier, "\n    ")
		if strings.Contains(e.Detail, "stack") {
			e.Hint = "a BPF program has 512 bytes of stack: use fewer or shorter strings (str(p, n)) in one key"
		}
	case pe.Op == ebpfrt.OpAttach:
		e.Msg = fmt.Sprintf("cannot attach %s", pe.Probe.Name)
		if len(pe.SeeAlso) > 0 {
			e.Hint = "tracepoints that see the same event: " + strings.Join(pe.SeeAlso, ", ")
		}
	default:
		e.Msg = fmt.Sprintf("the kernel refused the program of %s", pe.Probe.Name)
	}
	return nil, e
}

// warnSkipped says which probes of wildcards could not attach (the run
// goes on with the others).
func warnSkipped(sess *ebpfrt.Session, stderr io.Writer) {
	skipped := sess.Skipped()
	const most = 5
	for i, pe := range skipped {
		if i == most {
			fmt.Fprintf(stderr, "ebpftrace: and %d more probes skipped\n", len(skipped)-most)
			break
		}
		fmt.Fprintf(stderr, "ebpftrace: skipped %s: %v\n", pe.Probe.Name, pe.Err)
	}
}

// warnCompiled says what the program will not trace as written.
func warnCompiled(p *compiler.Program, stderr io.Writer) {
	for _, w := range p.Warnings {
		fmt.Fprintf(stderr, "ebpftrace: warning: %s (skipped)\n", w.Error())
	}
}
