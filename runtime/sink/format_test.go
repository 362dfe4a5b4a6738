package sink

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// rawResolver decodes plain numbers and strings, as the runtime does.
type rawResolver struct{ names }

func (rawResolver) Field(raw []byte, f compiler.Field) Value {
	b := raw[f.Offset : f.Offset+f.Size]
	switch {
	case f.Kind == compiler.FieldString:
		return string(cString(b))
	case f.Hex:
		return Hex(binary.LittleEndian.Uint64(b))
	case f.Signed:
		return int64(binary.LittleEndian.Uint64(b))
	}
	return binary.LittleEndian.Uint64(b)
}

// event lays out vals (int64, uint64, string, Hex) as the compiler would.
func event(format string, vals ...any) *Event {
	ev := &compiler.Event{Format: format, Probe: "test"}
	raw := make([]byte, 8)
	for i, v := range vals {
		f := compiler.Field{Name: fmt.Sprintf("v%d", i), Offset: len(raw), Size: 8}
		switch v := v.(type) {
		case int64:
			f.Signed = true
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		case uint64:
			raw = binary.LittleEndian.AppendUint64(raw, v)
		case Hex:
			f.Hex = true
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		case string:
			f.Kind, f.Size = compiler.FieldString, (len(v)+1+7)&^7
			b := make([]byte, f.Size)
			copy(b, v)
			raw = append(raw, b...)
		}
		ev.Fields = append(ev.Fields, f)
	}
	return &Event{Layout: ev, Raw: raw, R: rawResolver{}}
}

// The hand-written verbs print what fmt prints.
func TestPlanMatchesFmt(t *testing.T) {
	ints := []any{int64(0), int64(7), int64(-42), int64(math.MinInt64), uint64(math.MaxUint64), uint64(255), uint64('A')}
	strs := []any{"", "bash", "héllo", "a longer string than the widths"}
	verbs := map[string][]any{
		"%d": ints, "%v": append(append([]any{}, ints...), strs...), "%x": ints, "%X": ints, "%c": ints[1:2],
		"%5d": ints, "%-5d|": ints, "%05d": ints, "%#x": ints, "%08x": ints, "%-8s|": strs, "%8s": strs, "%s": strs,
		"%q": strs, "%3v": ints, "%x ": []any{Hex(255)}, "%v ": []any{Hex(255)}, "%o": ints, "%b": ints[:3], "%.2s": strs, "%+d": ints,
	}
	for verb, vals := range verbs {
		for _, v := range vals {
			format := "<" + verb + "> %% end"
			got := string(newPlan(event(format, v).Layout).appendText(nil, event(format, v), false))
			shown := v
			if h, ok := v.(Hex); ok {
				shown = hexInt(h)
			}
			want := fmt.Sprintf(format, shown) + "\n"
			if got != want {
				t.Errorf("%s of %#v: %q, fmt says %q", verb, v, got, want)
			}
		}
	}
}

func TestTextEscapesControls(t *testing.T) {
	e := event("%s|%-6s|%v", "evil\n12:00 forged", "\x1b[31m", "ok\x9b\u0085é\t")
	got := EventText(e)
	want := `evil\n12:00 forged|\x1b[31m|ok\x9b\u0085é\t` + "\n"
	if got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	// JSON keeps the exact bytes, escaped as JSON.
	var doc struct {
		Text   string         `json:"text"`
		Fields map[string]any `json:"fields"`
	}
	line := EventJSON(e)
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if doc.Fields["v0"] != "evil\n12:00 forged" || doc.Fields["v1"] != "\x1b[31m" || doc.Text != "evil\n12:00 forged|\x1b[31m |ok\ufffd\u0085é\t" {
		t.Errorf("JSON %s", line)
	}
}

func TestJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\x00\x01\x1f\x7f", "\u2028\u2029", "é\xff\xfe", "<&>", "tab\there"} {
		want, _ := json.Marshal(s)
		want = bytes.ReplaceAll(want, []byte(`\u003c`), []byte("<"))
		want = bytes.ReplaceAll(want, []byte(`\u003e`), []byte(">"))
		want = bytes.ReplaceAll(want, []byte(`\u0026`), []byte("&"))
		if got := appendJSONString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Errorf("%q: %s, encoding/json %s", s, got, want)
		}
	}
}

// Writing an event allocates nothing once its layout's plan is made.
func TestEventAllocations(t *testing.T) {
	e := event("%d %s %x\n", int64(-12), "comm", uint64(0xbeef))
	for _, k := range []Sink{NewText(&bytes.Buffer{}), NewJSON(&bytes.Buffer{})} {
		k.Event(e)
		if n := testing.AllocsPerRun(100, func() { k.Event(e) }); n != 0 {
			t.Errorf("%T: %v allocations per event", k, n)
		}
	}
}

func BenchmarkEventText(b *testing.B) {
	e := event("%d %s\n", int64(4096), "dd")
	k := NewText(discard{})
	b.ReportAllocs()
	for b.Loop() {
		k.Event(e)
	}
}

func BenchmarkEventJSON(b *testing.B) {
	e := event("%d %s\n", int64(4096), "dd")
	k := NewJSON(discard{})
	b.ReportAllocs()
	for b.Loop() {
		k.Event(e)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
