package gobin

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// The runtime type descriptor, runtime._type (Go 1.17–1.20) and
// internal/abi.Type (Go 1.21–1.26), has the same layout on 64-bit targets
// in every release since Go 1.14:
//
//	size, ptrdata uintptr; hash uint32; tflag, align, fieldAlign, kind uint8;
//	equal func; gcdata *byte; str nameOff (int32); ptrToThis typeOff (int32)
//
// followed by the kind's own fields and, when tflagUncommon is set, an
// uncommontype { pkgpath nameOff; mcount, xcount uint16; moff uint32; _ uint32 }.
// (runtime/type.go of go1.17–1.20, internal/abi/type.go of go1.21–1.26.)
const (
	rtTflag = 20
	rtKind  = 23
	rtStr   = 40
	rtSize  = 48 // the common part; the kind's fields follow

	tflagUncommon  = 1 << 0
	tflagExtraStar = 1 << 1
	tflagNamed     = 1 << 2
	kindMask       = 1<<5 - 1
)

// RuntimeTypeName returns the Go name, with full package paths, of the
// type whose runtime type descriptor is at the virtual address addr:
// what the first word of an empty interface (any) holds, or the second
// word (offset InterfaceLayout().ItabType) of the itab that the first
// word of a non-empty interface (error, io.Reader) points to. addr is an
// address of the file: subtract the load bias (procmaps.LoadBias) from an
// address read in a PIE process. It needs no DWARF, so it works on
// stripped binaries; it fails for types made at run time by reflect,
// whose descriptors are not in the file.
//
// Names of defined types, pointers, slices, arrays, maps and chans of
// them are rebuilt with package paths ("*net/http.Request"); func,
// struct and interface literals are named as the runtime names them
// (package names, not paths).
func (b *Binary) RuntimeTypeName(addr uint64) (string, error) {
	tab, err := b.module()
	if err != nil {
		return "", fmt.Errorf("gobin: %s: runtime type at %#x: %w", b.Path, addr, err)
	}
	md := tab.Moduledata()
	if md == nil {
		return "", fmt.Errorf("gobin: %s: runtime type at %#x: runtime.firstmoduledata not found", b.Path, addr)
	}
	r := rtReader{b: b, types: md.Types, etypes: md.Etypes, minor: 0}
	r.minor, _ = goMinor(b.GoVersion)
	name, err := r.name(addr, 0)
	if err != nil {
		return "", fmt.Errorf("gobin: %s: runtime type at %#x: %w", b.Path, addr, err)
	}
	return name, nil
}

// rtReader decodes runtime type descriptors of one binary.
type rtReader struct {
	b             *Binary
	types, etypes uint64
	minor         int    // Go minor version, 0 if unknown
	mem           []byte // the type data [types, etypes), when read at once
}

func (r *rtReader) bytes(addr uint64, n int) ([]byte, error) {
	if addr < r.types || addr >= r.etypes {
		return nil, fmt.Errorf("%#x is outside the type data %#x-%#x", addr, r.types, r.etypes)
	}
	if r.mem != nil && n >= 0 && addr-r.types+uint64(n) <= uint64(len(r.mem)) {
		return r.mem[addr-r.types : addr-r.types+uint64(n)], nil
	}
	return r.b.readAt(addr, n)
}

// ptr reads a pointer field of a descriptor, through its RELATIVE
// relocation in a PIE.
func (r *rtReader) ptr(addr uint64) (uint64, error) {
	pb, err := r.bytes(addr, 8)
	if err != nil {
		return 0, err
	}
	if v, ok := r.b.image().Relocated(addr); ok {
		return v, nil
	}
	return r.b.elf.ByteOrder.Uint64(pb), nil
}

