// Package symbolize turns the instruction pointers of BPF stack traces
// (bpf_get_stackid with a BPF_MAP_TYPE_STACK_TRACE map) into names, the way
// bpftrace prints kstack and ustack frames:
//
//	do_syscall_64+114             kernel frame: symbol+offset, decimal
//	main.work+30                  user frame in a Go binary
//	__libc_start_call_main+128    user frame in a shared library
//	0x7f3a2b1c0042                address that no symbol covers
//
// Kernel addresses are resolved with /proc/kallsyms (Kernel). User
// addresses are resolved per process (User): the address is located in a
// mapping of /proc/PID/maps, turned into a file offset, then into an ELF
// virtual address through the file's PT_LOAD program headers, and looked
// up in the file's symbols. That works the same for non-PIE executables,
// PIE executables and shared libraries.
//
// User symbols come from .symtab, .dynsym, a separate debug file found by
// build ID or .gnu_debuglink (e.g. libc6-dbg), and, for Go binaries without
// .symtab, from .gopclntab, read by package gomodule (Go 1.16 to 1.26;
// the text start comes from runtime.moduledata, since Go 1.26 no longer
// stores it in the pclntab header).
//
// Frames in the [vdso] mapping are named from this process's own vDSO (the
// kernel maps one image into every 64-bit process), and frames outside any
// file mapping from /tmp/perf-PID.map, which JIT compilers write. A frame
// is named after the function whose code contains it; Inlined and Frames
// expand Go inlined calls, and Frames gives each frame's file and line
// (what a pprof profile needs). C++ and Rust names are not demangled.
//
// There is no package-level mutable state: caches live in Kernel and User
// values, which are safe for concurrent use.
package symbolize

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// format renders a resolved frame as bpftrace does: "name+off", with the
// offset in decimal (also "+0"), or the address in hexadecimal ("0x…")
// when no symbol covers it.
func format(name string, off uint64, ok bool, addr uint64) string {
	if !ok {
		return "0x" + strconv.FormatUint(addr, 16)
	}
	return name + "+" + strconv.FormatUint(off, 10)
}

// symbol is one function of an ELF file (or Go pclntab, or perf map):
// [addr, addr+size) in the file's virtual address space. size 0 means
// unknown; such a symbol extends to the next one.
type symbol struct {
	addr, size uint64
	name       string
}

// candidate is a symbol before deduplication, with the rank that decides
// which of several names at one address is printed (lower wins).
type candidate struct {
	symbol
	rank int
}

// symTable is a set of symbols sorted by address with one entry per
// address.
type symTable struct {
	syms []symbol
}

// newSymTable sorts cands by address and keeps one name per address: the
// one with the lowest rank, then the fewest leading underscores, then the
// shortest, then the first alphabetically (so getppid wins over
// __GI_getppid and __getppid). The size kept is the largest of the
// aliases'.
func newSymTable(cands []candidate) *symTable {
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(a.addr, b.addr); c != 0 {
			return c
		}
		if c := cmp.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		if c := cmp.Compare(underscores(a.name), underscores(b.name)); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.name), len(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	t := &symTable{syms: make([]symbol, 0, len(cands))}
	for _, c := range cands {
		if n := len(t.syms); n > 0 && t.syms[n-1].addr == c.addr {
			if c.size > t.syms[n-1].size {
				t.syms[n-1].size = c.size
			}
			continue
		}
		t.syms = append(t.syms, c.symbol)
	}
	return t
}

// underscores counts the leading underscores of name.
func underscores(name string) int {
	n := 0
	for n < len(name) && name[n] == '_' {
		n++
	}
	return n
}

// lookup returns the symbol that covers addr: the last symbol starting at
// or below addr, if addr is inside its size (or its size is unknown).
func (t *symTable) lookup(addr uint64) (symbol, bool) {
	if t == nil {
		return symbol{}, false
	}
	i, found := slices.BinarySearchFunc(t.syms, addr, func(s symbol, a uint64) int { return cmp.Compare(s.addr, a) })
	if !found {
		i--
	}
	if i < 0 {
		return symbol{}, false
	}
	s := t.syms[i]
	if s.size != 0 && addr-s.addr >= s.size {
		return symbol{}, false
	}
	return s, true
}

// len returns the number of distinct symbol addresses.
func (t *symTable) len() int {
	if t == nil {
		return 0
	}
	return len(t.syms)
}
