package runtime

import (
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpftrace/ebpftrace/compiler"
)

func init() { attachers[compiler.AttachRawTracepoint] = attachRawTracepoint }

func attachRawTracepoint(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
	return link.AttachRawTracepoint(link.RawTracepointOptions{Name: a.Target, Program: prog})
}
