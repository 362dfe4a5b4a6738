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
//     parameters and results, from DWARF (Params, Results), each linked to
//     its Go type (Param.GoType);
//   - Go types from DWARF (TypeByName): kind, size, full name, struct
//     fields with offsets, elements, keys, lengths, and the address of the
//     runtime type descriptor; the layout of interface and map values
//     (InterfaceLayout, MapLayout); the name of an interface value's
//     dynamic type from its type word (RuntimeTypeName);
//   - offsets of runtime structure fields such as runtime.g.goid, from
//     DWARF or, for stripped binaries, from the runtime's own type
//     descriptor of runtime.g, else a per-Go-version table (GoidOffset,
//     GFieldOffset, GFieldSource, FieldOffset, GFieldsFromCode);
//   - the Go runtime's waitReason names (WaitReasons).
//
// Stripped Go binaries (no DWARF: -ldflags=-w or -s -w, or strip) keep
// their pclntab, moduledata and runtime type descriptors, so functions,
// entry and return offsets, goroutine ids and g fields, wait reasons
// (table), dynamic type names and the types that have a descriptor
// (TypeByName: those converted to interfaces and what they refer to,
// such as net/http.Request) still work. Parameter names and types do
// not: Params and Results fail with an error that wraps ErrNoDWARF, as
// does TypeByName for a type without a descriptor; arguments are then
// read as raw registers (arg0…arg8, a string as pointer and length) or
// converted, (*net/http.Request)(arg3).
//
// Only amd64 (x86-64) code is decoded and only the amd64 Go ABI is
// modelled; Open itself accepts any ELF file.
package gobin

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ebpftrace/ebpftrace/internal/gomodule"
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
	img  *gomodule.Image // reads by virtual address through relocations, made lazily
	gmod *goModule       // the Go pclntab and moduledata, read lazily
	rtix *rtIndex        // types from runtime type descriptors, built lazily
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
	} else if ef.Section(".gopclntab") != nil || ef.Section(".data.rel.ro.gopclntab") != nil {
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
	if v, ok := b.image().Relocated(vaddr); ok {
		return v, nil
	}
	buf, err := b.readAt(vaddr, 8)
	if err != nil {
		return 0, err
	}
	return b.elf.ByteOrder.Uint64(buf), nil
}

// image returns the file's gomodule.Image (its RELATIVE relocations are
// read once, on first use).
func (b *Binary) image() *gomodule.Image {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.img == nil {
		b.img = gomodule.NewImage(b.elf)
	}
	return b.img
}
