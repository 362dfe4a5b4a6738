package gobin

import (
	"fmt"
	"strings"

	"github.com/ebpftrace/ebpftrace/internal/gomodule"
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

// goModule is the binary's Go pclntab and moduledata, read once.
type goModule struct {
	tab *gomodule.Table
	err error
}

// module returns the Go pclntab and moduledata, read without .symtab
// (package gomodule), so that stripped and unstripped builds are read
// alike. Its error does not name the binary.
func (b *Binary) module() (*gomodule.Table, error) {
	b.mu.Lock()
	gm := b.gmod
	b.mu.Unlock()
	if gm != nil {
		return gm.tab, gm.err
	}
	gm = &goModule{}
	switch {
	case !b.IsGo:
		gm.err = fmt.Errorf("not a Go binary")
	case b.elf == nil:
		gm.err = fmt.Errorf("no ELF file")
	default:
		gm.tab, gm.err = gomodule.Open(b.elf, false)
		if gm.err != nil {
			gm.err = fmt.Errorf("read .gopclntab: %w", gm.err)
		}
	}
	b.mu.Lock()
	if b.gmod == nil {
		b.gmod = gm
	}
	gm = b.gmod
	b.mu.Unlock()
	return gm.tab, gm.err
}

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
	tab, err := b.module()
	if err != nil {
		return 0, "", fmt.Errorf("gobin: %s: %w", b.Path, err)
	}
	text, how := tab.TextStart()
	switch {
	case strings.HasPrefix(how, "moduledata"):
		return text, TextFromModuledata, nil
	case strings.HasPrefix(how, "pcHeader"):
		return text, TextFromPcHeader, nil
	case strings.HasPrefix(how, ".text"):
		return text, TextFromSection, nil
	}
	return 0, "", fmt.Errorf("gobin: %s: cannot find runtime.text: no symbol, moduledata, pcHeader.textStart or .text section (%s)", b.Path, how)
}

// pclntabFuncs recovers a Go binary's functions from .gopclntab. Names
// follow .symtab's spelling except that assembly functions lack the
// ".abi0" that .symtab adds to some of them (see Func).
func (b *Binary) pclntabFuncs() ([]Func, error) {
	tab, err := b.module()
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: %w", b.Path, err)
	}
	fs := tab.Funcs()
	out := make([]Func, 0, len(fs))
	for _, f := range fs {
		if f.Entry == 0 {
			continue
		}
		off, err := b.fileOffset(f.Entry)
		if err != nil {
			return nil, fmt.Errorf("gobin: %s: .gopclntab function %s: %w", b.Path, f.Name, err)
		}
		out = append(out, Func{Name: gomodule.ELFName(f.Name), Addr: f.Entry, Size: f.End - f.Entry, Offset: off})
	}
	return out, nil
}
