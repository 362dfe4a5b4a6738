package compiler

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// .latency(end), or .pair(end), pairs this probe with a later one on the
// same goroutine (on Go binaries) or thread: the start probe pushes the
// time, and what .with() bound before it (with.go), on a stack kept in a
// hash map keyed by {pid, goid} or by pid_tgid; the end probe pops it and
// continues the chain with `elapsed` = ns between the two and the bound
// names, so recursive calls pair each with its own return. (A Go entry
// uprobe sits past the stack check, so a call that grows the stack pushes
// once.) With explicit keys, latency(end, startKey, endKey), there is one
// start per key, as bpftrace's @start[key], kept in an LRU hash.

// latencyEntries bounds in-flight pairs with explicit keys; the LRU drops
// the oldest unmatched start. Starts that carry large values get fewer,
// keyedBudget bytes in all.
const (
	latencyEntries = 65536
	keyedBudget    = 32 << 20
)

// Without explicit keys each goroutine or thread has a stack of starts:
// a depth word, then latencyDepth slots (a time, then the carried values;
// fewer slots when they are large, latencyStackBudget bytes at most).
// Calls nested deeper than that are not paired (their returns still
// pop). The map is allocated as goroutines call in, and an entry is
// deleted when its depth is back to 0.
const (
	latencyDepth        = 128
	latencyStackBudget  = 8192
	latencyStackEntries = 16384
	bpfFNoPrealloc      = 1 // BPF_F_NO_PREALLOC
)

func init() {
	// One record, two names: .pair() says what it does, .latency() what
	// it is most often for (elapsed); both carry the start time and what
	// .with() bound.
	st := &stage{
		name: "latency", usage: "latency(endProbe[, startKey, endKey])", minArgs: 1, maxArgs: 3,
		doc: "pair with a later probe on the same goroutine/thread (or equal keys); the chain continues there with elapsed = ns between, and the names .with() bound",
		// compileChainHooks splits the chain at the pairing before stages run.
		check: func(cc *chainCtx, call *dsl.Call) error {
			return dsl.Errorf(call.Pos, "only one latency() or pair() per chain")
		},
	}
	stages["latency"] = st
	pair := *st
	pair.name, pair.usage = "pair", "pair(endProbe[, startKey, endKey])"
	pair.doc = "pair with a later probe on the same goroutine/thread (or equal keys); the chain continues there with the names .with() bound (and elapsed)"
	stages["pair"] = &pair
}

// isPairing reports whether a stage splits its chain into a start and an
// end probe.
func isPairing(name string) bool { return name == "latency" || name == "pair" }

// pairing is one .latency()/.pair() stage being compiled: what its start
// probes record and its end probes read back. Its maps are made once the
// first start probe is checked, when what it carries is known.
type pairing struct {
	stage            *dsl.Call
	byGoid           bool
	startKey, endKey dsl.Expr
	// endSig is how the chain ends (latencySignature), for keyed
	// chains that end alike.
	endSig string
	// name is the pairing map; zeros, on per-thread stacks, the array
	// holding a zeroed stack.
	name, zeros string
	// carry is what the start probes bound with .with(); nil when
	// nothing. slot is the bytes of one start: the time, then carry.
	carry *carried
	slot  int
	depth int
	// shared: an earlier chain that ends alike compiled the end.
	shared bool
}

