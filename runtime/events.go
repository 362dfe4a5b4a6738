package runtime

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ebpftrace/ebpftrace/compiler"
)

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

func (h hexInt) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprintf("0x%x", uint64(h))) }

// decodeField reads one field of a record or key as a Go value: int64,
// uint64, hexInt or string.
func decodeField(b []byte, f compiler.Field) any {
	if f.Offset+f.Size > len(b) {
		return nil
	}
	raw := b[f.Offset : f.Offset+f.Size]
	switch f.Kind {
	case compiler.FieldString:
		if i := bytes.IndexByte(raw, 0); i >= 0 {
			raw = raw[:i]
		}
		return string(raw)
	default:
		u := binary.LittleEndian.Uint64(raw)
		switch {
		case f.Hex:
			return hexInt(u)
		case f.Signed:
			return int64(u)
		default:
			return u
		}
	}
}

// clock turns CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) into wall time.
type clock struct{ wallMinusMono time.Duration }

func (c clock) wall(mono uint64) time.Time {
	return time.Unix(0, 0).Add(time.Duration(mono) + c.wallMinusMono)
}

// formatEvent renders a print record as a text line (with its newline) or
// a JSON object line.
func (s *Session) formatEvent(ev *compiler.Event, rec []byte) string {
	vals := make([]any, len(ev.Fields))
	for i, f := range ev.Fields {
		vals[i] = decodeField(rec, f)
	}
	if s.opts.JSON {
		return s.eventJSON(ev, vals)
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
		switch {
		case f.Time:
			b.WriteString(s.clock.wall(vals[i].(uint64)).Format("15:04:05.000000"))
			b.WriteString(" " + ev.Probe)
		case f.Kind == compiler.FieldString && isArg:
			fmt.Fprintf(&b, " %s=%q", name, vals[i])
		default:
			fmt.Fprintf(&b, " %s=%v", name, vals[i])
		}
	}
	if inArgs {
		b.WriteString(" }")
	}
	b.WriteString("\n")
	return b.String()
}

// eventJSON renders {"type":"event","probe":…,"text":…,"fields":{…}} with
// fields in their print order.
func (s *Session) eventJSON(ev *compiler.Event, vals []any) string {
	var b strings.Builder
	b.WriteString(`{"type":"event","probe":`)
	probe, _ := json.Marshal(ev.Probe)
	b.Write(probe)
	if ev.Format != "" {
		b.WriteString(`,"text":`)
		text, _ := json.Marshal(strings.TrimSuffix(fmt.Sprintf(ev.Format, vals...), "\n"))
		b.Write(text)
	}
	b.WriteString(`,"fields":{`)
	for i, f := range ev.Fields {
		if i > 0 {
			b.WriteString(",")
		}
		k, _ := json.Marshal(f.Name)
		b.Write(k)
		b.WriteString(":")
		v := vals[i]
		if f.Time {
			v = s.clock.wall(v.(uint64)).Format(time.RFC3339Nano)
		}
		j, _ := json.Marshal(v)
		b.Write(j)
	}
	b.WriteString("}}\n")
	return b.String()
}
