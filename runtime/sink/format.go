package sink

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// A plan is how the records of one event layout are written, worked out
// once: the print format parsed into literal text and field verbs. The
// common verbs on numbers and strings are written straight from the
// record's bytes, without fmt and without allocating; anything else
// (stacks, symbols, addresses, rare flags) goes through the Resolver and fmt.
type plan struct {
	ops []op
	// newline: the format does not end in one, so the line gets one.
	newline bool
}

// op is literal text, then (when field >= 0) one field by one verb.
type op struct {
	lit   string
	field int
	verb  byte
	minus bool // '-': pad on the right
	zero  bool // '0': pad numbers with zeros
	sharp bool // '#': 0x for %x
	sign  bool // '+' or ' ': left to fmt
	width int  // -1: none
	spec  string
	// fast: written by hand; otherwise fmt.Appendf(spec, value).
	fast bool
}

// newPlan parses a Go format of the verbs the compiler lets through
// (compiler/format.go) for the fields of ev.
func newPlan(ev *compiler.Event) *plan {
	p := &plan{}
	f := ev.Format
	var lit []byte
	n := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			lit = append(lit, f[i])
			continue
		}
		if i+1 < len(f) && f[i+1] == '%' {
			lit = append(lit, '%')
			i++
			continue
		}
		o := op{field: n, width: -1}
		start := i
		i++
		for ; i < len(f) && (f[i] == '-' || f[i] == '+' || f[i] == '#' || f[i] == ' ' || f[i] == '0'); i++ {
			switch f[i] {
			case '-':
				o.minus = true
			case '0':
				o.zero = true
			case '#':
				o.sharp = true
			case '+', ' ':
				o.sign = true
			}
		}
		precision := false
		for ; i < len(f) && (f[i] >= '0' && f[i] <= '9' || f[i] == '.'); i++ {
			if f[i] == '.' {
				precision = true
			} else if !precision {
				o.width = max(o.width, 0)*10 + int(f[i]-'0')
			}
		}
		if i >= len(f) || n >= len(ev.Fields) {
			break
		}
		o.verb = f[i]
		o.spec = f[start : i+1]
		o.lit = string(lit)
		lit = lit[:0]
		o.fast = !precision && fastVerb(ev.Fields[n], o)
		p.ops = append(p.ops, o)
		n++
	}
	p.ops = append(p.ops, op{lit: string(lit), field: -1})
	p.newline = len(f) == 0 || f[len(f)-1] != '\n'
	return p
}

// fastVerb reports whether o on field fl is written by hand: numbers as
// %d %v %x %X %c, strings as %s %v.
func fastVerb(fl compiler.Field, o op) bool {
	if fl.Show != "" || fl.Hex || fl.Time || o.sign || (o.zero && o.minus) {
		return false
	}
	switch fl.Kind {
	case compiler.FieldInt:
		return o.verb == 'd' || o.verb == 'v' || o.verb == 'c' || (o.verb == 'x' || o.verb == 'X') && !fl.Signed
	case compiler.FieldString:
		return (o.verb == 's' || o.verb == 'v') && !o.zero
	}
	return false
}

// appendText writes one event by the plan. Strings from the traced
// system are escaped (escape is false only for JSON's exact "text").
func (p *plan) appendText(b []byte, e *Event, escape bool) []byte {
	for _, o := range p.ops {
		b = append(b, o.lit...)
		if o.field < 0 {
			continue
		}
		fl := e.Layout.Fields[o.field]
		if !o.fast {
			v := show(e.R.Field(e.Raw, fl), e.R)
			start := len(b)
			b = fmt.Appendf(b, o.spec, v)
			if escape {
				b = append(b[:start], escapeText(nil, b[start:])...)
			}
			continue
		}
		start := len(b)
		raw := e.Raw[fl.Offset : fl.Offset+fl.Size]
		if fl.Kind == compiler.FieldString {
			s := cString(raw)
			if escape {
				b = escapeText(b, s)
			} else {
				b = append(b, s...)
			}
			b = pad(b, start, o, utf8.RuneCount(b[start:]))
			continue
		}
		u := binary.LittleEndian.Uint64(raw)
		switch {
		case o.verb == 'c':
			b = utf8.AppendRune(b, rune(u))
		case o.verb == 'x' || o.verb == 'X':
			if o.sharp {
				b = append(b, '0', o.verb)
			}
			digits := len(b)
			b = strconv.AppendUint(b, u, 16)
			if o.verb == 'X' {
				for i := digits; i < len(b); i++ {
					if b[i] >= 'a' {
						b[i] -= 'a' - 'A'
					}
				}
			}
		case fl.Signed:
			b = strconv.AppendInt(b, int64(u), 10)
		default:
			b = strconv.AppendUint(b, u, 10)
		}
		b = pad(b, start, o, len(b)-start)
	}
	if p.newline {
		b = append(b, '\n')
	}
	return b
}

