package symbolize

import (
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"fmt"
	"slices"
)

// pclntab header magics (debug/gosym, runtime/symtab.go).
const (
	goMagic12  = 0xfffffffb // Go 1.2–1.15
	goMagic116 = 0xfffffffa // Go 1.16–1.17
	goMagic118 = 0xfffffff0 // Go 1.18–1.19
	goMagic120 = 0xfffffff1 // Go 1.20+
)

// Word indexes of runtime.moduledata fields, the same from Go 1.16 to
// 1.26: pcHeader, funcnametab, cutab, filetab, pctab (slices of three
// words), pclntable, ftab, findfunctab, minpc, maxpc, text, etext.
const (
	mdPcHeader  = 0
	mdPclntable = 13
	mdMinpc     = 20
	mdMaxpc     = 21
	mdText      = 22
	mdEtext     = 23
)

// findPclntab returns the contents and virtual address of the Go pclntab:
// the .gopclntab section (.data.rel.ro.gopclntab in some old PIE
// builds) or, for a file without section headers, the first header with a
// known magic found in a PT_LOAD segment.
func findPclntab(f *elf.File) (data []byte, addr uint64, ok bool) {
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			d, err := s.Data()
			if err == nil && len(d) >= 64 {
				return d, s.Addr, true
			}
		}
	}
	if len(f.Sections) > 1 {
		return nil, 0, false // section headers without .gopclntab: not Go
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
			if (p.Vaddr+uint64(i))%8 != 0 || !pclnHeader(seg[i:], f.ByteOrder) {
				continue
			}
			return seg[i:], p.Vaddr + uint64(i), true
		}
	}
	return nil, 0, false
}

// pclnHeader reports whether d starts with a plausible Go 1.16+ pcHeader.
func pclnHeader(d []byte, bo binary.ByteOrder) bool {
	switch bo.Uint32(d) {
	case goMagic116, goMagic118, goMagic120:
	default:
		return false
	}
	return d[4] == 0 && d[5] == 0 && (d[6] == 1 || d[6] == 2 || d[6] == 4) && (d[7] == 4 || d[7] == 8)
}

// goFuncs lists the functions of a Go binary from its pclntab (pcln at
// virtual address pclnAddr) with debug/gosym, given the text start found
// by goTextStart. It also returns that text start and how it was found.
func goFuncs(f *elf.File, pcln []byte, pclnAddr uint64) (cands []candidate, text uint64, how string, err error) {
	text, how = goTextStart(f, pcln, pclnAddr, false)
	var gosymtab []byte
	if s := f.Section(".gosymtab"); s != nil && s.Type != elf.SHT_NOBITS {
		gosymtab, _ = s.Data()
	}
	defer func() {
		if r := recover(); r != nil {
			cands, err = nil, fmt.Errorf("symbolize: malformed .gopclntab: %v", r)
		}
	}()
	tab, err := gosym.NewTable(gosymtab, gosym.NewLineTable(pcln, text))
	if err != nil {
		return nil, 0, "", fmt.Errorf("symbolize: .gopclntab: %w", err)
	}
	cands = make([]candidate, 0, len(tab.Funcs))
	for _, fn := range tab.Funcs {
		if fn.Sym == nil || fn.Name == "" || fn.End < fn.Entry {
			continue
		}
		cands = append(cands, candidate{symbol{addr: fn.Entry, size: fn.End - fn.Entry, name: fn.Name}, 0})
	}
	return cands, text, how, nil
}

// goTextStart returns the address that the function entry offsets of a
// Go 1.18+ pclntab are relative to (runtime.text), and how it was found.
//
// Go 1.18–1.25 stored it in the pclntab header (pcHeader.textStart), but
// Go 1.26 writes 0 there ("no longer stored as it requires a
// relocation"), and debug/gosym uses whatever address the caller passes
// to NewLineTable. The .text section address is not a safe substitute:
// with external linking (cgo) the C start-up code comes first and
// runtime.text is further in (0x402400 vs .text 0x402300 in a test
// build). So, in order, the candidates are:
//
//  1. the runtime.text symbol of .symtab (not with useSymtab false);
//  2. moduledata.text, from runtime.firstmoduledata: the .go.module
//     section (Go 1.26), the runtime.firstmoduledata symbol, or a scan of
//     the writable segments (and RELATIVE relocations) for a structure
//     whose first word points at the pclntab;
//  3. pcHeader.textStart, when not 0 (Go 1.18–1.25);
//  4. the .text section address;
//  5. the first executable segment.
//
// Each candidate must be inside an executable segment together with the
// last function's end. Older pclntabs (Go 1.2–1.17) hold absolute
// addresses and ignore the text start.
func goTextStart(f *elf.File, pcln []byte, pclnAddr uint64, useSymtab bool) (uint64, string) {
	textSect := uint64(0)
	if s := f.Section(".text"); s != nil {
		textSect = s.Addr
	}
	bo := f.ByteOrder
	magic := bo.Uint32(pcln)
	if magic != goMagic118 && magic != goMagic120 {
		return textSect, "unused (pclntab before Go 1.18)"
	}
	ptr := int(pcln[7])
	word := func(d []byte, i int) (uint64, bool) {
		o := i * ptr
		if o < 0 || o+ptr > len(d) {
			return 0, false
		}
		if ptr == 4 {
			return uint64(bo.Uint32(d[o:])), true
		}
		return bo.Uint64(d[o:]), true
	}
	// The functab (entryoff, funcoff uint32 pairs) starts at pclnOffset
	// (header word 7); entry nfunc holds the end of the last function.
	nfunc, _ := word(pcln[8:], 0)
	ftab, _ := word(pcln[8:], 7)
	var span uint64
	if e := ftab + nfunc*8; e+4 <= uint64(len(pcln)) && e >= ftab {
		span = uint64(bo.Uint32(pcln[e:]))
	}
	valid := func(t uint64) bool {
		if t == 0 {
			return false
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && t >= p.Vaddr && t+span <= p.Vaddr+p.Memsz {
				return true
			}
		}
		return false
	}

	var syms []elf.Symbol
	if useSymtab {
		syms, _ = f.Symbols()
		for _, s := range syms {
			if s.Name == "runtime.text" && valid(s.Value) {
				return s.Value, "runtime.text symbol"
			}
		}
	}

	m := &memReader{f: f, ptr: ptr}
	check := func(base uint64) (uint64, bool) {
		at := func(i int) uint64 { return m.pointer(base + uint64(i*ptr)) }
		if at(mdPcHeader) != pclnAddr {
			return 0, false
		}
		if p := at(mdPclntable); p < pclnAddr || p >= pclnAddr+uint64(len(pcln)) {
			return 0, false
		}
		text, minpc, maxpc, etext := at(mdText), at(mdMinpc), at(mdMaxpc), at(mdEtext)
		if text > minpc || minpc >= maxpc || text >= etext || !valid(text) {
			return 0, false
		}
		return text, true
	}
	if s := f.Section(".go.module"); s != nil {
		if t, ok := check(s.Addr); ok {
			return t, "moduledata.text (.go.module section)"
		}
	}
	for _, s := range syms {
		if s.Name == "runtime.firstmoduledata" {
			if t, ok := check(s.Value); ok {
				return t, "moduledata.text (runtime.firstmoduledata symbol)"
			}
		}
	}
	for _, base := range m.find(pclnAddr) {
		if t, ok := check(base); ok {
			return t, "moduledata.text (found by scanning writable data)"
		}
	}

	if t, _ := word(pcln[8:], 2); valid(t) {
		return t, "pcHeader.textStart"
	}
	if valid(textSect) {
		return textSect, ".text section (guess)"
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			return p.Vaddr, "first executable segment (guess)"
		}
	}
	return textSect, "none"
}

