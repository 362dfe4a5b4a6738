package compiler

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// maxKeys is the size of a keyed aggregation's hash map (bpftrace's
// default is 4096; a busy host has more comms or pids than that).
const maxKeys = 10240

// MaxKeys is how many keys a by() aggregation holds.
const MaxKeys = maxKeys

// aggregation returns the Aggregation of stage call, creating it for the
// first target; later targets of a wildcard probe share its map.
func (pb *progBuilder) aggregation(call *dsl.Call, kind AggKind, cc *chainCtx, spec LHistSpec) (*Aggregation, error) {
	var keys []Field
	off := 0
	for _, k := range cc.keys {
		t := cc.types[k]
		keys = append(keys, fieldFor(dsl.ExprString(k), t, off))
		off += t.slotSize()
	}
	if a, ok := pb.aggByStage[call]; ok {
		if fmt.Sprint(a.Keys) != fmt.Sprint(keys) {
			return nil, dsl.Errorf(call.Pos, "the keys of this %s have different types on %s than on the first probe it matched", kind, cc.t.name)
		}
		return a, nil
	}
	a := &Aggregation{
		Name:      kind.String(),
		Kind:      kind,
		Map:       fmt.Sprintf("ebt_a%d", len(pb.out.Aggregations)),
		Array:     len(keys) == 0,
		Keys:      keys,
		KeySize:   off,
		ValueSize: kind.valueSize(),
		LHist:     spec,
		Pos:       call.Pos,
	}
	ms := &ebpf.MapSpec{Name: a.Map, ValueSize: uint32(a.ValueSize)}
	if a.Array {
		ms.Type, ms.KeySize, ms.MaxEntries = ebpf.PerCPUArray, 4, 1
		switch kind {
		case AggHist:
			ms.MaxEntries = histBuckets
		case AggLHist:
			ms.MaxEntries = uint32(spec.Buckets())
		}
		a.KeySize = 4
	} else {
		if kind == AggHist || kind == AggLHist {
			a.KeySize += 8
		}
		ms.Type, ms.KeySize, ms.MaxEntries = ebpf.PerCPUHash, uint32(a.KeySize), maxKeys
	}
	pb.out.Spec.Maps[a.Map] = ms
	pb.out.Aggregations = append(pb.out.Aggregations, a)
	pb.aggByStage[call] = a
	return a, nil
}

// genAggregation emits the update of an aggregation stage.
func (cc *chainCtx) genAggregation(call *dsl.Call, kind AggKind) error {
	var ve dsl.Expr
	if kind != AggCount {
		ve = call.Args[0]
		t, err := cc.typeOf(ve)
		if err != nil {
			return err
		}
		if t.Kind != TInt && t.Kind != TPtr {
			return dsl.Errorf(ve.Position(), "%s takes a number, not %s", kind, t)
		}
	}
	return cc.genAggregationSpec(call, kind, ve, LHistSpec{})
}

func (cc *chainCtx) genAggregationSpec(call *dsl.Call, kind AggKind, ve dsl.Expr, spec LHistSpec) error {
	a, err := cc.prog.aggregation(call, kind, cc, spec)
	if err != nil {
		return err
	}
	cc.agg = a
	g := cc.g
	g.at(call.Pos, call.Name)
	mark := g.stackMark()
	var v val
	if ve != nil {
		v = cc.genScalar(ve)
		g.at(call.Pos, call.Name)
	}
	signed := ve != nil && cc.types[ve].Signed
	a.Signed = signed
	skip := g.newLabel("aggdone")
	var full string
	bucketed := kind == AggHist || kind == AggLHist
	if a.Array {
		key := g.alloc(8)
		if bucketed {
			cc.genBucket(v, kind, spec)
			g.emit(asm.StoreMem(asm.R10, key, asm.R0, asm.Word))
		} else {
			g.emit(asm.StoreImm(asm.R10, key, 0, asm.Word))
		}
		g.mapPtr(asm.R1, a.Map)
		g.stackPtr(asm.R2, key)
		g.call(asm.FnMapLookupElem)
		g.emit(asm.JEq.Imm(asm.R0, 0, skip))
	} else {
		key := g.alloc(a.KeySize)
		// Hash keys must not hold stray bytes: zero what the keys will not
		// write whole (strings read up to their NUL).
		for i, k := range cc.keys {
			if !fillsSlot(cc, k) {
				g.zero(key+int16(a.Keys[i].Offset), a.Keys[i].Size)
			}
		}
		for i, k := range cc.keys {
			cc.writeKey(k, key+int16(a.Keys[i].Offset))
		}
		g.at(call.Pos, call.Name)
		if bucketed {
			cc.genBucket(v, kind, spec)
			g.emit(asm.StoreMem(asm.R10, key+int16(a.KeySize-8), asm.R0, asm.DWord))
		}
		have := g.newLabel("aggfound")
		g.mapPtr(asm.R1, a.Map)
		g.stackPtr(asm.R2, key)
		g.call(asm.FnMapLookupElem)
		g.emit(asm.JNE.Imm(asm.R0, 0, have))
		// First time for this key: insert zeros, then look it up again
		// (another CPU may have inserted it meanwhile; NOEXIST keeps its).
		zero := g.alloc(a.ValueSize)
		g.zero(zero, a.ValueSize)
		g.mapPtr(asm.R1, a.Map)
		g.stackPtr(asm.R2, key)
		g.stackPtr(asm.R3, zero)
		g.emit(asm.Mov.Imm(asm.R4, int32(ebpf.UpdateNoExist)))
		g.call(asm.FnMapUpdateElem)
		g.mapPtr(asm.R1, a.Map)
		g.stackPtr(asm.R2, key)
		g.call(asm.FnMapLookupElem)
		// Still missing: the map is full. Count it, so the user is told.
		full = g.newLabel("aggfull")
		g.emit(asm.JEq.Imm(asm.R0, 0, full))
		g.mark(have)
	}
	// R0 points at this CPU's value.
	var rv asm.Register
	if ve != nil && !bucketed {
		rv = g.load(v, asm.R1)
	}
	switch kind {
	case AggCount, AggHist, AggLHist:
		incWord(g, 0)
	case AggSum:
		addWord(g, 0, rv)
	case AggAvg:
		addWord(g, 0, rv)
		incWord(g, 8)
	case AggMin, AggMax:
		g.emit(asm.LoadMem(asm.R3, asm.R0, 8, asm.DWord))
		setExtreme(g, kind == AggMin, signed, 0, rv, asm.R3)
		g.emit(storeDW(asm.R0, 8, 1))
	case AggStats:
		g.emit(asm.LoadMem(asm.R3, asm.R0, 0, asm.DWord))
		setExtreme(g, true, signed, 16, rv, asm.R3)
		setExtreme(g, false, signed, 24, rv, asm.R3)
		incWord(g, 0)
		addWord(g, 8, rv)
	}
	if !a.Array {
		g.emit(asm.Ja.Label(skip))
		g.mark(full)
		cc.countLost(lostUpdates)
	}
	g.mark(skip)
	if ve != nil {
		g.freeVal(v)
	}
	g.release(mark)
	return nil
}

