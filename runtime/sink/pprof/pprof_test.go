package pprof

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// resolver names PCs from a table: 0x1000 holds main.hot with main.add
// inlined; kernel 0xffff0001 is do_syscall_64.
type resolver struct{}

func (resolver) Field([]byte, compiler.Field) sink.Value { return nil }
func (resolver) Frames(sink.Stack) []string              { return nil }
func (resolver) Name(s sink.Symbol) string               { return fmt.Sprintf("sym%x", s.Addr) }
func (resolver) SourceFrames(s sink.Stack) [][]sink.Frame {
	out := make([][]sink.Frame, len(s.PCs))
	for i, pc := range s.PCs {
		switch pc {
		case 0x1000:
			out[i] = []sink.Frame{{Func: "main.add", File: "/src/main.go", Line: 7, Inlined: true}, {Func: "main.hot", File: "/src/main.go", Line: 12}}
		case 0x2000:
			out[i] = []sink.Frame{{Func: "main.main", File: "/src/main.go", Line: 30}}
		case 0xffff0001:
			out[i] = []sink.Frame{{Func: "do_syscall_64"}}
		default:
			out[i] = []sink.Frame{{}}
		}
	}
	return out
}

func aggOf(t *testing.T, kind, name string, keys ...string) *compiler.Aggregation {
	t.Helper()
	k, ok := agg.Lookup(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	a := &compiler.Aggregation{Name: name, Kind: k, Pos: dsl.Pos{Line: 1, Col: 1}}
	for _, key := range keys {
		f := compiler.Field{Name: key}
		if strings.HasSuffix(key, "stack") {
			f.Kind = compiler.FieldStack
		}
		a.Keys = append(a.Keys, f)
	}
	return a
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		aggs []*compiler.Aggregation
		want string
	}{
		{[]*compiler.Aggregation{aggOf(t, "count", "count", "comm")}, "no aggregation keyed by ustack or kstack"},
		{[]*compiler.Aggregation{aggOf(t, "max", "max", "ustack")}, "@max is max(x): a profile adds its values up"},
	}
	for _, tt := range tests {
		_, err := New(&compiler.Program{Aggregations: tt.aggs})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New: %v, want %q", err, tt.want)
		}
	}
}

// A CPU profile of user and kernel stacks with a label: sample types, the
// period, locations with inlined lines innermost first, labels.
func TestBuild(t *testing.T) {
	cpu := aggOf(t, "count", "count", "comm", "kstack", "ustack")
	cpu.SamplePeriod = time.Second / 99
	wait := aggOf(t, "sum", "wait", "ustack", "pid")
	wait.Duration = true
	w, err := New(&compiler.Program{Aggregations: []*compiler.Aggregation{cpu, wait, aggOf(t, "count", "plain")}})
	if err != nil {
		t.Fatal(err)
	}
	user := sink.Stack{PID: 42, PCs: []uint64{0x1000, 0x2000}}
	kernel := sink.Stack{PCs: []uint64{0xffff0001}}
	snaps := []*sink.Snapshot{
		{Name: "count", Kind: cpu.Kind, R: resolver{}, Rows: []sink.Row{
			{Key: []sink.Value{"hot", kernel, user}, Value: agg.Value{Count: 5}},
			{Key: []sink.Value{"hot", sink.Stack{}, sink.Stack{PID: 42, PCs: []uint64{0x2000}}}, Value: agg.Value{Count: 1}},
		}},
		// every() periods and the rest at exit add up.
		{Name: "wait", Kind: wait.Kind, R: resolver{}, Time: time.Unix(1, 0), Rows: []sink.Row{{Key: []sink.Value{user, uint64(42)}, Value: agg.Value{Sum: 1000}}}},
		{Name: "wait", Kind: wait.Kind, R: resolver{}, Rows: []sink.Row{{Key: []sink.Value{user, uint64(42)}, Value: agg.Value{Sum: 500}}}},
	}
	for _, s := range snaps {
		if err := w.Aggregation(s); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := w.Write(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, st := range p.SampleType {
		types = append(types, st.Type+"/"+st.Unit)
	}
	if got := strings.Join(types, " "); got != "count/count cpu/nanoseconds wait/nanoseconds" {
		t.Errorf("sample types %s", got)
	}
	if p.DefaultSampleType != "cpu" || p.Period != int64(time.Second/99) || p.PeriodType.Type != "cpu" {
		t.Errorf("default %q period %d %v", p.DefaultSampleType, p.Period, p.PeriodType)
	}
	var lines []string
	for _, s := range p.Sample {
		var frames []string
		for _, l := range s.Location {
			for _, ln := range l.Line {
				frames = append(frames, fmt.Sprintf("%s:%d", ln.Function.Name, ln.Line))
			}
		}
		lines = append(lines, fmt.Sprintf("%v %s %v %v", s.Value, strings.Join(frames, ";"), s.Label, s.NumLabel))
	}
	want := []string{
		"[5 50505050 0] do_syscall_64:0;main.add:7;main.hot:12;main.main:30 map[comm:[hot]] map[]",
		"[1 10101010 0] main.main:30 map[comm:[hot]] map[]",
		"[0 0 1500] main.add:7;main.hot:12;main.main:30 map[] map[pid:[42]]",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("samples:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// One location per address, shared by the samples that pass it.
	if len(p.Location) != 3 || len(p.Function) != 4 {
		t.Errorf("%d locations, %d functions", len(p.Location), len(p.Function))
	}
}

func TestLabels(t *testing.T) {
	s := &profile.Sample{}
	b := &builder{}
	b.label(s, "ip", netip.MustParseAddr("10.0.0.1"), nil)
	b.label(s, "fn", sink.Symbol{Addr: 0xab}, resolver{})
	b.label(s, "flags", sink.Hex(255), nil)
	b.label(s, "ret", int64(-1), nil)
	if got := fmt.Sprint(s.Label, s.NumLabel); got != "map[flags:[0xff] fn:[symab] ip:[10.0.0.1]] map[ret:[-1]]" {
		t.Errorf("labels %s", got)
	}
}