func (pb *progBuilder) compileLatency(st *dsl.Statement, src *dsl.Call, before []*dsl.Call, lat *dsl.Call, after []*dsl.Call) error {
	endSrc, endStages, err := pb.latencyEnd(lat)
	if err != nil {
		return err
	}
	// Explicit keys pair events of different threads: a wakeup with the
	// switch to the woken task, a block request's issue with its completion.
	p := &pairing{stage: lat}
	switch len(lat.Args) {
	case 2:
		return dsl.Errorf(lat.Args[1].Position(), "%s() takes both keys or neither: %s(end, startKey, endKey)", lat.Name, lat.Name)
	case 3:
		p.startKey, p.endKey = lat.Args[1], lat.Args[2]
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
		case t.isGo && t.goidOff <= 0 && p.startKey == nil:
			e := dsl.Errorf(pos, "%s() pairs calls of a Go program by goroutine, but the goroutine id of %s is unknown", lat.Name, t.name)
			if t.goidErr != nil {
				e.Detail = t.goidErr.Error()
			}
			e.Hint = fmt.Sprintf("pair by keys instead: %s(end, startKey, endKey)", lat.Name)
			return e
		case t.isGo:
			goT = t
		case other == nil:
			other, otherPos = t, pos
		}
	}
	if goT != nil && other != nil && p.startKey == nil {
		e := dsl.Errorf(otherPos, "%s() pairs calls of a Go program by goroutine, and %s is not a probe of a Go program", lat.Name, other.name)
		e.Hint = fmt.Sprintf("pair them by keys: %s(end, startKey, endKey)", lat.Name)
		return e
	}
	p.byGoid = byGoid
	all := append(append([]*dsl.Call{}, endStages...), after...)
	var record, match hooks
	if p.startKey != nil {
		// Explicit keys: one start per key, a later start replaces it.
		// Chains that end alike (the same end probe, end key and stages
		// after the pairing, carrying the same names) are one pairing, as
		// @start[key] set in several bpftrace probes: their starts share
		// one map and the end runs once, so a key started by two of them
		// is timed once, from the latest start.
		p.endSig = latencySignature(endSrc, p.endKey, all)
		record = hooks{check: checkLatencyKey(p.startKey), checked: pb.pairStartChecked(p), post: func(cc *chainCtx) { cc.latencyRecordOne(p) }}
		// The start probe was in scope (-p, -c); the end, matched by key,
		// may run elsewhere (an interrupt completing the request, a
		// softirq moving a socket on), so it is not filtered again.
		match = hooks{check: latencySpan(src, starts, pb.pairEndCheck(p, checkLatencyKey(p.endKey))), pre: func(cc *chainCtx) { cc.latencyMatchOne(p) }, noScope: true}
	} else {
		// Per goroutine or thread: a stack of starts, so that nested and
		// recursive calls pair each with its own return.
		record = hooks{check: checkLatencyKey(nil), checked: pb.pairStartChecked(p), post: func(cc *chainCtx) { cc.latencyPush(p) }}
		match = hooks{check: latencySpan(src, starts, pb.pairEndCheck(p, checkLatencyKey(nil))), pre: func(cc *chainCtx) { cc.latencyPop(p) }}
	}
	for _, t := range starts {
		if err := pb.compileTarget(st, src, before, t, record); err != nil {
			return err
		}
	}
	if p.shared {
		return nil // the first chain that ends alike compiled the end
	}
	if err := checkStages(all); err != nil {
		return err
	}
	for _, s := range all {
		if isPairing(s.Name) {
			return dsl.Errorf(s.Pos, "only one latency() or pair() per chain")
		}
	}
	for _, t := range ends {
		if err := pb.compileTarget(st, endSrc, all, t, match); err != nil {
			return err
		}
	}
	return nil
}

// pairStartChecked runs once a start probe's stages are checked: the
// first one fixes what the pairing carries and makes its maps; the others
// must carry the same.
func (pb *progBuilder) pairStartChecked(p *pairing) func(cc *chainCtx) error {
	return func(cc *chainCtx) error {
		c := cc.carried()
		if p.name != "" {
			return p.carry.same(c, cc.t.name)
		}
		p.carry = c
		p.slot = 8
		if c != nil {
			p.slot = c.size
		}
		p.name = fmt.Sprintf("ebt_l%d", len(pb.out.Spec.Maps))
		if p.startKey != nil {
			sig := p.endSig + "|" + c.signature()
			if pb.latencyShared == nil {
				pb.latencyShared = map[string]string{}
			}
			if m, ok := pb.latencyShared[sig]; ok {
				p.name, p.shared = m, true
				return nil
			}
			pb.latencyShared[sig] = p.name
			pb.out.Spec.Maps[p.name] = &ebpf.MapSpec{Name: p.name, Type: ebpf.LRUHash, KeySize: 16, ValueSize: uint32(p.slot), MaxEntries: keyedEntries(p.slot)}
			return nil
		}
		p.depth = stackDepth(p.slot)
		size := uint32(8 + p.depth*p.slot)
		pb.out.Spec.Maps[p.name] = &ebpf.MapSpec{Name: p.name, Type: ebpf.Hash, KeySize: 16, ValueSize: size, MaxEntries: latencyStackEntries, Flags: bpfFNoPrealloc}
		// A new stack starts from a zeroed value larger than the BPF stack:
		// the one slot of an array nobody writes.
		p.zeros = p.name + "z"
		pb.out.Spec.Maps[p.zeros] = &ebpf.MapSpec{Name: p.zeros, Type: ebpf.Array, KeySize: 4, ValueSize: size, MaxEntries: 1}
		return nil
	}
}

