package grpc

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ebpftrace/ebpftrace/internal/gobin"
)

// The probed functions.
const (
	grpcPkg             = "google.golang.org/grpc"
	transportPkg        = grpcPkg + "/internal/transport"
	fnHandleStream      = grpcPkg + ".(*Server).handleStream"
	fnProcessUnary      = grpcPkg + ".(*Server).processUnaryRPC"
	fnProcessStreaming  = grpcPkg + ".(*Server).processStreamingRPC"
	fnProcessRPC        = grpcPkg + ".(*Server).processRPC"
	fnRecvAndDecompress = grpcPkg + ".recvAndDecompress"
	fnWrite             = transportPkg + ".(*http2Server).Write"
	fnWriteLower        = transportPkg + ".(*http2Server).write"
	fnWriteStatus       = transportPkg + ".(*http2Server).WriteStatus"
	fnWriteStatusLower  = transportPkg + ".(*http2Server).writeStatus"
	fnNewClientStream   = grpcPkg + ".newClientStream"
	fnNewClientStreamWP = grpcPkg + ".newClientStreamWithParams"
	fnSendMsg           = grpcPkg + ".(*clientStream).SendMsg"
	fnRecvMsg           = grpcPkg + ".(*clientStream).RecvMsg"
	fnAttemptRecvMsg    = grpcPkg + ".(*csAttempt).recvMsg"
	fnCloseSend         = grpcPkg + ".(*clientStream).CloseSend"
	fnFinish            = grpcPkg + ".(*clientStream).finish"
)

// The Go types whose fields the helper reads.
const (
	typeStream       = transportPkg + ".Stream"
	typeServerStream = transportPkg + ".ServerStream"
	typeStreamDesc   = grpcPkg + ".StreamDesc"
	typeStatus       = grpcPkg + "/internal/status.Status"
	typeStatusError  = grpcPkg + "/internal/status.Error"
	typeSpbStatus    = "google.golang.org/genproto/googleapis/rpc/status.Status"
	// The dynamic types of the errors the helper tells apart by the type
	// hash their itab carries.
	typePtrStatusError = "*" + typeStatusError
	typePtrErrorString = "*errors.errorString"
)

// noOffset is bpf/grpc.c's NO_OFFSET: the handleStream stream is the
// *transport.Stream itself.
const noOffset = ^uint64(0)

// The Go ABI register indexes (bpf/ebt_go.h).
const (
	rax = iota
	rbx
	rcx
	rdi
	rsi
	r8
	r9
	r10
)

// versionsDoc is what both sources support (the table below).
const versionsDoc = "grpc-go v1.33 to v1.85 (from the build information or the grpc-go/1.x.y user agent), Go 1.17 or newer; DWARF or stripped"

// streamKind says what handleStream's stream argument is.
type streamKind int

const (
	// plainStream: a *transport.Stream (before v1.69).
	plainStream streamKind = iota
	// pointerEmbed: a *transport.ServerStream embedding a *Stream
	// (v1.69 to v1.76).
	pointerEmbed
	// valueEmbed: a *transport.ServerStream embedding a Stream (v1.77+).
	valueEmbed
)

// row is what one range of grpc-go minor versions needs: the functions
// that exist, how the arguments that change are passed, and the struct
// offsets a stripped binary without type descriptors falls back to.
type row struct {
	first, last int // grpc-go minor versions 1.first to 1.last, inclusive
	// streamMethod is transport.Stream.method's offset.
	streamMethod uint64
	stream       streamKind
	// sdReg is the register of processStreamingRPC's / processRPC's sd.
	sdReg uint64
	// rdStreamReg is the register of recvAndDecompress's s: the pointer
	// before v1.69, the data word of a recvCompressor interface after.
	rdStreamReg uint64
	// errIndirect: internal/status.Error holds a *Status (v1.40+), not
	// a *spb.Status.
	errIndirect bool
	// The functions that changed name or appeared.
	unaryFn, streamingFn, writeFn, writeStatusFn, bindFn string
}

