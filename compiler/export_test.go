package compiler

import (
	"strings"
	"testing"

	"github.com/ebpftrace/ebpftrace/dsl"
)

func TestExportErrors(t *testing.T) {
	open := `tracepoint("syscalls:sys_enter_openat")`
	tests := []struct {
		src, pos, msg, hint string
	}{
		{open + `.export("x")`, "1:41", "export must follow an aggregation", ""},
		{open + `.count().export("my-metric")`, "1:56", `"my-metric" is not a Prometheus metric name: use letters, digits and _`, ""},
		{open + `.count().export("1st")`, "1:56", "must not start with a digit", ""},
		{open + `.count().export("__x")`, "1:56", "reserved", ""},
		{open + `.count().export(x)`, "1:56", "must be a string literal", ""},
		{open + `.by(comm, kstack).count().export("opens")`, "1:50", "kstack cannot be a label of metric opens: a stack is not a short value", "--pprof"},
		{open + `.by(ustack).hist(args.flags).export("flags")`, "1:44", "ustack cannot be a label", "--pprof"},
		{open + `.count().export("opens"); ` + open + `.by(comm).count().export("opens")`, "1:115", "metric opens is already exported by @count at 1:41", ""},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := compile(t, tt.src)
			e, ok := err.(*dsl.Error)
			if !ok {
				t.Fatalf("error %T %v is not a *dsl.Error", err, err)
			}
			if got := e.Pos.String(); got != "<input>:"+tt.pos {
				t.Errorf("at %s, want %s (%s)", got, tt.pos, e.Msg)
			}
			if !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("message %q lacks %q", e.Msg, tt.msg)
			}
			if !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("hint %q lacks %q", e.Hint, tt.hint)
			}
			if !strings.Contains(e.Render(), "^\n") {
				t.Errorf("rendered error has no caret:\n%s", e.Render())
			}
		})
	}
}

// What an aggregation tells exporters: its metric name, and whether its
// values are nanoseconds.
func TestExportAndDuration(t *testing.T) {
	open := `tracepoint("syscalls:sys_enter_openat")`
	lat := open + `.latency(tracepoint("raw_syscalls:sys_enter"))`
	tests := []struct {
		src      string
		export   string
		duration bool
	}{
		{open + `.count()`, "", false},
		{open + `.by(comm).count().export("opens")`, "opens", false},
		{open + `.hist(args.flags).export("flags")`, "flags", false},
		{open + `.hist(args.flags).export("wait_seconds")`, "wait_seconds", true},
		{open + `.count().export("opens_seconds")`, "opens_seconds", false}, // a count is no time
		{lat + `.hist(elapsed)`, "", true},
		{lat + `.hist((elapsed))`, "", true},
		{lat + `.hist(elapsed / 1000)`, "", false}, // µs: not nanoseconds any more
		{`d := elapsed; ` + lat + `.sum(d).export("open_time")`, "open_time", true},
		{open + `.sum(elapsed)`, "", true},
	}
	for _, tt := range tests {
		p, err := compile(t, tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		a := p.Aggregations[len(p.Aggregations)-1]
		if a.Export != tt.export || a.Duration != tt.duration {
			t.Errorf("%s: export %q duration %v, want %q %v", tt.src, a.Export, a.Duration, tt.export, tt.duration)
		}
	}
}

// With Env.Spans a latency chain writes one span record per event; the
// record names its attributes; without it nothing is added.
func TestSpanRecord(t *testing.T) {
	src := `n := args.id
tracepoint("syscalls:sys_enter_openat").latency(tracepoint("raw_syscalls:sys_enter")).filter(n >= 0).by(comm).hist(elapsed)
tracepoint("syscalls:sys_enter_open").latency(tracepoint("raw_syscalls:sys_enter")).as("open").print("%d", elapsed)
tracepoint("syscalls:sys_enter_openat").count()`
	prog, err := dsl.Parse("", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, spans := range []bool{false, true} {
		env := testEnv()
		env.Spans = spans
		p, err := Compile(prog, env)
		if err != nil {
			t.Fatalf("spans %v: %v", spans, err)
		}
		var got []*Event
		for _, ev := range p.Events {
			if ev.Kind == EventSpan {
				got = append(got, ev)
			}
		}
		if !spans {
			if len(got) != 0 {
				t.Errorf("without Env.Spans: %d span records", len(got))
			}
			continue
		}
		if len(got) != 2 {
			t.Fatalf("%d span records, want 2", len(got))
		}
		byName := map[string]*Event{}
		for _, ev := range got {
			byName[ev.Span] = ev
		}
		tests := []struct {
			span   string
			fields []string
		}{
			// by() keys and the bound values the stages use are attributes.
			{"syscalls:sys_enter_openat", []string{"start", "duration", "process.pid", "thread.id", "thread.name", "comm", "n"}},
			{"open", []string{"start", "duration", "process.pid", "thread.id", "thread.name"}},
		}
		for _, tt := range tests {
			ev := byName[tt.span]
			if ev == nil {
				t.Errorf("no span named %q among %v", tt.span, got)
				continue
			}
			var names []string
			for _, f := range ev.Fields {
				names = append(names, f.Name)
			}
			if strings.Join(names, " ") != strings.Join(tt.fields, " ") {
				t.Errorf("span %s fields %q, want %q", tt.span, names, tt.fields)
			}
			if !ev.Fields[0].Time || ev.Fields[0].Offset != eventHeader || ev.Fields[1].Offset != eventHeader+8 {
				t.Errorf("span %s: start and duration not first: %+v", tt.span, ev.Fields[:2])
			}
		}
	}
}
