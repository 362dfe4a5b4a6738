package runtime_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/runtime"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// This file shows that an aggregation kind and a sink are each one record
// in one file: `last` (the value of the newest event) is known to the
// language, the kernel code, the merge and the text sink only through
// agg.Register below, and `collect` receives the session's output only
// through the sink.Sink interface.

func init() {
	agg.Register(&agg.Kind{
		Name: "last", Usage: "last(x)", Doc: "the value of the newest event",
		Value: true, Words: 2, // the value, then a non-zero word once set
		Update: func(e agg.Emitter, v asm.Register, _ bool) {
			e.Emit(asm.StoreMem(asm.R0, 0, v, asm.DWord), asm.StoreImm(asm.R0, 8, 1, asm.Word))
		},
		Decode: func(raw []byte, _ int) agg.Value {
			if agg.Word(raw, 1) == 0 {
				return agg.Value{}
			}
			return agg.Value{Count: 1, Sum: int64(agg.Word(raw, 0))}
		},
		// CPUs do not say which of their values is newer; any one will do.
		Merge: func(dst *agg.Value, src agg.Value, _ bool) {
			if src.Count != 0 {
				*dst = src
			}
		},
		Order:  func(v *agg.Value) int64 { return v.Sum },
		Text:   func(v *agg.Value) string { return strconv.FormatInt(v.Sum, 10) },
		Fields: func(v *agg.Value) []agg.Field { return []agg.Field{{Name: "value", Value: v.Sum}} },
		Metric: agg.Gauge,
	})
}

// collect keeps what it receives.
type collect struct {
	events []string
	snaps  []*sink.Snapshot
	lost   sink.Lost
}

func (c *collect) Event(e *sink.Event) error {
	c.events = append(c.events, sink.EventText(e))
	return nil
}
func (c *collect) Aggregation(s *sink.Snapshot) error { c.snaps = append(c.snaps, s); return nil }
func (c *collect) Lost(l sink.Lost) error             { c.lost = l; return nil }
func (c *collect) Flush() error                       { return nil }

func TestExtensionKindAndSink(t *testing.T) {
	needRoot(t)
	p, err := dsl.Parse("", `begin().last(40 + 2)
begin().by("k").last(7).as("keyed")
begin().print("hi %d", 5)`)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := compiler.Compile(p, &compiler.Env{})
	if err != nil {
		t.Fatal(dsl.Render(err, p.Source))
	}
	var text bytes.Buffer
	c := &collect{}
	s, err := runtime.Start(prog, runtime.Options{Sinks: []sink.Sink{sink.NewText(&text), c}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if want := "hi 5\n@last: 42\n@keyed[k]: 7\n"; text.String() != want {
		t.Errorf("text sink printed %q, want %q", text.String(), want)
	}
	if len(c.events) != 1 || c.events[0] != "hi 5\n" || len(c.snaps) != 2 || c.snaps[0].Kind.Name != "last" || c.snaps[0].Rows[0].Sum != 42 {
		t.Errorf("collect got events %q, snapshots %+v", c.events, c.snaps)
	}
}
