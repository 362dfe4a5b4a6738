package compiler

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
)

// Values typed from a traced binary: the parameters and results of a Go
// function (DWARF, or for casts the runtime's type descriptors of a
// stripped binary), or of a C function with DWARF, and everything reached
// from them — struct fields (embedded ones promoted), pointers followed
// (args.req.URL.Path), strings, slices and arrays indexed, len() of
// strings, slices, arrays and maps, interfaces by their dynamic type.
//
// Each such expression has a place (goVal), worked out while checking:
//
//   - in registers: a parameter at a function's entry, a result at a RET;
//     the Go register ABI splits a value into words (pieces), each in its
//     own register, so a field of a struct in registers is a register too;
//   - in user memory: behind a pointer (args.req.Method), in the stack
//     argument area (parameters the ABI passes in memory), or an element
//     of a slice or array. The address is computed where the value is
//     read (genGoAddr), and every read is bpf_probe_read_user into a
//     zeroed slot, so a nil pointer or a bad address reads as zero and the
//     traced program is never touched.
//
// An index out of range reads the zero value, as a nil pointer does: the
// element's address is made 0 before it is read.

// goStrLen is the buffer a Go string is read into unless str(s, n) asks
// for another size: a longer string keeps its first goStrLen-4 bytes and
// ends in "…" (genGoString).
const goStrLen = 128

// ptRegs offsets of the stack pointer and instruction pointer (x86-64
// struct pt_regs).
const (
	ptRegsIP = 128
	ptRegsSP = 152
)

// goLoc says where a typed value is.
type goLoc int

const (
	locRegs goLoc = iota + 1 // in the probe's saved registers
	locMem                   // in user memory
)

// goVia says how a value in memory is addressed.
type goVia int

const (
	viaStack goVia = iota + 1 // the stack argument area: RSP+8+off
	viaPtr                    // the pointer value of base, plus off
	viaPlace                  // base's own address, plus off
	viaIndex                  // element index of base (a slice, string, array or pointer)
)

// regPiece is one register-held word of a value.
type regPiece struct {
	off, size int // within the value's memory layout
	ctx       int // pt_regs offset of the register
}

// goVal is the place of a value typed from the binary.
type goVal struct {
	gt  *gobin.Type
	loc goLoc
	// locRegs: the pieces of the root value, and this value's offset in it.
	regs []regPiece
	off  int // locRegs: offset in the root value; locMem: added to the address
	// locMem: how the address is made.
	via    goVia
	base   dsl.Expr
	index  dsl.Expr
	stride int
	// bound is the element count an index is checked against: -1 for a
	// slice or string (their length word), 0 for a C pointer (unchecked).
	bound int64
	// baseKind is what viaIndex indexes: gobin.GoSlice, GoString (header
	// words), GoArray (base's place) or GoPointer (base's value).
	baseKind gobin.TypeKind
}

// goState is the per-chain state of typed values.
type goState struct {
	vals map[dsl.Expr]*goVal
	// asserts are casts of interfaces, (*T)(x): the runtime type
	// addresses the dynamic type must have.
	asserts map[*dsl.Call][]uint64
}

func (cc *chainCtx) gs() *goState {
	if cc.gostate == nil {
		cc.gostate = &goState{vals: map[dsl.Expr]*goVal{}, asserts: map[*dsl.Call][]uint64{}}
	}
	return cc.gostate
}

func (cc *chainCtx) setGoVal(e dsl.Expr, gv *goVal) { cc.gs().vals[e] = gv }

// goValAt returns the place of e itself (no unwrapping).
func (cc *chainCtx) goValAt(e dsl.Expr) *goVal {
	if cc.gostate == nil {
		return nil
	}
	return cc.gostate.vals[e]
}

// unwrap looks through parentheses and bound values to the expression
// that holds a place.
func (cc *chainCtx) unwrap(e dsl.Expr) dsl.Expr {
	for range 64 {
		switch x := e.(type) {
		case *dsl.Paren:
			e = x.X
			continue
		case *dsl.Ident:
			if _, builtin := builtinValues[x.Name]; !builtin {
				if v, ok := cc.prog.values[x.Name]; ok {
					e = v
					continue
				}
			}
		}
		return e
	}
	return e
}

// goValOf returns the place of e, looking through parentheses and bound
// values; nil when e has none.
func (cc *chainCtx) goValOf(e dsl.Expr) *goVal { return cc.goValAt(cc.unwrap(e)) }

// goTypeName spells a type for messages.
func goTypeName(gt *gobin.Type) string {
	if gt == nil {
		return "void"
	}
	if gt.Name != "" {
		return gt.Name
	}
	switch gt.Kind {
	case gobin.GoPointer:
		if gt.Elem == nil {
			return "void *"
		}
		return "*" + goTypeName(gt.Elem)
	case gobin.GoArray:
		return fmt.Sprintf("[%d]%s", gt.Len, goTypeName(gt.Elem))
	case gobin.GoSlice:
		return "[]" + goTypeName(gt.Elem)
	}
	return gt.Kind.String()
}