// table is the version table. Checked against the grpc-go source at each
// tag (github.com/grpc/grpc-go: server.go, stream.go, rpc_util.go,
// internal/transport/{transport,server_stream,http2_server}.go,
// internal/status/status.go) for every minor from v1.33 to v1.85, against
// the DWARF offsets opentelemetry-go-instrumentation publishes
// (internal/pkg/inject/offset_results.json: Stream.method 72 for
// v1.25–v1.36, 80 for v1.37–v1.65, 88 for v1.66–v1.68, 24 for
// v1.69–v1.76, 16 from v1.77; ServerStream.Stream at 0 from v1.69;
// Error.s from v1.40), and by tests: TestTableMatchesDWARF on builds of
// examples/grpc with v1.56 (Go 1.19), v1.66 and v1.85 (Go 1.26),
// TestTableMatchesEtcd on Debian's etcd (v1.33.3, stripped: its runtime
// type descriptors), and TestVersions, which builds the examples against
// the releases at the rows' edges (v1.36, v1.37, v1.40, v1.58, v1.59,
// v1.68, v1.69, v1.76, v1.77, v1.83, v1.84), compares their DWARF with
// the table and traces their stripped builds (passed on 2026-12-03; it
// downloads them, so it runs when EBT_GRPC_VERSIONS is set).
//
// What changed, by version:
//   - v1.37: newClientStreamWithParams makes the clientStream.
//   - v1.40: status.Error holds a *Status (it held the *spb.Status).
//   - v1.59: processStreamingRPC takes a ctx first, so sd moves from the
//     6th to the 8th register (R8 to R10).
//   - v1.66: transport.Stream.method moves to 88.
//   - v1.69: handleStream, processStreamingRPC and the transport take a
//     *ServerStream embedding *Stream; Write/WriteStatus become
//     write/writeStatus; recvAndDecompress takes an interface; sd is back
//     in R8.
//   - v1.77: ServerStream embeds Stream by value.
//   - v1.84: processRPC replaces processUnaryRPC and processStreamingRPC
//     (unary methods run as streams of StreamDesc{false, false}).
//
// Unchanged from v1.33 to v1.85: handleStream's stream in RDI; Write's and
// WriteStatus's stream in RBX, WriteStatus's *status.Status in RCX;
// recvAndDecompress's error result in RDI:RSI; newClientStream's desc in
// RCX and method in RSI:R8, its and newClientStreamWithParams' results in
// RAX:RBX (ClientStream) and RCX:RDI (error); the clientStream receivers
// in RAX, SendMsg's and csAttempt.recvMsg's error result in RAX, finish's
// err in RBX:RCX; StreamDesc.ServerStreams at 24 and ClientStreams at 25;
// status.Status.s and status.Error's field at 0. genproto's
// rpc/status.Status.Code is at 40 in code generated by protoc-gen-go
// v1.20+ (APIv2, 2020) but at 0 in older genproto, which Debian's etcd
// has: so it comes from the binary's types whenever they are there.
var table = []row{
	{first: 33, last: 36, streamMethod: 72, stream: plainStream, sdReg: r8, rdStreamReg: rbx, errIndirect: false,
		unaryFn: fnProcessUnary, streamingFn: fnProcessStreaming, writeFn: fnWrite, writeStatusFn: fnWriteStatus},
	{first: 37, last: 39, streamMethod: 80, stream: plainStream, sdReg: r8, rdStreamReg: rbx, errIndirect: false,
		unaryFn: fnProcessUnary, streamingFn: fnProcessStreaming, writeFn: fnWrite, writeStatusFn: fnWriteStatus, bindFn: fnNewClientStreamWP},
	{first: 40, last: 58, streamMethod: 80, stream: plainStream, sdReg: r8, rdStreamReg: rbx, errIndirect: true,
		unaryFn: fnProcessUnary, streamingFn: fnProcessStreaming, writeFn: fnWrite, writeStatusFn: fnWriteStatus, bindFn: fnNewClientStreamWP},
	{first: 59, last: 65, streamMethod: 80, stream: plainStream, sdReg: r10, rdStreamReg: rbx, errIndirect: true,
		unaryFn: fnProcessUnary, streamingFn: fnProcessStreaming, writeFn: fnWrite, writeStatusFn: fnWriteStatus, bindFn: fnNewClientStreamWP},
	{first: 66, last: 68, streamMethod: 88, stream: plainStream, sdReg: r10, rdStreamReg: rbx, errIndirect: true,
		unaryFn: fnProcessUnary, streamingFn: fnProcessStreaming, writeFn: fnWrite, writeStatusFn: fnWriteStatus, bindFn: fnNewClientStreamWP},
	{first: 69, last: 76, streamMethod: 24, stream: pointerEmbed, sdReg: r8, rdStreamReg: rcx, errIndirect: true,
		unaryFn: fnProcessUnary, streamingFn: fnProcessStreaming, writeFn: fnWriteLower, writeStatusFn: fnWriteStatusLower, bindFn: fnNewClientStreamWP},
	{first: 77, last: 83, streamMethod: 16, stream: valueEmbed, sdReg: r8, rdStreamReg: rcx, errIndirect: true,
		unaryFn: fnProcessUnary, streamingFn: fnProcessStreaming, writeFn: fnWriteLower, writeStatusFn: fnWriteStatusLower, bindFn: fnNewClientStreamWP},
	{first: 84, last: 85, streamMethod: 16, stream: valueEmbed, sdReg: r8, rdStreamReg: rcx, errIndirect: true,
		streamingFn: fnProcessRPC, writeFn: fnWriteLower, writeStatusFn: fnWriteStatusLower, bindFn: fnNewClientStreamWP},
}

