// Package compiler turns a parsed ebpftrace program into BPF instructions
// (cilium/ebpf/asm, no LLVM), the maps they use and a description of every
// record and map layout the runtime decodes.
package compiler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// ringBufSize is the event ring buffer: large enough for bursts of a few
// thousand events between two reads.
const ringBufSize = 1 << 20

// progBuilder collects what all chains of a program compile to.
type progBuilder struct {
	env        *Env
	out        *Program
	values     map[string]dsl.Expr       // `n := 5`
	chains     map[string]*dsl.Statement // `reads := tracepoint(…)`
	aggByStage map[*dsl.Call]*Aggregation
	// stringExprs are the expressions string literals hold (filter).
	stringExprs map[*dsl.StringLit]dsl.Expr
	// latencyShared maps how keyed latency() chains end to their start
	// map: chains that end alike share it (latency.go).
	latencyShared map[string]string
	// withSlots counts the programs with a scratch value (with.go);
	// withBound says where each name .with() binds is bound, for errors.
	withSlots int
	withBound map[string]dsl.Pos
}

// chainCtx is the state while compiling one chain for one target.
type chainCtx struct {
	env   *Env
	prog  *progBuilder
	t     *target
	g     *gen
	types map[dsl.Expr]*Type
	// memberOff is the byte offset of each kernel struct member selected.
	memberOff map[*dsl.Selector]int
	keys      []dsl.Expr // by() keys for the next aggregation
	// What each stage's check leaves for its code, by stage call.
	events map[*dsl.Call]*Event
	prints map[*dsl.Call]*printUse
	aggs   map[*dsl.Call]*aggUse
	conds  map[*dsl.Call]dsl.Expr
	// fieldRefs are the event fields named alone (stdlib sources).
	fieldRefs map[*dsl.Ident]*dsl.Selector
	// pendingSlot holds the record of each print before an exit() stage
	// (events.go reserve); pending lists those slots.
	pendingSlot map[*dsl.Call]int16
	pending     []int16
	// latency, when set, is the stack slot holding the ns since the
	// paired start probe: `elapsed` after .latency().
	latency int16
	agg     *Aggregation // the last aggregation, for as/every/top
	exit    string       // label that ends the program
	// gostate holds the places of values typed from a traced binary
	// (gotypes.go); nil until a chain reads one.
	gostate *goState
	// span is set on chains that have a start and an end (span.go).
	span *spanState
	// locals are the names .with() bound so far (with.go), in order;
	// withSize is the end of the scratch value they use, withSlot its
	// key in the scratch map (-1: none yet), scratch the stack slot
	// holding its address once looked up.
	locals      map[string]*local
	order       []*local
	withSize    int
	withSlot    int
	scratch     int16
	scratchUsed bool
	// temps are the scratch areas string functions evaluate their
	// arguments into (strfuncs.go).
	temps map[dsl.Expr]int
	// slices are the constant bounds of each s[lo:hi].
	slices map[*dsl.SliceExpr][2]int
}

// Compile checks and compiles a parsed program for env.
func Compile(p *dsl.Program, env *Env) (*Program, error) {
	pb := &progBuilder{
		env: env,
		out: &Program{
			Source:  p.Source,
			Spec:    &ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{}, Programs: map[string]*ebpf.ProgramSpec{}},
			Events:  map[uint32]*Event{},
			StartNs: env.StartNs,
		},
		values:      map[string]dsl.Expr{},
		chains:      map[string]*dsl.Statement{},
		aggByStage:  map[*dsl.Call]*Aggregation{},
		stringExprs: map[*dsl.StringLit]dsl.Expr{},
		withBound:   map[string]dsl.Pos{},
	}
	if err := pb.compile(p); err != nil {
		return nil, withSource(err, p.Source)
	}
	if err := pb.nameAggregations(); err != nil {
		return nil, withSource(err, p.Source)
	}
	if err := pb.selectEvents(); err != nil {
		return nil, err
	}
	if err := pb.checkExports(); err != nil {
		return nil, withSource(err, p.Source)
	}
	return pb.out, nil
}

