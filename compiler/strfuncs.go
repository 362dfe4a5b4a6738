package compiler

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// Conditional values and string functions. Strings a function works on
// are evaluated into the program's scratch value (with.go), zeroed past
// their end, or read where .with() bound them; their bytes are walked
// with bounded loops, which the verifier follows one iteration at a time.

// Limits of join(): arguments joined, and bytes read of each (with its
// NUL: an argument of joinArgLen or more bytes keeps joinArgLen-1 and
// ends in "…").
const (
	joinArgs   = 16
	joinArgLen = 128
	maxSep     = 8
)

// ellipsis marks what join() cut.
const ellipsis = "…"

func init() {
	for _, f := range []*builtinFunc{
		{
			name: "cond", usage: "cond(c, a, b)", doc: "a when c is true (non-zero), else b: two numbers or two strings",
			minArgs: 3, maxArgs: 3, typ: typeCond, gen: genCondValue, genMem: genCondMem,
		},
		strPredicate("strings.HasPrefix", `strings.HasPrefix(s, "prefix")`, "whether s begins with prefix"),
		strPredicate("strings.HasSuffix", `strings.HasSuffix(s, ".so")`, "whether s ends with suffix (a constant)"),
		strPredicate("strings.Contains", `strings.Contains(s, "sub")`, "whether sub (a constant) is within s"),
		{
			name: "join", usage: `join(args.argv[, " "])`, doc: fmt.Sprintf("the strings of a NULL-terminated array of pointers (argv), joined by a separator (a space): %d at most, %d bytes each, cut ones end in …", joinArgs, joinArgLen-1),
			minArgs: 1, maxArgs: 2, typ: typeJoin, genMem: genJoin,
		},
	} {
		builtinFuncs[f.name] = f
	}
}

// typeCond: both values numbers (the result is a number that shows as
// they do) or both strings (as long as the longer).
func typeCond(cc *chainCtx, e *dsl.Call) (*Type, error) {
	c, a, b := cc.types[e.Args[0]], cc.types[e.Args[1]], cc.types[e.Args[2]]
	if !c.isScalar() {
		return nil, dsl.Errorf(e.Args[0].Position(), "cond's condition must be a number (true when not 0), not %s; compare strings with ==", c)
	}
	if a.Kind == TString && b.Kind == TString {
		if a.Show != b.Show {
			return nil, dsl.Errorf(e.Args[2].Position(), "cond's values are shown differently: %s and %s", showName(a), showName(b))
		}
		return &Type{Kind: TString, Size: max(a.Size, b.Size), Show: a.Show}, nil
	}
	if !a.isScalar() || !b.isScalar() || a.Kind != b.Kind && (a.Kind == TStack || b.Kind == TStack) {
		err := dsl.Errorf(e.Args[2].Position(), "cond's values must be two numbers or two strings, not %s and %s", a, b)
		if a.Kind == TString || b.Kind == TString {
			err.Hint = `write both as strings, e.g. cond(ret < 0, "error", "ok")`
		}
		return nil, err
	}
	// A constant takes the other value's type, as in Go.
	_, ac := constInt(e.Args[1])
	_, bc := constInt(e.Args[2])
	base := a
	if ac && !bc {
		base = b
	}
	if !ac && !bc && (a.Show != b.Show || a.shownAsText() != b.shownAsText()) {
		return nil, dsl.Errorf(e.Args[2].Position(), "cond's values are shown differently: %s and %s", showName(a), showName(b))
	}
	t := *base
	t.gt, t.Const, t.callerFrame, t.arrayLen = nil, nil, false, 0
	if ac == bc {
		t.Signed = a.Signed || b.Signed
		t.Hex = a.Hex || b.Hex
		t.Size = max(a.Size, b.Size)
		if a.Kind != b.Kind {
			t.Kind, t.CType = TInt, ""
		}
	}
	return &t, nil
}

