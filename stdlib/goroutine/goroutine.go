// Package goroutine is the stdlib pack for the Go scheduler: the source
// goroutine.blocked(bin), one event each time a goroutine resumes after
// blocking in the runtime (a channel, select, a sync.Mutex, a sleep, the
// network poller…), with the wait reason, how long it was blocked and
// where.
//
// Every such wait goes through runtime.gopark(unlockf, lock, reason, …).
// A uprobe past gopark's frame-pointer setup records the time, the reason
// (the uint8 in CL), the goid and the user stack under {pid, g}; a uprobe
// on gopark's single RET, which the goroutine reaches only once it has
// been woken and scheduled again, finds that entry and emits the event.
// The duration is the time blocked plus the time spent runnable in a run
// queue afterwards.
//
// The helper is bpf/goroutine.c. Its facts come from the binary, stripped
// or not: the goid's offset in runtime.g (DWARF, else the runtime's own
// type descriptor of runtime.g, else a table by Go version), the names of
// the wait reasons (runtime.waitReasonStrings, found by its symbol or, in
// stripped binaries, through the code of runtime.waitReason.String; else
// a table by Go version), and the reason's register (DWARF, else gopark's
// own store of CL into g.waitreason, else the signature, unchanged since
// Go 1.17). The reason names go into a map the helper reads, so the event
// carries the name as a string as well as the number.
//
// Not seen, because they do not call gopark: goroutines blocked in a
// system call or in cgo (they hold their thread, status _Gsyscall),
// preemption (gopreempt_m, preemptPark), runtime.Gosched, waits the
// garbage collector sets with casGToWaiting (stop-the-world, mark
// termination) and coroutine switches (iter.Pull, coroswitch). Waits
// that began before the helper was attached are not reported either.
package goroutine

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/arch/x86/x86asm"

	"github.com/ebpftrace/ebpftrace/bpf"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// The probed function and the helper's programs and maps.
const (
	fnPark      = "runtime.gopark"
	progPark    = "goroutine_park"
	progResume  = "goroutine_resume"
	reasonsMap  = "goroutine_reasons"
	reasonSize  = 32  // char reason[32] in struct goroutine_event
	reasonSlots = 256 // goroutine_reasons: one slot per uint8 value
	eventSize   = 40 + reasonSize
	regRCX      = 2 // index of RCX in gobin.IntRegs, the Go ABI's third integer register
)

// Versions says which binaries the source supports.
const Versions = "Go 1.17 or newer, stripped or not (amd64)"

// Schema returns the layout of goroutine.blocked events (struct
// goroutine_event in bpf/goroutine.c; TestSchemaMatchesHelper compares
// them).
func Schema() *pack.Schema {
	return &pack.Schema{
		Type: "goroutine_event",
		Size: eventSize,
		Fields: []pack.Field{
			{Name: "start", Offset: 0, Size: 8, Kind: pack.Unsigned, Doc: "monotonic ns (like nsecs) when the goroutine blocked"},
			{Name: "duration", Offset: 8, Size: 8, Kind: pack.Unsigned, Doc: "ns from blocking to running again (blocked, then runnable)"},
			{Name: "goid", Offset: 16, Size: 8, Kind: pack.Unsigned, Doc: "the goroutine's ID"},
			{Name: "stack", Offset: 24, Size: 8, Kind: pack.UStack, Doc: "where it blocked: the user stack from runtime.gopark up, in " + pack.StackMap},
			{Name: "reason_id", Offset: 32, Size: 4, Kind: pack.Unsigned, Doc: "the runtime's waitReason value (numbers differ between Go versions)"},
			{Name: "reason", Offset: 40, Size: reasonSize, Kind: pack.String, Doc: `why it blocked, as the runtime names it: "chan receive", "select", "sync.Mutex.Lock", "IO wait", "sleep"…`},
		},
	}
}

// Blocked returns the goroutine.blocked source.
func Blocked() *pack.Source {
	return &pack.Source{
		Name:     "goroutine.blocked",
		Doc:      "one event each time a goroutine of a Go program resumes after blocking (channel, select, mutex, sleep, network…)",
		Versions: Versions,
		Schema:   Schema(),
		Resolve:  resolve,
	}
}

