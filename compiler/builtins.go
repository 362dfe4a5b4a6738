package compiler

import (
	"fmt"
	"sort"

	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// builtinValue is one name a chain can read (`pid`, `comm`, …): its type
// rule and its code. Scalars generate into a new val; strings into memory.
type builtinValue struct {
	name   string
	doc    string
	typ    func(cc *chainCtx, e *dsl.Ident) (*Type, error)
	gen    func(cc *chainCtx) val
	genMem func(cc *chainCtx, dst mem)
}

// builtinFunc is one function (`str`, `hex`, …).
type builtinFunc struct {
	name             string
	usage            string
	doc              string
	minArgs, maxArgs int
	typ              func(cc *chainCtx, e *dsl.Call) (*Type, error)
	gen              func(cc *chainCtx, e *dsl.Call) val
	genMem           func(cc *chainCtx, e *dsl.Call, dst mem)
}

var builtinValues = map[string]*builtinValue{}
var builtinFuncs = map[string]*builtinFunc{}

func init() {
	for _, b := range []*builtinValue{
		helperValue("pid", "process id (thread group id)", asm.FnGetCurrentPidTgid, func(g *gen) { g.emit(asm.RSh.Imm(asm.R0, 32)) }, tUint32),
		helperValue("tid", "thread id", asm.FnGetCurrentPidTgid, func(g *gen) { g.emit(asm.Mov.Reg32(asm.R0, asm.R0)) }, tUint32),
		helperValue("uid", "user id", asm.FnGetCurrentUidGid, func(g *gen) { g.emit(asm.Mov.Reg32(asm.R0, asm.R0)) }, tUint32),
		helperValue("gid", "group id", asm.FnGetCurrentUidGid, func(g *gen) { g.emit(asm.RSh.Imm(asm.R0, 32)) }, tUint32),
		helperValue("cpu", "the CPU the probe fired on", asm.FnGetSmpProcessorId, nil, tUint32),
		helperValue("nsecs", "CLOCK_MONOTONIC nanoseconds", asm.FnKtimeGetNs, nil, tUint64),
		helperValue("cgroup", "cgroup v2 id of the current task", asm.FnGetCurrentCgroupId, nil, tUint64),
		{
			name: "elapsed", doc: "nanoseconds since ebpftrace started; after .latency(), since the start probe",
			typ: func(*chainCtx, *dsl.Ident) (*Type, error) { return tUint64, nil },
			gen: func(cc *chainCtx) val {
				g := cc.g
				v := g.newVal()
				if cc.latency != 0 {
					g.emit(asm.LoadMem(asm.R0, asm.R10, cc.latency, asm.DWord))
					g.store(v, asm.R0)
					return v
				}
				g.call(asm.FnKtimeGetNs)
				g.emit(asm.LoadImm(asm.R1, int64(cc.env.StartNs), asm.DWord), asm.Sub.Reg(asm.R0, asm.R1))
				g.store(v, asm.R0)
				return v
			},
		},
		{
			name: "comm", doc: "name of the current task (16 bytes)",
			typ: func(*chainCtx, *dsl.Ident) (*Type, error) { return tComm, nil },
			genMem: func(cc *chainCtx, dst mem) {
				cc.g.addr(dst, asm.R1)
				cc.g.emit(asm.Mov.Imm(asm.R2, 16))
				cc.g.call(asm.FnGetCurrentComm)
			},
		},
		{
			// An index into Program.ProbeNames: a key of one size whatever
			// the names' lengths, so wildcard probes share one map.
			name: "probe", doc: "the probe's full name",
			typ: func(cc *chainCtx, _ *dsl.Ident) (*Type, error) {
				return &Type{Kind: TInt, Size: 8, Show: "probe"}, nil
			},
			gen: func(cc *chainCtx) val {
				v := cc.g.newVal()
				cc.g.movImm(asm.R0, int64(cc.prog.probeIndex(cc.t.name)))
				cc.g.store(v, asm.R0)
				return v
			},
		},
		{
			name: "args", doc: "the probe's typed arguments: args.<field>",
			typ: func(cc *chainCtx, e *dsl.Ident) (*Type, error) {
				if len(cc.t.fields()) == 0 && cc.t.argsErr != nil {
					return nil, &dsl.Error{Pos: e.Pos, Msg: fmt.Sprintf("cannot type the args of %s", cc.t.name), Detail: cc.t.argsErr.Error()}
				}
				if len(cc.t.fields()) == 0 {
					e := dsl.Errorf(e.Pos, "%s probes have no args", cc.t.attach.Kind)
					if n := len(cc.t.argOffs); n > 0 {
						e.Msg += fmt.Sprintf("; read raw arguments as arg0…arg%d", n-1)
					}
					if u := cc.t.usdt; u != nil && len(u.args) > 0 {
						e.Msg += fmt.Sprintf(" (USDT arguments have no names); read them as arg0…arg%d", len(u.args)-1)
					}
					return nil, e
				}
				return &Type{Kind: TArgs}, nil
			},
		},
		{
			name: "curtask", doc: "the current task_struct (kernel BTF): curtask.real_parent.comm",
			typ: func(cc *chainCtx, e *dsl.Ident) (*Type, error) {
				spec, err := cc.env.kernelBTF(e.Pos, "curtask")
				if err != nil {
					return nil, err
				}
				t, err := lookupStruct(spec, "task_struct")
				if err != nil {
					return nil, dsl.Errorf(e.Pos, "the kernel's BTF has no struct task_struct")
				}
				return &Type{Kind: TPtr, Size: 8, CType: "struct task_struct *", btf: t}, nil
			},
			gen: func(cc *chainCtx) val {
				v := cc.g.newVal()
				cc.g.call(asm.FnGetCurrentTask)
				cc.g.store(v, asm.R0)
				return v
			},
		},
		{
			name: "goid", doc: "the current goroutine's id (Go binaries)",
			typ: func(cc *chainCtx, e *dsl.Ident) (*Type, error) {
				if cc.t.goidOff <= 0 && cc.t.goidErr != nil {
					return nil, &dsl.Error{Pos: e.Pos, Msg: fmt.Sprintf("goid is not known on %s", cc.t.name), Detail: cc.t.goidErr.Error()}
				}
				if cc.t.goidOff <= 0 {
					return nil, dsl.Errorf(e.Pos, "goid is only known on user probes of Go binaries, not on %s", cc.t.name)
				}
				return tInt64, nil
			},
			gen: func(cc *chainCtx) val {
				g := cc.g
				v := g.newVal()
				mark := g.stackMark()
				tmp := g.alloc(8)
				// g is in R14 on amd64 Go code; goid is a field of it.
				g.emit(storeDW(asm.R10, tmp, 0), asm.LoadMem(asm.R3, regCtx, ptRegsR14, asm.DWord), asm.Add.Imm(asm.R3, int32(cc.t.goidOff)))
				g.stackPtr(asm.R1, tmp)
				g.emit(asm.Mov.Imm(asm.R2, 8))
				g.call(asm.FnProbeReadUser)
				g.emit(asm.LoadMem(asm.R0, asm.R10, tmp, asm.DWord))
				g.release(mark)
				g.store(v, asm.R0)
				return v
			},
		},
		{
			// An index into Program.ProbeNames, as `probe`: a key of one
			// size whatever the names, so the functions of a glob share
			// one map.
			name: "func", doc: "the probed function's name (kprobe, uprobe, fentry; on usdt the function holding the probe)",
			typ: func(cc *chainCtx, e *dsl.Ident) (*Type, error) {
				if cc.t.funcName == "" {
					e := dsl.Errorf(e.Pos, "func is the probed function's name, known on kprobe, kretprobe, fentry, fexit, uprobe, uretprobe and usdt probes, not on %s", cc.t.name)
					if cc.t.usdt != nil {
						e.Msg = fmt.Sprintf("func: no function symbol holds the site of %s (a stripped binary?)", cc.t.name)
					}
					return nil, e
				}
				return &Type{Kind: TInt, Size: 8, Show: "probe", CType: "a function name"}, nil
			},
			gen: func(cc *chainCtx) val {
				v := cc.g.newVal()
				cc.g.movImm(asm.R0, int64(cc.prog.probeIndex(cc.t.funcName)))
				cc.g.store(v, asm.R0)
				return v
			},
		},
		{
			name: "cpid", doc: "the pid of the -c command",
			typ: func(cc *chainCtx, e *dsl.Ident) (*Type, error) {
				if !cc.env.Command {
					err := dsl.Errorf(e.Pos, "cpid is the pid of the command -c starts; there is none")
					err.Hint = "run with -c CMD (with -p PID, the pid is the one you gave)"
					return nil, err
				}
				return tUint32, nil
			},
			gen: func(cc *chainCtx) val {
				v := cc.g.newVal()
				cc.g.emit(asm.LoadMapValue(asm.R0, 0, 0).WithReference(cc.prog.needControl()),
					asm.LoadMem(asm.R0, asm.R0, controlCPID, asm.DWord))
				cc.g.store(v, asm.R0)
				return v
			},
		},
		{
			name: "ncpus", doc: "the number of online CPUs",
			typ: func(*chainCtx, *dsl.Ident) (*Type, error) { return tUint32, nil },
			gen: func(cc *chainCtx) val {
				v := cc.g.newVal()
				cc.g.movImm(asm.R0, int64(onlineCPUCount()))
				cc.g.store(v, asm.R0)
				return v
			},
		},
		{
			// The uid, named in user space when shown (as bpftrace's
			// username, from the password database of the host).
			name: "username", doc: "the user name of uid (the uid when it has none)",
			typ: func(*chainCtx, *dsl.Ident) (*Type, error) {
				return &Type{Kind: TInt, Size: 4, Show: "username", CType: "a user name"}, nil
			},
			gen: func(cc *chainCtx) val {
				g := cc.g
				v := g.newVal()
				g.call(asm.FnGetCurrentUidGid)
				g.emit(asm.Mov.Reg32(asm.R0, asm.R0))
				g.store(v, asm.R0)
				return v
			},
		},
		{
			name: "retval", doc: "the return value (return probes)",
			typ: func(cc *chainCtx, e *dsl.Ident) (*Type, error) {
				if cc.t.retval == nil {
					return nil, dsl.Errorf(e.Pos, "retval is only set on return probes (kretprobe, uretprobe, fexit), not on %s", cc.t.attach.Kind)
				}
				if r := cc.t.retval; r.unreadable != "" {
					return nil, dsl.Errorf(e.Pos, "%s", r.unreadable)
				} else if r.gv != nil {
					cc.setGoVal(e, r.gv)
				}
				return cc.t.retval.typ, nil
			},
			gen: func(cc *chainCtx) val {
				v := cc.g.newVal()
				cc.loadCtxArg(cc.t.retval)
				cc.g.store(v, asm.R0)
				return v
			},
		},
	} {
		builtinValues[b.name] = b
	}

	for _, f := range []*builtinFunc{
		{
			name: "str", usage: "str(ptr[, len])", doc: "read a NUL-terminated string (64 bytes unless len says)",
			minArgs: 1, maxArgs: 2, typ: typeStr, genMem: genStr,
		},
		{
			name: "hex", usage: "hex(x)", doc: "show a number in hexadecimal",
			minArgs: 1, maxArgs: 1,
			typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) {
				t := cc.types[e.Args[0]]
				if !t.isScalar() {
					return nil, dsl.Errorf(e.Args[0].Position(), "hex takes a number, not %s", t)
				}
				h := *t
				h.Hex = true
				return &h, nil
			},
			gen: func(cc *chainCtx, e *dsl.Call) val { return cc.genScalar(e.Args[0]) },
		},
		{
			// A number shown as time: the layout goes into the value's Show,
			// so the runtime formats it; nothing is done in the kernel.
			name: "strftime", usage: `strftime("15:04:05"[, ns])`, doc: "ns (nsecs when left out) shown as wall-clock time in a Go time layout (or %H:%M:%S)",
			minArgs: 1, maxArgs: 2,
			typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) {
				lit, ok := e.Args[0].(*dsl.StringLit)
				if !ok {
					return nil, dsl.Errorf(e.Args[0].Position(), `strftime's layout must be a string literal, e.g. strftime("15:04:05", nsecs)`)
				}
				layout, err := timeLayout(lit.Value)
				if err != nil {
					return nil, dsl.Errorf(lit.Pos, "strftime: %v", err)
				}
				if len(e.Args) == 1 {
					return &Type{Kind: TInt, Size: 8, Show: "strftime:" + layout, CType: "a time"}, nil
				}
				if t := cc.types[e.Args[1]]; t.Kind != TInt {
					return nil, dsl.Errorf(e.Args[1].Position(), "strftime takes nanoseconds of CLOCK_MONOTONIC (nsecs), not %s", t)
				}
				return &Type{Kind: TInt, Size: 8, Show: "strftime:" + layout, CType: "a time"}, nil
			},
			gen: func(cc *chainCtx, e *dsl.Call) val {
				if len(e.Args) == 1 {
					return builtinValues["nsecs"].gen(cc) // now
				}
				return cc.genScalar(e.Args[1])
			},
		},
		showFunc("ksym", "ksym(addr)", "the kernel symbol at addr"),
		showFunc("usym", "usym(addr)", "the symbol at addr in the current process"),
		{
			name: "ntop", usage: "ntop(addr)", doc: "an IPv4 (a 32-bit int) or IPv6 (16 bytes) address as text",
			minArgs: 1, maxArgs: 1,
			typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) {
				t := cc.types[e.Args[0]]
				switch {
				case t.Kind == TString && t.Size == 16:
					return &Type{Kind: TString, Size: 16, Show: "ipv6"}, nil
				case t.Kind == TInt || t.Kind == TPtr:
					return &Type{Kind: TInt, Size: 8, Show: "ipv4"}, nil
				}
				return nil, dsl.Errorf(e.Args[0].Position(), "ntop takes an IPv4 address (an integer) or an IPv6 address (16 bytes), not %s", t)
			},
			gen:    func(cc *chainCtx, e *dsl.Call) val { return cc.genScalar(e.Args[0]) },
			genMem: func(cc *chainCtx, e *dsl.Call, dst mem) { cc.genMem(e.Args[0], dst) },
		},
	} {
		builtinFuncs[f.name] = f
	}
}

