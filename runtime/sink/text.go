package sink

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// histBarWidth is the width of the `|@@@…|` bar of a histogram line.
const histBarWidth = 52

// Text writes bpftrace's text format: event lines as their print()
// formats say, aggregations as `@name[key]: value` lines and histograms.
// Strings from the traced system are escaped so that they cannot forge
// lines or send terminal escapes.
type Text struct {
	mu    sync.Mutex // versions of a --watch script share their sinks
	w     *lines
	plans map[*compiler.Event]*plan
	line  []byte
}

// NewText returns a text sink writing to w.
func NewText(w io.Writer) *Text {
	return &Text{w: newLines(w), plans: map[*compiler.Event]*plan{}}
}

// Event writes one event line.
func (t *Text) Event(e *Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.line = appendEventText(t.line[:0], e, t.plans)
	_, err := t.w.Write(t.line)
	return err
}

// appendEventText writes an event as its line, with the plan of its
// layout (made on first use and kept in plans).
func appendEventText(b []byte, e *Event, plans map[*compiler.Event]*plan) []byte {
	if e.Layout.Format == "" {
		return defaultLine(b, e)
	}
	p := plans[e.Layout]
	if p == nil {
		p = newPlan(e.Layout)
		plans[e.Layout] = p
	}
	return p.appendText(b, e, true)
}

// EventText renders an event as a text line, with its newline.
func EventText(e *Event) string {
	return string(appendEventText(nil, e, map[*compiler.Event]*plan{}))
}

// Aggregation writes an aggregation; a periodic one under an HH:MM:SS line.
func (t *Text) Aggregation(s *Snapshot) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !s.Time.IsZero() {
		t.w.WriteString(s.Time.Format("15:04:05\n"))
	}
	if err := WriteText(t.w, s); err != nil {
		return err
	}
	return t.w.Flush()
}

// Lost is reported by whoever runs the session, which knows what to advise.
func (t *Text) Lost(Lost) error { return nil }

// Flush writes out buffered lines.
func (t *Text) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.w.Flush()
}

// WriteText prints a in bpftrace's text format.
//
// Count, sum, avg, min and max print one line per row, `@name: 42` when
// keyless and `@name[k1, k2]: 42` when keyed; stats prints
// `@name[k]: count 3, average 5, total 15` (each kind's Text). Rows are
// sorted by ascending value, ties broken by key. A keyless aggregation
// without data prints a zero value (`@name: 0`); a keyed one without rows
// prints nothing.
//
// Histograms print, for each row, a header line `@name:` or `@name[k]:`,
// one line per bucket from the first to the last non-empty one, and a
// blank line. Rows are sorted by ascending total count.
//
// When a.Top > 0 only the Top rows with the largest values are printed.
// The output is written with a single Write call; nothing is written if a
// is malformed.
func WriteText(w io.Writer, a *Snapshot) error {
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
			b.WriteString(keysText(r.Key, a.R))
			b.WriteString("]")
		}
		if a.Kind.Histogram() && a.Kind.Text == nil {
			b.WriteString(":\n")
			writeHist(&b, a, r)
			b.WriteString("\n")
			continue
		}
		b.WriteString(": ")
		b.WriteString(a.Kind.Text(&r.Value))
		b.WriteString("\n")
	}
	if b.Len() == 0 {
		return nil
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHist writes the bucket lines of a histogram row, from the first to
// the last non-empty bucket.
func writeHist(b *strings.Builder, a *Snapshot, r *Row) {
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
		c := r.Buckets[i]
		// bpftrace: int bar_width = (count / static_cast<float>(max)) * 52;
		frac := float32(c) / float32(peak)
		bar := int(float32(frac * histBarWidth))
		fmt.Fprintf(b, "%-16s%8d |%-*s|\n", a.Kind.BucketLabel(i, a.Params), c, histBarWidth, strings.Repeat("@", bar))
	}
}