// goValueType is the type of a value of gt read from binary bin: numbers
// and bools in a register, pointers (and maps, chans, funcs) as addresses
// shown in hex, strings as text, interfaces as their dynamic type's name;
// structs, arrays and slices are TGo, to select, index or len().
func goValueType(gt *gobin.Type, bin *gobin.Binary) *Type {
	name := goTypeName(gt)
	size := int(gt.Size)
	if size < 1 || size > 8 {
		size = 8
	}
	switch k := gt.Kind; {
	case k == gobin.GoBool:
		return &Type{Kind: TInt, Size: size, CType: name, Show: "bool", gt: gt}
	case k.IsInteger():
		return &Type{Kind: TInt, Size: size, Signed: k.IsSigned(), CType: name, gt: gt}
	case k == gobin.GoPointer || k == gobin.GoUnsafePointer || k == gobin.GoMap || k == gobin.GoChan || k == gobin.GoFunc:
		t := &Type{Kind: TPtr, Size: 8, User: true, Hex: true, CType: name, gt: gt}
		// A C char * is text: print() and str() read it as a string.
		if !bin.IsGo && gt.Elem != nil && gt.Elem.Size == 1 && strings.Contains(gt.Elem.Name, "char") {
			t.Elem = &Type{Kind: TInt, Size: 1, Signed: true, CType: "char"}
		}
		return t
	case k == gobin.GoString:
		return &Type{Kind: TString, Size: goStrLen, CType: name, gt: gt}
	case k == gobin.GoInterface:
		return &Type{Kind: TInt, Size: 8, Show: "gotype", CType: name, gt: gt, binary: bin.Path}
	case k == gobin.GoStruct || k == gobin.GoArray || k == gobin.GoSlice:
		return &Type{Kind: TGo, CType: name, gt: gt}
	}
	return &Type{Kind: TVoid, CType: name, gt: gt}
}

// unreadableKind says why a value of gt cannot be read, "" when it can.
func unreadableKind(what string, gt *gobin.Type) string {
	switch gt.Kind {
	case gobin.GoFloat32, gobin.GoFloat64, gobin.GoComplex64, gobin.GoComplex128:
		return fmt.Sprintf("%s is %s: floating-point values cannot be read yet (read its bits with (*uint64)(p) where p points to it)", what, goTypeName(gt))
	case gobin.GoInvalid:
		return fmt.Sprintf("%s has a type (%s) that the binary does not describe", what, goTypeName(gt))
	}
	return ""
}

// goParamField is the args field (or retval) of a parameter the binary
// describes: its type, and its registers (ctxRegs maps the ABI's register
// numbers to pt_regs offsets) or its stack slot.
func goParamField(b *gobin.Binary, p gobin.Param, ctxRegs []int, what string) *argField {
	a := &argField{name: p.Name, slot: true}
	if p.GoType == nil {
		a.typ = &Type{Kind: TVoid, CType: p.Type}
		a.unreadable = fmt.Sprintf("%s is %s, whose layout %s does not describe", what, p.Type, b.Path)
		return a
	}
	gv := &goVal{gt: p.GoType}
	switch {
	case p.OnStack:
		gv.loc, gv.via, gv.off = locMem, viaStack, p.StackOffset
	case len(p.Pieces) > 0:
		gv.loc = locRegs
		for _, pc := range p.Pieces {
			if !pc.Float && pc.Reg < len(ctxRegs) {
				gv.regs = append(gv.regs, regPiece{off: pc.Offset, size: pc.Size, ctx: ctxRegs[pc.Reg]})
			}
		}
	case len(p.Regs) == 1:
		gv.loc = locRegs
		gv.regs = []regPiece{{off: 0, size: int(p.GoType.Size), ctx: ctxRegs[p.Regs[0]]}}
	default:
		a.typ = &Type{Kind: TVoid, CType: p.Type}
		a.unreadable = fmt.Sprintf("%s is %s, which is not passed in registers or on the stack", what, p.Type)
		return a
	}
	a.gv = gv
	a.typ = goValueType(p.GoType, b)
	a.unreadable = unreadableKind(what, p.GoType)
	return a
}

// goTyped registers gv as e's place and returns e's type; pos is where an
// unreadable value is reported.
func (cc *chainCtx) goTyped(e dsl.Expr, gv *goVal, pos dsl.Pos) (*Type, error) {
	if msg := unreadableKind(dsl.ExprString(e), gv.gt); msg != "" {
		return nil, dsl.Errorf(pos, "%s", msg)
	}
	if gv.loc == locRegs {
		// Every word the value is read by must be in a register.
		for _, w := range goWordsOf(gv.gt) {
			if gv.piece(w) == nil {
				return nil, dsl.Errorf(pos, "%s is %s, whose word at offset %d is not in an integer register", dsl.ExprString(e), goTypeName(gv.gt), gv.off+w)
			}
		}
	}
	cc.setGoVal(e, gv)
	return goValueType(gv.gt, cc.t.bin), nil
}

// goWordsOf lists the offsets of the words a value of gt is read by.
func goWordsOf(gt *gobin.Type) []int {
	switch gt.Kind {
	case gobin.GoString, gobin.GoInterface:
		return []int{0, 8}
	case gobin.GoSlice:
		return []int{0, 8, 16}
	case gobin.GoStruct, gobin.GoArray:
		return nil // read through its fields or elements
	}
	return []int{0}
}

