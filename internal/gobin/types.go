package gobin

import (
	"debug/dwarf"
	"fmt"
	"strings"
	"sync"

	"github.com/ebpftrace/ebpftrace/internal/match"
)

// TypeKind is the kind of a Go type; the values are reflect.Kind's (and
// DW_AT_go_kind's).
type TypeKind uint8

// The kinds of Go types.
const (
	GoInvalid TypeKind = iota
	GoBool
	GoInt
	GoInt8
	GoInt16
	GoInt32
	GoInt64
	GoUint
	GoUint8
	GoUint16
	GoUint32
	GoUint64
	GoUintptr
	GoFloat32
	GoFloat64
	GoComplex64
	GoComplex128
	GoArray
	GoChan
	GoFunc
	GoInterface
	GoMap
	GoPointer
	GoSlice
	GoString
	GoStruct
	GoUnsafePointer
)

var kindStrings = [...]string{"invalid", "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
	"uint32", "uint64", "uintptr", "float32", "float64", "complex64", "complex128", "array", "chan", "func",
	"interface", "map", "pointer", "slice", "string", "struct", "unsafe.Pointer"}

func (k TypeKind) String() string {
	if int(k) < len(kindStrings) {
		return kindStrings[k]
	}
	return fmt.Sprintf("TypeKind(%d)", int(k))
}

// IsInteger reports the integer kinds (bool excluded).
func (k TypeKind) IsInteger() bool { return k >= GoInt && k <= GoUintptr }

// IsSigned reports the signed integer kinds.
func (k TypeKind) IsSigned() bool { return k >= GoInt && k <= GoInt64 }

// Type is a Go type of a binary, from its DWARF. Types form a graph
// (a struct's fields, a pointer's element…), possibly cyclic; each is
// built once per Binary, so pointers compare equal for equal types.
//
// A defined type carries its own name and the structure of its
// underlying type: net/http.Header has Kind Map, Key string and Elem
// []string.
type Type struct {
	// Name is the Go name as the compiler prints it, with full package
	// paths: "int", "string", "*net/url.URL", "net/http.Header",
	// "[]string", "map[string][]string", "error", "interface {}",
	// "func(int) string", "struct { a int }".
	Name string
	// Kind is the kind of the type (of its underlying type, for a defined
	// type).
	Kind TypeKind
	// Size is the size in bytes.
	Size int64
	// Elem is the element type of a Pointer (nil for unsafe.Pointer),
	// Slice, Array or Chan, and the value type of a Map.
	Elem *Type
	// Key is the key type of a Map.
	Key *Type
	// Len is the length of an Array.
	Len int64
	// Fields are the fields of a Struct, in memory order.
	Fields []Field
	// EmptyInterface reports an Interface without methods (interface {},
	// any): its first word is a *runtime._type, not an itab.
	EmptyInterface bool
	// RuntimeAddr is the virtual address of the type's runtime type
	// descriptor (DW_AT_go_runtime_type), which the first word of an
	// interface holding this type points to (directly for an empty
	// interface, through the itab otherwise); 0 when DWARF does not say.
	// Add the load bias for a PIE.
	RuntimeAddr uint64
}

// Field is a field of a struct type.
type Field struct {
	// Name is the field name; for an embedded field, the type's name
	// without package ("Mutex" for sync.Mutex).
	Name string
	// Offset is the byte offset in the struct.
	Offset int64
	// Type is the field's type.
	Type *Type
	// Embedded reports an embedded field.
	Embedded bool
}

// Named reports a defined (named) type, such as int, error,
// net/http.Header or main.Counter, as opposed to a type literal such
// as *T, []T, map[K]V or struct { … }.
func (t *Type) Named() bool {
	for _, p := range []string{"*", "[", "map[", "chan ", "<-chan ", "chan<- ", "func(", "struct {", "interface {"} {
		if strings.HasPrefix(t.Name, p) {
			return false
		}
	}
	return t.Name != ""
}

// PkgPath returns the import path of a defined type's package ("net/http"
// for net/http.Header), "" for predeclared types and type literals.
func (t *Type) PkgPath() string {
	if !t.Named() {
		return ""
	}
	name := t.Name
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i] // type arguments of a generic type
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return ""
}

// Field returns the field of a struct named name.
func (t *Type) Field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// DirectIface reports a type whose values are stored in an interface's
// data word itself rather than pointed to by it: pointer-shaped types
// (pointers, maps, chans, funcs, unsafe.Pointer, and structs or
// one-element arrays of exactly one such field).
func (t *Type) DirectIface() bool {
	for depth := 0; t != nil && depth < 64; depth++ {
		switch t.Kind {
		case GoPointer, GoMap, GoChan, GoFunc, GoUnsafePointer:
			return true
		case GoStruct:
			if len(t.Fields) != 1 {
				return false
			}
			t = t.Fields[0].Type
		case GoArray:
			if t.Len != 1 {
				return false
			}
			t = t.Elem
		default:
			return false
		}
	}
	return false
}

