package dsl

import (
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// Partial is what the lexer finds in an input that may be unfinished: a
// line typed into the REPL so far, perhaps up to the cursor. It answers
// whether the input goes on on the next line, where its statements end,
// and what is open where it stops, with the lexer's own tokens and
// newline rule.
type Partial struct {
	// Opens are the offsets of the brackets still open at the end.
	Opens []int
	// String is the offset just past the opening quote of a string, raw
	// string or character literal left open at the end; -1 if none is.
	String int
	// Raw: the literal left open is a `raw` string (which may span lines).
	Raw bool
	// Comment: the input ends inside a comment, which starts at
	// CommentStart (else -1); Block: an unclosed /*.
	Comment, Block bool
	CommentStart   int
	// Ends are the offsets of the separators that end statements, in
	// order: each ";" and each newline that ends a statement, outside
	// brackets. A newline at the very end after a complete operand counts.
	Ends []int
	// Last is the last token outside blanks and comments; "" if none.
	Last string
	// lastOp: Last is an operator or punctuation.
	lastOp bool
	// broken: a "…" left open before the last line; the parser reports it.
	broken bool
}

// ScanPartial lexes text, which may stop anywhere, as Parse would.
func ScanPartial(text string) Partial {
	p := Partial{String: -1, CommentStart: -1}
	l, _ := lexDef.LexString("", text) // never fails: LexString only records its input
	var prev *lexer.Token
	pending := -1 // offset of the first newline since the last token
	for {
		t, err := l.Next()
		if err != nil || t.EOF() {
			break
		}
		off := t.Pos.Offset
		switch t.Type {
		case tWhitespace:
			continue
		case tLineComment:
			if off+len(t.Value) == len(text) {
				p.Comment, p.CommentStart = true, off
			}
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
			p.Comment, p.Block, p.CommentStart = true, true, off
			return p
		}
		if pending >= 0 && len(p.Opens) == 0 && prev != nil && newlineEnds(*prev, &t) {
			p.Ends = append(p.Ends, pending)
		}
		pending = -1
		switch t.Type {
		case tBadString, tBadChar, tBadRawString:
			// An opening quote without its closing one. A "…" or '…' ends
			// at the end of its line: left open on an earlier line, it is
			// an error for the parser to report, and nothing is open.
			if t.Type == tBadRawString || !strings.Contains(text[off:], "\n") {
				p.String, p.Raw = off+1, t.Type == tBadRawString
			} else {
				p.broken = true
			}
			p.Last, p.lastOp = t.Value, false
			return p
		case tSep:
			if len(p.Opens) == 0 {
				p.Ends = append(p.Ends, off)
			}
		case tOp:
			switch t.Value {
			case "(", "[", "{":
				p.Opens = append(p.Opens, off)
			case ")", "]", "}":
				if len(p.Opens) > 0 {
					p.Opens = p.Opens[:len(p.Opens)-1]
				}
			}
		}
		tok := t
		prev = &tok
		p.Last, p.lastOp = t.Value, t.Type == tOp || t.Type == tSep
	}
	if pending >= 0 && len(p.Opens) == 0 && prev != nil && newlineEnds(*prev, nil) {
		p.Ends = append(p.Ends, pending)
	}
	return p
}

// StatementStart is the offset where the last statement of the input
// starts: just past the last separator, or 0.
func (p Partial) StatementStart() int {
	if n := len(p.Ends); n > 0 {
		return p.Ends[n-1] + 1
	}
	return 0
}

// NeedsMore reports an input that goes on on the next line: a bracket,
// a raw string or a /* comment is open, or the last token is an operator
// or "." that wants an operand after it. An unfinished "string" does not
// go on: the parser says it is unfinished.
func (p Partial) NeedsMore() bool {
	if p.broken || p.String >= 0 && !p.Raw {
		return false
	}
	if len(p.Opens) > 0 || p.Raw || p.Block {
		return true
	}
	return p.lastOp && p.Last != ")" && p.Last != "]" && p.Last != "}" && p.Last != ";"
}

// Identifiers returns the names text uses: identifiers outside comments
// and literals, except those after "." or "->" (fields and stages), and
// those in a string given to filter, which is parsed as an expression.
func Identifiers(text string) map[string]bool {
	ids := map[string]bool{}
	identifiers(text, ids, 0)
	return ids
}

func identifiers(text string, ids map[string]bool, depth int) {
	l, _ := lexDef.LexString("", text)
	var prev, prev2 lexer.Token
	for {
		t, err := l.Next()
		if err != nil || t.EOF() {
			return
		}
		switch t.Type {
		case tWhitespace, tNewline, tLineComment, tBlockComment:
			continue
		case tIdent:
			if prev.Value != "." && prev.Value != "->" {
				ids[t.Value] = true
			}
		case tString, tRawString:
			if prev.Value == "(" && prev2.Type == tIdent && prev2.Value == "filter" && depth == 0 {
				if s, _, err := unquoteString(t.Value); err == nil {
					identifiers(s, ids, depth+1)
				}
			}
		}
		prev2, prev = prev, t
	}
}
