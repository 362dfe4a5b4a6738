package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// binding is a `name := …` statement kept from an earlier input.
type binding struct {
	name  string
	text  string // the statement as typed
	chain bool   // it binds a chain (else a value)
}

// onlyBindings reports an input that parses to bindings only.
func onlyBindings(text string) bool {
	prog, err := dsl.Parse(replInputName, text)
	if err != nil || len(prog.Statements) == 0 {
		return false
	}
	for _, st := range prog.Statements {
		if st.Name == "" {
			return false
		}
	}
	return true
}

// bind keeps the bindings of an input that has nothing else; nothing runs.
// Bound chains are compiled to check them.
func (r *repl) bind(text string) {
	prog, _ := dsl.Parse(replInputName, text)
	var names []string
	chains := false
	for _, st := range prog.Statements {
		names = append(names, st.Name)
		chains = chains || st.Chain != nil
	}
	if chains {
		p, _ := r.compile(text, r.env(r.c.pid))
		if p == nil {
			return
		}
		r.last = p
	}
	r.remember(prog, text)
	fmt.Fprintf(r.stderr, "bound %s (kept for later inputs)\n", strings.Join(names, ", "))
}

// compile parses text, puts before it the earlier bindings it uses, and
// compiles the whole. Errors are printed against text as typed, and give a
// nil program. The second result is text parsed alone.
func (r *repl) compile(text string, env *compiler.Env) (*compiler.Program, *dsl.Program) {
	src := &dsl.Source{Name: replInputName, Text: text}
	alone, err := dsl.Parse(src.Name, text)
	if err != nil {
		fmt.Fprint(r.stderr, dsl.Render(err, src))
		return nil, nil
	}
	full := r.prefixFor(text, alone) + text
	prog, err := dsl.Parse(src.Name, full)
	if err != nil {
		fmt.Fprint(r.stderr, r.render(err, full, text))
		return nil, alone
	}
	p, err := compiler.Compile(prog, env)
	if err != nil {
		fmt.Fprint(r.stderr, r.render(err, full, text))
		return nil, alone
	}
	return p, alone
}

// render renders an error of the program full, which is text after the
// bindings put before it: places in text are shown as the user typed them.
func (r *repl) render(err error, full, text string) string {
	src := &dsl.Source{Name: replInputName, Text: text}
	prefix := full[:len(full)-len(text)]
	if n := strings.Count(prefix, "\n"); n > 0 {
		shift := func(e *dsl.Error) {
			if e.Pos.Line > n {
				e.Pos.Line -= n
				e.Pos.Offset -= len(prefix)
				e.Source = src
			}
		}
		var list dsl.ErrorList
		var one *dsl.Error
		switch {
		case errors.As(err, &list):
			for _, e := range list {
				shift(e)
			}
		case errors.As(err, &one):
			shift(one)
		}
	}
	return dsl.Render(err, &dsl.Source{Name: replInputName, Text: full})
}

// prefixFor is the earlier bindings that text uses (directly or through
// other bindings), one a line, in the order they were made; names that
// text binds itself are left out.
func (r *repl) prefixFor(text string, alone *dsl.Program) string {
	defined := map[string]bool{}
	for _, st := range alone.Statements {
		if st.Name != "" {
			defined[st.Name] = true
		}
	}
	need := dsl.Identifiers(text)
	used := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, b := range r.bindings {
			if used[b.name] || defined[b.name] || !need[b.name] {
				continue
			}
			used[b.name], changed = true, true
			for id := range dsl.Identifiers(b.text) {
				need[id] = true
			}
		}
	}
	var b strings.Builder
	for _, bd := range r.bindings {
		if used[bd.name] {
			b.WriteString(bd.text + "\n")
		}
	}
	return b.String()
}

// remember keeps the bindings of an input that compiled; a name bound
// again replaces its earlier binding.
func (r *repl) remember(alone *dsl.Program, text string) {
	if alone == nil {
		return
	}
	ends := dsl.ScanPartial(text).Ends
	for _, st := range alone.Statements {
		if st.Name == "" {
			continue
		}
		end := len(text)
		for _, s := range ends {
			if s > st.Pos.Offset {
				end = s
				break
			}
		}
		stmt := strings.TrimRight(strings.TrimSpace(text[st.Pos.Offset:end]), "; \t\r\n")
		r.bindings = slices.DeleteFunc(r.bindings, func(b binding) bool { return b.name == st.Name })
		r.bindings = append(r.bindings, binding{name: st.Name, text: stmt, chain: st.Chain != nil})
	}
}
