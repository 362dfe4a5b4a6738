package compiler

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// .with(name := value, …) binds names for the stages after it in its
// chain. Each value is evaluated once, where .with() stands, into the
// program's scratch value: a slot of a per-CPU array that this program
// alone uses (a program does not run twice at once on one CPU), so
// strings there are not bounded by the 512-byte BPF stack. A pairing
// stage (.pair(), .latency()) carries what was bound before it to the
// end probe: the start copies its scratch value, after the start time,
// into the pairing map, and the end copies it back into its own, so the
// stages after the pairing read the names as any stage after .with().

// withMap is the per-CPU array of scratch values, one per program.
const withMap = "ebt_with"

// withBase is where bound values start in a scratch value: the first
// word holds a pairing's start time.
const withBase = 8

// maxWithSize bounds a scratch value (the kernel allocates per-CPU values
// of at most 32 KiB).
const maxWithSize = 16384

// local is one name bound by .with().
type local struct {
	bind *dsl.Bind
	typ  *Type // as read back: no place in a traced binary
	off  int   // in the scratch value
}

// carried is what a pairing's start probes bound: the locals, in order,
// and the bytes they take with the start time (withBase before them).
type carried struct {
	locals []*local
	size   int
}

func init() {
	stages["with"] = &stage{
		name: "with", usage: "with(name := value, …)", minArgs: 1, maxArgs: 16,
		doc:   "bind names to values, evaluated here, for the stages after; a pairing (.pair/.latency) carries them to its end probe",
		check: checkWith, gen: genWith,
	}
}

// noteWith remembers where each name a statement's .with() binds is, so
// that a use where it is not visible can say why.
func (pb *progBuilder) noteWith(st *dsl.Statement) {
	if st.Chain == nil {
		return
	}
	for _, s := range st.Chain.Stages {
		if s.Name != "with" {
			continue
		}
		for _, a := range s.Args {
			if b, ok := a.(*dsl.Bind); ok {
				if _, seen := pb.withBound[b.Name]; !seen {
					pb.withBound[b.Name] = b.Pos
				}
			}
		}
	}
}

func checkWith(cc *chainCtx, call *dsl.Call) error {
	for _, a := range call.Args {
		b, ok := a.(*dsl.Bind)
		if !ok {
			e := dsl.Errorf(a.Position(), "with binds names: write name := value")
			e.Hint = fmt.Sprintf("e.g. .with(path := str(args.filename)), or .with(x := %s)", dsl.ExprString(a))
			return e
		}
		if err := cc.bindLocal(b); err != nil {
			return err
		}
	}
	return nil
}

