package dsl

import (
	"maps"
	"slices"
	"testing"
)

func TestNeedsMore(t *testing.T) {
	for text, want := range map[string]bool{
		`tracepoint("a:b").count()`:                       false,
		`tracepoint("a:b").`:                              true,
		`tracepoint("a:b")`:                               false,
		`tracepoint("a:b").filter(`:                       true,
		`tracepoint("a:b").filter(pid == 1 &&`:            true,
		`tracepoint("a:b").print("(%d", pid)`:             false,
		`tracepoint("a:b").print("%d", pid) // (`:         false,
		"tracepoint(\"a:b\").filter(\n  pid == 1)":        false,
		"tracepoint(\"a:b\").filter(pid == 1 && // one\n": true,
		"tracepoint(\"a:b\")->":                           true,
		"n := `a":                                         true,
		"n := `a\nb`":                                     false,
		"/* a":                                            true,
		"/* a */":                                         false,
		`n :=`:                                            true,
		`n := 1;`:                                         false,
		`f(a,`:                                            true,
		`tracepoint("a:b`:                                 false, // the parser reports it
		"f(\"a\n":                                         false, // an unfinished string on an earlier line
		`x := 'a`:                                         false,
		``:                                                false,
		"\n\n":                                            false,
		`states := []string{"a",`:                         true,
		`states := []string{"a"}`:                         false,
		`begin().with(p := `:                              true,
		`begin().print("%s", comm[:`:                      true,
	} {
		if got := ScanPartial(text).NeedsMore(); got != want {
			t.Errorf("NeedsMore(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestScanPartial(t *testing.T) {
	tests := []struct {
		text           string
		opens, ends    []int
		str            int
		raw            bool
		comment, block bool
		stmt           int
		commentAt      int
	}{
		{text: `a := 1; b := 2`, ends: []int{6}, str: -1, stmt: 7},
		{text: "a := 1\nb := 2\n", ends: []int{6, 13}, str: -1, stmt: 14},
		// A line starting with "." or "->" continues the chain.
		{text: "tracepoint(\"a:b\")\n  .count()\nx", ends: []int{28}, str: -1, stmt: 29},
		{text: "tracepoint(\"a:b\")\n  ->count()", str: -1},
		// No statement ends inside brackets, or after an operator.
		{text: "f(a,\n b", opens: []int{1}, str: -1},
		{text: "a +\nb", str: -1},
		// A comment spanning lines separates statements.
		{text: "a /* x\n */ b", ends: []int{6}, str: -1, stmt: 7},
		{text: "a // x", str: -1, comment: true, commentAt: 2},
		{text: "a // x\nb", ends: []int{6}, str: -1, stmt: 7},
		{text: "a /* x", str: -1, comment: true, block: true, commentAt: 2},
		{text: `f("sys`, opens: []int{1}, str: 3},
		{text: "n := `ab\nc", str: 6, raw: true},
		{text: "x := 1\ntracepoint(\"sy", ends: []int{6}, opens: []int{17}, str: 19, stmt: 7},
	}
	for _, tt := range tests {
		if !tt.comment {
			tt.commentAt = -1
		}
		p := ScanPartial(tt.text)
		if !slices.Equal(p.Opens, tt.opens) || !slices.Equal(p.Ends, tt.ends) || p.String != tt.str || p.Raw != tt.raw ||
			p.Comment != tt.comment || p.Block != tt.block || p.StatementStart() != tt.stmt || p.CommentStart != tt.commentAt {
			t.Errorf("ScanPartial(%q) = %+v, start %d; want opens %v ends %v string %d raw %v comment %v block %v start %d",
				tt.text, p, p.StatementStart(), tt.opens, tt.ends, tt.str, tt.raw, tt.comment, tt.block, tt.stmt)
		}
	}
}

func TestIdentifiers(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{`reads.filter(pid != m).count()`, []string{"m", "pid", "reads"}},
		{`x := a > limit`, []string{"a", "limit", "x"}},
		{`tracepoint("a:b").filter(args->flags & mask)`, []string{"args", "mask", "tracepoint"}},
		{"f(\"name\") // g\n/* h */ 'c' `raw`", []string{"f"}},
		// A string given to filter is an expression.
		{`tracepoint("a:b").filter("comm == who && args->x > lim")`, []string{"args", "comm", "lim", "tracepoint", "who"}},
		{`tracepoint("a:b").print("comm == who")`, []string{"tracepoint"}},
	}
	for _, tt := range tests {
		got := slices.Sorted(maps.Keys(Identifiers(tt.text)))
		if !slices.Equal(got, tt.want) {
			t.Errorf("Identifiers(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// FuzzScanPartial: no input makes the partial scan panic, and its offsets
// are inside the input.
func FuzzScanPartial(f *testing.F) {
	for _, s := range []string{"a := 1\nb", "f(\"x", "`a", "/* a", "x.\n.y", "f(a,\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := ScanPartial(s)
		for _, o := range append(append([]int{}, p.Opens...), p.Ends...) {
			if o < 0 || o >= len(s) {
				t.Fatalf("offset %d outside %q: %+v", o, s, p)
			}
		}
		if p.String > len(s) || p.StatementStart() > len(s) {
			t.Fatalf("offsets outside %q: %+v", s, p)
		}
		p.NeedsMore()
		Identifiers(s)
	})
}