func (t *Type) String() string { return t.Name }

// typeGraph caches the Types built from one binary's DWARF.
type typeGraph struct {
	mu     sync.Mutex
	byOff  map[dwarf.Offset]*Type
	byName map[string]*Type // Go spells each type once: a typedef and its definition are one Type
	// typesBase is runtime.types, which DW_AT_go_runtime_type values are
	// offsets from (the start of the section holding the type
	// descriptors); 0 when unknown.
	typesBase uint64
	short     map[string][]string // "http.Request" → "net/http.Request"
}

// TypeByName returns the Go type named name, from DWARF. name is spelled
// as the compiler prints it ("net/http.Request", "*net/url.URL",
// "[]string", "map[string]int") or as a user types it: with the package
// name instead of its path when that is unambiguous ("http.Request",
// "*http.Request"), "any" or "interface{}" for the empty interface. A
// pointer type that DWARF lacks is made from its element type.
//
// Without DWARF (stripped binaries), types come from the runtime type
// descriptors that the binary keeps for reflection and interfaces:
// every type the program converts to an interface and the types those
// refer to (fields, elements, method signatures), with the same fields,
// offsets and names; parameters stay untyped. A type without a
// descriptor is then an error that wraps ErrNoDWARF and says what still
// works. With DWARF, a name the binary does not have is a *NotFoundError
// with the nearest type names.
func (b *Binary) TypeByName(name string) (*Type, error) {
	dc, err := b.dwarfData()
	if err != nil {
		return b.runtimeTypeByName(strings.TrimSpace(name), err)
	}
	t, err := dc.typeByName(strings.TrimSpace(name), 0)
	if err != nil {
		if nf, ok := err.(*NotFoundError); ok {
			nf.Binary = b.Path
			return nil, nf
		}
		return nil, fmt.Errorf("gobin: %s: type %s: %w", b.Path, name, err)
	}
	return t, nil
}

// runtimeTypeByName looks name up among the runtime type descriptors,
// for a binary without DWARF (dwarfErr says why there is none).
func (b *Binary) runtimeTypeByName(name string, dwarfErr error) (*Type, error) {
	ix, err := b.runtimeTypes()
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: type %s: %w (and runtime type descriptors: %v)", b.Path, name, noDWARFHint(dwarfErr), err)
	}
	if t, ok := ix.lookup(name, 0); ok {
		return t, nil
	}
	ix.mu.Lock()
	names := make([]string, 0, len(ix.byName))
	for n := range ix.byName {
		names = append(names, n)
	}
	ix.mu.Unlock()
	msg := ""
	if near := match.Nearest(name, names, maxNearest); len(near) > 0 {
		msg = "; did you mean " + strings.Join(near, ", ") + "?"
	}
	return nil, fmt.Errorf("gobin: %s: type %s: no runtime type descriptor has this name (only types the program converts to interfaces, and the types they refer to, have one)%s: %w", b.Path, name, msg, noDWARFHint(dwarfErr))
}

// noDWARFHint adds, to an ErrNoDWARF error, what works without DWARF.
func noDWARFHint(err error) error {
	return fmt.Errorf("%w; without DWARF, Go types and parameter names are unknown: functions, their entries and returns, the raw argument registers (arg0…arg8), gostr(ptr, len), goroutine ids and the dynamic type names of interface values (RuntimeTypeName) still work", err)
}

func (dc *dwarfCache) typeByName(name string, depth int) (*Type, error) {
	if depth > 8 {
		return nil, fmt.Errorf("type name %q nests too deeply", name)
	}
	switch name {
	case "any", "interface{}":
		name = "interface {}"
	}
	if off, ok := dc.types[name]; ok {
		return dc.goType(off)
	}
	if elem, ok := strings.CutPrefix(name, "*"); ok {
		et, err := dc.typeByName(elem, depth+1)
		if err != nil {
			return nil, err
		}
		if off, ok := dc.types["*"+et.Name]; ok {
			return dc.goType(off)
		}
		return &Type{Name: "*" + et.Name, Kind: GoPointer, Size: 8, Elem: et}, nil
	}
	if full := dc.shortNames()[name]; len(full) == 1 {
		return dc.goType(dc.types[full[0]])
	} else if len(full) > 1 {
		return nil, &NotFoundError{What: "type (ambiguous: give the package path)", Name: name, Nearest: full}
	}
	names := make([]string, 0, len(dc.types))
	for n := range dc.types {
		names = append(names, n)
	}
	return nil, &NotFoundError{What: "type", Name: name, Nearest: match.Nearest(name, names, maxNearest)}
}

