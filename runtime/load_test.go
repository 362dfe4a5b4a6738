package runtime_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/runtime"
)

// A program the verifier rejects is reported at the source of the failing
// instruction, with the verifier's words. The compiler's checks keep it
// from making such code, so the test breaks a compiled program by hand:
// a read above the frame pointer in the code of `pid + 1`.
func TestVerifierErrorPlace(t *testing.T) {
	needRoot(t)
	src := `begin().print("%d", pid + 1)`
	p, err := dsl.Parse("", src)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := compiler.Compile(p, &compiler.Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range prog.Spec.Programs {
		for i, ins := range ps.Instructions {
			if s := ins.Source(); s != nil && strings.Contains(s.String(), "pid + 1") {
				bad := asm.LoadMem(asm.R0, asm.R10, 8, asm.DWord).WithSource(s)
				ps.Instructions = append(ps.Instructions[:i], append(asm.Instructions{bad, ins.WithSource(nil)}, ps.Instructions[i+1:]...)...)
				break
			}
		}
	}
	_, err = runtime.Start(prog, runtime.Options{})
	var pe *runtime.ProbeError
	if !errors.As(err, &pe) || pe.Verifier == nil {
		t.Fatalf("want a verifier rejection, got %v", err)
	}
	if pe.Pos.Line != 1 || pe.Pos.Col != 21 || pe.Node != "pid + 1" {
		t.Errorf("reported at %s (%q), want 1:21 (pid + 1)", pe.Pos, pe.Node)
	}
	if !strings.Contains(strings.Join(pe.Verifier, "\n"), "stack") {
		t.Errorf("the verifier's words are missing: %q", pe.Verifier)
	}
}
