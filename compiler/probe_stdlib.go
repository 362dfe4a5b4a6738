package compiler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/binpath"
	"github.com/ebpftrace/ebpftrace/stdlib"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// The stdlib packs' sources (http.server(bin), …) are providers too, but
// their events come from a prebuilt helper program (bpf/, stdlib/) that
// watches the Go binary and, once a unit of work finished, writes the
// event into its event map and tail-calls the chain programs in turn
// (stdlib/pack's contract). A chain on such a source compiles to one of
// those programs: it looks the event up first, reads its fields (args.f,
// or the bare name f) at the schema's offsets, and ends on every path with
// a tail call to the next chain of the same helper.

// Helper is a stdlib helper the runtime loads: one per source and binary.
type Helper struct {
	// Source is the source's name ("http.server").
	Source string
	// Target is the source resolved for the binary: the helper object to
	// load and where it attaches.
	Target *pack.Target
	// Event and Chain are the names the chain programs' instructions use
	// for the helper's event map and program array.
	Event, Chain string
	// Chains are the chain programs (names in Program.Spec) in slot order.
	Chains []string
	// allEvents: a chain reads the lifecycle event, so the helper hands
	// over every one (selectEvents).
	allEvents bool
}

// stdTarget is what a target of a stdlib source carries.
type stdTarget struct {
	helper *Helper
	// slot is the target's program's place in the helper's program array.
	slot int
	// eventSlot is the stack slot holding the event's address.
	eventSlot int16
}

// stdlibProvider is the provider of a stdlib source, if name is one.
func stdlibProvider(name string) (*provider, bool) {
	src, ok := stdlib.Lookup(name)
	if !ok {
		return nil, false
	}
	return &provider{
		name:  name,
		usage: name + `("/path/to/binary")`,
		expand: func(env *Env, call *dsl.Call) ([]*target, error) {
			return expandStdlib(env, call, src)
		},
	}, true
}

func expandStdlib(env *Env, call *dsl.Call, src *pack.Source) ([]*target, error) {
	if err := wantArgs(call, 0, 1); err != nil {
		return nil, err
	}
	var path string
	pos := call.RParen
	switch {
	case len(call.Args) == 1:
		bin, err := stringArg(call, 0, "a binary (path or command)")
		if err != nil {
			return nil, err
		}
		pos = call.Args[0].Position()
		if path, err = binpath.ResolveFor(bin, env.PID, env.Exe); err != nil {
			return nil, dsl.Errorf(pos, "%s: %v", call.Name, err)
		}
	case env.Exe != "":
		path = env.Exe
	default:
		return nil, dsl.Errorf(pos, `%s needs the Go program to watch: %s("/path/to/binary"), or -p PID, or -c CMD`, call.Name, call.Name)
	}
	tgt, err := src.Open(path)
	if err != nil {
		return nil, dsl.Errorf(pos, "%s", strings.TrimPrefix(err.Error(), call.Name+": "))
	}
	t := &target{
		name:      call.Name + ":" + path,
		attach:    Attach{Kind: AttachStdlib, Target: path, Symbol: call.Name},
		progType:  ebpf.Kprobe,
		goidOff:   -1,
		pidAttach: true,
		std:       &stdTarget{},
	}
	t.std.helper = &Helper{Source: call.Name, Target: tgt}
	for _, f := range tgt.Schema.Fields {
		typ := &Type{Kind: TInt, Size: f.Size, Signed: f.Kind == pack.Signed}
		switch f.Kind {
		case pack.String:
			typ = &Type{Kind: TString, Size: f.Size}
		case pack.UStack:
			// A stack the helper took in its stack map, which the runtime
			// makes the program's own (pack.Target.LoadWith).
			typ = &Type{Kind: TStack, Size: 8, User: true, Show: "ustack"}
		}
		t.args = append(t.args, &argField{name: f.Name, typ: typ, off: f.Offset, event: true, values: f.Values})
	}
	return []*target{t}, nil
}

// eventFilter is, on a source with lifecycle events (grpc's start, send,
// recv, close_send, end), the condition a chain that never reads `event`
// gets: only the default events (end), whatever other chains on the same
// helper select. A chain that reads `event` gets every event and filters
// itself. It is checked like the user's own filters; nil when there is
// nothing to add.
func (cc *chainCtx) eventFilter(stageCalls []*dsl.Call) (dsl.Expr, error) {
	sch := cc.t.std.helper.Target.Schema
	if len(sch.Events()) == 0 || len(sch.DefaultEvents) == 0 {
		return nil, nil
	}
	if mentionsEvent(stageCalls, pack.EventField) {
		cc.t.std.helper.allEvents = true
		return nil, nil
	}
	var cond dsl.Expr
	for _, name := range sch.DefaultEvents {
		var eq dsl.Expr = &dsl.Binary{Op: "==",
			X: &dsl.Selector{X: &dsl.Ident{Name: "args"}, Sel: pack.EventField},
			Y: &dsl.StringLit{Value: name}}
		if cond != nil {
			eq = &dsl.Binary{Op: "||", X: cond, Y: eq}
		}
		cond = eq
	}
	if _, err := cc.typeOf(cond); err != nil {
		return nil, err
	}
	return cond, nil
}

