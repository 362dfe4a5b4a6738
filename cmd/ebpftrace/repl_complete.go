package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// complete is liner's completer: it replaces the word before the cursor
// with one of the candidates that fit where it stands.
func (r *repl) complete(line string, pos int) (head string, items []string, tail string) {
	runes := []rune(line)
	pos = min(max(pos, 0), len(runes))
	before, after := string(runes[:pos]), string(runes[pos:])
	text := r.pending + before
	if r.pending == "" {
		trimmed := strings.TrimLeft(before, " \t")
		switch {
		case strings.HasPrefix(trimmed, ":list "):
			prefix := strings.TrimLeft(trimmed[len(":list "):], " ")
			if rest, ok := strings.CutPrefix(prefix, "-v "); ok {
				prefix = strings.TrimLeft(rest, " ")
			}
			return before[:len(before)-len(prefix)], r.tracepointItems(prefix, ""), after
		case strings.HasPrefix(trimmed, ":dump "):
			text = strings.TrimLeft(trimmed[len(":dump "):], " ")
		case strings.HasPrefix(trimmed, ":"):
			for _, c := range replCommands {
				if strings.HasPrefix(c, trimmed) {
					items = append(items, c)
				}
			}
			return before[:len(before)-len(trimmed)], items, after
		}
	}
	items, word := r.candidates(text, after)
	return before[:len(before)-len(word)], items, after
}

// assignPrefix matches the start of a binding, `name :=`.
var assignPrefix = regexp.MustCompile(`^\s*[A-Za-z_]\w*\s*:=\s*`)

// candidates returns what can replace word, the end of text (an input up
// to the cursor); after is the rest of the line.
func (r *repl) candidates(text, after string) (items []string, word string) {
	st := dsl.ScanPartial(text)
	switch {
	case st.Comment || st.Raw:
		return nil, ""
	case st.String >= 0:
		prefix := text[st.String:]
		if text[st.String-1] != '"' {
			return nil, ""
		}
		opener := strings.TrimRight(text[:st.String-1], " \t\r\n")
		if !strings.HasSuffix(opener, "(") {
			return nil, ""
		}
		switch trailingIdent(strings.TrimRight(opener[:len(opener)-1], " \t")) {
		case "tracepoint":
			suffix := `")`
			if strings.HasPrefix(after, `"`) {
				suffix = ""
			}
			return r.tracepointItems(prefix, suffix), prefix
		case "rawtracepoint":
			return r.rawTracepointItems(prefix, after), prefix
		case "kprobe", "kretprobe", "fentry", "fexit":
			return r.kernelFuncItems(prefix, after), prefix
		}
		return nil, ""
	}
	word = trailingIdent(text)
	if word != "" && word[0] >= '0' && word[0] <= '9' {
		return nil, ""
	}
	before := strings.TrimRight(text[:len(text)-len(word)], " \t\r\n")
	depth := len(st.Opens)
	if strings.HasSuffix(before, ".") || strings.HasSuffix(before, "->") {
		obj := strings.TrimRight(strings.TrimSuffix(strings.TrimSuffix(before, "."), "->"), " \t\r\n")
		id := trailingIdent(obj)
		byDot := strings.HasSuffix(strings.TrimRight(obj[:len(obj)-len(id)], " \t\r\n"), ".")
		switch {
		case id == "args" && !byDot:
			return withPrefix(r.argsFields(text[st.StatementStart():]), word, ""), word
		case depth == 0 && (strings.HasSuffix(obj, ")") || id != "" && !byDot && r.isChain(id)):
			for _, d := range compiler.Stages() {
				items = appendIf(items, word, callText(d))
			}
			return items, word
		}
		return nil, word
	}
	stmt := text[st.StatementStart() : len(text)-len(word)]
	switch {
	case depth == 0 && strings.TrimSpace(stmt) == "":
		return r.sourceItems(word), word
	case depth == 0 && assignPrefix.MatchString(stmt) && assignPrefix.FindString(stmt) == stmt:
		return append(r.sourceItems(word), r.valueItems(word)...), word
	case depth > 0:
		return r.valueItems(word), word
	}
	return nil, word
}

