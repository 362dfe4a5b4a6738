package gobin

import (
	"debug/dwarf"
	"fmt"
	"slices"

	"github.com/ebpftrace/ebpftrace/internal/match"
)

// ParamKind classifies a parameter's Go type for a tracer that reads it.
type ParamKind int

// Parameter kinds. Map, chan, func and unsafe.Pointer values are one
// pointer word and count as KindPointer.
const (
	KindOther     ParamKind = iota // structs, arrays, complex numbers
	KindInt                        // int, int8 … int64
	KindUint                       // uint, uint8 … uint64, uintptr
	KindPointer                    // *T, unsafe.Pointer, map, chan, func
	KindString                     // string: ptr, len
	KindBool                       // bool
	KindFloat                      // float32, float64 (floating-point registers)
	KindSlice                      // []T: ptr, len, cap
	KindInterface                  // interface: itab (or type), data
)

var kindNames = [...]string{"other", "int", "uint", "pointer", "string", "bool", "float", "slice", "interface"}

func (k ParamKind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("ParamKind(%d)", int(k))
}

// IntRegs is the amd64 Go internal ABI (ABIInternal) integer argument and
// result register sequence; Param.Regs index into it.
var IntRegs = [...]string{"rax", "rbx", "rcx", "rdi", "rsi", "r8", "r9", "r10", "r11"}

// NumFloatRegs is the number of amd64 floating-point argument registers,
// X0–X14; Param.FloatRegs index into them.
const NumFloatRegs = 15

// Param is a parameter or result of a Go function and where the amd64 Go
// internal ABI passes it (cmd/compile/abi-internal.md).
type Param struct {
	// Name is the DWARF name: the source name, "~p0"-style for unnamed
	// parameters, "~r0"-style for unnamed results.
	Name string
	// Type is the Go type as DWARF spells it, e.g. "string", "*main.T",
	// "[]uint8", "error".
	Type string
	// Kind classifies Type.
	Kind ParamKind
	// GoType is the parameter's type as a graph (struct fields, pointer
	// elements…), from which the compiler types args.req.URL.Path.
	GoType *Type
	// Size is the type's size in bytes.
	Size int
	// Regs are the integer registers holding the value, indexes into
	// IntRegs (0 = RAX … 8 = R11), one per integer word in memory order: a
	// string takes two (ptr, len), a slice three, an interface two, a
	// struct one per integer field. Nil when the value is on the stack.
	Regs []int
	// FloatRegs are the floating-point registers (0 = X0 …) holding the
	// value's floating-point words.
	FloatRegs []int
	// Pieces maps each register-held word to its place in the value's
	// memory layout, in memory order; it interleaves Regs and FloatRegs.
	Pieces []Piece
	// OnStack reports that the value is passed in memory: it contains an
	// array of more than one element, or does not fit in the registers
	// left, or has size zero.
	OnStack bool
	// StackOffset is, when OnStack, the value's offset in the stack
	// argument area, which starts just above the return address: at a
	// function's entry (and at its RET instructions) the value is at
	// RSP + 8 + StackOffset.
	StackOffset int
}

// Piece is one register-held base value of a Param.
type Piece struct {
	// Offset and Size locate the value within the parameter's memory
	// layout.
	Offset, Size int
	// Reg is an index into IntRegs or, when Float, a floating-point
	// register number.
	Reg   int
	Float bool
}

// RegNames returns the names of the integer registers holding p, e.g.
// ["rax", "rbx"] for a string in the first two.
func (p Param) RegNames() []string {
	out := make([]string, len(p.Regs))
	for i, r := range p.Regs {
		out[i] = IntRegs[r]
	}
	return out
}

// Params returns the receiver (first, for a method) and the parameters of
// the Go function fn, e.g. "main.greet" or "net/http.(*Transport).roundTrip",
// with the registers or stack slot the amd64 Go ABI assigns them at the
// function's entry. It needs DWARF (errors wrap ErrNoDWARF otherwise).
// Assembly functions (ABI0) pass everything on the stack and are not
// described by DWARF parameters.
func (b *Binary) Params(fn string) ([]Param, error) {
	params, _, err := b.signature(fn)
	return params, err
}