// piece returns the register holding the word at off of the value.
func (gv *goVal) piece(off int) *regPiece {
	for i := range gv.regs {
		if gv.regs[i].off == gv.off+off {
			return &gv.regs[i]
		}
	}
	return nil
}

// goField finds a field of struct st by name, also promoted from
// embedded structs (not through embedded pointers), breadth first as Go
// does; off is its offset in st.
func goField(st *gobin.Type, name string) (off int64, ft *gobin.Type, ok bool) {
	type level struct {
		t   *gobin.Type
		off int64
	}
	cur := []level{{st, 0}}
	for depth := 0; depth < 8 && len(cur) > 0; depth++ {
		var next []level
		for _, l := range cur {
			for _, f := range l.t.Fields {
				if f.Name == name {
					return l.off + f.Offset, f.Type, true
				}
				if f.Embedded && f.Type != nil && f.Type.Kind == gobin.GoStruct {
					next = append(next, level{f.Type, l.off + f.Offset})
				}
			}
		}
		cur = next
	}
	return 0, nil, false
}

// goFieldNames lists the field names of st, promoted ones included.
func goFieldNames(st *gobin.Type) []string {
	seen := map[string]bool{}
	var out []string
	cur := []*gobin.Type{st}
	for depth := 0; depth < 8 && len(cur) > 0; depth++ {
		var next []*gobin.Type
		for _, t := range cur {
			for _, f := range t.Fields {
				if !seen[f.Name] {
					seen[f.Name] = true
					out = append(out, f.Name)
				}
				if f.Embedded && f.Type != nil && f.Type.Kind == gobin.GoStruct {
					next = append(next, f.Type)
				}
			}
		}
		cur = next
	}
	return out
}

// checkGoSelector types x.f where x is a typed struct or a pointer to one.
func (cc *chainCtx) checkGoSelector(e *dsl.Selector, xt *Type) (*Type, error) {
	gt := xt.gt
	st, deref := gt, false
	if gt.Kind == gobin.GoPointer && gt.Elem != nil {
		st, deref = gt.Elem, true
	}
	if st.Kind != gobin.GoStruct {
		err := dsl.Errorf(e.SelPos, "%s has no field %s: it is %s", dsl.ExprString(e.X), e.Sel, goTypeName(gt))
		switch {
		case gt.Kind == gobin.GoInterface:
			err.Hint = fmt.Sprintf("%s prints the name of the type it holds; read the value as that type: (*T)(%s).%s", dsl.ExprString(e.X), dsl.ExprString(e.X), e.Sel)
		case gt.Kind == gobin.GoPointer && gt.Elem != nil && gt.Elem.Kind == gobin.GoPointer:
			err.Hint = fmt.Sprintf("follow the pointer first: (*%s).%s", dsl.ExprString(e.X), e.Sel)
		}
		return nil, err
	}
	off, ft, ok := goField(st, e.Sel)
	if !ok || ft == nil {
		err := dsl.Errorf(e.SelPos, "%s has no field %s", goTypeName(st), e.Sel)
		err.Hint = dsl.DidYouMean(e.Sel, goFieldNames(st))
		if err.Hint == "" {
			names := goFieldNames(st)
			if len(names) > 12 {
				names = append(names[:12], "…")
			}
			err.Hint = "its fields: " + strings.Join(names, ", ")
		}
		return nil, err
	}
	if deref {
		return cc.goTyped(e, &goVal{gt: ft, loc: locMem, via: viaPtr, base: e.X, off: int(off)}, e.SelPos)
	}
	xv := cc.goValOf(e.X)
	if xv == nil {
		return nil, dsl.Errorf(e.SelPos, "%s is a %s value computed here, not one read from the program: select fields of a value or pointer the program holds", dsl.ExprString(e.X), goTypeName(gt))
	}
	if xv.loc == locRegs {
		return cc.goTyped(e, &goVal{gt: ft, loc: locRegs, regs: xv.regs, off: xv.off + int(off)}, e.SelPos)
	}
	return cc.goTyped(e, &goVal{gt: ft, loc: locMem, via: viaPlace, base: e.X, off: int(off)}, e.SelPos)
}

// uint8Type is a string's element.
var uint8Type = &gobin.Type{Name: "uint8", Kind: gobin.GoUint8, Size: 1}

