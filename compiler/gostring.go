package compiler

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// Go strings are a pointer and a length, not NUL-terminated: gostr(p, n)
// and Go string values read min(n, size-1) bytes of user memory into a
// zeroed buffer, so the text ends at its NUL; a longer one is cut and
// marked "…".

func init() {
	builtinFuncs["gostr"] = &builtinFunc{
		name: "gostr", usage: "gostr(ptr, len)", doc: fmt.Sprintf("a Go string (pointer and length) in user memory; longer than %d bytes, it ends in …", goStrLen-4),
		minArgs: 2, maxArgs: 2,
		typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) {
			for _, a := range e.Args {
				if t := cc.types[a]; !t.isScalar() {
					return nil, dsl.Errorf(a.Position(), "gostr takes a pointer and a length, not %s", t)
				}
			}
			return stringType(goStrLen), nil
		},
		genMem: func(cc *chainCtx, e *dsl.Call, dst mem) {
			g := cc.g
			mark := g.stackMark()
			p := cc.genScalar(e.Args[0])
			n := cc.genScalar(e.Args[1])
			g.at(e.Pos, dsl.ExprString(e))
			cc.genGoString(func(r asm.Register) { g.loadInto(p, r) }, func(r asm.Register) { g.loadInto(n, r) }, cc.types[e].Size, dst)
			g.freeVal(n)
			g.freeVal(p)
			g.release(mark)
		},
	}
}

// truncMark ends a Go string that did not fit its buffer: "…" in UTF-8.
var truncMark = []byte("…")

// genGoString reads a Go string whose pointer and length loadPtr and
// loadLen put into a register, into size bytes at dst: the whole string
// when it fits with its NUL, else its first size-4 bytes and "…", so a
// cut string shows that it was cut.
func (cc *chainCtx) genGoString(loadPtr, loadLen func(asm.Register), size int, dst mem) {
	g := cc.g
	// Zero the buffer so the text is NUL-terminated.
	base, off := g.base(dst, asm.R1)
	for i := 0; i < size; i += 4 {
		g.emit(asm.StoreImm(base, off+int16(i), 0, asm.Word))
	}
	done := g.newLabel("gostr")
	fits := g.newLabel("gostrfits")
	loadLen(asm.R2)
	// Unsigned: a negative length is huge and is cut too; the verifier
	// needs the size bounded either way.
	g.emit(asm.JLE.Imm(asm.R2, int32(size-1), fits))
	keep := size - 1 - len(truncMark)
	loadPtr(asm.R3)
	g.addr(dst, asm.R1)
	g.emit(asm.Mov.Imm(asm.R2, int32(keep)))
	g.call(asm.FnProbeReadUser)
	base, off = g.base(dst, asm.R1)
	for i, c := range truncMark {
		g.emit(asm.StoreImm(base, off+int16(keep+i), int64(c), asm.Byte))
	}
	g.emit(asm.Ja.Label(done))
	g.mark(fits)
	g.emit(asm.JEq.Imm(asm.R2, 0, done))
	loadPtr(asm.R3)
	g.addr(dst, asm.R1)
	g.call(asm.FnProbeReadUser)
	g.mark(done)
	g.emit(asm.Mov.Imm(asm.R0, 0))
}
