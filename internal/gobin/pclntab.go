package gobin

import (
	"debug/elf"
	"debug/gosym"
	"fmt"
	"strings"
)

// TextStartSource names how GoTextStart found runtime.text.
type TextStartSource string

// The ways of finding runtime.text, in the order they are tried.
const (
	// TextFromSymtab: the runtime.text symbol of .symtab.
	TextFromSymtab TextStartSource = "symtab"
	// TextFromModuledata: the text field of runtime.firstmoduledata, found
	// as the data word that points at .gopclntab (the moduledata's
	// pcHeader field).
	TextFromModuledata TextStartSource = "moduledata"
	// TextFromPcHeader: pcHeader.textStart, which Go 1.18–1.25 fill in and
	// Go 1.26 leaves zero.
	TextFromPcHeader TextStartSource = "pcHeader"
	// TextFromSection: the address of the .text section. Right for
	// internally linked Go binaries; with external linking C start-up code
	// may come first.
	TextFromSection TextStartSource = "section"
)

// Layout constants of the Go 1.18+ pcHeader and moduledata on 64-bit
// targets (runtime/symtab.go; unchanged from Go 1.18 to 1.26).
const (
	pcHeaderTextStart   = 8 + 2*8 // magic..ptrSize, nfunc, nfiles, then textStart
	pcHeaderFuncnameOff = 8 + 3*8 // funcnameOffset
	// moduledata: pcHeader *pcHeader, funcnametab, cutab, filetab, pctab,
	// pclntable, ftab (six slices of 24 bytes), findfunctab, minpc, maxpc,
	// text.
	moduledataFuncnametab = 8
	moduledataMinpc       = 8 + 6*24 + 8
	moduledataText        = moduledataMinpc + 2*8
)

// GoTextStart returns the address of runtime.text, the base that Go 1.18+
// .gopclntab function entries are relative to, and how it was found.
//
// Go 1.26 no longer stores it in pcHeader.textStart (the word is zero), so
// reading the header, as gosym-based tools did, gives entry offsets instead
// of addresses. The moduledata's text field is what the runtime itself
// uses.
func (b *Binary) GoTextStart() (uint64, TextStartSource, error) {
	if !b.IsGo {
		return 0, "", fmt.Errorf("gobin: %s: not a Go binary", b.Path)
	}
	if !b.Stripped {
		if s, err := b.Symbol("runtime.text"); err == nil {
			return s.Addr, TextFromSymtab, nil
		}
	}
	return b.textStartNoSymtab()
}

// pclntabSection returns the section holding Go's pclntab: .gopclntab,
// or .data.rel.ro.gopclntab in PIE binaries linked by older Go (1.19's
// internal linker puts it there), or nil.
func pclntabSection(f *elf.File) *elf.Section {
	if s := f.Section(".gopclntab"); s != nil {
		return s
	}
	return f.Section(".data.rel.ro.gopclntab")
}

// textStartNoSymtab finds runtime.text without .symtab.
func (b *Binary) textStartNoSymtab() (uint64, TextStartSource, error) {
	pcln := pclntabSection(b.elf)
	if pcln == nil {
		return 0, "", fmt.Errorf("gobin: %s: no .gopclntab section", b.Path)
	}
	hdr := make([]byte, pcHeaderFuncnameOff+8)
	if _, err := pcln.ReadAt(hdr, 0); err != nil {
		return 0, "", fmt.Errorf("gobin: %s: read .gopclntab header: %w", b.Path, err)
	}
	if hdr[7] != 8 {
		return 0, "", fmt.Errorf("gobin: %s: .gopclntab pointer size %d is not supported", b.Path, hdr[7])
	}
	bo := b.elf.ByteOrder
	if t, ok := b.moduledataText(pcln.Addr, pcln.Addr+bo.Uint64(hdr[pcHeaderFuncnameOff:])); ok {
		return t, TextFromModuledata, nil
	}
	if isGo118Magic(bo.Uint32(hdr)) {
		if t := bo.Uint64(hdr[pcHeaderTextStart:]); t != 0 {
			return t, TextFromPcHeader, nil
		}
	}
	if s := b.elf.Section(".text"); s != nil {
		return s.Addr, TextFromSection, nil
	}
	return 0, "", fmt.Errorf("gobin: %s: cannot find runtime.text: no symbol, moduledata, pcHeader.textStart or .text section", b.Path)
}

