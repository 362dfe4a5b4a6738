package compiler

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// mem is a destination for a string value: stack memory at R10+off, or
// memory at a pointer kept in the stack slot ptrSlot (a reserved ring
// buffer record) plus off.
type mem struct {
	viaPtr  bool
	ptrSlot int16
	off     int16
}

func stackMem(off int16) mem { return mem{off: off} }

// addr sets r to the address of m.
func (g *gen) addr(m mem, r asm.Register) {
	if m.viaPtr {
		g.emit(asm.LoadMem(r, asm.R10, m.ptrSlot, asm.DWord))
		if m.off != 0 {
			g.emit(asm.Add.Imm(r, int32(m.off)))
		}
		return
	}
	g.stackPtr(r, m.off)
}

// base returns a register and offset to address m with load/store
// instructions, loading m's pointer into scratch when needed.
func (g *gen) base(m mem, scratch asm.Register) (asm.Register, int16) {
	if m.viaPtr {
		g.emit(asm.LoadMem(scratch, asm.R10, m.ptrSlot, asm.DWord))
		return scratch, m.off
	}
	return asm.R10, m.off
}

// typeOf checks e and returns its type, memoised per chain context.
func (cc *chainCtx) typeOf(e dsl.Expr) (*Type, error) {
	if t, ok := cc.types[e]; ok {
		return t, nil
	}
	t, err := cc.check(e)
	if err != nil {
		return nil, err
	}
	cc.types[e] = t
	return t, nil
}

func (cc *chainCtx) check(e dsl.Expr) (*Type, error) {
	switch e := e.(type) {
	case *dsl.IntLit:
		return tInt64, nil
	case *dsl.BoolLit:
		return tBool, nil
	case *dsl.StringLit:
		if len(e.Value) > maxLiteral {
			return nil, dsl.Errorf(e.Pos, "string longer than %d bytes (%d)", maxLiteral, len(e.Value))
		}
		return constString(e.Value), nil
	case *dsl.Paren:
		return cc.typeOf(e.X)
	case *dsl.Ident:
		return cc.checkIdent(e)
	case *dsl.Selector:
		return cc.checkSelector(e)
	case *dsl.Index:
		return cc.checkIndex(e)
	case *dsl.Unary:
		t, err := cc.typeOf(e.X)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case "!", "-", "^", "+":
			if !t.isScalar() {
				return nil, dsl.Errorf(e.Pos, "operator %s needs a number, not %s", e.Op, t)
			}
			if e.Op == "!" {
				return tBool, nil
			}
			return &Type{Kind: TInt, Size: 8, Signed: e.Op == "-" || t.Signed}, nil
		case "*":
			return cc.checkDeref(e, t)
		default:
			return nil, dsl.Errorf(e.Pos, "operator %s is not supported here", e.Op)
		}
	case *dsl.Binary:
		return cc.checkBinary(e)
	case *dsl.Call:
		return cc.checkCall(e)
	case *dsl.SliceLit:
		return cc.checkSliceLit(e)
	case *dsl.SliceExpr:
		return cc.checkSliceExpr(e)
	case *dsl.Bind:
		err := dsl.Errorf(e.OpPos, "%s binds a name only in .with(), or at the start of a statement", dsl.ExprString(e))
		err.Hint = fmt.Sprintf("e.g. .with(%s) before the stages that use %s", dsl.ExprString(e), e.Name)
		return nil, err
	}
	return nil, dsl.Errorf(e.Position(), "unsupported expression %s", dsl.ExprString(e))
}

func (cc *chainCtx) checkIdent(e *dsl.Ident) (*Type, error) {
	if l, ok := cc.locals[e.Name]; ok {
		return l.typ, nil
	}
	if sel := cc.eventFieldRef(e); sel != nil {
		return cc.typeOf(sel)
	}
	if b, ok := builtinValues[e.Name]; ok {
		return b.typ(cc, e)
	}
	if n, ok := rawArgIndex(e.Name); ok {
		return cc.checkRawArg(e, n)
	}
	if v, ok := cc.prog.values[e.Name]; ok {
		return cc.typeOf(v)
	}
	if err := cc.notVisible(e); err != nil {
		return nil, err
	}
	names := builtinValueNames()
	for k := range cc.prog.values {
		names = append(names, k)
	}
	for k := range cc.locals {
		names = append(names, k)
	}
	if cc.t.std != nil {
		names = append(names, cc.t.argNames()...)
	}
	err := dsl.Errorf(e.Pos, "unknown name %q", e.Name)
	err.Hint = dsl.DidYouMean(e.Name, names)
	return nil, err
}