// String names the row's versions, e.g. "v1.69–v1.76".
func (r *row) String() string { return fmt.Sprintf("v1.%d–v1.%d", r.first, r.last) }

// values returns the row's value of every helper constant but the goid
// offset and the type hashes, which the binary alone says.
func (r *row) values() map[string]uint64 {
	b2u := map[bool]uint64{false: 0, true: 1}
	m := map[string]uint64{
		"srv_stream_ptr":      noOffset,
		"srv_method":          r.streamMethod,
		"desc_server_streams": 24,
		"desc_client_streams": 25,
		"status_s":            0,
		"spb_code":            40,
		"err_status":          0,
		"err_status_indirect": b2u[r.errIndirect],
		"hs_stream_reg":       rdi,
		"sd_reg":              r.sdReg,
		"rd_stream_reg":       r.rdStreamReg,
		"rd_err_reg":          rdi,
		"rd_err_data_reg":     rsi,
		"wr_stream_reg":       rbx,
		"wr_err_reg":          rax,
		"ws_stream_reg":       rbx,
		"ws_status_reg":       rcx,
		"ncs_desc_reg":        rcx,
		"ncs_method_reg":      rsi,
		"ncs_method_len_reg":  r8,
		"ncs_cs_reg":          rbx,
		"ncs_err_reg":         rcx,
		"ncs_err_data_reg":    rdi,
		"cs_reg":              rax,
		"send_err_reg":        rax,
		"recv_err_reg":        rax,
		"fin_err_reg":         rbx,
		"fin_err_data_reg":    rcx,
	}
	// From v1.69 the stream is a ServerStream whose first field is the
	// Stream: a pointer to follow (v1.69–v1.76), or the Stream itself, at
	// offset 0, so the method is at the same offset (v1.77+).
	if r.stream == pointerEmbed {
		m["srv_stream_ptr"] = 0
	}
	return m
}

// GRPCVersion is the grpc-go version a binary was built with.
type GRPCVersion struct {
	// String is the version as found, e.g. "v1.85.0".
	String string
	// Minor is its minor number: 85.
	Minor int
	// From says where it was found: "build info" or "user agent".
	From string
}

