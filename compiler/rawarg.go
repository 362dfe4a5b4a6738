package compiler

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/usdt"
)

// Raw arguments arg0…arg9: a slot of the context (raw tracepoints, fentry),
// a saved register (kprobes, uprobes), or, on a USDT probe, wherever the
// probe's note says the argument is.

// checkRawArg types argN on the chain's probe.
func (cc *chainCtx) checkRawArg(e *dsl.Ident, n int) (*Type, error) {
	t := cc.t
	if t.usdt != nil {
		return cc.checkUSDTArg(e, n)
	}
	if len(t.argOffs) == 0 {
		return nil, dsl.Errorf(e.Pos, "%s is not available on %s probes; use args.<field>%s", e.Name, t.attach.Kind, cc.argsHint())
	}
	count := len(t.argOffs)
	if t.rawFromArgs {
		// A raw tracepoint has as many arguments as its BTF prototype;
		// reading past them is refused by the kernel at attach time, so
		// say so here. Without BTF the number is not known.
		if fields := t.fields(); t.argsErr == nil {
			count = min(count, len(fields))
		}
	}
	if n < count {
		return tUint64, nil
	}
	var err *dsl.Error
	switch {
	case count == 0:
		err = dsl.Errorf(e.Pos, "%s has no arguments", t.name)
	case count == 1:
		err = dsl.Errorf(e.Pos, "%s has one argument, arg0", t.name)
	default:
		err = dsl.Errorf(e.Pos, "%s has arguments arg0…arg%d, not %s", t.name, count-1, e.Name)
	}
	if t.rawFromArgs && count > 0 {
		var params []string
		for i, a := range t.fields() {
			params = append(params, fmt.Sprintf("arg%d is %s (%s)", i, a.name, a.typ))
		}
		err.Hint = strings.Join(params, ", ")
	}
	return nil, err
}

// checkUSDTArg types argN of a USDT probe from its note: an integer of
// the width and signedness the note gives.
func (cc *chainCtx) checkUSDTArg(e *dsl.Ident, n int) (*Type, error) {
	site := cc.t.usdt
	if site.err != nil {
		return nil, &dsl.Error{Pos: e.Pos, Msg: fmt.Sprintf("cannot read the arguments of %s", cc.t.name), Detail: site.err.Error()}
	}
	if n >= len(site.args) {
		var err *dsl.Error
		switch len(site.args) {
		case 0:
			err = dsl.Errorf(e.Pos, "%s has no arguments", cc.t.name)
		case 1:
			err = dsl.Errorf(e.Pos, "%s has one argument, arg0", cc.t.name)
		default:
			err = dsl.Errorf(e.Pos, "%s has arguments arg0…arg%d, not %s", cc.t.name, len(site.args)-1, e.Name)
		}
		if len(site.args) > 0 {
			err.Hint = "its note gives them as " + site.text
		}
		return nil, err
	}
	a := site.args[n]
	return &Type{Kind: TInt, Size: a.Size, Signed: a.Signed, CType: usdtCType(a)}, nil
}

// usdtCType names an argument's C type by width, for messages.
func usdtCType(a usdt.Arg) string {
	s := fmt.Sprintf("int%d", a.Size*8)
	if !a.Signed {
		s = "u" + s
	}
	return s
}

// genRawArg reads argN into a new val.
func (cc *chainCtx) genRawArg(n int) val {
	g := cc.g
	v := g.newVal()
	if cc.t.usdt != nil {
		cc.genUSDTArg(cc.t.usdt.args[n])
	} else {
		g.emit(asm.LoadMem(asm.R0, regCtx, int16(cc.t.argOffs[n]), asm.DWord))
	}
	g.store(v, asm.R0)
	return v
}

// genUSDTArg loads a USDT argument into R0, narrowed to its width and
// sign-extended when signed, as libbpf's bpf_usdt_arg does: a register
// from the saved pt_regs, memory through a user read of exactly the
// argument's bytes (a read past them could cross into an unmapped page),
// or a constant. A memory read that fails gives 0.
func (cc *chainCtx) genUSDTArg(a usdt.Arg) {
	g := cc.g
	switch a.Kind {
	case usdt.ArgConst:
		g.movImm(asm.R0, a.Offset)
	case usdt.ArgReg:
		g.emit(asm.LoadMem(asm.R0, regCtx, int16(a.RegOff), asm.DWord))
	case usdt.ArgMem:
		mark := g.stackMark()
		tmp := g.alloc(8)
		g.emit(storeDW(asm.R10, tmp, 0), asm.LoadMem(asm.R3, regCtx, int16(a.RegOff), asm.DWord))
		if a.IndexOff >= 0 {
			g.emit(asm.LoadMem(asm.R1, regCtx, int16(a.IndexOff), asm.DWord))
			if sh := map[int]int32{2: 1, 4: 2, 8: 3}[a.Scale]; sh > 0 {
				g.emit(asm.LSh.Imm(asm.R1, sh))
			}
			g.emit(asm.Add.Reg(asm.R3, asm.R1))
		}
		if a.Offset != 0 {
			if a.Offset >= -1<<31 && a.Offset < 1<<31 {
				g.emit(asm.Add.Imm(asm.R3, int32(a.Offset)))
			} else {
				g.movImm(asm.R1, a.Offset)
				g.emit(asm.Add.Reg(asm.R3, asm.R1))
			}
		}
		g.stackPtr(asm.R1, tmp)
		g.emit(asm.Mov.Imm(asm.R2, int32(a.Size)))
		g.call(asm.FnProbeReadUser)
		g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, asm.DWord))
		g.release(mark)
	}
	if a.Size < 8 {
		sh := int32(64 - 8*a.Size)
		g.emit(asm.LSh.Imm(asm.R0, sh))
		if a.Signed {
			g.emit(asm.ArSh.Imm(asm.R0, sh))
		} else {
			g.emit(asm.RSh.Imm(asm.R0, sh))
		}
	}
}