// facts are what the helper needs to know about one binary, and where
// each came from.
type facts struct {
	// GoidOffset is runtime.g.goid's offset.
	GoidOffset int
	// ReasonReg is the Go ABI register index (2 = RCX) of gopark's
	// reason argument.
	ReasonReg int
	// Reasons are the wait reasons' names by value.
	Reasons map[uint8]string
	// From says where each fact came from, e.g. "goid: DWARF".
	From []string
}

// readFacts reads the helper's facts from b, built by Go 1.minor.
func readFacts(b *gobin.Binary, minor int) (*facts, error) {
	f := &facts{}
	off, src, err := b.GFieldSource("goid")
	if err != nil {
		return nil, err
	}
	f.GoidOffset = off
	f.From = append(f.From, "goid: "+src)

	reg, src, err := reasonRegister(b, minor)
	if err != nil {
		return nil, err
	}
	f.ReasonReg = reg
	f.From = append(f.From, "reason register: "+src)

	names, src, err := b.WaitReasonSource()
	if err != nil {
		return nil, fmt.Errorf("the names of the wait reasons: %w", err)
	}
	f.Reasons = names
	f.From = append(f.From, "reasons: "+src)
	return f, nil
}

// reasonRegister returns the ABI register index of gopark's reason
// (parameter 2 after unlockf and lock) and where it was found: the
// DWARF; else gopark's code, which stores CL into g.waitreason in every
// release since Go 1.17 (gobin.GFieldsFromCode finds that store only when
// its source is CL); else the signature for the known releases.
func reasonRegister(b *gobin.Binary, minor int) (int, string, error) {
	var errs []error
	if b.HasDWARF {
		ps, err := b.Params(fnPark)
		if err == nil && len(ps) > 2 && len(ps[2].Regs) == 1 {
			return ps[2].Regs[0], "DWARF", nil
		}
		errs = append(errs, fmt.Errorf("%s's reason from DWARF: %v", fnPark, err))
	}
	if m, err := b.GFieldsFromCode(); err == nil {
		if _, ok := m["waitreason"]; ok {
			return regRCX, "gopark's store of CL into g.waitreason", nil
		}
	} else {
		errs = append(errs, err)
	}
	if minor >= 17 && minor <= 26 {
		return regRCX, fmt.Sprintf("signature go1.%d", minor), nil
	}
	return 0, "", errors.Join(append([]error{fmt.Errorf("%s: cannot tell which register holds %s's wait reason (%s)", b.Path, fnPark, b.GoVersion)}, errs...)...)
}

// parkOffset returns the file offset goroutine_park attaches to in
// gopark: past the frame-pointer setup (so the stack walk starts with
// gopark's own frame and finds its direct caller), and preferably on a
// one-byte NOP there. The kernel emulates a NOP (and branches) when a
// uprobe on it fires, but steps other instructions out of line, which
// costs a second trap: on this project's test VM a park then costs
// about 40 µs traced instead of 25. Every gopark from Go 1.17 to 1.26
// has one two instructions after the setup (the inline mark of its
// acquirem() call, after `MOVQ g.m, DX`). The NOP is taken only when the
// instructions before it leave alone what the helper reads: CL (the
// reason), R14 (g) and RBP (the stack walk); otherwise the offset right
// after the setup is used.
func parkOffset(b *gobin.Binary, fn gobin.Func) (uint64, error) {
	frame, err := b.FrameOffset(fn)
	if err != nil {
		return 0, err
	}
	rest := fn.Offset + fn.Size - frame
	code, err := b.ReadAt(fn.Addr+(frame-fn.Offset), int(min(rest, 64)))
	if err != nil {
		return 0, err
	}
	for pc, i := 0, 0; i < 6 && pc < len(code); i++ {
		if code[pc] == 0x90 {
			return frame + uint64(pc), nil
		}
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || !keepsParkState(inst) {
			break
		}
		pc += inst.Len
	}
	return frame, nil
}