func (cc *chainCtx) argsHint() string {
	if len(cc.t.fields()) == 0 {
		return ""
	}
	return " (" + strings.Join(cc.t.argNames(), ", ") + ")"
}

// rawArgIndex parses arg0…arg11 (USDT probes have up to 12 arguments).
func rawArgIndex(name string) (int, bool) {
	if len(name) == 4 && strings.HasPrefix(name, "arg") && name[3] >= '0' && name[3] <= '9' {
		return int(name[3] - '0'), true
	}
	if name == "arg10" || name == "arg11" {
		return 10 + int(name[4]-'0'), true
	}
	return 0, false
}

// isArgs reports whether e is the `args` of the probe.
func isArgs(e dsl.Expr) bool {
	id, ok := e.(*dsl.Ident)
	return ok && id.Name == "args"
}

func (cc *chainCtx) checkSelector(e *dsl.Selector) (*Type, error) {
	if isArgs(e.X) {
		if _, err := cc.typeOf(e.X); err != nil {
			return nil, err
		}
		a := cc.t.arg(e.Sel)
		if a == nil {
			err := dsl.Errorf(e.SelPos, "%s has no field %q", cc.t.name, e.Sel)
			err.Hint = dsl.DidYouMean(e.Sel, cc.t.argNames())
			if err.Hint == "" {
				err.Hint = "its fields: " + strings.Join(cc.t.argNames(), ", ")
			}
			return nil, err
		}
		if a.unreadable != "" {
			return nil, dsl.Errorf(e.SelPos, "%s", a.unreadable)
		}
		if a.gv != nil {
			cc.setGoVal(e, a.gv)
		}
		return a.typ, nil
	}
	t, err := cc.typeOf(e.X)
	if err != nil {
		return nil, err
	}
	if t.gt != nil {
		return cc.checkGoSelector(e, t)
	}
	return cc.checkBTFSelector(e, t)
}

func (cc *chainCtx) checkIndex(e *dsl.Index) (*Type, error) {
	t, err := cc.typeOf(e.X)
	if err != nil {
		return nil, err
	}
	if t.Kind == TTable {
		return cc.checkTableIndex(e, t)
	}
	if t.gt != nil {
		return cc.checkGoIndex(e, t)
	}
	if t.arrayLen == 0 {
		return nil, dsl.Errorf(e.Pos, "%s is %s, not an array", dsl.ExprString(e.X), t)
	}
	lit, ok := e.Index.(*dsl.IntLit)
	if !ok {
		return nil, dsl.Errorf(e.Index.Position(), "array index must be a constant")
	}
	if lit.Value >= uint64(t.arrayLen) {
		return nil, dsl.Errorf(e.Index.Position(), "index %d is out of range: %s has %d elements", lit.Value, dsl.ExprString(e.X), t.arrayLen)
	}
	return &Type{Kind: TInt, Size: t.Size, Signed: t.Signed, CType: t.CType}, nil
}

func (cc *chainCtx) checkBinary(e *dsl.Binary) (*Type, error) {
	x, err := cc.typeOf(e.X)
	if err != nil {
		return nil, err
	}
	y, err := cc.typeOf(e.Y)
	if err != nil {
		return nil, err
	}
	if x.Kind == TString || y.Kind == TString {
		if (e.Op == "==" || e.Op == "!=") && x.Kind == TString && y.Kind == TString {
			if err := cc.checkEventLiteral(e); err != nil {
				return nil, err
			}
			// A literal longer than the other side can hold is never equal
			// to it: most likely a mistake (comm holds 15 bytes).
			for _, p := range [][2]*Type{{x, y}, {y, x}} {
				if lit, buf := p[0], p[1]; lit.Const != nil && buf.Const == nil && len(*lit.Const) > buf.Size-1 {
					return nil, dsl.Errorf(e.OpPos, "%s holds at most %d bytes; %q (%d bytes) can never be equal to it", dsl.ExprString(e.X), buf.Size-1, shorten(*lit.Const), len(*lit.Const))
				}
			}
			return tBool, nil
		}
		pos := e.OpPos
		return nil, dsl.Errorf(pos, "operator %s cannot take %s and %s (strings compare only with == and !=)", e.Op, x, y)
	}
	if !x.isScalar() || !y.isScalar() {
		return nil, dsl.Errorf(e.OpPos, "operator %s cannot take %s and %s", e.Op, x, y)
	}
	switch e.Op {
	case "==", "!=", "<", "<=", ">", ">=", "&&", "||":
		return tBool, nil
	case "+", "-", "*", "/", "%", "&", "|", "^", "&^", "<<", ">>":
		// As in Go, a constant takes the type of the other side:
		// uint32(x) + 1 stays unsigned.
		_, xc := e.X.(*dsl.IntLit)
		_, yc := e.Y.(*dsl.IntLit)
		switch {
		case e.Op == "<<" || e.Op == ">>":
			return &Type{Kind: TInt, Size: 8, Signed: x.Signed}, nil
		case yc && !xc:
			return &Type{Kind: TInt, Size: 8, Signed: x.Signed}, nil
		case xc && !yc:
			return &Type{Kind: TInt, Size: 8, Signed: y.Signed}, nil
		}
		return &Type{Kind: TInt, Size: 8, Signed: x.Signed || y.Signed}, nil
	}
	return nil, dsl.Errorf(e.OpPos, "unknown operator %s", e.Op)
}

