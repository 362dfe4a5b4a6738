package http

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ebpftrace/ebpftrace/internal/gobin"
)

// structField is a helper constant that holds a Go struct field's offset.
type structField struct{ constant, typ, field string }

// structFields are read from DWARF when the binary has it.
var structFields = []structField{
	{"go_g_goid", "runtime.g", "goid"},
	{"go_req_method", "net/http.Request", "Method"},
	{"go_req_url", "net/http.Request", "URL"},
	{"go_req_proto_major", "net/http.Request", "ProtoMajor"},
	{"go_req_host", "net/http.Request", "Host"},
	{"go_url_host", "net/url.URL", "Host"},
	{"go_url_path", "net/url.URL", "Path"},
	{"go_resp_status", "net/http.Response", "StatusCode"},
	{"go_resp_proto_major", "net/http.Response", "ProtoMajor"},
}

// argReg is a helper constant that holds the Go ABI register index
// (0 = RAX … 8 = R11) of one word of a parameter or result.
type argReg struct {
	constant string
	fn       string
	index    int  // parameter (receiver first) or result number
	word     int  // which register of a multi-word value
	result   bool // a result, at the RETs
}

// argRegs are read from DWARF when the binary has it.
var argRegs = []argReg{
	{"srv_rw_reg", fnServe, 1, 1, false},  // rw ResponseWriter: data word
	{"srv_req_reg", fnServe, 2, 0, false}, // req *Request
	{"wh_rw_reg", fnWriteHeader, 0, 0, false},
	{"wh_code_reg", fnWriteHeader, 1, 0, false},
	{"cli_req_reg", fnRoundTrip, 1, 0, false},
	{"cli_resp_reg", fnRoundTrip, 0, 0, true}, // *Response
}

// table returns the facts of a stripped binary of Go 1.minor on amd64.
//
// Verified: every value against the Go source of go1.19.8
// (/usr/lib/go-1.19/src) and go1.26 (net/http/request.go, response.go,
// net/url/url.go, runtime/runtime2.go), against the DWARF of go1.19.8 and
// go1.26 builds of examples/httpserver (TestFactsTableMatchesDWARF), and
// by tracing Debian's stripped go1.19.8 prometheus. The exported fields
// read here have not moved since Go 1.0 (Request: Method string, URL,
// Proto string, ProtoMajor int at 40, …, Host at 128; url.URL: Scheme,
// Opaque, User, Host at 40, Path at 56; Response: Status, StatusCode at
// 16, Proto, ProtoMajor at 40). runtime.g.goid is at 152 (g's head
// stack, stackguard0/1, _panic, _defer, m, sched gobuf of 7 words,
// syscallsp, syscallpc, stktopsp, param, atomicstatus, stackLock) from
// before go1.17 to go1.22; go1.23 added g.syscallbp before it (160) and
// go1.25 removed gobuf.ret (152 again), as internal/gobin's table, checked
// with DWARF for 1.21–1.26, says. The argument registers follow from the
// signatures, unchanged since go1.17 brought the register ABI:
// ServeHTTP(sh serverHandler, rw ResponseWriter, req *Request) puts sh in
// RAX, rw in RBX:RCX, req in RDI; WriteHeader(w, code) RAX, RBX;
// roundTrip(t, req) RAX, RBX, returning (*Response, error) in RAX, RBX:RCX.
func table(minor int) (map[string]uint64, bool) {
	if minor < 17 || minor > 26 {
		return nil, false
	}
	goid := uint64(152)
	if minor == 23 || minor == 24 {
		goid = 160
	}
	return map[string]uint64{
		"go_g_goid":           goid,
		"go_req_method":       0,
		"go_req_url":          16,
		"go_req_proto_major":  40,
		"go_req_host":         128,
		"go_url_host":         40,
		"go_url_path":         56,
		"go_resp_status":      16,
		"go_resp_proto_major": 40,
		"srv_rw_reg":          2, // RCX
		"srv_req_reg":         3, // RDI
		"wh_rw_reg":           0, // RAX
		"wh_code_reg":         1, // RBX
		"cli_req_reg":         1, // RBX
		"cli_resp_reg":        0, // RAX
	}, true
}

// Facts returns the values of the named helper constants for b (struct
// offsets and argument registers). They come from DWARF when b has it;
// otherwise (or when DWARF lacks one) from the table for Go 1.minor, which
// gives every constant. from says which ("DWARF" or "table go1.N").
func Facts(b *gobin.Binary, minor int, names []string) (consts map[string]uint64, from string, err error) {
	var dwarfErr error
	if b.HasDWARF {
		consts, dwarfErr = dwarfFacts(b, names)
		if dwarfErr == nil {
			return consts, "DWARF", nil
		}
	}
	consts, ok := table(minor)
	if !ok {
		err := fmt.Errorf("%s was built by %s, and there is no table of net/http offsets for it (go1.17 to go1.26); build it with DWARF (without -ldflags=-w) to trace it", b.Path, b.GoVersion)
		return nil, "", errors.Join(err, dwarfErr)
	}
	// The goroutine's id is gobin's to find (DWARF, the runtime's own
	// type descriptor, then its table); this table's row is the fallback.
	if off, err := b.GoidOffset(); err == nil {
		consts["go_g_goid"] = uint64(off)
	}
	return consts, fmt.Sprintf("table go1.%d", minor), nil
}

// dwarfFacts reads the named facts from DWARF.
func dwarfFacts(b *gobin.Binary, names []string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, f := range structFields {
		if !slices.Contains(names, f.constant) {
			continue
		}
		off, err := b.FieldOffset(f.typ, f.field)
		if err != nil {
			return nil, err
		}
		out[f.constant] = uint64(off)
	}
	for _, a := range argRegs {
		if !slices.Contains(names, a.constant) {
			continue
		}
		var ps []gobin.Param
		var err error
		if a.result {
			ps, err = b.Results(a.fn)
		} else {
			ps, err = b.Params(a.fn)
		}
		if err != nil {
			return nil, err
		}
		if a.index >= len(ps) || a.word >= len(ps[a.index].Regs) {
			return nil, fmt.Errorf("%s: %s: argument %d word %d is not in a register", b.Path, a.fn, a.index, a.word)
		}
		out[a.constant] = uint64(ps[a.index].Regs[a.word])
	}
	return out, nil
}