// keepsParkState reports an instruction that does not branch and does not
// write RCX, R14 or RBP (in any width). RSP may change (Go 1.21+ ends the
// frame setup with SUBQ $n, SP): the user stack walk starts from RBP.
func keepsParkState(inst x86asm.Inst) bool {
	switch inst.Op {
	case x86asm.MOV, x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD, x86asm.LEA,
		x86asm.INC, x86asm.DEC, x86asm.ADD, x86asm.SUB, x86asm.AND, x86asm.OR, x86asm.XOR:
	case x86asm.TEST, x86asm.CMP:
		return true // they write only flags
	default:
		return false
	}
	r, ok := inst.Args[0].(x86asm.Reg)
	if !ok {
		return true // a store to memory
	}
	switch r {
	case x86asm.RCX, x86asm.ECX, x86asm.CX, x86asm.CL, x86asm.CH,
		x86asm.R14, x86asm.R14L, x86asm.R14W, x86asm.R14B,
		x86asm.RBP, x86asm.EBP, x86asm.BP, x86asm.BPB:
		return false
	}
	return true
}

// resolve builds the target for b.
func resolve(b *gobin.Binary) (*pack.Target, error) {
	minor, err := pack.GoMinor(b)
	if err != nil {
		return nil, err
	}
	fn, err := b.Func(fnPark)
	if err != nil {
		if pack.IsNotFound(err) {
			return nil, fmt.Errorf("%s has no %s: not a Go program's runtime?", b.Path, fnPark)
		}
		return nil, err
	}
	park, err := parkOffset(b, fn)
	if err != nil {
		return nil, err
	}
	probes := []pack.Probe{{Program: progPark, Func: fnPark, Offset: park}}
	rets, err := pack.FuncProbes(b, fnPark, "", progResume)
	if err != nil {
		return nil, err
	}
	probes = append(probes, rets...)
	sort.SliceStable(probes, func(i, j int) bool { return probes[i].Offset < probes[j].Offset })

	fs, err := readFacts(b, minor)
	if err != nil {
		return nil, err
	}
	consts := map[string]uint64{
		"go_g_goid":       uint64(fs.GoidOffset),
		"park_reason_reg": uint64(fs.ReasonReg),
	}
	spec, err := bpf.Goroutine()
	if err != nil {
		return nil, fmt.Errorf("load the goroutine helper object: %w", err)
	}
	spec, err = pack.NewSpec(spec, []string{progPark, progResume}, consts)
	if err != nil {
		return nil, fmt.Errorf("goroutine helper: %w", err)
	}
	if err := setReasons(spec, fs.Reasons); err != nil {
		return nil, err
	}
	return &pack.Target{
		Source:    "goroutine.blocked",
		Path:      b.Path,
		GoVersion: b.GoVersion,
		FactsFrom: strings.Join(fs.From, "; "),
		Spec:      spec,
		Constants: consts,
		Probes:    probes,
		Schema:    Schema(),
	}, nil
}

// setReasons makes the loader fill the helper's reason map with names:
// slot v holds the name of value v, NUL-padded, cut to reasonSize-1
// bytes.
func setReasons(spec *ebpf.CollectionSpec, names map[uint8]string) error {
	ms := spec.Maps[reasonsMap]
	if ms == nil || ms.MaxEntries != reasonSlots || ms.ValueSize != reasonSize {
		return fmt.Errorf("goroutine helper: map %s is not %d slots of %d bytes", reasonsMap, reasonSlots, reasonSize)
	}
	ms.Contents = ms.Contents[:0]
	for v, name := range names {
		var val [reasonSize]byte
		copy(val[:reasonSize-1], name)
		ms.Contents = append(ms.Contents, ebpf.MapKV{Key: uint32(v), Value: val})
	}
	sort.Slice(ms.Contents, func(i, j int) bool { return ms.Contents[i].Key.(uint32) < ms.Contents[j].Key.(uint32) })
	return nil
}

// ReasonNames returns the names a target's helper will map wait reason
// values to (the contents of its reason map).
func ReasonNames(t *pack.Target) map[uint8]string {
	out := map[uint8]string{}
	ms := t.Spec.Maps[reasonsMap]
	if ms == nil {
		return out
	}
	for _, kv := range ms.Contents {
		k, _ := kv.Key.(uint32)
		v, _ := kv.Value.([reasonSize]byte)
		n := 0
		for n < len(v) && v[n] != 0 {
			n++
		}
		out[uint8(k)] = string(v[:n])
	}
	return out
}
