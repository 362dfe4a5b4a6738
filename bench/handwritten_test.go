package bench

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// The hand-written programs are the floor ebpftrace's generated code is
// held to: the fewest instructions and helper calls that do the job, the
// same map types and sizes ebpftrace uses, written directly with
// cilium/ebpf/asm.

// handwrittenEmpty does nothing: what it costs is the kernel's accounting
// around any program (two sched_clock() reads and the counter updates),
// the floor under every other figure.
func handwrittenEmpty(*ebpf.Map) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}
}

// handwrittenCount: per-CPU array of one u64; look up key 0, add 1.
func handwrittenCount(m *ebpf.Map) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 0, asm.Word), // key = 0
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
}

// handwrittenByComm: per-CPU hash keyed by the 16-byte comm. The key is
// written by bpf_get_current_comm (which zero-pads it) straight onto the
// stack; when the key is missing a zero is inserted with BPF_NOEXIST and
// looked up again; then the value is incremented.
func handwrittenByComm(m *ebpf.Map) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -16),
		asm.Mov.Imm(asm.R2, 16),
		asm.FnGetCurrentComm.Call(), // key at fp-16
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "inc"),
		// First event of this comm.
		// *(u64 *)(fp-24) = 0: asm.StoreImm refuses DWord, so spelled out.
		asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: asm.RFP, Offset: -24, Constant: 0},
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -24),
		asm.Mov.Imm(asm.R4, int32(ebpf.UpdateNoExist)),
		asm.FnMapUpdateElem.Call(),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord).WithSymbol("inc"),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
}

// attachedHandwritten is a loaded and attached hand-written program.
type attachedHandwritten struct {
	m    *ebpf.Map
	prog *ebpf.Program
	l    link.Link
}

func (h *attachedHandwritten) Close() {
	if h.l != nil {
		h.l.Close()
	}
	if h.prog != nil {
		h.prog.Close()
	}
	if h.m != nil {
		h.m.Close()
	}
}

// attachHandwritten loads the hand-written program for aggregation kind
// ("empty", "count" or "by_comm") and attaches it to syscalls:sys_enter_getppid.
func attachHandwritten(kind string) (*attachedHandwritten, error) {
	var ms *ebpf.MapSpec
	var code func(*ebpf.Map) asm.Instructions
	switch kind {
	case "empty":
		code = handwrittenEmpty
	case "count":
		ms = &ebpf.MapSpec{Name: "hw_count", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1}
		code = handwrittenCount
	case "by_comm":
		// 10240 keys, as ebpftrace sizes a keyed aggregation.
		ms = &ebpf.MapSpec{Name: "hw_by_comm", Type: ebpf.PerCPUHash, KeySize: 16, ValueSize: 8, MaxEntries: 10240}
		code = handwrittenByComm
	default:
		return nil, fmt.Errorf("no hand-written program %q", kind)
	}
	h := &attachedHandwritten{}
	var err error
	if ms != nil {
		if h.m, err = ebpf.NewMap(ms); err != nil {
			return nil, fmt.Errorf("create map %s: %w", ms.Name, err)
		}
	}
	h.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "hw_" + kind,
		Type:         ebpf.TracePoint,
		Instructions: code(h.m),
		License:      "GPL",
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("load hand-written %s: %w", kind, err)
	}
	if h.l, err = link.Tracepoint("syscalls", "sys_enter_getppid", h.prog, nil); err != nil {
		h.Close()
		return nil, fmt.Errorf("attach hand-written %s: %w", kind, err)
	}
	return h, nil
}
