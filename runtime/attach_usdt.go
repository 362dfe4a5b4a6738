package runtime

import (
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// A USDT probe is a uprobe on its site, with the probe's semaphore as the
// uprobe's reference counter: the kernel increments it in every process
// the uprobe is installed in (only the -p/-c process when one is given)
// while it is attached, and decrements it at detach, so programs that
// test the semaphore prepare the arguments only while traced.
func init() { attachers[compiler.AttachUSDT] = attachUSDT }

func attachUSDT(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
	ex, err := link.OpenExecutable(a.Target)
	if err != nil {
		return nil, err
	}
	var out links
	for _, off := range a.Offsets {
		l, err := ex.Uprobe(a.Symbol, prog, &link.UprobeOptions{Address: off, PID: a.PID, RefCtrOffset: a.RefCtrOffset})
		if err != nil {
			out.Close()
			if a.RefCtrOffset != 0 {
				return nil, fmt.Errorf("USDT probe %s at offset %#x of %s (semaphore at %#x): %w", a.Symbol, off, a.Target, a.RefCtrOffset, err)
			}
			return nil, fmt.Errorf("USDT probe %s at offset %#x of %s: %w", a.Symbol, off, a.Target, err)
		}
		out = append(out, l)
	}
	return out, nil
}