func (cc *chainCtx) checkCall(e *dsl.Call) (*Type, error) {
	if e.Name == "" {
		if name, ok := castName(e); ok {
			return cc.checkAnyCast(e, name)
		}
		return nil, dsl.Errorf(e.Pos, "%s is not a function", dsl.ExprString(e.Fun))
	}
	f, ok := builtinFuncs[e.Name]
	if !ok {
		err := dsl.Errorf(e.Pos, "unknown function %q", e.Name)
		err.Hint = dsl.DidYouMean(e.Name, builtinFuncNames())
		if alt, ok := funcAliases[strings.ToLower(e.Name)]; ok {
			err.Hint = "did you mean " + alt + "?"
		}
		if _, isStage := stageOf(e.Name); isStage {
			err.Hint = e.Name + " is a stage: write it after the probe, as ." + e.Name + "(…)"
		}
		return nil, err
	}
	if len(e.Args) < f.minArgs || len(e.Args) > f.maxArgs {
		return nil, dsl.Errorf(e.Pos, "%s takes %s: %s", e.Name, argCount(f.minArgs, f.maxArgs), f.usage)
	}
	for _, a := range e.Args {
		if _, err := cc.typeOf(a); err != nil {
			return nil, err
		}
	}
	return f.typ(cc, e)
}

// funcAliases are the names other languages give to a function that is
// spelled the Go way here: a suggestion when one is used.
var funcAliases = map[string]string{
	"hasprefix": "strings.HasPrefix", "startswith": "strings.HasPrefix", "strncmp": "strings.HasPrefix(s, prefix), or ==",
	"hassuffix": "strings.HasSuffix", "endswith": "strings.HasSuffix",
	"contains": "strings.Contains", "strcontains": "strings.Contains", "strstr": "strings.Contains",
	"if": "cond(c, a, b)", "ternary": "cond(c, a, b)", "iif": "cond(c, a, b)",
	"time": `strftime("15:04:05", nsecs)`,
}

