package symbolize

import (
	"debug/elf"
	"encoding/binary"
)

// Go inlines small functions into their callers; a stack address inside
// inlined code belongs to several source functions at once. The pclntab
// records them (Go 1.20+ layout, which covers the Go versions ebpftrace
// supports): each function's PCDATA_InlTreeIndex table maps a PC to an
// entry of its FUNCDATA_InlTree, an array in go:func.* of
//
//	struct { funcID uint8; _ [3]byte; nameOff, parentPc, startLine int32 }
//
// whose parentPc leads to the next enclosing inlined call, or -1.
// (runtime/symtab.go, runtime/symtabinl.go)

const (
	pcdataInlTreeIndex = 2
	funcdataInlTree    = 3
	inlinedCallSize    = 16
	// moduledata word of gofunc (go:func.*), Go 1.20–1.26; checked by
	// tests against the symbol.
	mdGofunc = 40
)

// goInline answers "which functions are inlined at this PC" for one Go
// binary. It keeps the pclntab and the segment holding go:func.*.
type goInline struct {
	pcln    []byte
	bo      binary.ByteOrder
	text    uint64
	nfunc   uint64
	minLC   uint64
	nameOff uint64 // funcnametab
	pctab   uint64
	ftab    uint64 // functab / pclntable
	gofunc  uint64
	seg     []byte // the PT_LOAD segment that holds go:func.*
	segAddr uint64
}

// newGoInline prepares inline lookups, or returns nil when the binary is
// not a Go 1.20+ one or go:func.* cannot be found.
func newGoInline(f *elf.File, pcln []byte, pclnAddr, text uint64) *goInline {
	bo := f.ByteOrder
	if len(pcln) < 72 || bo.Uint32(pcln) != goMagic120 || pcln[7] != 8 {
		return nil
	}
	w := func(i int) uint64 { return bo.Uint64(pcln[8+8*i:]) }
	g := &goInline{
		pcln: pcln, bo: bo, text: text, nfunc: w(0), minLC: uint64(pcln[6]),
		nameOff: w(3), pctab: w(6), ftab: w(7),
	}
	if g.minLC == 0 {
		g.minLC = 1
	}
	g.gofunc = goFuncBase(f, pclnAddr)
	if g.gofunc == 0 {
		return nil
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && g.gofunc >= p.Vaddr && g.gofunc < p.Vaddr+p.Filesz && p.Filesz < 1<<30 {
			g.seg = make([]byte, p.Filesz)
			if _, err := p.ReadAt(g.seg, 0); err != nil {
				return nil
			}
			g.segAddr = p.Vaddr
			return g
		}
	}
	return nil
}

// goFuncBase finds go:func.*: its symbol, else moduledata.gofunc.
func goFuncBase(f *elf.File, pclnAddr uint64) uint64 {
	syms, _ := f.Symbols()
	for _, s := range syms {
		if s.Name == "go:func.*" {
			return s.Value
		}
	}
	m := &memReader{f: f, ptr: 8}
	bases := m.find(pclnAddr)
	if s := f.Section(".go.module"); s != nil {
		bases = append([]uint64{s.Addr}, bases...)
	}
	for _, base := range bases {
		if m.pointer(base) == pclnAddr {
			if gf := m.pointer(base + 8*mdGofunc); gf != 0 {
				return gf
			}
		}
	}
	return 0
}

func (g *goInline) u32(off uint64) (uint32, bool) {
	if off+4 > uint64(len(g.pcln)) {
		return 0, false
	}
	return g.bo.Uint32(g.pcln[off:]), true
}

// inlined returns the functions inlined at pc, innermost first; the
// function the code physically belongs to is not among them.
func (g *goInline) inlined(pc uint64) []string {
	if g == nil || pc < g.text {
		return nil
	}
	// The functab: nfunc (entryoff, funcoff) pairs, sorted by entry.
	lo, hi := uint64(0), g.nfunc
	for lo < hi {
		mid := (lo + hi) / 2
		e, ok := g.u32(g.ftab + 8*mid)
		if !ok {
			return nil
		}
		if g.text+uint64(e) <= pc {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return nil
	}
	entryOff, _ := g.u32(g.ftab + 8*(lo-1))
	funcOff, ok := g.u32(g.ftab + 8*(lo-1) + 4)
	if !ok {
		return nil
	}
	fn := g.ftab + uint64(funcOff)
	npcdata, ok1 := g.u32(fn + 28)
	if !ok1 || fn+44 > uint64(len(g.pcln)) {
		return nil
	}
	nfuncdata := uint64(g.pcln[fn+43])
	if npcdata <= pcdataInlTreeIndex || nfuncdata <= funcdataInlTree {
		return nil
	}
	table, _ := g.u32(fn + 44 + 4*pcdataInlTreeIndex)
	tree, ok2 := g.u32(fn + 44 + 4*uint64(npcdata) + 4*funcdataInlTree)
	if table == 0 || !ok2 || tree == ^uint32(0) {
		return nil
	}
	entry := g.text + uint64(entryOff)
	var out []string
	idx := g.pcvalue(uint64(table), entry, pc)
	for n := 0; idx >= 0 && n < 64; n++ {
		rec := g.gofunc + uint64(tree) + uint64(idx)*inlinedCallSize - g.segAddr
		if rec+inlinedCallSize > uint64(len(g.seg)) {
			break
		}
		nameOff := int32(g.bo.Uint32(g.seg[rec+4:]))
		parentPc := int32(g.bo.Uint32(g.seg[rec+8:]))
		out = append(out, g.funcName(nameOff))
		idx = g.pcvalue(uint64(table), entry, entry+uint64(parentPc))
	}
	return out
}

// funcName reads a name from funcnametab.
func (g *goInline) funcName(off int32) string {
	start := g.nameOff + uint64(off)
	end := start
	for end < uint64(len(g.pcln)) && g.pcln[end] != 0 {
		end++
	}
	if start >= end {
		return "?"
	}
	return string(g.pcln[start:end])
}

// pcvalue decodes a pc-value table (zig-zag varint value deltas and pc
// deltas, starting at -1 from the function's entry) at target.
func (g *goInline) pcvalue(off, entry, target uint64) int32 {
	p := g.pctab + off
	val, pc := int32(-1), entry
	first := true
	for p < uint64(len(g.pcln)) {
		uv, n := binary.Uvarint(g.pcln[p:])
		if n <= 0 || (uv == 0 && !first) {
			return -1
		}
		p += uint64(n)
		val += int32(-(uint32(uv) & 1) ^ (uint32(uv) >> 1))
		pd, n := binary.Uvarint(g.pcln[p:])
		if n <= 0 {
			return -1
		}
		p += uint64(n)
		pc += pd * g.minLC
		first = false
		if target < pc {
			return val
		}
	}
	return -1
}
