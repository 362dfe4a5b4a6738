package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/internal/binpath"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/scripts"
	"github.com/ebpftrace/ebpftrace/stdlib"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"

	"github.com/ebpftrace/ebpftrace/internal/tracefs"
)

// listProbesVerbose prints the probes matching pattern: tracepoints (from
// tracefs), raw tracepoints and kernel functions (from kernel BTF). A
// pattern may name the kind, `kprobe:vfs_*`; without one it matches every
// kind. verbose adds each probe's fields or parameters with their types.
func listProbesVerbose(pattern string, verbose bool, stdout, stderr io.Writer) int {
	if pattern == "scripts" {
		for _, s := range scripts.All() {
			fmt.Fprintf(stdout, "%-12s %s\n", s.Name, s.Summary)
		}
		return 0
	}
	kind, glob := "", pattern
	if k, rest, ok := strings.Cut(pattern, ":"); ok && (k == "uprobe" || k == "uretprobe") {
		return listUser(k, rest, verbose, stdout, stderr)
	}
	if rest, ok := strings.CutPrefix(pattern, "usdt:"); ok {
		return listUSDT(rest, verbose, stdout, stderr)
	}
	if k, rest, ok := strings.Cut(pattern, ":"); ok && (k == "software" || k == "hardware") {
		return listPerf(k, rest, stdout, stderr)
	}
	if k, rest, ok := strings.Cut(pattern, ":"); ok {
		switch k {
		case "tracepoint", "t", "rawtracepoint", "kprobe", "kretprobe", "fentry", "fexit":
			kind, glob = k, rest
		}
	}
	if kind == "t" {
		kind = "tracepoint"
	}
	if glob == "" {
		glob = "*"
	}
	want := func(k string) bool { return kind == "" || kind == k }
	var lines []string
	var errs []string
	if want("tracepoint") {
		out, err := listTracepoints(glob, verbose)
		if err != nil {
			errs = append(errs, err.Error())
		}
		lines = append(lines, out...)
	}
	if want("rawtracepoint") || want("kprobe") || want("kretprobe") || want("fentry") || want("fexit") {
		spec, err := btf.LoadKernelSpec()
		if err != nil {
			errs = append(errs, fmt.Sprintf("kernel BTF: %v", err))
		} else {
			lines = append(lines, listBTF(spec, kind, glob, verbose)...)
		}
	}
	if kind == "" {
		lines = append(lines, listStdlib(glob, verbose)...)
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	for _, e := range errs {
		fmt.Fprintf(stderr, "ebpftrace: %s\n", e)
	}
	if len(lines) == 0 {
		fmt.Fprintf(stderr, "ebpftrace: no probe matches %q\n", pattern)
		return 1
	}
	return 0
}

func listTracepoints(glob string, verbose bool) ([]string, error) {
	fs, err := tracefs.Open()
	if err != nil {
		return nil, err
	}
	names, err := fs.Match(glob)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		out = append(out, "tracepoint:"+n)
		if !verbose {
			continue
		}
		cat, name, _ := strings.Cut(n, ":")
		f, err := fs.Format(cat, name)
		if err != nil {
			continue
		}
		for _, fl := range f.Fields {
			decl := fl.Type + " " + fl.Name
			if fl.ArrayLen > 0 {
				decl += fmt.Sprintf("[%d]", fl.ArrayLen)
			}
			out = append(out, "    "+decl)
		}
	}
	return out, nil
}

// listStdlib lists the stdlib sources (http.server, goroutine.blocked…)
// whose names match glob, with what they trace; verbose adds their
// fields: name, type and what each is.
func listStdlib(glob string, verbose bool) []string {
	var out []string
	for _, src := range stdlib.Sources() {
		if !tracefs.Glob(glob, src.Name) {
			continue
		}
		out = append(out, fmt.Sprintf("%-18s %s", src.Name, src.Doc))
		if !verbose {
			continue
		}
		if src.Versions != "" {
			out = append(out, "    // "+src.Versions)
		}
		for _, f := range src.Schema.Fields {
			out = append(out, fmt.Sprintf("    %-8s %-10s %s", stdlibType(f), f.Name, f.Doc))
		}
	}
	return out
}