// checkGoIndex types x[i] on a typed slice, string, array, pointer to an
// array, or (C) pointer.
func (cc *chainCtx) checkGoIndex(e *dsl.Index, xt *Type) (*Type, error) {
	it, err := cc.typeOf(e.Index)
	if err != nil {
		return nil, err
	}
	if it.Kind != TInt && it.Kind != TPtr {
		return nil, dsl.Errorf(e.Index.Position(), "an index must be a number, not %s", it)
	}
	lit, isConst := e.Index.(*dsl.IntLit)
	gt := xt.gt
	pos := e.Index.Position()
	switch {
	case gt.Kind == gobin.GoSlice && gt.Elem != nil:
		return cc.goTyped(e, &goVal{gt: gt.Elem, loc: locMem, via: viaIndex, base: e.X, index: e.Index, stride: int(gt.Elem.Size), bound: -1, baseKind: gobin.GoSlice}, pos)
	case gt.Kind == gobin.GoString && xt.Kind == TString:
		if cc.goValOf(e.X) == nil {
			break
		}
		return cc.goTyped(e, &goVal{gt: uint8Type, loc: locMem, via: viaIndex, base: e.X, index: e.Index, stride: 1, bound: -1, baseKind: gobin.GoString}, pos)
	case gt.Kind == gobin.GoArray && gt.Elem != nil:
		if isConst && lit.Value >= uint64(gt.Len) {
			return nil, dsl.Errorf(pos, "index %d is out of range: %s has %d elements", lit.Value, dsl.ExprString(e.X), gt.Len)
		}
		xv := cc.goValOf(e.X)
		if xv == nil {
			break
		}
		stride := int(gt.Elem.Size)
		switch {
		case isConst && xv.loc == locRegs:
			return cc.goTyped(e, &goVal{gt: gt.Elem, loc: locRegs, regs: xv.regs, off: xv.off + int(lit.Value)*stride}, pos)
		case isConst:
			return cc.goTyped(e, &goVal{gt: gt.Elem, loc: locMem, via: viaPlace, base: e.X, off: int(lit.Value) * stride}, pos)
		case xv.loc == locRegs:
			return nil, dsl.Errorf(pos, "%s is held in registers: index it with a constant", dsl.ExprString(e.X))
		}
		return cc.goTyped(e, &goVal{gt: gt.Elem, loc: locMem, via: viaIndex, base: e.X, index: e.Index, stride: stride, bound: gt.Len, baseKind: gobin.GoArray}, pos)
	case gt.Kind == gobin.GoPointer && gt.Elem != nil && gt.Elem.Kind == gobin.GoArray && gt.Elem.Elem != nil:
		a := gt.Elem
		if isConst && lit.Value >= uint64(a.Len) {
			return nil, dsl.Errorf(pos, "index %d is out of range: %s points to %d elements", lit.Value, dsl.ExprString(e.X), a.Len)
		}
		return cc.goTyped(e, &goVal{gt: a.Elem, loc: locMem, via: viaIndex, base: e.X, index: e.Index, stride: int(a.Elem.Size), bound: a.Len, baseKind: gobin.GoPointer}, pos)
	case gt.Kind == gobin.GoPointer && gt.Elem != nil && cc.t.bin != nil && !cc.t.bin.IsGo:
		// C: p[i] is *(p + i), unchecked.
		return cc.goTyped(e, &goVal{gt: gt.Elem, loc: locMem, via: viaIndex, base: e.X, index: e.Index, stride: int(gt.Elem.Size), baseKind: gobin.GoPointer}, pos)
	case gt.Kind == gobin.GoMap:
		return nil, dsl.Errorf(e.Index.Position(), "reading a map's entries is not supported; len(%s) is", dsl.ExprString(e.X))
	}
	return nil, dsl.Errorf(e.Index.Position(), "%s is %s, which cannot be indexed", dsl.ExprString(e.X), goTypeName(gt))
}

// checkDeref types *p: a typed pointer's target, or, on a user probe, the
// uint64 an untyped address (arg3) points to.
func (cc *chainCtx) checkDeref(e *dsl.Unary, t *Type) (*Type, error) {
	switch {
	case t.gt != nil && t.gt.Kind == gobin.GoPointer && t.gt.Elem != nil:
		return cc.goTyped(e, &goVal{gt: t.gt.Elem, loc: locMem, via: viaPtr, base: e.X}, e.Pos)
	case t.gt != nil:
		return nil, dsl.Errorf(e.Pos, "cannot follow %s: it is %s, not a pointer to a known type", dsl.ExprString(e.X), goTypeName(t.gt))
	case cc.t.bin != nil && (t.Kind == TInt || t.Kind == TPtr) && t.btf == nil && t.Show == "":
		return cc.goTyped(e, &goVal{gt: uint64Type, loc: locMem, via: viaPtr, base: e.X}, e.Pos)
	case t.btf != nil:
		return nil, dsl.Errorf(e.Pos, "kernel pointers are followed by selecting a field: %s.field", dsl.ExprString(e.X))
	}
	return nil, dsl.Errorf(e.Pos, "cannot follow %s (%s): * reads user memory on user probes; elsewhere name a kernel type: (*T)(p)", dsl.ExprString(e.X), t)
}

var uint64Type = &gobin.Type{Name: "uint64", Kind: gobin.GoUint64, Size: 8}

// castName returns the type a cast (*T)(p) names, "*T", when e is one.
// A Go type's package path reads as division and selectors
// ((*net/http.Request)(p) parses as (*net / http.Request)), so the name
// is the text of the expression between the parentheses.
func castName(e *dsl.Call) (string, bool) {
	p, ok := e.Fun.(*dsl.Paren)
	if !ok {
		return "", false
	}
	name, ok := typeText(p.X)
	if !ok || !strings.HasPrefix(name, "*") || len(name) < 2 {
		return "", false
	}
	return name, true
}