// genScalar evaluates a scalar expression into a new val.
func (cc *chainCtx) genScalar(e dsl.Expr) val {
	g := cc.g
	t := cc.types[e]
	if gv := cc.goValAt(e); gv != nil {
		return cc.genGoScalar(e, gv)
	}
	switch e := e.(type) {
	case *dsl.IntLit:
		v := g.newVal()
		r := v.reg
		if !v.inReg {
			r = asm.R0
		}
		g.movImm(r, int64(e.Value))
		g.store(v, r)
		return v
	case *dsl.BoolLit:
		v := g.newVal()
		x := int64(0)
		if e.Value {
			x = 1
		}
		g.movImm(asm.R0, x)
		g.store(v, asm.R0)
		return v
	case *dsl.Paren:
		return cc.genScalar(e.X)
	case *dsl.Ident:
		if l, ok := cc.locals[e.Name]; ok {
			return cc.genLocal(l)
		}
		if sel, ok := cc.fieldRefs[e]; ok {
			return cc.genScalar(sel)
		}
		if b, ok := builtinValues[e.Name]; ok {
			return b.gen(cc)
		}
		if n, ok := rawArgIndex(e.Name); ok {
			return cc.genRawArg(n)
		}
		return cc.genScalar(cc.prog.values[e.Name])
	case *dsl.Selector:
		if !isArgs(e.X) {
			return cc.genBTFSelector(e)
		}
		v := g.newVal()
		cc.loadCtxArg(cc.t.arg(e.Sel))
		g.store(v, asm.R0)
		return v
	case *dsl.Index:
		if cc.types[e.X].Kind == TTable {
			return cc.genTableInt(e)
		}
		a := cc.t.arg(e.X.(*dsl.Selector).Sel)
		i := int(e.Index.(*dsl.IntLit).Value)
		v := g.newVal()
		cc.loadCtxField(a.off+i*t.Size, t)
		g.store(v, asm.R0)
		return v
	case *dsl.Unary:
		v := cc.genScalar(e.X)
		r := g.load(v, asm.R1)
		switch e.Op {
		case "-":
			g.emit(asm.Neg.Imm(r, 0))
		case "^":
			g.emit(asm.Xor.Imm(r, -1))
		case "!":
			l := g.newLabel("not")
			g.emit(asm.Mov.Imm(asm.R0, 0), asm.JNE.Imm(r, 0, l), asm.Mov.Imm(asm.R0, 1))
			g.mark(l)
			g.emit(asm.Mov.Reg(r, asm.R0))
		}
		g.store(v, r)
		return v
	case *dsl.Binary:
		switch e.Op {
		case "==", "!=", "<", "<=", ">", ">=", "&&", "||":
			v := g.newVal()
			cc.boolFromCond(e, v)
			return v
		}
		return cc.genArith(e)
	case *dsl.Call:
		if _, ok := castName(e); ok {
			return cc.genCast(e)
		}
		return builtinFuncs[e.Name].gen(cc, e)
	}
	panic(fmt.Sprintf("genScalar: unchecked expression %T", e))
}

// boolFromCond materialises a condition as 0 or 1 in v.
func (cc *chainCtx) boolFromCond(e dsl.Expr, v val) {
	g := cc.g
	f := g.newLabel("false")
	done := g.newLabel("bool")
	cc.genCond(e, f)
	g.movImm(asm.R0, 1)
	g.emit(asm.Ja.Label(done))
	g.mark(f)
	g.movImm(asm.R0, 0)
	g.mark(done)
	g.store(v, asm.R0)
}

// loadCtxArg loads an args field (or retval) into R0.
func (cc *chainCtx) loadCtxArg(a *argField) {
	if a.event {
		cc.eventBase(asm.R1)
		cc.loadField(asm.R1, a.off, a.typ)
		return
	}
	if !a.slot {
		cc.loadCtxField(a.off, a.typ)
		return
	}
	g := cc.g
	g.emit(asm.LoadMem(asm.R0, regCtx, int16(a.off), asm.DWord))
	if a.typ.Kind == TInt && a.typ.Size < 8 {
		sh := int32(64 - 8*a.typ.Size)
		g.emit(asm.LSh.Imm(asm.R0, sh))
		if a.typ.Signed {
			g.emit(asm.ArSh.Imm(asm.R0, sh))
		} else {
			g.emit(asm.RSh.Imm(asm.R0, sh))
		}
	}
}

// loadCtxField loads an integer of type t at off in the context into R0,
// sign-extending signed fields.
func (cc *chainCtx) loadCtxField(off int, t *Type) { cc.loadField(regCtx, off, t) }

// loadField loads an integer of type t at base+off into R0, sign-extending
// signed fields.
func (cc *chainCtx) loadField(base asm.Register, off int, t *Type) {
	g := cc.g
	size := t.Size
	if t.Kind == TPtr {
		size = 8
	}
	if base == regCtx && off%size != 0 {
		// The verifier refuses misaligned context loads (tcp_retransmit_skb
		// has a __u8 saddr[4] at offset 34): read the bytes one by one,
		// highest first, and put them together (little-endian).
		g.emit(asm.LoadMem(asm.R0, base, int16(off+size-1), asm.Byte))
		for i := size - 2; i >= 0; i-- {
			g.emit(asm.LSh.Imm(asm.R0, 8), asm.LoadMem(asm.R5, base, int16(off+i), asm.Byte), asm.Or.Reg(asm.R0, asm.R5))
		}
	} else {
		g.emit(asm.LoadMem(asm.R0, base, int16(off), sizeOf(size)))
	}
	if t.Kind == TInt && t.Signed && size < 8 {
		sh := int32(64 - 8*size)
		g.emit(asm.LSh.Imm(asm.R0, sh), asm.ArSh.Imm(asm.R0, sh))
	}
}

