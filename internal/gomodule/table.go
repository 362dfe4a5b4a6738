package gomodule

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"
)

// Table is a Go binary's pclntab with its moduledata: functions by
// address, and for any PC the source function, file and line, inlined
// calls expanded.
type Table struct {
	im     *Image
	bo     binary.ByteOrder
	pcln   []byte
	addr   uint64 // virtual address of pcln
	hdr    Header
	md     *Moduledata // nil when not found
	text   uint64      // base of function entry offsets (Go 1.18+)
	how    string
	ftab   uint64 // offset of the functab (= pclntable) in pcln
	ftabSz uint64 // size of one functab entry: 16 (Go 1.16–1.17) or 8
}

// Open reads the pclntab and moduledata of f. With useSymtab, the
// runtime.text and runtime.firstmoduledata symbols of .symtab are
// trusted when present; without, everything is found as in a stripped
// binary (tests compare both).
func Open(f *elf.File, useSymtab bool) (*Table, error) {
	pcln, addr, err := FindPclntab(f)
	if err != nil {
		return nil, err
	}
	var syms []elf.Symbol
	if useSymtab {
		syms, _ = f.Symbols()
	}
	return newTable(NewImage(f), pcln, addr, syms)
}

// newTable decodes the pclntab pcln found at addr in im.
func newTable(im *Image, pcln []byte, addr uint64, syms []elf.Symbol) (*Table, error) {
	h, err := parseHeader(pcln, im.f.ByteOrder)
	if err != nil {
		return nil, err
	}
	t := &Table{im: im, bo: im.f.ByteOrder, pcln: pcln, addr: addr, hdr: h, ftab: h.PclnOff, ftabSz: 8}
	if h.Magic == Magic116 {
		t.ftabSz = 16
	}
	if h.Nfunc > 1<<24 || t.ftab+(h.Nfunc+1)*t.ftabSz > uint64(len(pcln)) {
		return nil, fmt.Errorf("pclntab: functab of %d functions does not fit", h.Nfunc)
	}
	t.md, _ = findModuledata(t.im, h, pcln, addr, syms)
	t.text, t.how = t.textStart(syms)
	return t, nil
}

// Detach copies into memory the data that Frames reads outside the
// pclntab (the inline trees in go:func.*, in the read-only data
// segment), so that the table stays usable after the ELF file is closed.
// Funcs, FuncAt and TextStart need nothing more.
func (t *Table) Detach() error {
	if t.hdr.Magic == Magic116 {
		// Inline trees are pointers to go.func.* in read-only data:
		// keep the segments that hold the first few trees.
		kept := 0
		for i := uint64(0); i < t.hdr.Nfunc && kept < 8; i += 1 + t.hdr.Nfunc/64 {
			if _, fo, ok := t.entry(i); ok {
				if f, ok := t.funcAt(fo); ok {
					if tree, ok := t.inlTree(f); ok {
						if err := t.im.keep(tree); err != nil {
							return err
						}
						kept++
					}
				}
			}
		}
		return nil
	}
	if t.md == nil || t.md.Gofunc == 0 {
		return nil
	}
	return t.im.keep(t.md.Gofunc)
}

// Image returns the image the table reads from.
func (t *Table) Image() *Image { return t.im }

// Header returns the pcHeader.
func (t *Table) Header() Header { return t.hdr }

// Addr returns the virtual address of the pclntab.
func (t *Table) Addr() uint64 { return t.addr }

// Moduledata returns runtime.firstmoduledata, or nil when it was not
// found.
func (t *Table) Moduledata() *Moduledata { return t.md }

// TextStart returns runtime.text, the base that Go 1.18+ function entries
// are offsets from, and how it was found. Go 1.26 no longer stores it in
// pcHeader.textStart (the word is 0), so tools that read the header get
// entry offsets instead of addresses; the moduledata's text field is
// what the runtime itself uses, and with external linking the .text
// section starts before it (C start-up code). In order: the runtime.text
// symbol (with useSymtab), moduledata.text, pcHeader.textStart, the .text
// section, the first executable segment. Go 1.16–1.17 entries are
// absolute and the text start is unused.
func (t *Table) TextStart() (uint64, string) { return t.text, t.how }

