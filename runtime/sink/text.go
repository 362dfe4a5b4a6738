package sink

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// histBarWidth is the width of the `|@@@…|` bar of a histogram line.
const histBarWidth = 52

// WriteText prints a in bpftrace's text format.
//
// Count, sum, avg, min and max print one line per row, `@name: 42` when
// keyless and `@name[k1, k2]: 42` when keyed; stats prints
// `@name[k]: count 3, average 5, total 15`. Rows are sorted by ascending
// value (average for avg and stats), ties broken by key. A keyless
// aggregation without data prints a zero value (`@name: 0`); a keyed one
// without rows prints nothing.
//
// Hist and lhist print, for each row, a header line `@name:` or
// `@name[k]:`, one line per bucket from the first to the last non-empty
// one, and a blank line. Rows are sorted by ascending total count.
//
// When a.Top > 0 only the Top rows with the largest values are printed.
// The output is written with a single Write call; nothing is written if a
// is malformed (unknown kind, key length not matching KeyNames, too many
// buckets, invalid lhist spec).
func WriteText(w io.Writer, a *Aggregation) error {
	if err := validate(a); err != nil {
		return err
	}
	var b strings.Builder
	keyed := len(a.KeyNames) > 0
	for _, r := range sortedRows(a) {
		b.WriteString("@")
		b.WriteString(a.Name)
		if keyed {
			b.WriteString("[")
			b.WriteString(keysText(r.Key))
			b.WriteString("]")
		}
		switch a.Kind {
		case Hist, LHist:
			b.WriteString(":\n")
			writeHist(&b, a, r)
			b.WriteString("\n")
		case Stats:
			fmt.Fprintf(&b, ": count %d, average %d, total %d\n", r.Count, r.avg(), r.Sum)
		default:
			b.WriteString(": ")
			b.WriteString(strconv.FormatInt(r.value(a.Kind), 10))
			b.WriteString("\n")
		}
	}
	if b.Len() == 0 {
		return nil
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHist writes the bucket lines of a histogram row, from the first to
// the last non-empty bucket.
func writeHist(b *strings.Builder, a *Aggregation, r *Row) {
	first, last := -1, -1
	var peak uint64
	for i, c := range r.Buckets {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
			peak = max(peak, c)
		}
	}
	if first < 0 {
		return
	}
	for i := first; i <= last; i++ {
		var label string
		if a.Kind == Hist {
			label = histLabel(i)
		} else {
			label = lhistLabel(i, a.LHist)
		}
		c := r.Buckets[i]
		// bpftrace: int bar_width = (count / static_cast<float>(max)) * 52;
		frac := float32(c) / float32(peak)
		bar := int(float32(frac * histBarWidth))
		fmt.Fprintf(b, "%-16s%8d |%-*s|\n", label, c, histBarWidth, strings.Repeat("@", bar))
	}
}

// histLabel returns bpftrace's label for power-of-two histogram bucket i:
// "(..., 0)", "[0]", "[1]", "[2, 4)", …, "[512, 1K)", "[1K, 2K)", ….
func histLabel(i int) string {
	switch i {
	case 0:
		return "(..., 0)"
	case 1:
		return "[0]"
	case 2:
		return "[1]"
	}
	return "[" + pow2Label(i-2) + ", " + pow2Label(i-1) + ")"
}

// pow2Label returns 2^p as bpftrace prints a histogram bound: the largest
// power of 1024 is replaced by a K, M, G, T, P or E suffix, so 2^10 is
// "1K", 2^19 is "512K" and 2^20 is "1M".
func pow2Label(p int) string {
	s := strconv.FormatUint(1<<(p%10), 10)
	if d := p / 10; d > 0 {
		s += string("KMGTPE"[d-1])
	}
	return s
}

// lhistLabel returns bpftrace's label for linear histogram bucket i:
// "(..., Min)", "[lo, hi)" and "[Min+n*Step, ...)"; with Step 1 the
// in-range buckets hold one value and print as "[lo]".
func lhistLabel(i int, s LHistSpec) string {
	n := s.n()
	switch {
	case i == 0:
		return "(..., " + lhistNumber(s.Min, s.Step) + ")"
	case int64(i) == n+1:
		return "[" + lhistNumber(s.lhistEdge(n), s.Step) + ", ...)"
	}
	lo, hi := s.lhistEdge(int64(i)-1), s.lhistEdge(int64(i))
	if s.Step == 1 {
		return "[" + lhistNumber(lo, s.Step) + "]"
	}
	return "[" + lhistNumber(lo, s.Step) + ", " + lhistNumber(hi, s.Step) + ")"
}

// lhistNumber formats a linear histogram bound as bpftrace's
// lhist_index_label: when Step is a multiple of 1024, multiples of 1M and
// 1K get an M or K suffix; otherwise the plain number.
func lhistNumber(v, step int64) string {
	const kilo, mega = 1024, 1024 * 1024
	switch {
	case step%kilo != 0 || v == 0:
	case v%mega == 0:
		return strconv.FormatInt(v/mega, 10) + "M"
	case v%kilo == 0:
		return strconv.FormatInt(v/kilo, 10) + "K"
	}
	return strconv.FormatInt(v, 10)
}
