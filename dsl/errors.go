package dsl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ebpftrace/ebpftrace/internal/match"
)

// Source is the text a program came from, kept so that errors can show the line.
type Source struct {
	Name string // file name, or "<input>" for -e
	Text string
}

// Line returns the 1-based line n of the source without its newline.
func (s *Source) Line(n int) string {
	if s == nil || n < 1 {
		return ""
	}
	lines := strings.Split(s.Text, "\n")
	if n > len(lines) {
		return ""
	}
	return strings.TrimRight(lines[n-1], "\r")
}

// Error is an error a user caused, tied to a place in the source.
type Error struct {
	Pos    Pos
	Msg    string
	Hint   string // e.g. "did you mean comm?"; printed after the caret
	Detail string // further text, e.g. the verifier's own words; printed last
	Source *Source
}

// Errorf makes an Error at pos.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Render formats the error the way users see it:
//
//	file:1:12: unknown stage "cout"
//	    tracepoint("a:b").cout()
//	                      ^
//	did you mean count?
func (e *Error) Render() string {
	var b strings.Builder
	b.WriteString(e.Pos.String() + ": " + e.Msg + "\n")
	if line := e.Source.Line(e.Pos.Line); line != "" || e.Pos.Line > 0 {
		b.WriteString("    " + expandTabs(line) + "\n")
		b.WriteString("    " + strings.Repeat(" ", caretCol(line, e.Pos.Col)) + "^\n")
	}
	if e.Hint != "" {
		b.WriteString(e.Hint + "\n")
	}
	if e.Detail != "" {
		b.WriteString(strings.TrimRight(e.Detail, "\n") + "\n")
	}
	return b.String()
}

// expandTabs keeps the caret under the right character when lines hold tabs.
func expandTabs(s string) string { return strings.ReplaceAll(s, "\t", "    ") }

// caretCol turns a 1-based byte column into the display column of expandTabs.
func caretCol(line string, col int) int {
	n := 0
	for i, r := range line {
		if i >= col-1 {
			break
		}
		if r == '\t' {
			n += 4
		} else {
			n++
		}
	}
	if col-1 > len(line) {
		n += col - 1 - len(line)
	}
	return n
}

// Render renders any error: a *Error (or a list of them) with its line and
// caret, anything else as its message.
func Render(err error, src *Source) string {
	var el ErrorList
	if errors.As(err, &el) {
		var b strings.Builder
		for _, e := range el {
			if e.Source == nil {
				e.Source = src
			}
			b.WriteString(e.Render())
		}
		return b.String()
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Source == nil {
			e.Source = src
		}
		return e.Render()
	}
	return "error: " + err.Error() + "\n"
}

// ErrorList is several errors found in one pass.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Suggest returns the candidates nearest to name, best first, at most
// three, and only those close enough to be a likely typo (match.Nearest:
// edit distance, or name qualified by a package or category).
func Suggest(name string, candidates []string) []string {
	return match.Nearest(name, candidates, 3)
}

// DidYouMean formats suggestions as a hint, or "" when there are none.
func DidYouMean(name string, candidates []string) string {
	s := Suggest(name, candidates)
	if len(s) == 0 {
		return ""
	}
	return "did you mean " + strings.Join(s, ", ") + "?"
}
