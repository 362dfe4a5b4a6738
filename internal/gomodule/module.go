package gomodule

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// pclntab header magics (runtime/symtab.go, debug/gosym).
const (
	Magic116 = 0xfffffffa // Go 1.16–1.17
	Magic118 = 0xfffffff0 // Go 1.18–1.19
	Magic120 = 0xfffffff1 // Go 1.20–1.26
)

// ErrNoPclntab is returned for files without a Go pclntab of a supported
// layout (not Go, or Go before 1.16).
var ErrNoPclntab = errors.New("no Go 1.16+ pclntab")

// Header is the decoded pcHeader at the start of the pclntab.
type Header struct {
	Magic   uint32
	MinLC   uint64 // instruction size quantum (1 on x86)
	PtrSize int
	Nfunc   uint64
	Nfiles  uint64
	// TextStart is pcHeader.textStart (Go 1.18–1.25; 0 in Go 1.26 and
	// absent before 1.18).
	TextStart uint64
	// Offsets from the pclntab's start of its tables.
	FuncnameOff, CuOff, FiletabOff, PctabOff, PclnOff uint64
}

// parseHeader decodes the pcHeader at the start of d.
func parseHeader(d []byte, bo binary.ByteOrder) (Header, error) {
	if len(d) < 8 {
		return Header{}, ErrNoPclntab
	}
	h := Header{Magic: bo.Uint32(d), MinLC: uint64(d[6]), PtrSize: int(d[7])}
	if h.Magic != Magic116 && h.Magic != Magic118 && h.Magic != Magic120 || d[4] != 0 || d[5] != 0 {
		return Header{}, ErrNoPclntab
	}
	if h.PtrSize != 8 {
		return Header{}, fmt.Errorf("pclntab pointer size %d is not supported (64-bit only)", h.PtrSize)
	}
	if h.MinLC == 0 {
		h.MinLC = 1
	}
	words := []*uint64{&h.Nfunc, &h.Nfiles, &h.TextStart, &h.FuncnameOff, &h.CuOff, &h.FiletabOff, &h.PctabOff, &h.PclnOff}
	if h.Magic == Magic116 {
		words = append(words[:2], words[3:]...) // no textStart
	}
	if len(d) < 8+8*len(words) {
		return Header{}, fmt.Errorf("pclntab header truncated")
	}
	for i, w := range words {
		*w = bo.Uint64(d[8+8*i:])
	}
	for _, o := range []uint64{h.FuncnameOff, h.CuOff, h.FiletabOff, h.PctabOff, h.PclnOff} {
		if o >= uint64(len(d)) {
			return Header{}, fmt.Errorf("pclntab header offset %#x beyond the table (%#x bytes)", o, len(d))
		}
	}
	return h, nil
}

// FindPclntab returns the contents and virtual address of the Go pclntab:
// the .gopclntab section (.data.rel.ro.gopclntab in some PIE builds) or,
// for a file without section headers, the first header with a known
// magic in a non-executable PT_LOAD segment.
func FindPclntab(f *elf.File) (data []byte, addr uint64, err error) {
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			d, err := s.Data()
			if err != nil {
				return nil, 0, fmt.Errorf("read %s: %w", name, err)
			}
			if _, err := parseHeader(d, f.ByteOrder); err != nil {
				return nil, 0, err
			}
			return d, s.Addr, nil
		}
	}
	if len(f.Sections) > 1 {
		return nil, 0, ErrNoPclntab // section headers without .gopclntab: not Go
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X != 0 || p.Filesz > 1<<31 {
			continue
		}
		seg := make([]byte, p.Filesz)
		if _, err := p.ReadAt(seg, 0); err != nil {
			continue
		}
		for i := 0; i+64 <= len(seg); i += 4 {
			if (p.Vaddr+uint64(i))%8 != 0 {
				continue
			}
			if _, err := parseHeader(seg[i:], f.ByteOrder); err == nil {
				return seg[i:], p.Vaddr + uint64(i), nil
			}
		}
	}
	return nil, 0, ErrNoPclntab
}

// Moduledata is runtime.firstmoduledata as the linker wrote it: the
// fields that locate the module's code and runtime type data. Addresses
// are ELF virtual addresses.
type Moduledata struct {
	// Addr is where the structure is; How says how it was found.
	Addr uint64
	How  string
	// Text, Etext delimit the Go text (runtime.text, runtime.etext);
	// Minpc, Maxpc the functions of the pclntab.
	Text, Etext, Minpc, Maxpc uint64
	// Types, Etypes delimit the runtime type descriptors and the names
	// they refer to (nameOff and typeOff values are offsets from Types).
	Types, Etypes uint64
	// Gofunc is go:func.*, the base of funcdata offsets (Go 1.18+; 0
	// before).
	Gofunc uint64
	// Typelinks is the address and count of the []int32 of type offsets
	// (from Types) of the module's unnamed composite types.
	Typelinks, NTypelinks uint64
	// Itablinks is the address and count of the []*itab of the itabs the
	// linker built.
	Itablinks, NItablinks uint64
}