// nameAggregations makes aggregation names unique: aggregations given the
// same name (.as("x") in two chains) become one map, as @x in two bpftrace
// probes is one map; they must then agree in kind and keys. Unnamed ones
// of the same kind are numbered: @count, @count_1, …
func (pb *progBuilder) nameAggregations() error {
	byName := map[string]*Aggregation{}
	rename := map[string]string{} // map name → the map it merges into
	var kept []*Aggregation
	for _, a := range pb.out.Aggregations {
		first, dup := byName[a.Name]
		switch {
		case !dup:
			byName[a.Name] = a
			kept = append(kept, a)
		case a.Named && first.Named:
			if !first.SameShape(a) {
				return dsl.Errorf(a.Pos, "@%s is already a %s with keys (%s) at %d:%d; give this one another name", a.Name, first.Kind, keyNames(first), first.Pos.Line, first.Pos.Col)
			}
			rename[a.Map] = first.Map
			delete(pb.out.Spec.Maps, a.Map)
		default:
			for i := 1; ; i++ {
				n := fmt.Sprintf("%s_%d", a.Name, i)
				if _, taken := byName[n]; !taken {
					a.Name = n
					break
				}
			}
			byName[a.Name] = a
			kept = append(kept, a)
		}
	}
	pb.out.Aggregations = kept
	if len(rename) == 0 {
		return nil
	}
	for _, ps := range pb.out.Spec.Programs {
		for i, ins := range ps.Instructions {
			if to, ok := rename[ins.Reference()]; ok {
				ps.Instructions[i] = ins.WithReference(to)
			}
		}
	}
	return nil
}

func keyNames(a *Aggregation) string {
	var out []string
	for _, k := range a.Keys {
		out = append(out, k.Name)
	}
	return strings.Join(out, ", ")
}

func withSource(err error, src *dsl.Source) error {
	if e, ok := err.(*dsl.Error); ok && e.Source == nil {
		e.Source = src
	}
	return err
}

func (pb *progBuilder) compile(p *dsl.Program) error {
	continued := map[string]bool{}
	for _, st := range p.Statements {
		// `path := str(args.filename)` parses as a chain with no stages
		// whose source is a function: it binds a value.
		if st.Name != "" && st.Chain != nil && st.Chain.Source != nil && len(st.Chain.Stages) == 0 {
			if _, isProbe := lookupProvider(st.Chain.Source.Name); !isProbe {
				if _, isFunc := builtinFuncs[st.Chain.Source.Name]; isFunc {
					st.Value, st.Chain = st.Chain.Source, nil
				}
			}
		}
		if st.Name != "" {
			if _, dup := pb.chains[st.Name]; dup {
				return dsl.Errorf(st.Pos, "%s is already bound", st.Name)
			}
			if _, dup := pb.values[st.Name]; dup {
				return dsl.Errorf(st.Pos, "%s is already bound", st.Name)
			}
			if _, builtin := builtinValues[st.Name]; builtin {
				return dsl.Errorf(st.Pos, "%s is a built-in value and cannot be rebound", st.Name)
			}
			if st.Chain != nil {
				pb.chains[st.Name] = st
			} else {
				pb.values[st.Name] = st.Value
			}
		}
		if st.Chain != nil && st.Chain.Ref != nil {
			continued[st.Chain.Ref.Name] = true
		}
		pb.noteWith(st)
	}
	if err := pb.bindParams(p); err != nil {
		return err
	}
	n := 0
	for _, st := range p.Statements {
		if st.Chain == nil {
			if st.Name == "" {
				return dsl.Errorf(st.Pos, "a statement must be a chain starting with a probe, e.g. tracepoint(\"syscalls:sys_enter_openat\").count()")
			}
			continue
		}
		// A bound chain that another statement continues runs as part
		// of that statement only.
		if st.Name != "" && continued[st.Name] {
			continue
		}
		src, stages, err := pb.resolveChain(st.Chain, map[string]bool{})
		if err != nil {
			return err
		}
		if err := pb.compileChain(st, src, stages); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return dsl.Errorf(dsl.Pos{File: p.Source.Name, Line: 1, Col: 1}, "the program has no probes")
	}
	return nil
}