// typeText spells a type name written as an expression: identifiers,
// selectors, '/' and '-' of package paths, '*' of pointers.
func typeText(e dsl.Expr) (string, bool) {
	switch e := e.(type) {
	case *dsl.Ident:
		return e.Name, true
	case *dsl.Selector:
		x, ok := typeText(e.X)
		return x + "." + e.Sel, ok
	case *dsl.Unary:
		if e.Op != "*" {
			return "", false
		}
		x, ok := typeText(e.X)
		return "*" + x, ok
	case *dsl.Binary:
		if e.Op != "/" && e.Op != "-" {
			return "", false
		}
		x, ok1 := typeText(e.X)
		y, ok2 := typeText(e.Y)
		return x + e.Op + y, ok1 && ok2
	case *dsl.IntLit:
		// a path element such as "v2" lexes as a name, but "2" alone is a number
		return e.Text, e.Text != ""
	}
	return "", false
}

// typeNamePos is where the name of a cast's type starts, after its '*'.
func typeNamePos(e dsl.Expr) dsl.Pos {
	for range 64 {
		switch x := e.(type) {
		case *dsl.Binary:
			e = x.X
			continue
		case *dsl.Unary:
			return x.X.Position()
		}
		break
	}
	return e.Position()
}

// checkAnyCast types (*T)(p): T a type of the traced binary (Go, or C
// with DWARF) on a user probe, else a kernel type from BTF. Applied to a
// Go interface value, (*T)(x) is the type assertion x.(*T): the value it
// holds when its dynamic type is *T (or T, stored behind the pointer),
// nil otherwise.
func (cc *chainCtx) checkAnyCast(e *dsl.Call, name string) (*Type, error) {
	namePos := typeNamePos(e.Fun.(*dsl.Paren).X)
	elem := name[1:]
	if len(e.Args) != 1 {
		return nil, dsl.Errorf(e.Pos, "a cast takes one value: (%s)(p)", name)
	}
	at, err := cc.typeOf(e.Args[0])
	if err != nil {
		return nil, err
	}
	if !at.isScalar() || at.Kind == TStack {
		return nil, dsl.Errorf(e.Args[0].Position(), "cannot cast %s to a pointer", at)
	}
	goish := strings.ContainsAny(elem, "./*[")
	if cc.t.bin == nil {
		if goish {
			return nil, dsl.Errorf(namePos, "%s names a type of a program: such casts work on uprobe and uretprobe probes of the binary that has it, not on %s", elem, cc.t.name)
		}
		return cc.checkCast(e, elem, namePos)
	}
	gt, gerr := cc.t.bin.TypeByName(elem)
	if gerr == nil {
		return cc.goCast(e, name, gt, at, namePos)
	}
	var nf *gobin.NotFoundError
	if !goish && (errors.As(gerr, &nf) || errors.Is(gerr, gobin.ErrNoDWARF) || !cc.t.bin.IsGo) {
		// Not a type of the binary: a kernel type, (*task_struct)(p).
		return cc.checkCast(e, elem, namePos)
	}
	err2 := dsl.Errorf(namePos, "%s has no type %s", cc.t.bin.Path, elem)
	switch {
	case errors.As(gerr, &nf):
		if len(nf.Nearest) > 0 {
			err2.Hint = "did you mean " + strings.Join(nf.Nearest, ", ") + "?"
		}
	case errors.Is(gerr, gobin.ErrNoDWARF):
		err2.Msg = fmt.Sprintf("%s has no DWARF and no runtime type descriptor for %s", cc.t.bin.Path, elem)
		err2.Hint = "a stripped binary keeps the types it converts to interfaces and those they refer to; without them read raw words: arg0…arg8, *(p) for a uint64 in memory, gostr(ptr, len) for a string"
		err2.Detail = gerr.Error()
	default:
		err2.Detail = gerr.Error()
	}
	return nil, err2
}

// goCast types (*T)(p) for a type gt of the binary.
func (cc *chainCtx) goCast(e *dsl.Call, name string, gt *gobin.Type, at *Type, namePos dsl.Pos) (*Type, error) {
	b := cc.t.bin
	pt, err := b.TypeByName(name)
	if err != nil || pt == nil || pt.Kind != gobin.GoPointer {
		pt = &gobin.Type{Name: "*" + gt.Name, Kind: gobin.GoPointer, Size: 8, Elem: gt}
	}
	if at.gt != nil && at.gt.Kind == gobin.GoInterface {
		// A type assertion: the dynamic type must be *T, or T when T is
		// stored behind the interface's data pointer.
		var addrs []uint64
		if pt.RuntimeAddr != 0 {
			addrs = append(addrs, pt.RuntimeAddr)
		}
		if gt.RuntimeAddr != 0 && !gt.DirectIface() {
			addrs = append(addrs, gt.RuntimeAddr)
		}
		if len(addrs) == 0 {
			return nil, dsl.Errorf(namePos, "cannot tell whether %s holds a %s: %s has no runtime type descriptor for it", dsl.ExprString(e.Args[0]), name, b.Path)
		}
		if cc.goValOf(e.Args[0]) == nil {
			return nil, dsl.Errorf(e.Args[0].Position(), "%s is not a value the program holds", dsl.ExprString(e.Args[0]))
		}
		cc.gs().asserts[e] = addrs
	}
	return goValueType(pt, b), nil
}