// Version finds the grpc-go version of b: in its build information (the
// module google.golang.org/grpc, following replace directives), else in
// the "grpc-go/1.x.y" user-agent string grpc-go compiles in
// (rpc_util.go: grpcUA = "grpc-go/" + Version), which binaries built
// without module information (Debian's etcd) still carry if they dial
// (the linker drops it from a program that only serves).
func Version(b *gobin.Binary) (GRPCVersion, error) {
	if v, ok := b.ModuleVersion(grpcPkg); ok {
		if minor, ok := minorOf(v); ok {
			return GRPCVersion{String: v, Minor: minor, From: "build info"}, nil
		}
	}
	if v, ok := userAgentVersion(b); ok {
		if minor, ok := minorOf(v); ok {
			return GRPCVersion{String: "v" + v, Minor: minor, From: "user agent"}, nil
		}
	}
	if v, ok := b.ModuleVersion(grpcPkg); ok {
		return GRPCVersion{}, fmt.Errorf("%s uses grpc-go %q, a version this pack cannot read", b.Path, v)
	}
	for _, fn := range []string{fnHandleStream, fnNewClientStream} {
		if _, err := b.Func(fn); err == nil {
			// A build without module information whose grpc-go never
			// dials (the user agent is a client's).
			return GRPCVersion{}, fmt.Errorf("%s uses grpc-go but does not say which version (no module information, no grpc-go/1.x.y user agent string)", b.Path)
		}
	}
	return GRPCVersion{}, fmt.Errorf("%s %w", b.Path, errNoGRPC)
}

// minorOf returns 85 for "v1.85.0" or "1.85.0-dev".
func minorOf(v string) (int, bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(v, "v"), "1.")
	if !ok {
		return 0, false
	}
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		rest = rest[:i]
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

// userAgentVersion searches b's read-only data for "grpc-go/1.x.y".
func userAgentVersion(b *gobin.Binary) (string, bool) {
	const prefix = "grpc-go/"
	for _, s := range b.ELF().Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC == 0 || s.Flags&elf.SHF_EXECINSTR != 0 || s.Flags&elf.SHF_WRITE != 0 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for off := 0; ; {
			i := bytes.Index(data[off:], []byte(prefix+"1."))
			if i < 0 {
				break
			}
			start := off + i + len(prefix)
			end := start
			for end < len(data) && end-start < 32 && (data[end] == '.' || data[end] >= '0' && data[end] <= '9') {
				end++
			}
			v := strings.TrimRight(string(data[start:end]), ".")
			if strings.Count(v, ".") >= 1 {
				return v, true
			}
			off = start
		}
	}
	return "", false
}

// rowFor returns the table row of v, or an error naming the version.
func rowFor(b *gobin.Binary, v GRPCVersion) (*row, error) {
	for i := range table {
		if r := &table[i]; v.Minor >= r.first && v.Minor <= r.last {
			return r, nil
		}
	}
	return nil, fmt.Errorf("%s uses grpc-go %s (%s); the grpc pack knows v1.%d to v1.%d, whose functions and layouts it has checked",
		b.Path, v.String, v.From, table[0].first, table[len(table)-1].last)
}

// structFact is a helper constant that holds a Go struct field's offset.
type structFact struct{ constant, typ, field string }

var structFacts = []structFact{
	{"desc_server_streams", typeStreamDesc, "ServerStreams"},
	{"desc_client_streams", typeStreamDesc, "ClientStreams"},
	{"status_s", typeStatus, "s"},
	{"spb_code", typeSpbStatus, "Code"},
}

// regFact is a helper constant that holds the Go ABI register index of
// one word of a parameter or result, found in DWARF: the parameter named
// param, or the result numbered result. word -1 is the last word: the
// data word of an interface, or a pointer's only one. Every function in
// fns must agree (one constant serves several probes).
type regFact struct {
	constant string
	fns      func(r *row) []string
	param    string
	result   int
	word     int
}

func fns(names ...string) func(*row) []string { return func(*row) []string { return names } }