// showName says how a value of t is shown, for messages.
func showName(t *Type) string {
	if t.Show != "" {
		return fmt.Sprintf("%s (shown as %s)", t, strings.TrimSuffix(strings.SplitN(t.Show, ":", 2)[0], ":"))
	}
	return t.String()
}

func genCondValue(cc *chainCtx, e *dsl.Call) val {
	g := cc.g
	v := g.newVal()
	els, done := g.newLabel("condelse"), g.newLabel("condend")
	cc.genCond(e.Args[0], els)
	for i, a := range e.Args[1:] {
		mark := g.stackMark()
		x := cc.genScalar(a)
		r := g.load(x, asm.R0)
		g.store(v, r)
		g.freeVal(x)
		g.release(mark)
		if i == 0 {
			g.emit(asm.Ja.Label(done))
			g.mark(els)
		}
	}
	g.mark(done)
	return v
}

func genCondMem(cc *chainCtx, e *dsl.Call, dst mem) {
	g := cc.g
	els, done := g.newLabel("condelse"), g.newLabel("condend")
	cc.genCond(e.Args[0], els)
	cc.genMem(e.Args[1], dst)
	g.emit(asm.Ja.Label(done))
	g.mark(els)
	cc.genMem(e.Args[2], dst)
	g.mark(done)
}

// isStrPredicate reports whether a call is one of strPredicate's.
func isStrPredicate(name string) bool {
	switch name {
	case "strings.HasPrefix", "strings.HasSuffix", "strings.Contains":
		return true
	}
	return false
}

// strPredicate is one of Go's strings functions that answer yes or no.
func strPredicate(name, usage, doc string) *builtinFunc {
	return &builtinFunc{
		name: name, usage: usage, doc: doc, minArgs: 2, maxArgs: 2,
		typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) { return cc.typeStrPredicate(e) },
		gen: func(cc *chainCtx, e *dsl.Call) val {
			v := cc.g.newVal()
			cc.boolFromCond(e, v)
			return v
		},
	}
}

func (cc *chainCtx) typeStrPredicate(e *dsl.Call) (*Type, error) {
	s, p := cc.types[e.Args[0]], cc.types[e.Args[1]]
	short := strings.TrimPrefix(e.Name, "strings.")
	if s.Kind != TString || s.Show != "" {
		err := dsl.Errorf(e.Args[0].Position(), "%s takes a string, not %s", e.Name, s)
		if s.Kind == TPtr || s.Kind == TInt {
			err.Hint = fmt.Sprintf("read the string first: %s(str(%s), …)", e.Name, dsl.ExprString(e.Args[0]))
		}
		return nil, err
	}
	if p.Kind != TString || p.Show != "" {
		return nil, dsl.Errorf(e.Args[1].Position(), "%s looks for a string, not %s", e.Name, p)
	}
	if p.Const == nil && short != "HasPrefix" {
		err := dsl.Errorf(e.Args[1].Position(), "%s looks for a constant string: a literal or a name bound to one", e.Name)
		err.Hint = fmt.Sprintf(`e.g. %s(%s, "text")`, e.Name, dsl.ExprString(e.Args[0]))
		return nil, err
	}
	if p.Const != nil {
		lit := *p.Const
		if strings.IndexByte(lit, 0) >= 0 {
			return nil, dsl.Errorf(e.Args[1].Position(), "%s: the string looked for holds a NUL byte, which ends every string", e.Name)
		}
		if s.Const == nil && len(lit) > s.Size-1 {
			return nil, dsl.Errorf(e.Args[1].Position(), "%s holds at most %d bytes; %q (%d bytes) can never be in it", dsl.ExprString(e.Args[0]), s.Size-1, shorten(lit), len(lit))
		}
	}
	for i, a := range e.Args {
		if i == 1 && p.Const != nil {
			continue
		}
		if _, ok := cc.localOf(a); ok {
			continue
		}
		off, err := cc.tempArea(cc.types[a].slotSize(), a.Position())
		if err != nil {
			return nil, err
		}
		cc.temps[a] = off
	}
	cc.scratchUsed = true
	return tBool, nil
}

