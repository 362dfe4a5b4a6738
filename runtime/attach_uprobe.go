package runtime

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// A uprobe attaches at file offsets of the binary: the function's entry,
// or each RET instruction for a return probe on a Go binary. uretprobe is
// the kernel's return probe, used on C binaries only.
func init() {
	attachers[compiler.AttachUprobe] = func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		return attachUser(prog, a, false)
	}
	attachers[compiler.AttachUretprobe] = func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
		return attachUser(prog, a, true)
	}
}

type links []link.Link

func (ls links) Close() error {
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

func attachUser(prog *ebpf.Program, a compiler.Attach, ret bool) (io.Closer, error) {
	ex, err := link.OpenExecutable(a.Target)
	if err != nil {
		return nil, err
	}
	var out links
	for i, off := range a.Offsets {
		opts := &link.UprobeOptions{Address: off, PID: a.PID}
		if i < len(a.Cookies) {
			// The program computes a PIE's load bias from it.
			opts.Cookie = a.Cookies[i]
		}
		var l link.Link
		if ret {
			l, err = ex.Uretprobe(a.Symbol, prog, opts)
		} else {
			l, err = ex.Uprobe(a.Symbol, prog, opts)
		}
		if err != nil {
			out.Close()
			return nil, fmt.Errorf("%s at offset %#x of %s: %w", a.Symbol, off, a.Target, err)
		}
		out = append(out, l)
	}
	return out, nil
}
