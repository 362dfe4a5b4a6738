package compiler

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// .latency(end) pairs this probe with a later one on the same goroutine
// (on Go binaries) or thread: the start probe pushes the time on a stack
// kept in a hash map keyed by {pid, goid} or by pid_tgid; the end probe
// pops it and continues the chain with `elapsed` = ns between the two, so
// recursive calls pair each with its own return. (A Go entry uprobe sits
// past the stack check, so a call that grows the stack pushes once.) With
// explicit keys, latency(end, startKey, endKey), there is one start time
// per key, as bpftrace's @start[key], kept in an LRU hash.

// latencyEntries bounds in-flight pairs with explicit keys; the LRU drops
// the oldest unmatched start.
const latencyEntries = 65536

// Without explicit keys each goroutine or thread has a stack of start
// times: a depth word, then latencyDepth times. Calls nested deeper than
// that are not timed (their returns still pop). The map is allocated as
// goroutines call in, and an entry is deleted when its depth is back to 0.
const (
	latencyDepth        = 128
	latencyValueSize    = 8 + 8*latencyDepth
	latencyStackEntries = 16384
	bpfFNoPrealloc      = 1 // BPF_F_NO_PREALLOC
)

func init() {
	stages["latency"] = &stage{
		name: "latency", usage: "latency(endProbe[, startKey, endKey])", minArgs: 1, maxArgs: 3,
		doc: "pair with a later probe on the same goroutine/thread (or equal keys); the chain continues there with elapsed = ns between",
		// compileChainHooks splits the chain at latency() before stages run.
		check: func(cc *chainCtx, call *dsl.Call) error {
			return dsl.Errorf(call.Pos, "only one latency() per chain")
		},
	}
}

