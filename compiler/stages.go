package compiler

import (
	"sort"
	"time"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// stage is one `.name(args)` of a chain: its argument rule, its type rule
// (check, run for the whole chain before any code is generated; it records
// what gen needs) and its code (gen), in one record.
type stage struct {
	name             string
	usage            string
	doc              string
	minArgs, maxArgs int
	check            func(cc *chainCtx, call *dsl.Call) error
	// gen is nil for stages that only change what an earlier one made
	// (as, every, top).
	gen func(cc *chainCtx, call *dsl.Call)
}

var stages = map[string]*stage{}

func init() {
	for _, s := range []*stage{
		{name: "filter", usage: "filter(cond)", doc: "keep the event when cond is true (non-zero); evaluated in the kernel", minArgs: 1, maxArgs: 1, check: checkFilter, gen: genFilter},
		{name: "print", usage: `print() or print("fmt", args…)`, doc: "print an event line", minArgs: 0, maxArgs: 64, check: checkPrint, gen: genPrint},
		{name: "by", usage: "by(key, …)", doc: "group the following aggregation by these keys", minArgs: 1, maxArgs: 8, check: checkBy},
		{name: "as", usage: `as("name")`, doc: "name the aggregation before it", minArgs: 1, maxArgs: 1, check: checkAs},
		{name: "every", usage: `every("1s")`, doc: "print the aggregation before it every period, then clear it", minArgs: 1, maxArgs: 1, check: checkEvery},
		{name: "top", usage: "top(n)", doc: "print only the n largest keys of the aggregation before it", minArgs: 1, maxArgs: 1, check: checkTop},
		{name: "exit", usage: "exit()", doc: "stop tracing after the first event that reaches this stage", minArgs: 0, maxArgs: 0, check: checkExit, gen: genExit},
	} {
		stages[s.name] = s
	}
}

// stageOf finds a stage: one of the table above, or an aggregation kind.
func stageOf(name string) (*stage, bool) {
	if s, ok := stages[name]; ok {
		return s, true
	}
	if k, ok := agg.Lookup(name); ok {
		return aggStage(k), true
	}
	return nil, false
}

func stageNames() []string {
	n := agg.Names()
	for k := range stages {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// checkFilter types the condition. A string holds the condition as text,
// bpftrace style: .filter("args->flags & 0x80000").
func checkFilter(cc *chainCtx, call *dsl.Call) error {
	cond := call.Args[0]
	if lit, ok := cond.(*dsl.StringLit); ok {
		e, err := cc.prog.stringExpr(lit)
		if err != nil {
			return err
		}
		cond = e
	}
	t, err := cc.typeOf(cond)
	if err != nil {
		return err
	}
	if !t.isScalar() {
		return dsl.Errorf(cond.Position(), "filter needs a condition, not %s (compare strings with ==)", t)
	}
	cc.conds[call] = cond
	return nil
}

func genFilter(cc *chainCtx, call *dsl.Call) {
	cc.g.at(call.Pos, "filter")
	cc.genCond(cc.conds[call], cc.exit)
}

// stringExpr parses the expression a string literal holds, once for all
// the targets of a chain.
func (pb *progBuilder) stringExpr(lit *dsl.StringLit) (dsl.Expr, error) {
	if e, ok := pb.stringExprs[lit]; ok {
		return e, nil
	}
	e, err := dsl.ParseString(pb.out.Source, lit)
	if err != nil {
		return nil, err
	}
	pb.stringExprs[lit] = e
	return e, nil
}

func checkBy(cc *chainCtx, call *dsl.Call) error {
	for _, k := range call.Args {
		t, err := cc.typeOf(k)
		if err != nil {
			return err
		}
		if t.Kind != TInt && t.Kind != TPtr && t.Kind != TString && t.Kind != TStack {
			return dsl.Errorf(k.Position(), "%s cannot be a key: it is %s", dsl.ExprString(k), t)
		}
	}
	cc.keys = call.Args
	return nil
}

// constInt reads an integer constant, possibly negated.
func constInt(e dsl.Expr) (int64, bool) {
	switch e := e.(type) {
	case *dsl.IntLit:
		return int64(e.Value), true
	case *dsl.Unary:
		if e.Op == "-" {
			v, ok := constInt(e.X)
			return -v, ok
		}
	case *dsl.Paren:
		return constInt(e.X)
	}
	return 0, false
}

// lastAgg is the aggregation a modifier stage (as, every, top) applies to.
func (cc *chainCtx) lastAgg(call *dsl.Call) (*Aggregation, error) {
	if cc.agg == nil {
		return nil, dsl.Errorf(call.Pos, "%s must follow an aggregation such as .count() or .hist(x)", call.Name)
	}
	return cc.agg, nil
}

func checkAs(cc *chainCtx, call *dsl.Call) error {
	if cc.agg == nil && cc.span != nil {
		return cc.nameSpan(call)
	}
	a, err := cc.lastAgg(call)
	if err != nil {
		return err
	}
	name, err := stringArg(call, 0, "a name")
	if err != nil {
		return err
	}
	if name == "" {
		return dsl.Errorf(call.Args[0].Position(), "the name must not be empty")
	}
	a.Name, a.Named = name, true
	return nil
}

func checkEvery(cc *chainCtx, call *dsl.Call) error {
	a, err := cc.lastAgg(call)
	if err != nil {
		return err
	}
	d, err := durationArg(call, 0)
	if err != nil {
		return err
	}
	if d < 10*time.Millisecond {
		return dsl.Errorf(call.Args[0].Position(), "every() needs a period of at least 10ms")
	}
	a.Every = d
	return nil
}

func checkTop(cc *chainCtx, call *dsl.Call) error {
	a, err := cc.lastAgg(call)
	if err != nil {
		return err
	}
	n, ok := constInt(call.Args[0])
	if !ok || n <= 0 {
		return dsl.Errorf(call.Args[0].Position(), "top needs a positive integer constant")
	}
	a.Top = int(n)
	return nil
}

func checkExit(cc *chainCtx, call *dsl.Call) error {
	cc.events[call] = cc.prog.newEvent(call, cc.t, EventExit)
	return nil
}

// genExit stops every probe (it sets the control word) and tells the
// runtime. Only the first event to get here may: another CPU may be in the
// same chain at the same time, so the control word is exchanged
// atomically, and a chain that comes second throws away the lines it
// printed on the way (prints before exit() leave their records reserved
// until here).
func genExit(cc *chainCtx, call *dsl.Call) {
	g := cc.g
	g.at(call.Pos, "exit")
	first := g.newLabel("exitfirst")
	g.emit(asm.LoadMapValue(asm.R0, 0, 0).WithReference(cc.prog.needControl()),
		asm.Mov.Imm(asm.R1, 1),
		xchgDW(asm.R0, asm.R1, 0),
		asm.JEq.Imm(asm.R1, 0, first))
	cc.settlePending(true)
	g.emit(asm.Ja.Label(cc.exit))
	g.mark(first)
	cc.reserveAndSubmit(cc.events[call], nil)
}