// genCast evaluates (*T)(p): p itself, or for an interface the value it
// holds when its dynamic type is the asserted one, else 0.
func (cc *chainCtx) genCast(e *dsl.Call) val {
	addrs := cc.gs().asserts[e]
	if len(addrs) == 0 {
		return cc.genScalar(e.Args[0])
	}
	g := cc.g
	x := e.Args[0]
	dyn := cc.genScalar(x) // the dynamic type's address in the file
	ws := cc.goWords(x, 2)
	g.freeVal(ws[0])
	data := ws[1]
	keep := g.newLabel("assertok")
	rd := g.load(dyn, asm.R1)
	for _, a := range addrs {
		g.movImm(asm.R2, int64(a))
		g.emit(asm.JEq.Reg(rd, asm.R2, keep))
	}
	g.emit(asm.Mov.Imm(asm.R0, 0))
	g.store(data, asm.R0)
	g.mark(keep)
	g.emit(asm.Mov.Reg(asm.R0, asm.R0)) // the label needs an instruction
	r := g.load(data, asm.R0)
	g.store(dyn, r)
	g.freeVal(data)
	return dyn
}

// genGoAddr computes the address of a value in user memory: a value
// holding the address, and a constant to add to it.
func (cc *chainCtx) genGoAddr(e dsl.Expr) (val, int) {
	g := cc.g
	e = cc.unwrap(e)
	gv := cc.goValAt(e)
	switch gv.via {
	case viaStack:
		v := g.newVal()
		g.emit(asm.LoadMem(asm.R0, regCtx, ptRegsSP, asm.DWord), asm.Add.Imm(asm.R0, 8))
		g.store(v, asm.R0)
		return v, gv.off
	case viaPtr:
		return cc.genScalar(gv.base), gv.off
	case viaPlace:
		v, off := cc.genGoAddr(gv.base)
		return v, off + gv.off
	}
	// viaIndex: the element's address, or 0 when the index is out of range.
	var a val
	var n val // the length, for slices and strings
	haveLen := false
	switch gv.baseKind {
	case gobin.GoSlice, gobin.GoString:
		ws := cc.goWords(gv.base, 2)
		a, n, haveLen = ws[0], ws[1], true
	case gobin.GoArray:
		v, off := cc.genGoAddr(gv.base)
		if off != 0 {
			r := g.load(v, asm.R0)
			g.emit(asm.Add.Imm(r, int32(off)))
			g.store(v, r)
		}
		a = v
	default:
		a = cc.genScalar(gv.base)
	}
	i := cc.genScalar(gv.index)
	g.at(gv.index.Position(), dsl.ExprString(gv.index))
	ri := g.load(i, asm.R2)
	oob := g.newLabel("oob")
	done := g.newLabel("index")
	switch {
	case haveLen:
		rn := g.load(n, asm.R3)
		g.emit(asm.JGE.Reg(ri, rn, oob))
	case gv.bound > 0:
		g.movImm(asm.R3, gv.bound)
		g.emit(asm.JGE.Reg(ri, asm.R3, oob))
	}
	ra := g.load(a, asm.R1)
	if ri != asm.R2 {
		g.emit(asm.Mov.Reg(asm.R2, ri))
	}
	if gv.stride != 1 {
		g.movImm(asm.R3, int64(gv.stride))
		g.emit(asm.Mul.Reg(asm.R2, asm.R3))
	}
	g.emit(asm.Add.Reg(ra, asm.R2))
	g.store(a, ra)
	g.emit(asm.Ja.Label(done))
	g.mark(oob)
	g.emit(asm.Mov.Imm(asm.R0, 0))
	g.store(a, asm.R0)
	g.mark(done)
	g.emit(asm.Mov.Reg(asm.R0, asm.R0))
	g.freeVal(i)
	if haveLen {
		g.freeVal(n)
	}
	return a, gv.off
}

// goWords reads the first n 8-byte words of e's value into new vals.
func (cc *chainCtx) goWords(e dsl.Expr, n int) []val {
	g := cc.g
	e = cc.unwrap(e)
	gv := cc.goValAt(e)
	out := make([]val, n)
	if gv.loc == locRegs {
		for i := range out {
			out[i] = g.newVal()
			if p := gv.piece(8 * i); p != nil {
				g.emit(asm.LoadMem(asm.R0, regCtx, int16(p.ctx), asm.DWord))
			} else {
				g.emit(asm.Mov.Imm(asm.R0, 0))
			}
			g.store(out[i], asm.R0)
		}
		return out
	}
	a, off := cc.genGoAddr(e)
	mark := g.stackMark()
	tmp := g.alloc(8 * n)
	g.zero(tmp, 8*n)
	g.loadInto(a, asm.R3)
	g.freeVal(a)
	if off != 0 {
		g.emit(asm.Add.Imm(asm.R3, int32(off)))
	}
	g.stackPtr(asm.R1, tmp)
	g.emit(asm.Mov.Imm(asm.R2, int32(8*n)))
	g.call(asm.FnProbeReadUser)
	for i := range out {
		out[i] = g.newVal()
		g.emit(asm.LoadMem(asm.R0, asm.R10, tmp+int16(8*i), asm.DWord))
		g.store(out[i], asm.R0)
	}
	g.release(mark)
	return out
}

