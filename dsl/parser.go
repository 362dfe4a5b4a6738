package dsl

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// SourcePackages are the names that prefix dotted probe sources such as
// http.server(bin). A chain rooted at any other name followed by
// .name(args) (`reads.count()`) refers to a bound chain instead (Chain.Ref).
// A name bound earlier in the same program always wins over a package.
var SourcePackages = []string{"http", "grpc", "goroutine"}

// The participle grammar. It is private: Parse converts it into the AST of
// ast.go. It is strictly LL(1) and built with UseLookahead(0), so participle
// commits to a branch as soon as it consumes a token; that makes it fail at
// the offending token rather than backtracking to a vaguer place.

type gProgram struct {
	Stmts []*gStmt `parser:"( @@ ( Sep @@ )* )?"`
}

// gStmt parses `expr (":=" expr)?`; that the left side is a plain name is
// checked on conversion, which keeps the grammar LL(1).
type gStmt struct {
	Pos  lexer.Position
	X    *gOr   `parser:"@@"`
	Bind *gBind `parser:"@@?"`
}

type gBind struct {
	Pos   lexer.Position
	Value *gOr `parser:"':=' @@"`
}

type gExprRoot struct {
	X *gOr `parser:"@@"`
}

type gOr struct {
	X    *gAnd    `parser:"@@"`
	Rest []*gOrOp `parser:"@@*"`
}

type gOrOp struct {
	Pos lexer.Position
	Op  string `parser:"@'||'"`
	Y   *gAnd  `parser:"@@"`
}

type gAnd struct {
	X    *gCmp     `parser:"@@"`
	Rest []*gAndOp `parser:"@@*"`
}

type gAndOp struct {
	Pos lexer.Position
	Op  string `parser:"@'&&'"`
	Y   *gCmp  `parser:"@@"`
}

type gCmp struct {
	X    *gAdd     `parser:"@@"`
	Rest []*gCmpOp `parser:"@@*"`
}

type gCmpOp struct {
	Pos lexer.Position
	Op  string `parser:"@('==' | '!=' | '<=' | '>=' | '<' | '>')"`
	Y   *gAdd  `parser:"@@"`
}

type gAdd struct {
	X    *gMul     `parser:"@@"`
	Rest []*gAddOp `parser:"@@*"`
}

type gAddOp struct {
	Pos lexer.Position
	Op  string `parser:"@('+' | '-' | '|' | '^')"`
	Y   *gMul  `parser:"@@"`
}

type gMul struct {
	X    *gUnary   `parser:"@@"`
	Rest []*gMulOp `parser:"@@*"`
}

type gMulOp struct {
	Pos lexer.Position
	Op  string  `parser:"@('*' | '/' | '%' | '<<' | '>>' | '&^' | '&')"`
	Y   *gUnary `parser:"@@"`
}

// gUnary collects prefix operators in a list rather than recursing, so a
// long run of them cannot exhaust the stack.
type gUnary struct {
	Ops []*gUnaryOp `parser:"@@*"`
	X   *gPostfix   `parser:"@@"`
}

type gUnaryOp struct {
	Pos lexer.Position
	Op  string `parser:"@('!' | '-' | '+' | '^' | '*' | '&')"`
}

type gPostfix struct {
	X    *gOperand  `parser:"@@"`
	Sufs []*gSuffix `parser:"@@*"`
}

type gSuffix struct {
	Sel   *gSel   `parser:"  @@"`
	Index *gIndex `parser:"| @@"`
	Call  *gCall  `parser:"| @@"`
}

type gSel struct {
	Pos  lexer.Position
	Op   string `parser:"@('.' | '->')"`
	Name *gName `parser:"@@"`
}

type gName struct {
	Pos  lexer.Position
	Name string `parser:"@Ident"`
}

// gIndex is x[i], or a slice x[lo:hi] (either bound left out).
type gIndex struct {
	Pos   lexer.Position
	X     *gOr     `parser:"'[' @@?"`
	Slice *gSlice  `parser:"@@?"`
	Close *gRBrack `parser:"@@"`
}

type gRBrack struct {
	Pos lexer.Position
	Tok string `parser:"@']'"`
}

type gSlice struct {
	Pos lexer.Position
	Hi  *gOr `parser:"':' @@?"`
}

