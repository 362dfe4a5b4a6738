package gobin

import (
	"fmt"
	"strings"
	"sync"
)

// rtIndex is the type graph built from a binary's runtime type
// descriptors, for binaries without DWARF: every descriptor reachable from
// the module's typelinks and itabs, through elements, keys, struct fields,
// function parameters and method types.
type rtIndex struct {
	mu     sync.Mutex // guards the maps: TypeByRuntimeAddr adds to them
	byName map[string]*Type
	byAddr map[uint64]*Type
	short  map[string][]string
	err    error
}

// runtimeTypes builds the index once.
func (b *Binary) runtimeTypes() (*rtIndex, error) {
	b.mu.Lock()
	ix := b.rtix
	b.mu.Unlock()
	if ix != nil {
		return ix, ix.err
	}
	ix = b.buildRuntimeTypes()
	b.mu.Lock()
	if b.rtix == nil {
		b.rtix = ix
	}
	ix = b.rtix
	b.mu.Unlock()
	return ix, ix.err
}

func (b *Binary) buildRuntimeTypes() *rtIndex {
	ix := &rtIndex{byName: map[string]*Type{}, byAddr: map[uint64]*Type{}, short: map[string][]string{}}
	tab, err := b.module()
	if err != nil {
		ix.err = err
		return ix
	}
	md := tab.Moduledata()
	if md == nil || md.Etypes <= md.Types || md.Etypes-md.Types > 1<<30 {
		ix.err = fmt.Errorf("runtime.firstmoduledata with the type data not found")
		return ix
	}
	r := &rtReader{b: b, types: md.Types, etypes: md.Etypes}
	r.minor, _ = goMinor(b.GoVersion)
	// Read the type data once: the walk makes many small reads.
	if data, err := b.readAt(md.Types, int(md.Etypes-md.Types)); err == nil {
		r.mem = data
	}
	var roots []uint64
	for i := uint64(0); i < md.NTypelinks; i++ {
		if ob, err := b.readAt(md.Typelinks+4*i, 4); err == nil {
			roots = append(roots, md.Types+uint64(int32(b.elf.ByteOrder.Uint32(ob))))
		}
	}
	for i := uint64(0); i < md.NItablinks; i++ {
		if itab, err := b.readPointer(md.Itablinks + 8*i); err == nil {
			if typ, err := b.readPointer(itab + 8); err == nil {
				roots = append(roots, typ)
			}
		}
	}
	for _, a := range roots {
		r.build(ix, a, 0)
	}
	for n := range ix.byName {
		dot := strings.IndexByte(n, '.')
		if dot <= 0 || strings.ContainsAny(n[:dot], "[*( ") {
			continue
		}
		if i := strings.LastIndexByte(n[:dot], '/'); i >= 0 {
			ix.short[n[i+1:]] = append(ix.short[n[i+1:]], n)
		}
	}
	if len(ix.byName) == 0 {
		ix.err = fmt.Errorf("no runtime type descriptors found")
	}
	return ix
}

