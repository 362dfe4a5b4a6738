package compiler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/match"
)

// rawtracepoint("name") — a raw tracepoint: the context is the tracepoint's
// arguments as u64 slots, read as arg0…argN (as many as its BTF prototype
// has) or by name as args.<param>. `*` and `?` glob over the raw
// tracepoints kernel BTF describes (btf_trace_<name>): rawtracepoint("sys_*").
func init() {
	register(&provider{
		name:   "rawtracepoint",
		usage:  `rawtracepoint("name")`,
		expand: expandRawTracepoint,
	})
}

func expandRawTracepoint(env *Env, call *dsl.Call) ([]*target, error) {
	if err := wantArgs(call, 1, 1); err != nil {
		return nil, err
	}
	name, err := stringArg(call, 0, "a tracepoint name")
	if err != nil {
		return nil, err
	}
	pos := call.Args[0].Position()
	if name == "" {
		return nil, dsl.Errorf(pos, "rawtracepoint needs a tracepoint name, e.g. \"sys_enter\"")
	}
	names := []string{name}
	if match.HasWildcard(name) {
		// Only a glob pays for kernel BTF at compile time: a single name
		// loads it when a chain reads args or argN.
		spec, err := env.kernelBTF(pos, "a raw tracepoint glob")
		if err != nil {
			return nil, err
		}
		all := RawTracepoints(spec)
		names = names[:0]
		for _, n := range all {
			if match.Glob(name, n) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			e := dsl.Errorf(pos, "no raw tracepoint matches %q", name)
			e.Hint = dsl.DidYouMean(name, all)
			return nil, e
		}
		if len(names) > maxGlobTargets {
			return nil, dsl.Errorf(pos, "%q matches %d raw tracepoints; narrow the pattern (at most %d)", name, len(names), maxGlobTargets)
		}
	}
	var out []*target
	for _, n := range names {
		out = append(out, &target{
			name:        "rawtracepoint:" + n,
			attach:      Attach{Kind: AttachRawTracepoint, Target: n},
			progType:    ebpf.RawTracepoint,
			argOffs:     []int{0, 8, 16, 24, 32, 40, 48, 56, 64, 72},
			rawFromArgs: true,
			argsFn: func() ([]*argField, error) {
				spec, err := env.kernelBTF(pos, "args of a raw tracepoint")
				if err != nil {
					return nil, err
				}
				return rawTracepointArgs(spec, n)
			},
		})
	}
	return out, nil
}

// maxGlobTargets bounds the probes one glob of kernel names compiles to.
const maxGlobTargets = 1024

// RawTracepoints lists the raw tracepoints kernel BTF describes, sorted:
// every btf_trace_<name> typedef.
func RawTracepoints(spec *btf.Spec) []string {
	var out []string
	for t, err := range spec.All() {
		if err != nil {
			break
		}
		if td, ok := t.(*btf.Typedef); ok {
			if n, ok := strings.CutPrefix(td.Name, "btf_trace_"); ok {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// rawTracepointArgs types a raw tracepoint's arguments from the kernel's
// btf_trace_<name> typedef: void (*)(void *data, args…). Each argument is
// one u64 slot of the context.
func rawTracepointArgs(spec *btf.Spec, name string) ([]*argField, error) {
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_"+name, &td); err != nil {
		return nil, fmt.Errorf("the kernel's BTF has no prototype for raw tracepoint %s (btf_trace_%s)", name, name)
	}
	ptr, ok := btf.UnderlyingType(td).(*btf.Pointer)
	if !ok {
		return nil, fmt.Errorf("btf_trace_%s is not a function pointer", name)
	}
	proto, ok := btf.UnderlyingType(ptr.Target).(*btf.FuncProto)
	if !ok || len(proto.Params) == 0 {
		return nil, fmt.Errorf("btf_trace_%s is not a function pointer", name)
	}
	// The typedef has no parameter names; the __bpf_trace_<name> function
	// (when the event is its own class) has the same prototype, named.
	var fn *btf.Func
	if err := spec.TypeByName("__bpf_trace_"+name, &fn); err == nil {
		if named, ok := fn.Type.(*btf.FuncProto); ok && len(named.Params) == len(proto.Params) {
			proto = named
		}
	}
	return slotArgs(proto.Params[1:], 0), nil
}

// slotArgs types parameters passed as consecutive u64 context slots,
// starting at byte offset base.
func slotArgs(params []btf.FuncParam, base int) []*argField {
	var out []*argField
	for i, p := range params {
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("arg%d", i)
		}
		out = append(out, &argField{name: name, typ: fromBTF(p.Type), off: base + 8*i, slot: true})
	}
	return out
}