// resolveChain follows a chain that starts from a bound name back to its
// probe source, gathering stages in order.
func (pb *progBuilder) resolveChain(ch *dsl.Chain, seen map[string]bool) (*dsl.Call, []*dsl.Call, error) {
	if ch.Source != nil {
		return ch.Source, ch.Stages, nil
	}
	name := ch.Ref.Name
	st, ok := pb.chains[name]
	if !ok {
		e := dsl.Errorf(ch.Ref.Pos, "unknown probe or chain %q", name)
		var names []string
		for k := range pb.chains {
			names = append(names, k)
		}
		e.Hint = dsl.DidYouMean(name, append(names, providerNames()...))
		return nil, nil, e
	}
	if seen[name] {
		return nil, nil, dsl.Errorf(ch.Ref.Pos, "%s refers to itself", name)
	}
	seen[name] = true
	src, stages, err := pb.resolveChain(st.Chain, seen)
	if err != nil {
		return nil, nil, err
	}
	return src, append(append([]*dsl.Call{}, stages...), ch.Stages...), nil
}

func (pb *progBuilder) compileChain(st *dsl.Statement, src *dsl.Call, stageCalls []*dsl.Call) error {
	return pb.compileChainHooks(st, src, stageCalls, hooks{})
}

// providerOf returns the provider of a probe source call.
func providerOf(src *dsl.Call) (*provider, error) {
	if p, ok := lookupProvider(src.Name); ok {
		return p, nil
	}
	e := dsl.Errorf(src.Pos, "unknown probe %q", src.Name)
	e.Hint = dsl.DidYouMean(src.Name, providerNames())
	if _, isStage := stageOf(src.Name); isStage {
		e.Hint = src.Name + " is a stage; a chain starts with a probe, e.g. tracepoint(\"syscalls:sys_enter_read\")." + src.Name + "(…)"
	}
	return nil, e
}

// checkStages checks that each stage exists and has a fitting number of
// arguments, before any code is generated.
func checkStages(calls []*dsl.Call) error {
	for _, s := range calls {
		def, ok := stageOf(s.Name)
		if !ok {
			e := dsl.Errorf(s.Pos, "unknown stage %q", s.Name)
			e.Hint = dsl.DidYouMean(s.Name, stageNames())
			return e
		}
		if len(s.Args) < def.minArgs || len(s.Args) > def.maxArgs {
			return dsl.Errorf(s.Pos, "%s takes %s: .%s", s.Name, argCount(def.minArgs, def.maxArgs), def.usage)
		}
	}
	return nil
}

// hooks add code around a chain's stages: pre after the entry checks,
// post after the last stage (latency() pairs two probes with them); check
// types what they read, before the stages are checked, and checked runs
// after them. noScope leaves out the -p/-c filter at the probe's entry.
type hooks struct {
	check, checked func(cc *chainCtx) error
	pre, post      func(cc *chainCtx)
	noScope        bool
}

func (pb *progBuilder) compileChainHooks(st *dsl.Statement, src *dsl.Call, stageCalls []*dsl.Call, h hooks) error {
	p, err := providerOf(src)
	if err != nil {
		return err
	}
	if err := checkStages(stageCalls); err != nil {
		return err
	}
	for i, s := range stageCalls {
		if isPairing(s.Name) && h.check == nil {
			return pb.compileLatency(st, src, stageCalls[:i], s, stageCalls[i+1:])
		}
	}
	targets, err := p.expand(pb.env, src)
	if err != nil {
		return err
	}
	if len(targets) > 0 {
		pb.out.Warnings = append(pb.out.Warnings, targets[0].skipped...)
	}
	for _, t := range targets {
		if err := pb.compileTarget(st, src, stageCalls, t, h); err != nil {
			return err
		}
	}
	return nil
}

