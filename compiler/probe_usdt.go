package compiler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/internal/match"
	"github.com/ebpftrace/ebpftrace/internal/usdt"
)

// usdt(bin, "provider:name") fires on a USDT probe (<sys/sdt.h>'s
// STAP_PROBE, DTRACE_PROBE) of a program or library: a uprobe on each
// site of the probe, with its semaphore counted up while attached so that
// programs that test it (Python, PostgreSQL, …) fire it. `*` and `?` glob
// on the provider and the name; a name alone matches in any provider.
// arg0…arg11 read the arguments where the note says they are, with the
// width and signedness it gives. bin is what uprobe takes, or "*": every
// binary the -p process maps.
func init() {
	register(&provider{name: "usdt", usage: `usdt("/path/or/name", "provider:name")`, expand: expandUSDT})
}

// usdtSite is where a USDT probe's arguments are at one site.
type usdtSite struct {
	args []usdt.Arg
	err  error  // the note's specs could not be parsed
	text string // the specs as the note has them
}

// maxUSDTTargets bounds the sites one usdt() attaches to.
const maxUSDTTargets = 512

func expandUSDT(env *Env, call *dsl.Call) ([]*target, error) {
	if err := wantArgs(call, 2, 2); err != nil {
		return nil, err
	}
	binArg, err := stringArg(call, 0, "a binary (path, command or library name)")
	if err != nil {
		return nil, err
	}
	pattern, err := stringArg(call, 1, `a probe "provider:name"`)
	if err != nil {
		return nil, err
	}
	binPos, probePos := call.Args[0].Position(), call.Args[1].Position()
	if pattern == "" {
		e := dsl.Errorf(probePos, `usdt needs a probe, "provider:name"`)
		e.Hint = "-l 'usdt:BIN:*' lists the probes of a binary"
		return nil, e
	}
	paths, err := userBinaries(env, call, binArg)
	if err != nil {
		return nil, err
	}
	var out []*target
	var names []string // every probe seen, for suggestions
	var readErr error
	for _, path := range paths {
		probes, err := usdt.Read(path)
		if err != nil {
			if len(paths) == 1 {
				return nil, &dsl.Error{Pos: binPos, Msg: fmt.Sprintf("cannot read the USDT probes of %s", path), Detail: err.Error()}
			}
			readErr = err
			continue
		}
		names = append(names, usdt.Names(probes)...)
		matched := usdt.Match(probes, pattern, match.Glob)
		if len(matched) == 0 {
			continue
		}
		funcs := funcsByAddr(path) // to name the function around each site
		for _, p := range matched {
			out = append(out, usdtTarget(funcs, path, p))
		}
	}
	if len(out) == 0 {
		return nil, noUSDTError(probePos, binArg, paths, pattern, names, readErr)
	}
	if len(out) > maxUSDTTargets {
		return nil, dsl.Errorf(probePos, "%q matches %d USDT probe sites; narrow the pattern (at most %d)", pattern, len(out), maxUSDTTargets)
	}
	return out, nil
}

func usdtTarget(funcs []gobin.Func, path string, p usdt.Probe) *target {
	return &target{
		name: "usdt:" + path + ":" + p.FullName(),
		attach: Attach{Kind: AttachUSDT, Target: path, Symbol: p.FullName(),
			Offsets: []uint64{p.Offset}, RefCtrOffset: p.SemaphoreOffset},
		progType:  ebpf.Kprobe,
		goidOff:   -1,
		pidAttach: true,
		userPtrs:  true,
		usdt:      &usdtSite{args: p.Args, err: p.ArgsErr, text: p.ArgsText},
		funcName:  enclosingFunc(funcs, p.Addr),
	}
}

// funcsByAddr lists a binary's functions by address; nil when it cannot
// be read.
func funcsByAddr(path string) []gobin.Func {
	b, err := gobin.Open(path)
	if err != nil {
		return nil
	}
	defer b.Close()
	funcs, err := b.Funcs("*")
	if err != nil {
		return nil
	}
	sort.Slice(funcs, func(i, j int) bool { return funcs[i].Addr < funcs[j].Addr })
	return funcs
}

// enclosingFunc names the function whose code holds addr: `func` on a
// USDT probe, the symbol of the probe's address. "" when unknown. funcs
// are sorted by address; symbols that start at or below addr are tried
// nearest first, a few (aliases and zero-sized labels sit among them).
func enclosingFunc(funcs []gobin.Func, addr uint64) string {
	i := sort.Search(len(funcs), func(i int) bool { return funcs[i].Addr > addr }) - 1
	for n := 0; i >= 0 && n < 16; i, n = i-1, n+1 {
		if f := funcs[i]; addr < f.Addr+f.Size {
			return f.Name
		}
	}
	return ""
}

func noUSDTError(pos dsl.Pos, binArg string, paths []string, pattern string, names []string, readErr error) *dsl.Error {
	where := paths[0]
	if binArg == "*" {
		where = fmt.Sprintf("no binary of the process (%d searched)", len(paths))
	}
	if len(names) == 0 {
		e := dsl.Errorf(pos, "%s has no USDT probes (no .note.stapsdt section)", where)
		if binArg == "*" {
			e.Msg = where + " has USDT probes"
		}
		if readErr != nil {
			e.Detail = readErr.Error()
		}
		return e
	}
	e := dsl.Errorf(pos, "%s has no USDT probe matching %q", where, pattern)
	if binArg == "*" {
		e.Msg = fmt.Sprintf("%s has a USDT probe matching %q", where, pattern)
	}
	e.Hint = dsl.DidYouMean(pattern, names)
	if !strings.Contains(pattern, ":") {
		// A name alone matches probe names; it may have been meant as
		// the provider.
		for _, n := range names {
			if strings.HasPrefix(n, pattern+":") {
				e.Hint = fmt.Sprintf("%s is a provider: write %q", pattern, pattern+":*")
				break
			}
		}
	}
	if e.Hint == "" {
		shown := names
		if len(shown) > 8 {
			shown = append(shown[:8:8], "…")
		}
		e.Hint = "its probes: " + strings.Join(shown, ", ")
	}
	return e
}