// pad widens what was written since start (n characters) to o.width.
func pad(b []byte, start int, o op, n int) []byte {
	if o.width <= n {
		return b
	}
	fill := o.width - n
	if o.minus {
		for range fill {
			b = append(b, ' ')
		}
		return b
	}
	c := byte(' ')
	at := start
	if o.zero { // only numbers are written by hand with '0'
		c = '0'
		if b[start] == '-' {
			at++ // zeros go after the sign
		}
	}
	for range fill {
		b = append(b, 0)
	}
	copy(b[at+fill:], b[at:len(b)-fill])
	for i := at; i < at+fill; i++ {
		b[i] = c
	}
	return b
}

// cString is the bytes of a NUL-terminated string field.
func cString(raw []byte) []byte {
	for i, c := range raw {
		if c == 0 {
			return raw[:i]
		}
	}
	return raw
}

// escapeText appends s with what could forge a line or drive a terminal
// shown as Go escapes: control characters (C0, DEL, C1) and bytes that are
// not UTF-8. A process names itself (comm) and writes the strings a probe
// reads, so none of that may reach the terminal raw.
func escapeText(b, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b = append(b, c)
			i++
			continue
		}
		r, n := rune(c), 1
		if c >= 0x80 {
			r, n = utf8.DecodeRune(s[i:])
		}
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\x`...)
			b = append(b, hexDigits[c>>4], hexDigits[c&15])
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r < 0x20 || r == 0x7f:
			b = append(b, `\x`...)
			b = append(b, hexDigits[r>>4], hexDigits[r&15])
		case r >= 0x80 && r < 0xa0:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[r>>4], hexDigits[r&15])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

const hexDigits = "0123456789abcdef"

// defaultLine writes print()'s line: time probe pid=… comm=… { field=… }.
func defaultLine(b []byte, e *Event) []byte {
	inArgs := false
	for _, fl := range e.Layout.Fields {
		name, isArg := fl.Name, false
		if len(name) > 5 && name[:5] == "args." {
			name, isArg = name[5:], true
		}
		if isArg && !inArgs {
			b = append(b, " {"...)
			inArgs = true
		}
		if fl.Time {
			t, _ := e.R.Field(e.Raw, fl).(time.Time)
			b = t.AppendFormat(b, "15:04:05.000000")
			b = append(b, ' ')
			b = append(b, e.Layout.Probe...)
			continue
		}
		b = append(b, ' ')
		b = append(b, name...)
		b = append(b, '=')
		raw := e.Raw[fl.Offset : fl.Offset+fl.Size]
		switch {
		case fl.Kind == compiler.FieldString && fl.Show == "" && isArg:
			b = strconv.AppendQuote(b, string(cString(raw)))
		case fl.Kind == compiler.FieldString && fl.Show == "":
			b = escapeText(b, cString(raw))
		case fl.Kind == compiler.FieldInt && fl.Show == "" && !fl.Hex && fl.Signed:
			b = strconv.AppendInt(b, int64(binary.LittleEndian.Uint64(raw)), 10)
		case fl.Kind == compiler.FieldInt && fl.Show == "" && !fl.Hex:
			b = strconv.AppendUint(b, binary.LittleEndian.Uint64(raw), 10)
		default:
			b = fmt.Append(b, show(e.R.Field(e.Raw, fl), e.R))
		}
	}
	if inArgs {
		b = append(b, " }"...)
	}
	return append(b, '\n')
}