func (pb *progBuilder) compileTarget(st *dsl.Statement, src *dsl.Call, stageCalls []*dsl.Call, t *target, h hooks) error {
	pr, err := pb.compileProbe(st, src, stageCalls, t, h)
	if err != nil {
		return err
	}
	if t.fallback != nil {
		if pr.Fallback, err = pb.compileProbe(st, src, stageCalls, t.fallback, h); err != nil {
			// The twin may lack what the chain reads (e.g. args by name
			// without BTF): then there is no fallback.
			pr.Fallback = nil
		}
	}
	pr.SeeAlso = t.seeAlso
	pb.out.Probes = append(pb.out.Probes, pr)
	return nil
}

// compileProbe compiles a chain for one target into one program: first
// every stage's type rule, so that no code is generated for a chain with
// an error, then every stage's code.
func (pb *progBuilder) compileProbe(st *dsl.Statement, src *dsl.Call, stageCalls []*dsl.Call, t *target, h hooks) (*Probe, error) {
	g := newGen()
	cc := &chainCtx{
		env: pb.env, prog: pb, t: t, g: g, exit: "exit",
		types: map[dsl.Expr]*Type{}, memberOff: map[*dsl.Selector]int{},
		events: map[*dsl.Call]*Event{}, prints: map[*dsl.Call]*printUse{}, aggs: map[*dsl.Call]*aggUse{},
		conds: map[*dsl.Call]dsl.Expr{}, fieldRefs: map[*dsl.Ident]*dsl.Selector{},
		pendingSlot: map[*dsl.Call]int16{},
		locals:      map[string]*local{}, withSize: withBase, withSlot: -1, temps: map[dsl.Expr]int{},
		slices: map[*dsl.SliceExpr][2]int{},
	}
	if t.std != nil {
		if _, err := pb.helper(t); err != nil {
			return nil, dsl.Errorf(src.Pos, "%v", err)
		}
	}
	if h.check != nil {
		if err := h.check(cc); err != nil {
			return nil, err
		}
	}
	cc.stdlibSpan(src)
	defs := make([]*stage, len(stageCalls))
	for i, s := range stageCalls {
		defs[i], _ = stageOf(s.Name)
		if err := defs[i].check(cc, s); err != nil {
			return nil, err
		}
	}
	if h.checked != nil {
		if err := h.checked(cc); err != nil {
			return nil, err
		}
	}
	var eventCond dsl.Expr
	if t.std != nil {
		var err error
		if eventCond, err = cc.eventFilter(stageCalls); err != nil {
			return nil, err
		}
	}
	if err := cc.checkSpan(src, stageCalls); err != nil {
		return nil, err
	}
	if cc.agg != nil && st.Name != "" && cc.agg.Name == cc.agg.Kind.Name {
		cc.agg.Name, cc.agg.Named = st.Name, true
	}

	g.at(src.Pos, t.name)
	g.emit(asm.Mov.Reg(regCtx, asm.R1))
	// Prints before an exit() keep their records in slots that every path
	// to the end reads, so they are cleared first.
	exitAt := slices.IndexFunc(stageCalls, func(c *dsl.Call) bool { return c.Name == "exit" })
	for _, c := range stageCalls[:max(exitAt, 0)] {
		if c.Name == "print" {
			slot := g.alloc(8)
			g.emit(storeDW(asm.R10, slot, 0))
			cc.pendingSlot[c] = slot
			cc.pending = append(cc.pending, slot)
		}
	}
	if k := t.attach.Kind; k != AttachBegin && k != AttachEnd {
		// Stopped: the runtime drains what was produced and prints the
		// aggregations, which must not change meanwhile.
		g.emit(asm.LoadMapValue(asm.R0, 0, 0).WithReference(pb.needControl()),
			asm.LoadMem(asm.R0, asm.R0, 0, asm.DWord),
			asm.JNE.Imm(asm.R0, 0, cc.exit))
	}
	if !t.noPIDFilter && !h.noScope {
		if err := pb.scopeFilter(cc); err != nil {
			return nil, err
		}
	}
	if t.std != nil {
		cc.genEventLookup()
		if eventCond != nil {
			cc.genCond(eventCond, cc.exit)
		}
	}
	if cc.scratchUsed {
		// Before any stage, so that every path through them has it.
		cc.genScratch()
	}
	if h.pre != nil {
		h.pre(cc)
	}
	for i, s := range stageCalls {
		if defs[i].gen != nil {
			defs[i].gen(cc, s)
		}
	}
	cc.genSpan(src)
	if h.post != nil {
		h.post(cc)
	}
	g.mark(cc.exit)
	cc.settlePending(false)
	if t.std != nil {
		cc.genNextChain()
	}
	g.emit(asm.Mov.Imm(asm.R0, 0), asm.Return())
	insns, err := g.finish()
	if err != nil {
		return nil, err
	}
	insns = dropUnusedCtx(insns)
	name := fmt.Sprintf("ebt_p%d", len(pb.out.Spec.Programs))
	insns[0] = insns[0].WithSymbol(name)
	pb.out.Spec.Programs[name] = &ebpf.ProgramSpec{
		Name:         name,
		Type:         t.progType,
		AttachType:   t.attachType,
		AttachTo:     t.attachTo,
		Instructions: insns,
		License:      "GPL",
	}
	at := t.attach
	if !t.noPIDFilter && pb.attachByPID() {
		at.PID = pb.env.PID
	}
	pr := &Probe{Name: t.name, Program: name, Attach: at, Pos: src.Pos}
	if t.std != nil {
		pr.Helper, pr.Slot = t.std.helper, t.std.slot
		pr.Helper.Chains = append(pr.Helper.Chains, name)
	}
	return pr, nil
}

