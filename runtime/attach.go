package runtime

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// An attacher hooks one program to its probe point; closing the returned
// Closer detaches it. One attacher per probe kind, each in its own
// attach_*.go file. begin and end are not attached: the session runs them.
type attacher func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error)

var attachers = map[compiler.AttachKind]attacher{}

// attachAll attaches every probe of p; a probe that cannot attach tries
// its fallback (kprobe ↔ fentry), loaded only then. A probe of a wildcard
// or glob that cannot attach is skipped (and reported in skipped) as long
// as another probe of the same source does; when none does, or a single
// probe fails, it detaches what it attached and reports the probe against
// its place in the source.
func attachAll(p *compiler.Program, l *loaded) (out []io.Closer, skipped []*ProbeError, err error) {
	attached := map[dsl.Pos]bool{}
	failed := map[dsl.Pos][]*ProbeError{}
	var order []dsl.Pos
	for _, pr := range attachOrder(p.Probes) {
		if pr.Attach.Kind == compiler.AttachBegin || pr.Attach.Kind == compiler.AttachEnd {
			continue
		}
		if pr.Attach.Kind == compiler.AttachStdlib {
			if err := l.helpers[pr.Helper].SetChain(pr.Slot, l.progs[pr.Program]); err != nil {
				closeAll(out)
				return nil, nil, &ProbeError{Probe: pr, Pos: pr.Pos, Node: pr.Name, Op: OpAttach, Err: err}
			}
			continue
		}
		var c io.Closer
		err := l.loadErr[pr.Program]
		if err == nil {
			c, err = attachOne(l.progs[pr.Program], pr.Attach)
		}
		if err != nil && pr.Fallback != nil {
			var c2 io.Closer
			err2 := l.loadProgram(p, pr.Fallback)
			if err2 == nil {
				c2, err2 = attachOne(l.progs[pr.Fallback.Program], pr.Fallback.Attach)
			}
			if err2 == nil {
				c, err = c2, nil
			} else {
				err = fmt.Errorf("%s: %w\nand its fallback %s: %w", pr.Name, explainAttach(pr.Attach, err), pr.Fallback.Name, explainAttach(pr.Fallback.Attach, err2))
			}
		} else if err != nil {
			err = explainAttach(pr.Attach, err)
		}
		if _, seen := failed[pr.Pos]; !seen && !attached[pr.Pos] {
			order = append(order, pr.Pos)
		}
		if err != nil {
			failed[pr.Pos] = append(failed[pr.Pos], &ProbeError{Probe: pr, Pos: pr.Pos, Node: pr.Name, Op: OpAttach, SeeAlso: pr.SeeAlso, Err: err})
			continue
		}
		attached[pr.Pos] = true
		out = append(out, c)
	}
	for _, pos := range order {
		errs := failed[pos]
		if len(errs) == 0 {
			continue
		}
		if !attached[pos] {
			closeAll(out)
			return nil, nil, errs[0]
		}
		skipped = append(skipped, errs...)
	}
	// A stdlib helper attaches once its chains are in place, so that no
	// event finds an empty slot for a chain the program has.
	for _, pr := range p.Probes {
		if pr.Attach.Kind != compiler.AttachStdlib || pr.Slot != 0 {
			continue
		}
		h := l.helpers[pr.Helper]
		if err := h.Attach(pr.Attach.PID); err != nil {
			closeAll(out)
			return nil, nil, &ProbeError{Probe: pr, Pos: pr.Pos, Node: pr.Name, Op: OpAttach, Err: err}
		}
		out = append(out, detacher{h})
	}
	return out, skipped, nil
}

// attachOrder is the order to attach probes in so that, where several
// programs hook one place, they run in the order of the program text: the
// kernel runs the consumers of one uprobe newest first (tracepoints and
// raw tracepoints oldest first), so uprobes attach last to first.
func attachOrder(probes []*compiler.Probe) []*compiler.Probe {
	var out, uprobes []*compiler.Probe
	for _, pr := range probes {
		if k := pr.Attach.Kind; k == compiler.AttachUprobe || k == compiler.AttachUretprobe || k == compiler.AttachUSDT {
			uprobes = append(uprobes, pr)
			continue
		}
		out = append(out, pr)
	}
	slices.Reverse(uprobes)
	return append(out, uprobes...)
}

// detacher detaches a stdlib helper; its maps and programs are closed with
// the session's.
type detacher struct{ h *pack.Helper }

func (d detacher) Close() error { return d.h.Detach() }

func attachOne(prog *ebpf.Program, a compiler.Attach) (io.Closer, error) {
	at, ok := attachers[a.Kind]
	if !ok {
		return nil, fmt.Errorf("no attacher for %s probes", a.Kind)
	}
	return at(prog, a)
}

// explainAttach says why a probe kind cannot attach on this kernel when a
// cause can be found, else passes the error on.
func explainAttach(a compiler.Attach, err error) error {
	if x, ok := explainers[a.Kind]; ok {
		return x(err)
	}
	return err
}

// explainers turn attach errors of a probe kind into their cause.
var explainers = map[compiler.AttachKind]func(error) error{}

// closeAll detaches everything, concurrently: each detach of a tracepoint
// waits for an RCU grace period in the kernel (~20–50 ms), and a wildcard
// probe has hundreds.
func closeAll(cs []io.Closer) error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			errs[i] = c.Close()
			<-sem
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