// memReader reads pointers from an ELF file's segments as the loader
// would see them before adding the load bias.
type memReader struct {
	f      *elf.File
	ptr    int
	relocs map[uint64]uint64 // RELATIVE relocation target → addend
	relD   bool
}

// pointer returns the pointer-sized word at vaddr; when the file holds 0
// there and a RELATIVE relocation targets it, the relocation's addend
// (external linkers may leave relocated words zero). 0 if unreadable.
func (m *memReader) pointer(vaddr uint64) uint64 {
	var buf [8]byte
	b := buf[:m.ptr]
	for _, p := range m.f.Progs {
		if p.Type != elf.PT_LOAD || vaddr < p.Vaddr || vaddr+uint64(m.ptr) > p.Vaddr+p.Filesz {
			continue
		}
		if _, err := p.ReadAt(b, int64(vaddr-p.Vaddr)); err != nil {
			return 0
		}
		var v uint64
		if m.ptr == 4 {
			v = uint64(m.f.ByteOrder.Uint32(b))
		} else {
			v = m.f.ByteOrder.Uint64(b)
		}
		if v == 0 {
			v = m.relocations()[vaddr]
		}
		return v
	}
	return 0
}

// relocations loads the R_X86_64_RELATIVE / R_AARCH64_RELATIVE
// relocations of the SHT_RELA sections.
func (m *memReader) relocations() map[uint64]uint64 {
	if m.relD {
		return m.relocs
	}
	m.relD = true
	m.relocs = map[uint64]uint64{}
	var relative uint32
	switch m.f.Machine {
	case elf.EM_X86_64:
		relative = uint32(elf.R_X86_64_RELATIVE)
	case elf.EM_AARCH64:
		relative = uint32(elf.R_AARCH64_RELATIVE)
	default:
		return m.relocs
	}
	if m.f.Class != elf.ELFCLASS64 {
		return m.relocs
	}
	for _, s := range m.f.Sections {
		if s.Type != elf.SHT_RELA {
			continue
		}
		d, err := s.Data()
		if err != nil {
			continue
		}
		for i := 0; i+24 <= len(d); i += 24 {
			if uint32(m.f.ByteOrder.Uint64(d[i+8:])) == relative {
				m.relocs[m.f.ByteOrder.Uint64(d[i:])] = m.f.ByteOrder.Uint64(d[i+16:])
			}
		}
	}
	return m.relocs
}

// find returns the addresses in writable segments that hold the pointer
// value v, in the file or as a RELATIVE relocation's addend.
func (m *memReader) find(v uint64) []uint64 {
	var out []uint64
	for _, p := range m.f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W == 0 || p.Filesz > 1<<30 {
			continue
		}
		seg := make([]byte, p.Filesz)
		if _, err := p.ReadAt(seg, 0); err != nil {
			continue
		}
		step := uint64(m.ptr)
		for a := (p.Vaddr + step - 1) &^ (step - 1); a+step <= p.Vaddr+p.Filesz; a += step {
			d := seg[a-p.Vaddr:]
			var w uint64
			if m.ptr == 4 {
				w = uint64(m.f.ByteOrder.Uint32(d))
			} else {
				w = m.f.ByteOrder.Uint64(d)
			}
			if w == v {
				out = append(out, a)
			}
		}
	}
	var rel []uint64
	for off, addend := range m.relocations() {
		if addend == v {
			rel = append(rel, off)
		}
	}
	slices.Sort(rel)
	return append(out, rel...)
}
