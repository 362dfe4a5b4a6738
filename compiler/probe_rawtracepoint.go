package compiler

import (
	"github.com/cilium/ebpf"

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
	return []*target{{
		name:     "rawtracepoint:" + name,
		attach:   Attach{Kind: AttachRawTracepoint, Target: name},
		progType: ebpf.RawTracepoint,
		rawArgs:  10,
	}}, nil
}
