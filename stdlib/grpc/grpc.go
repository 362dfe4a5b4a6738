// Package grpc is the stdlib pack for grpc-go (google.golang.org/grpc):
// the sources grpc.server(bin) and grpc.client(bin). By default a chain
// gets one event per finished RPC, with its method, kind, status,
// duration and message counts; it may also select the steps of each RPC
// (start, send, recv, close_send), which carry the same stream ID as its
// end, so they join (see Schema and stdlib/README.md).
//
// An RPC is followed by grpc-go's object for it, not by one goroutine,
// since handlers and callers may send and receive on goroutines of their
// own. Server: the transport stream that (*Server).handleStream serves
// (its entry and RETs bracket the RPC); processUnaryRPC,
// processStreamingRPC or processRPC give the kind; recvAndDecompress and
// (*http2Server).Write count messages; WriteStatus gives the status.
// Client: the *clientStream; newClientStream starts the RPC, the function
// that makes the clientStream binds it, SendMsg and (*csAttempt).recvMsg
// count messages, CloseSend is close_send, and (*clientStream).finish,
// which grpc-go runs once per RPC, ends it with the status of its error.
// The helper is bpf/grpc.c.
//
// grpc-go's version comes from the binary's build information or, when
// that lacks dependencies (Debian's etcd), from the "grpc-go/1.x.y"
// user-agent string compiled into it. Which functions exist and how they
// are called changed across releases; the table in facts.go says it for
// v1.33 to v1.85, and a version outside it is refused. Struct offsets and
// argument registers come from DWARF, else (stripped binaries) struct
// offsets from the runtime type descriptors the binary keeps, else the
// table.
package grpc

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ebpftrace/ebpftrace/bpf"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// The helper's programs.
const (
	progServerStart     = "grpc_server_start"
	progServerUnary     = "grpc_server_unary"
	progServerStreaming = "grpc_server_streaming"
	progServerRecvStart = "grpc_server_recv_start"
	progServerRecvEnd   = "grpc_server_recv_end"
	progServerSendStart = "grpc_server_send_start"
	progServerSendEnd   = "grpc_server_send_end"
	progServerStatus    = "grpc_server_status"
	progServerEnd       = "grpc_server_end"
	progClientStart     = "grpc_client_start"
	progClientCreated   = "grpc_client_created"
	progClientSendStart = "grpc_client_send_start"
	progClientSendEnd   = "grpc_client_send_end"
	progClientRecvStart = "grpc_client_recv_start"
	progClientRecvEnd   = "grpc_client_recv_end"
	progClientCloseSend = "grpc_client_close_send"
	progClientEnd       = "grpc_client_end"
)

// The event layout (struct grpc_event in bpf/grpc.c).
const (
	eventSize  = 16
	kindSize   = 16
	statusSize = 24
	methodSize = 128
	eventOff   = 48
	kindOff    = eventOff + eventSize
	statusOff  = kindOff + kindSize
	methodOff  = statusOff + statusSize
	schemaSize = methodOff + methodSize
)

// Events are the values of the event field, in the bit order of the
// helper's ebt_std_events (enum EV_* in bpf/grpc.c).
var Events = []string{"start", "send", "recv", "close_send", "end"}

// Kinds are the values of the kind field.
var Kinds = []string{"unary", "client_stream", "server_stream", "bidi", "unknown"}

// Codes are the names of the gRPC status codes 0 to 16, as
// google.golang.org/grpc/codes.Code.String() gives them; the status field
// holds one of them, or "Code(N)" for a code beyond.
var Codes = []string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
	"Internal", "Unavailable", "DataLoss", "Unauthenticated"}

// span names an RPC's span "pkg.Service/Method" and gives OpenTelemetry's
// RPC attributes (semantic conventions 1.26).
func span(field func(string) any) (string, []pack.Attr) {
	method, _ := field("method").(string)
	full := strings.TrimPrefix(method, "/")
	service, name, _ := strings.Cut(full, "/")
	attrs := []pack.Attr{
		{Key: "rpc.system", Value: "grpc"},
		{Key: "rpc.service", Value: service},
		{Key: "rpc.method", Value: name},
	}
	if ev, _ := field("event").(string); ev == "" || ev == "end" {
		var code int64
		switch v := field("code").(type) {
		case uint64:
			code = int64(v)
		case int64:
			code = v
		}
		attrs = append(attrs, pack.Attr{Key: "rpc.grpc.status_code", Value: code})
	}
	return full, attrs
}

