package symbolize

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebpftrace/ebpftrace/internal/gomodule"
)

// debugRoot is where separate debug files are looked for, as gdb does.
const debugRoot = "/usr/lib/debug"

// elfInfo is what symbolization needs from one ELF file.
type elfInfo struct {
	// loads are the PT_LOAD program headers, to turn a file offset into a
	// virtual address.
	loads []elf.ProgHeader
	// syms are the functions, by virtual address.
	syms *symTable
	// sources says where the symbols came from, e.g. ".symtab",
	// ".dynsym", "debug file /usr/lib/debug/.build-id/…",
	// ".gopclntab".
	sources []string
	// goText is the text start used with .gopclntab (0 if unused) and
	// goTextHow says how it was found.
	goText    uint64
	goTextHow string
	// inline is the Go pclntab, which expands inlined calls and gives
	// file and line; nil for other binaries.
	inline *gomodule.Table
}

// readELF reads the program headers and function symbols of the ELF file
// in r. path is the file's name as the process mapped it; it locates a
// debug file named by .gnu_debuglink.
func readELF(r io.ReaderAt, path string) (*elfInfo, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("symbolize: %s: %w", path, err)
	}
	info := &elfInfo{}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			info.loads = append(info.loads, p.ProgHeader)
		}
	}
	var cands []candidate
	// A Go binary's pclntab names its functions when .symtab is gone, and
	// expands inlined calls in either case.
	tab, _ := gomodule.Open(f, true)
	if tab != nil && tab.Detach() == nil { // the file is closed once read
		info.inline = tab
	}
	symtab, _ := f.Symbols()
	if len(symtab) > 0 {
		cands = appendELFSyms(cands, symtab)
		info.sources = append(info.sources, ".symtab")
	}
	if dyn, _ := f.DynamicSymbols(); len(dyn) > 0 {
		cands = appendELFSyms(cands, dyn)
		info.sources = append(info.sources, ".dynsym")
	}
	if len(symtab) == 0 {
		if dsyms, dpath := debugFileSymbols(f, path); len(dsyms) > 0 {
			cands = appendELFSyms(cands, dsyms)
			info.sources = append(info.sources, "debug file "+dpath)
		}
		if tab != nil {
			for _, fn := range tab.Funcs() {
				cands = append(cands, candidate{symbol{addr: fn.Entry, size: fn.End - fn.Entry, name: fn.Name}, 0})
			}
			info.sources = append(info.sources, ".gopclntab")
			info.goText, info.goTextHow = tab.TextStart()
		}
	}
	info.syms = newSymTable(cands)
	return info, nil
}

// appendELFSyms appends the defined functions (STT_FUNC, STT_GNU_IFUNC)
// of syms, ranked global, weak, local. A symbol version suffix such as
// "@@GLIBC_2.2.5" is dropped.
func appendELFSyms(out []candidate, syms []elf.Symbol) []candidate {
	for _, s := range syms {
		t := elf.ST_TYPE(s.Info)
		if t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC {
			continue
		}
		if s.Section == elf.SHN_UNDEF || s.Value == 0 || s.Name == "" {
			continue
		}
		name := s.Name
		if i := strings.IndexByte(name, '@'); i > 0 {
			name = name[:i]
		}
		rank := 2
		switch elf.ST_BIND(s.Info) {
		case elf.STB_GLOBAL:
			rank = 0
		case elf.STB_WEAK:
			rank = 1
		}
		out = append(out, candidate{symbol{addr: s.Value, size: s.Size, name: name}, rank})
	}
	return out
}

// vaddr turns a file offset of a mapped ELF file into the virtual address
// the file's symbols use: off - p_offset + p_vaddr of the PT_LOAD segment
// whose file image holds off. An executable segment is preferred, since
// stack addresses are code; with old linkers segments share file pages.
func (e *elfInfo) vaddr(off uint64) (uint64, bool) {
	for pass := 0; pass < 2; pass++ {
		for _, p := range e.loads {
			if (p.Flags&elf.PF_X != 0) != (pass == 0) {
				continue
			}
			// The mapping starts at the page holding p_offset, and
			// p_vaddr ≡ p_offset modulo the page size, so the same
			// difference applies to the bytes before p_offset.
			start := p.Off &^ 0xfff
			if off >= start && off < p.Off+p.Filesz {
				return off - p.Off + p.Vaddr, true
			}
		}
	}
	return 0, false
}