type gCall struct {
	Pos   lexer.Position
	Args  *gArgs  `parser:"'(' @@?"`
	Close *gClose `parser:"@@"`
}

// gArgs allows a trailing comma; an empty argument between two commas is
// rejected by scan.
type gArgs struct {
	First *gArg       `parser:"@@"`
	Rest  []*gArgRest `parser:"@@*"`
}

type gArgRest struct {
	Pos lexer.Position
	X   *gArg `parser:"',' @@?"`
}

// gArg is an argument, or `name := value` (.with(path := str(p))); that
// the left side is a name is checked on conversion, as for statements.
type gArg struct {
	X    *gOr   `parser:"@@"`
	Bind *gBind `parser:"@@?"`
}

type gClose struct {
	Pos lexer.Position
	Tok string `parser:"@')'"`
}

// gTable is a slice literal of constants, []string{"a", "b"}; a
// trailing comma is allowed, an empty element rejected by scan.
type gTable struct {
	Pos   lexer.Position
	Elem  *gName      `parser:"'[' ']' @@ '{'"`
	First *gOr        `parser:"@@?"`
	Rest  []*gEltRest `parser:"@@* '}'"`
}

type gEltRest struct {
	X *gOr `parser:"',' @@?"`
}

type gOperand struct {
	Pos    lexer.Position
	Table  *gTable `parser:"  @@"`
	Ident  *string `parser:"| @Ident"`
	Number *string `parser:"| @Number"`
	String *string `parser:"| @String"`
	Raw    *string `parser:"| @RawString"`
	Char   *string `parser:"| @Char"`
	Paren  *gOr    `parser:"| '(' @@ ')'"`
}

// The parsers are built on first use, not at init: building them takes a
// few milliseconds that commands such as -l never need.
var (
	programParser = sync.OnceValue(func() *participle.Parser[gProgram] {
		return participle.MustBuild[gProgram](participle.Lexer(lexDef), participle.UseLookahead(0))
	})
	exprParser = sync.OnceValue(func() *participle.Parser[gExprRoot] {
		return participle.MustBuild[gExprRoot](participle.Lexer(lexDef), participle.UseLookahead(0))
	})
)

// Parse parses a whole program. file names the source in positions and
// errors ("" means "<input>"). The error, if any, is an *Error or an
// ErrorList, each with Pos and Source set, ready for Render.
func Parse(file, text string) (prog *Program, err error) {
	src := newSource(file, text)
	defer recoverInternal(src, &err)
	m := newPosMap(src)
	g, oe := parseTokens(programParser(), text, false)
	if oe != nil {
		return nil, m.err(oe)
	}
	c := &conv{m: m, lbrack: map[*Index]Pos{}}
	prog = &Program{Source: src}
	bound := map[string]bool{}
	for _, gs := range g.Stmts {
		st := c.stmt(gs, bound)
		if st == nil {
			continue
		}
		prog.Statements = append(prog.Statements, st)
		if st.Name != "" {
			bound[st.Name] = true
		}
	}
	if len(c.errs) > 0 {
		return nil, c.result()
	}
	return prog, nil
}

// ParseExpr parses a single expression (newlines are blanks in it). Errors
// are as for Parse.
func ParseExpr(file, text string) (e Expr, err error) {
	src := newSource(file, text)
	defer recoverInternal(src, &err)
	c := &conv{m: newPosMap(src), lbrack: map[*Index]Pos{}}
	e = c.subExpr(text)
	if len(c.errs) > 0 {
		return nil, c.result()
	}
	return e, nil
}

func newSource(file, text string) *Source {
	if file == "" {
		file = "<input>"
	}
	return &Source{Name: file, Text: text}
}

// recoverInternal turns a panic into an error: a parser bug must not take
// down the REPL. The message says "internal" so the fuzz test can tell.
func recoverInternal(src *Source, err *error) {
	if r := recover(); r != nil {
		*err = &Error{
			Pos:    Pos{File: src.Name, Line: 1, Col: 1},
			Msg:    fmt.Sprintf("internal parser error: %v", r),
			Source: src,
		}
	}
}

