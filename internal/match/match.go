// Package match holds the two name-matching rules that users meet
// everywhere in ebpftrace: glob patterns (tracepoints, kernel and user
// functions) and "did you mean" suggestions for a name that matched
// nothing. Keeping one implementation makes a pattern or a typo behave
// the same in every probe kind.
package match

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Glob reports whether s matches pattern, where '*' matches any run of
// characters (including none, and including '/', '.' and ':') and '?'
// matches exactly one character (a rune, not a byte). Every other
// character matches itself; there are no character classes or escapes,
// so "f[0]" matches only "f[0]". This is what the kernel's uprobe and
// tracepoint globs accept, minus classes.
func Glob(pattern, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0 // byte index of the last '*' and where its match ended
	for si < len(s) {
		if pi < len(pattern) {
			switch pc, pn := utf8.DecodeRuneInString(pattern[pi:]); pc {
			case '*':
				star, mark = pi, si
				pi++
				continue
			case '?':
				_, sn := utf8.DecodeRuneInString(s[si:])
				pi, si = pi+pn, si+sn
				continue
			default:
				// Compare bytes, not runes: invalid UTF-8 decodes to
				// the same replacement rune whatever the byte.
				if _, sn := utf8.DecodeRuneInString(s[si:]); pattern[pi:pi+pn] == s[si:si+sn] {
					pi, si = pi+pn, si+sn
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		// Let the last '*' swallow one more character and retry.
		_, n := utf8.DecodeRuneInString(s[mark:])
		mark += n
		pi, si = star+1, mark
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// HasWildcard reports whether pattern contains a glob wildcard ('*' or
// '?'), i.e. whether it can match more than the one name it spells.
func HasWildcard(pattern string) bool { return strings.ContainsAny(pattern, "*?") }

// Nearest returns at most n of candidates that name was likely meant to
// be, best first; none when nothing is close. The rules, in rank order:
//
//   - a candidate that is name qualified by a package, category or path
//     ("add" → "main.add", "sched_switch" → "sched:sched_switch"),
//     or name in another case, ranks first (distance 0);
//   - otherwise the Levenshtein distance between the lower-cased names,
//     counted in runes, must be at most len(name)/3+1; a candidate that
//     contains name (of 3 or more characters) counts as distance 1.
//
// Ties are broken alphabetically; duplicates and name itself are left
// out.
func Nearest(name string, candidates []string, n int) []string {
	type scored struct {
		s string
		d int
	}
	lname := strings.ToLower(name)
	limit := utf8.RuneCountInString(name)/3 + 1
	var out []scored
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := limit + 1
		switch {
		case qualifies(c, name):
			d = 0
		case len(name) >= 3 && strings.Contains(c, name):
			d = 1
		default:
			d = Distance(lname, strings.ToLower(c), limit)
		}
		if d <= limit {
			out = append(out, scored{c, d})
		}
	}
	slices.SortFunc(out, func(a, b scored) int { return cmp.Or(cmp.Compare(a.d, b.d), strings.Compare(a.s, b.s)) })
	out = slices.CompactFunc(out, func(a, b scored) bool { return a.s == b.s })
	var res []string
	for i := 0; i < len(out) && i < n; i++ {
		res = append(res, out[i].s)
	}
	return res
}

// qualifies reports whether c is name behind a qualifier: c ends with
// name and the character before it is '.', '/' or ':'.
func qualifies(c, name string) bool {
	if name == "" || len(c) <= len(name) || !strings.HasSuffix(c, name) {
		return strings.EqualFold(c, name)
	}
	switch c[len(c)-len(name)-1] {
	case '.', '/', ':':
		return true
	}
	return false
}

// Distance is the Levenshtein distance between a and b, counted in runes,
// or limit+1 as soon as it is known to exceed limit (a negative limit
// means no limit).
func Distance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if limit < 0 {
		limit = len(ra) + len(rb)
	}
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			c := prev[j-1]
			if ra[i-1] != rb[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
			rowMin = min(rowMin, c)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit+1)
}