func (t *Table) textStart(syms []elf.Symbol) (uint64, string) {
	if t.hdr.Magic == Magic116 {
		if t.md != nil {
			return t.md.Text, "unused (Go 1.16–1.17 pclntab); moduledata.text"
		}
		return 0, "unused (Go 1.16–1.17 pclntab)"
	}
	var span uint64
	if last, ok := t.u32(t.ftab + t.hdr.Nfunc*8); ok {
		span = uint64(last)
	}
	valid := func(v uint64) bool { return v != 0 && t.im.Executable(v, span) }
	for _, s := range syms {
		if s.Name == "runtime.text" && valid(s.Value) {
			return s.Value, "runtime.text symbol"
		}
	}
	if t.md != nil && valid(t.md.Text) {
		return t.md.Text, "moduledata.text (" + t.md.How + ")"
	}
	if valid(t.hdr.TextStart) {
		return t.hdr.TextStart, "pcHeader.textStart"
	}
	if s := t.im.f.Section(".text"); s != nil && valid(s.Addr) {
		return s.Addr, ".text section (guess)"
	}
	for _, p := range t.im.loads {
		if p.Flags&elf.PF_X != 0 {
			return p.Vaddr, "first executable segment (guess)"
		}
	}
	return 0, "none"
}

func (t *Table) u32(off uint64) (uint32, bool) {
	if off > uint64(len(t.pcln)) || uint64(len(t.pcln))-off < 4 {
		return 0, false
	}
	return t.bo.Uint32(t.pcln[off:]), true
}

func (t *Table) u64(off uint64) (uint64, bool) {
	if off > uint64(len(t.pcln)) || uint64(len(t.pcln))-off < 8 {
		return 0, false
	}
	return t.bo.Uint64(t.pcln[off:]), true
}

// Func is a function of the pclntab.
type Func struct {
	// Name as the pclntab spells it (with "·" in some old names, and no
	// ".abi0" suffix on assembly functions).
	Name string
	// Entry and End delimit the function's code, [Entry, End); End is the
	// next function's entry, so it includes alignment padding.
	Entry, End uint64
}

// NumFuncs returns the number of functions.
func (t *Table) NumFuncs() int { return int(t.hdr.Nfunc) }

// entry returns the entry address and _func offset of function i (i ==
// Nfunc gives the end of the last function).
func (t *Table) entry(i uint64) (entry, funcOff uint64, ok bool) {
	off := t.ftab + i*t.ftabSz
	if t.ftabSz == 16 {
		e, ok1 := t.u64(off)
		fo, ok2 := t.u64(off + 8)
		return e, t.ftab + fo, ok1 && ok2
	}
	e, ok1 := t.u32(off)
	fo, ok2 := t.u32(off + 4)
	return t.text + uint64(e), t.ftab + uint64(fo), ok1 && ok2
}

// Funcs returns every function, in address order. Entries that do not
// decode are skipped.
func (t *Table) Funcs() []Func {
	out := make([]Func, 0, t.hdr.Nfunc)
	for i := uint64(0); i < t.hdr.Nfunc; i++ {
		e, fo, ok := t.entry(i)
		end, _, ok2 := t.entry(i + 1)
		if !ok || !ok2 || end < e {
			continue
		}
		f, ok := t.funcAt(fo)
		if !ok {
			continue
		}
		out = append(out, Func{Name: t.funcName(f.nameOff), Entry: e, End: end})
	}
	return out
}

// funcRec is a decoded _func record.
type funcRec struct {
	off                   uint64 // offset in pcln
	entry                 uint64
	nameOff               int32
	pcfile, pcln, npcdata uint32
	cuOffset              uint32
	nfuncdata             uint8
	pcdataAt              uint64 // offset of the pcdata offsets
}

// funcAt decodes the _func record at offset off of the pclntab.
//
//	Go 1.16–1.17: entry uintptr, nameoff, args, deferreturn, pcsp, pcfile, pcln,
//	              npcdata, cuOffset uint32/int32, funcID, _, _, nfuncdata uint8 (44 bytes)
//	Go 1.18–1.19: entryoff uint32, … same … (40 bytes)
//	Go 1.20–1.26: entryOff uint32, …, cuOffset, startLine int32, funcID, flag, _,
//	              nfuncdata (44 bytes)
func (t *Table) funcAt(off uint64) (funcRec, bool) {
	base := off
	size := uint64(40)
	if t.hdr.Magic == Magic116 {
		base, size = off+4, 44 // the 8-byte entry shifts the uint32 fields by 4
	} else if t.hdr.Magic == Magic120 {
		size = 44
	}
	if off > uint64(len(t.pcln)) || uint64(len(t.pcln))-off < size {
		return funcRec{}, false
	}
	r := funcRec{off: off, pcdataAt: off + size}
	w := func(i uint64) uint32 { return t.bo.Uint32(t.pcln[base+4*i:]) }
	r.nameOff = int32(w(1))
	r.pcfile, r.pcln, r.npcdata, r.cuOffset = w(5), w(6), w(7), w(8)
	r.nfuncdata = t.pcln[off+size-1]
	if t.hdr.Magic == Magic116 {
		r.entry = t.bo.Uint64(t.pcln[off:])
	} else {
		r.entry = t.text + uint64(t.bo.Uint32(t.pcln[off:]))
	}
	if r.npcdata > 1<<16 {
		return funcRec{}, false
	}
	return r, true
}

