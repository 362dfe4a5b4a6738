package compiler

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// Register use in generated programs:
//
//	R1–R5  helper arguments and scratch inside one operation
//	R0     helper results and scratch
//	R6     the context pointer, saved at entry (helpers clobber R1)
//	R7–R9  expression values; they survive helper calls
//
// Values that do not fit in R7–R9 spill to stack slots. A value is only ever
// in a callee-saved register or on the stack between operations, so any
// operation may call helpers.
const (
	regCtx = asm.R6
)

var valueRegs = []asm.Register{asm.R7, asm.R8, asm.R9}

// val is where a scalar value lives: a callee-saved register or a stack slot.
type val struct {
	inReg bool
	reg   asm.Register
	off   int16 // stack slot, relative to R10
}

// srcNote ties an instruction to the source it came from. It prints as the
// comment --dump asm shows, and maps verifier errors back to the chain.
type srcNote struct {
	pos  dsl.Pos
	text string
}

func (s srcNote) String() string { return fmt.Sprintf("%d:%d %s", s.pos.Line, s.pos.Col, s.text) }

// gen accumulates the instructions of one BPF program.
type gen struct {
	insns   asm.Instructions
	note    *srcNote // attached to the next instruction emitted
	pending []string // labels waiting for the next instruction
	alias   map[string]string
	nlabel  int

	freeRegs  []asm.Register
	stackUsed int // bytes of stack in use, slots live at -stackUsed
	// tooDeep is where the stack first grew past what a BPF program has.
	tooDeep *srcNote
	lastAt  srcNote // the source of the instructions being emitted
}

// BPF limits the generator checks itself, so that a program too large is
// an error at its source instead of an offset that wraps around.
const (
	maxStack = 512       // bytes of stack a BPF program has
	maxJump  = 1<<15 - 1 // instructions a conditional jump can span
	maxInsns = 1000000   // BPF_COMPLEXITY_LIMIT_INSNS
)

func newGen() *gen {
	g := &gen{alias: map[string]string{}}
	g.freeRegs = append(g.freeRegs, valueRegs...)
	return g
}

// at makes the following instructions belong to node e of the source.
func (g *gen) at(pos dsl.Pos, text string) {
	// Notes become BTF line info, whose size the kernel bounds: a long
	// expression's text is cut (every one of its subexpressions has one).
	if len(text) > maxNote {
		text = text[:maxNote] + "…"
	}
	g.note = &srcNote{pos: pos, text: text}
	g.lastAt = *g.note
}

// maxNote is the longest source text kept in a note.
const maxNote = 60

// emit appends instructions, tagging the first with the current source note
// and any pending labels.
func (g *gen) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		if len(g.pending) > 0 {
			in = in.WithSymbol(g.pending[0])
			for _, l := range g.pending[1:] {
				g.alias[l] = g.pending[0]
			}
			g.pending = g.pending[:0]
		}
		if g.note != nil {
			in = in.WithSource(*g.note)
			g.note = nil
		}
		g.insns = append(g.insns, in)
	}
}

// newLabel returns a fresh jump target name.
func (g *gen) newLabel(what string) string {
	g.nlabel++
	return fmt.Sprintf("%s_%d", what, g.nlabel)
}

// mark places label on the next instruction emitted.
func (g *gen) mark(label string) { g.pending = append(g.pending, label) }

// finish resolves label aliases and ends the program. Every path that falls
// off the end returns 0.
func (g *gen) finish() (asm.Instructions, error) {
	if len(g.pending) > 0 || len(g.insns) == 0 || !isExit(g.insns[len(g.insns)-1]) {
		g.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	}
	if g.tooDeep != nil {
		return nil, dsl.Errorf(g.tooDeep.pos, "program too large: %s needs more than the %d bytes of stack a BPF program has (use fewer or shorter strings)", g.tooDeep.text, maxStack)
	}
	for i := range g.insns {
		ref := g.insns[i].Reference()
		for {
			to, ok := g.alias[ref]
			if !ok {
				break
			}
			ref = to
		}
		if ref != g.insns[i].Reference() {
			g.insns[i] = g.insns[i].WithReference(ref)
		}
	}
	return g.insns, g.checkSize()
}

// checkSize rejects what BPF cannot encode: more instructions than the
// kernel loads, or a jump longer than its 16-bit offset.
func (g *gen) checkSize() error {
	at := make([]int, len(g.insns)) // raw offset of each instruction
	labels := map[string]int{}
	off := 0
	for i, ins := range g.insns {
		at[i] = off
		if sym := ins.Symbol(); sym != "" {
			labels[sym] = off
		}
		off += int(ins.Size() / asm.InstructionSize)
	}
	var note srcNote
	for i, ins := range g.insns {
		if n, ok := ins.Source().(srcNote); ok {
			note = n
		}
		if off > maxInsns {
			return dsl.Errorf(note.pos, "program too large: %d BPF instructions (the kernel loads at most %d); split the chain", off, maxInsns)
		}
		op := ins.OpCode.JumpOp()
		if ins.OpCode.Class().IsJump() && op != asm.Call && op != asm.Exit && ins.Reference() != "" {
			to, ok := labels[ins.Reference()]
			if !ok {
				continue
			}
			if d := to - at[i] - 1; d > maxJump || d < -maxJump-1 {
				return dsl.Errorf(note.pos, "program too large: a jump from %s spans %d instructions (BPF jumps span at most %d); use fewer stages or a shorter expression", note.text, d, maxJump)
			}
		}
	}
	return nil
}

