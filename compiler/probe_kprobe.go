package compiler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// kprobe("fn") and kretprobe("fn") fire on kernel function entry and
// return. args.<param> comes from the function's BTF prototype, read from
// the saved registers; each has an fentry/fexit twin compiled as its
// fallback, for kernels without kprobes.
func init() {
	register(&provider{name: "kprobe", usage: `kprobe("function")`, expand: expandKernelFunc(AttachKprobe)})
	register(&provider{name: "kretprobe", usage: `kretprobe("function")`, expand: expandKernelFunc(AttachKretprobe)})
}

// x86-64 struct pt_regs offsets of the argument registers (di si dx cx r8
// r9) and of ax, which holds the return value.
var ptRegsArgs = []int{112, 104, 96, 88, 72, 64}

const ptRegsAX = 80

// kernelFunc is a kernel function a kprobe or fentry names.
type kernelFunc struct {
	name  string
	proto *btf.FuncProto // nil when BTF does not describe it
}

func lookupKernelFunc(env *Env, call *dsl.Call) (*kernelFunc, error) {
	if err := wantArgs(call, 1, 1); err != nil {
		return nil, err
	}
	name, err := stringArg(call, 0, "a kernel function name")
	if err != nil {
		return nil, err
	}
	pos := call.Args[0].Position()
	if strings.ContainsAny(name, "*?") {
		return nil, dsl.Errorf(pos, "%s takes one function name; wildcards are not supported yet", call.Name)
	}
	spec, err := env.kernelBTF(pos, call.Name)
	if err != nil {
		return nil, err
	}
	var fn *btf.Func
	if err := spec.TypeByName(name, &fn); err != nil {
		e := dsl.Errorf(pos, "the kernel has no function %q (in its BTF)", name)
		e.Hint = dsl.DidYouMean(name, funcNames(spec, name))
		return nil, e
	}
	proto, _ := fn.Type.(*btf.FuncProto)
	return &kernelFunc{name: name, proto: proto}, nil
}

func funcNames(spec *btf.Spec, name string) []string {
	return typeNames(spec, name, func(t btf.Type) bool { _, ok := t.(*btf.Func); return ok })
}

func expandKernelFunc(kind AttachKind) func(*Env, *dsl.Call) ([]*target, error) {
	return func(env *Env, call *dsl.Call) ([]*target, error) {
		fn, err := lookupKernelFunc(env, call)
		if err != nil {
			return nil, err
		}
		var t, twin *target
		switch kind {
		case AttachKprobe, AttachKretprobe:
			t = kprobeTarget(fn, kind == AttachKretprobe)
			twin = fentryTarget(fn, kind == AttachKretprobe)
		default:
			t = fentryTarget(fn, kind == AttachFexit)
			twin = kprobeTarget(fn, kind == AttachFexit)
		}
		t.fallback = twin
		t.seeAlso = sameEventTracepoints(env, fn.name)
		return []*target{t}, nil
	}
}

func kprobeTarget(fn *kernelFunc, ret bool) *target {
	kind, prefix := AttachKprobe, "kprobe:"
	if ret {
		kind, prefix = AttachKretprobe, "kretprobe:"
	}
	t := &target{
		name:     prefix + fn.name,
		attach:   Attach{Kind: kind, Target: fn.name},
		progType: ebpf.Kprobe,
		funcName: fn.name,
	}
	if ret {
		if fn.proto != nil {
			t.retval = &argField{name: "retval", typ: fromBTF(fn.proto.Return), off: ptRegsAX, slot: true}
		}
		return t
	}
	t.argOffs = ptRegsArgs
	if fn.proto != nil {
		for i, p := range fn.proto.Params {
			if i >= len(ptRegsArgs) {
				break
			}
			t.args = append(t.args, &argField{name: paramName(p, i), typ: fromBTF(p.Type), off: ptRegsArgs[i], slot: true})
		}
	}
	return t
}

func fentryTarget(fn *kernelFunc, ret bool) *target {
	kind, prefix, at := AttachFentry, "fentry:", ebpf.AttachTraceFEntry
	if ret {
		kind, prefix, at = AttachFexit, "fexit:", ebpf.AttachTraceFExit
	}
	t := &target{
		name:       prefix + fn.name,
		attach:     Attach{Kind: kind, Target: fn.name},
		progType:   ebpf.Tracing,
		attachType: at,
		attachTo:   fn.name,
		funcName:   fn.name,
	}
	if fn.proto != nil {
		for i, p := range fn.proto.Params {
			t.args = append(t.args, &argField{name: paramName(p, i), typ: fromBTF(p.Type), off: 8 * i, slot: true})
		}
		if ret {
			t.retval = &argField{name: "retval", typ: fromBTF(fn.proto.Return), off: 8 * len(fn.proto.Params), slot: true}
		}
	}
	return t
}

func paramName(p btf.FuncParam, i int) string {
	if p.Name == "" {
		return fmt.Sprintf("arg%d", i)
	}
	return p.Name
}

// sameEventTracepoints names up to three tracepoints that see what a
// kernel function does, by its name: do_sys_open → syscalls:sys_enter_open,
// syscalls:sys_enter_openat, …; entry tracepoints first.
func sameEventTracepoints(env *Env, fn string) []string {
	if env.Tracepoints == nil {
		return nil
	}
	stem := fn
	for _, p := range []string{"__x64_sys_", "__ia32_sys_", "__se_sys_", "__do_sys_", "do_sys_", "ksys_", "sys_", "do_", "vfs_", "__"} {
		stem = strings.TrimPrefix(stem, p)
	}
	if len(stem) < 3 {
		return nil
	}
	names, err := env.Tracepoints.Match("*" + stem + "*")
	if err != nil || len(names) == 0 {
		return nil
	}
	score := func(n string) int {
		_, ev, _ := strings.Cut(n, ":")
		s := len(ev) - len(stem) // closer names first
		if strings.HasPrefix(ev, "sys_exit_") {
			s += 100
		}
		if !strings.HasPrefix(ev, "sys_enter_"+stem) && !strings.HasPrefix(ev, stem) {
			s += 50
		}
		return s
	}
	sort.SliceStable(names, func(i, j int) bool { return score(names[i]) < score(names[j]) })
	if len(names) > 3 {
		names = names[:3]
	}
	return names
}
