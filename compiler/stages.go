package compiler

import (
	"sort"
	"time"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// stage is one `.name(args)` of a chain: its argument rule, type rule and
// code, in one record.
type stage struct {
	name             string
	usage            string
	doc              string
	minArgs, maxArgs int
	apply            func(cc *chainCtx, call *dsl.Call) error
}

var stages = map[string]*stage{}

func init() {
	for _, s := range []*stage{
		{name: "filter", usage: "filter(cond)", doc: "keep the event when cond is true (non-zero); evaluated in the kernel", minArgs: 1, maxArgs: 1, apply: applyFilter},
		{name: "print", usage: `print() or print("fmt", args…)`, doc: "print an event line", minArgs: 0, maxArgs: 64, apply: applyPrint},
		{name: "by", usage: "by(key, …)", doc: "group the following aggregation by these keys", minArgs: 1, maxArgs: 8, apply: applyBy},
		aggStage(AggCount, "count()", "count events", 0),
		aggStage(AggSum, "sum(x)", "sum of x", 1),
		aggStage(AggAvg, "avg(x)", "average of x", 1),
		aggStage(AggMin, "min(x)", "smallest x", 1),
		aggStage(AggMax, "max(x)", "largest x", 1),
		aggStage(AggStats, "stats(x)", "count, average and total of x", 1),
		aggStage(AggHist, "hist(x)", "power-of-two histogram of x", 1),
		{name: "lhist", usage: "lhist(x, min, max, step)", doc: "linear histogram of x", minArgs: 4, maxArgs: 4, apply: applyLHist},
		{name: "as", usage: `as("name")`, doc: "name the aggregation before it", minArgs: 1, maxArgs: 1, apply: applyAs},
		{name: "every", usage: `every("1s")`, doc: "print the aggregation before it every period, then clear it", minArgs: 1, maxArgs: 1, apply: applyEvery},
		{name: "top", usage: "top(n)", doc: "print only the n largest keys of the aggregation before it", minArgs: 1, maxArgs: 1, apply: applyTop},
		{name: "exit", usage: "exit()", doc: "stop tracing after the first event that reaches this stage", minArgs: 0, maxArgs: 0, apply: applyExit},
	} {
		stages[s.name] = s
	}
}

func stageNames() []string {
	var n []string
	for k := range stages {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// StageUsages lists the stages with their usage, for help and completion.
func StageUsages() []string {
	var out []string
	for _, n := range stageNames() {
		out = append(out, "."+stages[n].usage+"  "+stages[n].doc)
	}
	return out
}

func applyFilter(cc *chainCtx, call *dsl.Call) error {
	t, err := cc.typeOf(call.Args[0])
	if err != nil {
		return err
	}
	if !t.isScalar() {
		return dsl.Errorf(call.Args[0].Position(), "filter needs a condition, not %s (compare strings with ==)", t)
	}
	cc.g.at(call.Pos, "filter")
	cc.genCond(call.Args[0], cc.exit)
	return nil
}

func applyBy(cc *chainCtx, call *dsl.Call) error {
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

func aggStage(kind AggKind, usage, doc string, nargs int) *stage {
	return &stage{
		name: kind.String(), usage: usage, doc: doc, minArgs: nargs, maxArgs: nargs,
		apply: func(cc *chainCtx, call *dsl.Call) error {
			return cc.genAggregation(call, kind)
		},
	}
}

func applyLHist(cc *chainCtx, call *dsl.Call) error {
	var n [3]int64
	for i, a := range call.Args[1:] {
		v, ok := constInt(a)
		if !ok {
			return dsl.Errorf(a.Position(), "lhist's min, max and step must be integer constants")
		}
		n[i] = v
	}
	spec := LHistSpec{Min: n[0], Max: n[1], Step: n[2]}
	switch {
	case spec.Step <= 0:
		return dsl.Errorf(call.Args[3].Position(), "lhist's step must be positive")
	case spec.Max <= spec.Min:
		return dsl.Errorf(call.Args[2].Position(), "lhist's max must be larger than its min")
	case (spec.Max-spec.Min)/spec.Step > 1000:
		return dsl.Errorf(call.Args[3].Position(), "lhist would have %d buckets; at most 1000", (spec.Max-spec.Min)/spec.Step)
	case (spec.Max-spec.Min)%spec.Step != 0:
		return dsl.Errorf(call.Args[3].Position(), "lhist's max - min must be a multiple of step")
	}
	t, err := cc.typeOf(call.Args[0])
	if err != nil {
		return err
	}
	if t.Kind != TInt && t.Kind != TPtr {
		return dsl.Errorf(call.Args[0].Position(), "lhist takes a number, not %s", t)
	}
	return cc.genAggregationSpec(call, AggLHist, call.Args[0], spec)
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

func applyAs(cc *chainCtx, call *dsl.Call) error {
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

func applyEvery(cc *chainCtx, call *dsl.Call) error {
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

func applyTop(cc *chainCtx, call *dsl.Call) error {
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

func applyExit(cc *chainCtx, call *dsl.Call) error {
	g := cc.g
	g.at(call.Pos, "exit")
	ev := cc.prog.newEvent(call, cc.t, EventExit)
	cc.reserveAndSubmit(ev, nil)
	return nil
}