// probeIndex numbers probe names for the `probe` value.
func (pb *progBuilder) probeIndex(name string) int {
	for i, n := range pb.out.ProbeNames {
		if n == name {
			return i
		}
	}
	pb.out.ProbeNames = append(pb.out.ProbeNames, name)
	return len(pb.out.ProbeNames) - 1
}

// Slots of the per-CPU counters of lost work (Program.Drops).
const (
	LostEvents  = 0 // records that did not fit in the ring buffer
	LostUpdates = 1 // aggregation updates refused because the map was full
)

// needDrops adds the per-CPU counters of lost events and updates.
func (pb *progBuilder) needDrops() {
	if pb.out.Drops == "" {
		pb.out.Drops = "ebt_drops"
		pb.out.Spec.Maps[pb.out.Drops] = &ebpf.MapSpec{Name: pb.out.Drops, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 2}
	}
}

// The control words, one array value every probe can read directly: the
// stop flag (non-zero once the runtime or exit() stopped the program) and
// the pid of the -c command (cpid), which the runtime writes.
const (
	controlStop = 0
	controlCPID = 8
	controlSize = 16
)

// ControlCPID is the offset of the -c command's pid in the control value.
const ControlCPID = controlCPID

// needControl adds the control words every probe reads at entry.
func (pb *progBuilder) needControl() string {
	if pb.out.Control == "" {
		pb.out.Control = "ebt_ctl"
		pb.out.Spec.Maps[pb.out.Control] = &ebpf.MapSpec{Name: pb.out.Control, Type: ebpf.Array, KeySize: 4, ValueSize: controlSize, MaxEntries: 1}
	}
	return pb.out.Control
}

// needRingBuf adds the event ring buffer and its drop counter.
func (pb *progBuilder) needRingBuf() {
	if pb.out.RingBuf != "" {
		return
	}
	pb.needDrops()
	pb.out.RingBuf = "ebt_events"
	size := ringBufSize
	if pb.env.RingBufSize > 0 {
		size = pb.env.RingBufSize
	}
	pb.out.Spec.Maps[pb.out.RingBuf] = &ebpf.MapSpec{Name: pb.out.RingBuf, Type: ebpf.RingBuf, MaxEntries: uint32(size)}
}

// dropUnusedCtx removes the entry's save of the context into R6 when
// nothing reads R6: the commonest programs (count(), by(comm)) don't.
func dropUnusedCtx(insns asm.Instructions) asm.Instructions {
	for _, in := range insns[1:] {
		if in.Dst == regCtx || in.Src == regCtx {
			return insns
		}
	}
	next := insns[1]
	if src := insns[0].Source(); src != nil && next.Source() == nil {
		next = next.WithSource(src)
	}
	insns[1] = next
	return insns[1:]
}
