package runtime

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// An attacher hooks one program to its probe point; closing the returned
// Closer detaches it. One attacher per probe kind, each in its own
// attach_*.go file. begin and end are not attached: the session runs them.
type attacher func(prog *ebpf.Program, a compiler.Attach) (io.Closer, error)

var attachers = map[compiler.AttachKind]attacher{}

// attachAll attaches every probe of p; on any failure it detaches what it
// attached and reports the probe against its place in the source.
func attachAll(p *compiler.Program, l *loaded) ([]io.Closer, error) {
	var out []io.Closer
	for _, pr := range p.Probes {
		if pr.Attach.Kind == compiler.AttachBegin || pr.Attach.Kind == compiler.AttachEnd {
			continue
		}
		at, ok := attachers[pr.Attach.Kind]
		if !ok {
			closeAll(out)
			return nil, fmt.Errorf("no attacher for %s probes", pr.Attach.Kind)
		}
		c, err := at(l.progs[pr.Program], pr.Attach)
		if err != nil {
			closeAll(out)
			return nil, &dsl.Error{Pos: pr.Pos, Source: p.Source, Msg: fmt.Sprintf("cannot attach %s", pr.Name), Detail: err.Error()}
		}
		out = append(out, c)
	}
	return out, nil
}

func closeAll(cs []io.Closer) error {
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
