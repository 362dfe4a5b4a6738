// Package gobin reads what a uprobe provider needs to know about a target
// executable or shared library, C or Go, from the file alone (no kernel
// access, no running process):
//
//   - whether it is a Go binary, its Go version and main module (Open);
//   - its functions, with the ELF virtual address and the file offset that
//     a uprobe attaches to (Funcs, Func), also for stripped Go binaries,
//     whose functions are recovered from .gopclntab;
//   - the file offset of every RET instruction of a function
//     (ReturnOffsets), so that a Go function's return is probed with
//     uprobes on its RETs instead of a uretprobe, which crashes Go programs;
//   - the Go internal ABI register (or stack) assignment of a Go function's
//     parameters and results, from DWARF (Params, Results);
//   - offsets of runtime structure fields such as runtime.g.goid, from
//     DWARF or, for stripped binaries, from a per-Go-version table
//     (GoidOffset, GFieldOffset, FieldOffset);
//   - the Go runtime's waitReason names (WaitReasons).
//
// Only amd64 (x86-64) code is decoded and only the amd64 Go ABI is
// modelled; Open itself accepts any ELF file.
package gobin

import (
	"bytes"
	"cmp"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
)

// ErrNotFound is wrapped by the errors that report a missing function,
// symbol, type or field.
var ErrNotFound = errors.New("not found")

// Binary is an ELF file opened by Open. Its exported fields describe the
// file; its methods read more on demand and cache what they read. A Binary
// is safe for concurrent use.
type Binary struct {
	// Path is the path the binary was opened with.
	Path string
	// Machine is the ELF machine, e.g. elf.EM_X86_64.
	Machine elf.Machine
	// IsGo reports a binary built by the Go toolchain (it has Go build
	// information or a .gopclntab section).
	IsGo bool
	// GoVersion is the Go toolchain that built the binary, e.g. "go1.26.8";
	// empty for non-Go binaries.
	GoVersion string
	// ModulePath is the path of the main module, e.g.
	// "github.com/ebpftrace/ebpftrace"; empty when unknown.
	ModulePath string
	// PackagePath is the import path of the main package.
	PackagePath string
	// BuildInfo is the Go build information (dependencies with versions,
	// build settings); nil for non-Go binaries.
	BuildInfo *buildinfo.BuildInfo
	// Stripped reports that the file has no .symtab section.
	Stripped bool
	// HasDWARF reports that the file has DWARF debug information.
	HasDWARF bool
	// PIE reports a position-independent file (ELF type ET_DYN): a PIE
	// executable or a shared library, loaded at an address chosen at run
	// time. Uprobe offsets need no adjustment for it, but reading a global
	// variable from a process needs the load bias.
	PIE bool

	f    *os.File
	elf  *elf.File
	mu   sync.Mutex
	syms *symbolCache
	dw   *dwarfCache
	rel  []relative // sorted R_X86_64_RELATIVE relocations, loaded lazily
	relD bool
}

// Open opens the ELF file at path and reads its headers and, for a Go
// binary, its build information. The caller must Close the Binary.
func Open(path string) (*Binary, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("gobin: %s: no such file", path)
		}
		return nil, fmt.Errorf("gobin: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("gobin: %s: is a directory, not an ELF file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gobin: %w", err)
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || !bytes.Equal(magic[:], []byte(elf.ELFMAG)) {
		f.Close()
		return nil, fmt.Errorf("gobin: %s: not an ELF file", path)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gobin: %s: malformed ELF file: %w", path, err)
	}
	b := &Binary{
		Path:    path,
		Machine: ef.Machine,
		PIE:     ef.Type == elf.ET_DYN,
		f:       f,
		elf:     ef,
	}
	b.Stripped = ef.Section(".symtab") == nil
	b.HasDWARF = ef.Section(".debug_info") != nil || ef.Section(".zdebug_info") != nil
	if bi, err := buildinfo.Read(f); err == nil {
		b.IsGo = true
		b.BuildInfo = bi
		b.GoVersion = bi.GoVersion
		b.PackagePath = bi.Path
		b.ModulePath = bi.Main.Path
	} else if pclntabSection(ef) != nil {
		b.IsGo = true
	}
	return b, nil
}

// Close closes the underlying file.
func (b *Binary) Close() error {
	if b.f == nil {
		return nil
	}
	err := b.f.Close()
	b.f = nil
	if err != nil {
		return fmt.Errorf("gobin: close %s: %w", b.Path, err)
	}
	return nil
}

// ELF returns the parsed ELF file, for callers that need more than this
// package offers. It is valid until Close.
func (b *Binary) ELF() *elf.File { return b.elf }