// localOf returns the name e reads when it is one .with() bound.
func (cc *chainCtx) localOf(e dsl.Expr) (*local, bool) {
	for {
		p, ok := e.(*dsl.Paren)
		if !ok {
			break
		}
		e = p.X
	}
	if id, ok := e.(*dsl.Ident); ok {
		l, ok := cc.locals[id.Name]
		return l, ok
	}
	return nil, false
}

// placeString puts string e in the scratch value (or finds it there, a
// name .with() bound) and returns its offset.
func (cc *chainCtx) placeString(e dsl.Expr) int {
	if l, ok := cc.localOf(e); ok {
		return l.off
	}
	g := cc.g
	off := cc.temps[e]
	g.emit(asm.LoadMem(asm.R1, asm.R10, cc.scratch, asm.DWord))
	for i := 0; i < cc.types[e].slotSize(); i += 8 {
		g.emit(storeDW(asm.R1, int16(off+i), 0))
	}
	cc.genMem(e, mem{viaPtr: true, ptrSlot: cc.scratch, off: int16(off)})
	return off
}

// genStrPredicate jumps to onFalse when the strings function call e is
// false and falls through when it is true.
func (cc *chainCtx) genStrPredicate(e *dsl.Call, onFalse string) {
	g := cc.g
	sOff := cc.placeString(e.Args[0])
	size := cc.types[e.Args[0]].Size
	pt := cc.types[e.Args[1]]
	pOff := 0
	if pt.Const == nil {
		pOff = cc.placeString(e.Args[1])
	}
	g.at(e.Pos, dsl.ExprString(e))
	g.emit(asm.LoadMem(asm.R1, asm.R10, cc.scratch, asm.DWord))
	yes := g.newLabel("stryes")
	if pt.Const != nil && *pt.Const == "" {
		// Always true; a jump the verifier knows is never taken keeps
		// the false branch of what uses it reachable, as it requires.
		g.emit(asm.JEq.Imm(asm.R1, 0, onFalse))
		return
	}
	switch e.Name {
	case "strings.HasPrefix":
		if pt.Const != nil {
			cc.compareBytes(asm.R1, sOff, []byte(*pt.Const), onFalse, asm.R4, asm.R5)
			break
		}
		// for i := 0; i < len(p); i++ { if p[i] == 0 {yes}; if s[i] != p[i] {no} }
		loop := g.newLabel("prefix")
		g.emit(asm.Mov.Imm(asm.R2, 0))
		g.mark(loop)
		g.emit(asm.JGE.Imm(asm.R2, int32(pt.Size), yes),
			asm.Mov.Reg(asm.R3, asm.R1), asm.Add.Reg(asm.R3, asm.R2),
			asm.LoadMem(asm.R4, asm.R3, int16(pOff), asm.Byte),
			asm.JEq.Imm(asm.R4, 0, yes),
			asm.JGE.Imm(asm.R2, int32(size), onFalse),
			asm.LoadMem(asm.R5, asm.R3, int16(sOff), asm.Byte),
			asm.JNE.Reg(asm.R5, asm.R4, onFalse),
			asm.Add.Imm(asm.R2, 1),
			asm.Ja.Label(loop))
	case "strings.HasSuffix":
		lit := []byte(*pt.Const)
		if len(lit) == 0 {
			break
		}
		// The length of s, then its last len(lit) bytes.
		loop, found := g.newLabel("len"), g.newLabel("lenfound")
		g.emit(asm.Mov.Imm(asm.R2, 0))
		g.mark(loop)
		g.emit(asm.JGE.Imm(asm.R2, int32(size), found),
			asm.Mov.Reg(asm.R3, asm.R1), asm.Add.Reg(asm.R3, asm.R2),
			asm.LoadMem(asm.R4, asm.R3, int16(sOff), asm.Byte),
			asm.JEq.Imm(asm.R4, 0, found),
			asm.Add.Imm(asm.R2, 1),
			asm.Ja.Label(loop))
		g.mark(found)
		g.emit(asm.JLT.Imm(asm.R2, int32(len(lit)), onFalse), asm.Add.Reg(asm.R1, asm.R2))
		cc.compareBytes(asm.R1, sOff-len(lit), lit, onFalse, asm.R4, asm.R5)
	case "strings.Contains":
		lit := []byte(*pt.Const)
		if len(lit) == 0 {
			break
		}
		// for i := 0; i <= size-len(lit) && s[i] != 0; i++ { if s[i:] has lit as prefix {yes} }
		loop, next := g.newLabel("contains"), g.newLabel("containsnext")
		g.emit(asm.Mov.Imm(asm.R2, 0))
		g.mark(loop)
		g.emit(asm.JGT.Imm(asm.R2, int32(size-len(lit)), onFalse),
			asm.Mov.Reg(asm.R3, asm.R1), asm.Add.Reg(asm.R3, asm.R2),
			asm.LoadMem(asm.R4, asm.R3, int16(sOff), asm.Byte),
			asm.JEq.Imm(asm.R4, 0, onFalse))
		cc.compareBytes(asm.R3, sOff, lit, next, asm.R4, asm.R5)
		g.emit(asm.Ja.Label(yes))
		g.mark(next)
		g.emit(asm.Add.Imm(asm.R2, 1), asm.Ja.Label(loop))
	}
	g.mark(yes)
}

