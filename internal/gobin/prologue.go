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
