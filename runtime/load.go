// Package runtime loads a compiled program into the kernel, attaches its
// probes, reads what they produce and hands it to the sinks, and detaches
// everything when it stops.
package runtime

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// loaded is a program's maps and programs in the kernel.
type loaded struct {
	maps  map[string]*ebpf.Map
	progs map[string]*ebpf.Program
	// loadErr keeps why a probe's program did not load when it has a
	// fallback to try at attach time.
	loadErr map[string]error
	// helpers are the stdlib helpers, by compiler.Helper; their maps are
	// theirs (helperMaps only names them for the chain programs).
	helpers    map[*compiler.Helper]*pack.Helper
	helperMaps map[string]*ebpf.Map
}

func (l *loaded) close() {
	for _, p := range l.progs {
		p.Close()
	}
	for _, m := range l.maps {
		m.Close()
	}
	for _, h := range l.helpers {
		h.Close()
	}
}

// load creates the maps, then loads each program on its own so that a
// verifier rejection names the program, and so the chain, that caused it.
func load(p *compiler.Program) (*loaded, error) {
	l := &loaded{maps: map[string]*ebpf.Map{}, progs: map[string]*ebpf.Program{}, loadErr: map[string]error{},
		helpers: map[*compiler.Helper]*pack.Helper{}, helperMaps: map[string]*ebpf.Map{}}
	for name, ms := range p.Spec.Maps {
		m, err := ebpf.NewMap(ms)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("create map %s: %w", name, err)
		}
		l.maps[name] = m
	}
	for _, h := range p.Helpers {
		// Stacks the helper takes go in the program's stack map, so one
		// map names every stack id.
		replace := map[string]*ebpf.Map{}
		if p.Stacks != "" {
			replace[pack.StackMap] = l.maps[p.Stacks]
		}
		loaded, err := h.Target.LoadWith(replace)
		if err != nil {
			l.close()
			return nil, err
		}
		l.helpers[h] = loaded
		l.helperMaps[h.Event], l.helperMaps[h.Chain] = loaded.Event, loaded.Chain
	}
	for _, pr := range p.Probes {
		if err := l.loadProgram(p, pr); err != nil {
			var pe *ProbeError
			if pr.Fallback != nil && !errors.As(err, &pe) {
				l.loadErr[pr.Program] = err
				continue
			}
			l.close()
			if !errors.As(err, &pe) {
				err = &ProbeError{Probe: pr, Pos: pr.Pos, Node: pr.Name, Op: OpLoad, Err: err}
			}
			return nil, err
		}
	}
	return l, nil
}

// loadProgram loads the program of one probe, its maps already created.
func (l *loaded) loadProgram(p *compiler.Program, pr *compiler.Probe) error {
	spec := p.Spec.Programs[pr.Program]
	ps := spec.Copy()
	for _, maps := range []map[string]*ebpf.Map{l.maps, l.helperMaps} {
		for name, m := range maps {
			if err := ps.Instructions.AssociateMap(name, m); err != nil && !errors.Is(err, asm.ErrUnreferencedSymbol) {
				return fmt.Errorf("program %s: map %s: %w", pr.Program, name, err)
			}
		}
	}
	prog, err := ebpf.NewProgram(ps)
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return verifierError(p, pr, spec, ve)
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", pr.Name, err)
	}
	l.progs[pr.Program] = prog
	return nil
}

var insnLine = regexp.MustCompile(`^(\d+): \(`)

// verifierError reports a rejected program against the source that
// produced the failing instruction, with the verifier's own words beneath.
func verifierError(p *compiler.Program, pr *compiler.Probe, spec *ebpf.ProgramSpec, ve *ebpf.VerifierError) error {
	pos, what := pr.Pos, pr.Name
	failed := -1
	for _, line := range ve.Log {
		if m := insnLine.FindStringSubmatch(line); m != nil {
			failed, _ = strconv.Atoi(m[1])
		}
	}
	if failed >= 0 {
		// Walk back from the failing instruction to the nearest one that
		// carries a source note.
		var last fmt.Stringer
		iter := spec.Instructions.Iterate()
		for iter.Next() {
			if src := iter.Ins.Source(); src != nil {
				last = src
			}
			if int(iter.Offset) >= failed {
				break
			}
		}
		if n, ok := last.(interface{ Position() (dsl.Pos, string) }); ok {
			pos, what = n.Position()
		}
	}
	// The log's tail holds the failing instruction and the reason; our
	// source notes (";" lines) and the statistics add nothing there.
	var lines []string
	for _, l := range ve.Log {
		if !strings.HasPrefix(l, ";") && !strings.HasPrefix(l, "processed ") && strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return &ProbeError{Probe: pr, Pos: pos, Node: what, Op: OpLoad, Verifier: lines, Err: ve}
}
