package sink

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// JSON writes one JSON object a line: events, aggregations and lost counts.
// Values are exact: strings as the kernel recorded them, JSON-escaped.
type JSON struct {
	mu      sync.Mutex // versions of a --watch script share their sinks
	w       *lines
	plans   map[*compiler.Event]*jsonPlan
	line    []byte
	scratch []byte
}

// NewJSON returns a JSON sink writing to w.
func NewJSON(w io.Writer) *JSON {
	return &JSON{w: newLines(w), plans: map[*compiler.Event]*jsonPlan{}}
}

// jsonPlan is how the records of one layout are written in JSON.
type jsonPlan struct {
	head []byte   // {"type":"event","probe":"…"
	keys [][]byte // "name": of each field
	text *plan    // the print format, for "text"; nil for print()
}

func newJSONPlan(ev *compiler.Event) *jsonPlan {
	p := &jsonPlan{head: appendJSONString([]byte(`{"type":"event","probe":`), []byte(ev.Probe))}
	for _, f := range ev.Fields {
		k := appendJSONString(nil, []byte(f.Name))
		p.keys = append(p.keys, append(k, ':'))
	}
	if ev.Format != "" {
		p.text = newPlan(ev)
	}
	return p
}

// Event writes {"type":"event","probe":…,"text":…,"fields":{…}} with the
// fields in their print order.
func (j *JSON) Event(e *Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := j.plans[e.Layout]
	if p == nil {
		p = newJSONPlan(e.Layout)
		j.plans[e.Layout] = p
	}
	b := append(j.line[:0], p.head...)
	if p.text != nil {
		j.scratch = p.text.appendText(j.scratch[:0], e, false)
		text := j.scratch
		if n := len(text); n > 0 && text[n-1] == '\n' {
			text = text[:n-1]
		}
		b = append(b, `,"text":`...)
		b = appendJSONString(b, text)
	}
	b = append(b, `,"fields":{`...)
	for i, f := range e.Layout.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p.keys[i]...)
		raw := e.Raw[f.Offset : f.Offset+f.Size]
		switch {
		case f.Kind == compiler.FieldString && f.Show == "":
			b = appendJSONString(b, cString(raw))
		case f.Kind == compiler.FieldInt && f.Show == "" && !f.Hex && !f.Time && f.Signed:
			b = strconv.AppendInt(b, int64(binary.LittleEndian.Uint64(raw)), 10)
		case f.Kind == compiler.FieldInt && f.Show == "" && !f.Hex && !f.Time:
			b = strconv.AppendUint(b, binary.LittleEndian.Uint64(raw), 10)
		default:
			v, _ := json.Marshal(jsonValue(e.R.Field(e.Raw, f), e.R))
			b = append(b, v...)
		}
	}
	b = append(b, "}}\n"...)
	j.line = b
	_, err := j.w.Write(b)
	return err
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// does without HTML escaping: invalid UTF-8 becomes U+FFFD.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x80 && c != '"' && c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if c < 0x80 {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&15])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// Aggregation writes one aggregation line.
func (j *JSON) Aggregation(s *Snapshot) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := WriteJSON(j.w, s); err != nil {
		return err
	}
	return j.w.Flush()
}

// Lost writes {"type":"lost","events":N,"updates":M} when anything was lost.
func (j *JSON) Lost(l Lost) error {
	if l.Events == 0 && l.Updates == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := fmt.Fprintf(j.w, `{"type":"lost","events":%d,"updates":%d}`+"\n", l.Events, l.Updates)
	return err
}

// Flush writes out buffered lines.
func (j *JSON) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.w.Flush()
}

// EventJSON renders an event as a JSON object line.
func EventJSON(e *Event) string {
	j := NewJSON(io.Discard)
	j.Event(e)
	return string(j.line)
}

// WriteJSON prints a as exactly one line holding one JSON object:
//
//	{"type":"aggregation","name":"count","kind":"count","keys":["comm"],
//	 "rows":[{"key":["bash"],"value":12}]}
//
// "name" is the name (without '@'), "kind" the kind's name and "keys" the
// key names (always an array). Each row has "key", an array with one
// element per key name (empty when keyless); integers and strings are JSON
// numbers and strings, a stack is an array of frame strings. The other row
// fields are the kind's Fields (count, sum, min, max: "value"; avg:
// "value", "count", "sum"; stats: "count", "sum", "avg", "min", "max"),
// and for histograms "buckets": [{"min":4,"max":8,"count":3}, …].
//
// Histogram buckets list only the non-empty buckets, in index order; "min"
// is inclusive and "max" exclusive, matching the [min, max) text labels,
// and the open ends of the underflow and overflow buckets are null.
//
// Rows are sorted and cut to Top as by WriteText, and a keyless scalar
// aggregation without data gets one zero row. The line is written with a
// single Write call; nothing is written if a is malformed.
func WriteJSON(w io.Writer, a *Snapshot) error {
	if err := validate(a); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"type":"aggregation","name":`)
	writeJSONValue(&buf, a.Name)
	buf.WriteString(`,"kind":`)
	writeJSONValue(&buf, a.Kind.Name)
	buf.WriteString(`,"keys":`)
	keys := a.KeyNames
	if keys == nil {
		keys = []string{}
	}
	writeJSONValue(&buf, keys)
	buf.WriteString(`,"rows":[`)
	for i, r := range sortedRows(a) {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"key":[`)
		for k, v := range r.Key {
			if k > 0 {
				buf.WriteByte(',')
			}
			writeJSONValue(&buf, jsonValue(v, a.R))
		}
		buf.WriteByte(']')
		if a.Kind.Histogram() && a.Kind.Fields == nil {
			buf.WriteString(`,"buckets":[`)
			n := 0
			for b, c := range r.Buckets {
				if c == 0 {
					continue
				}
				if n > 0 {
					buf.WriteByte(',')
				}
				n++
				lo, hi := a.Kind.BucketBounds(b, a.Params)
				fmt.Fprintf(&buf, `{"min":%s,"max":%s,"count":%d}`, jsonNumber(lo), jsonNumber(hi), c)
			}
			buf.WriteByte(']')
		} else {
			for _, f := range a.Kind.Fields(&r.Value) {
				fmt.Fprintf(&buf, `,"%s":%d`, f.Name, f.Value)
			}
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	if !a.Time.IsZero() {
		buf.WriteString(`,"time":`)
		writeJSONValue(&buf, a.Time.Format(time.RFC3339Nano))
	}
	buf.WriteString("}\n")
	_, err := w.Write(buf.Bytes())
	return err
}

// jsonNumber is a bound, or null for an open end.
func jsonNumber(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

func writeJSONValue(buf *bytes.Buffer, v any) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	// Encode ends with a newline; the line goes on.
	buf.Truncate(buf.Len() - 1)
}

// jsonValue is how a data value appears in JSON: a stack as an array of
// frames, a symbol as its name, hex() as a "0x…" string, time as RFC 3339.
func jsonValue(v Value, r Resolver) any {
	switch v := v.(type) {
	case Stack:
		f := []string{}
		if r != nil {
			f = append(f, r.Frames(v)...)
		}
		return f
	case Symbol, Hex:
		return fmt.Sprint(show(v, r))
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return v
}
