package compiler

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/match"
)

// Script parameters. A script declares each as a binding at its top:
//
//	target := param(0, "trace only this process (0: every process)")
//	name := param(string, "the command to follow")
//
// The first argument is the default, whose type the parameter takes, or
// the type alone (int or string) for a parameter that must be given. The
// command line gives them in the order they are declared (`ebpftrace
// opensnoop 1234`), or by name (`target=1234`); each then is a constant
// of the program, as if the script had bound the value itself.

// Param is one declared parameter, for a usage message.
type Param struct {
	Name     string
	Doc      string
	Type     string // "int" or "string"
	Default  string // "" when required
	Required bool
}

// ParamError is a command-line mistake about a script's parameters
// (missing, extra, unknown or of the wrong type): the command line's
// error, shown with the script's usage, not a place in the source.
type ParamError struct {
	Msg    string
	Usage  string // the script's header Usage: lines
	Params []Param
}

func (e *ParamError) Error() string { return e.Msg }

// UsageText is the usage to show with the error: the header's Usage:
// lines, then the parameters one a line.
func (e *ParamError) UsageText() string {
	var b strings.Builder
	if e.Usage != "" {
		b.WriteString(e.Usage)
		b.WriteString("\n")
	}
	if len(e.Params) == 0 {
		if !strings.Contains(e.Msg, "takes no parameters") {
			b.WriteString("it takes no parameters\n")
		}
		return b.String()
	}
	b.WriteString("parameters, in this order or as name=value:\n")
	for _, p := range e.Params {
		d := "required"
		if !p.Required {
			d = "default " + p.Default
		}
		fmt.Fprintf(&b, "  %-12s %s (%s, %s)\n", p.Name, p.Doc, p.Type, d)
	}
	return b.String()
}

func init() {
	builtinFuncs["param"] = &builtinFunc{
		name: "param", usage: `name := param(default, "what it is")`, doc: "declare a script parameter (the default, or int or string when it must be given), given after the script on the command line",
		minArgs: 2, maxArgs: 2,
		typ: func(cc *chainCtx, e *dsl.Call) (*Type, error) {
			err := dsl.Errorf(e.Pos, "param() declares a script parameter: bind it at the top of the script")
			err.Hint = `e.g. target := param(0, "trace only this process"), then use target`
			return nil, err
		},
	}
}

// declaredParam is a param() binding being resolved.
type declaredParam struct {
	Param
	st *dsl.Statement
}

// bindParams gives each param() binding its value from the command line
// (Env.Params) and checks that the command line names nothing else.
func (pb *progBuilder) bindParams(p *dsl.Program) error {
	var decls []*declaredParam
	for _, st := range p.Statements {
		call, ok := st.Value.(*dsl.Call)
		if !ok || call.Name != "param" {
			continue
		}
		d, err := declareParam(st, call)
		if err != nil {
			return err
		}
		decls = append(decls, d)
	}
	given := pb.env.Params
	if len(decls) == 0 && len(given) == 0 {
		return nil
	}
	usage := func(format string, args ...any) error {
		e := &ParamError{Msg: fmt.Sprintf(format, args...), Usage: headerUsage(p.Source.Text)}
		for _, d := range decls {
			e.Params = append(e.Params, d.Param)
		}
		return e
	}
	values := map[string]string{}
	pos := 0
	for _, a := range given {
		if name, v, ok := strings.Cut(a, "="); ok && isParamName(name) {
			if _, dup := values[name]; dup {
				return usage("parameter %s is given twice", name)
			}
			found := false
			for _, d := range decls {
				found = found || d.Name == name
			}
			if !found {
				var names []string
				for _, d := range decls {
					names = append(names, d.Name)
				}
				msg := fmt.Sprintf("unknown parameter %s", name)
				if s := match.Nearest(name, names, 1); len(s) > 0 {
					msg += fmt.Sprintf(" (did you mean %s?)", s[0])
				}
				return usage("%s", msg)
			}
			values[name] = v
			continue
		}
		for pos < len(decls) {
			if _, set := values[decls[pos].Name]; !set {
				break
			}
			pos++
		}
		if pos >= len(decls) {
			if len(decls) == 0 {
				return usage("%s takes no parameters, but %q was given", p.Source.Name, a)
			}
			return usage("too many parameters: %q is one more than the %d the script declares", a, len(decls))
		}
		values[decls[pos].Name] = a
		pos++
	}
	for _, d := range decls {
		text, ok := values[d.Name]
		if !ok {
			if d.Required {
				return usage("missing parameter %s (%s)", d.Name, d.Doc)
			}
			text = d.Default
		}
		var v dsl.Expr
		at := d.st.Value.Position()
		if d.Type == "int" {
			n, err := strconv.ParseInt(text, 0, 64)
			if err != nil {
				return usage("parameter %s is an integer, not %q", d.Name, text)
			}
			v = &dsl.IntLit{Pos: at, Value: uint64(n), Text: strconv.FormatInt(n, 10)}
			if n < 0 {
				v = &dsl.Unary{Pos: at, Op: "-", X: &dsl.IntLit{Pos: at, Value: uint64(-n), Text: strconv.FormatUint(uint64(-n), 10)}}
			}
		} else {
			v = &dsl.StringLit{Pos: at, Value: text}
		}
		d.st.Value = v
		pb.values[d.Name] = v
	}
	return nil
}

// declareParam reads `name := param(default, "doc")`.
func declareParam(st *dsl.Statement, call *dsl.Call) (*declaredParam, error) {
	if len(call.Args) != 2 {
		return nil, dsl.Errorf(call.Pos, `param takes the default (or int or string) and what the parameter is: name := param(0, "a process id")`)
	}
	doc, ok := call.Args[1].(*dsl.StringLit)
	if !ok {
		return nil, dsl.Errorf(call.Args[1].Position(), `param's second argument says what the parameter is, as a string literal`)
	}
	d := &declaredParam{Param: Param{Name: st.Name, Doc: doc.Value}, st: st}
	switch a := call.Args[0].(type) {
	case *dsl.Ident:
		switch a.Name {
		case "int", "string":
			d.Type, d.Required = a.Name, true
			return d, nil
		}
	case *dsl.StringLit:
		d.Type, d.Default = "string", a.Value
		return d, nil
	}
	if n, ok := constInt(call.Args[0]); ok {
		d.Type, d.Default = "int", strconv.FormatInt(n, 10)
		return d, nil
	}
	err := dsl.Errorf(call.Args[0].Position(), "param's first argument is its default (an integer or a string literal), or int or string when it must be given")
	err.Hint = `e.g. param(0, "a process id"), param(string, "a command name")`
	return nil, err
}

// isParamName: name=value on the command line names a parameter when
// name could be one (a Go identifier); "a=b" with other text is a value.
func isParamName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// headerUsage returns the script header's Usage: lines (the line that
// starts `// Usage:` and the comment lines indented under it).
func headerUsage(text string) string {
	var out []string
	in := false
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "//") {
			break
		}
		c := strings.TrimPrefix(t, "//")
		switch {
		case strings.HasPrefix(strings.TrimSpace(c), "Usage:"):
			in = true
			out = append(out, strings.TrimSpace(c))
		case in && strings.HasPrefix(c, "  "):
			out = append(out, "  "+strings.TrimSpace(c))
		default:
			in = false
		}
	}
	return strings.Join(out, "\n")
}
