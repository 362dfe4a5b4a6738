// Package sink is where what a session produces goes: events, aggregation
// snapshots and lost counts arrive as data (typed fields, raw keys, stack
// addresses), and each sink renders them its own way. Text (bpftrace's
// format: `@name[key]: value` lines and `|@@@@|` histograms) and JSON (one
// object a line) are two sinks among peers; exporters are more.
package sink

import (
	"fmt"
	"time"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
)

// Sink receives what a session produces. A session calls one sink from
// one goroutine at a time.
type Sink interface {
	// Event is one record of a print() stage. It and its Raw bytes are
	// valid only during the call.
	Event(e *Event) error
	// Aggregation is one aggregation's content: at exit, or at the end of
	// each every() period.
	Aggregation(s *Snapshot) error
	// Lost reports, at exit, what the kernel could not deliver.
	Lost(l Lost) error
	// Flush writes out anything buffered. The session calls it at least
	// every FlushInterval while events arrive, and before it returns.
	Flush() error
}

// Live is implemented by sinks that read aggregations when they choose
// (a metrics scrape) rather than when the session hands them over.
type Live interface {
	// Live is called when a session starts running, with the session,
	// and with nil once it has handed over its last results and is about
	// to close: from then on src must not be used.
	Live(src Source)
}

// Source reads a running session's aggregations.
type Source interface {
	// Aggregations lists the program's aggregations.
	Aggregations() []*compiler.Aggregation
	// Snapshot reads aggregation name as it is now; safe to call from any
	// goroutine while the session runs.
	Snapshot(name string) (*Snapshot, error)
	// Lost counts what the kernel could not deliver so far.
	Lost() Lost
}

// SpanSink is implemented by sinks that take spans: records of work with
// a start and a duration (compiler.EventSpan), which other sinks never
// see. Fields[0] decodes to the start (time.Time), Fields[1] to the
// duration in ns, the rest are attributes. Like Event, e is valid only
// during the call.
type SpanSink interface {
	Span(e *Event) error
}

// FrameResolver is implemented by resolvers that know source positions:
// what a profile needs beyond Frames' text.
type FrameResolver interface {
	// SourceFrames returns, for each PC of s, its frames innermost first:
	// Go functions inlined there, then the function holding it, with file
	// and line where known. A PC that cannot be named has one frame with
	// an empty Func.
	SourceFrames(s Stack) [][]Frame
}

// Frame is one source-level frame of an address.
type Frame struct {
	Func string
	File string
	Line int
	// Inlined: the function was inlined into the next frame's.
	Inlined bool
}

// FlushInterval bounds how long a buffered event waits before a user sees it.
const FlushInterval = 100 * time.Millisecond

// Resolver turns what the kernel recorded into names: it is the session's
// symbol tables, stack map and clock. Sinks call it for the values they
// show.
type Resolver interface {
	// Field decodes field f of a record or key as data: int64, uint64,
	// string, Hex, Stack, Symbol, netip.Addr, or time.Time for the
	// timestamp of a default print line.
	Field(raw []byte, f compiler.Field) Value
	// Frames names the frames of a stack, innermost first; Go frames
	// inlined at an address come before it, marked " (inlined)".
	Frames(s Stack) []string
	// Name names the function at a symbol's address.
	Name(s Symbol) string
}

// Event is one record of a print() stage.
type Event struct {
	Layout *compiler.Event
	Raw    []byte
	R      Resolver
}

// Value is one decoded field or key component: int64, uint64, string, Hex,
// Stack, Symbol, netip.Addr or time.Time.
type Value = any

// Hex is an integer the program wrapped in hex().
type Hex uint64

// Stack is a kernel or user stack as the kernel recorded it.
type Stack struct {
	// PID is the process a user stack belongs to; 0 for a kernel stack.
	PID int
	// PCs are the addresses, innermost first.
	PCs []uint64
}

// Symbol is an address to show as the function that holds it (ksym,
// usym); PID is 0 for a kernel address.
type Symbol struct {
	PID  int
	Addr uint64
}

// Snapshot is the content of one aggregation.
type Snapshot struct {
	// Name is printed as "@"+Name ("@" alone when empty, as bpftrace's
	// anonymous map).
	Name   string
	Kind   *agg.Kind
	Params agg.Params
	// KeyNames are the by() keys as written; empty for a keyless
	// aggregation, which has at most one row.
	KeyNames []string
	// Rows hold one value per distinct key, in any order.
	Rows []Row
	// Top > 0 keeps only the Top rows with the largest values.
	Top int
	// Time is when an every() period ended; zero for the print at exit.
	Time time.Time
	// Export is the metric name given by .export(), if any.
	Export string
	// Duration says the values are nanoseconds of time.
	Duration bool
	// R names stacks and symbols in keys; nil when keys hold none.
	R Resolver
}

// Row is the value of an aggregation under one key.
type Row struct {
	// Key holds one value per Snapshot.KeyNames entry.
	Key []Value
	agg.Value
}

// Lost counts what the kernel could not deliver.
type Lost struct {
	// Events are records that did not fit in the ring buffer.
	Events uint64
	// Updates are aggregation updates refused because a map was full.
	Updates uint64
}

// validate checks that s can be rendered.
func validate(s *Snapshot) error {
	if s == nil || s.Kind == nil {
		return fmt.Errorf("sink: aggregation without a kind")
	}
	if len(s.KeyNames) == 0 && len(s.Rows) > 1 {
		return fmt.Errorf("sink: @%s: keyless aggregation has %d rows", s.Name, len(s.Rows))
	}
	if s.Kind.CheckParams != nil {
		if _, msg := s.Kind.CheckParams(s.Params); msg != "" {
			return fmt.Errorf("sink: @%s: %s", s.Name, msg)
		}
	}
	nb := 0
	if s.Kind.Histogram() {
		nb = s.Kind.Buckets(s.Params)
	}
	for i := range s.Rows {
		r := &s.Rows[i]
		if len(r.Key) != len(s.KeyNames) {
			return fmt.Errorf("sink: @%s: row %d has %d key values, want %d", s.Name, i, len(r.Key), len(s.KeyNames))
		}
		if len(r.Buckets) > nb {
			return fmt.Errorf("sink: @%s: row %d has %d buckets, want at most %d", s.Name, i, len(r.Buckets), nb)
		}
	}
	return nil
}