func isExit(ins asm.Instruction) bool { return ins.OpCode.JumpOp() == asm.Exit }

// alloc reserves n bytes of stack (rounded up to 8) and returns the offset
// from R10 of their start. The 512-byte limit is the verifier's to enforce:
// it reports the instruction that overflows, which maps back to the chain.
func (g *gen) alloc(n int) int16 {
	n = (n + 7) &^ 7
	g.stackUsed += n
	if g.stackUsed > maxStack {
		// Keep going (offsets in range) and fail in finish, at this place.
		if g.tooDeep == nil {
			note := g.lastAt
			g.tooDeep = &note
		}
		g.stackUsed = maxStack
	}
	return int16(-g.stackUsed)
}

// stackMark and release give LIFO stack discipline: everything allocated
// after the mark is freed by release.
func (g *gen) stackMark() int   { return g.stackUsed }
func (g *gen) release(mark int) { g.stackUsed = mark }

// newVal returns a home for a scalar: a free value register, else a slot.
func (g *gen) newVal() val {
	if n := len(g.freeRegs); n > 0 {
		r := g.freeRegs[n-1]
		g.freeRegs = g.freeRegs[:n-1]
		return val{inReg: true, reg: r}
	}
	return val{off: g.alloc(8)}
}

// freeVal gives v's register back. Stack slots are freed by release.
func (g *gen) freeVal(v val) {
	if v.inReg {
		g.freeRegs = append(g.freeRegs, v.reg)
	}
}

// load returns a register holding v: v's own register, or scratch after a
// load from its slot.
func (g *gen) load(v val, scratch asm.Register) asm.Register {
	if v.inReg {
		return v.reg
	}
	g.emit(asm.LoadMem(scratch, asm.R10, v.off, asm.DWord))
	return scratch
}

// loadInto puts v into exactly register r.
func (g *gen) loadInto(v val, r asm.Register) {
	if v.inReg {
		if v.reg != r {
			g.emit(asm.Mov.Reg(r, v.reg))
		}
		return
	}
	g.emit(asm.LoadMem(r, asm.R10, v.off, asm.DWord))
}

// store puts register r into v.
func (g *gen) store(v val, r asm.Register) {
	if v.inReg {
		if v.reg != r {
			g.emit(asm.Mov.Reg(v.reg, r))
		}
		return
	}
	g.emit(asm.StoreMem(asm.R10, v.off, r, asm.DWord))
}

// movImm loads a 64-bit constant into r.
func (g *gen) movImm(r asm.Register, x int64) {
	if x >= -1<<31 && x < 1<<31 {
		g.emit(asm.Mov.Imm(r, int32(x)))
	} else {
		g.emit(asm.LoadImm(r, x, asm.DWord))
	}
}

// zero clears n bytes (a multiple of 8) of stack at off.
func (g *gen) zero(off int16, n int) {
	for i := 0; i < n; i += 8 {
		g.emit(storeDW(asm.R10, off+int16(i), 0))
	}
}

// call calls a helper.
func (g *gen) call(fn asm.BuiltinFunc) { g.emit(fn.Call()) }

// stackPtr sets r = R10 + off.
func (g *gen) stackPtr(r asm.Register, off int16) {
	g.emit(asm.Mov.Reg(r, asm.R10), asm.Add.Imm(r, int32(off)))
}

// mapPtr loads the address of map name into r.
func (g *gen) mapPtr(r asm.Register, name string) {
	g.emit(asm.LoadMapPtr(r, 0).WithReference(name))
}

// Position returns the source place and text of the instruction's node;
// the runtime uses it to report verifier errors.
func (s srcNote) Position() (dsl.Pos, string) { return s.pos, s.text }

// storeDW stores a sign-extended 32-bit immediate as 8 bytes at dst+off.
// asm.StoreImm refuses DWord, but BPF_ST|BPF_MEM|BPF_DW is a valid insn.
func storeDW(dst asm.Register, off int16, v int64) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off, Constant: v}
}

// Emit, Label and Mark let package agg generate into g (agg.Emitter).
func (g *gen) Emit(ins ...asm.Instruction) { g.emit(ins...) }

// Label returns a fresh jump target name.
func (g *gen) Label(what string) string { return g.newLabel(what) }

// Mark places label on the next instruction emitted.
func (g *gen) Mark(label string) { g.mark(label) }

// xchgDW emits src = atomic exchange(*(u64 *)(dst + off), src). The
// immediate is set as well as the opcode: cilium/ebpf v0.22's Marshal
// reads the immediate before it folds the atomic operation into it, and
// would encode an atomic add.
func xchgDW(dst, src asm.Register, off int16) asm.Instruction {
	ins := asm.Xchg.Mem(dst, src, asm.DWord, off)
	ins.Constant = int64(asm.Xchg >> 8)
	return ins
}
