package compiler

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// kstack and ustack are ids into one stack trace map (frame-pointer walks
// by bpf_get_stackid); the runtime reads and symbolizes the frames. A
// ustack value carries the pid in its high 32 bits, since user addresses
// mean something only in their process.

// maxStackDepth is the kernel's default perf_event_max_stack.
const maxStackDepth = 127

// stackMapEntries bounds how many distinct stacks are kept.
const stackMapEntries = 16384

// bpfFUserStack is BPF_F_USER_STACK.
const bpfFUserStack = 1 << 8

func init() {
	for _, user := range []bool{false, true} {
		name, doc, show := "kstack", "the kernel stack (frame pointers), as a value or a by() key", "kstack"
		if user {
			name, doc, show = "ustack", "the user stack (frame pointers), as a value or a by() key", "ustack"
		}
		builtinValues[name] = &builtinValue{
			name: name, doc: doc,
			typ: func(cc *chainCtx, _ *dsl.Ident) (*Type, error) {
				// At a function's entry (and a Go function's RET) the
				// function has no frame: a frame-pointer walk goes from
				// it to its caller's caller. The caller's return address
				// is at [RSP]; it goes with the stack id.
				return &Type{Kind: TStack, Size: 8, User: user, Show: show, callerFrame: user && cc.t.atEntry}, nil
			},
			gen: func(cc *chainCtx) val { return cc.genStack(user) },
		}
	}
}

func (pb *progBuilder) needStacks() string {
	if pb.out.Stacks == "" {
		pb.out.Stacks = "ebt_stacks"
		pb.out.Spec.Maps[pb.out.Stacks] = &ebpf.MapSpec{
			Name: pb.out.Stacks, Type: ebpf.StackTrace,
			KeySize: 4, ValueSize: 8 * maxStackDepth, MaxEntries: stackMapEntries,
		}
	}
	return pb.out.Stacks
}

func (cc *chainCtx) genStack(user bool) val {
	g := cc.g
	v := g.newVal()
	g.emit(asm.Mov.Reg(asm.R1, regCtx))
	g.mapPtr(asm.R2, cc.prog.needStacks())
	flags := int32(0)
	if user {
		flags = bpfFUserStack
	}
	g.emit(asm.Mov.Imm(asm.R3, flags))
	g.call(asm.FnGetStackid)
	if user {
		// id in the low 32 bits, pid in the high 32.
		g.emit(asm.Mov.Reg32(asm.R0, asm.R0))
		g.store(v, asm.R0)
		cc.genPid(asm.R0)
		g.emit(asm.LSh.Imm(asm.R0, 32))
		r := g.load(v, asm.R1)
		g.emit(asm.Or.Reg(asm.R0, r))
	}
	g.store(v, asm.R0)
	return v
}

// genCallerPC puts the return address at [RSP] into r: at a function's
// entry, where its caller called it from.
func (cc *chainCtx) genCallerPC(r asm.Register) {
	g := cc.g
	mark := g.stackMark()
	tmp := g.alloc(8)
	g.emit(storeDW(asm.R10, tmp, 0), asm.LoadMem(asm.R3, regCtx, ptRegsSP, asm.DWord))
	g.stackPtr(asm.R1, tmp)
	g.emit(asm.Mov.Imm(asm.R2, 8))
	g.call(asm.FnProbeReadUser)
	g.emit(asm.LoadMem(r, asm.R10, tmp, asm.DWord))
	g.release(mark)
}
