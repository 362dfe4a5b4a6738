package otlp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
	"github.com/ebpftrace/ebpftrace/runtime/sink/otlp/otlptest"
)

// record is one span record as the runtime decodes it.
type record map[string]sink.Value

func (r record) Field(_ []byte, f compiler.Field) sink.Value { return r[f.Name] }
func (record) Frames(sink.Stack) []string                    { return nil }
func (record) Name(s sink.Symbol) string                     { return fmt.Sprintf("fn%x", s.Addr) }

func layout(probe, name string, attrs ...string) *compiler.Event {
	ev := &compiler.Event{Kind: compiler.EventSpan, Probe: probe, Span: name,
		Fields: []compiler.Field{{Name: "start", Time: true}, {Name: "duration"}}}
	for _, a := range attrs {
		ev.Fields = append(ev.Fields, compiler.Field{Name: a})
	}
	return ev
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		endpoint, err string
	}{
		{"127.0.0.1:4317", ""},
		{"localhost", ""},
		{"grpc://[::1]:4317", ""},
		{"grpcs://collector.example:443", ""},
		{"http://127.0.0.1:4318", ""},
		{"https://collector.example/otlp/v1/traces", ""},
		{"127.0.0.1:99999", "bad port"},
		{"ftp://x:1", "unknown scheme ftp"},
		{"grpc://x:1/v1/traces", "a gRPC endpoint has no path"},
		{"http://", "no host"},
	}
	for _, tt := range tests {
		x, err := New(context.Background(), Options{Endpoint: tt.endpoint})
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.endpoint, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "--otlp "+tt.endpoint)):
			t.Errorf("%s: error %v, want %q", tt.endpoint, err, tt.err)
		}
		if x != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			x.Close(ctx)
			cancel()
		}
	}
}

// Spans reach a receiver over gRPC and HTTP with their times, names,
// kinds and attributes.
func TestSend(t *testing.T) {
	rcv, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Stop()
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i, endpoint := range []string{rcv.GRPCAddr, "http://" + rcv.HTTPAddr} {
		x, err := New(context.Background(), Options{Endpoint: endpoint, Interval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		uprobe := layout("uprobe:/bin/app:main.handle", "main.handle", "process.pid", "thread.name", "route", "fn")
		http := layout("http.server:/bin/app", "http.server", "method", "status")
		for j := range 3 {
			r := record{"start": start.Add(time.Duration(j) * time.Second), "duration": uint64(j+1) * 1e6,
				"process.pid": uint64(42), "thread.name": "app", "route": "/x\xff", "fn": sink.Symbol{PID: 42, Addr: 0xab}}
			if err := x.Span(&sink.Event{Layout: uprobe, R: r}); err != nil {
				t.Fatal(err)
			}
		}
		if err := x.Span(&sink.Event{Layout: http, R: record{"start": start, "duration": uint64(5e6), "method": "GET", "status": int64(200)}}); err != nil {
			t.Fatal(err)
		}
		rep := x.Close(context.Background())
		if rep.Spans != 4 || rep.Sent != 4 || rep.Dropped != 0 || rep.Err != nil {
			t.Errorf("%s: report %+v", endpoint, rep)
		}
		got := rcv.Wait(4*(i+1), 5*time.Second)[4*i:]
		if len(got) != 4 {
			t.Fatalf("%s: received %d spans", endpoint, len(got))
		}
		for j, s := range got[:3] {
			if s.Name != "main.handle" || s.Kind != tracepb.Span_SPAN_KIND_INTERNAL || !s.Start.Equal(start.Add(time.Duration(j)*time.Second)) || s.Duration() != time.Duration(j+1)*time.Millisecond {
				t.Errorf("%s: span %d: %s %s %s %s", endpoint, j, s.Name, s.Kind, s.Start, s.Duration())
			}
			want := map[string]any{"ebpftrace.probe": "uprobe:/bin/app:main.handle", "process.pid": int64(42), "thread.name": "app", "route": "/x\uFFFD", "fn": "fnab"}
			if fmt.Sprint(s.Attrs) != fmt.Sprint(want) {
				t.Errorf("%s: attributes %v, want %v", endpoint, s.Attrs, want)
			}
			if s.Resource["service.name"] != "ebpftrace" {
				t.Errorf("resource %v", s.Resource)
			}
		}
		if s := got[3]; s.Name != "http.server" || s.Kind != tracepb.Span_SPAN_KIND_SERVER || s.Attrs["status"] != int64(200) {
			t.Errorf("%s: http span %s %s %v", endpoint, s.Name, s.Kind, s.Attrs)
		}
	}
	t.Logf("as a collector's debug exporter shows them:\n%s", otlptest.Dump(rcv.Spans()[:1]))
}

// With the endpoint down the tracer never waits: spans beyond the queue
// are dropped at once, the rest when time is up at exit, and the report
// says how many and why.
func TestEndpointDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	x, err := New(context.Background(), Options{Endpoint: addr, Queue: 10, Batch: 5, Interval: 10 * time.Millisecond, ExportTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ev := layout("uprobe:/bin/app:main.handle", "main.handle")
	for range 1000 {
		if err := x.Span(&sink.Event{Layout: ev, R: record{"start": time.Now(), "duration": uint64(1)}}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	rep := x.Close(ctx)
	if rep.Spans != 1000 || rep.Sent != 0 || rep.Dropped != 1000 || rep.Err == nil {
		t.Errorf("report %+v", rep)
	}
	if s := rep.String(); !strings.Contains(s, "0 spans sent to "+addr+"; 1000 dropped (") {
		t.Errorf("report reads %q", s)
	}
}