// pairEndCheck gives an end probe's chain the names the start bound,
// before its stages are checked, then checks its key.
func (pb *progBuilder) pairEndCheck(p *pairing, key func(cc *chainCtx) error) func(cc *chainCtx) error {
	return func(cc *chainCtx) error {
		cc.receive(p.carry)
		return key(cc)
	}
}

// stackDepth is how many starts a per-thread stack keeps when each takes
// slot bytes: latencyDepth, fewer when they carry values, so that a
// stack stays within latencyStackBudget.
func stackDepth(slot int) int {
	return max(1, min(latencyDepth, (latencyStackBudget-8)/slot))
}

// keyedEntries bounds the starts in flight of a keyed pairing whose
// values take slot bytes: latencyEntries, fewer for large values (the LRU
// map is allocated whole).
func keyedEntries(slot int) uint32 {
	return uint32(max(1024, min(latencyEntries, keyedBudget/(slot+64))))
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
func (pb *progBuilder) latencyEnd(lat *dsl.Call) (*dsl.Call, []*dsl.Call, error) {
	arg := lat.Args[0]
	switch a := arg.(type) {
	case *dsl.Call:
		if a.Name != "" {
			_, err := providerOf(a)
			return a, nil, err
		}
	case *dsl.Ident:
		return pb.resolveChain(&dsl.Chain{Ref: a}, map[string]bool{})
	}
	return nil, nil, dsl.Errorf(arg.Position(), "%s() takes the end probe: a probe such as uretprobe(bin, fn), or a bound chain", lat.Name)
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

func (cc *chainCtx) latencyRecordOne(p *pairing) {
	g := cc.g
	g.at(p.stage.Pos, p.stage.Name)
	mark := g.stackMark()
	key := cc.latencyKey(p.byGoid, p.startKey)
	g.call(asm.FnKtimeGetNs)
	if p.carry != nil {
		// The start time goes first in the scratch value, after it what
		// .with() bound: the whole is the map's value.
		g.emit(asm.LoadMem(asm.R1, asm.R10, cc.scratch, asm.DWord), asm.StoreMem(asm.R1, 0, asm.R0, asm.DWord))
		g.emit(asm.LoadMem(asm.R3, asm.R10, cc.scratch, asm.DWord))
	} else {
		ts := g.alloc(8)
		g.emit(asm.StoreMem(asm.R10, ts, asm.R0, asm.DWord))
		g.stackPtr(asm.R3, ts)
	}
	g.mapPtr(asm.R1, p.name)
	g.stackPtr(asm.R2, key)
	g.emit(asm.Mov.Imm(asm.R4, int32(ebpf.UpdateAny)))
	g.call(asm.FnMapUpdateElem)
	g.release(mark)
}

// latencyEnd starts an end probe's code: the slot `elapsed` reads, kept
// for the whole program, then the pairing key (released with mark).
func (cc *chainCtx) latencyEnd(p *pairing) (mark int, key int16) {
	g := cc.g
	g.at(p.stage.Pos, p.stage.Name)
	cc.latency = g.alloc(8)
	if cc.span != nil && cc.span.ev != nil {
		cc.span.startSlot = g.alloc(8) // the start time, for the span record
	}
	if p.carry != nil {
		cc.genScratch()
	}
	mark = g.stackMark()
	return mark, cc.latencyKey(p.byGoid, p.endKey)
}

func (cc *chainCtx) latencyMatchOne(p *pairing) {
	g := cc.g
	mark, key := cc.latencyEnd(p)
	start := g.newVal()
	g.mapPtr(asm.R1, p.name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, cc.exit))
	if p.carry != nil {
		// Copied out before the delete, which may hand the element to
		// another CPU's start.
		cc.copyFromPair(asm.R0, p.slot)
		g.emit(asm.LoadMem(asm.R0, asm.R10, cc.scratch, asm.DWord))
	}
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord))
	g.store(start, asm.R1)
	g.call(asm.FnKtimeGetNs)
	r := g.load(start, asm.R1)
	cc.keepStart(r)
	g.emit(asm.Sub.Reg(asm.R0, r), asm.StoreMem(asm.R10, cc.latency, asm.R0, asm.DWord))
	g.freeVal(start)
	g.mapPtr(asm.R1, p.name)
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