// stdlibType is a stdlib field's type as a chain sees it.
func stdlibType(f pack.Field) string {
	switch f.Kind {
	case pack.Unsigned:
		return fmt.Sprintf("uint%d", 8*f.Size)
	case pack.Signed:
		return fmt.Sprintf("int%d", 8*f.Size)
	}
	return f.Kind.String()
}

// listBTF lists raw tracepoints (btf_trace_* typedefs) and kernel
// functions; kind "" lists both, functions as kprobe:.
func listBTF(spec *btf.Spec, kind, glob string, verbose bool) []string {
	var raw, funcs []string
	protos := map[string]*btf.FuncProto{}
	for t, err := range spec.All() {
		if err != nil {
			break
		}
		switch v := t.(type) {
		case *btf.Typedef:
			name, ok := strings.CutPrefix(v.Name, "btf_trace_")
			if ok && (kind == "" || kind == "rawtracepoint") && tracefs.Glob(glob, name) {
				raw = append(raw, name)
				if p, ok := btf.UnderlyingType(v).(*btf.Pointer); ok {
					if fp, ok := btf.UnderlyingType(p.Target).(*btf.FuncProto); ok {
						protos["raw:"+name] = fp
					}
				}
			}
		case *btf.Func:
			if kind != "rawtracepoint" && tracefs.Glob(glob, v.Name) {
				funcs = append(funcs, v.Name)
				if fp, ok := v.Type.(*btf.FuncProto); ok {
					protos["fn:"+v.Name] = fp
				}
			}
		}
	}
	sort.Strings(raw)
	sort.Strings(funcs)
	var out []string
	for _, n := range raw {
		out = append(out, "rawtracepoint:"+n)
		if verbose {
			if fp := protos["raw:"+n]; fp != nil && len(fp.Params) > 0 {
				// Names come from __bpf_trace_<name> when the event is its own class.
				params := fp.Params[1:]
				var named *btf.Func
				if spec.TypeByName("__bpf_trace_"+n, &named) == nil {
					if np, ok := named.Type.(*btf.FuncProto); ok && len(np.Params) == len(fp.Params) {
						params = np.Params[1:]
					}
				}
				out = append(out, btfParamLines(params)...)
			}
		}
	}
	prefix := kind
	if prefix == "" {
		prefix = "kprobe"
	}
	for _, n := range funcs {
		out = append(out, prefix+":"+n)
		if verbose {
			if fp := protos["fn:"+n]; fp != nil {
				out = append(out, btfParamLines(fp.Params)...)
				if kind == "kretprobe" || kind == "fexit" {
					out = append(out, "    retval "+typeString(fp.Return))
				}
			}
		}
	}
	return out
}

func btfParamLines(ps []btf.FuncParam) []string {
	var out []string
	for i, p := range ps {
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("arg%d", i)
		}
		out = append(out, "    "+typeString(p.Type)+" "+name)
	}
	return out
}

// typeString spells a BTF type as C does.
func typeString(t btf.Type) string {
	switch v := t.(type) {
	case nil, *btf.Void:
		return "void"
	case *btf.Pointer:
		return typeString(v.Target) + " *"
	case *btf.Const:
		return "const " + typeString(v.Type)
	case *btf.Volatile:
		return "volatile " + typeString(v.Type)
	case *btf.TypeTag:
		return typeString(v.Type)
	case *btf.Struct:
		return "struct " + v.Name
	case *btf.Union:
		return "union " + v.Name
	case *btf.Enum:
		return "enum " + v.Name
	case *btf.Array:
		return fmt.Sprintf("%s[%d]", typeString(v.Type), v.Nelems)
	case *btf.FuncProto:
		return "func"
	}
	return t.TypeName()
}