// shortNames indexes defined types by their name with the package path
// cut to its last element: "http.Request" for "net/http.Request".
func (dc *dwarfCache) shortNames() map[string][]string {
	g := dc.graph()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.short == nil {
		g.short = map[string][]string{}
		for n := range dc.types {
			dot := strings.IndexByte(n, '.')
			if strings.ContainsAny(n[:max(dot, 0)], "[*( ") {
				continue
			}
			if i := strings.LastIndexByte(n[:max(dot, 0)], '/'); dot > 0 && i >= 0 {
				s := n[i+1:]
				g.short[s] = append(g.short[s], n)
			}
		}
	}
	return g.short
}

func (dc *dwarfCache) graph() *typeGraph {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.tg == nil {
		dc.tg = &typeGraph{byOff: map[dwarf.Offset]*Type{}, byName: map[string]*Type{}, typesBase: dc.typesBase}
	}
	return dc.tg
}

// goType builds (once) the Type of the DWARF type entry at off.
func (dc *dwarfCache) goType(off dwarf.Offset) (*Type, error) {
	g := dc.graph()
	g.mu.Lock()
	defer g.mu.Unlock()
	return dc.buildType(g, off, 0)
}

// buildType builds the Type at off; g.mu is held. A type is entered in
// the cache before its parts are built, so cycles (type T struct{ next
// *T }) end.
func (dc *dwarfCache) buildType(g *typeGraph, off dwarf.Offset, depth int) (*Type, error) {
	if t, ok := g.byOff[off]; ok {
		return t, nil
	}
	if depth > 200 {
		return nil, fmt.Errorf("DWARF type at %#x nests too deeply", off)
	}
	ti, err := dc.typeAt(off)
	if err != nil {
		return nil, err
	}
	if isTransparent(ti.tag) && ti.tag != dwarf.TagTypedef {
		// A C qualifier: the type it qualifies (nil for const void).
		if !ti.hasTgt {
			return nil, nil
		}
		t, err := dc.buildType(g, ti.target, depth+1)
		if err == nil {
			g.byOff[off] = t
		}
		return t, err
	}
	k, err := dc.kindOf(ti)
	if err != nil {
		return nil, err
	}
	if t, ok := g.byName[ti.name]; ok && ti.name != "" {
		g.byOff[off] = t
		return t, nil
	}
	t := &Type{Name: ti.name, Kind: TypeKind(k)}
	g.byOff[off] = t
	if t.Name != "" {
		g.byName[t.Name] = t
	}
	if size, err := dc.sizeOf(ti); err == nil {
		t.Size = size
	} else if k == kMap || k == kChan || k == kFunc || k == kPointer || k == kUnsafePointer {
		t.Size = 8
	}
	// Walk the typedef chain: Go names a type by a typedef to its
	// definition, and map, chan and interface types are typedefs that
	// carry their key and element themselves.
	u := ti
	var key, elem dwarf.Offset
	var hasKey, hasElem bool
	for range 32 {
		if !hasKey && u.hasKey {
			key, hasKey = u.key, true
		}
		if !hasElem && u.hasEl {
			elem, hasElem = u.elem, true
		}
		if t.RuntimeAddr == 0 && u.rtype != 0 && g.typesBase != 0 {
			t.RuntimeAddr = g.typesBase + u.rtype
		}
		if !isTransparent(u.tag) || !u.hasTgt {
			break
		}
		if u, err = dc.typeAt(u.target); err != nil {
			return nil, err
		}
	}
	build := func(o dwarf.Offset) (*Type, error) { return dc.buildType(g, o, depth+1) }
	switch k {
	case kPointer:
		if u.hasTgt {
			if t.Elem, err = build(u.target); err != nil {
				return nil, err
			}
		}
	case kArray:
		t.Len = u.count
		if u.hasTgt {
			if t.Elem, err = build(u.target); err != nil {
				return nil, err
			}
		}
	case kSlice, kChan:
		if hasElem {
			if t.Elem, err = build(elem); err != nil {
				return nil, err
			}
		}
	case kMap:
		if hasKey {
			if t.Key, err = build(key); err != nil {
				return nil, err
			}
		}
		if hasElem {
			if t.Elem, err = build(elem); err != nil {
				return nil, err
			}
		}
	case kInterface:
		t.EmptyInterface = u.name == "runtime.eface" || ti.name == "interface {}"
	case kStruct:
		for _, f := range u.fields {
			ft, err := build(f.typ)
			if err != nil {
				return nil, fmt.Errorf("field %s of %s: %w", f.name, t.Name, err)
			}
			t.Fields = append(t.Fields, Field{Name: f.name, Offset: f.offset, Type: ft, Embedded: f.embedded})
		}
	}
	return t, nil
}
