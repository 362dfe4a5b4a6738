package compiler

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// MaxKeys is how many keys a by() aggregation's hash map holds
// (bpftrace's default is 4096; a busy host has more comms or pids).
const MaxKeys = 10240

// aggUse is what an aggregation stage's check leaves for its gen: the map,
// the by() keys before it and the value expression.
type aggUse struct {
	a     *Aggregation
	keys  []dsl.Expr
	value dsl.Expr
}

// aggStage is the stage of an aggregation kind: kind(value?, params…).
func aggStage(k *agg.Kind) *stage {
	n := k.Params
	if k.Value {
		n++
	}
	return &stage{
		name: k.Name, usage: k.Usage, doc: k.Doc, minArgs: n, maxArgs: n,
		check: func(cc *chainCtx, call *dsl.Call) error { return cc.checkAggregation(call, k) },
		gen:   func(cc *chainCtx, call *dsl.Call) { cc.genAggregation(call) },
	}
}

func (cc *chainCtx) checkAggregation(call *dsl.Call, k *agg.Kind) error {
	u := &aggUse{keys: cc.keys}
	args := call.Args
	if k.Value {
		u.value, args = args[0], args[1:]
		t, err := cc.typeOf(u.value)
		if err != nil {
			return err
		}
		if t.Kind != TInt && t.Kind != TPtr {
			return dsl.Errorf(u.value.Position(), "%s takes a number, not %s", k.Name, t)
		}
	}
	var p agg.Params
	if k.Params > 0 {
		var n [3]int64
		for i, a := range args {
			v, ok := constInt(a)
			if !ok {
				return dsl.Errorf(a.Position(), "%s's parameters after the value must be integer constants", k.Name)
			}
			n[i] = v
		}
		p = agg.Params{Min: n[0], Max: n[1], Step: n[2]}
		if i, msg := k.CheckParams(p); msg != "" {
			return dsl.Errorf(args[i].Position(), "%s", msg)
		}
	}
	a, err := cc.prog.aggregation(call, k, p, cc)
	if err != nil {
		return err
	}
	a.Signed = u.value != nil && cc.types[u.value].Signed
	a.Duration = a.Duration || u.value != nil && cc.isDuration(u.value)
	u.a = a
	cc.agg = a
	cc.aggs[call] = u
	return nil
}

// aggregation returns the Aggregation of stage call, creating it for the
// first target; later targets of a wildcard probe share its map.
func (pb *progBuilder) aggregation(call *dsl.Call, k *agg.Kind, p agg.Params, cc *chainCtx) (*Aggregation, error) {
	var keys []Field
	off := 0
	for _, key := range cc.keys {
		t := cc.types[key]
		keys = append(keys, fieldFor(dsl.ExprString(key), t, off))
		off += t.slotSize()
	}
	if a, ok := pb.aggByStage[call]; ok {
		if fmt.Sprint(a.Keys) != fmt.Sprint(keys) {
			return nil, dsl.Errorf(call.Pos, "the keys of this %s have different types on %s than on the first probe it matched", k.Name, cc.t.name)
		}
		if a.SamplePeriod != samplePeriod(cc.t) {
			a.SamplePeriod = 0
		}
		return a, nil
	}
	a := &Aggregation{
		Name:    k.Name,
		Kind:    k,
		Params:  p,
		Map:     fmt.Sprintf("ebt_a%d", len(pb.out.Aggregations)),
		Array:   len(keys) == 0,
		Keys:    keys,
		KeySize: off,
		Pos:     call.Pos,

		SamplePeriod: samplePeriod(cc.t),
	}
	ms := &ebpf.MapSpec{Name: a.Map, ValueSize: uint32(k.ValueSize())}
	if a.Array {
		ms.Type, ms.KeySize, ms.MaxEntries = ebpf.PerCPUArray, 4, 1
		if k.Histogram() {
			ms.MaxEntries = uint32(k.Buckets(p))
		}
		a.KeySize = 4
	} else {
		if k.Histogram() {
			a.KeySize += 8
		}
		ms.Type, ms.KeySize, ms.MaxEntries = ebpf.PerCPUHash, uint32(a.KeySize), MaxKeys
	}
	pb.out.Spec.Maps[a.Map] = ms
	pb.out.Aggregations = append(pb.out.Aggregations, a)
	pb.aggByStage[call] = a
	return a, nil
}

// genAggregation emits the update of an aggregation stage: find this
// CPU's value for the key (inserting it the first time), then let the
// kind fold the value in.
func (cc *chainCtx) genAggregation(call *dsl.Call) {
	u := cc.aggs[call]
	a, k := u.a, u.a.Kind
	g := cc.g
	g.at(call.Pos, call.Name)
	mark := g.stackMark()
	var v val
	if u.value != nil {
		v = cc.genScalar(u.value)
		g.at(call.Pos, call.Name)
	}
	skip := g.newLabel("aggdone")
	var full string
	if a.Array {
		key := g.alloc(8)
		if k.Histogram() {
			g.loadInto(v, asm.R1)
			k.Bucket(g, a.Params)
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
		for i, key2 := range u.keys {
			if !fillsSlot(cc, key2) {
				g.zero(key+int16(a.Keys[i].Offset), a.Keys[i].Size)
			}
		}
		for i, key2 := range u.keys {
			cc.writeKey(key2, key+int16(a.Keys[i].Offset))
		}
		g.at(call.Pos, call.Name)
		if k.Histogram() {
			g.loadInto(v, asm.R1)
			k.Bucket(g, a.Params)
			g.emit(asm.StoreMem(asm.R10, key+int16(a.KeySize-8), asm.R0, asm.DWord))
		}
		have := g.newLabel("aggfound")
		g.mapPtr(asm.R1, a.Map)
		g.stackPtr(asm.R2, key)
		g.call(asm.FnMapLookupElem)
		g.emit(asm.JNE.Imm(asm.R0, 0, have))
		// First time for this key: insert zeros, then look it up again
		// (another CPU may have inserted it meanwhile; NOEXIST keeps its).
		zero := g.alloc(k.ValueSize())
		g.zero(zero, k.ValueSize())
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
	// R0 points at this CPU's value; the kind wants the value in a
	// register that is not R0–R3.
	rv := asm.R4
	if u.value != nil {
		if v.inReg {
			rv = v.reg
		} else {
			g.emit(asm.LoadMem(asm.R4, asm.R10, v.off, asm.DWord))
		}
	}
	k.Update(g, rv, a.Signed)
	if !a.Array {
		g.emit(asm.Ja.Label(skip))
		g.mark(full)
		cc.countLost(LostUpdates)
	}
	g.mark(skip)
	if u.value != nil {
		g.freeVal(v)
	}
	g.release(mark)
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
	if t := cc.types[k]; t.slotSize() == 16 {
		cc.genSecondWord(t, asm.R0)
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