// listUser lists the functions of a binary: uprobe:BIN:GLOB. With -v,
// each parameter (each result, for uretprobe) with its type and the
// registers or stack slot it is in at the probe, and how to read it.
// Instantiations of a generic function are listed once, as the pattern
// that probes them all, with their count. A name that matches nothing
// suggests the nearest functions.
func listUser(kind, rest string, verbose bool, stdout, stderr io.Writer) int {
	binName, glob, ok := strings.Cut(rest, ":")
	if !ok || glob == "" {
		glob = "*"
	}
	path, err := binpath.Resolve(binName, 0)
	if err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 1
	}
	b, err := gobin.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 1
	}
	defer b.Close()
	funcs, err := b.Funcs(glob)
	if err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 1
	}
	if len(funcs) == 0 {
		fmt.Fprintf(stderr, "ebpftrace: %s has no function matching %q\n", path, glob)
		var nf *gobin.NotFoundError
		if _, ferr := b.Func(glob); !strings.ContainsAny(glob, "*?") && errors.As(ferr, &nf) && len(nf.Nearest) > 0 {
			fmt.Fprintf(stderr, "did you mean %s?\n", strings.Join(nf.Nearest, ", "))
		}
		return 1
	}
	if verbose && !b.HasDWARF {
		fmt.Fprintf(stderr, "ebpftrace: %s has no DWARF: parameters have no names or types; read them as arg0…arg8 (Go: RAX RBX RCX RDI RSI R8 R9 R10 R11; C: RDI RSI RDX RCX R8 R9), and follow pointers as a type the runtime's descriptors keep: (*net/http.Request)(arg3)\n", path)
	}
	// Instantiations of a generic function, main.Map[go.shape.int] and
	// main.Map[go.shape.string], are listed once as main.Map[*].
	seen := map[string]int{}
	var order []gobin.Func
	for _, f := range funcs {
		g := genericPattern(f.Name)
		if seen[g] == 0 {
			order = append(order, f)
		}
		seen[g]++
	}
	for _, f := range order {
		g := genericPattern(f.Name)
		if n := seen[g]; g != f.Name {
			fmt.Fprintf(stdout, "%s:%s:%s\n    // generic: %d instantiation%s, this pattern probes them all\n", kind, path, g, n, pluralS(n))
		} else {
			fmt.Fprintf(stdout, "%s:%s:%s\n", kind, path, f.Name)
		}
		if verbose && b.HasDWARF {
			for _, l := range paramLines(b, f.Name, kind == "uretprobe") {
				fmt.Fprintln(stdout, "    "+l)
			}
		}
	}
	return 0
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// genericPattern turns the name of a generic function's instantiation
// into the pattern that matches them all: main.Map[go.shape.int] →
// main.Map[*]; other names stay.
func genericPattern(name string) string {
	i := strings.IndexByte(name, '[')
	if i < 0 || !strings.HasSuffix(name, "]") && !strings.Contains(name[i:], "].") {
		return name
	}
	j := strings.LastIndexByte(name, ']')
	return name[:i] + "[*]" + name[j+1:]
}

// paramLines describes a function's parameters (or, at a return, its
// results) for -lv: name, type, where the probe finds it, and how to read
// what is not read directly.
func paramLines(b *gobin.Binary, fn string, ret bool) []string {
	var ps []gobin.Param
	var err error
	regs := gobin.IntRegs[:]
	switch {
	case b.IsGo && ret:
		ps, err = b.Results(fn)
	case b.IsGo:
		ps, err = b.Params(fn)
	default:
		var r *gobin.Param
		ps, r, err = b.CSignature(fn)
		regs = gobin.CParamRegs[:]
		if ret {
			ps, regs = nil, gobin.CResultRegs[:]
			if r != nil {
				r.Name = "retval"
				ps = []gobin.Param{*r}
			}
		}
	}
	if err != nil {
		return []string{"// " + strings.TrimPrefix(err.Error(), "gobin: ")}
	}
	var out []string
	for i, p := range ps {
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("arg%d", i)
		}
		if ret && b.IsGo && i == 0 {
			name += " (retval)"
		}
		where := "not readable"
		switch {
		case p.OnStack:
			where = fmt.Sprintf("stack +%d", 8+p.StackOffset)
		case len(p.Regs) > 0 || len(p.FloatRegs) > 0:
			var rs []string
			for _, pc := range p.Pieces {
				if pc.Float {
					rs = append(rs, fmt.Sprintf("x%d", pc.Reg))
				} else if pc.Reg < len(regs) {
					rs = append(rs, regs[pc.Reg])
				}
			}
			where = strings.Join(rs, " ")
		}
		line := fmt.Sprintf("%s %s  // %s", name, p.Type, where)
		switch p.Kind {
		case gobin.KindInterface:
			line += "; prints its dynamic type's name; read the value it holds as one: (*T)(args." + p.Name + ")"
		case gobin.KindString:
			line += "; pointer, length"
		case gobin.KindSlice:
			line += "; pointer, length, capacity: len(x), x[i]"
		case gobin.KindFloat:
			line += "; floating point: not readable yet"
		}
		out = append(out, line)
	}
	return out
}