// bindLocal checks one name := value of .with() and gives it its place.
func (cc *chainCtx) bindLocal(b *dsl.Bind) error {
	switch {
	case cc.locals[b.Name] != nil:
		l := cc.locals[b.Name].bind
		return dsl.Errorf(b.Pos, "%s is already bound in this chain, at %d:%d", b.Name, l.Pos.Line, l.Pos.Col)
	case builtinValues[b.Name] != nil:
		return dsl.Errorf(b.Pos, "%s is a built-in value and cannot be rebound", b.Name)
	case builtinFuncs[b.Name] != nil:
		return dsl.Errorf(b.Pos, "%s is a built-in function and cannot be rebound", b.Name)
	case cc.prog.values[b.Name] != nil || cc.prog.chains[b.Name] != nil:
		e := dsl.Errorf(b.Pos, "%s is already bound by the program", b.Name)
		e.Hint = "give the value another name"
		return e
	case cc.t.std != nil && cc.t.arg(b.Name) != nil:
		return dsl.Errorf(b.Pos, "%s is a field of %s's events; give the value another name", b.Name, cc.t.name)
	}
	if _, raw := rawArgIndex(b.Name); raw {
		return dsl.Errorf(b.Pos, "%s is a raw argument and cannot be rebound", b.Name)
	}
	t, err := cc.typeOf(b.Value)
	if err != nil {
		return err
	}
	switch t.Kind {
	case TInt, TPtr, TString, TStack:
	default:
		e := dsl.Errorf(b.Value.Position(), "%s is %s: bind a number, a string or a pointer", dsl.ExprString(b.Value), t)
		switch t.Kind {
		case TStruct, TGo:
			e.Hint = "bind a field of it"
		case TArgs:
			e.Msg = "args is the probe's arguments: bind a number, a string or a pointer"
			e.Hint = fmt.Sprintf("bind the fields you need: .with(%s := args.<field>)", b.Name)
		case TTable:
			e.Hint = fmt.Sprintf("bind it at the top of the script (%s := %s) and index it where you need it", b.Name, dsl.ExprString(b.Value))
		}
		return e
	}
	lt := *t
	// What is read back is the value itself: a Go value's place in the
	// traced program stays behind, as does a constant's text.
	lt.gt, lt.Const, lt.callerFrame = nil, nil, false
	if lt.Kind == TPtr && t.gt != nil {
		lt.User = true
	}
	l := &local{bind: b, typ: &lt, off: cc.withSize}
	if cc.withSize += lt.slotSize(); cc.withSize > maxWithSize {
		return dsl.Errorf(b.Pos, "the values bound with .with() in this chain take more than %d bytes; bind fewer or shorter strings", maxWithSize-withBase)
	}
	cc.locals[b.Name] = l
	cc.order = append(cc.order, l)
	cc.scratchUsed = true
	return nil
}

func genWith(cc *chainCtx, call *dsl.Call) {
	g := cc.g
	g.at(call.Pos, "with")
	cc.genScratch()
	for _, a := range call.Args {
		b := a.(*dsl.Bind)
		l := cc.locals[b.Name]
		g.at(b.Pos, dsl.ExprString(b))
		if l.typ.Kind == TString && !l.typ.padded {
			// Whatever writes the string may stop at its NUL; the bytes
			// after it must not be an earlier event's, since the whole
			// buffer is copied, compared and used as a key.
			g.emit(asm.LoadMem(asm.R1, asm.R10, cc.scratch, asm.DWord))
			for i := 0; i < l.typ.slotSize(); i += 8 {
				g.emit(storeDW(asm.R1, int16(l.off+i), 0))
			}
		}
		cc.writeValue(b.Value, cc.scratch, l.off)
	}
}

// genScratch looks up the program's scratch value, once, and keeps its
// address in a stack slot for the rest of the program. The checks are
// done by then, so the value's size is known.
func (cc *chainCtx) genScratch() {
	if cc.scratch != 0 {
		return
	}
	g, pb := cc.g, cc.prog
	if cc.withSlot < 0 {
		cc.withSlot = pb.withSlots
		pb.withSlots++
	}
	ms, ok := pb.out.Spec.Maps[withMap]
	if !ok {
		ms = &ebpf.MapSpec{Name: withMap, Type: ebpf.PerCPUArray, KeySize: 4}
		pb.out.Spec.Maps[withMap] = ms
	}
	ms.ValueSize = max(ms.ValueSize, uint32(cc.withSize))
	ms.MaxEntries = uint32(pb.withSlots)
	cc.scratch = g.alloc(8)
	mark := g.stackMark()
	key := g.alloc(8)
	g.emit(storeDW(asm.R10, key, int64(cc.withSlot)))
	g.mapPtr(asm.R1, withMap)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, cc.exit), asm.StoreMem(asm.R10, cc.scratch, asm.R0, asm.DWord))
	g.release(mark)
}

// carried is what a start probe's chain bound, for its pairing to carry;
// nil when it bound nothing.
func (cc *chainCtx) carried() *carried {
	if len(cc.order) == 0 {
		return nil
	}
	// Up to the last name bound: scratch areas the start's string
	// functions used after it stay behind.
	last := cc.order[len(cc.order)-1]
	return &carried{locals: append([]*local{}, cc.order...), size: last.off + last.typ.slotSize()}
}

