// Package otlptest is an OTLP trace receiver for tests: the collector's
// TraceService over gRPC (go.opentelemetry.io/proto/otlp) and the OTLP/HTTP
// protobuf endpoint, keeping every span it is sent.
package otlptest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Span is a received span, flattened.
type Span struct {
	Name       string
	Kind       tracepb.Span_SpanKind
	Start, End time.Time
	TraceID    []byte
	SpanID     []byte
	Attrs      map[string]any // int64, string, bool, float64
	Resource   map[string]any
}

// Duration is End - Start.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Receiver collects spans. Its zero value is not usable; see Start.
type Receiver struct {
	collectortrace.UnimplementedTraceServiceServer

	mu    sync.Mutex
	spans []Span
	cond  *sync.Cond

	grpc *grpc.Server
	http *http.Server
	// GRPCAddr and HTTPAddr are host:port.
	GRPCAddr, HTTPAddr string
}

// Start serves OTLP/gRPC and OTLP/HTTP on two ports of 127.0.0.1 until
// Stop.
func Start() (*Receiver, error) {
	r := &Receiver{}
	r.cond = sync.NewCond(&r.mu)
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return nil, err
	}
	r.GRPCAddr, r.HTTPAddr = gl.Addr().String(), hl.Addr().String()
	r.grpc = grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(r.grpc, r)
	go r.grpc.Serve(gl)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", r.serveHTTP)
	r.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go r.http.Serve(hl)
	return r, nil
}

// Stop stops both servers.
func (r *Receiver) Stop() {
	r.grpc.Stop()
	r.http.Close()
}

// Export implements the collector's TraceService.
func (r *Receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&msg)
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (r *Receiver) add(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, Span{
					Name: s.Name, Kind: s.Kind,
					Start: time.Unix(0, int64(s.StartTimeUnixNano)), End: time.Unix(0, int64(s.EndTimeUnixNano)),
					TraceID: s.TraceId, SpanID: s.SpanId, Attrs: attrs(s.Attributes), Resource: res,
				})
			}
		}
	}
	r.cond.Broadcast()
}

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.Value.GetValue().(type) {
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = v.BoolValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = v.DoubleValue
		default:
			m[kv.Key] = kv.Value.String()
		}
	}
	return m
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Wait returns once n spans have arrived, or when d has passed.
func (r *Receiver) Wait(n int, d time.Duration) []Span {
	t := time.AfterFunc(d, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer t.Stop()
	deadline := time.Now().Add(d)
	r.mu.Lock()
	for len(r.spans) < n && time.Now().Before(deadline) {
		r.cond.Wait()
	}
	r.mu.Unlock()
	return r.Spans()
}

// Dump renders spans as a collector's debug exporter does (detailed), for
// humans and docs.
func Dump(spans []Span) string {
	var b strings.Builder
	for i, s := range spans {
		fmt.Fprintf(&b, "Span #%d\n", i)
		fmt.Fprintf(&b, "    Trace ID       : %x\n", s.TraceID)
		fmt.Fprintf(&b, "    ID             : %x\n", s.SpanID)
		fmt.Fprintf(&b, "    Name           : %s\n", s.Name)
		fmt.Fprintf(&b, "    Kind           : %s\n", strings.TrimPrefix(s.Kind.String(), "SPAN_KIND_"))
		fmt.Fprintf(&b, "    Start time     : %s\n", s.Start.UTC().Format("2006-01-02 15:04:05.999999999 -0700 MST"))
		fmt.Fprintf(&b, "    End time       : %s\n", s.End.UTC().Format("2006-01-02 15:04:05.999999999 -0700 MST"))
		fmt.Fprintf(&b, "    Duration       : %s\n", s.Duration())
		b.WriteString("Attributes:\n")
		keys := make([]string, 0, len(s.Attrs))
		for k := range s.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := s.Attrs[k]
			typ := "Str"
			if _, ok := v.(int64); ok {
				typ = "Int"
			}
			fmt.Fprintf(&b, "     -> %s: %s(%v)\n", k, typ, v)
		}
	}
	return b.String()
}
