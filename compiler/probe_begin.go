package compiler

import (
	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// begin() and end() fire once, before the first probe attaches and after the
// last detaches. They compile to raw tracepoint programs that the runtime
// runs itself (BPF_PROG_TEST_RUN), so nothing in the kernel is hooked.
func init() {
	register(&provider{name: "begin", usage: "begin()", expand: expandOnce(AttachBegin)})
	register(&provider{name: "end", usage: "end()", expand: expandOnce(AttachEnd)})
}

func expandOnce(kind AttachKind) func(*Env, *dsl.Call) ([]*target, error) {
	return func(env *Env, call *dsl.Call) ([]*target, error) {
		if err := wantArgs(call, 0, 0); err != nil {
			return nil, err
		}
		return []*target{{
			name:        string(kind),
			attach:      Attach{Kind: kind},
			progType:    ebpf.RawTracepoint,
			noPIDFilter: true,
		}}, nil
	}
}
