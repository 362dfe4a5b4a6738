package gobin

import (
	"debug/elf"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// BodyOffset returns the file offset where a Go function's body starts,
// after its stack-bound check: `CMPQ SP, 16(R14); JLS morestack` (or with
// a LEAQ of SP into a scratch register first, for large frames). When the
// stack is too small, morestack grows it and jumps back to the entry, so a
// uprobe on the entry fires twice for one call; one after the check fires
// once. The argument registers are untouched by the check. For functions
// without the check (NOSPLIT, C code) it returns the entry's offset.
func (b *Binary) BodyOffset(f Func) (uint64, error) {
	if !b.IsGo || b.Machine != elf.EM_X86_64 || f.Size == 0 {
		return f.Offset, nil
	}
	n := min(int(f.Size), 64)
	code, err := b.readAt(f.Addr, n)
	if err != nil {
		return 0, fmt.Errorf("gobin: %s: body of %s: %w", b.Path, f.Name, err)
	}
	pc := 0
	// The check is among the first three instructions.
	for i := 0; i < 3 && pc < len(code); i++ {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Op == 0 {
			break
		}
		next := pc + inst.Len
		if inst.Op == x86asm.CMP && usesStackGuard(inst) {
			j, err := x86asm.Decode(code[next:], 64)
			if err == nil && (j.Op == x86asm.JBE || j.Op == x86asm.JB) {
				return f.Offset + uint64(next+j.Len), nil
			}
			break
		}
		pc = next
	}
	return f.Offset, nil
}

// usesStackGuard reports a comparison against g.stackguard0, 16(R14).
func usesStackGuard(inst x86asm.Inst) bool {
	for _, a := range inst.Args {
		if m, ok := a.(x86asm.Mem); ok && m.Base == x86asm.R14 && m.Disp == 16 {
			return true
		}
	}
	return false
}

// FrameOffset returns the file offset of the first instruction after a Go
// function's frame-pointer setup, which follows the stack check: `PUSHQ
// BP; MOVQ SP, BP` (Go 1.21 and later) or `SUBQ $n, SP; MOVQ BP, n-8(SP);
// LEAQ n-8(SP), BP` (Go 1.17 to 1.20). From there on BP is the function's
// own frame, so a frame-pointer walk of the user stack (bpf_get_stackid)
// starts at the function and finds its direct caller; at the entry or the
// body offset the caller's return address is only at the top of the stack
// and the walk skips it. The argument registers are untouched by the
// setup. A function without a frame (no such setup in its first
// instructions) is an error.
func (b *Binary) FrameOffset(f Func) (uint64, error) {
	body, err := b.BodyOffset(f)
	if err != nil {
		return 0, err
	}
	if b.Machine != elf.EM_X86_64 || f.Size == 0 {
		return 0, fmt.Errorf("gobin: %s: frame setup of %s: only x86-64 functions of known size are supported", b.Path, f.Name)
	}
	code, err := b.readAt(f.Addr, min(int(f.Size), 96))
	if err != nil {
		return 0, fmt.Errorf("gobin: %s: frame setup of %s: %w", b.Path, f.Name, err)
	}
	pc := int(body - f.Offset)
	for i := 0; i < 4 && pc < len(code); i++ {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Op == 0 {
			break
		}
		pc += inst.Len
		if setsFramePointer(inst) {
			return f.Offset + uint64(pc), nil
		}
	}
	return 0, fmt.Errorf("gobin: %s: %s sets up no frame pointer in its first instructions", b.Path, f.Name)
}

// setsFramePointer reports `MOVQ SP, BP` or `LEAQ d(SP), BP`.
func setsFramePointer(inst x86asm.Inst) bool {
	if inst.Args[0] != x86asm.RBP {
		return false
	}
	switch inst.Op {
	case x86asm.MOV:
		return inst.Args[1] == x86asm.RSP
	case x86asm.LEA:
		m, ok := inst.Args[1].(x86asm.Mem)
		return ok && m.Base == x86asm.RSP && m.Index == 0
	}
	return false
}