// parseTokens scans text and runs participle on the tokens. When both a
// lexical and a syntax error exist, the earlier one is reported.
func parseTokens[G any](p *participle.Parser[G], text string, exprMode bool) (*G, *offError) {
	toks, lexErr := scan(text, exprMode)
	peek, err := lexer.Upgrade(&sliceLexer{toks: toks})
	if err != nil {
		return nil, &offError{Off: 0, Msg: err.Error()}
	}
	g, err := p.ParseFromLexer(peek)
	if err != nil {
		se := syntaxError(toks, err, exprMode)
		if lexErr != nil && se.Off >= lexErr.Off {
			return nil, lexErr
		}
		return nil, se
	}
	if lexErr != nil {
		return nil, lexErr
	}
	return g, nil
}

// syntaxError rewrites a participle error into a message for humans. The
// grammar is LL(1), so the failing token and the one before it say what was
// expected: an operand after an operator or opening bracket, a name after
// ".", and otherwise an operator or the bracket that closes the innermost
// open one.
func syntaxError(toks []lexer.Token, err error, exprMode bool) *offError {
	var perr participle.Error
	if !errors.As(err, &perr) {
		return &offError{Off: 0, Msg: err.Error()}
	}
	off := perr.Position().Offset
	i := sort.Search(len(toks), func(i int) bool { return toks[i].Pos.Offset >= off })
	if i >= len(toks) || toks[i].Pos.Offset != off {
		return &offError{Off: off, Msg: perr.Message()}
	}
	tok := toks[i]
	what := describe(tok)
	var prev *lexer.Token
	if i > 0 {
		prev = &toks[i-1]
	}
	msg := func(format string, args ...any) *offError {
		return &offError{Off: off, Msg: "unexpected " + what + "; " + fmt.Sprintf(format, args...)}
	}
	if prev == nil || !endsOperand(*prev) {
		if prev != nil && prev.Type == tOp && (prev.Value == "." || prev.Value == "->") {
			return msg("expected a name after %q", prev.Value)
		}
		return msg("expected an expression")
	}
	if tok.Type == tOp && tok.Value == "=" {
		return msg("use == to compare, or := to bind a name")
	}
	if prev.Value == "]" && i > 1 && toks[i-2].Value == "[" {
		return msg("expected the element type of a slice literal, as in []string{\"a\", \"b\"}")
	}
	// Find the innermost bracket still open before tok.
	type openTok struct {
		tok  lexer.Token
		call bool
	}
	var open []openTok
	for j := 0; j < i; j++ {
		t := toks[j]
		if t.Type != tOp {
			continue
		}
		switch t.Value {
		case "(", "[", "{":
			open = append(open, openTok{t, j > 0 && endsOperand(toks[j-1]) && t.Value != "{"})
		case ")", "]", "}":
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		}
	}
	if len(open) == 0 {
		if tok.Type == tOp && (tok.Value == ")" || tok.Value == "]" || tok.Value == "}") {
			opener := map[string]string{")": "(", "]": "[", "}": "{"}[tok.Value]
			return &offError{Off: off, Msg: fmt.Sprintf("unexpected %q with no matching %q", tok.Value, opener)}
		}
		if exprMode {
			return msg("expected an operator or the end of the expression")
		}
		return msg("expected an operator or the end of the statement")
	}
	top := open[len(open)-1]
	closer := map[string]string{"(": ")", "[": "]", "{": "}"}[top.tok.Value]
	// posMap.err appends where the opener is.
	var oe *offError
	// Arguments and elements are separated by commas; an index is one
	// expression (or lo:hi), so "," is no way on there.
	if (top.call && top.tok.Value == "(" || top.tok.Value == "{") && !tok.EOF() && tok.Type != tSep && !(tok.Type == tOp && (tok.Value == ")" || tok.Value == "]" || tok.Value == "}")) {
		oe = msg(`expected "," or %q to close %q`, closer, top.tok.Value)
	} else {
		oe = msg("expected %q to close %q", closer, top.tok.Value)
	}
	oe.Open = &top.tok.Pos.Offset
	return oe
}

// posMap turns byte offsets of the text being parsed into Pos. Inside a
// filter string the text is the string's content: offsets shift by base,
// or, when escapes make the mapping inexact, all map to the literal.
type posMap struct {
	src   *Source
	lines []int // byte offset where each line of src.Text starts
	base  int
	exact bool
	fixed Pos
}