func (pb *progBuilder) compileLatency(st *dsl.Statement, src *dsl.Call, before []*dsl.Call, lat *dsl.Call, after []*dsl.Call) error {
	endSrc, endStages, err := pb.latencyEnd(lat.Args[0])
	if err != nil {
		return err
	}
	// Explicit keys pair events of different threads: a wakeup with the
	// switch to the woken task, a block request's issue with its completion.
	var startKey, endKey dsl.Expr
	switch len(lat.Args) {
	case 2:
		return dsl.Errorf(lat.Args[1].Position(), "latency() takes both keys or neither: latency(end, startKey, endKey)")
	case 3:
		startKey, endKey = lat.Args[1], lat.Args[2]
	}
	startP, err := providerOf(src)
	if err != nil {
		return err
	}
	endP, err := providerOf(endSrc)
	if err != nil {
		return err
	}
	starts, err := startP.expand(pb.env, src)
	if err != nil {
		return err
	}
	ends, err := endP.expand(pb.env, endSrc)
	if err != nil {
		return err
	}
	// Calls of a Go program pair by goroutine: goroutines move between
	// threads, so pairing them by thread would be wrong, never a
	// fallback. Both sides must then be Go probes whose goid is known.
	byGoid := true
	var goT, other *target
	var otherPos dsl.Pos
	for i, t := range append(append([]*target{}, starts...), ends...) {
		byGoid = byGoid && t.goidOff > 0
		pos := src.Pos
		if i >= len(starts) {
			pos = endSrc.Pos
		}
		switch {
		case t.isGo && t.goidOff <= 0 && startKey == nil:
			e := dsl.Errorf(pos, "latency() pairs calls of a Go program by goroutine, but the goroutine id of %s is unknown", t.name)
			if t.goidErr != nil {
				e.Detail = t.goidErr.Error()
			}
			e.Hint = "pair by keys instead: latency(end, startKey, endKey)"
			return e
		case t.isGo:
			goT = t
		case other == nil:
			other, otherPos = t, pos
		}
	}
	if goT != nil && other != nil && startKey == nil {
		e := dsl.Errorf(otherPos, "latency() pairs calls of a Go program by goroutine, and %s is not a probe of a Go program", other.name)
		e.Hint = "pair them by keys: latency(end, startKey, endKey)"
		return e
	}
	name := fmt.Sprintf("ebt_l%d", len(pb.out.Spec.Maps))
	var record, match hooks
	shared := false
	if startKey != nil {
		// Explicit keys: one start time per key, a later start replaces it.
		// Chains that end alike (the same end probe, end key and stages
		// after latency()) are one pairing, as @start[key] set in several
		// bpftrace probes: their starts share one map and the end runs
		// once, so a key started by two of them is timed once, from the
		// latest start.
		sig := latencySignature(endSrc, endKey, append(append([]*dsl.Call{}, endStages...), after...))
		if pb.latencyShared == nil {
			pb.latencyShared = map[string]string{}
		}
		if m, ok := pb.latencyShared[sig]; ok {
			name, shared = m, true
		} else {
			pb.latencyShared[sig] = name
			pb.out.Spec.Maps[name] = &ebpf.MapSpec{Name: name, Type: ebpf.LRUHash, KeySize: 16, ValueSize: 8, MaxEntries: latencyEntries}
		}
		record = hooks{check: checkLatencyKey(startKey), post: func(cc *chainCtx) { cc.latencyRecordOne(lat, name, byGoid, startKey) }}
		match = hooks{check: latencySpan(src, starts, checkLatencyKey(endKey)), pre: func(cc *chainCtx) { cc.latencyMatchOne(lat, name, byGoid, endKey) }}
	} else {
		// Per goroutine or thread: a stack of start times, so that nested
		// and recursive calls pair each with its own return.
		pb.out.Spec.Maps[name] = &ebpf.MapSpec{Name: name, Type: ebpf.Hash, KeySize: 16, ValueSize: latencyValueSize, MaxEntries: latencyStackEntries, Flags: bpfFNoPrealloc}
		// A new stack starts from a zeroed value larger than the BPF stack:
		// the one slot of an array nobody writes.
		zeros := name + "z"
		pb.out.Spec.Maps[zeros] = &ebpf.MapSpec{Name: zeros, Type: ebpf.Array, KeySize: 4, ValueSize: latencyValueSize, MaxEntries: 1}
		noKey := checkLatencyKey(nil)
		record = hooks{check: noKey, post: func(cc *chainCtx) { cc.latencyPush(lat, name, zeros, byGoid) }}
		match = hooks{check: latencySpan(src, starts, noKey), pre: func(cc *chainCtx) { cc.latencyPop(lat, name, byGoid) }}
	}
	for _, t := range starts {
		if err := pb.compileTarget(st, src, before, t, record); err != nil {
			return err
		}
	}
	if shared {
		return nil // the first chain that ends alike compiled the end
	}
	all := append(append([]*dsl.Call{}, endStages...), after...)
	if err := checkStages(all); err != nil {
		return err
	}
	for _, s := range all {
		if s.Name == "latency" {
			return dsl.Errorf(s.Pos, "only one latency() per chain")
		}
	}
	for _, t := range ends {
		if err := pb.compileTarget(st, endSrc, all, t, match); err != nil {
			return err
		}
	}
	return nil
}

// latencySignature is what makes two keyed latency() chains end alike:
// the end probe, the end key and the stages after latency(), as written.
func latencySignature(endSrc *dsl.Call, endKey dsl.Expr, stages []*dsl.Call) string {
	var b strings.Builder
	b.WriteString(dsl.ExprString(endSrc))
	b.WriteString("|")
	b.WriteString(dsl.ExprString(endKey))
	for _, s := range stages {
		b.WriteString("|")
		b.WriteString(dsl.ExprString(s))
	}
	return b.String()
}

