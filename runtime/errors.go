package runtime

import (
	"fmt"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// ProbeError is a probe the kernel would not load or attach. It says
// where in the program the failing code came from; the caller decides how
// to show it and what to advise.
type ProbeError struct {
	Probe *compiler.Probe
	// Pos and Node are the place and text of the source the failing code
	// came from: the stage or expression whose instruction the verifier
	// rejected, else the probe.
	Pos  dsl.Pos
	Node string
	// Op is what failed: OpLoad or OpAttach.
	Op string
	// Verifier is the end of the verifier's log when it rejected the code.
	Verifier []string
	// SeeAlso names tracepoints that see the same event (when an attach
	// of a kprobe/fentry failed).
	SeeAlso []string
	Err     error
}

// What ProbeError.Op says.
const (
	OpLoad   = "load"
	OpAttach = "attach"
)

func (e *ProbeError) Error() string {
	if e.Verifier != nil {
		return fmt.Sprintf("%s: the kernel's verifier rejected the code of %s: %v", e.Pos, e.Node, e.Err)
	}
	return fmt.Sprintf("%s: cannot %s %s: %v", e.Pos, e.Op, e.Probe.Name, e.Err)
}

func (e *ProbeError) Unwrap() error { return e.Err }
