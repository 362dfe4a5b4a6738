package dsl

import (
	"fmt"
	"strings"
)

// Dump renders a parsed program as an indented tree with positions, for
// --dump ast.
func Dump(p *Program) string {
	var b strings.Builder
	for _, st := range p.Statements {
		name := ""
		if st.Name != "" {
			name = " " + st.Name + " :="
		}
		fmt.Fprintf(&b, "statement%s @%d:%d\n", name, st.Pos.Line, st.Pos.Col)
		if st.Chain == nil {
			dumpExpr(&b, st.Value, 1)
			continue
		}
		if st.Chain.Source != nil {
			fmt.Fprintf(&b, "  probe %s @%d:%d\n", st.Chain.Source.Name, st.Chain.Source.Pos.Line, st.Chain.Source.Pos.Col)
			for _, a := range st.Chain.Source.Args {
				dumpExpr(&b, a, 2)
			}
		} else if st.Chain.Ref != nil {
			fmt.Fprintf(&b, "  from %s @%d:%d\n", st.Chain.Ref.Name, st.Chain.Ref.Pos.Line, st.Chain.Ref.Pos.Col)
		}
		for _, s := range st.Chain.Stages {
			fmt.Fprintf(&b, "  .%s @%d:%d\n", s.Name, s.Pos.Line, s.Pos.Col)
			for _, a := range s.Args {
				dumpExpr(&b, a, 2)
			}
		}
	}
	return b.String()
}

func dumpExpr(b *strings.Builder, e Expr, depth int) {
	ind := strings.Repeat("  ", depth)
	p := e.Position()
	at := fmt.Sprintf(" @%d:%d", p.Line, p.Col)
	switch e := e.(type) {
	case *Binary:
		fmt.Fprintf(b, "%sbinary %s%s\n", ind, e.Op, at)
		dumpExpr(b, e.X, depth+1)
		dumpExpr(b, e.Y, depth+1)
	case *Unary:
		fmt.Fprintf(b, "%sunary %s%s\n", ind, e.Op, at)
		dumpExpr(b, e.X, depth+1)
	case *Call:
		fmt.Fprintf(b, "%scall %s%s\n", ind, ExprString(e.Fun), at)
		for _, a := range e.Args {
			dumpExpr(b, a, depth+1)
		}
	case *Selector:
		fmt.Fprintf(b, "%sselector .%s%s\n", ind, e.Sel, at)
		dumpExpr(b, e.X, depth+1)
	case *Index:
		fmt.Fprintf(b, "%sindex%s\n", ind, at)
		dumpExpr(b, e.X, depth+1)
		dumpExpr(b, e.Index, depth+1)
	case *Paren:
		dumpExpr(b, e.X, depth)
	case *SliceExpr:
		fmt.Fprintf(b, "%sslice expression%s\n", ind, at)
		dumpExpr(b, e.X, depth+1)
		for _, x := range []Expr{e.Lo, e.Hi} {
			if x != nil {
				dumpExpr(b, x, depth+1)
			} else {
				fmt.Fprintf(b, "%s  (none)\n", ind)
			}
		}
	case *SliceLit:
		fmt.Fprintf(b, "%sslice []%s%s\n", ind, e.Elem, at)
		for _, x := range e.Elts {
			dumpExpr(b, x, depth+1)
		}
	case *Bind:
		fmt.Fprintf(b, "%sbind %s%s\n", ind, e.Name, at)
		dumpExpr(b, e.Value, depth+1)
	default:
		fmt.Fprintf(b, "%s%T %s%s\n", ind, e, ExprString(e), at)
	}
}
