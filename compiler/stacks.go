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
			typ: func(*chainCtx, *dsl.Ident) (*Type, error) {
				return &Type{Kind: TStack, Size: 8, User: user, Show: show}, nil
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
