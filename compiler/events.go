package compiler

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// eventHeader is the id word and padding at the start of every record.
const eventHeader = 8

// newEvent registers a record layout produced by stage call on target t.
func (pb *progBuilder) newEvent(call *dsl.Call, t *target, kind EventKind) *Event {
	pb.needRingBuf()
	ev := &Event{ID: uint32(len(pb.out.Events) + 1), Kind: kind, Probe: t.name, Size: eventHeader, Pos: call.Pos}
	pb.out.Events[ev.ID] = ev
	return ev
}

// addField appends a field of type typ named name to ev and returns its offset.
func (ev *Event) addField(name string, typ *Type) int {
	f := fieldFor(name, typ, ev.Size)
	ev.Fields = append(ev.Fields, f)
	ev.Size += typ.slotSize()
	return f.Offset
}

// fieldFor describes a value of type typ at off in a record or key.
func fieldFor(name string, typ *Type, off int) Field {
	f := Field{Name: name, Offset: off, Size: typ.slotSize(), Signed: typ.Signed, Hex: typ.Hex, Show: typ.Show, Binary: typ.binary}
	switch typ.Kind {
	case TString:
		f.Kind = FieldString
	case TStack:
		f.Kind = FieldStack
	}
	return f
}

// reserveAndSubmit emits: reserve a record of ev.Size bytes, write its id,
// let fill write the fields (the record's address is in the stack slot it
// is given), submit. A full ring buffer counts a drop instead.
func (cc *chainCtx) reserveAndSubmit(ev *Event, fill func(rec int16)) {
	cc.reserve(ev, fill, 0)
}

// reserve is reserveAndSubmit; with a non-zero pending slot (a print
// before an exit() stage) the record is left reserved there, for the
// exit stage to discard or the program's end to submit.
func (cc *chainCtx) reserve(ev *Event, fill func(rec int16), pending int16) {
	g := cc.g
	mark := g.stackMark()
	rec := pending
	if rec == 0 {
		rec = g.alloc(8)
	}
	ok := g.newLabel("reserved")
	done := g.newLabel("submitted")
	g.mapPtr(asm.R1, cc.prog.out.RingBuf)
	g.movImm(asm.R2, int64(ev.Size))
	g.emit(asm.Mov.Imm(asm.R3, 0))
	g.call(asm.FnRingbufReserve)
	g.emit(asm.JNE.Imm(asm.R0, 0, ok))
	cc.countLost(LostEvents)
	g.emit(asm.Ja.Label(done))
	g.mark(ok)
	g.emit(asm.StoreMem(asm.R10, rec, asm.R0, asm.DWord),
		asm.StoreImm(asm.R0, 0, int64(ev.ID), asm.Word),
		asm.StoreImm(asm.R0, 4, 0, asm.Word))
	if fill != nil {
		fill(rec)
	}
	if pending == 0 {
		g.emit(asm.LoadMem(asm.R1, asm.R10, rec, asm.DWord), asm.Mov.Imm(asm.R2, 0))
		g.call(asm.FnRingbufSubmit)
	}
	g.mark(done)
	g.release(mark)
}

// settlePending submits (or, with discard, throws away) the records that
// prints before an exit() stage left reserved, and clears their slots.
func (cc *chainCtx) settlePending(discard bool) {
	g := cc.g
	fn := asm.FnRingbufSubmit
	if discard {
		fn = asm.FnRingbufDiscard
	}
	for _, slot := range cc.pending {
		none := g.newLabel("nopending")
		g.emit(asm.LoadMem(asm.R1, asm.R10, slot, asm.DWord), asm.JEq.Imm(asm.R1, 0, none), asm.Mov.Imm(asm.R2, 0))
		g.call(fn)
		g.emit(storeDW(asm.R10, slot, 0))
		g.mark(none)
	}
}

// countLost adds one to this CPU's count of lost records or updates.
func (cc *chainCtx) countLost(slot int) {
	g := cc.g
	cc.prog.needDrops()
	mark := g.stackMark()
	key := g.alloc(8)
	skip := g.newLabel("nodrop")
	g.emit(storeDW(asm.R10, key, int64(slot)))
	g.mapPtr(asm.R1, cc.prog.out.Drops)
	g.stackPtr(asm.R2, key)
	g.call(asm.FnMapLookupElem)
	g.emit(asm.JEq.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord))
	g.mark(skip)
	g.release(mark)
}

// writeValue evaluates e into a record field at off.
func (cc *chainCtx) writeValue(e dsl.Expr, rec int16, off int) {
	g := cc.g
	t := cc.types[e]
	if t.Kind == TString {
		cc.genMem(e, mem{viaPtr: true, ptrSlot: rec, off: int16(off)})
		return
	}
	mark := g.stackMark()
	v := cc.genScalar(e)
	if t.slotSize() == 16 {
		cc.genSecondWord(t, asm.R1)
		g.emit(asm.LoadMem(asm.R2, asm.R10, rec, asm.DWord), asm.StoreMem(asm.R2, int16(off+8), asm.R1, asm.DWord))
	}
	r := g.load(v, asm.R1)
	g.emit(asm.LoadMem(asm.R2, asm.R10, rec, asm.DWord), asm.StoreMem(asm.R2, int16(off), r, asm.DWord))
	g.freeVal(v)
	g.release(mark)
}