// Results returns the results of the Go function fn, with the registers
// (assigned again from RAX and X0) or stack slots that hold them at the
// function's RET instructions.
func (b *Binary) Results(fn string) ([]Param, error) {
	_, results, err := b.signature(fn)
	return results, err
}

// rawParam is a formal parameter read from DWARF.
type rawParam struct {
	name   string
	typ    *typeInfo
	result bool
}

// signature reads fn's formal parameters from DWARF and assigns them.
func (b *Binary) signature(fn string) (params, results []Param, err error) {
	if !b.IsGo {
		return nil, nil, fmt.Errorf("gobin: %s: parameters of %s: not a Go binary (only the Go ABI is modelled)", b.Path, fn)
	}
	dc, err := b.dwarfData()
	if err != nil {
		return nil, nil, fmt.Errorf("gobin: %s: parameters of %s: %w", b.Path, fn, err)
	}
	fe, ok := dc.funcs[fn]
	if !ok {
		names := make([]string, 0, len(dc.funcs))
		for n := range dc.funcs {
			names = append(names, n)
		}
		return nil, nil, &NotFoundError{Binary: b.Path, What: "function in DWARF", Name: fn, Nearest: match.Nearest(fn, names, maxNearest)}
	}
	raws, err := dc.formalParams(fe)
	if err != nil {
		return nil, nil, fmt.Errorf("gobin: %s: parameters of %s: %w", b.Path, fn, err)
	}
	var ins, outs []rawParam
	for _, p := range raws {
		if p.result {
			outs = append(outs, p)
		} else {
			ins = append(ins, p)
		}
	}
	a := &abiAssigner{dc: dc}
	params, err = a.assignAll(ins)
	if err != nil {
		return nil, nil, fmt.Errorf("gobin: %s: parameters of %s: %w", b.Path, fn, err)
	}
	a.stack = alignUp(a.stack, 8)
	a.nextInt, a.nextFloat = 0, 0
	results, err = a.assignAll(outs)
	if err != nil {
		return nil, nil, fmt.Errorf("gobin: %s: results of %s: %w", b.Path, fn, err)
	}
	return params, results, nil
}

