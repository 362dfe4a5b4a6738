// Package dsl parses the ebpftrace language (see docs/LANGUAGE.md) into an AST
// whose every node knows its place in the source, and renders errors against
// that source with a caret.
package dsl

import (
	"fmt"
	"strings"
)

// Pos is a place in a source file. Line and Col count from 1; Offset is the
// byte offset from the start of the source.
type Pos struct {
	File   string
	Offset int
	Line   int
	Col    int
}

func (p Pos) String() string {
	f := p.File
	if f == "" {
		f = "<input>"
	}
	return fmt.Sprintf("%s:%d:%d", f, p.Line, p.Col)
}

// Program is a whole parsed source: one statement per chain.
type Program struct {
	Source     *Source
	Statements []*Statement
}

// Statement is one chain, optionally bound to a name (`name := chain`).
type Statement struct {
	Pos  Pos
	Name string // "" when the statement is not a binding
	// Chain is the statement decomposed as source + stages. It is nil when the
	// statement binds a plain value (`n := 5`), which then lives in Value.
	Chain *Chain
	Value Expr
}

// Chain is `source(args).stage(args).stage(args)…`.
type Chain struct {
	Pos    Pos
	Source *Call   // the probe source call, e.g. tracepoint("a:b") or http.server(bin); Source.Name is dotted
	Ref    *Ident  // set instead of Source when the chain starts from a bound name: `reads.count()`
	Stages []*Call // each `.name(args…)` after the source, in order
}

// Expr is any expression node.
type Expr interface {
	Position() Pos
	exprNode()
}

// Ident is a name: a variable, a built-in value (`pid`), a package (`http`).
type Ident struct {
	Pos  Pos
	Name string
}

// IntLit is an integer or character literal.
type IntLit struct {
	Pos   Pos
	Value uint64
	Text  string // as written
}

// StringLit is a string literal, already unquoted.
type StringLit struct {
	Pos   Pos
	Value string
	Raw   bool // written with backquotes
}

// BoolLit is true or false.
type BoolLit struct {
	Pos   Pos
	Value bool
}

// Unary is `op X` for op in ! - ^ * &.
type Unary struct {
	Pos Pos
	Op  string
	X   Expr
}

// Binary is `X op Y`.
type Binary struct {
	Pos   Pos // position of X (the start of the whole expression)
	OpPos Pos // position of the operator
	Op    string
	X, Y  Expr
}

// Selector is `X.Sel` (also written `X->Sel`).
type Selector struct {
	Pos    Pos
	X      Expr
	Sel    string
	SelPos Pos
}

// Index is `X[Index]`.
type Index struct {
	Pos   Pos
	X     Expr
	Index Expr
}

// SliceExpr is `X[Lo:Hi]`; Lo and Hi are nil when left out.
type SliceExpr struct {
	Pos    Pos
	X      Expr
	Lo, Hi Expr
	Lbrack Pos
}

// Call is `Fun(Args…)`. Name is the dotted name of Fun when Fun is an
// identifier or a selector chain of identifiers (`str`, `http.server`), else "".
// A cast `(*T)(p)` is a Call whose Fun is a Paren around Unary{Op:"*"}.
type Call struct {
	Pos     Pos // position of the callee name (the stage name for stages)
	Fun     Expr
	Name    string
	Args    []Expr
	LParen  Pos
	RParen  Pos
	EndCall Pos // position just after the closing parenthesis
}

// Paren is `(X)`.
type Paren struct {
	Pos Pos
	X   Expr
}

// SliceLit is a slice literal, `[]string{"a", "b"}`: a table of
// constants that an index picks from.
type SliceLit struct {
	Pos     Pos
	Elem    string // the element type as written: string, int
	ElemPos Pos
	Elts    []Expr
}

// Bind is `Name := Value` written as a call argument: the names a chain
// binds with .with(path := str(args.filename)). It is an expression only
// so that it can sit among arguments; anywhere but .with() the compiler
// refuses it.
type Bind struct {
	Pos   Pos // the name
	Name  string
	OpPos Pos // the :=
	Value Expr
}

func (e *Ident) Position() Pos     { return e.Pos }
func (e *IntLit) Position() Pos    { return e.Pos }
func (e *StringLit) Position() Pos { return e.Pos }
func (e *BoolLit) Position() Pos   { return e.Pos }
func (e *Unary) Position() Pos     { return e.Pos }
func (e *Binary) Position() Pos    { return e.Pos }
func (e *Selector) Position() Pos  { return e.Pos }
func (e *Index) Position() Pos     { return e.Pos }
func (e *Call) Position() Pos      { return e.Pos }
func (e *Paren) Position() Pos     { return e.Pos }
func (e *Bind) Position() Pos      { return e.Pos }
func (e *SliceLit) Position() Pos  { return e.Pos }
func (e *SliceExpr) Position() Pos { return e.Pos }

func (*Ident) exprNode()     {}
func (*IntLit) exprNode()    {}
func (*StringLit) exprNode() {}
func (*BoolLit) exprNode()   {}
func (*Unary) exprNode()     {}
func (*Binary) exprNode()    {}
func (*Selector) exprNode()  {}
func (*Index) exprNode()     {}
func (*Call) exprNode()      {}
func (*Paren) exprNode()     {}
func (*Bind) exprNode()      {}
func (*SliceLit) exprNode()  {}
func (*SliceExpr) exprNode() {}

// ExprString renders an expression back to source form (normalised spacing).
func ExprString(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e)
	return b.String()
}

func writeExpr(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case *Ident:
		b.WriteString(e.Name)
	case *IntLit:
		b.WriteString(e.Text)
	case *StringLit:
		if e.Raw {
			b.WriteString("`" + e.Value + "`")
		} else {
			fmt.Fprintf(b, "%q", e.Value)
		}
	case *BoolLit:
		fmt.Fprintf(b, "%t", e.Value)
	case *Unary:
		b.WriteString(e.Op)
		writeExpr(b, e.X)
	case *Binary:
		writeExpr(b, e.X)
		b.WriteString(" " + e.Op + " ")
		writeExpr(b, e.Y)
	case *Selector:
		writeExpr(b, e.X)
		b.WriteString("." + e.Sel)
	case *Index:
		writeExpr(b, e.X)
		b.WriteString("[")
		writeExpr(b, e.Index)
		b.WriteString("]")
	case *Call:
		writeExpr(b, e.Fun)
		b.WriteString("(")
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			writeExpr(b, a)
		}
		b.WriteString(")")
	case *Paren:
		b.WriteString("(")
		writeExpr(b, e.X)
		b.WriteString(")")
	case *Bind:
		b.WriteString(e.Name + " := ")
		writeExpr(b, e.Value)
	case *SliceExpr:
		writeExpr(b, e.X)
		b.WriteString("[")
		if e.Lo != nil {
			writeExpr(b, e.Lo)
		}
		b.WriteString(":")
		if e.Hi != nil {
			writeExpr(b, e.Hi)
		}
		b.WriteString("]")
	case *SliceLit:
		b.WriteString("[]" + e.Elem + "{")
		for i, x := range e.Elts {
			if i > 0 {
				b.WriteString(", ")
			}
			writeExpr(b, x)
		}
		b.WriteString("}")
	case nil:
		b.WriteString("<nil>")
	default:
		fmt.Fprintf(b, "%T", e)
	}
}