func sizeOf(n int) asm.Size {
	switch n {
	case 1:
		return asm.Byte
	case 2:
		return asm.Half
	case 4:
		return asm.Word
	}
	return asm.DWord
}

var aluOps = map[string]asm.ALUOp{
	"+": asm.Add, "-": asm.Sub, "*": asm.Mul, "/": asm.Div, "%": asm.Mod,
	"&": asm.And, "|": asm.Or, "^": asm.Xor, "<<": asm.LSh, ">>": asm.RSh,
}

func (cc *chainCtx) genArith(e *dsl.Binary) val {
	g := cc.g
	signed := cc.types[e].Signed
	// A small constant operand goes into the instruction itself.
	if lit, ok := e.Y.(*dsl.IntLit); ok && lit.Value < 1<<31 && e.Op != "&^" && e.Op != "/" && e.Op != "%" && e.Op != ">>" {
		x := cc.genScalar(e.X)
		g.at(e.OpPos, dsl.ExprString(e))
		rx := g.load(x, asm.R1)
		g.emit(aluOps[e.Op].Imm(rx, int32(lit.Value)))
		g.store(x, rx)
		return x
	}
	x := cc.genScalar(e.X)
	y := cc.genScalar(e.Y)
	g.at(e.OpPos, dsl.ExprString(e))
	rx := g.load(x, asm.R1)
	ry := g.load(y, asm.R2)
	switch e.Op {
	case "&^":
		g.emit(asm.Mov.Reg(asm.R0, ry), asm.Xor.Imm(asm.R0, -1), asm.And.Reg(rx, asm.R0))
	case ">>":
		if signed && cc.types[e.X].Signed {
			g.emit(asm.ArSh.Reg(rx, ry))
		} else {
			g.emit(asm.RSh.Reg(rx, ry))
		}
	case "/", "%":
		if signed {
			cc.signedDivMod(e.Op, rx, ry)
		} else {
			g.emit(aluOps[e.Op].Reg(rx, ry))
		}
	default:
		g.emit(aluOps[e.Op].Reg(rx, ry))
	}
	g.store(x, rx)
	g.freeVal(y)
	return x
}

// signedDivMod divides rx by ry as signed numbers. BPF's DIV/MOD are
// unsigned (the signed forms need cpu v4), so divide magnitudes and fix
// the sign: Go semantics, truncating toward zero; x/0 is 0 and x%0 is x,
// as BPF defines them.
func (cc *chainCtx) signedDivMod(op string, rx, ry asm.Register) {
	g := cc.g
	// R3 = sign of result (1 negative), R4 = |y|
	negX := g.newLabel("negx")
	doneX := g.newLabel("absx")
	g.emit(asm.Mov.Imm(asm.R3, 0), asm.Mov.Reg(asm.R4, ry))
	g.emit(asm.JSGE.Imm(rx, 0, doneX), asm.Neg.Imm(rx, 0), asm.Mov.Imm(asm.R3, 1))
	g.mark(doneX)
	g.emit(asm.JSGE.Imm(asm.R4, 0, negX), asm.Neg.Imm(asm.R4, 0))
	if op == "/" {
		g.emit(asm.Xor.Imm(asm.R3, 1))
	}
	g.mark(negX)
	g.emit(aluOps[op].Reg(rx, asm.R4))
	done := g.newLabel("sdiv")
	g.emit(asm.JEq.Imm(asm.R3, 0, done), asm.Neg.Imm(rx, 0))
	g.mark(done)
	g.emit(asm.Mov.Reg(rx, rx))
}

var jumpOps = map[string][2]asm.JumpOp{
	// unsigned, signed
	"==": {asm.JEq, asm.JEq}, "!=": {asm.JNE, asm.JNE},
	"<": {asm.JLT, asm.JSLT}, "<=": {asm.JLE, asm.JSLE},
	">": {asm.JGT, asm.JSGT}, ">=": {asm.JGE, asm.JSGE},
}