// latencyPush records the start on this goroutine's or thread's stack.
func (cc *chainCtx) latencyPush(p *pairing) {
	g := cc.g
	g.at(p.stage.Pos, p.stage.Name)
	mark := g.stackMark()
	key := cc.latencyKey(p.byGoid, nil)
	now := g.newVal()
	g.call(asm.FnKtimeGetNs)
	g.store(now, asm.R0)
	if p.carry != nil {
		g.emit(asm.LoadMem(asm.R1, asm.R10, cc.scratch, asm.DWord), asm.StoreMem(asm.R1, 0, asm.R0, asm.DWord))
	}
	have := g.newLabel("latstack")
	g.mapPtr(asm.R1, p.name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JNE.Imm(asm.R0, 0, have))
	done := g.newLabel("latpushed")
	zkey := g.alloc(8)
	g.emit(storeDW(asm.R10, zkey, 0))
	g.mapPtr(asm.R1, p.zeros)
	g.stackPtr(asm.R2, zkey)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, done), asm.Mov.Reg(asm.R3, asm.R0))
	g.mapPtr(asm.R1, p.name)
	g.stackPtr(asm.R2, key)
	g.emit(asm.Mov.Imm(asm.R4, int32(ebpf.UpdateNoExist)))
	g.call(asm.FnMapUpdateElem)
	g.mapPtr(asm.R1, p.name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, done))
	g.mark(have)
	// slots[depth] = the start when depth < p.depth; depth++.
	deep := g.newLabel("latdeep")
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.JGE.Imm(asm.R1, int32(p.depth), deep),
		asm.Mul.Imm(asm.R1, int32(p.slot)),
		asm.Add.Reg(asm.R1, asm.R0), asm.Add.Imm(asm.R1, 8))
	if p.carry != nil {
		vp := g.alloc(8)
		g.emit(asm.StoreMem(asm.R10, vp, asm.R0, asm.DWord),
			asm.Mov.Imm(asm.R2, int32(p.slot)),
			asm.LoadMem(asm.R3, asm.R10, cc.scratch, asm.DWord))
		g.call(asm.FnProbeReadKernel)
		g.emit(asm.LoadMem(asm.R0, asm.R10, vp, asm.DWord))
	} else {
		r := g.load(now, asm.R4)
		g.emit(asm.StoreMem(asm.R1, 0, r, asm.DWord))
	}
	g.mark(deep)
	g.emit(asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord), asm.Add.Imm(asm.R1, 1), asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
	g.mark(done)
	g.freeVal(now)
	g.release(mark)
}

// latencyPop takes the newest start off the stack: its time into
// `elapsed`, what it carries into the scratch value. An end without a
// start, or deeper than the stack keeps, ends the program.
func (cc *chainCtx) latencyPop(p *pairing) {
	g := cc.g
	mark, key := cc.latencyEnd(p)
	now := g.newVal()
	g.call(asm.FnKtimeGetNs)
	g.store(now, asm.R0)
	g.mapPtr(asm.R1, p.name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	depth := g.newVal()
	g.emit(asm.JEq.Imm(asm.R0, 0, cc.exit),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.JEq.Imm(asm.R1, 0, cc.exit),
		asm.Add.Imm(asm.R1, -1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.JGE.Imm(asm.R1, int32(p.depth), cc.exit))
	g.store(depth, asm.R1)
	g.emit(asm.Mul.Imm(asm.R1, int32(p.slot)), asm.Add.Reg(asm.R1, asm.R0), asm.Add.Imm(asm.R1, 8),
		asm.LoadMem(asm.R2, asm.R1, 0, asm.DWord))
	r := g.load(now, asm.R3)
	cc.keepStart(asm.R2)
	g.emit(asm.Sub.Reg(r, asm.R2), asm.StoreMem(asm.R10, cc.latency, r, asm.DWord))
	if p.carry != nil {
		cc.copyFromPair(asm.R1, p.slot)
	}
	// Back to depth 0: the goroutine or thread has no call in flight.
	kept := g.newLabel("latkept")
	d := g.load(depth, asm.R1)
	g.emit(asm.JNE.Imm(d, 0, kept))
	g.mapPtr(asm.R1, p.name)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapDeleteElem)
	g.mark(kept)
	g.freeVal(depth)
	g.freeVal(now)
	g.release(mark)
}
