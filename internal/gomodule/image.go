// Package gomodule reads what the Go runtime itself knows about a Go
// binary, from the file alone: the pclntab (function names and entries,
// file and line tables, inline trees) and runtime.firstmoduledata (text
// start, type descriptors, itabs, go:func.*). It serves stripped binaries
// (no .symtab, no DWARF), PIE and externally linked ones, for the pclntab
// layouts of Go 1.16/1.17 (magic 0xfffffffa), 1.18/1.19 (0xfffffff0) and
// 1.20 to 1.26 (0xfffffff1).
//
// Both gobin (uprobe offsets, runtime types) and symbolize (stack frames)
// use it, so that a binary is understood the same way by both. Malformed
// input gives errors or empty results, never a panic.
package gomodule

import (
	"cmp"
	"debug/elf"
	"fmt"
	"slices"
)

// Image reads an ELF file's loadable bytes by virtual address, the way the
// dynamic loader would lay them out before adding the load bias: a
// pointer-sized word that an R_X86_64_RELATIVE (or R_AARCH64_RELATIVE)
// relocation targets reads as the relocation's addend, since external
// linkers may leave such words zero in the file.
type Image struct {
	f      *elf.File
	loads  []*elf.Prog
	relocs []relative // sorted by offset
	mem    map[*elf.Prog][]byte
}

type relative struct{ off, addend uint64 }

// NewImage prepares f for reads by virtual address; it reads the
// relocation sections once.
func NewImage(f *elf.File) *Image {
	im := &Image{f: f}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			im.loads = append(im.loads, p)
		}
	}
	im.relocs = loadRelatives(f)
	return im
}

// File returns the ELF file.
func (im *Image) File() *elf.File { return im.f }

// Read returns the n bytes at vaddr from the file image of the PT_LOAD
// segment that holds them (bytes beyond p_filesz, i.e. .bss, are not in
// the file), or false.
func (im *Image) Read(vaddr uint64, n int) ([]byte, bool) {
	if n < 0 || n > 1<<30 {
		return nil, false
	}
	for _, p := range im.loads {
		if vaddr < p.Vaddr || vaddr-p.Vaddr >= p.Filesz || uint64(n) > p.Filesz-(vaddr-p.Vaddr) {
			continue
		}
		if m, ok := im.mem[p]; ok {
			return m[vaddr-p.Vaddr : vaddr-p.Vaddr+uint64(n)], true
		}
		buf := make([]byte, n)
		if _, err := p.ReadAt(buf, int64(vaddr-p.Vaddr)); err != nil {
			return nil, false
		}
		return buf, true
	}
	return nil, false
}

// keep copies into memory the file image of the PT_LOAD segment that
// holds vaddr, so that reads from it go on working once the file is
// closed.
func (im *Image) keep(vaddr uint64) error {
	for _, p := range im.loads {
		if vaddr < p.Vaddr || vaddr-p.Vaddr >= p.Filesz {
			continue
		}
		if _, ok := im.mem[p]; ok || p.Filesz > 1<<31 {
			return nil
		}
		buf := make([]byte, p.Filesz)
		if _, err := p.ReadAt(buf, 0); err != nil {
			return fmt.Errorf("read the segment at %#x: %w", p.Vaddr, err)
		}
		if im.mem == nil {
			im.mem = map[*elf.Prog][]byte{}
		}
		im.mem[p] = buf
		return nil
	}
	return fmt.Errorf("no PT_LOAD segment holds %#x", vaddr)
}

// Uint32 reads a 4-byte word at vaddr.
func (im *Image) Uint32(vaddr uint64) (uint32, bool) {
	b, ok := im.Read(vaddr, 4)
	if !ok {
		return 0, false
	}
	return im.f.ByteOrder.Uint32(b), true
}

// Uint64 reads an 8-byte word at vaddr, not relocated.
func (im *Image) Uint64(vaddr uint64) (uint64, bool) {
	b, ok := im.Read(vaddr, 8)
	if !ok {
		return 0, false
	}
	return im.f.ByteOrder.Uint64(b), true
}

// Pointer reads the 8-byte pointer at vaddr: the addend of a RELATIVE
// relocation at vaddr when there is one, else the word in the file.
func (im *Image) Pointer(vaddr uint64) (uint64, bool) {
	if v, ok := im.Relocated(vaddr); ok {
		return v, true
	}
	return im.Uint64(vaddr)
}

// Relocated returns the addend of the RELATIVE relocation at vaddr.
func (im *Image) Relocated(vaddr uint64) (uint64, bool) {
	i, ok := slices.BinarySearchFunc(im.relocs, vaddr, func(r relative, v uint64) int { return cmp.Compare(r.off, v) })
	if !ok {
		return 0, false
	}
	return im.relocs[i].addend, true
}

// Executable reports whether [vaddr, vaddr+n) lies in one executable
// PT_LOAD segment.
func (im *Image) Executable(vaddr, n uint64) bool {
	for _, p := range im.loads {
		if p.Flags&elf.PF_X != 0 && vaddr >= p.Vaddr && vaddr-p.Vaddr <= p.Memsz && n <= p.Memsz-(vaddr-p.Vaddr) {
			return true
		}
	}
	return false
}

// findPointer returns the addresses in writable segments that hold the
// pointer value v, in the file or as a RELATIVE relocation's addend,
// those in preferred sections first.
func (im *Image) findPointer(v uint64) []uint64 {
	var out []uint64
	for _, p := range im.loads {
		if p.Flags&elf.PF_W == 0 || p.Filesz > 1<<30 {
			continue
		}
		seg := make([]byte, p.Filesz)
		if _, err := p.ReadAt(seg, 0); err != nil {
			continue
		}
		for a := (p.Vaddr + 7) &^ 7; a+8 <= p.Vaddr+p.Filesz; a += 8 {
			if im.f.ByteOrder.Uint64(seg[a-p.Vaddr:]) == v {
				out = append(out, a)
			}
		}
	}
	for _, r := range im.relocs {
		if r.addend == v && !slices.Contains(out, r.off) {
			out = append(out, r.off)
		}
	}
	return out
}

// loadRelatives collects the RELATIVE relocations of every SHT_RELA
// section, sorted by offset. Errors leave the list short: relocations
// only refine values read from the file.
func loadRelatives(f *elf.File) []relative {
	var kind uint32
	switch f.Machine {
	case elf.EM_X86_64:
		kind = uint32(elf.R_X86_64_RELATIVE)
	case elf.EM_AARCH64:
		kind = uint32(elf.R_AARCH64_RELATIVE)
	default:
		return nil
	}
	if f.Class != elf.ELFCLASS64 {
		return nil
	}
	var out []relative
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Size > 1<<30 {
			continue
		}
		d, err := s.Data()
		if err != nil {
			continue
		}
		for i := 0; i+24 <= len(d); i += 24 {
			if uint32(f.ByteOrder.Uint64(d[i+8:])) == kind {
				out = append(out, relative{f.ByteOrder.Uint64(d[i:]), f.ByteOrder.Uint64(d[i+16:])})
			}
		}
	}
	slices.SortFunc(out, func(a, b relative) int { return cmp.Compare(a.off, b.off) })
	return out
}
