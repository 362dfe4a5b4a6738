// Package http is the stdlib pack for Go's net/http: the sources
// http.server(bin) and http.client(bin), one event per finished request.
//
// Server: a uprobe on net/http.serverHandler.ServeHTTP's entry and on
// each of its RET instructions brackets the handler on its goroutine
// (keyed by {pid, g}); HTTP/1 and net/http's own HTTP/2 (TLS or, from Go
// 1.24, unencrypted) both call handlers through it. The status is the
// first final code passed to (*response).WriteHeader or
// (*http2responseWriter).WriteHeader for the request's ResponseWriter, or
// 200 when the handler wrote none (net/http writes that 200 in
// finishRequest, after ServeHTTP returned).
//
// Client: net/http.(*Transport).roundTrip's entry and RETs; one event per
// round trip (each redirect is one), with the status of the returned
// Response, 0 when it returned an error.
//
// The helper is bpf/http.c. The offsets it needs (Request.Method, URL,
// ProtoMajor, Host; url.URL.Host, Path; Response.StatusCode, ProtoMajor;
// runtime.g.goid) and the registers of the probed functions' arguments
// come from the binary's DWARF when it has some, otherwise from a table by
// Go version (go1.17 to go1.26), so stripped binaries work.
package http

import (
	"fmt"
	"sort"

	"github.com/ebpftrace/ebpftrace/bpf"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// The probed functions.
const (
	fnServe          = "net/http.serverHandler.ServeHTTP"
	fnWriteHeader    = "net/http.(*response).WriteHeader"
	fnH2WriteHeader  = "net/http.(*http2responseWriter).WriteHeader"
	fnRoundTrip      = "net/http.(*Transport).roundTrip"
	progServerStart  = "http_server_start"
	progServerEnd    = "http_server_end"
	progWriteHeader  = "http_server_write_header"
	progClientStart  = "http_client_start"
	progClientEnd    = "http_client_end"
	methodSize       = 16
	pathSize         = 128
	hostSize         = 64
	eventSize        = 32 + methodSize + pathSize + hostSize
	pathFieldOffset  = 32 + methodSize
	hostFieldOffset  = pathFieldOffset + pathSize
	firstFinalStatus = 200
)

// versions is what both sources support (see table in facts.go).
const versions = "Go 1.17 or newer with DWARF; stripped binaries of go1.17 to go1.26"

// Schema returns the layout of http events, shared by both sources (see
// struct http_event in bpf/http.c; TestSchemaMatchesHelper compares them).
func Schema() *pack.Schema {
	return &pack.Schema{
		Type: "http_event",
		Size: eventSize,
		Fields: []pack.Field{
			{Name: "start", Offset: 0, Size: 8, Kind: pack.Unsigned, Doc: "monotonic ns (like nsecs) when the request started"},
			{Name: "duration", Offset: 8, Size: 8, Kind: pack.Unsigned, Doc: "ns from the start of the request to its end"},
			{Name: "goid", Offset: 16, Size: 8, Kind: pack.Unsigned, Doc: "ID of the goroutine that ran the handler (server) or the round trip (client)"},
			{Name: "status", Offset: 24, Size: 4, Kind: pack.Unsigned, Doc: "HTTP status code; client: 0 when the round trip failed"},
			{Name: "proto", Offset: 28, Size: 4, Kind: pack.Unsigned, Doc: "HTTP major version, 1 or 2 (client: of the response)"},
			{Name: "method", Offset: 32, Size: methodSize, Kind: pack.String, Doc: "request method, e.g. GET"},
			{Name: "path", Offset: pathFieldOffset, Size: pathSize, Kind: pack.String, Doc: "URL path, without the query (first 127 bytes)"},
			{Name: "host", Offset: hostFieldOffset, Size: hostSize, Kind: pack.String, Doc: "server: the Host header; client: the URL's host[:port]"},
		},
		Span: span,
	}
}

// span names a request's span and gives OpenTelemetry's HTTP attributes
// (semantic conventions 1.26): the span is named after the method, as the
// conventions say when the route is not known.
func span(field func(string) any) (string, []pack.Attr) {
	str := func(n string) string { s, _ := field(n).(string); return s }
	num := func(n string) int64 {
		switch v := field(n).(type) {
		case uint64:
			return int64(v)
		case int64:
			return v
		}
		return 0
	}
	method := str("method")
	attrs := []pack.Attr{
		{Key: "http.request.method", Value: method},
		{Key: "url.path", Value: str("path")},
		{Key: "server.address", Value: str("host")},
	}
	if status := num("status"); status != 0 {
		attrs = append(attrs, pack.Attr{Key: "http.response.status_code", Value: status})
	}
	switch num("proto") {
	case 1:
		attrs = append(attrs, pack.Attr{Key: "network.protocol.version", Value: "1.1"})
	case 2:
		attrs = append(attrs, pack.Attr{Key: "network.protocol.version", Value: "2"})
	}
	return method, attrs
}

// Server returns the http.server source.
func Server() *pack.Source {
	return &pack.Source{
		Name:     "http.server",
		Doc:      "one event per request a Go net/http server finished",
		Versions: versions,
		Schema:   Schema(),
		Resolve:  func(b *gobin.Binary) (*pack.Target, error) { return resolve(b, server) },
	}
}

// Client returns the http.client source.
func Client() *pack.Source {
	return &pack.Source{
		Name:     "http.client",
		Doc:      "one event per round trip of a Go net/http client (Transport)",
		Versions: versions,
		Schema:   Schema(),
		Resolve:  func(b *gobin.Binary) (*pack.Target, error) { return resolve(b, client) },
	}
}

// side is the server or the client half of the pack.
type side struct {
	name     string
	programs []string
	// constants are the helper constants its programs read.
	constants []string
	probes    func(b *gobin.Binary) ([]pack.Probe, error)
}

var (
	server = side{
		name:     "http.server",
		programs: []string{progServerStart, progServerEnd, progWriteHeader},
		constants: []string{"go_g_goid", "go_req_method", "go_req_url", "go_req_proto_major", "go_req_host",
			"go_url_path", "srv_rw_reg", "srv_req_reg", "wh_rw_reg", "wh_code_reg"},
		probes: serverProbes,
	}
	client = side{
		name:     "http.client",
		programs: []string{progClientStart, progClientEnd},
		constants: []string{"go_g_goid", "go_req_method", "go_req_url", "go_req_proto_major", "go_url_host",
			"go_url_path", "go_resp_status", "go_resp_proto_major", "cli_req_reg", "cli_resp_reg"},
		probes: clientProbes,
	}
)

func serverProbes(b *gobin.Binary) ([]pack.Probe, error) {
	ps, err := pack.FuncProbes(b, fnServe, progServerStart, progServerEnd)
	if err != nil {
		if pack.IsNotFound(err) {
			return nil, fmt.Errorf("%s has no net/http server (%s not found)", b.Path, fnServe)
		}
		return nil, err
	}
	wh, err := pack.FuncProbes(b, fnWriteHeader, progWriteHeader, "")
	if err != nil {
		return nil, err
	}
	ps = append(ps, wh...)
	// HTTP/2 is linked into every net/http server, but a build may have
	// dropped the method; then only HTTP/1 status codes can be seen.
	h2, err := pack.FuncProbes(b, fnH2WriteHeader, progWriteHeader, "")
	if err != nil && !pack.IsNotFound(err) {
		return nil, err
	}
	return append(ps, h2...), nil
}

func clientProbes(b *gobin.Binary) ([]pack.Probe, error) {
	ps, err := pack.FuncProbes(b, fnRoundTrip, progClientStart, progClientEnd)
	if err != nil && pack.IsNotFound(err) {
		return nil, fmt.Errorf("%s has no net/http client (%s not found)", b.Path, fnRoundTrip)
	}
	return ps, err
}

// resolve builds the target of one side for b.
func resolve(b *gobin.Binary, s side) (*pack.Target, error) {
	minor, err := pack.GoMinor(b)
	if err != nil {
		return nil, err
	}
	probes, err := s.probes(b)
	if err != nil {
		return nil, err
	}
	all, from, err := Facts(b, minor, s.constants)
	if err != nil {
		return nil, err
	}
	consts := map[string]uint64{}
	for _, c := range s.constants {
		consts[c] = all[c]
	}
	spec, err := bpf.HTTP()
	if err != nil {
		return nil, fmt.Errorf("load the http helper object: %w", err)
	}
	spec, err = pack.NewSpec(spec, s.programs, consts)
	if err != nil {
		return nil, fmt.Errorf("http helper: %w", err)
	}
	sort.SliceStable(probes, func(i, j int) bool { return probes[i].Offset < probes[j].Offset })
	return &pack.Target{
		Source:    s.name,
		Path:      b.Path,
		GoVersion: b.GoVersion,
		FactsFrom: from,
		Spec:      spec,
		Constants: consts,
		Probes:    probes,
		Schema:    Schema(),
	}, nil
}