// genSecondWord puts the second word of a 16-byte scalar of type t into
// r: the pid of a usym, the caller's return address of a ustack taken at
// a function's entry (stacks.go).
func (cc *chainCtx) genSecondWord(t *Type, r asm.Register) {
	if t.callerFrame {
		cc.genCallerPC(r)
		return
	}
	cc.genPid(r)
}

// genPid puts the current pid (tgid) into r.
func (cc *chainCtx) genPid(r asm.Register) {
	cc.g.call(asm.FnGetCurrentPidTgid)
	cc.g.emit(asm.RSh.Imm(asm.R0, 32))
	if r != asm.R0 {
		cc.g.emit(asm.Mov.Reg(r, asm.R0))
	}
}

// printUse is what print's check leaves for its gen.
type printUse struct {
	ev    *Event
	exprs []dsl.Expr
	offs  []int
}

func checkPrint(cc *chainCtx, call *dsl.Call) error {
	if len(call.Args) == 0 {
		return cc.checkPrintDefault(call)
	}
	// The format is a literal, or a name bound to one (a script's line
	// layout, used by several chains).
	fs, ok := cc.unwrap(call.Args[0]).(*dsl.StringLit)
	if !ok {
		return dsl.Errorf(call.Args[0].Position(), `print's first argument must be a format string, e.g. print("%%d %%s", pid, comm)`)
	}
	var types []*Type
	for _, a := range call.Args[1:] {
		t, err := cc.typeOf(a)
		if err != nil {
			return err
		}
		if t.Kind == TTable {
			err := dsl.Errorf(a.Position(), "%s is a table; print one of its elements: %s[i]", dsl.ExprString(a), dsl.ExprString(a))
			return err
		}
		types = append(types, t)
	}
	goFmt, unsigned, err := checkFormatU(fs, call.Args[1:], types)
	if err != nil {
		return err
	}
	u := &printUse{ev: cc.prog.newEvent(call, cc.t, EventPrint), exprs: append([]dsl.Expr{}, call.Args[1:]...)}
	u.ev.Format = goFmt
	names := fieldNames(u.exprs)
	for i, a := range u.exprs {
		name := names[i]
		if unsigned[i] {
			// %u of a signed value: its bits, as the unsigned type of
			// its size (uint32(x) for an int32).
			conv := fmt.Sprintf("uint%d", 8*types[i].Size)
			a = &dsl.Call{Pos: a.Position(), Fun: &dsl.Ident{Pos: a.Position(), Name: conv}, Name: conv, Args: []dsl.Expr{a}}
			if types[i], err = cc.typeOf(a); err != nil {
				return err
			}
			u.exprs[i] = a
		}
		u.offs = append(u.offs, u.ev.addField(name, types[i]))
	}
	cc.prints[call] = u
	return nil
}

// checkPrintDefault lays out the default line: the time, probe, pid, comm
// and every args field (named args.<field>).
func (cc *chainCtx) checkPrintDefault(call *dsl.Call) error {
	pos := call.Pos
	u := &printUse{ev: cc.prog.newEvent(call, cc.t, EventPrint)}
	u.exprs = []dsl.Expr{&dsl.Ident{Pos: pos, Name: "nsecs"}, &dsl.Ident{Pos: pos, Name: "pid"}, &dsl.Ident{Pos: pos, Name: "comm"}}
	names := []string{"time", "pid", "comm"}
	for _, a := range cc.t.fields() {
		if a.unreadable != "" || a.typ.Kind == TGo || a.typ.Kind == TVoid {
			continue // structs, slices, floats: shown by what is read of them
		}
		var e dsl.Expr = &dsl.Selector{Pos: pos, X: &dsl.Ident{Pos: pos, Name: "args"}, Sel: a.name, SelPos: pos}
		if a.typ.Kind == TPtr && a.typ.Elem != nil && a.typ.Elem.Size == 1 {
			e = &dsl.Call{Pos: pos, Name: "str", Fun: &dsl.Ident{Pos: pos, Name: "str"}, Args: []dsl.Expr{e}}
		}
		u.exprs = append(u.exprs, e)
		names = append(names, "args."+a.name)
	}
	for i, e := range u.exprs {
		t, err := cc.typeOf(e)
		if err != nil {
			return err
		}
		if t.arrayLen > 0 {
			t = &Type{Kind: TInt, Size: 8, Signed: t.Signed}
		}
		u.offs = append(u.offs, u.ev.addField(names[i], t))
		if i == 0 {
			u.ev.Fields[0].Time = true
		}
	}
	cc.prints[call] = u
	return nil
}

func genPrint(cc *chainCtx, call *dsl.Call) {
	u := cc.prints[call]
	cc.g.at(call.Pos, "print")
	cc.reserve(u.ev, func(rec int16) {
		for i, e := range u.exprs {
			cc.g.at(e.Position(), dsl.ExprString(e))
			cc.writeValue(e, rec, u.offs[i])
		}
	}, cc.pendingSlot[call])
}

// fieldNames names the fields of print's arguments, as JSON shows them:
// each by its source text (pid, str(args.filename)), a literal by its
// place (arg2), and a name used twice gets _2, _3.
func fieldNames(args []dsl.Expr) []string {
	var out []string
	seen := map[string]int{}
	for i, a := range args {
		name := dsl.ExprString(a)
		switch a.(type) {
		case *dsl.IntLit, *dsl.StringLit, *dsl.BoolLit:
			name = fmt.Sprintf("arg%d", i+1)
		}
		seen[name]++
		if n := seen[name]; n > 1 {
			name = fmt.Sprintf("%s_%d", name, n)
		}
		out = append(out, name)
	}
	return out
}
