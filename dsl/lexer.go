package dsl

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"
)

// lexDef is the token set. Rules are tried in order and the first match wins,
// so longer and more specific patterns come first. The Bad* rules turn
// malformed input into tokens that scan reports precisely, instead of
// participle's generic "invalid input text".
var lexDef = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Newline", Pattern: `\n`},
	{Name: "Whitespace", Pattern: `[ \t\r\f\v\x{FEFF}]+`},
	{Name: "LineComment", Pattern: `//[^\n]*`},
	{Name: "BlockComment", Pattern: `/\*(?s:.*?)\*/`},
	{Name: "BadComment", Pattern: `/\*`},
	{Name: "String", Pattern: `"(?:\\.|[^"\\\n])*"`},
	{Name: "BadString", Pattern: `"`},
	{Name: "RawString", Pattern: "`[^`]*`"},
	{Name: "BadRawString", Pattern: "`"},
	{Name: "Char", Pattern: `'(?:\\.|[^'\\\n])*'`},
	{Name: "BadChar", Pattern: `'`},
	// Floats and malformed numbers are lexed whole so that "1.5" or "12ab"
	// is one error at its start rather than a confusing token split.
	{Name: "Float", Pattern: `[0-9][0-9A-Za-z_]*\.[0-9][0-9A-Za-z_]*`},
	{Name: "Number", Pattern: `[0-9][0-9A-Za-z_]*`},
	{Name: "Ident", Pattern: `[\p{L}_][\p{L}\p{Nd}_]*`},
	{Name: "Sep", Pattern: `;`},
	{Name: "Op", Pattern: `:=|&&|\|\||==|!=|<=|>=|<<|>>|&\^|->|[-+*/%&|^<>!=.,:()\[\]{}]`},
	{Name: "Bad", Pattern: `(?s:.)`},
})

// Token types, resolved once from lexDef.
var (
	tNewline      = lexDef.Symbols()["Newline"]
	tWhitespace   = lexDef.Symbols()["Whitespace"]
	tLineComment  = lexDef.Symbols()["LineComment"]
	tBlockComment = lexDef.Symbols()["BlockComment"]
	tBadComment   = lexDef.Symbols()["BadComment"]
	tString       = lexDef.Symbols()["String"]
	tBadString    = lexDef.Symbols()["BadString"]
	tRawString    = lexDef.Symbols()["RawString"]
	tBadRawString = lexDef.Symbols()["BadRawString"]
	tChar         = lexDef.Symbols()["Char"]
	tBadChar      = lexDef.Symbols()["BadChar"]
	tFloat        = lexDef.Symbols()["Float"]
	tNumber       = lexDef.Symbols()["Number"]
	tIdent        = lexDef.Symbols()["Ident"]
	tSep          = lexDef.Symbols()["Sep"]
	tOp           = lexDef.Symbols()["Op"]
	tBad          = lexDef.Symbols()["Bad"]
)

// maxNesting bounds bracket depth. The parser recurses per bracket, and a
// hostile input of a million "(" must be an error, not a stack overflow
// (which Go cannot recover from).
const maxNesting = 200

// offError is an error at a byte offset of the text being scanned; the
// caller maps the offset to a Pos (which differs inside filter strings).
type offError struct {
	Off  int
	Msg  string
	Open *int // offset of an unclosed bracket the message refers to
}

// sliceLexer feeds prepared tokens to participle.
type sliceLexer struct {
	toks []lexer.Token
	i    int
}

func (l *sliceLexer) Next() (lexer.Token, error) {
	if l.i >= len(l.toks) {
		return l.toks[len(l.toks)-1], nil // the EOF token
	}
	t := l.toks[l.i]
	l.i++
	return t, nil
}