// compareBytes jumps to ne unless the bytes at base+off are want, read
// in 8/4/2/1-byte loads into scratch registers r and k.
func (cc *chainCtx) compareBytes(base asm.Register, off int, want []byte, ne string, r, k asm.Register) {
	g := cc.g
	for i := 0; i < len(want); {
		n := 8
		for n > len(want)-i {
			n /= 2
		}
		var buf [8]byte
		copy(buf[:], want[i:i+n])
		g.emit(asm.LoadMem(r, base, int16(off+i), sizeOf(n)))
		g.movImm(k, int64(binary.LittleEndian.Uint64(buf[:])))
		g.emit(asm.JNE.Reg(r, k, ne))
		i += n
	}
}

// joinSize is the buffer join() fills with separator sep: per argument
// its bytes, a mark and the separator; a final separator and mark for
// arguments left out, and the NUL.
func joinSize(sep int) int {
	per := joinArgLen - 1 + len(ellipsis) + sep
	return joinArgs*per + len(ellipsis) + 1
}

func typeJoin(cc *chainCtx, e *dsl.Call) (*Type, error) {
	t := cc.types[e.Args[0]]
	if t.Kind != TPtr && t.Kind != TInt {
		return nil, dsl.Errorf(e.Args[0].Position(), "join takes the address of a NULL-terminated array of string pointers (args.argv), not %s", t)
	}
	// A pointer whose C type is known must point to pointers: a char *
	// is one string, whose bytes would be read as addresses.
	if t.Kind == TPtr && t.CType != "" && strings.Count(t.CType, "*") < 2 {
		err := dsl.Errorf(e.Args[0].Position(), "join takes the address of a NULL-terminated array of string pointers (args.argv), not %s", t.CType)
		err.Hint = "a char * is one string: read it with str()"
		return nil, err
	}
	sep := " "
	if len(e.Args) == 2 {
		st := cc.types[e.Args[1]]
		if st.Const == nil {
			return nil, dsl.Errorf(e.Args[1].Position(), "join's separator must be a constant string, e.g. join(args.argv, \",\")")
		}
		if sep = *st.Const; len(sep) > maxSep {
			return nil, dsl.Errorf(e.Args[1].Position(), "join's separator is at most %d bytes", maxSep)
		}
	}
	return &Type{Kind: TString, Size: joinSize(len(sep))}, nil
}

