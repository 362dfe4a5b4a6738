package gobin

import (
	"debug/dwarf"
	"fmt"

	"github.com/ebpftrace/ebpftrace/internal/match"
)

// C functions are described by DWARF too, when a C binary or library is
// built with -g: parameters by name with their C types (read as Types:
// int and friends as sized integers, _Bool as bool, pointers, structs,
// unions as structs whose members are all at offset 0, arrays, enums as
// integers, typedefs by their names), and the result type. The System V
// x86-64 ABI passes integer and pointer arguments in RDI RSI RDX RCX R8
// R9 and the rest on the stack, and returns them in RAX.

// CParamRegs are the System V x86-64 integer argument registers, which
// the Regs and Pieces of CSignature's parameters index; a result is in
// CResultRegs.
var (
	CParamRegs  = [...]string{"rdi", "rsi", "rdx", "rcx", "r8", "r9"}
	CResultRegs = [...]string{"rax", "rdx"}
)

// CSignature returns the parameters and the result (nil for void) of the
// C function fn from DWARF, with the registers or stack slots of the
// System V x86-64 ABI at the function's entry. Integer, pointer, enum and
// bool values take the next integer register; structs and unions of up
// to 16 bytes without floating-point members take one or two; larger
// ones, and any once the six registers are used, are on the stack.
// Floating-point values take SSE registers and are returned with no
// integer register (they cannot be read). A struct with floating-point
// members makes the following parameters' places unknown: they are left
// with neither registers nor a stack slot.
func (b *Binary) CSignature(fn string) (params []Param, result *Param, err error) {
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
	entries, err := dc.paramEntries(fe.off)
	if err != nil {
		return nil, nil, fmt.Errorf("gobin: %s: parameters of %s: %w", b.Path, fn, err)
	}
	nextInt, stack := 0, 0
	lost := false // a parameter whose classification we do not model came first
	for _, e := range entries {
		raw, err := dc.rawParam(e)
		if err != nil {
			return nil, nil, fmt.Errorf("gobin: %s: parameters of %s: %w", b.Path, fn, err)
		}
		p, err := dc.cParam(raw.name, raw.typ)
		if err != nil {
			return nil, nil, fmt.Errorf("gobin: %s: parameter %s of %s: %w", b.Path, raw.name, fn, err)
		}
		words := (p.Size + 7) / 8
		switch {
		case lost:
		case p.Kind == KindFloat:
			// SSE registers: nothing of the integer sequence is used.
		case hasFloat(p.GoType, 0):
			lost = true
		case p.Size > 16 || nextInt+words > len(CParamRegs):
			p.OnStack = true
			p.StackOffset = stack
			stack += words * 8
		default:
			for w := 0; w < words; w++ {
				size := min(8, p.Size-8*w)
				p.Pieces = append(p.Pieces, Piece{Offset: 8 * w, Size: size, Reg: nextInt})
				p.Regs = append(p.Regs, nextInt)
				nextInt++
			}
		}
		params = append(params, p)
	}
	rt, ok, err := dc.resultType(fe)
	if err != nil {
		return nil, nil, fmt.Errorf("gobin: %s: result of %s: %w", b.Path, fn, err)
	}
	if ok {
		r, err := dc.cParam("", rt)
		if err != nil {
			return nil, nil, fmt.Errorf("gobin: %s: result of %s: %w", b.Path, fn, err)
		}
		if r.Size <= 16 && r.Kind != KindFloat && !hasFloat(r.GoType, 0) {
			for w := 0; w < (r.Size+7)/8; w++ {
				r.Pieces = append(r.Pieces, Piece{Offset: 8 * w, Size: min(8, r.Size-8*w), Reg: w})
				r.Regs = append(r.Regs, w)
			}
		}
		result = &r
	}
	return params, result, nil
}

// cParam describes a C value of type t.
func (dc *dwarfCache) cParam(name string, t *typeInfo) (Param, error) {
	k, err := dc.kindOf(t)
	if err != nil {
		return Param{}, err
	}
	size, err := dc.sizeOf(t)
	if err != nil {
		return Param{}, err
	}
	gt, err := dc.goType(t.off)
	if err != nil {
		return Param{}, err
	}
	if gt == nil {
		return Param{}, fmt.Errorf("type at %#x is void", t.off)
	}
	return Param{Name: name, Type: cTypeName(gt), Kind: paramKind(k), Size: int(size), GoType: gt}, nil
}

// resultType is the DW_AT_type of a subprogram (following its abstract
// origin); ok is false for void.
func (dc *dwarfCache) resultType(fe funcEntry) (*typeInfo, bool, error) {
	off := fe.off
	for range 4 {
		r := dc.d.Reader()
		r.Seek(off)
		e, err := r.Next()
		if err != nil || e == nil {
			return nil, false, fmt.Errorf("DWARF entry %#x: %v", off, err)
		}
		if to, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
			t, err := dc.typeAt(to)
			return t, err == nil, err
		}
		origin, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			origin, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		}
		if !ok {
			return nil, false, nil
		}
		off = origin
	}
	return nil, false, nil
}

// hasFloat reports a struct, union or array with floating-point members.
func hasFloat(t *Type, depth int) bool {
	if t == nil || depth > 16 {
		return false
	}
	switch t.Kind {
	case GoFloat32, GoFloat64, GoComplex64, GoComplex128:
		return true
	case GoArray:
		return hasFloat(t.Elem, depth+1)
	case GoStruct:
		for _, f := range t.Fields {
			if hasFloat(f.Type, depth+1) {
				return true
			}
		}
	}
	return false
}

// cTypeName spells a C type for messages: its name, or for pointers and
// arrays what they are made of.
func cTypeName(t *Type) string {
	for depth := 0; t != nil && depth < 16; depth++ {
		if t.Name != "" {
			return t.Name
		}
		switch t.Kind {
		case GoPointer:
			if t.Elem == nil {
				return "void *"
			}
			return cTypeName(t.Elem) + " *"
		case GoArray:
			return fmt.Sprintf("%s[%d]", cTypeName(t.Elem), t.Len)
		}
		return t.Kind.String()
	}
	return "void"
}
