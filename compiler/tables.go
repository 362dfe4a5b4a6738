package compiler

import (
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// A slice literal of constants is a table that an index picks from, in
// the kernel: the names of numbered states, say.
//
//	states := []string{"", "ESTABLISHED", "SYN_SENT"}
//	tracepoint("tcp:tcp_retransmit_skb").print("%s", states[args.state])
//
// An index out of range gives the zero value ("" or 0), as a nil pointer
// reads as zero: a tracer must not stop where Go would panic.

// maxTable bounds the elements of a table (its lookup is a compare each).
const maxTable = 512

func (cc *chainCtx) checkSliceLit(e *dsl.SliceLit) (*Type, error) {
	if len(e.Elts) > maxTable {
		return nil, dsl.Errorf(e.Pos, "a table holds at most %d elements, not %d", maxTable, len(e.Elts))
	}
	switch e.Elem {
	case "string":
		t := &Type{Kind: TTable, Elem: stringType(1)}
		for _, x := range e.Elts {
			xt, err := cc.typeOf(x)
			if err != nil {
				return nil, err
			}
			if xt.Const == nil {
				return nil, dsl.Errorf(x.Position(), "the elements of a []string table are constant strings, not %s", dsl.ExprString(x))
			}
			t.table = append(t.table, *xt.Const)
			t.Elem.Size = max(t.Elem.Size, len(*xt.Const)+1)
		}
		return t, nil
	case "int", "int64":
		t := &Type{Kind: TTable, Elem: tInt64}
		for _, x := range e.Elts {
			if _, err := cc.typeOf(x); err != nil {
				return nil, err
			}
			n, ok := constInt(cc.unwrap(x))
			if !ok {
				return nil, dsl.Errorf(x.Position(), "the elements of a []%s table are integer constants, not %s", e.Elem, dsl.ExprString(x))
			}
			t.ints = append(t.ints, n)
		}
		return t, nil
	}
	err := dsl.Errorf(e.ElemPos, "a table is a []string or an []int, not a []%s", e.Elem)
	err.Hint = `e.g. states := []string{"", "ESTABLISHED", "SYN_SENT"}, then states[args.state]`
	return nil, err
}

// checkTableIndex types t[i].
func (cc *chainCtx) checkTableIndex(e *dsl.Index, t *Type) (*Type, error) {
	it, err := cc.typeOf(e.Index)
	if err != nil {
		return nil, err
	}
	if it.Kind != TInt && it.Kind != TPtr {
		return nil, dsl.Errorf(e.Index.Position(), "a table's index is a number, not %s", it)
	}
	return t.Elem, nil
}

// genTableString writes t[i] into dst: a compare per element.
func (cc *chainCtx) genTableString(e *dsl.Index, dst mem) {
	g := cc.g
	t := cc.types[e.X]
	size := cc.types[e].Size
	mark := g.stackMark()
	i := cc.genScalar(e.Index)
	g.at(e.Pos, dsl.ExprString(e))
	done := g.newLabel("tableend")
	for k, s := range t.table {
		next := g.newLabel("tablenext")
		r := g.load(i, asm.R0)
		g.emit(asm.JNE.Imm(r, int32(k), next))
		cc.storeConstString(s, size, dst)
		g.emit(asm.Ja.Label(done))
		g.mark(next)
	}
	cc.storeConstString("", size, dst)
	g.mark(done)
	g.freeVal(i)
	g.release(mark)
}

// genTableInt reads t[i] into a new val.
func (cc *chainCtx) genTableInt(e *dsl.Index) val {
	g := cc.g
	t := cc.types[e.X]
	i := cc.genScalar(e.Index)
	g.at(e.Pos, dsl.ExprString(e))
	done := g.newLabel("tableend")
	r := g.load(i, asm.R0)
	g.emit(asm.Mov.Reg(asm.R1, r), asm.Mov.Imm(asm.R0, 0))
	for k, n := range t.ints {
		next := g.newLabel("tablenext")
		g.emit(asm.JNE.Imm(asm.R1, int32(k), next))
		g.movImm(asm.R0, n)
		g.emit(asm.Ja.Label(done))
		g.mark(next)
	}
	g.mark(done)
	g.store(i, asm.R0)
	return i
}

// tableLen is len(t) of a table type, or -1.
func tableLen(t *Type) int {
	if t.Kind != TTable {
		return -1
	}
	if t.Elem.Kind == TString {
		return len(t.table)
	}
	return len(t.ints)
}