var regFacts = []regFact{
	{"hs_stream_reg", fns(fnHandleStream), "stream", -1, 0},
	{"sd_reg", func(r *row) []string { return []string{r.streamingFn} }, "sd", -1, 0},
	{"rd_stream_reg", fns(fnRecvAndDecompress), "s", -1, -1},
	{"rd_err_reg", fns(fnRecvAndDecompress), "", 1, 0},
	{"rd_err_data_reg", fns(fnRecvAndDecompress), "", 1, 1},
	{"wr_stream_reg", func(r *row) []string { return []string{r.writeFn} }, "s", -1, 0},
	{"wr_err_reg", func(r *row) []string { return []string{r.writeFn} }, "", 0, 0},
	{"ws_stream_reg", func(r *row) []string { return []string{r.writeStatusFn} }, "s", -1, 0},
	{"ws_status_reg", func(r *row) []string { return []string{r.writeStatusFn} }, "st", -1, 0},
	{"ncs_desc_reg", fns(fnNewClientStream), "desc", -1, 0},
	{"ncs_method_reg", fns(fnNewClientStream), "method", -1, 0},
	{"ncs_method_len_reg", fns(fnNewClientStream), "method", -1, 1},
	{"ncs_cs_reg", bindFns, "", 0, 1},
	{"ncs_err_reg", bindFns, "", 1, 0},
	{"ncs_err_data_reg", bindFns, "", 1, 1},
	{"cs_reg", fns(fnSendMsg, fnRecvMsg, fnCloseSend, fnFinish), "cs", -1, 0},
	{"send_err_reg", fns(fnSendMsg), "", 0, 0},
	{"recv_err_reg", fns(fnAttemptRecvMsg), "", 0, 0},
	{"fin_err_reg", fns(fnFinish), "err", -1, 0},
	{"fin_err_data_reg", fns(fnFinish), "err", -1, 1},
}

// bindFns are the functions at whose RETs grpc_client_created runs.
func bindFns(r *row) []string {
	if r.bindFn == "" {
		return []string{fnNewClientStream}
	}
	return []string{fnNewClientStream, r.bindFn}
}

// Facts returns the values of the named helper constants for b: struct
// offsets from its DWARF or, for a stripped binary, from its runtime type
// descriptors; argument registers from DWARF; anything those lack from
// the row for its grpc-go version. The goroutine ID's offset is gobin's
// (DWARF, runtime.g's descriptor, or its table); the type hashes the
// helper tells errors apart by can only come from the binary. from says
// where the values came from.
func Facts(b *gobin.Binary, r *row, names []string) (consts map[string]uint64, from string, err error) {
	want := func(n string) bool { return slices.Contains(names, n) }
	tab := r.values()
	consts = map[string]uint64{}
	var fromTable []string
	typeSource := "DWARF"
	if !b.HasDWARF {
		typeSource = "runtime type descriptors"
	}

	if want("go_g_goid") {
		off, err := b.GoidOffset()
		if err != nil {
			return nil, "", fmt.Errorf("runtime.g.goid: %w", err)
		}
		consts["go_g_goid"] = uint64(off)
	}
	for _, f := range structFacts {
		if !want(f.constant) {
			continue
		}
		if fld, ok := field(b, f.typ, f.field); ok {
			consts[f.constant] = uint64(fld.Offset)
		} else {
			consts[f.constant] = tab[f.constant]
			fromTable = append(fromTable, f.constant)
		}
	}
	if want("srv_method") || want("srv_stream_ptr") {
		ptr, method, ok := streamMethod(b, r)
		if !ok {
			ptr, method = tab["srv_stream_ptr"], tab["srv_method"]
			fromTable = append(fromTable, "srv_method")
		}
		consts["srv_stream_ptr"], consts["srv_method"] = ptr, method
	}
	if want("err_status") || want("err_status_indirect") {
		if fld, ok := field(b, typeStatusError, "s"); ok {
			consts["err_status"], consts["err_status_indirect"] = uint64(fld.Offset), 1
		} else if fld, ok := field(b, typeStatusError, "e"); ok {
			consts["err_status"], consts["err_status_indirect"] = uint64(fld.Offset), 0
		} else {
			consts["err_status"], consts["err_status_indirect"] = tab["err_status"], tab["err_status_indirect"]
			fromTable = append(fromTable, "err_status")
		}
	}
	for _, h := range []struct{ constant, typ string }{
		{"hash_status_error", typePtrStatusError},
		{"hash_error_string", typePtrErrorString},
	} {
		if !want(h.constant) {
			continue
		}
		v, err := typeHash(b, h.typ)
		if err != nil {
			return nil, "", fmt.Errorf("%s: the helper tells errors apart by their type, and %w", b.Path, err)
		}
		consts[h.constant] = uint64(v)
	}
	regsFrom := "DWARF"
	var regErrs []error
	for _, f := range regFacts {
		if !want(f.constant) {
			continue
		}
		reg, err := dwarfReg(b, r, f)
		if err != nil {
			regErrs = append(regErrs, err)
			consts[f.constant] = tab[f.constant]
			regsFrom = "the " + r.String() + " table"
			continue
		}
		consts[f.constant] = uint64(reg)
	}
	if b.HasDWARF && len(regErrs) > 0 {
		// DWARF that lacks what it should have is suspect: say so rather
		// than trust the table silently.
		return nil, "", fmt.Errorf("%s: argument registers from DWARF: %w", b.Path, errors.Join(regErrs...))
	}
	from = fmt.Sprintf("offsets from %s, registers from %s", typeSource, regsFrom)
	if fromTable != nil {
		from += fmt.Sprintf(" (table %s: %s)", r, strings.Join(fromTable, ", "))
	}
	return consts, from, nil
}