// funcName reads a NUL-terminated name from funcnametab.
func (t *Table) funcName(off int32) string {
	return t.cstring(t.hdr.FuncnameOff, int64(off))
}

func (t *Table) cstring(table uint64, off int64) string {
	if off < 0 {
		return "?"
	}
	start := table + uint64(off)
	if start >= uint64(len(t.pcln)) {
		return "?"
	}
	end := start
	for end < uint64(len(t.pcln)) && t.pcln[end] != 0 && end-start < 1<<16 {
		end++
	}
	return string(t.pcln[start:end])
}

// find returns the function containing pc.
func (t *Table) find(pc uint64) (funcRec, bool) {
	lo, hi := uint64(0), t.hdr.Nfunc
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, _, ok := t.entry(mid)
		if !ok {
			return funcRec{}, false
		}
		if e <= pc {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return funcRec{}, false
	}
	if end, _, ok := t.entry(t.hdr.Nfunc); !ok || pc >= end {
		return funcRec{}, false
	}
	_, fo, ok := t.entry(lo - 1)
	if !ok {
		return funcRec{}, false
	}
	return t.funcAt(fo)
}

// FuncAt returns the function whose code contains pc (not expanding
// inlined calls).
func (t *Table) FuncAt(pc uint64) (Func, bool) {
	f, ok := t.find(pc)
	if !ok {
		return Func{}, false
	}
	fn := Func{Name: t.funcName(f.nameOff), Entry: f.entry}
	// The end is the next entry.
	lo, hi := uint64(0), t.hdr.Nfunc
	for lo < hi {
		mid := lo + (hi-lo)/2
		if e, _, _ := t.entry(mid); e <= pc {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	fn.End, _, _ = t.entry(lo)
	return fn, true
}

// pcvalue decodes the pc-value table at offset off of pctab (zig-zag
// varint value deltas and pc deltas, starting at -1 from the function's
// entry) at target; false when off is 0 or the table is malformed.
func (t *Table) pcvalue(off uint32, entry, target uint64) (int32, bool) {
	if off == 0 {
		return -1, false
	}
	p := t.hdr.PctabOff + uint64(off)
	val, pc := int32(-1), entry
	for first := true; p < uint64(len(t.pcln)); first = false {
		uv, n := binary.Uvarint(t.pcln[p:])
		if n <= 0 || (uv == 0 && !first) {
			return -1, false
		}
		p += uint64(n)
		val += int32(-(uint32(uv) & 1) ^ (uint32(uv) >> 1))
		if p >= uint64(len(t.pcln)) {
			return -1, false
		}
		pd, n := binary.Uvarint(t.pcln[p:])
		if n <= 0 {
			return -1, false
		}
		p += uint64(n)
		pc += pd * t.hdr.MinLC
		if target < pc {
			return val, true
		}
	}
	return -1, false
}

// fileLine returns the source position that the pcfile and pcln tables
// of f give for pc.
func (t *Table) fileLine(f funcRec, pc uint64) (string, int) {
	file := ""
	if fno, ok := t.pcvalue(f.pcfile, f.entry, pc); ok && fno >= 0 {
		// cutab[cuOffset+fno] is the file's offset in filetab.
		if fo, ok := t.u32(t.hdr.CuOff + 4*(uint64(f.cuOffset)+uint64(fno))); ok && fo != ^uint32(0) {
			file = t.cstring(t.hdr.FiletabOff, int64(fo))
		}
	}
	line, ok := t.pcvalue(f.pcln, f.entry, pc)
	if !ok {
		line = 0
	}
	return file, int(line)
}

// Frame is one source-level frame at a PC.
type Frame struct {
	// Func is the function name as the pclntab spells it.
	Func string
	// File and Line are the source position ("" and 0 when unknown, as
	// in the padding after a function).
	File string
	Line int
	// Inlined reports a function inlined into the next frame's function.
	Inlined bool
	// Entry is the entry address of the function whose code holds the
	// PC (the same for every frame of one PC).
	Entry uint64
}

// The pcdata and funcdata indexes of the inline tree, the same from Go
// 1.12 to 1.26 (runtime/symtab.go _PCDATA_InlTreeIndex,
// _FUNCDATA_InlTree).
const (
	pcdataInlTreeIndex = 2
	funcdataInlTree    = 3
)

// Frames returns the source frames at pc, innermost first: the functions
// inlined at pc (Inlined true), then the function whose code holds pc.
// For a return address, pass the address minus one, so that the call
// instruction's position is reported. Nil when no function holds pc.
//
// The inline tree records a function's inlined calls:
//
//	Go 1.16–1.19: struct { parent int16; funcID uint8; _ byte; file, line, func_, parentPc int32 }
//	Go 1.20–1.26: struct { funcID uint8; _ [3]byte; nameOff, parentPc, startLine int32 }
//
// The innermost position is what pcfile/pcln give at pc; each enclosing
// frame's position is that of its call site, entry+parentPc, where the
// tree index is looked up again (as runtime tracebacks do in every
// version).
func (t *Table) Frames(pc uint64) []Frame {
	f, ok := t.find(pc)
	if !ok {
		return nil
	}
	var out []Frame
	tree, hasTree := t.inlTree(f)
	for n := 0; n < 100; n++ {
		file, line := t.fileLine(f, pc)
		if hasTree {
			if ix, ok := t.pcdata(f, pcdataInlTreeIndex, pc); ok && ix >= 0 {
				name, parentPc, ok := t.inlinedCall(tree, ix)
				if ok {
					out = append(out, Frame{Func: name, File: file, Line: line, Inlined: true, Entry: f.entry})
					next := f.entry + uint64(parentPc)
					if parentPc < 0 || next == pc {
						break
					}
					pc = next
					continue
				}
			}
		}
		out = append(out, Frame{Func: t.funcName(f.nameOff), File: file, Line: line, Entry: f.entry})
		return out
	}
	// A malformed tree: end with the physical function.
	file, line := t.fileLine(f, pc)
	return append(out, Frame{Func: t.funcName(f.nameOff), File: file, Line: line, Entry: f.entry})
}

// Inlined returns the names of the functions inlined at pc, innermost
// first, without the function whose code holds pc.
func (t *Table) Inlined(pc uint64) []string {
	var out []string
	for _, fr := range t.Frames(pc) {
		if fr.Inlined {
			out = append(out, fr.Func)
		}
	}
	return out
}

// pcdata returns the value of pcdata table i of f at pc.
func (t *Table) pcdata(f funcRec, i uint32, pc uint64) (int32, bool) {
	if i >= f.npcdata {
		return -1, false
	}
	off, ok := t.u32(f.pcdataAt + 4*uint64(i))
	if !ok {
		return -1, false
	}
	return t.pcvalue(off, f.entry, pc)
}

// inlTree returns the virtual address of f's inline tree.
func (t *Table) inlTree(f funcRec) (uint64, bool) {
	if uint32(f.nfuncdata) <= funcdataInlTree {
		return 0, false
	}
	p := f.pcdataAt + 4*uint64(f.npcdata)
	if t.hdr.Magic == Magic116 {
		// Pointers, 8-byte aligned in memory.
		if (t.addr+p)%8 != 0 {
			p += 4
		}
		a, ok := t.im.Pointer(t.addr + p + 8*funcdataInlTree)
		return a, ok && a != 0
	}
	off, ok := t.u32(p + 4*funcdataInlTree)
	if !ok || off == ^uint32(0) || t.md == nil || t.md.Gofunc == 0 {
		return 0, false
	}
	return t.md.Gofunc + uint64(off), true
}

// inlinedCall reads entry ix of the inline tree at tree.
func (t *Table) inlinedCall(tree uint64, ix int32) (name string, parentPc int32, ok bool) {
	if t.hdr.Magic == Magic120 {
		b, ok := t.im.Read(tree+16*uint64(ix), 16)
		if !ok {
			return "", 0, false
		}
		return t.funcName(int32(t.bo.Uint32(b[4:]))), int32(t.bo.Uint32(b[8:])), true
	}
	b, ok := t.im.Read(tree+20*uint64(ix), 20)
	if !ok {
		return "", 0, false
	}
	return t.funcName(int32(t.bo.Uint32(b[12:]))), int32(t.bo.Uint32(b[16:])), true
}

// ELFName spells a pclntab function name as the linker spells its ELF
// symbol: '·' becomes '.' (cmd/link putelfsym).
func ELFName(name string) string { return strings.ReplaceAll(name, "·", ".") }