// formalParams reads the DW_TAG_formal_parameter children of a function's
// entry, in order; results carry DW_AT_variable_parameter.
//
// For a function that is also inlined, the out-of-line (concrete) entry is
// read: its children are in declaration order, some referring to the
// abstract entry's parameters and some, such as blank parameters ("~p1")
// and unnamed results, only there. Every parameter of the abstract entry
// must be referred to, or the register assignment would be wrong.
func (dc *dwarfCache) formalParams(fe funcEntry) ([]rawParam, error) {
	entries, err := dc.paramEntries(fe.off)
	if err != nil {
		return nil, err
	}
	if fe.hasAbs && fe.off != fe.abstract {
		abs, err := dc.paramEntries(fe.abstract)
		if err != nil {
			return nil, err
		}
		for _, a := range abs {
			if !slices.ContainsFunc(entries, func(e *dwarf.Entry) bool {
				o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
				return ok && o == a.Offset
			}) {
				return nil, fmt.Errorf("DWARF is incomplete: parameter %v of the abstract entry is missing from the out-of-line entry", a.Val(dwarf.AttrName))
			}
		}
	}
	out := make([]rawParam, 0, len(entries))
	for _, c := range entries {
		p, err := dc.rawParam(c)
		if err != nil {
			return nil, err
		}
		// Names in a Go signature are unique, blank ones numbered
		// ("~p1", "~r0"); but for a blank result beside a named one that
		// a deferred closure captures, as in
		// net/http.(*Transport).roundTrip's (_ *Response, err error),
		// go1.26.8 writes "~r0" twice.
		// Counting it twice would shift every later result's registers.
		if p.name != "" && slices.ContainsFunc(out, func(q rawParam) bool { return q.name == p.name }) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// paramEntries returns the formal parameter children of the subprogram at
// off.
func (dc *dwarfCache) paramEntries(off dwarf.Offset) ([]*dwarf.Entry, error) {
	r := dc.d.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil {
		return nil, err
	}
	if e == nil || e.Tag != dwarf.TagSubprogram {
		return nil, fmt.Errorf("DWARF entry %#x is not a subprogram", off)
	}
	if !e.Children {
		return nil, nil
	}
	var entries []*dwarf.Entry
	for {
		c, err := r.Next()
		if err != nil {
			return nil, err
		}
		if c == nil || c.Tag == 0 {
			break
		}
		if c.Tag == dwarf.TagFormalParameter {
			entries = append(entries, c)
		}
		if c.Children {
			r.SkipChildren()
		}
	}
	return entries, nil
}

// rawParam decodes one formal parameter entry, following
// DW_AT_abstract_origin for the name and type when needed.
func (dc *dwarfCache) rawParam(e *dwarf.Entry) (rawParam, error) {
	p := rawParam{}
	var toff dwarf.Offset
	hasType := false
	for range 4 {
		if p.name == "" {
			p.name, _ = e.Val(dwarf.AttrName).(string)
		}
		if v, ok := e.Val(dwarf.AttrVarParam).(bool); ok && v {
			p.result = true
		}
		if !hasType {
			toff, hasType = e.Val(dwarf.AttrType).(dwarf.Offset)
		}
		origin, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if hasType || !ok {
			break
		}
		r := dc.d.Reader()
		r.Seek(origin)
		oe, err := r.Next()
		if err != nil || oe == nil {
			return p, fmt.Errorf("parameter %q: abstract origin %#x: %v", p.name, origin, err)
		}
		e = oe
	}
	if !hasType {
		return p, fmt.Errorf("parameter %q has no type", p.name)
	}
	t, err := dc.typeAt(toff)
	if err != nil {
		return p, fmt.Errorf("parameter %q: %w", p.name, err)
	}
	p.typ = t
	return p, nil
}

// abiAssigner implements the ABIInternal assignment algorithm.
type abiAssigner struct {
	dc                 *dwarfCache
	nextInt, nextFloat int
	stack              int // size of the stack sequence S so far
}

func (a *abiAssigner) assignAll(raws []rawParam) ([]Param, error) {
	out := make([]Param, 0, len(raws))
	for _, r := range raws {
		p, err := a.assign(r)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", r.name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// assign places one receiver, argument or result: in registers when the
// whole value fits, otherwise on the stack.
func (a *abiAssigner) assign(r rawParam) (Param, error) {
	t := r.typ
	k, err := a.dc.kindOf(t)
	if err != nil {
		return Param{}, err
	}
	size, err := a.dc.sizeOf(t)
	if err != nil {
		return Param{}, err
	}
	gt, err := a.dc.goType(t.off)
	if err != nil {
		return Param{}, err
	}
	p := Param{Name: r.name, Type: t.name, Kind: paramKind(k), Size: int(size), GoType: gt}
	saveI, saveF := a.nextInt, a.nextFloat
	if p.Size > 0 {
		var pieces []Piece
		ok, err := a.regAssign(t, 0, &pieces, 0)
		if err != nil {
			return p, err
		}
		if ok {
			p.Pieces = pieces
			for _, pc := range pieces {
				if pc.Float {
					p.FloatRegs = append(p.FloatRegs, pc.Reg)
				} else {
					p.Regs = append(p.Regs, pc.Reg)
				}
			}
			return p, nil
		}
	}
	a.nextInt, a.nextFloat = saveI, saveF
	al, err := a.alignOf(t, 0)
	if err != nil {
		return p, err
	}
	a.stack = alignUp(a.stack, al)
	p.OnStack = true
	p.StackOffset = a.stack
	a.stack += p.Size
	return p, nil
}

// regAssign register-assigns a value of type t at byte offset off within
// the parameter, appending its pieces. It reports false when the value
// cannot go in registers (a non-trivial array, or registers run out).
func (a *abiAssigner) regAssign(t *typeInfo, off int, pieces *[]Piece, depth int) (bool, error) {
	if depth > 64 {
		return false, fmt.Errorf("type %s nests too deeply", t.name)
	}
	intReg := func(o, size int) bool {
		if a.nextInt >= len(IntRegs) {
			return false
		}
		*pieces = append(*pieces, Piece{Offset: o, Size: size, Reg: a.nextInt})
		a.nextInt++
		return true
	}
	floatReg := func(o, size int) bool {
		if a.nextFloat >= NumFloatRegs {
			return false
		}
		*pieces = append(*pieces, Piece{Offset: o, Size: size, Reg: a.nextFloat, Float: true})
		a.nextFloat++
		return true
	}
	k, err := a.dc.kindOf(t)
	if err != nil {
		return false, err
	}
	size64, err := a.dc.sizeOf(t)
	if err != nil {
		return false, err
	}
	size := int(size64)
	switch k {
	case kBool, kInt, kInt8, kInt16, kInt32, kInt64, kUint, kUint8, kUint16, kUint32, kUint64, kUintptr,
		kPointer, kUnsafePointer, kMap, kChan, kFunc:
		return intReg(off, size), nil
	case kFloat32, kFloat64:
		return floatReg(off, size), nil
	case kComplex64, kComplex128:
		return floatReg(off, size/2) && floatReg(off+size/2, size/2), nil
	case kString, kInterface:
		return intReg(off, 8) && intReg(off+8, 8), nil
	case kSlice:
		return intReg(off, 8) && intReg(off+8, 8) && intReg(off+16, 8), nil
	case kArray:
		u, err := a.dc.underlying(t)
		if err != nil {
			return false, err
		}
		switch {
		case size == 0:
			return true, nil
		case u.count == 1 && u.hasTgt:
			et, err := a.dc.typeAt(u.target)
			if err != nil {
				return false, err
			}
			return a.regAssign(et, off, pieces, depth+1)
		}
		return false, nil
	case kStruct:
		u, err := a.dc.underlying(t)
		if err != nil {
			return false, err
		}
		for _, f := range u.fields {
			ft, err := a.dc.typeAt(f.typ)
			if err != nil {
				return false, err
			}
			if fs, err := a.dc.sizeOf(ft); err != nil {
				return false, err
			} else if fs == 0 {
				continue
			}
			ok, err := a.regAssign(ft, off+int(f.offset), pieces, depth+1)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	default:
		return false, fmt.Errorf("type %s: unsupported Go kind %d", t.name, k)
	}
}

// alignOf is the Go alignment of t on amd64.
func (a *abiAssigner) alignOf(t *typeInfo, depth int) (int, error) {
	if depth > 64 {
		return 0, fmt.Errorf("type %s nests too deeply", t.name)
	}
	k, err := a.dc.kindOf(t)
	if err != nil {
		return 0, err
	}
	switch k {
	case kBool, kInt, kInt8, kInt16, kInt32, kInt64, kUint, kUint8, kUint16, kUint32, kUint64, kUintptr,
		kFloat32, kFloat64:
		size, err := a.dc.sizeOf(t)
		if err != nil {
			return 0, err
		}
		return max(int(size), 1), nil
	case kComplex64:
		return 4, nil
	case kComplex128, kPointer, kUnsafePointer, kMap, kChan, kFunc, kString, kInterface, kSlice:
		return 8, nil
	case kArray, kStruct:
		u, err := a.dc.underlying(t)
		if err != nil {
			return 0, err
		}
		if k == kArray {
			if !u.hasTgt {
				return 0, fmt.Errorf("array type %s has no element type", t.name)
			}
			et, err := a.dc.typeAt(u.target)
			if err != nil {
				return 0, err
			}
			return a.alignOf(et, depth+1)
		}
		al := 1
		for _, f := range u.fields {
			ft, err := a.dc.typeAt(f.typ)
			if err != nil {
				return 0, err
			}
			fa, err := a.alignOf(ft, depth+1)
			if err != nil {
				return 0, err
			}
			al = max(al, fa)
		}
		return al, nil
	default:
		return 0, fmt.Errorf("type %s: unsupported Go kind %d", t.name, k)
	}
}

func alignUp(x, a int) int {
	if a <= 1 {
		return x
	}
	return (x + a - 1) / a * a
}

// paramKind maps a Go kind to a ParamKind.
func paramKind(k goKind) ParamKind {
	switch k {
	case kBool:
		return KindBool
	case kInt, kInt8, kInt16, kInt32, kInt64:
		return KindInt
	case kUint, kUint8, kUint16, kUint32, kUint64, kUintptr:
		return KindUint
	case kPointer, kUnsafePointer, kMap, kChan, kFunc:
		return KindPointer
	case kString:
		return KindString
	case kFloat32, kFloat64:
		return KindFloat
	case kSlice:
		return KindSlice
	case kInterface:
		return KindInterface
	}
	return KindOther
}