// genJoin writes argument after argument, each at the end of the ones
// before: offsets the verifier bounds by adding up what each can add.
// Every step is written so that the paths through one argument join
// again (a cut argument adds its mark's length, computed, not branched
// on), keeping the verifier's work linear in the arguments.
func genJoin(cc *chainCtx, e *dsl.Call, dst mem) {
	g := cc.g
	t := cc.types[e.Args[0]]
	user := t.User || cc.t.userPtrs
	readPtr, readStr := asm.FnProbeReadKernel, asm.FnProbeReadKernelStr
	if user {
		readPtr, readStr = asm.FnProbeReadUser, asm.FnProbeReadUserStr
	}
	sep := " "
	if len(e.Args) == 2 {
		sep = *cc.types[e.Args[1]].Const
	}
	mark := g.stackMark()
	arr := cc.genScalar(e.Args[0])
	g.at(e.Pos, dsl.ExprString(e))
	base, off, ptr := g.alloc(8), g.alloc(8), g.alloc(8)
	g.addr(dst, asm.R1)
	g.emit(asm.StoreMem(asm.R10, base, asm.R1, asm.DWord), storeDW(asm.R10, off, 0))
	end := g.newLabel("joinend")
	// at sets R1 to where the next byte goes.
	at := func() {
		g.emit(asm.LoadMem(asm.R1, asm.R10, base, asm.DWord), asm.LoadMem(asm.R2, asm.R10, off, asm.DWord), asm.Add.Reg(asm.R1, asm.R2))
	}
	// put writes constant bytes there and moves on.
	put := func(s string) {
		at()
		for i := 0; i < len(s); i++ {
			g.emit(asm.StoreImm(asm.R1, int16(i), int64(s[i]), asm.Byte))
		}
		g.emit(asm.LoadMem(asm.R2, asm.R10, off, asm.DWord), asm.Add.Imm(asm.R2, int32(len(s))), asm.StoreMem(asm.R10, off, asm.R2, asm.DWord))
	}
	// next reads pointer i of the array; NULL (or unreadable) ends.
	next := func(i int) {
		g.stackPtr(asm.R1, ptr)
		g.emit(asm.Mov.Imm(asm.R2, 8))
		g.loadInto(arr, asm.R3)
		g.emit(asm.Add.Imm(asm.R3, int32(8*i)))
		g.call(readPtr)
		g.emit(asm.JNE.Imm(asm.R0, 0, end),
			asm.LoadMem(asm.R3, asm.R10, ptr, asm.DWord),
			asm.JEq.Imm(asm.R3, 0, end))
	}
	for i := 0; i < joinArgs; i++ {
		next(i)
		if i > 0 {
			put(sep)
		}
		at()
		g.emit(asm.Mov.Imm(asm.R2, joinArgLen), asm.LoadMem(asm.R3, asm.R10, ptr, asm.DWord))
		g.call(readStr)
		// R0: the bytes read with the NUL; an unreadable string counts as
		// empty. The failed read jumps out and back, so that the verifier
		// meets its narrower state where it has seen the wider one.
		bad, ok := g.newLabel("joinbad"), g.newLabel("joinok")
		g.emit(asm.JSLE.Imm(asm.R0, 0, bad), asm.JSGT.Imm(asm.R0, joinArgLen, end))
		g.mark(ok)
		g.emit(asm.Add.Imm(asm.R0, -1),
			asm.LoadMem(asm.R2, asm.R10, off, asm.DWord), asm.Add.Reg(asm.R2, asm.R0), asm.StoreMem(asm.R10, off, asm.R2, asm.DWord))
		// Cut when the byte after those read is not the NUL.
		g.stackPtr(asm.R1, ptr)
		g.emit(asm.Mov.Imm(asm.R2, 1), asm.LoadMem(asm.R3, asm.R10, ptr, asm.DWord), asm.Add.Reg(asm.R3, asm.R0),
			storeDW(asm.R10, ptr, 0))
		g.call(readPtr)
		// The mark is written whatever; the offset moves past it only
		// when cut (the byte, negated, has its sign bit set).
		at()
		for k := 0; k < len(ellipsis); k++ {
			g.emit(asm.StoreImm(asm.R1, int16(k), int64(ellipsis[k]), asm.Byte))
		}
		g.emit(asm.LoadMem(asm.R3, asm.R10, ptr, asm.Byte),
			asm.Neg.Imm(asm.R3, 0), asm.RSh.Imm(asm.R3, 63), asm.Mul.Imm(asm.R3, int32(len(ellipsis))),
			asm.LoadMem(asm.R2, asm.R10, off, asm.DWord), asm.Add.Reg(asm.R2, asm.R3), asm.StoreMem(asm.R10, off, asm.R2, asm.DWord))
		skip := g.newLabel("joinnext")
		g.emit(asm.Ja.Label(skip))
		g.mark(bad)
		g.emit(asm.Mov.Imm(asm.R0, 1), asm.Ja.Label(ok))
		g.mark(skip)
	}
	// More arguments than joined: say so.
	next(joinArgs)
	put(sep + ellipsis)
	g.mark(end)
	at()
	g.emit(asm.StoreImm(asm.R1, 0, 0, asm.Byte))
	g.freeVal(arr)
	g.release(mark)
}

