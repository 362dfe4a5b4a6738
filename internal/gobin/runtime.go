package gobin

import (
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// gFieldTable holds offsets of runtime.g fields on amd64 per Go minor
// version, for binaries without DWARF. Sources, per row:
//
//	1.17–1.20  the g struct: stack (16 bytes), stackguard0, stackguard1,
//	           _panic, _defer, m, sched gobuf (sp, pc, g, ctxt, ret, lr, bp:
//	           56 bytes), syscallsp, syscallpc, stktopsp, param, then
//	           atomicstatus uint32 at 144, stackLock uint32, goid at 152,
//	           schedlink, waitsince at 168, waitreason at 176.
//	           1.19: runtime2.go of go1.19.8 (Debian golang-1.19-src), the
//	           DWARF of go1.19.8 builds, and, in Debian's stripped
//	           prometheus and etcd (go1.19.8), the runtime.g type
//	           descriptor (all four fields) and the code of runtime.gopark
//	           (atomicstatus, waitreason) (TestGFieldsFromCode);
//	           1.18: the same two checks on Debian's go-md2man (go1.18.3).
//	           1.17 and 1.20 have the same
//	           fields before waitreason (1.20 made atomicstatus an
//	           atomic.Uint32 and goid a uint64, same sizes) but were not
//	           checked against a build here: no such toolchain or
//	           binary is available to the tests.
//	1.21–1.26  GO-PROBES.md §4, checked against the DWARF of go1.21.0,
//	           1.22.0, 1.23.0, 1.24.0, 1.25.0 and 1.26.8 builds
//	           (TestOtherToolchains; Go 1.23 added g.syscallbp, Go 1.25
//	           removed gobuf.ret).
var gFieldTable = map[int]map[string]int{
	17: gOffsets144,
	18: gOffsets144,
	19: gOffsets144,
	20: gOffsets144,
	21: gOffsets144,
	22: gOffsets144,
	23: gOffsets152,
	24: gOffsets152,
	25: gOffsets144,
	26: gOffsets144,
}

var (
	gOffsets144 = map[string]int{"atomicstatus": 144, "goid": 152, "waitsince": 168, "waitreason": 176}
	gOffsets152 = map[string]int{"atomicstatus": 152, "goid": 160, "waitsince": 176, "waitreason": 184}
)

// GFields lists the runtime.g fields that GFieldOffset knows for binaries
// without DWARF.
var GFields = []string{"atomicstatus", "goid", "waitsince", "waitreason"}

// GoidOffset returns the offset of runtime.g's goid field (an int64
// goroutine ID). With R14 = g at any Go function's entry, *(R14+offset) is
// the current goroutine's ID.
func (b *Binary) GoidOffset() (int, error) {
	return b.GFieldOffset("goid")
}

// GFieldOffset returns the offset of a field of runtime.g (see
// GFieldSource for where it comes from).
func (b *Binary) GFieldOffset(field string) (int, error) {
	off, _, err := b.GFieldSource(field)
	return off, err
}

// GFieldSource returns the offset of a field of runtime.g and where it
// was found, in this order:
//
//   - "DWARF": the binary's debug information;
//   - "runtime type descriptor": the runtime's own type descriptor of
//     runtime.g, which every Go binary keeps (the runtime allocates g
//     with new), stripped or not, with field names and offsets;
//   - "table go1.N": for the fields in GFields, a table keyed by Go
//     minor version (1.17 to 1.26).
//
// Other versions without either are an error.
func (b *Binary) GFieldSource(field string) (int, string, error) {
	if !b.IsGo {
		return 0, "", fmt.Errorf("gobin: %s: runtime.g.%s: not a Go binary", b.Path, field)
	}
	var errs []error
	if b.HasDWARF {
		off, err := b.FieldOffset("runtime.g", field)
		if err == nil {
			return off, "DWARF", nil
		}
		errs = append(errs, err)
	}
	if ix, err := b.runtimeTypes(); err == nil {
		if g, ok := ix.lookup("runtime.g", 0); ok {
			if f, ok := g.Field(field); ok {
				return int(f.Offset), "runtime type descriptor", nil
			}
			errs = append(errs, fmt.Errorf("the runtime.g type descriptor has no field %s", field))
		}
	}
	minor, ok := goMinor(b.GoVersion)
	if !ok {
		return 0, "", errors.Join(append([]error{fmt.Errorf("gobin: %s: runtime.g.%s: unknown Go version %q and no DWARF", b.Path, field, b.GoVersion)}, errs...)...)
	}
	tab, ok := gFieldTable[minor]
	if !ok {
		return 0, "", errors.Join(append([]error{fmt.Errorf("gobin: %s: runtime.g.%s: no offset table for %s (known: go1.17 to go1.26); build with DWARF", b.Path, field, b.GoVersion)}, errs...)...)
	}
	off, ok := tab[field]
	if !ok {
		return 0, "", errors.Join(append([]error{fmt.Errorf("gobin: %s: runtime.g.%s: %w in the offset table (known: %s)", b.Path, field, ErrNotFound, strings.Join(GFields, ", "))}, errs...)...)
	}
	return off, fmt.Sprintf("table go1.%d", minor), nil
}

var goVersionRE = regexp.MustCompile(`go1\.(\d+)`)

// goMinor extracts the minor version from "go1.26.8", "go1.22rc1" or
// "devel go1.27-abcdef".
func goMinor(v string) (int, bool) {
	m := goVersionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

//go:embed waitreasons.tsv
var waitReasonsTSV string

// WaitReasons returns the Go runtime's waitReason names by value, the
// uint8 that runtime.gopark receives in CL and stores in g.waitreason.
// The values change between Go versions. See WaitReasonSource for where
// they come from. Value 0 has the empty name.
func (b *Binary) WaitReasons() (map[uint8]string, error) {
	m, _, err := b.WaitReasonSource()
	return m, err
}

// The sources of WaitReasonSource, in the order they are tried.
const (
	WaitReasonsFromSymbol = "runtime.waitReasonStrings"
	WaitReasonsFromCode   = "runtime.waitReason.String"
)

// WaitReasonSource returns the Go runtime's waitReason names by value and
// where they were read:
//
//   - WaitReasonsFromSymbol: the runtime.waitReasonStrings array, found
//     by its .symtab symbol;
//   - WaitReasonsFromCode: the same array, found through the code of the
//     method runtime.waitReason.String, which .gopclntab names in
//     stripped binaries too (amd64; see waitReasonsFromCode);
//   - "table go1.N": a table for Go 1.17 to 1.26 (waitreasons.tsv).
func (b *Binary) WaitReasonSource() (map[uint8]string, string, error) {
	if !b.IsGo {
		return nil, "", fmt.Errorf("gobin: %s: wait reasons: not a Go binary", b.Path)
	}
	var errs []error
	if !b.Stripped {
		m, err := b.waitReasonsFromSymbol()
		if err == nil {
			return m, WaitReasonsFromSymbol, nil
		}
		errs = append(errs, err)
	}
	m, err := b.waitReasonsFromCode()
	if err == nil {
		return m, WaitReasonsFromCode, nil
	}
	errs = append(errs, err)
	minor, ok := goMinor(b.GoVersion)
	if !ok {
		return nil, "", errors.Join(append([]error{fmt.Errorf("gobin: %s: wait reasons: unknown Go version %q", b.Path, b.GoVersion)}, errs...)...)
	}
	m, err = waitReasonTable(minor)
	if err != nil {
		return nil, "", errors.Join(append([]error{fmt.Errorf("gobin: %s: wait reasons: %w", b.Path, err)}, errs...)...)
	}
	return m, fmt.Sprintf("table go1.%d", minor), nil
}

// waitReasonsFromCode finds runtime.waitReasonStrings through the code of
// runtime.waitReason.String, which every Go release from 1.17 to 1.26
// keeps (the runtime prints wait reasons in tracebacks) and compiles the
// same way on amd64:
//
//	CMPB AL, $len(waitReasonStrings)   ; w >= len: "unknown wait reason"
//	JB   ok
//	…
//	ok: MOVZX AL, CX; SHLQ $4, CX
//	LEAQ runtime.waitReasonStrings(SB), DX
//	MOVQ 0(DX)(CX*1), AX; MOVQ 8(DX)(CX*1), BX
//
// The array is the LEAQ target that a load indexes, and its length the
// first comparison's immediate. The result is checked: value 0 is the
// empty name and every name is a short string.
func (b *Binary) waitReasonsFromCode() (map[uint8]string, error) {
	if b.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("gobin: %s: wait reasons from code: machine %v is not supported (only x86-64)", b.Path, b.Machine)
	}
	f, err := b.Func(WaitReasonsFromCode)
	if err != nil {
		return nil, err
	}
	code, err := b.readAt(f.Addr, int(min(f.Size, 256)))
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: %s: %w", b.Path, f.Name, err)
	}
	n := -1
	var arr uint64
	lea := map[x86asm.Reg]uint64{} // register -> RIP-relative address loaded into it
	for pc := 0; pc < len(code) && arr == 0; {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Op == 0 {
			break
		}
		next := pc + inst.Len
		switch inst.Op {
		case x86asm.CMP:
			if imm, ok := inst.Args[1].(x86asm.Imm); ok && n < 0 {
				if _, isReg := inst.Args[0].(x86asm.Reg); isReg {
					n = int(imm)
				}
			}
		case x86asm.LEA:
			r, rok := inst.Args[0].(x86asm.Reg)
			m, mok := inst.Args[1].(x86asm.Mem)
			if rok && mok && m.Base == x86asm.RIP {
				lea[r] = f.Addr + uint64(next) + uint64(m.Disp)
			}
		case x86asm.MOV:
			if m, ok := inst.Args[1].(x86asm.Mem); ok && m.Index != 0 {
				if a, ok := lea[m.Base]; ok {
					arr = a
				}
			}
		}
		pc = next
	}
	if n <= 0 || n > 255 || arr == 0 {
		return nil, fmt.Errorf("gobin: %s: %s: the length check and the array load were not found (length %d, array %#x)", b.Path, f.Name, n, arr)
	}
	m, err := b.readWaitReasons(arr, uint64(n))
	if err != nil {
		return nil, err
	}
	if m[0] != "" {
		return nil, fmt.Errorf("gobin: %s: %s: the array at %#x does not start with the empty name: %q", b.Path, f.Name, arr, m[0])
	}
	return m, nil
}

