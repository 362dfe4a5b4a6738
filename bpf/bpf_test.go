package bpf

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// TestHelpersLoad loads every helper into the kernel: the verifier
// accepts it with its default constants. Attaching is tested by the packs.
func TestHelpersLoad(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root (CAP_BPF)")
	}
	for _, tc := range []struct {
		name string
		spec func() (*ebpf.CollectionSpec, error)
	}{
		{"http", HTTP},
		{"goroutine", Goroutine},
		{"grpc", GRPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := tc.spec()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"ebt_std_event", "ebt_std_chain"} {
				if spec.Maps[m] == nil {
					t.Errorf("helper %s has no map %s (the compiler contract)", tc.name, m)
				}
			}
			if ms := spec.Maps["ebt_std_chain"]; ms != nil && ms.Type != ebpf.ProgramArray {
				t.Errorf("ebt_std_chain is %v, want a program array", ms.Type)
			}
			if ms := spec.Maps["ebt_std_event"]; ms != nil && (ms.Type != ebpf.PerCPUArray || ms.MaxEntries != 1) {
				t.Errorf("ebt_std_event is %v with %d entries, want a per-CPU array of 1", ms.Type, ms.MaxEntries)
			}
			coll, err := ebpf.NewCollection(spec)
			if err != nil {
				var ve *ebpf.VerifierError
				if errors.As(err, &ve) {
					t.Fatalf("%+v", ve)
				}
				t.Fatal(err)
			}
			coll.Close()
		})
	}
}

// TestGeneratedUpToDate regenerates the objects into a temporary folder
// with the same bpf2go command as `make generate` and compares them with
// the committed ones: the sources and the objects agree, and the output
// is reproducible. It skips when clang-14 is missing (make generate
// installs it).
func TestGeneratedUpToDate(t *testing.T) {
	for _, tool := range []string{"clang-14", "llvm-strip-14"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make generate installs it)", tool)
		}
	}
	if _, err := os.Stat("/usr/include/bpf/bpf_helpers.h"); err != nil {
		t.Skip("libbpf-dev is not installed (make generate installs it)")
	}
	src, err := os.ReadFile("bpf.go")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:generate go tool bpf2go "); ok {
			lines = append(lines, splitQuoted(rest))
		}
	}
	if lines == nil {
		t.Fatal("no go:generate line for bpf2go in bpf.go")
	}
	for _, args := range lines {
		out := t.TempDir()
		cmd := exec.Command("go", append([]string{"tool", "bpf2go", "-output-dir", out}, args...)...)
		cmd.Env = append(os.Environ(), "GOPACKAGE=bpf", "GOFILE=bpf.go")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, msg)
		}
		files, _ := filepath.Glob(filepath.Join(out, "*"))
		if len(files) == 0 {
			t.Fatalf("bpf2go wrote nothing for %v", args)
		}
		for _, f := range files {
			got, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Base(f))
			if err != nil {
				t.Fatalf("%s is generated but not committed: %v", filepath.Base(f), err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from a fresh `make generate`; run it and commit", filepath.Base(f))
			}
		}
	}
}

// splitQuoted splits a go:generate line into words, honouring "quotes".
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// TestStackReadsAreUsed guards against a clang 14 BPF backend bug met in
// grpc.c: a value read by bpf_probe_read_user into a stack variable,
// merged with a default from the branch that skips the read and stored
// into a map value just before a copy from .rodata, was never loaded
// back, so the store vanished (the event's goid stayed 0). For every
// helper call that reads into the stack (R1 = R10 + off), some later
// instruction of the program must load from that stack slot.
func TestStackReadsAreUsed(t *testing.T) {
	reads := map[asm.BuiltinFunc]bool{asm.FnProbeReadUser: true, asm.FnProbeReadKernel: true, asm.FnProbeRead: true}
	for _, tc := range []struct {
		name string
		spec func() (*ebpf.CollectionSpec, error)
	}{
		{"http", HTTP},
		{"grpc", GRPC},
		{"goroutine", Goroutine},
	} {
		spec, err := tc.spec()
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range spec.Programs {
			insns := p.Instructions
			for i, ins := range insns {
				if !ins.IsBuiltinCall() || !reads[asm.BuiltinFunc(ins.Constant)] {
					continue
				}
				off, ok := stackArg(insns[:i])
				if !ok {
					continue
				}
				used := false
				for _, later := range insns[i+1:] {
					if later.OpCode.Class().IsLoad() && later.OpCode.Mode() == asm.MemMode && later.Src == asm.R10 && int64(later.Offset) == off {
						used = true
						break
					}
				}
				if !used {
					t.Errorf("%s: %s: the read at instruction %d into the stack at %d is never loaded", tc.name, name, i, off)
				}
			}
		}
	}
}

// stackArg finds, in the instructions before a call, R1 = R10 followed by
// R1 += off, and returns off.
func stackArg(before asm.Instructions) (int64, bool) {
	for j := len(before) - 1; j >= 0 && j >= len(before)-8; j-- {
		ins := before[j]
		if ins.Dst != asm.R1 {
			continue
		}
		if ins.OpCode.ALUOp() == asm.Add && ins.OpCode.Source() == asm.ImmSource && j > 0 {
			prev := before[j-1]
			if prev.OpCode.ALUOp() == asm.Mov && prev.Dst == asm.R1 && prev.Src == asm.R10 && prev.OpCode.Source() == asm.RegSource {
				return ins.Constant, true
			}
		}
		return 0, false
	}
	return 0, false
}
