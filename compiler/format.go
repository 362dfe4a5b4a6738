package compiler

import (
	"strings"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// checkFormat checks a print format against its arguments and returns it as
// a Go format. Verbs are Go's (%d %s %x %X %o %b %c %q %v %%, with flags,
// width and precision); C habits from bpftrace scripts are accepted too:
// length modifiers (%ld, %llu, %zu) are dropped and %u and %i mean %d.
func checkFormat(fs *dsl.StringLit, args []dsl.Expr, types []*Type) (string, error) {
	f, _, err := checkFormatU(fs, args, types)
	return f, err
}

// checkFormatU is checkFormat that also reports which arguments %u
// shows as unsigned.
func checkFormatU(fs *dsl.StringLit, args []dsl.Expr, types []*Type) (string, map[int]bool, error) {
	unsigned := map[int]bool{}
	s := fs.Value
	var out strings.Builder
	n := 0
	posAt := func(i int) dsl.Pos {
		p := fs.Pos
		if !fs.Raw && !strings.ContainsRune(s, '\\') {
			p.Col += 1 + i
			p.Offset += 1 + i
		}
		return p
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			out.WriteByte(c)
			continue
		}
		start := i
		i++
		out.WriteByte('%')
		for i < len(s) && strings.IndexByte("+-# 0", s[i]) >= 0 {
			out.WriteByte(s[i])
			i++
		}
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			out.WriteByte(s[i])
			i++
		}
		for i < len(s) && strings.IndexByte("hlLjzt", s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return "", nil, dsl.Errorf(posAt(start), "format ends inside a verb %q", s[start:])
		}
		verb := s[i]
		if verb == 'u' && n < len(args) && types[n].Kind == TInt && types[n].Signed && types[n].Show == "" {
			// C's %u shows a signed value's bits as unsigned: %u of
			// int32 -1 is 4294967295.
			unsigned[n] = true
		}
		switch verb {
		case 'u', 'i':
			verb = 'd'
		case 'p':
			verb = 'x'
			out.WriteString("#")
		}
		if verb == '%' {
			out.WriteByte('%')
			continue
		}
		if n >= len(args) {
			return "", nil, dsl.Errorf(posAt(start), "verb %s has no argument", s[start:i+1])
		}
		t := types[n]
		var ok bool
		switch verb {
		case 'd', 'x', 'X', 'o', 'b', 'c':
			ok = t.isScalar() && !t.shownAsText()
		case 's', 'q':
			ok = t.Kind == TString || t.Hex || t.Kind == TStack || t.Show != ""
		case 'v':
			ok = true
		default:
			return "", nil, dsl.Errorf(posAt(start), "unknown verb %s (use %%d %%s %%x %%v %%q %%c)", s[start:i+1])
		}
		if !ok {
			return "", nil, dsl.Errorf(args[n].Position(), "%s is %s, which %%%c cannot print", dsl.ExprString(args[n]), t, verb)
		}
		out.WriteByte(verb)
		n++
	}
	if n < len(args) {
		return "", nil, dsl.Errorf(args[n].Position(), "the format has %d verbs but print has %d arguments after it", n, len(args))
	}
	return out.String(), unsigned, nil
}
