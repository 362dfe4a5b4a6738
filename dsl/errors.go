package dsl

import (
	"errors"
	"fmt"
	"sort"
	"strings"
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

// Suggest returns the candidates nearest to name (edit distance), best
// first, at most three, and only those close enough to be a likely typo.
func Suggest(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	var out []scored
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] || c == name {
			continue
		}
		seen[c] = true
		d := levenshtein(strings.ToLower(name), strings.ToLower(c))
		limit := len(name)/3 + 1
		if strings.Contains(c, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d <= limit {
			out = append(out, scored{c, d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].d != out[j].d {
			return out[i].d < out[j].d
		}
		return out[i].s < out[j].s
	})
	var res []string
	for i := 0; i < len(out) && i < 3; i++ {
		res = append(res, out[i].s)
	}
	return res
}

// DidYouMean formats suggestions as a hint, or "" when there are none.
func DidYouMean(name string, candidates []string) string {
	s := Suggest(name, candidates)
	if len(s) == 0 {
		return ""
	}
	return "did you mean " + strings.Join(s, ", ") + "?"
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