func newPosMap(src *Source) *posMap {
	lines := []int{0}
	for i := 0; i < len(src.Text); i++ {
		if src.Text[i] == '\n' {
			lines = append(lines, i+1)
		}
	}
	return &posMap{src: src, lines: lines, exact: true}
}

func (m *posMap) at(off int) Pos {
	if !m.exact {
		return m.fixed
	}
	abs := m.base + off
	line := sort.Search(len(m.lines), func(i int) bool { return m.lines[i] > abs }) - 1
	line = max(line, 0)
	return Pos{File: m.src.Name, Offset: abs, Line: line + 1, Col: abs - m.lines[line] + 1}
}

func (m *posMap) pos(p lexer.Position) Pos { return m.at(p.Offset) }

// err makes an *Error of an offError, naming where the unclosed bracket of
// an "expected ... to close" message is when positions are exact.
func (m *posMap) err(oe *offError) *Error {
	msg := oe.Msg
	if oe.Open != nil && m.exact {
		p := m.at(*oe.Open)
		msg += fmt.Sprintf(" at %d:%d", p.Line, p.Col)
	}
	return &Error{Pos: m.at(oe.Off), Msg: msg, Source: m.src}
}

// conv converts the participle tree into the AST, collecting errors.
type conv struct {
	m      *posMap
	errs   ErrorList
	lbrack map[*Index]Pos // where each "[" is, for chain errors
}

func (c *conv) errorf(p Pos, format string, args ...any) {
	e := Errorf(p, format, args...)
	e.Source = c.m.src
	c.errs = append(c.errs, e)
}

func (c *conv) result() error {
	if len(c.errs) == 1 {
		return c.errs[0]
	}
	return c.errs
}

// subExpr parses text as one expression with the current posMap.
func (c *conv) subExpr(text string) Expr {
	g, oe := parseTokens(exprParser(), text, true)
	if oe != nil {
		c.errs = append(c.errs, c.m.err(oe))
		return nil
	}
	return c.or(g.X)
}

func (c *conv) stmt(g *gStmt, bound map[string]bool) *Statement {
	x := c.or(g.X)
	st := &Statement{Pos: x.Position()}
	if g.Bind != nil {
		id, ok := x.(*Ident)
		if !ok {
			c.errorf(x.Position(), "cannot bind to %s: the left side of := must be a name", ExprString(x))
			return nil
		}
		st.Name = id.Name
		x = c.or(g.Bind.Value)
	}
	chain, ok := c.chain(x, bound)
	if !ok {
		return nil
	}
	if chain != nil {
		st.Chain = chain
	} else {
		st.Value = x
	}
	return st
}

// chain decomposes a statement's expression into source + stages. It
// returns nil, true for an expression that is not a chain (no call, or not
// rooted at a name) and false after reporting an error.
func (c *conv) chain(x Expr, bound map[string]bool) (*Chain, bool) {
	// Unwind the postfix operations, outermost first, then reverse.
	var links []Expr
	base := x
unwind:
	for {
		switch e := base.(type) {
		case *Call:
			links = append(links, e)
			base = e.Fun
		case *Selector:
			links = append(links, e)
			base = e.X
		case *Index:
			links = append(links, e)
			base = e.X
		default:
			break unwind
		}
	}
	slices.Reverse(links)
	root, isIdent := base.(*Ident)
	hasCall := slices.ContainsFunc(links, func(e Expr) bool { _, ok := e.(*Call); return ok })
	if !isIdent || !hasCall {
		return nil, true
	}
	ch := &Chain{Pos: root.Pos}
	i := 0
	_, firstIsSel := links[0].(*Selector)
	secondIsCall := false
	if len(links) > 1 {
		_, secondIsCall = links[1].(*Call)
	}
	switch {
	case firstIsSel && secondIsCall && (bound[root.Name] || !slices.Contains(SourcePackages, root.Name)):
		ch.Ref = root
	default:
		// The source is the first call; what precedes it must be a dotted
		// name (http.server), i.e. selectors only.
		for i < len(links) {
			if call, ok := links[i].(*Call); ok {
				ch.Source = call
				i++
				break
			}
			if ix, ok := links[i].(*Index); ok {
				c.errorf(c.lbrack[ix], `unexpected "["; a probe source is a name followed by (arguments)`)
				return nil, false
			}
			i++
		}
	}
	for i < len(links) {
		switch e := links[i].(type) {
		case *Selector:
			call, ok := (*Call)(nil), false
			if i+1 < len(links) {
				call, ok = links[i+1].(*Call)
			}
			if !ok {
				c.errorf(e.SelPos, `expected "(" after stage name %s: a chain continues only with .stage(arguments)`, e.Sel)
				return nil, false
			}
			stage := &Call{
				Pos:     e.SelPos,
				Fun:     &Ident{Pos: e.SelPos, Name: e.Sel},
				Name:    e.Sel,
				Args:    call.Args,
				LParen:  call.LParen,
				RParen:  call.RParen,
				EndCall: call.EndCall,
			}
			ch.Stages = append(ch.Stages, stage)
			i += 2
		case *Index:
			c.errorf(c.lbrack[e], `unexpected "["; a chain continues only with .stage(arguments)`)
			return nil, false
		case *Call:
			c.errorf(e.LParen, `unexpected "("; a chain continues only with .stage(arguments)`)
			return nil, false
		}
	}
	return ch, true
}