// Word indexes of moduledata fields on 64-bit targets. Up to maxpc the
// layout is the same from Go 1.16 to 1.26: pcHeader, then funcnametab,
// cutab, filetab, pctab, pclntable, ftab (slices of three words),
// findfunctab, minpc, maxpc, text, etext. After that:
//
//	Go 1.16–1.17: noptrdata…enoptrbss (8), end, gcdata, gcbss, types, etypes,
//	              textsectmap (3), typelinks (3), itablinks (3)
//	Go 1.18–1.19: … types, etypes, rodata, gofunc, textsectmap, typelinks, itablinks
//	Go 1.20–1.25: covctrs, ecovctrs inserted before end
//	Go 1.26:      epclntab inserted after gofunc
//
// (runtime/symtab.go of go1.16, go1.19 and go1.26; the 1.18 layout was
// read from the firstmoduledata of a go1.18.3 binary, Debian's
// go-md2man.)
const (
	mdPcHeader  = 0
	mdPclntable = 13
	mdMinpc     = 20
	mdMaxpc     = 21
	mdText      = 22
	mdEtext     = 23
)

// mdLayout is the position of the fields that moved.
type mdLayout struct {
	types, gofunc, typelinks int // gofunc -1: none
}

// layouts lists the candidate layouts of a pclntab magic; the first
// whose slices validate is taken (Go 1.26 differs from 1.20 only by
// epclntab).
func layouts(magic uint32) []mdLayout {
	switch magic {
	case Magic116:
		return []mdLayout{{types: 35, gofunc: -1, typelinks: 40}}
	case Magic118:
		return []mdLayout{{types: 35, gofunc: 38, typelinks: 42}}
	default:
		return []mdLayout{{types: 37, gofunc: 40, typelinks: 45}, {types: 37, gofunc: 40, typelinks: 44}}
	}
}

// findModuledata locates runtime.firstmoduledata: the .go.module section
// (Go 1.26), the runtime.firstmoduledata symbol, or a scan of the
// writable segments and relocations for a word that points at the
// pclntab, each candidate checked for consistency.
func findModuledata(im *Image, h Header, pcln []byte, pclnAddr uint64, syms []elf.Symbol) (*Moduledata, error) {
	try := func(base uint64, how string) *Moduledata {
		at := func(i int) uint64 { v, _ := im.Pointer(base + uint64(8*i)); return v }
		if at(mdPcHeader) != pclnAddr {
			return nil
		}
		if p := at(mdPclntable); p < pclnAddr || p >= pclnAddr+uint64(len(pcln)) {
			return nil
		}
		md := &Moduledata{Addr: base, How: how, Text: at(mdText), Etext: at(mdEtext), Minpc: at(mdMinpc), Maxpc: at(mdMaxpc)}
		if md.Text > md.Minpc || md.Minpc >= md.Maxpc || md.Text >= md.Etext || !im.Executable(md.Text, md.Maxpc-md.Text) {
			return nil
		}
		for _, l := range layouts(h.Magic) {
			types, etypes := at(l.types), at(l.types+1)
			tl, n, c := at(l.typelinks), at(l.typelinks+1), at(l.typelinks+2)
			il, ni, ci := at(l.typelinks+3), at(l.typelinks+4), at(l.typelinks+5)
			if types > etypes || n != c || ni != ci || n > 1<<24 || ni > 1<<24 {
				continue
			}
			if n > 0 {
				if _, ok := im.Read(tl, int(4*n)); !ok {
					continue
				}
			}
			if ni > 0 {
				if _, ok := im.Read(il, int(8*ni)); !ok {
					continue
				}
			}
			md.Types, md.Etypes = types, etypes
			md.Typelinks, md.NTypelinks, md.Itablinks, md.NItablinks = tl, n, il, ni
			if l.gofunc >= 0 {
				md.Gofunc = at(l.gofunc)
			}
			return md
		}
		return nil
	}
	if s := im.f.Section(".go.module"); s != nil {
		if md := try(s.Addr, ".go.module section"); md != nil {
			return md, nil
		}
	}
	for _, s := range syms {
		if s.Name == "runtime.firstmoduledata" {
			if md := try(s.Value, "runtime.firstmoduledata symbol"); md != nil {
				return md, nil
			}
		}
	}
	for _, base := range im.findPointer(pclnAddr) {
		if md := try(base, "scan of writable data for a pointer to the pclntab"); md != nil {
			return md, nil
		}
	}
	return nil, errors.New("runtime.firstmoduledata not found")
}