// scan lexes text into the significant tokens the grammar sees, ending with
// EOF. It drops blanks and comments and decides which newlines end a
// statement (exprMode: none do). On a lexical error the stream is cut there
// (EOF at the error) and the error is returned too, so that the caller can
// still prefer an earlier syntax error.
//
// A newline ends a statement, as in Go, only after a token that can end an
// operand (name, literal, ")" or "]"), outside brackets, and unless the next
// line starts with "." or "->" (a chain continued on the next line).
func scan(text string, exprMode bool) ([]lexer.Token, *offError) {
	l, _ := lexDef.LexString("", text) // never fails: LexString only records its input
	var (
		out     []lexer.Token
		open    []lexer.Token // unclosed "(" and "["
		pending = -1          // offset of the first newline since the last token
	)
	cut := func(off int, format string, args ...any) ([]lexer.Token, *offError) {
		out = append(out, lexer.EOFToken(lexer.Position{Offset: off}))
		return out, &offError{Off: off, Msg: fmt.Sprintf(format, args...)}
	}
	for {
		t, err := l.Next()
		if err != nil { // unreachable with the catch-all Bad rule; be safe
			return cut(len(text), "%v", err)
		}
		if t.EOF() {
			break
		}
		off := t.Pos.Offset
		switch t.Type {
		case tWhitespace, tLineComment:
			continue
		case tNewline:
			if pending < 0 {
				pending = off
			}
			continue
		case tBlockComment:
			// A comment spanning lines separates statements like a newline.
			if i := strings.IndexByte(t.Value, '\n'); i >= 0 && pending < 0 {
				pending = off + i
			}
			continue
		case tBadComment:
			return cut(off, "unterminated comment: missing */")
		case tBadString:
			return cut(off, "unterminated string")
		case tBadRawString:
			return cut(off, "unterminated raw string: missing `")
		case tBadChar:
			return cut(off, "unterminated character literal")
		case tFloat:
			return cut(off, "floating-point numbers are not supported: %s", t.Value)
		case tBad:
			return cut(off, "unexpected character %s", describeChar(t.Value))
		case tNumber:
			if _, err := parseInt(t.Value); err != nil {
				return cut(off, "%s", err.Error())
			}
		case tString, tRawString:
			if _, k, err := unquoteString(t.Value); err != nil {
				return cut(off+k, "%s", err.Error())
			}
		case tChar:
			if _, err := unquoteChar(t.Value); err != nil {
				return cut(off, "%s", err.Error())
			}
		}
		if pending >= 0 && !exprMode && len(open) == 0 && len(out) > 0 && newlineEnds(out[len(out)-1], &t) {
			out = append(out, lexer.Token{Type: tSep, Value: "\n", Pos: lexer.Position{Offset: pending}})
		}
		pending = -1
		if t.Type == tSep && !exprMode && (len(out) == 0 || out[len(out)-1].Type == tSep) {
			continue // blank statements
		}
		if t.Type == tOp {
			switch t.Value {
			case "(", "[", "{":
				if len(open) >= maxNesting {
					return cut(off, "expression nested too deeply (more than %d brackets)", maxNesting)
				}
				open = append(open, t)
			case ")", "]", "}":
				if len(open) > 0 {
					open = open[:len(open)-1]
				}
			case ",":
				// The grammar allows a trailing comma, which needs a lenient
				// rule; catch "f(a,,b)" here.
				if len(out) > 0 && out[len(out)-1].Type == tOp && out[len(out)-1].Value == "," {
					return cut(off, `unexpected ","; expected an expression`)
				}
			}
		}
		out = append(out, t)
	}
	// A final separator after a complete statement is dropped; after an
	// operator it stays, so that the error names it.
	if n := len(out); !exprMode && n > 0 && out[n-1].Type == tSep && (n == 1 || endsOperand(out[n-2])) {
		out = out[:n-1]
	}
	// "Unexpected end of input" reads best right after the last token, not
	// past trailing blank lines and comments.
	end := 0
	if n := len(out); n > 0 {
		end = out[n-1].Pos.Offset + len(out[n-1].Value)
	}
	out = append(out, lexer.EOFToken(lexer.Position{Offset: end}))
	return out, nil
}

// newlineEnds is Go's rule for a newline between prev and next outside
// brackets: it ends the statement after a token that can end an operand,
// unless the next line starts with "." or "->" (a chain continued on the
// next line). next is nil at the end of the input.
func newlineEnds(prev lexer.Token, next *lexer.Token) bool {
	return endsOperand(prev) && (next == nil || next.Value != "." && next.Value != "->")
}

// endsOperand reports whether t can be the last token of an operand, which
// is what makes a following newline end the statement.
func endsOperand(t lexer.Token) bool {
	switch t.Type {
	case tIdent, tNumber, tString, tRawString, tChar:
		return true
	case tOp:
		return t.Value == ")" || t.Value == "]" || t.Value == "}"
	}
	return false
}

func describeChar(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte %#02x (invalid UTF-8)", s[0])
	}
	return fmt.Sprintf("%s (U+%04X)", strconv.QuoteRune(r), r)
}

// describe names a token the way error messages quote it.
func describe(t lexer.Token) string {
	switch t.Type {
	case lexer.EOF:
		return "end of input"
	case tSep:
		if t.Value == "\n" {
			return "newline"
		}
		return `";"`
	case tIdent:
		return "name " + t.Value
	case tNumber, tChar, tString, tRawString:
		v := t.Value
		if utf8.RuneCountInString(v) > 24 {
			v = string([]rune(v)[:20]) + "…"
		}
		return "literal " + strings.ReplaceAll(v, "\n", `\n`) // raw strings may span lines
	}
	return strconv.Quote(t.Value)
}

// parseInt reads a Go integer literal: decimal, 0x, 0o, 0b, legacy 0777
// octal, with _ separators.
func parseInt(text string) (uint64, error) {
	v, err := strconv.ParseUint(text, 0, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("integer literal %s overflows 64 bits", text)
		}
		return 0, fmt.Errorf("invalid integer literal %s", text)
	}
	return v, nil
}

// unquoteString unquotes a "..." or `...` literal. On error it also returns
// the byte offset within the literal of the bad escape, for the caret.
func unquoteString(lit string) (string, int, error) {
	v, err := strconv.Unquote(lit)
	if err == nil {
		return v, 0, nil
	}
	// Walk the escapes to find the one that failed.
	s := lit[1 : len(lit)-1]
	for len(s) > 0 {
		k := len(lit) - 1 - len(s)
		_, _, tail, err := strconv.UnquoteChar(s, '"')
		if err != nil {
			return "", k, fmt.Errorf("invalid escape sequence in string")
		}
		s = tail
	}
	return "", 0, fmt.Errorf("invalid string literal")
}

// unquoteChar reads a 'x' literal as the value of its one character.
func unquoteChar(lit string) (uint64, error) {
	s := lit[1 : len(lit)-1]
	if s == "" {
		return 0, fmt.Errorf("empty character literal")
	}
	r, _, tail, err := strconv.UnquoteChar(s, '\'')
	if err != nil {
		return 0, fmt.Errorf("invalid character literal %s", lit)
	}
	if tail != "" {
		return 0, fmt.Errorf("character literal %s holds more than one character", lit)
	}
	return uint64(r), nil
}