// mentionsEvent reports whether a chain's stages name the field (alone,
// or as args.field) anywhere.
func mentionsEvent(stageCalls []*dsl.Call, field string) bool {
	found := false
	var walk func(e dsl.Expr)
	walk = func(e dsl.Expr) {
		switch e := e.(type) {
		case *dsl.Ident:
			found = found || e.Name == field
		case *dsl.Selector:
			found = found || isArgs(e.X) && e.Sel == field
			walk(e.X)
		case *dsl.Binary:
			walk(e.X)
			walk(e.Y)
		case *dsl.Unary:
			walk(e.X)
		case *dsl.Paren:
			walk(e.X)
		case *dsl.Bind:
			walk(e.Value)
		case *dsl.SliceExpr:
			walk(e.X)
		case *dsl.SliceLit:
			for _, x := range e.Elts {
				walk(x)
			}
		case *dsl.Index:
			walk(e.X)
			walk(e.Index)
		case *dsl.Call:
			walk(e.Fun)
			for _, a := range e.Args {
				walk(a)
			}
		case *dsl.StringLit:
			// .filter("event == \"recv\"") holds its condition in a string.
			found = found || strings.Contains(e.Value, field)
		}
	}
	for _, c := range stageCalls {
		for _, a := range c.Args {
			walk(a)
		}
	}
	return found
}

// selectEvents tells each helper with lifecycle events which ones its
// chains read: every one when a chain reads `event`, else the defaults.
func (pb *progBuilder) selectEvents() error {
	for _, h := range pb.out.Helpers {
		sch := h.Target.Schema
		if len(sch.Events()) == 0 {
			continue
		}
		names := sch.DefaultEvents
		if h.allEvents {
			names = sch.Events()
		}
		if err := h.Target.SelectEvents(names...); err != nil {
			return err
		}
	}
	return nil
}

// checkEventLiteral: a string compared with a field whose values are
// listed (grpc's event and kind) must be one of them.
func (cc *chainCtx) checkEventLiteral(e *dsl.Binary) error {
	for _, p := range [][2]dsl.Expr{{e.X, e.Y}, {e.Y, e.X}} {
		lit, ok := p[1].(*dsl.StringLit)
		if !ok {
			continue
		}
		var name string
		switch f := p[0].(type) {
		case *dsl.Ident:
			if sel, ok := cc.fieldRefs[f]; ok {
				name = sel.Sel
			}
		case *dsl.Selector:
			if isArgs(f.X) {
				name = f.Sel
			}
		}
		if name == "" || cc.t.std == nil {
			continue
		}
		a := cc.t.arg(name)
		if a == nil || len(a.values) == 0 || slices.Contains(a.values, lit.Value) {
			continue
		}
		err := dsl.Errorf(lit.Pos, "%s is never %q: its values are %s", name, lit.Value, strings.Join(a.values, ", "))
		err.Hint = dsl.DidYouMean(lit.Value, a.values)
		return err
	}
	return nil
}

// helper returns the Program's helper for a stdlib target, making it the
// first time the source and binary are met, and gives the target its slot.
func (pb *progBuilder) helper(t *target) (*Helper, error) {
	h := t.std.helper
	for _, known := range pb.out.Helpers {
		if known.Source == h.Source && known.Target.Path == h.Target.Path {
			h = known
			break
		}
	}
	if h == t.std.helper {
		n := len(pb.out.Helpers)
		h.Event, h.Chain = fmt.Sprintf("ebt_h%d_event", n), fmt.Sprintf("ebt_h%d_chain", n)
		pb.out.Helpers = append(pb.out.Helpers, h)
	}
	t.std.helper = h
	for _, f := range h.Target.Schema.Fields {
		if f.Kind == pack.UStack {
			pb.needStacks()
		}
	}
	if len(h.Chains) >= pack.ChainSlots {
		return nil, fmt.Errorf("at most %d chains can watch one %s", pack.ChainSlots, h.Source)
	}
	t.std.slot = len(h.Chains)
	return h, nil
}

// genEventLookup starts a chain program of a stdlib source: the event's
// address goes in a stack slot for the fields to read.
func (cc *chainCtx) genEventLookup() {
	g := cc.g
	s := cc.t.std
	key := g.alloc(8)
	s.eventSlot = g.alloc(8)
	g.emit(storeDW(asm.R10, key, 0))
	g.mapPtr(asm.R1, s.helper.Event)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, cc.exit), asm.StoreMem(asm.R10, s.eventSlot, asm.R0, asm.DWord))
}

// genNextChain ends a chain program of a stdlib source: the next chain on
// the same helper runs (an empty slot ends the run).
func (cc *chainCtx) genNextChain() {
	g := cc.g
	g.emit(asm.Mov.Reg(asm.R1, regCtx))
	g.mapPtr(asm.R2, cc.t.std.helper.Chain)
	g.emit(asm.Mov.Imm(asm.R3, int32(cc.t.std.slot+1)))
	g.call(asm.FnTailCall)
}

// eventBase puts the event's address in r.
func (cc *chainCtx) eventBase(r asm.Register) {
	cc.g.emit(asm.LoadMem(r, asm.R10, cc.t.std.eventSlot, asm.DWord))
}

// eventFieldRef: on a stdlib source an event's field may be named alone,
// `status` for `args.status` (a name the program binds comes first). It
// returns the args selector the name stands for, or nil.
func (cc *chainCtx) eventFieldRef(e *dsl.Ident) *dsl.Selector {
	if cc.t.std == nil {
		return nil
	}
	if _, bound := cc.prog.values[e.Name]; bound {
		return nil
	}
	if a := cc.t.arg(e.Name); a == nil || !a.event {
		return nil
	}
	sel := &dsl.Selector{Pos: e.Pos, X: &dsl.Ident{Pos: e.Pos, Name: "args"}, Sel: e.Name, SelPos: e.Pos}
	cc.fieldRefs[e] = sel
	return sel
}