// showFunc is a function that only changes how a number is shown.
func showFunc(name, usage, doc string) *builtinFunc {
	return &builtinFunc{
		name: name, usage: usage, doc: doc, minArgs: 1, maxArgs: 1,
		typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) {
			t := cc.types[e.Args[0]]
			if !t.isScalar() || t.Kind == TStack {
				return nil, dsl.Errorf(e.Args[0].Position(), "%s takes an address, not %s", name, t)
			}
			return &Type{Kind: TInt, Size: 8, Show: name}, nil
		},
		gen: func(cc *chainCtx, e *dsl.Call) val { return cc.genScalar(e.Args[0]) },
	}
}

// helperValue is a scalar that one helper call returns, then fix adjusts.
func helperValue(name, doc string, fn asm.BuiltinFunc, fix func(*gen), t *Type) *builtinValue {
	return &builtinValue{
		name: name, doc: doc,
		typ: func(*chainCtx, *dsl.Ident) (*Type, error) { return t, nil },
		gen: func(cc *chainCtx) val {
			g := cc.g
			v := g.newVal()
			g.call(fn)
			if fix != nil {
				fix(g)
			}
			g.store(v, asm.R0)
			return v
		},
	}
}

func typeStr(cc *chainCtx, e *dsl.Call) (*Type, error) {
	t := cc.types[e.Args[0]]
	n := defaultStrLen
	if len(e.Args) == 2 {
		v, ok := constInt(e.Args[1])
		if !ok {
			return nil, dsl.Errorf(e.Args[1].Position(), "str's length must be an integer constant")
		}
		if v < 1 || v > maxStrLen {
			return nil, dsl.Errorf(e.Args[1].Position(), "str's length must be between 1 and %d, not %d", maxStrLen, v)
		}
		n = int(v)
	}
	switch {
	case t.Kind == TString && t.gt != nil && cc.goValOf(e.Args[0]) != nil:
		// A Go string: str(s, n) reads up to n bytes of it.
		if len(e.Args) == 2 {
			s := *t
			s.Size = n
			return &s, nil
		}
		return t, nil
	case t.Kind == TString:
		return t, nil
	case t.Kind == TInt || t.Kind == TPtr:
		return stringType(n), nil
	}
	return nil, dsl.Errorf(e.Args[0].Position(), "str takes a pointer, not %s", t)
}

