package main

import (
	"fmt"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// replCommands are the names of the REPL's commands, for completion and
// suggestions.
var replCommands = []string{":help", ":list", ":dump", ":quit"}

// command runs a :command.
func (r *repl) command(line string) {
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case ":help", ":h", ":?":
		r.help()
	case ":list", ":l":
		verbose := false
		if rest, ok := strings.CutPrefix(arg, "-v"); ok && (rest == "" || rest[0] == ' ') {
			verbose, arg = true, strings.TrimSpace(rest)
		}
		if arg == "" {
			arg = "*"
		}
		listProbesVerbose(arg, verbose, r.stdout, r.stderr)
	case ":dump", ":d":
		if arg == "" {
			if r.last == nil {
				fmt.Fprintln(r.stderr, "nothing compiled yet: run a chain first, or give one: :dump tracepoint(\"syscalls:sys_enter_read\").count()")
				return
			}
			dumpAsm(r.stdout, r.last)
			return
		}
		if p, _ := r.compile(arg, r.env(r.c.pid)); p != nil {
			r.last = p
			dumpAsm(r.stdout, p)
		}
	case ":quit", ":q", ":exit":
		r.mu.Lock()
		r.quit = true
		r.mu.Unlock()
	default:
		msg := fmt.Sprintf("unknown command %s", name)
		if hint := dsl.DidYouMean(name, replCommands); hint != "" {
			msg += "; " + hint
		}
		fmt.Fprintln(r.stderr, msg+" (:help lists them)")
	}
}

// rawArgN matches the names of the raw arguments, arg0…arg9.
var rawArgN = regexp.MustCompile(`^arg[0-9]$`)

// help prints the commands, and the sources, stages, values and functions
// of the language with one line each.
func (r *repl) help() {
	w := tabwriter.NewWriter(r.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprint(w, replHelpIntro)
	section := func(title string, docs []compiler.Doc, prefix string) {
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, d := range docs {
			switch {
			case rawArgN.MatchString(d.Name) && d.Name != "arg0":
				continue
			case d.Name == "arg0":
				d.Usage, d.Doc = "arg0…arg9", strings.Replace(d.Doc, "argument 0", "arguments", 1)
			}
			usage := strings.ReplaceAll(d.Usage, " or ", " or "+prefix)
			fmt.Fprintf(w, "  %s%s\t%s\n", prefix, usage, d.Doc)
		}
	}
	fmt.Fprint(w, "\nCommands:\n")
	for _, l := range strings.Split(strings.TrimSpace(replCommandsHelp), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
	section("Probe sources", compiler.Sources(), "")
	section("Stages", compiler.Stages(), ".")
	section("Values", compiler.Values(), "")
	section("Functions", compiler.Functions(), "")
	if len(r.bindings) > 0 {
		fmt.Fprint(w, "\nBindings:\n")
		for _, b := range r.bindings {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(b.text, "\n", " "))
		}
	}
	w.Flush()
}
