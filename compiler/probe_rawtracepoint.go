package compiler

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// rawtracepoint("name") — a raw tracepoint: the context is the tracepoint's
// arguments as u64 slots, read as arg0…arg9.
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
	if name == "" {
		return nil, dsl.Errorf(call.Args[0].Position(), "rawtracepoint needs a tracepoint name, e.g. \"sys_enter\"")
	}
	pos := call.Args[0].Position()
	return []*target{{
		name:     "rawtracepoint:" + name,
		attach:   Attach{Kind: AttachRawTracepoint, Target: name},
		progType: ebpf.RawTracepoint,
		argOffs:  []int{0, 8, 16, 24, 32, 40, 48, 56, 64, 72},
		argsFn: func() ([]*argField, error) {
			spec, err := env.kernelBTF(pos, "args of a raw tracepoint")
			if err != nil {
				return nil, err
			}
			return rawTracepointArgs(spec, name)
		},
	}}, nil
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