var negate = map[string]string{"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}

// genCond jumps to onFalse when e is false (zero) and falls through when true.
func (cc *chainCtx) genCond(e dsl.Expr, onFalse string) {
	g := cc.g
	switch e := e.(type) {
	case *dsl.Paren:
		cc.genCond(e.X, onFalse)
		return
	case *dsl.Unary:
		if e.Op == "!" {
			t := g.newLabel("not")
			cc.genCond(e.X, t)
			g.emit(asm.Ja.Label(onFalse))
			g.mark(t)
			return
		}
	case *dsl.Call:
		if isStrPredicate(e.Name) {
			cc.genStrPredicate(e, onFalse)
			return
		}
	case *dsl.Binary:
		switch e.Op {
		case "&&":
			cc.genCond(e.X, onFalse)
			cc.genCond(e.Y, onFalse)
			return
		case "||":
			tryY := g.newLabel("or")
			done := g.newLabel("ortrue")
			cc.genCond(e.X, tryY)
			g.emit(asm.Ja.Label(done))
			g.mark(tryY)
			cc.genCond(e.Y, onFalse)
			g.mark(done)
			return
		case "==", "!=", "<", "<=", ">", ">=":
			if cc.types[e.X].Kind == TString {
				cc.genStringCompare(e, onFalse)
				return
			}
			mark := g.stackMark()
			signed := cc.types[e.X].Signed && cc.types[e.Y].Signed
			if lit, ok := e.Y.(*dsl.IntLit); ok && int64(lit.Value) >= -1<<31 && int64(lit.Value) < 1<<31 {
				signed = cc.types[e.X].Signed
				x := cc.genScalar(e.X)
				g.at(e.OpPos, dsl.ExprString(e))
				rx := g.load(x, asm.R1)
				g.emit(jumpOps[negate[e.Op]][b2i(signed)].Imm(rx, int32(lit.Value), onFalse))
				g.freeVal(x)
				g.release(mark)
				return
			}
			x := cc.genScalar(e.X)
			y := cc.genScalar(e.Y)
			g.at(e.OpPos, dsl.ExprString(e))
			rx := g.load(x, asm.R1)
			ry := g.load(y, asm.R2)
			g.emit(jumpOps[negate[e.Op]][b2i(signed)].Reg(rx, ry, onFalse))
			g.freeVal(y)
			g.freeVal(x)
			g.release(mark)
			return
		}
	}
	mark := g.stackMark()
	v := cc.genScalar(e)
	r := g.load(v, asm.R1)
	g.emit(asm.JEq.Imm(r, 0, onFalse))
	g.freeVal(v)
	g.release(mark)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// genStringCompare compares two strings, at least one usually a literal.
// Only the bytes up to the literal's NUL are compared, so whatever follows
// the NUL in the other buffer does not matter.
func (cc *chainCtx) genStringCompare(e *dsl.Binary, onFalse string) {
	g := cc.g
	mark := g.stackMark()
	x, y := e.X, e.Y
	if cc.types[x].Const != nil {
		x, y = y, x
	}
	// ne is where a differing byte jumps: false for ==, true for !=.
	ne := onFalse
	if e.Op == "!=" {
		ne = g.newLabel("strne")
	}
	xt, yt := cc.types[x], cc.types[y]
	bx := g.alloc(xt.Size)
	g.zero(bx, (xt.Size+7)&^7)
	cc.genMem(x, stackMem(bx))
	g.at(e.OpPos, dsl.ExprString(e))
	if yt.Const != nil {
		// checkBinary made sure the buffer holds the literal's bytes; a
		// buffer filled to the end has no NUL to compare.
		lit := append([]byte(*yt.Const), 0)
		if len(lit) > xt.Size {
			lit = lit[:xt.Size]
		}
		cc.compareBytes(asm.R10, int(bx), lit, ne, asm.R1, asm.R2)
	} else {
		by := g.alloc(yt.Size)
		g.zero(by, (yt.Size+7)&^7)
		cc.genMem(y, stackMem(by))
		// Both buffers were zeroed, so equal strings have equal bytes up to
		// the shorter buffer; the longer must end there.
		n := min(xt.Size, yt.Size) &^ 7
		for i := 0; i < n; i += 8 {
			g.emit(asm.LoadMem(asm.R1, asm.R10, bx+int16(i), asm.DWord),
				asm.LoadMem(asm.R2, asm.R10, by+int16(i), asm.DWord),
				asm.JNE.Reg(asm.R1, asm.R2, ne))
		}
		for i := n; i < min(xt.Size, yt.Size); i++ {
			g.emit(asm.LoadMem(asm.R1, asm.R10, bx+int16(i), asm.Byte),
				asm.LoadMem(asm.R2, asm.R10, by+int16(i), asm.Byte),
				asm.JNE.Reg(asm.R1, asm.R2, ne))
		}
		if xt.Size != yt.Size {
			long := bx
			if yt.Size > xt.Size {
				long = by
			}
			g.emit(asm.LoadMem(asm.R1, asm.R10, long+int16(min(xt.Size, yt.Size)), asm.Byte),
				asm.JNE.Imm(asm.R1, 0, ne))
		}
	}
	cc.endStringCompare(e.Op, ne, onFalse, mark)
}

// endStringCompare closes a comparison: equal strings fall through to here,
// which is false for !=.
func (cc *chainCtx) endStringCompare(op, ne, onFalse string, mark int) {
	g := cc.g
	if op == "!=" {
		g.emit(asm.Ja.Label(onFalse))
		g.mark(ne)
	}
	g.release(mark)
}

// genMem evaluates a string-valued expression into dst, which must hold
// the type's Size bytes.
func (cc *chainCtx) genMem(e dsl.Expr, dst mem) {
	g := cc.g
	t := cc.types[e]
	if gv := cc.goValAt(e); gv != nil {
		cc.genGoStringTo(e, gv, t.Size, dst)
		return
	}
	switch e := e.(type) {
	case *dsl.Paren:
		cc.genMem(e.X, dst)
		return
	case *dsl.StringLit, *dsl.Ident:
		if t.Const != nil {
			cc.storeConstString(*t.Const, t.Size, dst)
			return
		}
		if id, ok := e.(*dsl.Ident); ok {
			if l, ok := cc.locals[id.Name]; ok {
				cc.genLocalMem(l, dst)
				return
			}
			if sel, ok := cc.fieldRefs[id]; ok {
				cc.genMem(sel, dst)
				return
			}
			if b, ok := builtinValues[id.Name]; ok {
				b.genMem(cc, dst)
				return
			}
			cc.genMem(cc.prog.values[id.Name], dst)
			return
		}
	case *dsl.Selector:
		if !isArgs(e.X) {
			cc.genBTFString(e, dst)
			return
		}
		a := cc.t.arg(e.Sel)
		g.addr(dst, asm.R1)
		g.movImm(asm.R2, int64(t.Size))
		// A fixed array holds a string up to its first NUL; what follows
		// is stale (keys must not differ by it), so read only that far.
		if a.event {
			cc.eventBase(asm.R3)
			g.emit(asm.Add.Imm(asm.R3, int32(a.off)))
			g.call(asm.FnProbeReadKernelStr)
			return
		}
		if a.dataLoc {
			// The u32 holds the data's offset from the start of the
			// record in its low 16 bits.
			g.emit(asm.LoadMem(asm.R3, regCtx, int16(a.off), asm.Word),
				asm.And.Imm(asm.R3, 0xffff),
				asm.Add.Reg(asm.R3, regCtx))
			g.call(asm.FnProbeReadKernelStr)
			return
		}
		g.emit(asm.Mov.Reg(asm.R3, regCtx), asm.Add.Imm(asm.R3, int32(a.off)))
		if a.bytes {
			g.call(asm.FnProbeReadKernel)
			return
		}
		g.call(asm.FnProbeReadKernelStr)
		return
	case *dsl.Call:
		builtinFuncs[e.Name].genMem(cc, e, dst)
		return
	case *dsl.Index:
		cc.genTableString(e, dst)
		return
	case *dsl.SliceExpr:
		cc.genSliceExpr(e, dst)
		return
	}
	panic(fmt.Sprintf("genMem: %T is not a string", e))
}

// storeConstString writes s, NUL-padded to size bytes, into dst.
func (cc *chainCtx) storeConstString(s string, size int, dst mem) {
	g := cc.g
	b := make([]byte, (size+3)&^3)
	copy(b, s)
	if len(s) >= size {
		b[size-1] = 0
	}
	base, off := g.base(dst, asm.R1)
	for i := 0; i+4 <= len(b) && i < size; i += 4 {
		g.emit(asm.StoreImm(base, off+int16(i), int64(int32(binary.LittleEndian.Uint32(b[i:]))), asm.Word))
	}
}

// maxLiteral bounds string literals: a value lives on the 512-byte BPF
// stack or in a ring buffer record.
const maxLiteral = 1024

// shorten cuts a long literal for a message.
func shorten(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