// ParseString parses the content of string literal lit, which stands in
// src, as one expression: `.filter("args->flags & 0x80000")` holds its
// condition in a string, as the seed's bpftrace-style scripts do.
// Positions point inside the literal where it is written as is (no
// escapes), else at the literal.
func ParseString(src *Source, lit *StringLit) (e Expr, err error) {
	defer recoverInternal(src, &err)
	m := newPosMap(src)
	text := src.Text
	m.base = lit.Pos.Offset + 1
	m.fixed = lit.Pos
	// The content maps byte for byte onto the source only when it is written
	// as is: no escapes, no carriage returns dropped from a raw string.
	end := lit.Pos.Offset + 1 + len(lit.Value)
	m.exact = end <= len(text) && text[lit.Pos.Offset+1:end] == lit.Value &&
		(lit.Raw || !strings.Contains(lit.Value, "\\"))
	c := &conv{m: m, lbrack: map[*Index]Pos{}}
	e = c.subExpr(lit.Value)
	if len(c.errs) > 0 {
		return nil, c.result()
	}
	return e, nil
}

func (c *conv) binary(x Expr, op lexer.Position, opText string, y Expr) Expr {
	return &Binary{Pos: x.Position(), OpPos: c.m.pos(op), Op: opText, X: x, Y: y}
}

func (c *conv) or(g *gOr) Expr {
	x := c.and(g.X)
	for _, r := range g.Rest {
		x = c.binary(x, r.Pos, r.Op, c.and(r.Y))
	}
	return x
}

func (c *conv) and(g *gAnd) Expr {
	x := c.cmp(g.X)
	for _, r := range g.Rest {
		x = c.binary(x, r.Pos, r.Op, c.cmp(r.Y))
	}
	return x
}

func (c *conv) cmp(g *gCmp) Expr {
	x := c.add(g.X)
	for _, r := range g.Rest {
		x = c.binary(x, r.Pos, r.Op, c.add(r.Y))
	}
	return x
}

func (c *conv) add(g *gAdd) Expr {
	x := c.mul(g.X)
	for _, r := range g.Rest {
		x = c.binary(x, r.Pos, r.Op, c.mul(r.Y))
	}
	return x
}

func (c *conv) mul(g *gMul) Expr {
	x := c.unary(g.X)
	for _, r := range g.Rest {
		x = c.binary(x, r.Pos, r.Op, c.unary(r.Y))
	}
	return x
}

func (c *conv) unary(g *gUnary) Expr {
	x := c.postfix(g.X)
	for i := len(g.Ops) - 1; i >= 0; i-- {
		op := g.Ops[i]
		if op.Op == "+" {
			continue // unary plus changes nothing
		}
		x = &Unary{Pos: c.m.pos(op.Pos), Op: op.Op, X: x}
	}
	return x
}

