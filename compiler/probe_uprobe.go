package compiler

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/internal/procmaps"
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
		if env.PID == 0 {
			e := dsl.Errorf(pos, `%s("*", …) probes every binary of one process: give it with -p PID or -c CMD`, call.Name)
			e.Hint = fmt.Sprintf(`or name the binary: %s("/usr/bin/app", …), %s("libc", …)`, call.Name, call.Name)
			return nil, e
		}
		paths, err := processBinaries(env.PID)
		if err != nil {
			return nil, &dsl.Error{Pos: pos, Msg: fmt.Sprintf("cannot list the binaries of process %d", env.PID), Detail: err.Error()}
		}
		return paths, nil
	}
	path, err := resolveBinary(binArg, env.PID)
	if err != nil {
		return nil, dsl.Errorf(pos, "%s: %v", call.Name, err)
	}
	return []string{path}, nil
}

// ProcessBinaries lists the binaries of process pid, for -l.
func ProcessBinaries(pid int) ([]string, error) { return processBinaries(pid) }

// processBinaries lists the files process pid runs code from: its
// executable, the files it maps executable (libraries, the loader), and
// the libraries its executable needs that are not mapped yet (a -c
// command is stopped before the loader maps them). Libraries it will
// dlopen later are not known.
func processBinaries(pid int) ([]string, error) {
	maps, err := procmaps.Read(pid)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	add := func(path string) {
		if path == "" || seen[path] {
			return
		}
		seen[path] = true
		out = append(out, path)
	}
	// A path in the maps is in the process's mount namespace; through
	// /proc/PID/root when it is not the same file here.
	local := func(path string) string {
		if _, err := os.Stat(path); err == nil {
			return path
		}
		return fmt.Sprintf("/proc/%d/root%s", pid, path)
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	exe = strings.TrimSuffix(exe, " (deleted)")
	if exe != "" {
		add(local(exe))
	}
	for _, m := range maps {
		if m.IsFile() && m.Exec() && !m.Deleted && strings.HasPrefix(m.Path, "/") {
			add(local(m.Path))
		}
	}
	if exe != "" {
		for _, lib := range neededLibraries(local(exe), pid) {
			add(lib)
		}
	}
	return out, nil
}

// neededLibraries resolves the DT_NEEDED libraries of an ELF file and
// theirs, as the dynamic loader would find them: RPATH/RUNPATH (with
// $ORIGIN), then the loader's directories.
func neededLibraries(path string, pid int) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string, int)
	walk = func(file string, depth int) {
		f, err := elf.Open(file)
		if err != nil || depth > 8 {
			return
		}
		libs, _ := f.ImportedLibraries()
		var dirs []string
		for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
			vals, _ := f.DynString(tag)
			for _, v := range vals {
				for _, d := range filepath.SplitList(v) {
					dirs = append(dirs, strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", filepath.Dir(file)))
				}
			}
		}
		f.Close()
		for _, lib := range libs {
			p := ""
			if strings.Contains(lib, "/") {
				p = lib
			} else {
				for _, d := range append(dirs, libDirs()...) {
					if c := filepath.Join(d, lib); isELF(c) {
						p = c
						break
					}
				}
			}
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
			walk(p, depth+1)
		}
	}
	walk(path, 0)
	return out
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
	}
	regs := cArgRegs
	if b.IsGo && !ret {
		// Past the stack check, so a call that grows the stack fires once.
		off, err := b.BodyOffset(f)
		if err != nil {
			return nil, err
		}
		t.attach.Offsets = []uint64{off}
	}
	if b.IsGo {
		regs = goArgRegs
		if off, err := b.GoidOffset(); err == nil {
			t.goidOff = off
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
		if res, err := b.Results(f.Name); err == nil && len(res) > 0 && len(res[0].Regs) == 1 {
			t.retval.typ = goParamType(res[0])
		}
	case ret:
		t.attach.Kind = AttachUretprobe
		t.retval = &argField{name: "retval", typ: tInt64, off: ptRegsAX, slot: true}
	default:
		t.argOffs = regs
		fn := f.Name
		switch {
		case b.IsGo && b.HasDWARF:
			t.argsFn = func() ([]*argField, error) { return goArgs(b, fn) }
		case b.IsGo:
			t.argsErr = fmt.Errorf("%s has no DWARF (built with -ldflags=-w or stripped), so its parameters have no names: read them as arg0…arg8 (Go's register ABI: RAX RBX RCX RDI RSI R8 R9 R10 R11; a string is two: pointer, length)", path)
		}
	}
	return t, nil
}