// genGoScalar reads a scalar typed value: a number, bool or pointer from
// its register or memory, or an interface's dynamic type.
func (cc *chainCtx) genGoScalar(e dsl.Expr, gv *goVal) val {
	g := cc.g
	if gv.gt.Kind == gobin.GoInterface {
		return cc.genDynType(e, gv)
	}
	t := cc.types[e]
	size := int(gv.gt.Size)
	if size < 1 || size > 8 {
		size = 8
	}
	v := g.newVal()
	if gv.loc == locRegs {
		if p := gv.piece(0); p != nil {
			g.emit(asm.LoadMem(asm.R0, regCtx, int16(p.ctx), asm.DWord))
		} else {
			g.emit(asm.Mov.Imm(asm.R0, 0))
		}
		// The ABI leaves the bits above a small value undefined.
		if size < 8 {
			sh := int32(64 - 8*size)
			g.emit(asm.LSh.Imm(asm.R0, sh))
			if t.Signed {
				g.emit(asm.ArSh.Imm(asm.R0, sh))
			} else {
				g.emit(asm.RSh.Imm(asm.R0, sh))
			}
		}
		g.store(v, asm.R0)
		return v
	}
	a, off := cc.genGoAddr(e)
	mark := g.stackMark()
	tmp := g.alloc(8)
	g.emit(storeDW(asm.R10, tmp, 0))
	g.loadInto(a, asm.R3)
	g.freeVal(a)
	if off != 0 {
		g.emit(asm.Add.Imm(asm.R3, int32(off)))
	}
	g.stackPtr(asm.R1, tmp)
	g.emit(asm.Mov.Imm(asm.R2, int32(size)))
	g.call(asm.FnProbeReadUser)
	g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, asm.DWord))
	g.release(mark)
	if t.Signed && size < 8 {
		sh := int32(64 - 8*size)
		g.emit(asm.LSh.Imm(asm.R0, sh), asm.ArSh.Imm(asm.R0, sh))
	}
	g.store(v, asm.R0)
	return v
}

// genDynType evaluates an interface to the address, in the binary's
// file, of its dynamic type's runtime descriptor (0 for nil), which the
// runtime names: the type word itself for an empty interface, the itab's
// type for others, less the load bias of a PIE.
func (cc *chainCtx) genDynType(e dsl.Expr, gv *goVal) val {
	g := cc.g
	ws := cc.goWords(e, 1)
	v := ws[0]
	done := g.newLabel("dyntype")
	r := g.load(v, asm.R0)
	g.emit(asm.JEq.Imm(r, 0, done))
	if !gv.gt.EmptyInterface {
		lay, err := cc.t.bin.InterfaceLayout()
		itabType := lay.ItabType
		if err != nil || itabType == 0 {
			itabType = 8
		}
		mark := g.stackMark()
		tmp := g.alloc(8)
		g.emit(storeDW(asm.R10, tmp, 0))
		g.loadInto(v, asm.R3)
		g.emit(asm.Add.Imm(asm.R3, int32(itabType)))
		g.stackPtr(asm.R1, tmp)
		g.emit(asm.Mov.Imm(asm.R2, 8))
		g.call(asm.FnProbeReadUser)
		g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, asm.DWord))
		g.store(v, asm.R0)
		g.release(mark)
		g.emit(asm.JEq.Imm(asm.R0, 0, done))
	}
	if cc.t.bin.PIE {
		cc.genBias()
		r := g.load(v, asm.R1)
		g.emit(asm.Sub.Reg(r, asm.R0))
		g.store(v, r)
	}
	g.mark(done)
	g.emit(asm.Mov.Reg(asm.R0, asm.R0))
	return v
}

// genBias puts the load bias of the probed binary (where a PIE was
// mapped) into R0: the probed instruction's address in the process (the
// saved IP, which may be one past it) less its address in the file, to
// the page. A probe attached at several offsets (a Go function's RETs)
// gets each one's file address as its BPF cookie.
func (cc *chainCtx) genBias() {
	g := cc.g
	t := cc.t
	if len(t.vaddrs) == 1 {
		g.emit(asm.LoadMem(asm.R0, regCtx, ptRegsIP, asm.DWord))
		g.movImm(asm.R1, int64(t.vaddrs[0]))
		g.emit(asm.Sub.Reg(asm.R0, asm.R1))
	} else {
		t.attach.Cookies = t.vaddrs
		g.emit(asm.Mov.Reg(asm.R1, regCtx))
		g.call(asm.FnGetAttachCookie)
		g.emit(asm.LoadMem(asm.R1, regCtx, ptRegsIP, asm.DWord), asm.Sub.Reg(asm.R1, asm.R0), asm.Mov.Reg(asm.R0, asm.R1))
	}
	g.emit(asm.And.Imm(asm.R0, -4096))
}

// genGoStringTo reads a Go string's text into size bytes at dst.
func (cc *chainCtx) genGoStringTo(e dsl.Expr, gv *goVal, size int, dst mem) {
	g := cc.g
	mark := g.stackMark()
	ws := cc.goWords(e, 2)
	cc.genGoString(func(r asm.Register) { g.loadInto(ws[0], r) }, func(r asm.Register) { g.loadInto(ws[1], r) }, size, dst)
	g.freeVal(ws[1])
	g.freeVal(ws[0])
	g.release(mark)
}