func (c *conv) postfix(g *gPostfix) Expr {
	x := c.operand(g.X)
	for _, s := range g.Sufs {
		switch {
		case s.Sel != nil:
			x = &Selector{Pos: x.Position(), X: x, Sel: s.Sel.Name.Name, SelPos: c.m.pos(s.Sel.Name.Pos)}
		case s.Index != nil && s.Index.Slice != nil:
			sl := &SliceExpr{Pos: x.Position(), X: x, Lbrack: c.m.pos(s.Index.Pos)}
			if s.Index.X != nil {
				sl.Lo = c.or(s.Index.X)
			}
			if s.Index.Slice.Hi != nil {
				sl.Hi = c.or(s.Index.Slice.Hi)
			}
			x = sl
		case s.Index != nil:
			if s.Index.X == nil {
				c.errorf(c.m.pos(s.Index.Close.Pos), `unexpected "]"; expected an index, or a slice [lo:hi]`)
				return x
			}
			ix := &Index{Pos: x.Position(), X: x, Index: c.or(s.Index.X)}
			c.lbrack[ix] = c.m.pos(s.Index.Pos)
			x = ix
		case s.Call != nil:
			call := &Call{
				Pos:     x.Position(),
				Fun:     x,
				Name:    dottedName(x),
				LParen:  c.m.pos(s.Call.Pos),
				RParen:  c.m.pos(s.Call.Close.Pos),
				EndCall: c.m.at(s.Call.Close.Pos.Offset + 1),
			}
			if a := s.Call.Args; a != nil {
				call.Args = append(call.Args, c.arg(a.First))
				for _, r := range a.Rest {
					if r.X != nil {
						call.Args = append(call.Args, c.arg(r.X))
					}
				}
			}
			x = call
		}
	}
	return x
}

// arg converts a call argument: an expression, or `name := value`.
func (c *conv) arg(g *gArg) Expr {
	x := c.or(g.X)
	if g.Bind == nil {
		return x
	}
	v := c.or(g.Bind.Value)
	id, ok := x.(*Ident)
	if !ok {
		c.errorf(x.Position(), "cannot bind to %s: the left side of := must be a name", ExprString(x))
		return v
	}
	return &Bind{Pos: id.Pos, Name: id.Name, OpPos: c.m.pos(g.Bind.Pos), Value: v}
}

// dottedName is the name of a callee written as a name or a dotted path of
// names (str, http.server), else "".
func dottedName(x Expr) string {
	switch e := x.(type) {
	case *Ident:
		return e.Name
	case *Selector:
		if p := dottedName(e.X); p != "" {
			return p + "." + e.Sel
		}
	}
	return ""
}

func (c *conv) operand(g *gOperand) Expr {
	p := c.m.pos(g.Pos)
	switch {
	case g.Ident != nil:
		switch *g.Ident {
		case "true":
			return &BoolLit{Pos: p, Value: true}
		case "false":
			return &BoolLit{Pos: p, Value: false}
		}
		return &Ident{Pos: p, Name: *g.Ident}
	case g.Number != nil:
		v, _ := parseInt(*g.Number) // validated by scan
		return &IntLit{Pos: p, Value: v, Text: *g.Number}
	case g.String != nil:
		v, _, _ := unquoteString(*g.String)
		return &StringLit{Pos: p, Value: v}
	case g.Raw != nil:
		v, _, _ := unquoteString(*g.Raw)
		return &StringLit{Pos: p, Value: v, Raw: true}
	case g.Char != nil:
		v, _ := unquoteChar(*g.Char)
		return &IntLit{Pos: p, Value: v, Text: *g.Char}
	case g.Paren != nil:
		return &Paren{Pos: p, X: c.or(g.Paren)}
	case g.Table != nil:
		t := &SliceLit{Pos: p, Elem: g.Table.Elem.Name, ElemPos: c.m.pos(g.Table.Elem.Pos)}
		if g.Table.First != nil {
			t.Elts = append(t.Elts, c.or(g.Table.First))
		} else if len(g.Table.Rest) > 0 {
			c.errorf(p, `unexpected ","; expected an element`)
		}
		for _, r := range g.Table.Rest {
			if r.X != nil {
				t.Elts = append(t.Elts, c.or(r.X))
			}
		}
		return t
	}
	panic("operand with no alternative") // the grammar guarantees one
}
