package match

import (
	"slices"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "sched:sched_switch", true},
		{"sched:*", "sched:sched_switch", true},
		{"sched:*", "syscalls:sys_enter_open", false},
		{"*switch", "sched:sched_switch", true},
		{"sys_enter_open?", "sys_enter_open", false},
		{"sys_enter_open?", "sys_enter_openx", true},
		{"sys_enter_open??", "sys_enter_openat", true},
		{"?", "é", true}, // one rune, two bytes
		{"é?", "éa", true},
		{"a*b*c", "a__b__b__c", true},
		{"a*b*c", "a__b__b__", false},
		{"a**", "a", true},
		{"**x", "x", true},
		{"*a*", "bbb", false},
		{"[a]", "a", false}, // no character classes
		{"[a]", "[a]", true},
		{"f[0]", "f[0]", true},
		{"main.*", "main.(*Counter).Inc", true},
		{"main.*", "runtime.main", false},
		{"net/http.*.ServeHTTP", "net/http.serverHandler.ServeHTTP", true},
		{"*.(*Transport).*", "net/http.(*Transport).roundTrip", true},
		{"main.add", "main.adder", false},
		{"ma?n.add", "main.add", true},
		{"*?", "", false},
	} {
		if got := Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"", "", 3, 0},
		{"abc", "abc", 3, 0},
		{"main.ad", "main.add", 3, 1},
		{"kitten", "sitting", 3, 3},
		{"kitten", "sitting", -1, 3},
		{"a", "abcdef", 3, 4}, // above the limit
		{"flaw", "lawn", 3, 2},
		{"héllo", "hello", 3, 1}, // runes, not bytes
	} {
		if got := Distance(tc.a, tc.b, tc.limit); got != tc.want {
			t.Errorf("Distance(%q, %q, %d) = %d, want %d", tc.a, tc.b, tc.limit, got, tc.want)
		}
	}
}

func TestNearest(t *testing.T) {
	funcs := []string{"main.add", "main.greet", "main.(*Counter).Inc", "runtime.addspecial", "crypto/x.addMul", "main.adder"}
	for _, tc := range []struct {
		name  string
		cands []string
		want  []string
	}{
		{"main.ad", funcs, []string{"main.add", "main.adder"}},
		{"main.gret", funcs, []string{"main.greet", "main.add", "main.adder"}},
		{"add", funcs, []string{"main.add", "crypto/x.addMul", "main.adder"}},
		{"main.(*Counter).inc", funcs, []string{"main.(*Counter).Inc"}},
		{"zzzzzzzzzzzzzzzzzzzzzz", funcs, nil},
		{"cout", []string{"count", "hist", "lhist", "sum", "count"}, []string{"count"}},
		{"sched_switch", []string{"sched:sched_switch", "sched:sched_wakeup"}, []string{"sched:sched_switch"}},
		{"pid", []string{"pid"}, nil},
	} {
		if got := Nearest(tc.name, tc.cands, 3); !slices.Equal(got, tc.want) {
			t.Errorf("Nearest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("*?*", "é")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := Glob(pattern, s)
		// A pattern without wildcards matches exactly itself.
		if !HasWildcard(pattern) && got != (pattern == s) {
			t.Errorf("Glob(%q, %q) = %v", pattern, s, got)
		}
		if Glob(s, s) != true && !strings.ContainsAny(s, "*?") {
			t.Errorf("Glob(%q, itself) = false", s)
		}
	})
}