// Schema returns the layout of grpc events, shared by both sources (see
// struct grpc_event in bpf/grpc.c; TestSchemaMatchesHelper compares
// them).
func Schema() *pack.Schema {
	return &pack.Schema{
		Type: "grpc_event",
		Size: schemaSize,
		Fields: []pack.Field{
			{Name: "start", Offset: 0, Size: 8, Kind: pack.Unsigned, Doc: "monotonic ns (like nsecs) when the RPC started"},
			{Name: "duration", Offset: 8, Size: 8, Kind: pack.Unsigned, Doc: "end: ns from the start of the RPC to its end; other events: ns since the start"},
			{Name: "goid", Offset: 16, Size: 8, Kind: pack.Unsigned, Doc: "ID of the goroutine where the event happened (server start and end: the one grpc-go runs the handler on)"},
			{Name: "stream", Offset: 24, Size: 8, Kind: pack.Unsigned, Doc: "ID of the RPC, the same in all its events (unique while the program is traced)"},
			{Name: "sent", Offset: 32, Size: 4, Kind: pack.Unsigned, Doc: "messages sent so far (end: in all)"},
			{Name: "received", Offset: 36, Size: 4, Kind: pack.Unsigned, Doc: "messages received so far (end: in all)"},
			{Name: "code", Offset: 40, Size: 4, Kind: pack.Unsigned, Doc: "end: the numeric gRPC status code (0 is OK); 0 in other events"},
			{Name: "event", Offset: eventOff, Size: eventSize, Kind: pack.String, Values: Events,
				Doc: "the step of the RPC: start, send, recv, close_send or end (the default, and the only one unless selected)"},
			{Name: "kind", Offset: kindOff, Size: kindSize, Kind: pack.String, Values: Kinds,
				Doc: "unary, client_stream, server_stream or bidi; unknown for a method the server does not have"},
			{Name: "status", Offset: statusOff, Size: statusSize, Kind: pack.String,
				Doc: "end: the status code's name (OK, NotFound…, Code(N) beyond Unauthenticated); empty in other events"},
			{Name: "method", Offset: methodOff, Size: methodSize, Kind: pack.String, Doc: "full method name, /package.Service/Method (first 127 bytes)"},
		},
		DefaultEvents: []string{"end"},
		Span:          span,
	}
}

// Server returns the grpc.server source.
func Server() *pack.Source {
	return &pack.Source{
		Name:     "grpc.server",
		Doc:      "the RPCs a grpc-go server handled: one event per RPC, or per step when selected",
		Versions: versionsDoc,
		Schema:   Schema(),
		Resolve:  func(b *gobin.Binary) (*pack.Target, error) { return resolve(b, server) },
	}
}

// Client returns the grpc.client source.
func Client() *pack.Source {
	return &pack.Source{
		Name:     "grpc.client",
		Doc:      "the RPCs a grpc-go client made: one event per RPC, or per step when selected",
		Versions: versionsDoc,
		Schema:   Schema(),
		Resolve:  func(b *gobin.Binary) (*pack.Target, error) { return resolve(b, client) },
	}
}

// side is the server or the client half of the pack.
type side struct {
	name string
	// anchor is the function whose absence means the binary has no such
	// side (no gRPC server, or no client).
	anchor   string
	programs []string
	// constants are the helper constants its programs read.
	constants []string
	probes    func(b *gobin.Binary, r *row) ([]pack.Probe, error)
}

var (
	server = side{
		name:   "grpc.server",
		anchor: fnHandleStream,
		programs: []string{progServerStart, progServerUnary, progServerStreaming, progServerRecvStart,
			progServerRecvEnd, progServerSendStart, progServerSendEnd, progServerStatus, progServerEnd},
		constants: []string{"go_g_goid", "srv_stream_ptr", "srv_method", "desc_server_streams", "desc_client_streams",
			"status_s", "spb_code", "hash_error_string", "hs_stream_reg", "sd_reg", "rd_stream_reg", "rd_err_reg",
			"rd_err_data_reg", "wr_stream_reg", "wr_err_reg", "ws_stream_reg", "ws_status_reg"},
		probes: serverProbes,
	}
	client = side{
		name:   "grpc.client",
		anchor: fnNewClientStream,
		programs: []string{progClientStart, progClientCreated, progClientSendStart, progClientSendEnd,
			progClientRecvStart, progClientRecvEnd, progClientCloseSend, progClientEnd},
		constants: []string{"go_g_goid", "desc_server_streams", "desc_client_streams", "status_s", "spb_code",
			"err_status", "err_status_indirect", "hash_status_error", "hash_error_string", "ncs_desc_reg",
			"ncs_method_reg", "ncs_method_len_reg", "ncs_cs_reg", "ncs_err_reg", "ncs_err_data_reg", "cs_reg",
			"send_err_reg", "recv_err_reg", "fin_err_reg", "fin_err_data_reg"},
		probes: clientProbes,
	}
)