// name spells the type at addr.
func (r *rtReader) name(addr uint64, depth int) (string, error) {
	if depth > 16 {
		return "", fmt.Errorf("type nests too deeply")
	}
	hdr, err := r.bytes(addr, rtSize)
	if err != nil {
		return "", err
	}
	bo := r.b.elf.ByteOrder
	tflag, kind := hdr[rtTflag], TypeKind(hdr[rtKind]&kindMask)
	str, err := r.nameAt(r.types + uint64(int32(bo.Uint32(hdr[rtStr:]))))
	if err != nil {
		return "", err
	}
	if tflag&tflagExtraStar != 0 {
		str = strings.TrimPrefix(str, "*")
	}
	if tflag&tflagNamed != 0 {
		if tflag&tflagUncommon == 0 {
			return str, nil // predeclared: int, error, ...
		}
		pkg, err := r.pkgPath(addr, kind, hdr, bo)
		if err != nil || pkg == "" {
			return str, nil
		}
		// str is "pkgname.Name" or "pkgname.Name[args]".
		base := str
		if i := strings.IndexByte(base, '['); i >= 0 {
			base = base[:i]
		}
		if i := strings.IndexByte(base, '.'); i >= 0 {
			return pkg + str[i:], nil
		}
		return str, nil
	}
	elem := func(off uint64) (string, error) {
		p, err := r.ptr(addr + off)
		if err != nil {
			return "", err
		}
		return r.name(p, depth+1)
	}
	switch kind {
	case GoPointer:
		e, err := elem(rtSize)
		if err != nil {
			return str, nil
		}
		return "*" + e, nil
	case GoSlice:
		e, err := elem(rtSize)
		if err != nil {
			return str, nil
		}
		return "[]" + e, nil
	case GoArray:
		e, err := elem(rtSize)
		if err != nil {
			return str, nil
		}
		lb, err := r.bytes(addr+rtSize+16, 8)
		if err != nil {
			return str, nil
		}
		return "[" + strconv.FormatUint(bo.Uint64(lb), 10) + "]" + e, nil
	case GoChan:
		e, err := elem(rtSize)
		if err != nil {
			return str, nil
		}
		db, err := r.bytes(addr+rtSize+8, 8)
		if err != nil {
			return str, nil
		}
		switch bo.Uint64(db) { // ChanDir: 1 recv, 2 send, 3 both
		case 1:
			return "<-chan " + e, nil
		case 2:
			return "chan<- " + e, nil
		}
		return "chan " + e, nil
	case GoMap:
		k, err1 := elem(rtSize)
		v, err2 := elem(rtSize + 8)
		if err1 != nil || err2 != nil {
			return str, nil
		}
		return "map[" + k + "]" + v, nil
	}
	return str, nil
}

// pkgPath reads the package path of a named type from its uncommontype,
// which follows the kind's own fields.
func (r *rtReader) pkgPath(addr uint64, kind TypeKind, hdr []byte, bo binary.ByteOrder) (string, error) {
	extra, ok := r.kindSize(kind)
	if !ok {
		return "", fmt.Errorf("unknown size of a %v type descriptor", kind)
	}
	ub, err := r.bytes(addr+rtSize+extra, 4)
	if err != nil {
		return "", err
	}
	off := int32(bo.Uint32(ub))
	if off == 0 {
		return "", nil
	}
	return r.nameAt(r.types + uint64(off))
}

// kindSize is the size of a kind's own fields after the common part, on
// 64-bit targets (runtime/type.go, internal/abi/type.go).
func (r *rtReader) kindSize(kind TypeKind) (uint64, bool) {
	switch kind {
	case GoPointer, GoSlice:
		return 8, true // elem
	case GoArray:
		return 24, true // elem, slice, len
	case GoChan:
		return 16, true // elem, dir
	case GoFunc:
		return 8, true // inCount, outCount uint16 (+ padding)
	case GoInterface, GoStruct:
		return 32, true // pkgPath name; methods or fields []
	case GoMap:
		// Go 1.24 made maps swiss tables (internal/abi.SwissMapType:
		// Key, Elem, Group, Hasher, GroupSize, SlotSize, ElemOff,
		// Flags); before, abi.MapType / runtime.maptype (key, elem,
		// bucket, hasher, keysize, valuesize, bucketsize, flags).
		if r.minor >= 24 {
			return 64, true
		}
		return 40, true
	}
	if kind.IsInteger() || kind == GoBool || kind == GoString || kind == GoUnsafePointer ||
		kind == GoFloat32 || kind == GoFloat64 || kind == GoComplex64 || kind == GoComplex128 {
		return 0, true
	}
	return 0, false
}