// ModuleVersion returns the version of module path as recorded in the Go
// build information ("(devel)" for the main module of a local build),
// following replace directives. ok is false when the module is not part
// of the build. Probes whose struct offsets depend on a library's version
// (e.g. google.golang.org/grpc) use it.
func (b *Binary) ModuleVersion(path string) (version string, ok bool) {
	if b.BuildInfo == nil {
		return "", false
	}
	if b.BuildInfo.Main.Path == path {
		return b.BuildInfo.Main.Version, true
	}
	for _, d := range b.BuildInfo.Deps {
		if d.Path != path {
			continue
		}
		if d.Replace != nil {
			return d.Replace.Version, true
		}
		return d.Version, true
	}
	return "", false
}

// FileOffset converts an ELF virtual address into the file offset that
// holds it, using the PT_LOAD segment that contains the address:
// vaddr - p_vaddr + p_offset. This is the offset a uprobe attaches to.
func (b *Binary) FileOffset(vaddr uint64) (uint64, error) {
	off, err := b.fileOffset(vaddr)
	if err != nil {
		return 0, fmt.Errorf("gobin: %s: %w", b.Path, err)
	}
	return off, nil
}

// ReadAt reads n bytes at ELF virtual address vaddr from the file image of
// the PT_LOAD segment that contains it. Bytes of .bss (beyond p_filesz)
// cannot be read.
func (b *Binary) ReadAt(vaddr uint64, n int) ([]byte, error) {
	buf, err := b.readAt(vaddr, n)
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: %w", b.Path, err)
	}
	return buf, nil
}

// ReadPointer reads the 8-byte pointer stored at vaddr as the loader would
// see it before applying the load bias: when an R_X86_64_RELATIVE
// relocation targets vaddr (PIE, shared libraries) its addend is the
// value, since an external linker may leave the word itself zero.
func (b *Binary) ReadPointer(vaddr uint64) (uint64, error) {
	v, err := b.readPointer(vaddr)
	if err != nil {
		return 0, fmt.Errorf("gobin: %s: %w", b.Path, err)
	}
	return v, nil
}

// fileOffset, readAt and readPointer are FileOffset, ReadAt and
// ReadPointer with errors that do not name the binary.
func (b *Binary) fileOffset(vaddr uint64) (uint64, error) {
	for _, p := range b.elf.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Filesz {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("address %#x is in no PT_LOAD segment's file image", vaddr)
}

func (b *Binary) readAt(vaddr uint64, n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("read %d bytes at %#x: negative length", n, vaddr)
	}
	off, err := b.fileOffset(vaddr)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		if end, err := b.fileOffset(vaddr + uint64(n) - 1); err != nil || end != off+uint64(n)-1 {
			return nil, fmt.Errorf("%d bytes at %#x cross the end of a segment", n, vaddr)
		}
	}
	buf := make([]byte, n)
	if _, err := b.f.ReadAt(buf, int64(off)); err != nil && !(err == io.EOF && n == 0) {
		return nil, fmt.Errorf("read %d bytes at %#x (file offset %#x): %w", n, vaddr, off, err)
	}
	return buf, nil
}

func (b *Binary) readPointer(vaddr uint64) (uint64, error) {
	if v, ok := b.relocated(vaddr); ok {
		return v, nil
	}
	buf, err := b.readAt(vaddr, 8)
	if err != nil {
		return 0, err
	}
	return b.elf.ByteOrder.Uint64(buf), nil
}

// relative is one R_X86_64_RELATIVE relocation: *off = load bias + addend.
type relative struct{ off, addend uint64 }

// relocated returns the addend of the RELATIVE relocation at vaddr.
func (b *Binary) relocated(vaddr uint64) (uint64, bool) {
	rel := b.relocs()
	lo, hi := 0, len(rel)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rel[m].off < vaddr {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(rel) && rel[lo].off == vaddr {
		return rel[lo].addend, true
	}
	return 0, false
}

// relocs returns the RELATIVE relocations, loading them once.
func (b *Binary) relocs() []relative {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.relD {
		b.relD = true
		b.rel = loadRelatives(b.elf)
	}
	return b.rel
}

// loadRelatives collects the R_X86_64_RELATIVE relocations of every
// SHT_RELA section, sorted by offset. Errors leave the list short: the
// relocations only refine values read from the file.
func loadRelatives(f *elf.File) []relative {
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return nil
	}
	var out []relative
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for i := 0; i+24 <= len(data); i += 24 {
			off := f.ByteOrder.Uint64(data[i:])
			info := f.ByteOrder.Uint64(data[i+8:])
			if elf.R_X86_64(info&0xffffffff) != elf.R_X86_64_RELATIVE {
				continue
			}
			out = append(out, relative{off, f.ByteOrder.Uint64(data[i+16:])})
		}
	}
	slices.SortFunc(out, func(a, b relative) int { return cmp.Compare(a.off, b.off) })
	return out
}
