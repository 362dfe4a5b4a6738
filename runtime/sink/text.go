package sink

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// histBarWidth is the width of the `|@@@…|` bar of a histogram line.
const histBarWidth = 52

// Text writes bpftrace's text format: event lines as their print()
// formats say, aggregations as `@name[key]: value` lines and histograms.
type Text struct {
	mu sync.Mutex // versions of a --watch script share their sinks
	w  *lines
}

// NewText returns a text sink writing to w.
func NewText(w io.Writer) *Text { return &Text{w: newLines(w)} }

// Event writes one event line.
func (t *Text) Event(e *Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.w.WriteString(EventText(e))
	return err
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

// EventText renders an event as a text line, with its newline.
func EventText(e *Event) string {
	ev := e.Layout
	vals := make([]any, len(ev.Fields))
	for i, f := range ev.Fields {
		vals[i] = show(e.R.Field(e.Raw, f), e.R)
	}
	if ev.Format != "" {
		line := fmt.Sprintf(ev.Format, vals...)
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		return line
	}
	// The default line: time probe pid=… comm=… { field=… … }
	var b strings.Builder
	inArgs := false
	for i, f := range ev.Fields {
		name, isArg := strings.CutPrefix(f.Name, "args.")
		if isArg && !inArgs {
			b.WriteString(" {")
			inArgs = true
		}
		switch v := vals[i].(type) {
		case time.Time:
			b.WriteString(v.Format("15:04:05.000000"))
			b.WriteString(" " + ev.Probe)
		case string:
			if isArg {
				fmt.Fprintf(&b, " %s=%q", name, v)
				continue
			}
			fmt.Fprintf(&b, " %s=%v", name, v)
		default:
			fmt.Fprintf(&b, " %s=%v", name, v)
		}
	}
	if inArgs {
		b.WriteString(" }")
	}
	b.WriteString("\n")
	return b.String()
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
		if a.Kind.Histogram() {
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
