package compiler

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// .latency(end) pairs this probe with a later one on the same goroutine
// (on Go binaries) or thread: the start probe records the time in an LRU
// hash keyed by {pid, goid} or by pid_tgid; the end probe looks it up,
// deletes it and continues the chain with `elapsed` = ns between the two.
// One slot per key, as bpftrace's @start[tid]: a Go function whose prologue
// grows the stack fires its entry probe twice, and the later time wins.

// latencyEntries bounds in-flight pairs; LRU drops the oldest unmatched.
const latencyEntries = 65536

func init() {
	stages["latency"] = &stage{
		name: "latency", usage: "latency(endProbe[, startKey, endKey])", minArgs: 1, maxArgs: 3,
		doc: "pair with a later probe on the same goroutine/thread (or equal keys); the chain continues there with elapsed = ns between",
		// compileChainHooks splits the chain at latency() before stages run.
		apply: func(cc *chainCtx, call *dsl.Call) error {
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
	// Pair by goroutine only when both sides are Go user probes.
	byGoid := true
	for _, t := range append(append([]*target{}, starts...), ends...) {
		byGoid = byGoid && t.goidOff > 0
	}
	name := fmt.Sprintf("ebt_l%d", len(pb.out.Spec.Maps))
	pb.out.Spec.Maps[name] = &ebpf.MapSpec{Name: name, Type: ebpf.LRUHash, KeySize: 16, ValueSize: 8, MaxEntries: latencyEntries}

	record := hooks{post: func(cc *chainCtx) error {
		g := cc.g
		g.at(lat.Pos, "latency")
		mark := g.stackMark()
		key, err := cc.latencyKey(byGoid, startKey)
		if err != nil {
			return err
		}
		ts := g.alloc(8)
		g.call(asm.FnKtimeGetNs)
		g.emit(asm.StoreMem(asm.R10, ts, asm.R0, asm.DWord))
		g.mapPtr(asm.R1, name)
		g.stackPtr(asm.R2, key)
		g.stackPtr(asm.R3, ts)
		g.emit(asm.Mov.Imm(asm.R4, int32(ebpf.UpdateAny)))
		g.call(asm.FnMapUpdateElem)
		g.release(mark)
		return nil
	}}
	for _, t := range starts {
		if err := pb.compileTarget(st, src, before, t, record); err != nil {
			return err
		}
	}
	match := hooks{pre: func(cc *chainCtx) error {
		g := cc.g
		g.at(lat.Pos, "latency")
		cc.latency = g.alloc(8) // kept for the whole program
		mark := g.stackMark()
		key, err := cc.latencyKey(byGoid, endKey)
		if err != nil {
			return err
		}
		g.mapPtr(asm.R1, name)
		g.stackPtr(asm.R2, key)
		g.call(asm.FnMapLookupElem)
		g.emit(asm.JEq.Imm(asm.R0, 0, cc.exit))
		g.emit(asm.LoadMem(asm.R7, asm.R0, 0, asm.DWord))
		g.call(asm.FnKtimeGetNs)
		g.emit(asm.Sub.Reg(asm.R0, asm.R7), asm.StoreMem(asm.R10, cc.latency, asm.R0, asm.DWord))
		g.mapPtr(asm.R1, name)
		g.stackPtr(asm.R2, key)
		g.call(asm.FnMapDeleteElem)
		g.release(mark)
		return nil
	}}
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

// latencyKey builds the 16-byte pairing key on the stack: {0, k} for an
// explicit key expression k, {pid, goid} on Go binaries, {pid_tgid, 0}
// elsewhere.
func (cc *chainCtx) latencyKey(byGoid bool, k dsl.Expr) (int16, error) {
	g := cc.g
	if k != nil {
		t, err := cc.typeOf(k)
		if err != nil {
			return 0, err
		}
		if !t.isScalar() {
			return 0, dsl.Errorf(k.Position(), "a latency key must be a number, not %s", t)
		}
		v := cc.genScalar(k)
		key := g.alloc(16)
		r := g.load(v, asm.R0)
		g.emit(storeDW(asm.R10, key, 0), asm.StoreMem(asm.R10, key+8, r, asm.DWord))
		g.freeVal(v)
		return key, nil
	}
	key := g.alloc(16)
	g.call(asm.FnGetCurrentPidTgid)
	if !byGoid {
		g.emit(asm.StoreMem(asm.R10, key, asm.R0, asm.DWord), storeDW(asm.R10, key+8, 0))
		return key, nil
	}
	g.emit(asm.RSh.Imm(asm.R0, 32), asm.StoreMem(asm.R10, key, asm.R0, asm.DWord))
	v := builtinValues["goid"].gen(cc)
	r := g.load(v, asm.R0)
	g.emit(asm.StoreMem(asm.R10, key+8, r, asm.DWord))
	g.freeVal(v)
	return key, nil
}
