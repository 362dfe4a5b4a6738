// Package usdt reads the USDT probes (SystemTap SDT notes) of an ELF file:
// where each probe sits, its semaphore, and where each of its arguments
// is at the probe (a register, memory at a register plus an offset, or a
// constant), as <sys/sdt.h> wrote them into .note.stapsdt. The compiler
// turns these into uprobes and argument reads; nothing here needs
// privileges.
//
// The note format is SystemTap's
// (sourceware.org/systemtap/wiki/UserSpaceProbeImplementation): a note of
// type 3 owned by "stapsdt" whose descriptor is the probe's address, the
// link-time address of .stapsdt.base, the semaphore's address (0 when the
// probe has none), then three NUL-terminated strings: provider, name and
// the argument specs ("-4@%esi 8@-24(%rbp) 4@$5").
package usdt

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Probe is one probe site. A probe written once in the source may have
// several sites (inlined or unrolled code); each has its own argument
// locations.
type Probe struct {
	Provider, Name string
	// Addr is the site's virtual address (adjusted for prelinking);
	// Offset its file offset, where the uprobe goes.
	Addr, Offset uint64
	// Semaphore is the virtual address of the probe's semaphore, a
	// 16-bit counter the program tests before preparing the arguments
	// (0: none); SemaphoreOffset is its file offset, which the kernel
	// increments while a uprobe with that reference counter is attached.
	Semaphore, SemaphoreOffset uint64
	// Args are the argument specs as written; Args the parsed ones. When
	// a spec cannot be parsed, ArgsErr says why and Args is nil.
	ArgsText string
	Args     []Arg
	ArgsErr  error
}

// FullName is "provider:name".
func (p Probe) FullName() string { return p.Provider + ":" + p.Name }

// ArgKind says where an argument is at the probe.
type ArgKind int

const (
	// ArgConst is a constant: Offset holds it.
	ArgConst ArgKind = iota
	// ArgReg is a register: RegOff is its offset in struct pt_regs.
	ArgReg
	// ArgMem is memory at register + Offset (+ Index register × Scale).
	ArgMem
)

// Arg is where one argument is at the probe and how wide it is.
type Arg struct {
	Kind ArgKind
	// Size is the argument's width in bytes (1, 2, 4 or 8) and Signed
	// whether it is a signed integer ("-4@…").
	Size   int
	Signed bool
	// Reg names the register (rax, ebp, r8d…), RegOff is its offset in
	// the x86-64 struct pt_regs.
	Reg    string
	RegOff int
	// Index and IndexOff are the index register of a scaled memory
	// operand (-4@8(%rbx,%rax,4)); IndexOff is -1 without one.
	Index    string
	IndexOff int
	Scale    int
	// Offset is the displacement of a memory operand, or the constant.
	Offset int64
	// Text is the spec as written.
	Text string
}

// Read returns the USDT probes of the ELF file at path, in the order of
// the notes; a file without .note.stapsdt has none.
func Read(path string) ([]Probe, error) {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s is not an ELF binary (a script or a wrapper?)", path)
		}
		return nil, err
	}
	defer f.Close()
	return FromELF(f)
}

// FromELF returns the USDT probes of an open ELF file.
func FromELF(f *elf.File) ([]Probe, error) {
	sec := f.Section(".note.stapsdt")
	if sec == nil {
		return nil, nil
	}
	if f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("USDT probes are supported on x86-64 binaries only, not %s", f.Machine)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .note.stapsdt: %w", err)
	}
	// Prelinking moves the sections after the notes were written: the
	// difference between .stapsdt.base's address now and the base each
	// note recorded is how far everything moved.
	var baseAddr uint64
	var hasBase bool
	if b := f.Section(".stapsdt.base"); b != nil {
		baseAddr, hasBase = b.Addr, true
	}
	var out []Probe
	order := f.ByteOrder
	for len(data) >= 12 {
		namesz := order.Uint32(data[0:])
		descsz := order.Uint32(data[4:])
		typ := order.Uint32(data[8:])
		data = data[12:]
		nameEnd := align4(uint64(namesz))
		descEnd := nameEnd + align4(uint64(descsz))
		if uint64(len(data)) < descEnd || uint64(len(data)) < nameEnd+uint64(descsz) {
			return out, errors.New("a .note.stapsdt note runs past the section's end")
		}
		name := string(bytes.TrimRight(data[:namesz], "\x00"))
		desc := data[nameEnd : nameEnd+uint64(descsz)]
		data = data[descEnd:]
		if name != "stapsdt" || typ != 3 {
			continue
		}
		p, err := parseNote(desc, order)
		if err != nil {
			return out, err
		}
		if hasBase && p.baseRecorded != 0 {
			delta := baseAddr - p.baseRecorded
			p.Addr += delta
			if p.Semaphore != 0 {
				p.Semaphore += delta
			}
		}
		p.Offset, err = fileOffset(f, p.Addr, true)
		if err != nil {
			return out, fmt.Errorf("probe %s: %w", p.FullName(), err)
		}
		if p.Semaphore != 0 {
			if p.SemaphoreOffset, err = fileOffset(f, p.Semaphore, false); err != nil {
				return out, fmt.Errorf("semaphore of probe %s: %w", p.FullName(), err)
			}
		}
		out = append(out, p.Probe)
	}
	return out, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