// checkSliceExpr types s[lo:hi] of a string: its bytes lo to hi, a
// string of hi-lo bytes at most (the bounds are constants; past the
// string's end it is shorter, where Go would panic). a[:n] == b[:n]
// compares the first n bytes, as C's strncmp(a, b, n) == 0.
func (cc *chainCtx) checkSliceExpr(e *dsl.SliceExpr) (*Type, error) {
	t, err := cc.typeOf(e.X)
	if err != nil {
		return nil, err
	}
	if t.Kind != TString || t.Show != "" {
		return nil, dsl.Errorf(e.Lbrack, "only strings are sliced here, not %s", t)
	}
	bound := func(x dsl.Expr, def int) (int, error) {
		if x == nil {
			return def, nil
		}
		if _, err := cc.typeOf(x); err != nil {
			return 0, err
		}
		n, ok := constInt(cc.unwrap(x))
		if !ok {
			return 0, dsl.Errorf(x.Position(), "a string's slice bounds are integer constants")
		}
		if n < 0 || n > int64(t.Size) {
			return 0, dsl.Errorf(x.Position(), "%s holds %d bytes; %d is out of its range", dsl.ExprString(e.X), t.Size, n)
		}
		return int(n), nil
	}
	lo, err := bound(e.Lo, 0)
	if err != nil {
		return nil, err
	}
	hi, err := bound(e.Hi, t.Size)
	if err != nil {
		return nil, err
	}
	if lo > hi {
		return nil, dsl.Errorf(e.Lbrack, "the slice's bounds are inverted: %d > %d", lo, hi)
	}
	if _, ok := cc.localOf(e.X); !ok {
		off, err := cc.tempArea(t.slotSize(), e.Pos)
		if err != nil {
			return nil, err
		}
		cc.temps[e.X] = off
	}
	cc.scratchUsed = true
	cc.slices[e] = [2]int{lo, hi}
	return stringType(hi - lo + 1), nil
}

// genSliceExpr writes s[lo:hi] into dst: the bytes, then a NUL.
func (cc *chainCtx) genSliceExpr(e *dsl.SliceExpr, dst mem) {
	g := cc.g
	b := cc.slices[e]
	off := cc.placeString(e.X)
	g.at(e.Lbrack, dsl.ExprString(e))
	g.addr(dst, asm.R1)
	g.emit(asm.Mov.Imm(asm.R2, int32(b[1]-b[0])),
		asm.LoadMem(asm.R3, asm.R10, cc.scratch, asm.DWord), asm.Add.Imm(asm.R3, int32(off+b[0])))
	g.call(asm.FnProbeReadKernel)
	g.addr(dst, asm.R1)
	g.emit(asm.StoreImm(asm.R1, int16(b[1]-b[0]), 0, asm.Byte))
}