func init() {
	builtinFuncs["len"] = &builtinFunc{
		name: "len", usage: "len(x)", doc: "the length of a Go string, slice, array or map, or of a string constant",
		minArgs: 1, maxArgs: 1,
		typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) {
			x := e.Args[0]
			t := cc.types[x]
			switch {
			case t.Const != nil, t.Kind == TTable:
				return tInt64, nil
			case t.gt != nil && t.gt.Kind == gobin.GoArray:
				return tInt64, nil
			case t.gt != nil && (t.gt.Kind == gobin.GoString || t.gt.Kind == gobin.GoSlice) && cc.goValOf(x) != nil:
				return tInt64, nil
			case t.gt != nil && t.gt.Kind == gobin.GoMap:
				if _, err := cc.t.bin.MapLayout(); err != nil {
					return nil, dsl.Errorf(x.Position(), "len of a map: %v", err)
				}
				return tInt64, nil
			}
			return nil, dsl.Errorf(x.Position(), "len takes a Go string, slice, array or map, not %s", t)
		},
		gen: genLen,
	}
	for _, c := range []struct {
		name   string
		size   int
		signed bool
	}{
		{"int8", 1, true}, {"int16", 2, true}, {"int32", 4, true}, {"int64", 8, true}, {"int", 8, true}, {"rune", 4, true},
		{"uint8", 1, false}, {"uint16", 2, false}, {"uint32", 4, false}, {"uint64", 8, false}, {"uint", 8, false},
		{"uintptr", 8, false}, {"byte", 1, false},
	} {
		builtinFuncs[c.name] = convFunc(c.name, c.size, c.signed)
	}
}

func genLen(cc *chainCtx, e *dsl.Call) val {
	g := cc.g
	x := e.Args[0]
	t := cc.types[x]
	switch {
	case t.Const != nil:
		v := g.newVal()
		g.movImm(asm.R0, int64(len(*t.Const)))
		g.store(v, asm.R0)
		return v
	case t.Kind == TTable:
		v := g.newVal()
		g.movImm(asm.R0, int64(tableLen(t)))
		g.store(v, asm.R0)
		return v
	case t.gt.Kind == gobin.GoArray:
		v := g.newVal()
		g.movImm(asm.R0, t.gt.Len)
		g.store(v, asm.R0)
		return v
	case t.gt.Kind == gobin.GoMap:
		// A map is a pointer to the runtime's header, whose count word
		// is its length; nil has length 0.
		lay, _ := cc.t.bin.MapLayout()
		m := cc.genScalar(x)
		g.at(e.Pos, dsl.ExprString(e))
		done := g.newLabel("maplen")
		r := g.load(m, asm.R0)
		g.emit(asm.JEq.Imm(r, 0, done))
		mark := g.stackMark()
		tmp := cc.readUser(m, lay.CountOffset, min(max(lay.CountSize, 1), 8))
		g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, asm.DWord))
		g.store(m, asm.R0)
		g.release(mark)
		g.mark(done)
		g.emit(asm.Mov.Reg(asm.R0, asm.R0))
		return m
	}
	ws := cc.goWords(x, 2)
	g.freeVal(ws[0])
	return ws[1]
}

// readUser copies size (≤ 8) bytes of user memory at v+off into a new
// zeroed 8-byte stack slot and returns it; the caller releases it.
func (cc *chainCtx) readUser(v val, off, size int) int16 {
	g := cc.g
	tmp := g.alloc(8)
	g.emit(storeDW(asm.R10, tmp, 0))
	g.loadInto(v, asm.R3)
	if off != 0 {
		g.emit(asm.Add.Imm(asm.R3, int32(off)))
	}
	g.stackPtr(asm.R1, tmp)
	g.emit(asm.Mov.Imm(asm.R2, int32(size)))
	g.call(asm.FnProbeReadUser)
	return tmp
}

// convFunc is a Go conversion, int32(x), uint8(x)…: x truncated to size
// bytes and sign- or zero-extended back, so a C function's int result
// that came back as 4294967196 reads as int32(retval) = -100.
func convFunc(name string, size int, signed bool) *builtinFunc {
	return &builtinFunc{
		name: name, usage: name + "(x)", doc: fmt.Sprintf("x converted to %s (truncated, then %s-extended), as in Go", name, map[bool]string{true: "sign", false: "zero"}[signed]),
		minArgs: 1, maxArgs: 1,
		typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) {
			t := cc.types[e.Args[0]]
			if t.Kind != TInt && t.Kind != TPtr || t.Show == "gotype" {
				return nil, dsl.Errorf(e.Args[0].Position(), "%s takes a number, not %s", name, t)
			}
			return &Type{Kind: TInt, Size: size, Signed: signed, CType: name}, nil
		},
		gen: func(cc *chainCtx, e *dsl.Call) val {
			g := cc.g
			v := cc.genScalar(e.Args[0])
			if size == 8 {
				return v
			}
			g.at(e.Pos, dsl.ExprString(e))
			r := g.load(v, asm.R0)
			sh := int32(64 - 8*size)
			g.emit(asm.LSh.Imm(r, sh))
			if signed {
				g.emit(asm.ArSh.Imm(r, sh))
			} else {
				g.emit(asm.RSh.Imm(r, sh))
			}
			g.store(v, r)
			return v
		},
	}
}