// callText is what completing a stage or function inserts: `count()` for
// one without arguments, else `name(`.
func callText(d compiler.Doc) string {
	if d.MaxArgs == 0 {
		return d.Name + "()"
	}
	return d.Name + "("
}

func appendIf(items []string, prefix, s string) []string {
	if strings.HasPrefix(s, prefix) {
		items = append(items, s)
	}
	return items
}

func withPrefix(names []string, prefix, suffix string) []string {
	var out []string
	for _, n := range names {
		out = appendIf(out, prefix, n+suffix)
	}
	return out
}

// sourceItems are the probe sources (written up to their first argument)
// and the bound chains.
func (r *repl) sourceItems(word string) []string {
	var items []string
	for _, d := range compiler.Sources() {
		s := d.Name
		if i := strings.IndexByte(d.Usage, '('); i >= 0 {
			switch rest := d.Usage[i+1:]; {
			case strings.HasPrefix(rest, ")"):
				s += "()"
			case strings.HasPrefix(rest, `"`):
				s += `("`
			default:
				s += "("
			}
		}
		items = appendIf(items, word, s)
	}
	for _, b := range r.bindings {
		if b.chain {
			items = appendIf(items, word, b.name)
		}
	}
	return items
}

// valueItems are the built-in values and functions and the bound values.
func (r *repl) valueItems(word string) []string {
	var items []string
	for _, d := range compiler.Values() {
		if d.Name == "args" {
			items = appendIf(items, word, "args.")
			continue
		}
		items = appendIf(items, word, d.Name)
	}
	for _, d := range compiler.Functions() {
		items = appendIf(items, word, callText(d))
	}
	for _, b := range r.bindings {
		if !b.chain {
			items = appendIf(items, word, b.name)
		}
	}
	slices.Sort(items)
	return items
}

func (r *repl) isChain(name string) bool {
	return slices.ContainsFunc(r.bindings, func(b binding) bool { return b.chain && b.name == name })
}

