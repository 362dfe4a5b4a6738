package sink

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// validate checks that a can be printed.
func validate(a *Aggregation) error {
	if a == nil {
		return fmt.Errorf("sink: nil aggregation")
	}
	if a.Kind < Count || a.Kind > LHist {
		return fmt.Errorf("sink: @%s: unknown aggregation kind %d", a.Name, int(a.Kind))
	}
	if len(a.KeyNames) == 0 && len(a.Rows) > 1 {
		return fmt.Errorf("sink: @%s: keyless aggregation has %d rows", a.Name, len(a.Rows))
	}
	nb := 0
	switch a.Kind {
	case Hist:
		nb = HistBuckets
	case LHist:
		if err := a.LHist.Validate(); err != nil {
			return fmt.Errorf("sink: @%s: %w", a.Name, err)
		}
		nb = a.LHist.Buckets()
	}
	for i := range a.Rows {
		r := &a.Rows[i]
		if len(r.Key) != len(a.KeyNames) {
			return fmt.Errorf("sink: @%s: row %d has %d key values, want %d", a.Name, i, len(r.Key), len(a.KeyNames))
		}
		if len(r.Buckets) > nb {
			return fmt.Errorf("sink: @%s: row %d has %d buckets, want at most %d", a.Name, i, len(r.Buckets), nb)
		}
	}
	return nil
}

// avg returns Sum/Count truncated toward zero, as bpftrace's integer
// average, or 0 when Count is 0.
func (r *Row) avg() int64 {
	if r.Count == 0 {
		return 0
	}
	return r.Sum / r.Count
}

// minValue returns Min, or 0 when unset.
func (r *Row) minValue() int64 {
	if r.Count <= 0 {
		return 0
	}
	return r.Min
}

// maxValue returns Max, or 0 when unset.
func (r *Row) maxValue() int64 {
	if r.Count <= 0 {
		return 0
	}
	return r.Max
}

// value returns the single printed value of a count, sum, avg, min or max
// row (the average for stats).
func (r *Row) value(k Kind) int64 {
	switch k {
	case Count:
		return r.Count
	case Sum:
		return r.Sum
	case Min:
		return r.minValue()
	case Max:
		return r.maxValue()
	}
	return r.avg()
}

// total returns the sum of the histogram buckets.
func (r *Row) total() uint64 {
	var t uint64
	for _, c := range r.Buckets {
		t += c
	}
	return t
}

// sortedRows returns the rows to print, in bpftrace's order: ascending by
// value (by average for avg and stats, by total count for histograms),
// ties broken by key, and only the last Top rows when Top > 0. A keyless
// scalar aggregation without rows gets a zero row, as bpftrace prints
// `@count: 0` for it.
func sortedRows(a *Aggregation) []*Row {
	if len(a.KeyNames) == 0 && len(a.Rows) == 0 && a.Kind != Hist && a.Kind != LHist {
		return []*Row{{}}
	}
	rows := make([]*Row, len(a.Rows))
	for i := range a.Rows {
		rows[i] = &a.Rows[i]
	}
	hist := a.Kind == Hist || a.Kind == LHist
	slices.SortStableFunc(rows, func(x, y *Row) int {
		var c int
		if hist {
			c = cmp.Compare(x.total(), y.total())
		} else {
			c = cmp.Compare(x.value(a.Kind), y.value(a.Kind))
		}
		if c != 0 {
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
		return slices.Compare(stackFrames(x), stackFrames(y))
	}
	return strings.Compare(fmt.Sprint(x), fmt.Sprint(y))
}

func valueRank(v Value) int {
	switch v.(type) {
	case int64, uint64, int, int32, int16, int8, uint, uint32, uint16, uint8:
		return 0
	case string:
		return 1
	case Stack, *Stack:
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

// stackFrames returns the frames of a Stack or *Stack value.
func stackFrames(v Value) []string {
	switch v := v.(type) {
	case Stack:
		return v.Frames
	case *Stack:
		if v != nil {
			return v.Frames
		}
	}
	return nil
}

// stackIndent is the indentation bpftrace gives stack frames inside a map
// key (BPFtrace::get_stack is called with indent 8).
const stackIndent = "        "

// keyText formats one key component as bpftrace prints it inside `@m[...]`:
// integers in decimal, strings unquoted, stacks as a newline followed by one
// indented line per frame.
func keyText(v Value) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case Stack, *Stack:
		var b strings.Builder
		b.WriteByte('\n')
		for _, f := range stackFrames(v) {
			b.WriteString(stackIndent)
			b.WriteString(f)
			b.WriteByte('\n')
		}
		return b.String()
	}
	return fmt.Sprint(v)
}

// keysText formats a whole key as bpftrace prints a tuple key: the
// components separated by ", " without parentheses.
func keysText(key []Value) string {
	parts := make([]string, len(key))
	for i, v := range key {
		parts[i] = keyText(v)
	}
	return strings.Join(parts, ", ")
}