func genStr(cc *chainCtx, e *dsl.Call, dst mem) {
	g := cc.g
	src := cc.types[e.Args[0]]
	if gv := cc.goValOf(e.Args[0]); gv != nil && src.Kind == TString {
		cc.genGoStringTo(cc.unwrap(e.Args[0]), gv, cc.types[e].Size, dst)
		return
	}
	if src.Kind == TString {
		cc.genMem(e.Args[0], dst)
		return
	}
	mark := g.stackMark()
	p := cc.genScalar(e.Args[0])
	g.at(e.Pos, dsl.ExprString(e))
	g.loadInto(p, asm.R3)
	g.freeVal(p)
	g.addr(dst, asm.R1)
	g.movImm(asm.R2, int64(cc.types[e].Size))
	switch {
	case src.Kind == TPtr && (src.User || cc.t.userPtrs):
		g.call(asm.FnProbeReadUserStr)
	default:
		// A kernel pointer, or one whose address space is not known: most
		// kernels' BTF has no __user tags, so a char * parameter of a
		// syscall function may point into user memory. The compat helper
		// reads user memory below TASK_SIZE and kernel memory above (x86
		// keeps them apart), which is right for both.
		g.call(asm.FnProbeReadStr)
	}
	g.release(mark)
}

func builtinValueNames() []string {
	var n []string
	for k := range builtinValues {
		n = append(n, k)
	}
	for i := 0; i < 10; i++ {
		n = append(n, "arg"+string(rune('0'+i)))
	}
	sort.Strings(n)
	return n
}

func builtinFuncNames() []string {
	var n []string
	for k := range builtinFuncs {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