func isGo118Magic(m uint32) bool {
	return m == 0xfffffff0 || m == 0xfffffff1 // Go 1.18–1.19, Go 1.20+
}

// moduledataText looks for runtime.firstmoduledata, whose first word points
// at .gopclntab and whose second (funcnametab's data pointer) at
// .gopclntab+funcnameOffset, and returns its text field. Words are read
// through R_X86_64_RELATIVE relocations, so PIE files work too.
func (b *Binary) moduledataText(pclnAddr, funcnameAddr uint64) (uint64, bool) {
	bo := b.elf.ByteOrder
	check := func(md uint64) (uint64, bool) {
		if v, err := b.readPointer(md + moduledataFuncnametab); err != nil || v != funcnameAddr {
			return 0, false
		}
		text, err1 := b.readPointer(md + moduledataText)
		minpc, err2 := b.readPointer(md + moduledataMinpc)
		if err1 != nil || err2 != nil || text == 0 || text > minpc || !b.executable(text) {
			return 0, false
		}
		return text, true
	}
	// Go 1.26 puts moduledata in its own .go.module section; older ones in
	// .noptrdata. Look there first, then in every other writable section.
	order := []*elf.Section{b.elf.Section(".go.module"), b.elf.Section(".noptrdata")}
	for _, s := range b.elf.Sections {
		if s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_ALLOC != 0 && s.Flags&elf.SHF_WRITE != 0 &&
			s.Name != ".go.module" && s.Name != ".noptrdata" {
			order = append(order, s)
		}
	}
	for _, s := range order {
		if s == nil {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for i := 0; i+8 <= len(data); i += 8 {
			if bo.Uint64(data[i:]) == pclnAddr {
				if t, ok := check(s.Addr + uint64(i)); ok {
					return t, true
				}
			}
		}
	}
	// An external linker may leave relocated words zero in the file.
	for _, r := range b.relocs() {
		if r.addend == pclnAddr {
			if t, ok := check(r.off); ok {
				return t, true
			}
		}
	}
	return 0, false
}

// executable reports whether vaddr lies in an executable PT_LOAD segment.
func (b *Binary) executable(vaddr uint64) bool {
	for _, p := range b.elf.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Memsz {
			return true
		}
	}
	return false
}

// pclntabFuncs recovers a Go binary's functions from .gopclntab with
// debug/gosym, using runtime.text found without .symtab. Names follow
// .symtab's spelling except that assembly functions lack the ".abi0" that
// .symtab adds to some of them (see Func).
func (b *Binary) pclntabFuncs() ([]Func, error) {
	pcln := pclntabSection(b.elf)
	data, err := pcln.Data()
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: read .gopclntab: %w", b.Path, err)
	}
	text, _, err := b.textStartNoSymtab()
	if err != nil {
		return nil, err
	}
	var symtab []byte
	if s := b.elf.Section(".gosymtab"); s != nil {
		symtab, _ = s.Data()
	}
	tab, err := gosym.NewTable(symtab, gosym.NewLineTable(data, text))
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: decode .gopclntab: %w", b.Path, err)
	}
	out := make([]Func, 0, len(tab.Funcs))
	for _, f := range tab.Funcs {
		if f.Entry == 0 || f.End < f.Entry {
			continue
		}
		off, err := b.fileOffset(f.Entry)
		if err != nil {
			return nil, fmt.Errorf("gobin: %s: .gopclntab function %s: %w", b.Path, f.Name, err)
		}
		// The linker writes ELF symbol names with '·' rewritten to '.'
		// (cmd/link putelfsym); name functions the same way.
		name := strings.ReplaceAll(f.Name, "·", ".")
		out = append(out, Func{Name: name, Addr: f.Entry, Size: f.End - f.Entry, Offset: off})
	}
	return out, nil
}