// build makes the Type of the descriptor at addr and, recursively, of
// the types it refers to. Unreadable parts are left out.
func (r *rtReader) build(ix *rtIndex, addr uint64, depth int) *Type {
	if t, ok := ix.byAddr[addr]; ok {
		return t
	}
	if depth > 100 || addr == 0 {
		return nil
	}
	hdr, err := r.bytes(addr, rtSize)
	if err != nil {
		return nil
	}
	name, err := r.name(addr, 0)
	if err != nil {
		return nil
	}
	bo := r.b.elf.ByteOrder
	t := &Type{Name: name, Kind: TypeKind(hdr[rtKind] & kindMask), Size: int64(bo.Uint64(hdr)), RuntimeAddr: addr}
	ix.byAddr[addr] = t
	if old, dup := ix.byName[name]; !dup || old.Kind == GoInvalid {
		ix.byName[name] = t
	}
	ptr := func(off uint64) uint64 { p, _ := r.ptr(addr + off); return p }
	word := func(off uint64) uint64 {
		wb, err := r.bytes(addr+off, 8)
		if err != nil {
			return 0
		}
		return bo.Uint64(wb)
	}
	sub := func(a uint64) *Type { return r.build(ix, a, depth+1) }
	switch t.Kind {
	case GoPointer, GoSlice, GoChan:
		t.Elem = sub(ptr(rtSize))
	case GoArray:
		t.Elem = sub(ptr(rtSize))
		t.Len = int64(word(rtSize + 16))
	case GoMap:
		t.Key = sub(ptr(rtSize))
		t.Elem = sub(ptr(rtSize + 8))
	case GoInterface:
		t.EmptyInterface = word(rtSize+16) == 0 // len(methods)
	case GoStruct:
		fields, n := ptr(rtSize+8), word(rtSize+16)
		for i := uint64(0); i < n && i < 1<<12; i++ {
			fa := fields + 24*i
			np, ft, off := ptr(fa-addr), ptr(fa+8-addr), word(fa+16-addr)
			fname, err := r.nameAt(np)
			if err != nil {
				break
			}
			fb, _ := r.bytes(np, 1)
			embedded := len(fb) == 1 && fb[0]&(1<<3) != 0
			if r.minor != 0 && r.minor < 19 {
				// Go 1.17–1.18: offsetAnon = offset<<1 | embedded.
				embedded, off = off&1 != 0, off>>1
			}
			f := Field{Name: fname, Offset: int64(off), Type: sub(ft), Embedded: embedded}
			if f.Type == nil {
				break
			}
			t.Fields = append(t.Fields, f)
		}
	case GoFunc:
		// Parameter types follow the funcType (and its uncommontype).
		cb, err := r.bytes(addr+rtSize, 4)
		if err == nil {
			in, out := uint64(bo.Uint16(cb)), uint64(bo.Uint16(cb[2:])&(1<<15-1))
			base := addr + rtSize + 8
			if hdr[rtTflag]&tflagUncommon != 0 {
				base += 16
			}
			for i := uint64(0); i < in+out && i < 256; i++ {
				sub(ptr(base + 8*i - addr))
			}
		}
	}
	// Method types of named types.
	if hdr[rtTflag]&tflagUncommon != 0 {
		if extra, ok := r.kindSize(t.Kind); ok {
			ub, err := r.bytes(addr+rtSize+extra, 16)
			if err == nil {
				mcount, moff := uint64(bo.Uint16(ub[4:])), uint64(bo.Uint32(ub[8:]))
				for i := uint64(0); i < mcount && i < 1<<12; i++ {
					mb, err := r.bytes(addr+rtSize+extra+moff+16*i, 16)
					if err != nil {
						break
					}
					if mt := int32(bo.Uint32(mb[4:])); mt > 0 {
						sub(r.types + uint64(mt))
					}
				}
			}
		}
	}
	return t
}

// lookup looks a type up in the runtime type index, with the spellings
// TypeByName accepts.
func (ix *rtIndex) lookup(name string, depth int) (*Type, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.lookupLocked(name, depth)
}

func (ix *rtIndex) lookupLocked(name string, depth int) (*Type, bool) {
	if depth > 8 {
		return nil, false
	}
	switch name {
	case "any", "interface{}":
		name = "interface {}"
	}
	if t, ok := ix.byName[name]; ok {
		return t, true
	}
	if elem, ok := strings.CutPrefix(name, "*"); ok {
		if et, ok := ix.lookupLocked(elem, depth+1); ok {
			if t, ok := ix.byName["*"+et.Name]; ok {
				return t, true
			}
			return &Type{Name: "*" + et.Name, Kind: GoPointer, Size: 8, Elem: et}, true
		}
	}
	if full := ix.short[name]; len(full) == 1 {
		return ix.byName[full[0]], true
	}
	return nil, false
}

// TypeByRuntimeAddr returns the type whose runtime type descriptor is at
// the virtual address addr (as for RuntimeTypeName: an interface's type
// word, minus the load bias), so that the value an interface holds can be
// read as its dynamic type (see Type.DirectIface for whether the data
// word is the value or points to it). From DWARF when the binary has it,
// else from the runtime type descriptors.
func (b *Binary) TypeByRuntimeAddr(addr uint64) (*Type, error) {
	if b.HasDWARF {
		name, err := b.RuntimeTypeName(addr)
		if err != nil {
			return nil, err
		}
		return b.TypeByName(name)
	}
	ix, err := b.runtimeTypes()
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: runtime type at %#x: %w", b.Path, addr, err)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if t, ok := ix.byAddr[addr]; ok {
		return t, nil
	}
	// A descriptor that no root reaches (a defined type only ever
	// converted to an empty interface): build it on its own.
	tab, _ := b.module()
	md := tab.Moduledata()
	r := &rtReader{b: b, types: md.Types, etypes: md.Etypes}
	r.minor, _ = goMinor(b.GoVersion)
	t := r.build(ix, addr, 0)
	if t == nil {
		return nil, fmt.Errorf("gobin: %s: no runtime type descriptor at %#x", b.Path, addr)
	}
	return t, nil
}