// field returns the field of the named struct type from DWARF or the
// runtime type descriptors.
func field(b *gobin.Binary, typ, name string) (gobin.Field, bool) {
	t, err := b.TypeByName(typ)
	if err != nil || t.Kind != gobin.GoStruct {
		return gobin.Field{}, false
	}
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return gobin.Field{}, false
}

// streamMethod finds where handleStream's stream keeps the method:
// through the *Stream a ServerStream embeds (ptr is that field's offset),
// or at an offset in the stream itself (ptr is noOffset).
func streamMethod(b *gobin.Binary, r *row) (ptr, method uint64, ok bool) {
	m, ok := field(b, typeStream, "method")
	if !ok {
		return 0, 0, false
	}
	if r.stream == plainStream {
		return noOffset, uint64(m.Offset), true
	}
	s, ok := field(b, typeServerStream, "Stream")
	if !ok || s.Type == nil {
		return 0, 0, false
	}
	if s.Type.Kind == gobin.GoPointer {
		return uint64(s.Offset), uint64(m.Offset), true
	}
	return noOffset, uint64(s.Offset + m.Offset), true
}

// typeHash reads the hash of the named type from its runtime type
// descriptor (internal/abi.Type: size, ptrdata, then hash, a uint32),
// which is what an itab of the type carries at offset 16.
func typeHash(b *gobin.Binary, name string) (uint32, error) {
	t, err := b.TypeByName(name)
	if err != nil {
		return 0, err
	}
	if t.RuntimeAddr == 0 {
		return 0, fmt.Errorf("type %s has no runtime type descriptor", name)
	}
	data, err := b.ReadAt(t.RuntimeAddr+16, 4)
	if err != nil {
		return 0, fmt.Errorf("type %s's descriptor: %w", name, err)
	}
	return binary.LittleEndian.Uint32(data), nil
}

// dwarfReg finds a register fact in DWARF.
func dwarfReg(b *gobin.Binary, r *row, f regFact) (int, error) {
	if !b.HasDWARF {
		return 0, gobin.ErrNoDWARF
	}
	reg := -1
	for _, fn := range f.fns(r) {
		var ps []gobin.Param
		var err error
		var p *gobin.Param
		if f.param != "" {
			if ps, err = b.Params(fn); err != nil {
				return 0, err
			}
			i := slices.IndexFunc(ps, func(p gobin.Param) bool { return p.Name == f.param })
			if i < 0 {
				return 0, fmt.Errorf("%s has no parameter %s", fn, f.param)
			}
			p = &ps[i]
		} else {
			if ps, err = b.Results(fn); err != nil {
				return 0, err
			}
			if f.result >= len(ps) {
				return 0, fmt.Errorf("%s has no result %d", fn, f.result)
			}
			p = &ps[f.result]
		}
		w := f.word
		if w < 0 {
			w = len(p.Regs) - 1
		}
		if w < 0 || w >= len(p.Regs) {
			return 0, fmt.Errorf("%s: %s word %d is not in a register", fn, p.Name, f.word)
		}
		if reg >= 0 && p.Regs[w] != reg {
			return 0, fmt.Errorf("%s: %s is in %s, but %s in the other functions this probe serves", fn, p.Name, gobin.IntRegs[p.Regs[w]], gobin.IntRegs[reg])
		}
		reg = p.Regs[w]
	}
	return reg, nil
}