type note struct {
	Probe
	baseRecorded uint64
}

func parseNote(desc []byte, order binary.ByteOrder) (note, error) {
	var n note
	if len(desc) < 24 {
		return n, errors.New("a .note.stapsdt note is too short")
	}
	n.Addr = order.Uint64(desc[0:])
	n.baseRecorded = order.Uint64(desc[8:])
	n.Semaphore = order.Uint64(desc[16:])
	fields := bytes.SplitN(desc[24:], []byte{0}, 4)
	if len(fields) < 3 {
		return n, errors.New("a .note.stapsdt note lacks its provider, name or arguments")
	}
	n.Provider, n.Name, n.ArgsText = string(fields[0]), string(fields[1]), string(fields[2])
	n.Args, n.ArgsErr = ParseArgs(n.ArgsText)
	if n.ArgsErr != nil {
		n.Args = nil
	}
	return n, nil
}

// fileOffset turns a virtual address into a file offset through the
// PT_LOAD segment (exec: an executable one) that maps it, or for data
// through the section that holds it.
func fileOffset(f *elf.File, addr uint64, exec bool) (uint64, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || (exec && p.Flags&elf.PF_X == 0) {
			continue
		}
		if addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, nil
		}
	}
	if !exec {
		for _, s := range f.Sections {
			if s.Type != elf.SHT_NOBITS && s.Flags&elf.SHF_ALLOC != 0 && addr >= s.Addr && addr < s.Addr+s.Size {
				return addr - s.Addr + s.Offset, nil
			}
		}
	}
	return 0, fmt.Errorf("address %#x is in no loaded segment of the file", addr)
}

// ptRegs are the offsets of x86-64's struct pt_regs fields, by every name
// an operand may give the register (64, 32, 16 and 8 bits).
var ptRegs = func() map[string]int {
	m := map[string]int{}
	for _, r := range []struct {
		names []string
		off   int
	}{
		{[]string{"r15", "r15d", "r15w", "r15b"}, 0},
		{[]string{"r14", "r14d", "r14w", "r14b"}, 8},
		{[]string{"r13", "r13d", "r13w", "r13b"}, 16},
		{[]string{"r12", "r12d", "r12w", "r12b"}, 24},
		{[]string{"rbp", "ebp", "bp", "bpl"}, 32},
		{[]string{"rbx", "ebx", "bx", "bl"}, 40},
		{[]string{"r11", "r11d", "r11w", "r11b"}, 48},
		{[]string{"r10", "r10d", "r10w", "r10b"}, 56},
		{[]string{"r9", "r9d", "r9w", "r9b"}, 64},
		{[]string{"r8", "r8d", "r8w", "r8b"}, 72},
		{[]string{"rax", "eax", "ax", "al"}, 80},
		{[]string{"rcx", "ecx", "cx", "cl"}, 88},
		{[]string{"rdx", "edx", "dx", "dl"}, 96},
		{[]string{"rsi", "esi", "si", "sil"}, 104},
		{[]string{"rdi", "edi", "di", "dil"}, 112},
		{[]string{"rsp", "esp", "sp", "spl"}, 152},
	} {
		for _, n := range r.names {
			m[n] = r.off
		}
	}
	return m
}()