// addWord adds register r to the word at R0+off.
func addWord(g *gen, off int16, r asm.Register) {
	g.emit(asm.LoadMem(asm.R2, asm.R0, off, asm.DWord), asm.Add.Reg(asm.R2, r), asm.StoreMem(asm.R0, off, asm.R2, asm.DWord))
}

// incWord adds one to the word at R0+off.
func incWord(g *gen, off int16) {
	g.emit(asm.LoadMem(asm.R2, asm.R0, off, asm.DWord), asm.Add.Imm(asm.R2, 1), asm.StoreMem(asm.R0, off, asm.R2, asm.DWord))
}

// setExtreme stores rv at R0+off when the slot is unset (set == 0) or rv
// beats the value there.
func setExtreme(g *gen, isMin, signed bool, off int16, rv, set asm.Register) {
	store := g.newLabel("extreme")
	keep := g.newLabel("keep")
	g.emit(asm.JEq.Imm(set, 0, store), asm.LoadMem(asm.R2, asm.R0, off, asm.DWord))
	var j asm.JumpOp
	switch {
	case isMin && signed:
		j = asm.JSLE
	case isMin:
		j = asm.JLE
	case signed:
		j = asm.JSGE
	default:
		j = asm.JGE
	}
	g.emit(j.Reg(asm.R2, rv, keep))
	g.mark(store)
	g.emit(asm.StoreMem(asm.R0, off, rv, asm.DWord))
	g.mark(keep)
}

// genBucket computes the bucket index of v into R0 (see Aggregation).
func (cc *chainCtx) genBucket(v val, kind AggKind, spec LHistSpec) {
	g := cc.g
	done := g.newLabel("bucket")
	g.loadInto(v, asm.R1)
	g.emit(asm.Mov.Imm(asm.R0, 0))
	if kind == AggHist {
		g.emit(asm.JSLT.Imm(asm.R1, 0, done), asm.Mov.Imm(asm.R0, 1), asm.JEq.Imm(asm.R1, 0, done), asm.Mov.Imm(asm.R0, 2))
		for _, k := range []int32{32, 16, 8, 4, 2, 1} {
			next := g.newLabel("log2")
			g.emit(asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Imm(asm.R2, k), asm.JEq.Imm(asm.R2, 0, next),
				asm.Mov.Reg(asm.R1, asm.R2), asm.Add.Imm(asm.R0, k))
			g.mark(next)
		}
		g.mark(done)
		return
	}
	g.movImm(asm.R2, spec.Min)
	g.emit(asm.JSLT.Reg(asm.R1, asm.R2, done))
	g.movImm(asm.R0, int64(spec.Buckets()-1))
	g.movImm(asm.R2, spec.Max)
	g.emit(asm.JSGE.Reg(asm.R1, asm.R2, done))
	g.movImm(asm.R2, spec.Min)
	g.emit(asm.Sub.Reg(asm.R1, asm.R2))
	g.movImm(asm.R2, spec.Step)
	g.emit(asm.Div.Reg(asm.R1, asm.R2), asm.Add.Imm(asm.R1, 1), asm.Mov.Reg(asm.R0, asm.R1))
	g.mark(done)
}

// writeKey evaluates key expression k into the stack key buffer at off.
func (cc *chainCtx) writeKey(k dsl.Expr, off int16) {
	g := cc.g
	g.at(k.Position(), dsl.ExprString(k))
	if cc.types[k].Kind == TString {
		cc.genMem(k, stackMem(off))
		return
	}
	mark := g.stackMark()
	v := cc.genScalar(k)
	if cc.types[k].Show == "usym" {
		cc.genPid(asm.R0)
		g.emit(asm.StoreMem(asm.R10, off+8, asm.R0, asm.DWord))
	}
	r := g.load(v, asm.R1)
	g.emit(asm.StoreMem(asm.R10, off, r, asm.DWord))
	g.freeVal(v)
	g.release(mark)
}

// fillsSlot reports whether writing key k writes every byte of its slot:
// numbers are stored as whole words, padded strings (comm) by their helper.
func fillsSlot(cc *chainCtx, k dsl.Expr) bool {
	t := cc.types[k]
	return t.Kind != TString || t.padded && t.slotSize() == t.Size
}
