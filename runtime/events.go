package runtime

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ebpftrace/ebpftrace/compiler"
)

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
		vals[i] = s.dec.field(rec, f)
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
