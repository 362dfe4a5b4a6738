package sink

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// sortedRows returns the rows to print, in bpftrace's order: ascending by
// value (by average for avg and stats, by total count for histograms),
// ties broken by key, and only the last Top rows when Top > 0. A keyless
// scalar aggregation without rows gets a zero row, as bpftrace prints
// `@count: 0` for it.
func sortedRows(a *Snapshot) []*Row {
	if len(a.KeyNames) == 0 && len(a.Rows) == 0 && !a.Kind.Histogram() {
		return []*Row{{}}
	}
	rows := make([]*Row, len(a.Rows))
	for i := range a.Rows {
		rows[i] = &a.Rows[i]
	}
	slices.SortStableFunc(rows, func(x, y *Row) int {
		if c := cmp.Compare(a.Kind.Order(&x.Value), a.Kind.Order(&y.Value)); c != 0 {
			return c
		}
		return compareKeys(x.Key, y.Key)
	})
	if a.Top > 0 && len(rows) > a.Top {
		rows = rows[len(rows)-a.Top:]
	}
	return rows
}

// compareKeys orders two keys component by component.
func compareKeys(x, y []Value) int {
	for i := range min(len(x), len(y)) {
		if c := compareValues(x[i], y[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(x), len(y))
}

// compareValues orders integers numerically, strings and stacks
// lexicographically, and anything else by its text. Integers sort before
// strings, strings before stacks, stacks before other types.
func compareValues(x, y Value) int {
	rx, ry := valueRank(x), valueRank(y)
	if rx != ry {
		return cmp.Compare(rx, ry)
	}
	switch rx {
	case 0:
		return compareInts(x, y)
	case 1:
		return strings.Compare(x.(string), y.(string))
	case 2:
		return slices.Compare(x.(Stack).PCs, y.(Stack).PCs)
	}
	return strings.Compare(fmt.Sprint(x), fmt.Sprint(y))
}

func valueRank(v Value) int {
	switch v.(type) {
	case int64, uint64, int, int32, int16, int8, uint, uint32, uint16, uint8:
		return 0
	case string:
		return 1
	case Stack:
		return 2
	}
	return 3
}

// compareInts compares two integers of any of the types valueRank accepts.
func compareInts(x, y Value) int {
	xs, xneg, xu := intParts(x)
	ys, yneg, yu := intParts(y)
	switch {
	case xneg && yneg:
		return cmp.Compare(xs, ys)
	case xneg:
		return -1
	case yneg:
		return 1
	}
	return cmp.Compare(xu, yu)
}

// intParts returns v as an int64 with a negative flag, or as a uint64
// when it is not negative.
func intParts(v Value) (s int64, neg bool, u uint64) {
	switch v := v.(type) {
	case int64:
		s = v
	case int:
		s = int64(v)
	case int32:
		s = int64(v)
	case int16:
		s = int64(v)
	case int8:
		s = int64(v)
	case uint64:
		return 0, false, v
	case uint:
		return 0, false, uint64(v)
	case uint32:
		return 0, false, uint64(v)
	case uint16:
		return 0, false, uint64(v)
	case uint8:
		return 0, false, uint64(v)
	}
	if s < 0 {
		return s, true, 0
	}
	return s, false, uint64(s)
}

// stackIndent is the indentation bpftrace gives stack frames inside a map
// key (BPFtrace::get_stack is called with indent 8).
const stackIndent = "        "

// keyText formats one key component as bpftrace prints it inside `@m[...]`:
// integers in decimal, strings unquoted, stacks as a newline followed by one
// indented line per frame.
func keyText(v Value, r Resolver) string {
	switch v := v.(type) {
	case string:
		return string(escapeText(nil, []byte(v)))
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprint(show(v, r))
}

// keysText formats a whole key as bpftrace prints a tuple key: the
// components separated by ", " without parentheses.
func keysText(key []Value, r Resolver) string {
	parts := make([]string, len(key))
	for i, v := range key {
		parts[i] = keyText(v, r)
	}
	return strings.Join(parts, ", ")
}

// show turns a data value into what fmt prints for it: a stack as one
// frame a line, a symbol as its name, hex() as 0x….
func show(v Value, r Resolver) any {
	switch v := v.(type) {
	case Stack:
		var b strings.Builder
		b.WriteByte('\n')
		if r != nil {
			for _, f := range r.Frames(v) {
				b.WriteString(stackIndent)
				b.WriteString(f)
				b.WriteByte('\n')
			}
		}
		return b.String()
	case Symbol:
		if r == nil {
			return fmt.Sprintf("0x%x", v.Addr)
		}
		return r.Name(v)
	case Hex:
		return hexInt(v)
	}
	return v
}

// hexInt is an int the program wrapped in hex(): %v and %s show it as 0x…,
// other verbs format the number as they would.
type hexInt uint64

func (h hexInt) Format(f fmt.State, verb rune) {
	if verb == 'v' || verb == 's' {
		fmt.Fprintf(f, "0x%x", uint64(h))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), uint64(h))
}