// receive gives an end probe's chain the names its start bound, at the
// same places in its scratch value.
func (cc *chainCtx) receive(c *carried) {
	if c == nil {
		return
	}
	for _, l := range c.locals {
		cc.locals[l.bind.Name] = l
		cc.order = append(cc.order, l)
	}
	cc.withSize = c.size
	cc.scratchUsed = true
}

// tempArea reserves size bytes of the scratch value for a value being
// worked on (a string function's argument) and returns their offset.
func (cc *chainCtx) tempArea(size int, pos dsl.Pos) (int, error) {
	off := cc.withSize
	cc.withSize += (size + 7) &^ 7
	if cc.withSize > maxWithSize {
		return 0, dsl.Errorf(pos, "the strings this chain works on take more than %d bytes; use shorter ones", maxWithSize-withBase)
	}
	cc.scratchUsed = true
	return off, nil
}

// signature spells what is carried, for pairings that end alike.
func (c *carried) signature() string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	for _, l := range c.locals {
		fmt.Fprintf(&b, "%s:%s:%s@%d,", l.bind.Name, l.typ, l.typ.Show, l.off)
	}
	return b.String()
}

// same checks that another start probe of a pairing (a match of a
// wildcard) carries what the first one does.
func (c *carried) same(d *carried, probe string) error {
	if c.signature() == d.signature() {
		return nil
	}
	if d == nil {
		return dsl.Errorf(c.locals[0].bind.Pos, "%s binds nothing here, but the probes matched before it do; a pairing carries one layout", probe)
	}
	for i, l := range d.locals {
		if c == nil || i >= len(c.locals) || c.locals[i].typ.String() != l.typ.String() || c.locals[i].off != l.off {
			return dsl.Errorf(l.bind.Value.Position(), "%s is %s on %s, but not on the probes matched before it; a pairing carries one layout", dsl.ExprString(l.bind.Value), l.typ, probe)
		}
	}
	return dsl.Errorf(d.locals[0].bind.Pos, "the probes matched here bind different values")
}

// copyFromPair copies a start's slot bytes (the time, then the carried
// values) at the address in src into the scratch value.
func (cc *chainCtx) copyFromPair(src asm.Register, slot int) {
	g := cc.g
	g.emit(asm.Mov.Reg(asm.R3, src), asm.LoadMem(asm.R1, asm.R10, cc.scratch, asm.DWord), asm.Mov.Imm(asm.R2, int32(slot)))
	g.call(asm.FnProbeReadKernel)
}

// genLocal reads a scalar name bound by .with() into a new val.
func (cc *chainCtx) genLocal(l *local) val {
	g := cc.g
	v := g.newVal()
	g.emit(asm.LoadMem(asm.R1, asm.R10, cc.scratch, asm.DWord), asm.LoadMem(asm.R0, asm.R1, int16(l.off), asm.DWord))
	g.store(v, asm.R0)
	return v
}

// genLocalMem copies a string bound by .with() into dst, whole: it was
// zeroed past its end when bound.
func (cc *chainCtx) genLocalMem(l *local, dst mem) {
	g := cc.g
	g.addr(dst, asm.R1)
	g.movImm(asm.R2, int64(l.typ.Size))
	g.emit(asm.LoadMem(asm.R3, asm.R10, cc.scratch, asm.DWord), asm.Add.Imm(asm.R3, int32(l.off)))
	g.call(asm.FnProbeReadKernel)
}

// notVisible explains a name .with() binds used where it is not bound.
func (cc *chainCtx) notVisible(e *dsl.Ident) *dsl.Error {
	p, ok := cc.prog.withBound[e.Name]
	if !ok {
		return nil
	}
	err := dsl.Errorf(e.Pos, "%s is bound by .with() at %d:%d, and only the stages after that .with() in its chain see it", e.Name, p.Line, p.Col)
	err.Hint = "bind it before this stage, in this chain (a pairing, .pair() or .latency(), carries it to its end probe)"
	return err
}