// latencyEnd resolves latency()'s argument: a probe call or a bound chain.
func (pb *progBuilder) latencyEnd(arg dsl.Expr) (*dsl.Call, []*dsl.Call, error) {
	switch a := arg.(type) {
	case *dsl.Call:
		if a.Name != "" {
			_, err := providerOf(a)
			return a, nil, err
		}
	case *dsl.Ident:
		return pb.resolveChain(&dsl.Chain{Ref: a}, map[string]bool{})
	}
	return nil, nil, dsl.Errorf(arg.Position(), "latency() takes the end probe: a probe such as uretprobe(bin, fn), or a bound chain")
}

// checkLatencyKey types an explicit pairing key.
func checkLatencyKey(k dsl.Expr) func(cc *chainCtx) error {
	return func(cc *chainCtx) error {
		if k == nil {
			return nil
		}
		t, err := cc.typeOf(k)
		if err != nil {
			return err
		}
		if !t.isScalar() {
			return dsl.Errorf(k.Position(), "a latency key must be a number, not %s", t)
		}
		return nil
	}
}

// latencyKey builds the 16-byte pairing key on the stack: {0, k} for an
// explicit key expression k, {pid, goid} on Go binaries, {pid_tgid, 0}
// elsewhere.
func (cc *chainCtx) latencyKey(byGoid bool, k dsl.Expr) int16 {
	g := cc.g
	if k != nil {
		v := cc.genScalar(k)
		key := g.alloc(16)
		r := g.load(v, asm.R0)
		g.emit(storeDW(asm.R10, key, 0), asm.StoreMem(asm.R10, key+8, r, asm.DWord))
		g.freeVal(v)
		return key
	}
	key := g.alloc(16)
	g.call(asm.FnGetCurrentPidTgid)
	if !byGoid {
		g.emit(asm.StoreMem(asm.R10, key, asm.R0, asm.DWord), storeDW(asm.R10, key+8, 0))
		return key
	}
	g.emit(asm.RSh.Imm(asm.R0, 32), asm.StoreMem(asm.R10, key, asm.R0, asm.DWord))
	v := builtinValues["goid"].gen(cc)
	r := g.load(v, asm.R0)
	g.emit(asm.StoreMem(asm.R10, key+8, r, asm.DWord))
	g.freeVal(v)
	return key
}

func (cc *chainCtx) latencyRecordOne(lat *dsl.Call, name string, byGoid bool, startKey dsl.Expr) {
	g := cc.g
	g.at(lat.Pos, "latency")
	mark := g.stackMark()
	key := cc.latencyKey(byGoid, startKey)
	ts := g.alloc(8)
	g.call(asm.FnKtimeGetNs)
	g.emit(asm.StoreMem(asm.R10, ts, asm.R0, asm.DWord))
	g.mapPtr(asm.R1, name)
	g.stackPtr(asm.R2, key)
	g.stackPtr(asm.R3, ts)
	g.emit(asm.Mov.Imm(asm.R4, int32(ebpf.UpdateAny)))
	g.call(asm.FnMapUpdateElem)
	g.release(mark)
}

// latencyEnd starts an end probe's code: the slot `elapsed` reads, kept
// for the whole program, then the pairing key (released with mark).
func (cc *chainCtx) latencyEnd(lat *dsl.Call, byGoid bool, k dsl.Expr) (mark int, key int16) {
	g := cc.g
	g.at(lat.Pos, "latency")
	cc.latency = g.alloc(8)
	if cc.span != nil && cc.span.ev != nil {
		cc.span.startSlot = g.alloc(8) // the start time, for the span record
	}
	mark = g.stackMark()
	return mark, cc.latencyKey(byGoid, k)
}

func (cc *chainCtx) latencyMatchOne(lat *dsl.Call, name string, byGoid bool, endKey dsl.Expr) {
	g := cc.g
	mark, key := cc.latencyEnd(lat, byGoid, endKey)
	start := g.newVal()
	g.mapPtr(asm.R1, name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, cc.exit), asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord))
	g.store(start, asm.R1)
	g.call(asm.FnKtimeGetNs)
	r := g.load(start, asm.R1)
	cc.keepStart(r)
	g.emit(asm.Sub.Reg(asm.R0, r), asm.StoreMem(asm.R10, cc.latency, asm.R0, asm.DWord))
	g.freeVal(start)
	g.mapPtr(asm.R1, name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapDeleteElem)
	g.release(mark)
}

