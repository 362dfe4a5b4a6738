package gobin

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ebpftrace/ebpftrace/internal/match"
)

// ErrNoDWARF is wrapped by the errors of functions that need DWARF debug
// information in a binary that has none (built with -ldflags=-w, or
// stripped).
var ErrNoDWARF = errors.New("no DWARF debug information")

// Go-specific DWARF attributes written by cmd/link
// (cmd/internal/dwarf, the same from Go 1.10 to 1.26).
const (
	attrGoKind          dwarf.Attr = 0x2900 // reflect.Kind
	attrGoKey           dwarf.Attr = 0x2901 // map key type
	attrGoElem          dwarf.Attr = 0x2902 // map value, chan and slice element type
	attrGoEmbeddedField dwarf.Attr = 0x2903 // struct member is an embedded field
	attrGoRuntimeType   dwarf.Attr = 0x2904 // address of the runtime type descriptor
)

// goKind is reflect.Kind as stored in DW_AT_go_kind.
type goKind int

// The reflect.Kind values (reflect/type.go).
const (
	kInvalid goKind = iota
	kBool
	kInt
	kInt8
	kInt16
	kInt32
	kInt64
	kUint
	kUint8
	kUint16
	kUint32
	kUint64
	kUintptr
	kFloat32
	kFloat64
	kComplex64
	kComplex128
	kArray
	kChan
	kFunc
	kInterface
	kMap
	kPointer
	kSlice
	kString
	kStruct
	kUnsafePointer
)

// dwarfCache is the DWARF data with an index of named subprograms and
// types, built by one pass over the top-level entries.
type dwarfCache struct {
	d     *dwarf.Data
	funcs map[string]funcEntry    // DW_TAG_subprogram by name
	types map[string]dwarf.Offset // named types; structure types win over typedefs
	err   error

	mu        sync.Mutex
	typeCache map[dwarf.Offset]*typeInfo
	tg        *typeGraph
	typesBase uint64 // runtime.types, for DW_AT_go_runtime_type; 0 if unknown
}

// funcEntry locates a function's DWARF description. A function that is
// also inlined somewhere has an abstract entry (DW_AT_inline) holding its
// name and parameters, and an out-of-line concrete entry, without a name,
// that refers to it by DW_AT_abstract_origin and adds the results.
type funcEntry struct {
	off      dwarf.Offset // the concrete (or only) entry
	abstract dwarf.Offset // the abstract entry, when there is one
	hasAbs   bool
	inlined  bool // only the abstract entry exists: no out-of-line copy
}

// dwarfData loads and indexes the DWARF data once. Its error does not name
// the binary; callers add that context.
func (b *Binary) dwarfData() (*dwarfCache, error) {
	b.mu.Lock()
	dc := b.dw
	b.mu.Unlock()
	if dc != nil {
		return dc, dc.err
	}
	dc = b.loadDWARF()
	b.mu.Lock()
	if b.dw == nil {
		b.dw = dc
	}
	dc = b.dw
	b.mu.Unlock()
	return dc, dc.err
}

