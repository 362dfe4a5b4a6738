package compiler

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/binpath"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
)

// uprobe(bin, sym) and uretprobe(bin, sym) fire on user function entry
// and return. bin is a path, a command on PATH, or a library name ("libc")
// found as the dynamic loader would. On Go binaries arguments follow Go's
// register ABI, args.<name> comes from DWARF, and a return probe is a
// uprobe on each RET instruction of the function — never a kernel
// uretprobe, which rewrites return addresses on the stack and crashes Go
// programs when a goroutine stack moves.
func init() {
	register(&provider{name: "uprobe", usage: `uprobe("/path/or/name", "function")`, expand: expandUprobe(false)})
	register(&provider{name: "uretprobe", usage: `uretprobe("/path/or/name", "function")`, expand: expandUprobe(true)})
}

// pt_regs offsets of the argument registers: Go's ABIInternal (RAX RBX RCX
// RDI RSI R8 R9 R10 R11) and the System V C ABI (RDI RSI RDX RCX R8 R9).
var (
	goArgRegs = []int{80, 40, 88, 112, 104, 72, 64, 56, 48}
	cArgRegs  = []int{112, 104, 96, 88, 72, 64}
)

// ptRegsR14 holds the current goroutine's g on amd64 Go code.
const ptRegsR14 = 8

func expandUprobe(ret bool) func(*Env, *dsl.Call) ([]*target, error) {
	return func(env *Env, call *dsl.Call) ([]*target, error) {
		if err := wantArgs(call, 2, 2); err != nil {
			return nil, err
		}
		binArg, err := stringArg(call, 0, "a binary (path, command or library name)")
		if err != nil {
			return nil, err
		}
		pattern, err := stringArg(call, 1, "a function name")
		if err != nil {
			return nil, err
		}
		paths, err := userBinaries(env, call, binArg)
		if err != nil {
			return nil, err
		}
		if binArg == "*" {
			return expandEveryBinary(call, paths, pattern, ret)
		}
		path := paths[0]
		if env.PID != 0 {
			if err := checkMapped(env.PID, path); err != nil {
				return nil, dsl.Errorf(call.Args[0].Position(), "%s: %v", call.Name, err)
			}
		}
		b, err := gobin.Open(path)
		if err != nil {
			return nil, dsl.Errorf(call.Args[0].Position(), "%s: %v", call.Name, err)
		}
		funcs, err := b.Funcs(pattern)
		if err != nil {
			return nil, dsl.Errorf(call.Args[1].Position(), "%s: %v", call.Name, err)
		}
		if len(funcs) == 0 {
			e := dsl.Errorf(call.Args[1].Position(), "%s has no function %q", path, pattern)
			if !strings.ContainsAny(pattern, "*?") {
				var nf *gobin.NotFoundError
				if _, ferr := b.Func(pattern); errors.As(ferr, &nf) && len(nf.Nearest) > 0 {
					e.Hint = "did you mean " + strings.Join(nf.Nearest, ", ") + "?"
				}
			}
			if b.IsGo && b.Stripped && !strings.Contains(pattern, ".") {
				e.Hint = "Go functions are named with their package: main." + pattern
			}
			return nil, e
		}
		if len(funcs) > maxUprobeTargets {
			return nil, dsl.Errorf(call.Args[1].Position(), "%q matches %d functions of %s; narrow the pattern (at most %d)", pattern, len(funcs), path, maxUprobeTargets)
		}
		return uprobeTargets(call, b, path, funcs, ret)
	}
}

// maxUprobeTargets bounds the functions one uprobe() attaches to.
const maxUprobeTargets = 512