// keepStart saves the start time in register r for the span record.
func (cc *chainCtx) keepStart(r asm.Register) {
	if cc.span != nil && cc.span.ev != nil {
		cc.g.emit(asm.StoreMem(asm.R10, cc.span.startSlot, r, asm.DWord))
	}
}

// latencyPush records the time on this goroutine's or thread's stack.
func (cc *chainCtx) latencyPush(lat *dsl.Call, name, zeros string, byGoid bool) {
	g := cc.g
	g.at(lat.Pos, "latency")
	mark := g.stackMark()
	key := cc.latencyKey(byGoid, nil)
	now := g.newVal()
	g.call(asm.FnKtimeGetNs)
	g.store(now, asm.R0)
	have := g.newLabel("latstack")
	g.mapPtr(asm.R1, name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JNE.Imm(asm.R0, 0, have))
	done := g.newLabel("latpushed")
	zkey := g.alloc(8)
	g.emit(storeDW(asm.R10, zkey, 0))
	g.mapPtr(asm.R1, zeros)
	g.stackPtr(asm.R2, zkey)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, done), asm.Mov.Reg(asm.R3, asm.R0))
	g.mapPtr(asm.R1, name)
	g.stackPtr(asm.R2, key)
	g.emit(asm.Mov.Imm(asm.R4, int32(ebpf.UpdateNoExist)))
	g.call(asm.FnMapUpdateElem)
	g.mapPtr(asm.R1, name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, done))
	g.mark(have)
	// R1 = depth; times[depth] = now when depth < latencyDepth; depth++.
	deep := g.newLabel("latdeep")
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.JGE.Imm(asm.R1, latencyDepth, deep),
		asm.Mov.Reg(asm.R2, asm.R1), asm.LSh.Imm(asm.R2, 3),
		asm.Mov.Reg(asm.R3, asm.R0), asm.Add.Reg(asm.R3, asm.R2))
	r := g.load(now, asm.R4)
	g.emit(asm.StoreMem(asm.R3, 8, r, asm.DWord))
	g.mark(deep)
	g.emit(asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
	g.mark(done)
	g.freeVal(now)
	g.release(mark)
}

// latencyPop takes the newest start time off the stack into `elapsed`;
// an end without a start, or deeper than the stack keeps, ends the program.
func (cc *chainCtx) latencyPop(lat *dsl.Call, name string, byGoid bool) {
	g := cc.g
	mark, key := cc.latencyEnd(lat, byGoid, nil)
	now := g.newVal()
	g.call(asm.FnKtimeGetNs)
	g.store(now, asm.R0)
	g.mapPtr(asm.R1, name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, cc.exit),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, cc.exit),
		asm.Add.Imm(asm.R1, -1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.JGE.Imm(asm.R1, latencyDepth, cc.exit),
		asm.Mov.Reg(asm.R4, asm.R1),
		asm.LSh.Imm(asm.R1, 3), asm.Add.Reg(asm.R1, asm.R0),
		asm.LoadMem(asm.R2, asm.R1, 8, asm.DWord))
	r := g.load(now, asm.R3)
	cc.keepStart(asm.R2)
	g.emit(asm.Sub.Reg(r, asm.R2), asm.StoreMem(asm.R10, cc.latency, r, asm.DWord))
	// Back to depth 0: the goroutine or thread has no call in flight.
	kept := g.newLabel("latkept")
	g.emit(asm.JNE.Imm(asm.R4, 0, kept))
	g.mapPtr(asm.R1, name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapDeleteElem)
	g.mark(kept)
	g.freeVal(now)
	g.release(mark)
}