// waitReasonsFromSymbol decodes runtime.waitReasonStrings, an array of
// string headers (pointer, length) into read-only data.
func (b *Binary) waitReasonsFromSymbol() (map[uint8]string, error) {
	s, err := b.Symbol(WaitReasonsFromSymbol)
	if err != nil {
		return nil, err
	}
	if s.Size == 0 || s.Size%16 != 0 || s.Size > 256*16 {
		return nil, fmt.Errorf("gobin: %s: runtime.waitReasonStrings has size %d, not a [N]string", b.Path, s.Size)
	}
	return b.readWaitReasons(s.Addr, s.Size/16)
}

// readWaitReasons reads the n strings of the [n]string array at addr.
func (b *Binary) readWaitReasons(addr, n uint64) (map[uint8]string, error) {
	m := make(map[uint8]string, n)
	for i := uint64(0); i < n; i++ {
		ptr, err := b.readPointer(addr + 16*i)
		if err != nil {
			return nil, fmt.Errorf("gobin: %s: runtime.waitReasonStrings[%d]: %w", b.Path, i, err)
		}
		lb, err := b.readAt(addr+16*i+8, 8)
		if err != nil {
			return nil, fmt.Errorf("gobin: %s: runtime.waitReasonStrings[%d]: %w", b.Path, i, err)
		}
		n := b.elf.ByteOrder.Uint64(lb)
		if n > 256 {
			return nil, fmt.Errorf("gobin: %s: runtime.waitReasonStrings[%d] has length %d", b.Path, i, n)
		}
		var str []byte
		if n > 0 {
			if str, err = b.readAt(ptr, int(n)); err != nil {
				return nil, fmt.Errorf("gobin: %s: runtime.waitReasonStrings[%d]: %w", b.Path, i, err)
			}
		}
		m[uint8(i)] = string(str)
	}
	return m, nil
}