// nameAt decodes a runtime name (runtime.name / internal/abi.Name): a
// flags byte, the length as a varint (Go 1.17+), the bytes.
func (r *rtReader) nameAt(addr uint64) (string, error) {
	lb, err := r.bytes(addr+1, 4)
	if err != nil {
		if lb, err = r.bytes(addr+1, 1); err != nil {
			return "", err
		}
	}
	n, k := binary.Uvarint(lb)
	if k <= 0 || n > 1<<16 {
		return "", fmt.Errorf("malformed type name at %#x", addr)
	}
	s, err := r.bytes(addr+1+uint64(k), int(n))
	if err != nil {
		return "", err
	}
	return string(s), nil
}

// InterfaceLayout says how to read an interface value: its type word and
// data word, and where an itab keeps the dynamic type.
type InterfaceLayout struct {
	// DataOffset is the offset of the data word in the interface value
	// (after the itab or *_type word at 0).
	DataOffset int
	// ItabType is the offset, in an itab (non-empty interfaces), of the
	// *_type of the dynamic type: runtime.itab._type before Go 1.22,
	// internal/abi.ITab.Type since.
	ItabType int
	// Source is "DWARF" or "table".
	Source string
}

// InterfaceLayout returns the layout of interface values: from DWARF when
// present, else the layout every Go release from 1.17 to 1.26 uses
// (data at 8, itab type at 8).
func (b *Binary) InterfaceLayout() (InterfaceLayout, error) {
	if !b.IsGo {
		return InterfaceLayout{}, fmt.Errorf("gobin: %s: interfaces: not a Go binary", b.Path)
	}
	l := InterfaceLayout{DataOffset: 8, ItabType: 8, Source: "table"}
	if b.HasDWARF {
		data, err1 := b.FieldOffset("runtime.iface", "data")
		it, err2 := b.FieldOffset("runtime.itab", "_type")
		if err2 != nil {
			it, err2 = b.FieldOffset("internal/abi.ITab", "Type")
		}
		if err1 == nil && err2 == nil {
			return InterfaceLayout{DataOffset: data, ItabType: it, Source: "DWARF"}, nil
		}
	}
	return l, nil
}

// MapLayout says how to read the length of a map: a map value is a
// pointer to the runtime's map header, whose element count is a word at
// CountOffset (hmap.count before Go 1.24, the swiss-table
// internal/runtime/maps.Map.used since). A nil map has length 0.
type MapLayout struct {
	CountOffset int
	CountSize   int
	// Swiss reports Go 1.24+ swiss-table maps.
	Swiss bool
	// Source is "DWARF" or "table".
	Source string
}

// MapLayout returns the map header layout: from DWARF when present, else
// from the Go version (count at 0, 8 bytes, in every release 1.17–1.26).
func (b *Binary) MapLayout() (MapLayout, error) {
	if !b.IsGo {
		return MapLayout{}, fmt.Errorf("gobin: %s: maps: not a Go binary", b.Path)
	}
	minor, ok := goMinor(b.GoVersion)
	if b.HasDWARF {
		if off, err := b.FieldOffset("runtime.hmap", "count"); err == nil {
			return MapLayout{CountOffset: off, CountSize: 8, Source: "DWARF"}, nil
		}
		if off, err := b.FieldOffset("internal/runtime/maps.Map", "used"); err == nil {
			return MapLayout{CountOffset: off, CountSize: 8, Swiss: true, Source: "DWARF"}, nil
		}
	}
	if !ok || minor < 17 || minor > 26 {
		return MapLayout{}, fmt.Errorf("gobin: %s: maps: no layout for Go version %q without DWARF (known: go1.17 to go1.26)", b.Path, b.GoVersion)
	}
	return MapLayout{CountOffset: 0, CountSize: 8, Swiss: minor >= 24, Source: "table"}, nil
}