// probeSet lists the functions of one side and the programs at their
// entry and RETs ("" for none); a function named "" is skipped (absent
// in this version).
type probeSet []struct{ fn, entry, ret string }

func (ps probeSet) probes(b *gobin.Binary) ([]pack.Probe, error) {
	var out []pack.Probe
	for _, p := range ps {
		if p.fn == "" {
			continue
		}
		got, err := pack.FuncProbes(b, p.fn, p.entry, p.ret)
		if err != nil {
			if pack.IsNotFound(err) {
				return nil, fmt.Errorf("%s has no function %s, which this grpc-go version should have (inlined by the compiler, or a modified grpc-go)", b.Path, p.fn)
			}
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func serverProbes(b *gobin.Binary, r *row) ([]pack.Probe, error) {
	return probeSet{
		{fnHandleStream, progServerStart, progServerEnd},
		{r.unaryFn, progServerUnary, ""},
		{r.streamingFn, progServerStreaming, ""},
		{fnRecvAndDecompress, progServerRecvStart, progServerRecvEnd},
		{r.writeFn, progServerSendStart, progServerSendEnd},
		{r.writeStatusFn, progServerStatus, ""},
	}.probes(b)
}

func clientProbes(b *gobin.Binary, r *row) ([]pack.Probe, error) {
	return probeSet{
		{fnNewClientStream, progClientStart, progClientCreated},
		{r.bindFn, "", progClientCreated},
		{fnSendMsg, progClientSendStart, progClientSendEnd},
		{fnRecvMsg, progClientRecvStart, ""},
		{fnAttemptRecvMsg, "", progClientRecvEnd},
		{fnCloseSend, progClientCloseSend, ""},
		{fnFinish, progClientEnd, ""},
	}.probes(b)
}

// resolve builds the target of one side for b.
func resolve(b *gobin.Binary, s side) (*pack.Target, error) {
	if _, err := pack.GoMinor(b); err != nil {
		return nil, err
	}
	version, err := Version(b)
	if err != nil {
		return nil, err
	}
	if _, err := b.Func(s.anchor); err != nil {
		if pack.IsNotFound(err) {
			return nil, fmt.Errorf("%s has no gRPC %s (%s not found)", b.Path, s.name[len("grpc."):], s.anchor)
		}
		return nil, err
	}
	r, err := rowFor(b, version)
	if err != nil {
		return nil, err
	}
	probes, err := s.probes(b, r)
	if err != nil {
		return nil, err
	}
	consts, from, err := Facts(b, r, s.constants)
	if err != nil {
		return nil, err
	}
	spec, err := bpf.GRPC()
	if err != nil {
		return nil, fmt.Errorf("load the grpc helper object: %w", err)
	}
	// Only the programs this version has functions for (no
	// processUnaryRPC from v1.84).
	var programs []string
	for _, name := range s.programs {
		if slices.ContainsFunc(probes, func(p pack.Probe) bool { return p.Program == name }) {
			programs = append(programs, name)
		}
	}
	spec, err = pack.NewSpec(spec, programs, consts)
	if err != nil {
		return nil, fmt.Errorf("grpc helper: %w", err)
	}
	// The default selection: end events only.
	if v := spec.Variables[pack.EventsConstant]; v != nil {
		var m uint32
		if err := v.Get(&m); err == nil {
			consts[pack.EventsConstant] = uint64(m)
		}
	}
	sort.SliceStable(probes, func(i, j int) bool { return probes[i].Offset < probes[j].Offset })
	return &pack.Target{
		Source:    s.name,
		Path:      b.Path,
		GoVersion: b.GoVersion,
		FactsFrom: fmt.Sprintf("grpc-go %s (%s); %s", version.String, version.From, from),
		Spec:      spec,
		Constants: consts,
		Probes:    probes,
		Schema:    Schema(),
	}, nil
}

// errNoGRPC says a binary does not use grpc-go.
var errNoGRPC = errors.New("does not use grpc-go (google.golang.org/grpc)")