// debugFileSymbols returns the .symtab of the separate debug file of f, if
// one is installed: /usr/lib/debug/.build-id/xx/yyyy.debug by build ID,
// or the .gnu_debuglink name next to path, in its .debug directory or
// under /usr/lib/debug (checked against the link's CRC32).
func debugFileSymbols(f *elf.File, path string) ([]elf.Symbol, string) {
	if id := buildID(f); len(id) >= 2 {
		p := filepath.Join(debugRoot, ".build-id", id[:2], id[2:]+".debug")
		if syms := fileSymbols(p, nil); len(syms) > 0 {
			return syms, p
		}
	}
	name, crc, ok := debugLink(f)
	if !ok || path == "" || strings.HasPrefix(path, "[") {
		return nil, ""
	}
	dir := filepath.Dir(path)
	for _, p := range []string{
		filepath.Join(dir, name),
		filepath.Join(dir, ".debug", name),
		filepath.Join(debugRoot, dir, name),
	} {
		if p == path {
			continue
		}
		if syms := fileSymbols(p, &crc); len(syms) > 0 {
			return syms, p
		}
	}
	return nil, ""
}

// fileSymbols returns the .symtab of the ELF file at p; if crc is not nil
// the file's CRC32 must match it.
func fileSymbols(p string, crc *uint32) []elf.Symbol {
	fh, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer fh.Close()
	if crc != nil {
		h := crc32.NewIEEE()
		if _, err := io.Copy(h, fh); err != nil || h.Sum32() != *crc {
			return nil
		}
	}
	f, err := elf.NewFile(fh)
	if err != nil {
		return nil
	}
	syms, _ := f.Symbols()
	return syms
}

// buildID returns the GNU build ID of f in hexadecimal, or "".
func buildID(f *elf.File) string {
	var notes [][]byte
	if s := f.Section(".note.gnu.build-id"); s != nil {
		if d, err := s.Data(); err == nil {
			notes = append(notes, d)
		}
	}
	if len(notes) == 0 {
		for _, p := range f.Progs {
			if p.Type == elf.PT_NOTE && p.Filesz < 1<<16 {
				d := make([]byte, p.Filesz)
				if _, err := p.ReadAt(d, 0); err == nil {
					notes = append(notes, d)
				}
			}
		}
	}
	for _, d := range notes {
		for len(d) >= 12 {
			namesz := int(f.ByteOrder.Uint32(d))
			descsz := int(f.ByteOrder.Uint32(d[4:]))
			typ := f.ByteOrder.Uint32(d[8:])
			nameEnd := 12 + align4(namesz)
			descEnd := nameEnd + align4(descsz)
			if namesz < 0 || descsz < 0 || descEnd > len(d) || nameEnd > len(d) {
				break
			}
			if typ == 3 && namesz == 4 && string(d[12:15]) == "GNU" { // NT_GNU_BUILD_ID
				return hex.EncodeToString(d[nameEnd : nameEnd+descsz])
			}
			d = d[descEnd:]
		}
	}
	return ""
}

func align4(n int) int { return (n + 3) &^ 3 }

// debugLink returns the file name and CRC32 of f's .gnu_debuglink.
func debugLink(f *elf.File) (name string, crc uint32, ok bool) {
	s := f.Section(".gnu_debuglink")
	if s == nil {
		return "", 0, false
	}
	d, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	i := bytes.IndexByte(d, 0)
	if i <= 0 {
		return "", 0, false
	}
	c := align4(i + 1)
	if c+4 > len(d) {
		return "", 0, false
	}
	return string(d[:i]), f.ByteOrder.Uint32(d[c:]), true
}