// goArgs types a Go function's parameters from DWARF, each read from the
// registers the register ABI put it in.
func goArgs(b *gobin.Binary, fn string) ([]*argField, error) {
	params, err := b.Params(fn)
	if err != nil {
		return nil, err
	}
	var out []*argField
	for _, p := range params {
		if p.OnStack || len(p.Regs) == 0 {
			continue // passed in memory: not readable from registers
		}
		a := &argField{name: p.Name, off: goArgRegs[p.Regs[0]], slot: true, typ: goParamType(p)}
		switch {
		case p.Kind == gobin.KindString && len(p.Regs) == 2:
			a.goStringLen = goArgRegs[p.Regs[1]]
			a.typ = &Type{Kind: TString, Size: defaultStrLen, CType: "string"}
		case len(p.Regs) != 1 || p.Kind == gobin.KindFloat:
			continue // slices, interfaces, structs, floats: read their words as arg0…arg8
		}
		out = append(out, a)
	}
	return out, nil
}

// goParamType is our type for a one-register Go value.
func goParamType(p gobin.Param) *Type {
	size := p.Size
	if size < 1 || size > 8 {
		size = 8
	}
	switch p.Kind {
	case gobin.KindInt:
		return &Type{Kind: TInt, Size: size, Signed: true, CType: p.Type}
	case gobin.KindPointer:
		return &Type{Kind: TPtr, Size: 8, User: true, CType: p.Type}
	default:
		return &Type{Kind: TInt, Size: size, CType: p.Type}
	}
}

// ResolveBinary finds the file a uprobe names, for -l.
func ResolveBinary(name string, pid int) (string, error) { return resolveBinary(name, pid) }

// resolveBinary finds the file a uprobe names: a path, a library name
// (libc, libssl.so.3) as the traced process or the dynamic loader would
// find it, or a command on PATH.
func resolveBinary(name string, pid int) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%s: no such file", name)
		}
		return filepath.Abs(name)
	}
	if strings.HasPrefix(name, "lib") {
		if p := findLibrary(name, pid); p != "" {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	if p := findLibrary("lib"+name, pid); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%q is not a file, a command on PATH or a library", name)
}

// defaultLibDirs are where the dynamic loader looks after ld.so.conf's
// directories (its built-in defaults on x86-64).
var defaultLibDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// libDirs lists the dynamic loader's search directories: LD_LIBRARY_PATH,
// /etc/ld.so.conf with its includes, then the defaults.
func libDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, ldConfDirs("/etc/ld.so.conf", 0)...)
	return append(dirs, defaultLibDirs...)
}

// ldConfDirs reads an ld.so.conf file: directories, and `include` globs.
func ldConfDirs(path string, depth int) []string {
	b, err := os.ReadFile(path)
	if err != nil || depth > 4 {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "include "):
			pattern := strings.TrimSpace(strings.TrimPrefix(line, "include "))
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(path), pattern)
			}
			matches, _ := filepath.Glob(pattern)
			sort.Strings(matches)
			for _, m := range matches {
				dirs = append(dirs, ldConfDirs(m, depth+1)...)
			}
		default:
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// findLibrary resolves "libc" or "libc.so.6": first among the libraries
// process pid has mapped, then in the loader's directories. Only ELF files
// count (libc.so is often a linker script).
func findLibrary(name string, pid int) string {
	match := func(base string) bool {
		return base == name || strings.HasPrefix(base, name+".so") || strings.HasPrefix(base, name+"-")
	}
	if pid != 0 {
		if maps, err := procmaps.Read(pid); err == nil {
			for _, m := range maps {
				if base := filepath.Base(m.Path); strings.HasPrefix(m.Path, "/") && match(base) && strings.Contains(base, ".so") {
					return m.Path
				}
			}
		}
		// A -c command is stopped before the loader maps its libraries:
		// those its executable needs are found as the loader will find
		// them (its RUNPATH included).
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
			for _, lib := range neededLibraries(exe, pid) {
				if base := filepath.Base(lib); match(base) && strings.Contains(base, ".so") {
					return lib
				}
			}
		}
	}
	var found []string
	for _, dir := range libDirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if match(e.Name()) && strings.Contains(e.Name(), ".so") && isELF(filepath.Join(dir, e.Name())) {
				found = append(found, filepath.Join(dir, e.Name()))
			}
		}
		if len(found) > 0 {
			break
		}
	}
	if len(found) == 0 {
		return ""
	}
	// Prefer the soname (libc.so.6) over libc.so and longer versions.
	sort.Slice(found, func(i, j int) bool { return len(found[i]) < len(found[j]) })
	for _, f := range found {
		if strings.Count(filepath.Base(f), ".") >= 2 {
			if p, err := filepath.EvalSymlinks(f); err == nil {
				return p
			}
			return f
		}
	}
	return found[0]
}

func isELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