// waitReasonTable returns the embedded table's column for Go 1.minor.
func waitReasonTable(minor int) (map[uint8]string, error) {
	col := -1
	m := map[uint8]string{}
	for line := range strings.Lines(waitReasonsTSV) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cells := strings.Split(line, "\t")
		if col < 0 {
			col = slices.Index(cells, fmt.Sprintf("go1.%d", minor))
			if col < 0 {
				return nil, fmt.Errorf("no waitReason table for go1.%d (known: %s)", minor, strings.Join(cells[1:], ", "))
			}
			continue
		}
		if col >= len(cells) || cells[col] == "-" {
			continue
		}
		v, err := strconv.ParseUint(cells[col], 10, 8)
		if err != nil {
			return nil, fmt.Errorf("waitReason table: %q: %w", line, err)
		}
		name := cells[0]
		if name == "(zero)" {
			name = ""
		}
		if old, dup := m[uint8(v)]; dup {
			return nil, fmt.Errorf("waitReason table: go1.%d value %d is both %q and %q", minor, v, old, name)
		}
		m[uint8(v)] = name
	}
	return m, nil
}

// GFieldsFromCode reads the offsets of runtime.g's atomicstatus and
// waitreason from the machine code of runtime.gopark, found through the
// pclntab (so also in stripped binaries), amd64 only. gopark(unlockf,
// lock, reason, …) receives reason in CL (the third integer argument
// register) and stores it with `MOVB CL, waitreason(gp)`; before that
// it reads the status with `MOVL atomicstatus(gp), r` and compares r with
// _Grunning (2). Both are the same in every Go release with the register
// ABI (1.17 to 1.26). The result holds the fields found.
func (b *Binary) GFieldsFromCode() (map[string]int, error) {
	if !b.IsGo || b.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("gobin: %s: runtime.g from code: not an amd64 Go binary", b.Path)
	}
	f, err := b.Func("runtime.gopark")
	if err != nil {
		return nil, err
	}
	code, err := b.readAt(f.Addr, int(min(f.Size, 1024)))
	if err != nil {
		return nil, fmt.Errorf("gobin: %s: runtime.gopark: %w", b.Path, err)
	}
	out := map[string]int{}
	var last x86asm.Inst
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Op == 0 {
			break
		}
		switch {
		case inst.Op == x86asm.MOV && inst.MemBytes == 1 && inst.Args[1] == x86asm.CL:
			if m, ok := inst.Args[0].(x86asm.Mem); ok && m.Base != x86asm.RSP && m.Base != x86asm.RBP && m.Index == 0 {
				if _, seen := out["waitreason"]; !seen {
					out["waitreason"] = int(m.Disp)
				}
			}
		case inst.Op == x86asm.CMP && last.Op == x86asm.MOV && last.MemBytes == 4:
			// readgstatus(gp) then a comparison with _Grunning.
			if imm, ok := inst.Args[1].(x86asm.Imm); ok && imm == 2 && inst.Args[0] == last.Args[0] {
				if m, ok := last.Args[1].(x86asm.Mem); ok && m.Base != x86asm.RSP && m.Base != x86asm.R14 {
					if _, seen := out["atomicstatus"]; !seen {
						out["atomicstatus"] = int(m.Disp)
					}
				}
			}
		}
		if inst.Op != x86asm.NOP {
			last = inst
		}
		pc += inst.Len
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("gobin: %s: runtime.gopark: no store of the wait reason or read of the status found", b.Path)
	}
	return out, nil
}
