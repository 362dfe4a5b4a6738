package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	ebpfrt "github.com/ebpftrace/ebpftrace/runtime"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// outputOptions are the sinks of a session: the chosen format on stdout,
// and the lost counts on stderr with what to do about them.
func outputOptions(format string, stdout, stderr io.Writer) ebpfrt.Options {
	var out sink.Sink = sink.NewText(stdout)
	if format == "json" {
		out = sink.NewJSON(stdout)
	}
	return ebpfrt.Options{Sinks: []sink.Sink{out, lostAdvice{stderr}}}
}

// lostAdvice tells the user what was lost and how to lose less.
type lostAdvice struct{ w io.Writer }

func (lostAdvice) Event(*sink.Event) error          { return nil }
func (lostAdvice) Aggregation(*sink.Snapshot) error { return nil }
func (lostAdvice) Flush() error                     { return nil }

func (a lostAdvice) Lost(l sink.Lost) error {
	if l.Events > 0 {
		fmt.Fprintf(a.w, "ebpftrace: %d events were lost: the ring buffer was full (print less, aggregate in the kernel, or give --buffer more room)\n", l.Events)
	}
	if l.Updates > 0 {
		fmt.Fprintf(a.w, "ebpftrace: %d aggregation updates were lost: a map was full (%d keys); aggregate by fewer keys\n", l.Updates, compiler.MaxKeys)
	}
	return nil
}

// start loads and attaches p. A probe the kernel refuses becomes an error
// at its place in the program, with what to do about it.
func start(p *compiler.Program, opts ebpfrt.Options) (*ebpfrt.Session, error) {
	s, err := ebpfrt.Start(p, opts)
	var pe *ebpfrt.ProbeError
	if !errors.As(err, &pe) {
		return s, err
	}
	e := &dsl.Error{Pos: pe.Pos, Source: p.Source, Detail: pe.Err.Error()}
	switch {
	case pe.Verifier != nil:
		e.Msg = fmt.Sprintf("the kernel's verifier rejected the code of %s", pe.Node)
		e.Detail = "the verifier said:\n    " + strings.Join(pe.Verifier, "\n    ")
		if strings.Contains(e.Detail, "stack") {
			e.Hint = "a BPF program has 512 bytes of stack: use fewer or shorter strings (str(p, n)) in one key"
		}
	case pe.Op == ebpfrt.OpAttach:
		e.Msg = fmt.Sprintf("cannot attach %s", pe.Probe.Name)
		if len(pe.SeeAlso) > 0 {
			e.Hint = "tracepoints that see the same event: " + strings.Join(pe.SeeAlso, ", ")
		}
	default:
		e.Msg = fmt.Sprintf("the kernel refused the program of %s", pe.Probe.Name)
	}
	return nil, e
}

// warnSkipped says which probes of wildcards could not attach (the run
// goes on with the others).
func warnSkipped(sess *ebpfrt.Session, stderr io.Writer) {
	skipped := sess.Skipped()
	const most = 5
	for i, pe := range skipped {
		if i == most {
			fmt.Fprintf(stderr, "ebpftrace: and %d more probes skipped\n", len(skipped)-most)
			break
		}
		fmt.Fprintf(stderr, "ebpftrace: skipped %s: %v\n", pe.Probe.Name, pe.Err)
	}
}

// warnCompiled says what the program will not trace as written.
func warnCompiled(p *compiler.Program, stderr io.Writer) {
	for _, w := range p.Warnings {
		fmt.Fprintf(stderr, "ebpftrace: warning: %s (skipped)\n", w.Error())
	}
}
