package compiler

import (
	"strings"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// A chain that has a start and an end, .latency() on its end side or a
// stdlib source whose event has `start` and `duration` fields, is a
// source of spans. With Env.Spans (--otlp) each event that gets through
// the chain's stages also writes a span record (EventSpan): its start in
// monotonic ns, its duration in ns, and attributes: pid, tid, comm (and
// goid on Go probes), the stdlib event's other fields, the chain's by()
// keys and the bound values (`route := …`) its stages use. The runtime
// turns the start into wall time and an OTLP sink sends the span.

// spanState is a span-capable chain's span: its name, and with --otlp its
// record.
type spanState struct {
	// name is .as("name") written before any aggregation, else the
	// probe's short name.
	name string
	// start and duration write the two times into a record field at off.
	start, duration func(cc *chainCtx, rec int16, off int)
	// latency: the end side of .latency() (the slots are then
	// chainCtx.latency and startSlot).
	latency   bool
	startSlot int16

	ev    *Event
	attrs []dsl.Expr
	offs  []int
}

// latencySpan wraps the check hook of latency()'s end side: that chain
// is a span, named after the probe that starts it, or the function that
// returns when the end is a return probe of several.
func latencySpan(src *dsl.Call, starts []*target, check func(*chainCtx) error) func(*chainCtx) error {
	return func(cc *chainCtx) error {
		name := src.Name
		switch {
		case isReturnProbe(cc.t.attach.Kind):
			name = shortName(cc.t)
		case len(starts) == 1:
			name = shortName(starts[0])
		}
		s := &spanState{name: name, latency: true}
		s.start = func(cc *chainCtx, rec int16, off int) { cc.storeSlot(s.startSlot, rec, off) }
		s.duration = func(cc *chainCtx, rec int16, off int) { cc.storeSlot(cc.latency, rec, off) }
		cc.span = s
		return check(cc)
	}
}

// stdlibSpan makes a chain on a stdlib source whose event has start and
// duration a span, named after the source (http.server).
func (cc *chainCtx) stdlibSpan(src *dsl.Call) {
	t := cc.t
	if t.std == nil || cc.span != nil {
		return
	}
	start, dur := t.arg("start"), t.arg("duration")
	if start == nil || dur == nil || !start.event || !dur.event {
		return
	}
	field := func(name string) func(cc *chainCtx, rec int16, off int) {
		e := &dsl.Selector{Pos: src.Pos, X: &dsl.Ident{Pos: src.Pos, Name: "args"}, Sel: name, SelPos: src.Pos}
		return func(cc *chainCtx, rec int16, off int) {
			if _, err := cc.typeOf(e); err == nil {
				cc.writeValue(e, rec, off)
			}
		}
	}
	cc.span = &spanState{name: shortName(t), start: field("start"), duration: field("duration")}
}

func isReturnProbe(k AttachKind) bool {
	return k == AttachUretprobe || k == AttachKretprobe || k == AttachFexit
}

// shortName is what a span is called after its probe: the function of a
// user probe or stdlib source (main.handle, http.server), else the name
// without its kind (do_sys_openat2, syscalls:sys_enter_read).
func shortName(t *target) string {
	if t.attach.Symbol != "" {
		return t.attach.Symbol
	}
	if _, rest, ok := strings.Cut(t.name, ":"); ok {
		return rest
	}
	return t.name
}

// nameSpan is .as("name") on a span before any aggregation.
func (cc *chainCtx) nameSpan(call *dsl.Call) error {
	name, err := stringArg(call, 0, "a name")
	if err != nil {
		return err
	}
	if name == "" {
		return dsl.Errorf(call.Args[0].Position(), "the name must not be empty")
	}
	cc.span.name = name
	return nil
}

// checkSpan lays out the span record, once every stage is checked.
func (cc *chainCtx) checkSpan(src *dsl.Call, stageCalls []*dsl.Call) error {
	s := cc.span
	if s == nil || !cc.env.Spans {
		return nil
	}
	pos := src.Pos
	ident := func(name string) dsl.Expr { return &dsl.Ident{Pos: pos, Name: name} }
	type attr struct {
		name string
		e    dsl.Expr
	}
	attrs := []attr{{"process.pid", ident("pid")}, {"thread.id", ident("tid")}, {"thread.name", ident("comm")}}
	if cc.t.goidOff > 0 {
		attrs = append(attrs, attr{"goid", ident("goid")})
	}
	if cc.t.std != nil {
		for _, f := range cc.t.fields() {
			if f.event && f.name != "start" && f.name != "duration" {
				attrs = append(attrs, attr{f.name, &dsl.Selector{Pos: pos, X: ident("args"), Sel: f.name, SelPos: pos}})
			}
		}
	}
	for _, c := range stageCalls {
		if c.Name == "by" {
			for _, k := range c.Args {
				attrs = append(attrs, attr{dsl.ExprString(k), k})
			}
		}
	}
	for _, name := range cc.boundValuesUsed(stageCalls) {
		attrs = append(attrs, attr{name, ident(name)})
	}
	s.ev = cc.prog.newEvent(src, cc.t, EventSpan)
	s.ev.Span = s.name
	if cc.t.std != nil && s.name == shortName(cc.t) {
		// Named by its pack, unless .as() named it.
		s.ev.Schema = cc.t.std.helper.Target.Schema
	}
	s.ev.addField("start", tUint64)
	s.ev.Fields[0].Time = true
	s.ev.addField("duration", tUint64)
	seen := map[string]bool{}
	for _, a := range attrs {
		if seen[a.name] {
			continue
		}
		t, err := cc.typeOf(a.e)
		if err != nil {
			return err
		}
		if t.Kind != TInt && t.Kind != TPtr && t.Kind != TString || t.arrayLen > 0 {
			continue // stacks and structs are not attributes
		}
		seen[a.name] = true
		s.attrs = append(s.attrs, a.e)
		s.offs = append(s.offs, s.ev.addField(a.name, t))
	}
	return nil
}

// boundValuesUsed lists the bound values (`route := …`) that the stages'
// arguments name, in order of first use.
func (cc *chainCtx) boundValuesUsed(stageCalls []*dsl.Call) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(e dsl.Expr)
	walk = func(e dsl.Expr) {
		switch e := e.(type) {
		case *dsl.Ident:
			if _, ok := cc.prog.values[e.Name]; ok && !seen[e.Name] {
				seen[e.Name] = true
				out = append(out, e.Name)
			}
		case *dsl.Unary:
			walk(e.X)
		case *dsl.Binary:
			walk(e.X)
			walk(e.Y)
		case *dsl.Selector:
			walk(e.X)
		case *dsl.Index:
			walk(e.X)
			walk(e.Index)
		case *dsl.Paren:
			walk(e.X)
		case *dsl.Call:
			for _, a := range e.Args {
				walk(a)
			}
		}
	}
	for _, c := range stageCalls {
		for _, a := range c.Args {
			walk(a)
		}
	}
	return out
}

// genSpan writes the span record of an event that got through the chain.
func (cc *chainCtx) genSpan(src *dsl.Call) {
	s := cc.span
	if s == nil || s.ev == nil {
		return
	}
	cc.g.at(src.Pos, "span")
	cc.reserveAndSubmit(s.ev, func(rec int16) {
		s.start(cc, rec, s.ev.Fields[0].Offset)
		s.duration(cc, rec, s.ev.Fields[1].Offset)
		for i, e := range s.attrs {
			cc.g.at(e.Position(), dsl.ExprString(e))
			cc.writeValue(e, rec, s.offs[i])
		}
	})
}

// storeSlot copies the stack slot at slot into the record field at off.
func (cc *chainCtx) storeSlot(slot, rec int16, off int) {
	cc.g.emit(asm.LoadMem(asm.R1, asm.R10, slot, asm.DWord),
		asm.LoadMem(asm.R2, asm.R10, rec, asm.DWord),
		asm.StoreMem(asm.R2, int16(off), asm.R1, asm.DWord))
}
