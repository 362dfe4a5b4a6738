package gobin

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// endbr64 is the CET landing pad that gcc (-fcf-protection) puts at the
// entry of C functions.
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// ReturnOffsets returns the file offsets of every RET instruction of f
// (near returns: RET and RET imm16, with any prefix such as "rep ret"; the
// offset is that of the instruction's first byte), in address order. A
// uprobe at each of them sees the function's results in the result
// registers; this replaces a uretprobe, which breaks Go programs because
// Go moves and walks goroutine stacks.
//
// The function is decoded linearly from its entry (after an ENDBR64), which
// is exact for Go code: Go emits no data in .text, and the padding between
// functions is INT3. Decoding stops with an error at the first byte
// sequence x86asm cannot decode, naming the place, rather than guessing
// and getting out of step; hand-written assembly with instructions
// x86asm does not know is reported that way. Only x86-64 binaries are
// supported.
func (b *Binary) ReturnOffsets(f Func) ([]uint64, error) {
	if b.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("gobin: %s: return offsets of %s: machine %v is not supported (only x86-64)", b.Path, f.Name, b.Machine)
	}
	if f.Size == 0 {
		return nil, fmt.Errorf("gobin: %s: return offsets of %s: function size is unknown (0)", b.Path, f.Name)
	}
	if f.Size > 64<<20 {
		return nil, fmt.Errorf("gobin: %s: return offsets of %s: implausible function size %d", b.Path, f.Name, f.Size)
	}
	code, err := b.readAt(f.Addr, int(f.Size))
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: return offsets of %s: %w", b.Path, f.Name, err)
	}
	base, err := b.fileOffset(f.Addr)
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: return offsets of %s: %w", b.Path, f.Name, err)
	}
	pcs, err := returnPCs(code)
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: return offsets of %s: %w", b.Path, f.Name, err)
	}
	out := make([]uint64, len(pcs))
	for i, pc := range pcs {
		out[i] = base + uint64(pc)
	}
	return out, nil
}

// returnPCs decodes code from its start and returns the offsets of the
// near RET instructions in it.
func returnPCs(code []byte) ([]int, error) {
	var out []int
	pc := 0
	if bytes.HasPrefix(code, endbr64) {
		pc = len(endbr64)
	}
	for pc < len(code) {
		if n := vzero(code[pc:]); n > 0 {
			pc += n
			continue
		}
		inst, err := x86asm.Decode(code[pc:], 64)
		if err == nil && inst.Op == 0 {
			// x86asm reports some unknown opcodes (0F FF, and ENDBR64
			// in the middle of code) as a 1-byte instruction without an
			// opcode instead of failing; its length is then wrong.
			err = errors.New("unrecognized instruction")
		}
		if err != nil {
			end := min(pc+8, len(code))
			return nil, fmt.Errorf("cannot decode instruction at +%#x (bytes % x): %w", pc, code[pc:end], err)
		}
		if inst.Op == x86asm.RET {
			out = append(out, pc)
		}
		pc += inst.Len
	}
	return out, nil
}

// vzero returns the length of a VZEROUPPER or VZEROALL instruction (VEX.0F
// 77, no ModRM byte) at the start of code, or 0. x86asm v0.33 decodes them
// one byte too long, which puts the rest of the function out of step;
// Go's assembly routines (cmpbody, indexbytebody, memmove …) use them.
func vzero(code []byte) int {
	switch {
	case len(code) >= 3 && code[0] == 0xc5 && code[2] == 0x77:
		return 3 // 2-byte VEX
	case len(code) >= 4 && code[0] == 0xc4 && code[1]&0x1f == 1 && code[3] == 0x77:
		return 4 // 3-byte VEX, map 0F
	}
	return 0
}
