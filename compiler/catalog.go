package compiler

// The catalog of the language: what a user can write, from the compiler's
// own tables (providers, stages, aggregation kinds, built-ins), and what a
// probe source stands for, resolved as Compile would. Help text, the
// REPL's completion and documentation read it; none of them keep a list of
// their own.

import (
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/stdlib"
)

// Doc is one name of the language with how it is written and one line
// about it.
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

// Sources lists the probe sources, sorted by name.
func Sources() []Doc {
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

// Stages lists the stages, sorted by name.
func Stages() []Doc {
	var out []Doc
	for _, n := range stageNames() {
		s, _ := stageOf(n)
		out = append(out, Doc{Name: n, Usage: s.usage, Doc: s.doc, MaxArgs: s.maxArgs})
	}
	return out
}

// Values lists the built-in values (arg0…arg9 included), sorted by name.
func Values() []Doc {
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

// Functions lists the built-in functions, sorted by name.
func Functions() []Doc {
	var out []Doc
	for _, n := range builtinFuncNames() {
		f := builtinFuncs[n]
		out = append(out, Doc{Name: n, Usage: f.usage, Doc: f.doc, MaxArgs: f.maxArgs})
	}
	return out
}

// ProbeInfo is one probe a source stands for, with the fields of its
// args and their types.
type ProbeInfo struct {
	Name string
	Args []ArgInfo
}

// ArgInfo is one field of a probe's args.
type ArgInfo struct{ Name, Type string }

// Describe resolves a probe source call as Compile would and describes
// the probes it stands for (at most max of them; a glob may match
// hundreds), without compiling anything.
func Describe(env *Env, src *dsl.Call, max int) ([]ProbeInfo, error) {
	p, err := providerOf(src)
	if err != nil {
		return nil, err
	}
	targets, err := p.expand(env, src)
	if err != nil {
		return nil, err
	}
	if len(targets) > max {
		targets = targets[:max]
	}
	var out []ProbeInfo
	for _, t := range targets {
		info := ProbeInfo{Name: t.name}
		for _, a := range t.fields() {
			info.Args = append(info.Args, ArgInfo{Name: a.name, Type: a.typ.String()})
		}
		out = append(out, info)
	}
	return out, nil
}