// trailingIdent is the name (letters, digits, _) that ends s.
func trailingIdent(s string) string {
	i := len(s)
	for i > 0 && isIdentByte(s[i-1]) {
		i--
	}
	return s[i:]
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// tracepointEvents lists the tracepoints, read once.
func (r *repl) tracepointEvents() []string {
	if r.events == nil && r.eventsErr == nil {
		r.events, r.eventsErr = r.cenv.Tracepoints.Events()
	}
	return r.events
}

// tracepointItems completes a tracepoint name: the categories while no
// ":" is typed (or, when no category fits, the names whose event part
// does), then category:name. A single full name gets suffix.
func (r *repl) tracepointItems(prefix, suffix string) []string {
	events := r.tracepointEvents()
	var items []string
	if !strings.Contains(prefix, ":") {
		seen := map[string]bool{}
		for _, e := range events {
			cat, _, _ := strings.Cut(e, ":")
			if strings.HasPrefix(cat, prefix) && !seen[cat] {
				seen[cat] = true
				items = append(items, cat+":")
			}
		}
		if len(items) > 0 {
			return items
		}
		for _, e := range events {
			if _, name, _ := strings.Cut(e, ":"); strings.HasPrefix(name, prefix) {
				items = append(items, e)
			}
		}
	} else {
		items = withPrefix(events, prefix, "")
	}
	if len(items) == 1 {
		items[0] += suffix
	}
	return items
}

// rawTracepointItems completes a raw tracepoint: the event part of the
// tracepoint names.
func (r *repl) rawTracepointItems(prefix, after string) []string {
	seen := map[string]bool{}
	var items []string
	for _, e := range r.tracepointEvents() {
		if _, name, _ := strings.Cut(e, ":"); strings.HasPrefix(name, prefix) && !seen[name] {
			seen[name] = true
			items = append(items, name)
		}
	}
	slices.Sort(items)
	if len(items) == 1 && !strings.HasPrefix(after, `"`) {
		items[0] += `")`
	}
	return items
}

// kernelFuncItems completes kernel function names (from BTF) inside
// kprobe(" and its kin; at most 200, so a short prefix stays readable.
func (r *repl) kernelFuncItems(prefix, after string) []string {
	if r.kfuncs == nil && r.cenv != nil && r.cenv.KernelBTF != nil {
		r.kfuncs = []string{}
		if spec, err := r.cenv.KernelBTF(); err == nil {
			for t, err := range spec.All() {
				if err != nil {
					break
				}
				if f, ok := t.(*btf.Func); ok {
					r.kfuncs = append(r.kfuncs, f.Name)
				}
			}
			slices.Sort(r.kfuncs)
			r.kfuncs = slices.Compact(r.kfuncs)
		}
	}
	i, _ := slices.BinarySearch(r.kfuncs, prefix)
	var items []string
	for ; i < len(r.kfuncs) && strings.HasPrefix(r.kfuncs[i], prefix) && len(items) < 200; i++ {
		items = append(items, r.kfuncs[i])
	}
	if len(items) == 1 && !strings.HasPrefix(after, `"`) {
		items[0] += `")`
	}
	return items
}

// argsFields lists the args fields of the probe that stmt (the statement
// being typed) starts with, following bound chains back to their source.
func (r *repl) argsFields(stmt string) []string {
	src := r.sourceOf(stmt, 0)
	if src == "" {
		return nil
	}
	if f, ok := r.argsCache[src]; ok {
		return f
	}
	f, err := probeFields(r.cenv, src)
	if err != nil {
		return nil
	}
	r.argsCache[src] = f
	return f
}

// maxArgsProbes bounds the probes probeFields reads when a source matches
// many (a glob such as "syscalls:*").
const maxArgsProbes = 64

// probeFields lists the fields of args that a probe source (its text)
// offers, in order: with a glob, the fields all its probes have.
func probeFields(env *compiler.Env, source string) ([]string, error) {
	e, err := dsl.ParseExpr("<completion>", source)
	if err != nil {
		return nil, err
	}
	call, ok := e.(*dsl.Call)
	if !ok {
		return nil, fmt.Errorf("%s is not a probe source call", source)
	}
	probes, err := compiler.Describe(env, call, maxArgsProbes)
	if err != nil {
		return nil, err
	}
	var names []string
	for i, p := range probes {
		var these []string
		for _, a := range p.Args {
			these = append(these, a.Name)
		}
		if i == 0 {
			names = these
			continue
		}
		names = slices.DeleteFunc(names, func(s string) bool { return !slices.Contains(these, s) })
	}
	return names, nil
}

// sourceOf returns the text of the probe source call that stmt starts
// with, e.g. `tracepoint("syscalls:sys_enter_openat")`, or "".
func (r *repl) sourceOf(stmt string, depth int) string {
	s := strings.TrimLeft(stmt, " \t\r\n;")
	if m := assignPrefix.FindString(s); m != "" {
		s = s[len(m):]
	}
	i := 0
	for i < len(s) && (isIdentByte(s[i]) || s[i] == '.' && i+1 < len(s) && isIdentByte(s[i+1])) {
		i++
	}
	name := s[:i]
	if name == "" {
		return ""
	}
	// A bound chain: `reads.filter(…)`.
	root, _, _ := strings.Cut(name, ".")
	for _, b := range r.bindings {
		if b.name == root && b.chain && depth < 8 {
			return r.sourceOf(b.text, depth+1)
		}
	}
	rest := strings.TrimLeft(s[i:], " \t\r\n")
	if !strings.HasPrefix(rest, "(") {
		return ""
	}
	open := len(s) - len(rest)
	// The call ends where its bracket closes.
	for j := open + 1; j <= len(s); j++ {
		if st := dsl.ScanPartial(s[open:j]); len(st.Opens) == 0 && st.String < 0 && !st.Comment {
			return name + s[open:j]
		}
	}
	return ""
}