// uprobeTargets makes a target of each function. A glob skips the
// functions it cannot probe (a Go function that never returns has no
// RET), as long as one is left.
func uprobeTargets(call *dsl.Call, b *gobin.Binary, path string, funcs []gobin.Func, ret bool) ([]*target, error) {
	var out []*target
	var skipped []*dsl.Error
	for _, f := range funcs {
		t, err := uprobeTarget(b, path, f, ret)
		if err != nil {
			e := dsl.Errorf(call.Args[1].Position(), "%s: %v", call.Name, err)
			if len(funcs) == 1 {
				return nil, e
			}
			skipped = append(skipped, e)
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, skipped[0]
	}
	out[0].skipped = skipped
	return out, nil
}

// expandEveryBinary is uprobe("*", fn): the function in each binary of
// the traced process that has it (its executable and libraries).
func expandEveryBinary(call *dsl.Call, paths []string, pattern string, ret bool) ([]*target, error) {
	var out []*target
	var skipped []*dsl.Error
	for _, path := range paths {
		b, err := gobin.Open(path)
		if err != nil {
			continue // not an ELF file we can read: it has no functions to probe
		}
		funcs, err := b.Funcs(pattern)
		if err != nil || len(funcs) == 0 {
			continue
		}
		if len(out)+len(funcs) > maxUprobeTargets {
			return nil, dsl.Errorf(call.Args[1].Position(), "%q matches more than %d functions in the process's binaries; narrow the pattern", pattern, maxUprobeTargets)
		}
		ts, err := uprobeTargets(call, b, path, funcs, ret)
		if err != nil {
			skipped = append(skipped, err.(*dsl.Error))
			continue
		}
		skipped = append(skipped, ts[0].skipped...)
		ts[0].skipped = nil
		out = append(out, ts...)
	}
	if len(out) == 0 {
		if len(skipped) > 0 {
			return nil, skipped[0]
		}
		e := dsl.Errorf(call.Args[1].Position(), "no binary of the process has a function %q", pattern)
		e.Hint = "searched: " + strings.Join(paths, ", ")
		return nil, e
	}
	out[0].skipped = skipped
	return out, nil
}

// userBinaries resolves a user probe's binary argument to files: the one
// it names, or for "*" every binary of the -p/-c process.
func userBinaries(env *Env, call *dsl.Call, binArg string) ([]string, error) {
	pos := call.Args[0].Position()
	if binArg == "*" {
		if env.PID == 0 && env.Exe != "" {
			// A -c command not started yet: its program and the
			// libraries its loader will map.
			return append([]string{env.Exe}, binpath.NeededLibraries(env.Exe, 0)...), nil
		}
		if env.PID == 0 {
			e := dsl.Errorf(pos, `%s("*", …) probes every binary of one process: give it with -p PID or -c CMD`, call.Name)
			e.Hint = fmt.Sprintf(`or name the binary: %s("/usr/bin/app", …), %s("libc", …)`, call.Name, call.Name)
			return nil, e
		}
		paths, err := binpath.ProcessBinaries(env.PID)
		if err != nil {
			return nil, &dsl.Error{Pos: pos, Msg: fmt.Sprintf("cannot list the binaries of process %d", env.PID), Detail: err.Error()}
		}
		return paths, nil
	}
	path, err := binpath.ResolveFor(binArg, env.PID, env.Exe)
	if err != nil {
		return nil, dsl.Errorf(pos, "%s: %v", call.Name, err)
	}
	return []string{path}, nil
}

func uprobeTarget(b *gobin.Binary, path string, f gobin.Func, ret bool) (*target, error) {
	kind := "uprobe"
	if ret {
		kind = "uretprobe"
	}
	t := &target{
		funcName:  f.Name,
		name:      kind + ":" + path + ":" + f.Name,
		attach:    Attach{Kind: AttachUprobe, Target: path, Symbol: f.Name, Offsets: []uint64{f.Offset}},
		progType:  ebpf.Kprobe,
		goidOff:   -1,
		pidAttach: true,
		userPtrs:  true,
		bin:       b,
		isGo:      b.IsGo,
		// At the entry nothing is pushed yet; at a Go function's RET
		// its frame is popped. A kernel uretprobe fires in the caller.
		atEntry: !ret || b.IsGo,
	}
	if b.IsGo && !ret {
		// Past the stack check, so a call that grows the stack fires once.
		off, err := b.BodyOffset(f)
		if err != nil {
			return nil, err
		}
		t.attach.Offsets = []uint64{off}
	}
	if b.IsGo {
		off, err := b.GoidOffset()
		if err == nil {
			t.goidOff = off
		} else {
			t.goidErr = fmt.Errorf("%s (%s): %w", path, b.GoVersion, err)
		}
	}
	switch {
	case ret && b.IsGo:
		offs, err := b.ReturnOffsets(f)
		if err != nil {
			return nil, fmt.Errorf("find the returns of %s: %w", f.Name, err)
		}
		if len(offs) == 0 {
			return nil, fmt.Errorf("%s has no RET instruction (it never returns)", f.Name)
		}
		t.attach.Offsets = offs
		t.retval = &argField{name: "retval", typ: tInt64, off: goArgRegs[0], slot: true}
		if b.HasDWARF {
			if res, err := b.Results(f.Name); err == nil && len(res) > 0 {
				t.retval = goParamField(b, res[0], goArgRegs, "retval")
				t.retval.name = "retval"
				// At a return, args are the results, by name (~r0,
				// ~r1… when unnamed): retval is the first.
				fn := f.Name
				t.argsFn = func() ([]*argField, error) { return goResults(b, fn) }
			}
		}
	case ret:
		t.attach.Kind = AttachUretprobe
		t.retval = &argField{name: "retval", typ: tInt64, off: ptRegsAX, slot: true}
		if b.HasDWARF {
			if _, res, err := b.CSignature(f.Name); err == nil && res != nil {
				t.retval = goParamField(b, *res, []int{ptRegsAX, ptRegsDX}, "retval")
				t.retval.name = "retval"
			}
		}
	default:
		t.argOffs = cArgRegs
		fn := f.Name
		switch {
		case b.IsGo && b.HasDWARF:
			t.argOffs = goArgRegs
			t.argsFn = func() ([]*argField, error) { return goArgs(b, fn) }
		case b.IsGo:
			t.argOffs = goArgRegs
			t.argsErr = fmt.Errorf("%s has no DWARF (built with -ldflags=-w or stripped), so its parameters have no names: read them as arg0…arg8 (Go's register ABI: RAX RBX RCX RDI RSI R8 R9 R10 R11; a string is two: pointer, length), and follow pointers as a type the binary's runtime type descriptors know: (*net/http.Request)(arg3).URL.Path", path)
		case b.HasDWARF:
			t.argsFn = func() ([]*argField, error) { return cArgs(b, fn) }
		}
	}
	for _, off := range t.attach.Offsets {
		// The address of each attach offset in the file, for the load
		// bias of a PIE.
		t.vaddrs = append(t.vaddrs, f.Addr+off-f.Offset)
	}
	return t, nil
}

// ptRegsDX is RDX's offset in struct pt_regs, a C result's second word.
const ptRegsDX = 96

// goArgs types a Go function's parameters from DWARF, each read from the
// registers the register ABI put it in, or from the stack.
func goArgs(b *gobin.Binary, fn string) ([]*argField, error) {
	params, err := b.Params(fn)
	if err != nil {
		return nil, err
	}
	var out []*argField
	for _, p := range params {
		// Blank parameters are ~p0, ~p1… in DWARF: args.p0, args.p1.
		p.Name = strings.TrimPrefix(p.Name, "~")
		out = append(out, goParamField(b, p, goArgRegs, "args."+p.Name))
	}
	return out, nil
}

// goResults types a Go function's results at its RET instructions.
func goResults(b *gobin.Binary, fn string) ([]*argField, error) {
	res, err := b.Results(fn)
	if err != nil {
		return nil, err
	}
	var out []*argField
	for _, p := range res {
		// Unnamed results are ~r0, ~r1… in DWARF: args.r0, args.r1.
		p.Name = strings.TrimPrefix(p.Name, "~")
		out = append(out, goParamField(b, p, goArgRegs, "args."+p.Name))
	}
	return out, nil
}

// cArgs types a C function's parameters from DWARF.
func cArgs(b *gobin.Binary, fn string) ([]*argField, error) {
	params, _, err := b.CSignature(fn)
	if err != nil {
		return nil, err
	}
	var out []*argField
	for i, p := range params {
		if p.Name == "" {
			p.Name = fmt.Sprintf("arg%d", i)
		}
		a := goParamField(b, p, cArgRegs, "args."+p.Name)
		if !p.OnStack && len(p.Pieces) == 0 && a.unreadable == "" {
			a.unreadable = fmt.Sprintf("args.%s is %s, passed where ebpftrace does not follow the ABI (after a struct with floating-point members): read arg0…arg5", p.Name, p.Type)
		}
		out = append(out, a)
	}
	return out, nil
}
