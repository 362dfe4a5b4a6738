package compiler

import (
	"fmt"
	"slices"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/stdlib"
)

// Doc is one name of the language with how it is written and one line
// about it, for the REPL's :help and Tab completion.
type Doc struct {
	// Name is what is typed: "tracepoint", "count", "pid", "str".
	Name string
	// Usage shows the arguments: `tracepoint("category:name")`, "count()".
	// For a value it is the name.
	Usage string
	// Doc is one line about it; it may be empty.
	Doc string
	// MaxArgs is the most arguments a stage or function takes; 0 for a
	// value, and for a source (whose Usage says).
	MaxArgs int
}

// sourceDocs are the one-line docs of the probe sources; a source missing
// here is shown with its usage only.
var sourceDocs = map[string]string{
	"begin":         "once, before the first event",
	"end":           "once, after every probe detached",
	"interval":      "every period, on one CPU",
	"profile":       "on every CPU at a rate (Hz) or period",
	"tracepoint":    "a static kernel tracepoint; args.<field> from its format",
	"rawtracepoint": "a raw tracepoint (globs too); raw arguments arg0…argN, as many as it has",
	"kprobe":        "kernel function entry",
	"kretprobe":     "kernel function return; retval",
	"fentry":        "kernel function entry, BTF-typed args",
	"fexit":         "kernel function return, BTF-typed args and retval",
	"uprobe":        "user function entry (\"*\": every binary of -p/-c)",
	"uretprobe":     "user function return",
	"usdt":          "a USDT probe of a program or library; arg0…arg11 from its note",
	"software":      "every N events of a software counter (page-faults, context-switches…)",
	"hardware":      "every N events of a hardware counter (cycles, cache-misses…)",
}

// SourceDocs lists the probe sources, sorted by name.
func SourceDocs() []Doc {
	var out []Doc
	for _, n := range providerNames() {
		p, _ := lookupProvider(n)
		d := sourceDocs[n]
		if src, ok := stdlib.Lookup(n); ok {
			d = src.Doc
		}
		out = append(out, Doc{Name: n, Usage: p.usage, Doc: d})
	}
	return out
}

// StageDocs lists the stages, sorted by name.
func StageDocs() []Doc {
	var out []Doc
	for _, n := range stageNames() {
		s, _ := stageOf(n)
		out = append(out, Doc{Name: n, Usage: s.usage, Doc: s.doc, MaxArgs: s.maxArgs})
	}
	return out
}

// ValueDocs lists the built-in values (arg0…arg9 included), sorted by name.
func ValueDocs() []Doc {
	var out []Doc
	for _, n := range builtinValueNames() {
		d := Doc{Name: n, Usage: n}
		if b, ok := builtinValues[n]; ok {
			d.Doc = b.doc
		} else {
			d.Doc = "raw argument " + n[len("arg"):] + " (raw tracepoints, kprobes, uprobes, usdt)"
		}
		out = append(out, d)
	}
	return out
}

// FuncDocs lists the built-in functions, sorted by name.
func FuncDocs() []Doc {
	var out []Doc
	for _, n := range builtinFuncNames() {
		f := builtinFuncs[n]
		out = append(out, Doc{Name: n, Usage: f.usage, Doc: f.doc, MaxArgs: f.maxArgs})
	}
	return out
}

// maxArgsTargets bounds the probes ProbeArgs reads when a source matches
// many (a glob such as "syscalls:*").
const maxArgsTargets = 64

// ProbeArgs lists the fields of `args` that a probe source offers, in
// order, e.g. ProbeArgs(env, `tracepoint("syscalls:sys_enter_openat")`)
// gives __syscall_nr, dfd, filename, flags, mode. When the source matches
// several probes it gives the fields they all have. It is for completion:
// it resolves the source as Compile would, without compiling anything.
func ProbeArgs(env *Env, source string) ([]string, error) {
	e, err := dsl.ParseExpr("<completion>", source)
	if err != nil {
		return nil, err
	}
	call, ok := e.(*dsl.Call)
	if !ok {
		return nil, fmt.Errorf("%s is not a probe source call", source)
	}
	p, ok := lookupProvider(call.Name)
	if !ok {
		return nil, fmt.Errorf("unknown probe %q", call.Name)
	}
	targets, err := p.expand(env, call)
	if err != nil {
		return nil, err
	}
	if len(targets) > maxArgsTargets {
		targets = targets[:maxArgsTargets]
	}
	var names []string
	for i, t := range targets {
		n := t.argNames()
		if i == 0 {
			names = n
			continue
		}
		names = slices.DeleteFunc(names, func(s string) bool { return !slices.Contains(n, s) })
	}
	return names, nil
}