// ParseArgs parses a probe's argument specs, separated by spaces:
// "SIZE@OPERAND" where SIZE is 1, 2, 4 or 8, negative for a signed
// integer, and OPERAND is %reg, $constant, disp(%reg), or
// disp(%base,%index,scale) (AT&T syntax, as GCC and Clang write them).
func ParseArgs(s string) ([]Arg, error) {
	var out []Arg
	for i, spec := range strings.Fields(s) {
		a, err := parseArg(spec)
		if err != nil {
			return nil, fmt.Errorf("argument %d (%q): %w", i, spec, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func parseArg(spec string) (Arg, error) {
	a := Arg{Text: spec, IndexOff: -1}
	size, op, ok := strings.Cut(spec, "@")
	if !ok {
		return a, errors.New("no SIZE@ before the operand")
	}
	n, err := strconv.Atoi(size)
	if err != nil {
		return a, fmt.Errorf("size %q is not a number", size)
	}
	if n < 0 {
		a.Signed, n = true, -n
	}
	switch n {
	case 1, 2, 4, 8:
		a.Size = n
	default:
		return a, fmt.Errorf("size %d is not 1, 2, 4 or 8", n)
	}
	switch {
	case strings.HasPrefix(op, "$"):
		v, err := parseInt(op[1:])
		if err != nil {
			return a, fmt.Errorf("constant %q: %w", op[1:], err)
		}
		a.Kind, a.Offset = ArgConst, v
		return a, nil
	case strings.HasPrefix(op, "%"):
		a.Kind = ArgReg
		a.Reg = op[1:]
		off, ok := ptRegs[a.Reg]
		if !ok {
			return a, fmt.Errorf("unknown register %%%s", a.Reg)
		}
		a.RegOff = off
		return a, nil
	}
	// disp(%base) or disp(%base,%index,scale); disp may be empty.
	open := strings.IndexByte(op, '(')
	if open < 0 || !strings.HasSuffix(op, ")") {
		return a, fmt.Errorf("operand %q is not a register, a constant or a memory reference", op)
	}
	a.Kind = ArgMem
	if disp := op[:open]; disp != "" {
		v, err := parseInt(disp)
		if err != nil {
			return a, fmt.Errorf("displacement %q (symbolic or RIP-relative operands are not supported): %w", disp, err)
		}
		a.Offset = v
	}
	parts := strings.Split(op[open+1:len(op)-1], ",")
	reg := func(s string) (string, int, error) {
		s = strings.TrimSpace(s)
		name, ok := strings.CutPrefix(s, "%")
		off, known := ptRegs[name]
		if !ok || !known {
			return "", 0, fmt.Errorf("unknown register %q", s)
		}
		return name, off, nil
	}
	if a.Reg, a.RegOff, err = reg(parts[0]); err != nil {
		return a, err
	}
	switch len(parts) {
	case 1:
	case 2, 3:
		if a.Index, a.IndexOff, err = reg(parts[1]); err != nil {
			return a, err
		}
		a.Scale = 1
		if len(parts) == 3 {
			sc, err := strconv.Atoi(strings.TrimSpace(parts[2]))
			if err != nil || (sc != 1 && sc != 2 && sc != 4 && sc != 8) {
				return a, fmt.Errorf("scale %q is not 1, 2, 4 or 8", parts[2])
			}
			a.Scale = sc
		}
	default:
		return a, fmt.Errorf("memory operand %q has too many parts", op)
	}
	return a, nil
}

// parseInt reads a decimal or 0x hexadecimal integer, maybe negative.
func parseInt(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		// Large unsigned constants (8@$18446744073709551615).
		u, uerr := strconv.ParseUint(s, 0, 64)
		if uerr != nil {
			return 0, errors.New("not an integer")
		}
		return int64(u), nil
	}
	return v, nil
}

// Match returns the probes whose "provider:name" matches pattern: a glob
// on both parts ("python:function__*", "*:gc__start"), or on the name
// alone when pattern has no colon ("function__entry" in any provider).
// glob is the glob rule to use (match.Glob).
func Match(probes []Probe, pattern string, glob func(pattern, s string) bool) []Probe {
	prov, name, hasProv := strings.Cut(pattern, ":")
	var out []Probe
	for _, p := range probes {
		switch {
		case hasProv && glob(prov, p.Provider) && glob(name, p.Name):
		case !hasProv && glob(pattern, p.Name):
		default:
			continue
		}
		out = append(out, p)
	}
	return out
}

// Names returns the distinct "provider:name" of probes, sorted.
func Names(probes []Probe) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range probes {
		if n := p.FullName(); !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