func (b *Binary) loadDWARF() *dwarfCache {
	dc := &dwarfCache{}
	if !b.HasDWARF {
		dc.err = fmt.Errorf("%w (built with -ldflags=-w, or stripped)", ErrNoDWARF)
		return dc
	}
	d, err := b.elf.DWARF()
	if err != nil {
		dc.err = fmt.Errorf("read DWARF: %w", err)
		return dc
	}
	dc.d = d
	if tab, err := b.module(); err == nil && tab.Moduledata() != nil {
		dc.typesBase = tab.Moduledata().Types
	}
	dc.funcs = map[string]funcEntry{}
	abstracts := map[dwarf.Offset]string{}
	type concrete struct{ off, origin dwarf.Offset }
	var concretes []concrete
	dc.types = map[string]dwarf.Offset{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			dc.err = fmt.Errorf("read DWARF: %w", err)
			return dc
		}
		if e == nil {
			break
		}
		switch e.Tag {
		case 0:
			continue
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			continue // descend into the unit
		case dwarf.TagSubprogram:
			name, named := e.Val(dwarf.AttrName).(string)
			_, isAbstract := e.Val(dwarf.AttrInline).(int64)
			switch {
			case named && isAbstract:
				abstracts[e.Offset] = name
				if _, dup := dc.funcs[name]; !dup {
					dc.funcs[name] = funcEntry{off: e.Offset, abstract: e.Offset, hasAbs: true, inlined: true}
				}
			case named:
				if fe, dup := dc.funcs[name]; !dup || fe.inlined {
					dc.funcs[name] = funcEntry{off: e.Offset}
				}
			default:
				if origin, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
					concretes = append(concretes, concrete{e.Offset, origin})
				}
			}
		default:
			if name, ok := e.Val(dwarf.AttrName).(string); ok && isTypeTag(e.Tag) {
				if _, dup := dc.types[name]; !dup || e.Tag == dwarf.TagStructType {
					dc.types[name] = e.Offset
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	for _, c := range concretes {
		name, ok := abstracts[c.origin]
		if !ok {
			continue
		}
		if fe := dc.funcs[name]; fe.inlined {
			dc.funcs[name] = funcEntry{off: c.off, abstract: c.origin, hasAbs: true}
		}
	}
	return dc
}

func isTypeTag(t dwarf.Tag) bool {
	switch t {
	case dwarf.TagBaseType, dwarf.TagStructType, dwarf.TagTypedef, dwarf.TagPointerType,
		dwarf.TagArrayType, dwarf.TagSubroutineType, dwarf.TagUnionType, dwarf.TagClassType:
		return true
	}
	return false
}

// DWARFFuncs returns the names of the functions (DW_TAG_subprogram) that
// DWARF describes and that match pattern (see Funcs for the syntax),
// sorted.
func (b *Binary) DWARFFuncs(pattern string) ([]string, error) {
	dc, err := b.dwarfData()
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: DWARF functions: %w", b.Path, err)
	}
	var out []string
	for n := range dc.funcs {
		if pattern == "" || match.Glob(pattern, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// FieldOffset returns the byte offset of a field of the named struct type
// from DWARF, e.g. FieldOffset("runtime.g", "goid") or, through embedded
// or nested structs (not pointers), FieldOffset("runtime.g", "sched.sp").
func (b *Binary) FieldOffset(typeName, fieldPath string) (int, error) {
	dc, err := b.dwarfData()
	if err != nil {
		return 0, fmt.Errorf("gobin: %s: field %s.%s: %w", b.Path, typeName, fieldPath, err)
	}
	off, ok := dc.types[typeName]
	if !ok {
		return 0, fmt.Errorf("gobin: %s: DWARF type %q: %w", b.Path, typeName, ErrNotFound)
	}
	t, err := dc.typeAt(off)
	if err != nil {
		return 0, fmt.Errorf("gobin: %s: DWARF type %q: %w", b.Path, typeName, err)
	}
	total := int64(0)
	for _, name := range strings.Split(fieldPath, ".") {
		u, err := dc.underlying(t)
		if err != nil {
			return 0, fmt.Errorf("gobin: %s: field %s.%s: %w", b.Path, typeName, fieldPath, err)
		}
		if u.tag != dwarf.TagStructType {
			return 0, fmt.Errorf("gobin: %s: field %s.%s: %s is not a struct", b.Path, typeName, fieldPath, t.name)
		}
		i := slices.IndexFunc(u.fields, func(f fieldInfo) bool { return f.name == name })
		if i < 0 {
			return 0, fmt.Errorf("gobin: %s: field %s.%s: %w", b.Path, typeName, fieldPath, ErrNotFound)
		}
		total += u.fields[i].offset
		if t, err = dc.typeAt(u.fields[i].typ); err != nil {
			return 0, fmt.Errorf("gobin: %s: field %s.%s: %w", b.Path, typeName, fieldPath, err)
		}
	}
	return int(total), nil
}

// typeInfo is a DWARF type entry, read by typeAt.
type typeInfo struct {
	off    dwarf.Offset
	tag    dwarf.Tag
	name   string
	goKind goKind       // DW_AT_go_kind, or kInvalid
	enc    int64        // DW_AT_encoding of a base type
	size   int64        // DW_AT_byte_size, or -1
	target dwarf.Offset // DW_AT_type: typedef target, pointee, array element
	hasTgt bool
	count  int64 // array element count, -1 if unknown
	fields []fieldInfo
	key    dwarf.Offset // DW_AT_go_key (maps)
	elem   dwarf.Offset // DW_AT_go_elem (maps, chans, slices)
	hasKey bool
	hasEl  bool
	rtype  uint64 // DW_AT_go_runtime_type, 0 if absent
}

// fieldInfo is a struct member.
type fieldInfo struct {
	name     string
	offset   int64
	typ      dwarf.Offset
	embedded bool
}

// typeAt reads (once) the type entry at off.
func (dc *dwarfCache) typeAt(off dwarf.Offset) (*typeInfo, error) {
	dc.mu.Lock()
	t := dc.typeCache[off]
	dc.mu.Unlock()
	if t != nil {
		return t, nil
	}
	r := dc.d.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("DWARF type at %#x: %w", off, err)
	}
	if e == nil {
		return nil, fmt.Errorf("DWARF type at %#x: no entry", off)
	}
	t = &typeInfo{off: off, tag: e.Tag, size: -1, count: -1}
	t.name, _ = e.Val(dwarf.AttrName).(string)
	if k, ok := e.Val(attrGoKind).(int64); ok {
		t.goKind = goKind(k)
	}
	t.enc, _ = e.Val(dwarf.AttrEncoding).(int64)
	if n, ok := e.Val(dwarf.AttrByteSize).(int64); ok {
		t.size = n
	}
	t.target, t.hasTgt = e.Val(dwarf.AttrType).(dwarf.Offset)
	t.key, t.hasKey = e.Val(attrGoKey).(dwarf.Offset)
	t.elem, t.hasEl = e.Val(attrGoElem).(dwarf.Offset)
	switch v := e.Val(attrGoRuntimeType).(type) {
	case uint64:
		t.rtype = v
	case int64:
		t.rtype = uint64(v)
	}
	if e.Children {
		for {
			c, err := r.Next()
			if err != nil {
				return nil, fmt.Errorf("DWARF type %s at %#x: %w", t.name, off, err)
			}
			if c == nil || c.Tag == 0 {
				break
			}
			switch c.Tag {
			case dwarf.TagMember:
				f := fieldInfo{}
				f.name, _ = c.Val(dwarf.AttrName).(string)
				var ok bool
				if f.typ, ok = c.Val(dwarf.AttrType).(dwarf.Offset); !ok {
					return nil, fmt.Errorf("DWARF type %s: member %s has no type", t.name, f.name)
				}
				if f.offset, ok = memberOffset(c.Val(dwarf.AttrDataMemberLoc)); !ok {
					return nil, fmt.Errorf("DWARF type %s: member %s has an unsupported location %v", t.name, f.name, c.Val(dwarf.AttrDataMemberLoc))
				}
				f.embedded, _ = c.Val(attrGoEmbeddedField).(bool)
				// C bitfields are not whole bytes: they are left out.
				if _, bits := c.Val(dwarf.AttrBitSize).(int64); !bits {
					t.fields = append(t.fields, f)
				}
			case dwarf.TagSubrangeType:
				if n, ok := c.Val(dwarf.AttrCount).(int64); ok {
					t.count = n
				} else if n, ok := c.Val(dwarf.AttrUpperBound).(int64); ok {
					t.count = n + 1
				}
			}
			if c.Children {
				r.SkipChildren()
			}
		}
	}
	dc.mu.Lock()
	if dc.typeCache == nil {
		dc.typeCache = map[dwarf.Offset]*typeInfo{}
	}
	dc.typeCache[off] = t
	dc.mu.Unlock()
	return t, nil
}

// memberOffset decodes DW_AT_data_member_location: a constant, or the
// expression DW_OP_plus_uconst N that older producers emit.
func memberOffset(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case nil:
		return 0, true // union members and the first member may omit it
	case []byte:
		if len(v) >= 2 && v[0] == 0x23 { // DW_OP_plus_uconst
			var n int64
			var shift uint
			for _, c := range v[1:] {
				n |= int64(c&0x7f) << shift
				shift += 7
				if c&0x80 == 0 {
					return n, true
				}
			}
		}
	}
	return 0, false
}

// isTransparent reports a typedef or a C qualifier (const, volatile,
// restrict, _Atomic), which have the layout of the type they refer to.
func isTransparent(tag dwarf.Tag) bool {
	switch tag {
	case dwarf.TagTypedef, dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagRestrictType, tagAtomicType:
		return true
	}
	return false
}

// tagAtomicType is DW_TAG_atomic_type (DWARF 5), which debug/dwarf does
// not name.
const tagAtomicType dwarf.Tag = 0x47

// underlying follows typedefs to the type they name.
func (dc *dwarfCache) underlying(t *typeInfo) (*typeInfo, error) {
	for range 32 {
		if t.tag != dwarf.TagTypedef || !t.hasTgt {
			return t, nil
		}
		var err error
		if t, err = dc.typeAt(t.target); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("DWARF typedef chain of %s is too long", t.name)
}

// sizeOf is the byte size of t, following typedefs and computing array
// sizes from the element when DW_AT_byte_size is missing.
func (dc *dwarfCache) sizeOf(t *typeInfo) (int64, error) {
	for range 32 {
		if t.size >= 0 {
			return t.size, nil
		}
		switch {
		case isTransparent(t.tag) && t.hasTgt:
			var err error
			if t, err = dc.typeAt(t.target); err != nil {
				return 0, err
			}
			continue
		case t.tag == dwarf.TagPointerType || t.tag == dwarf.TagSubroutineType:
			return 8, nil
		case t.tag == dwarf.TagArrayType && t.hasTgt && t.count >= 0:
			et, err := dc.typeAt(t.target)
			if err != nil {
				return 0, err
			}
			es, err := dc.sizeOf(et)
			if err != nil {
				return 0, err
			}
			return es * t.count, nil
		}
		return 0, fmt.Errorf("DWARF type %s has no size", t.name)
	}
	return 0, fmt.Errorf("DWARF typedef chain of %s is too long", t.name)
}

// kindOf returns the Go kind of t: the DW_AT_go_kind of t or of the first
// typedef target that has one, else one derived from the DWARF tag.
func (dc *dwarfCache) kindOf(t *typeInfo) (goKind, error) {
	u := t
	for range 32 {
		if u.goKind != kInvalid {
			return u.goKind, nil
		}
		if !isTransparent(u.tag) || !u.hasTgt {
			break
		}
		var err error
		if u, err = dc.typeAt(u.target); err != nil {
			return kInvalid, err
		}
	}
	size, _ := dc.sizeOf(u)
	switch u.tag {
	case dwarf.TagBaseType:
		const (
			ateBoolean      = 0x2
			ateComplexFloat = 0x3
			ateFloat        = 0x4
			ateSigned       = 0x5
			ateSignedChar   = 0x6
			ateUnsigned     = 0x7
			ateUnsignedChar = 0x8
		)
		switch u.enc {
		case ateBoolean:
			return kBool, nil
		case ateFloat:
			if size == 4 {
				return kFloat32, nil
			}
			return kFloat64, nil
		case ateComplexFloat:
			if size == 8 {
				return kComplex64, nil
			}
			return kComplex128, nil
		case ateSigned, ateSignedChar:
			switch size {
			case 1:
				return kInt8, nil
			case 2:
				return kInt16, nil
			case 4:
				return kInt32, nil
			}
			return kInt64, nil
		case ateUnsigned, ateUnsignedChar:
			switch size {
			case 1:
				return kUint8, nil
			case 2:
				return kUint16, nil
			case 4:
				return kUint32, nil
			}
			return kUint64, nil
		}
	case dwarf.TagPointerType:
		return kPointer, nil
	case dwarf.TagSubroutineType:
		return kFunc, nil
	case dwarf.TagArrayType:
		return kArray, nil
	case dwarf.TagStructType, dwarf.TagUnionType:
		return kStruct, nil
	case dwarf.TagEnumerationType:
		// C: an integer, of the type DWARF 3+ names, else signed.
		if u.hasTgt {
			if bt, err := dc.typeAt(u.target); err == nil {
				return dc.kindOf(bt)
			}
		}
		switch size {
		case 1:
			return kInt8, nil
		case 2:
			return kInt16, nil
		case 8:
			return kInt64, nil
		}
		return kInt32, nil
	}
	return kInvalid, fmt.Errorf("DWARF type %s (%v) has no Go kind", t.name, u.tag)
}
