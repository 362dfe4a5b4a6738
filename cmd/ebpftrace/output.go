package main

import (
	"fmt"
	"io"

	"github.com/ebpftrace/ebpftrace/compiler"
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
