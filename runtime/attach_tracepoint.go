package runtime

import (
	"fmt"
	"io"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpftrace/ebpftrace/compiler"
)

func init() { attachers[compiler.AttachTracepoint] = attachTracepoint }

func attachTracepoint(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
	group, name, ok := strings.Cut(a.Target, ":")
	if !ok {
		return nil, fmt.Errorf("tracepoint %q is not category:name", a.Target)
	}
	return link.Tracepoint(group, name, prog, nil)
}
