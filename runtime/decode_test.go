package runtime

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// TestDecodeGoValues: bools print as Go does (1/0 with %d), an interface's
// type address of 0 is <nil> and others are named from the binary (or
// shown as an address the binary does not describe).
func TestDecodeGoValues(t *testing.T) {
	d := newDecoder(nil, nil)
	word := func(u uint64) []byte { return binary.LittleEndian.AppendUint64(nil, u) }
	tests := []struct {
		raw  []byte
		f    compiler.Field
		verb string
		want string
	}{
		{word(1), compiler.Field{Size: 8, Show: "bool"}, "%v", "true"},
		{word(0), compiler.Field{Size: 8, Show: "bool"}, "%s", "false"},
		{word(1), compiler.Field{Size: 8, Show: "bool"}, "%d", "1"},
		{word(0), compiler.Field{Size: 8, Show: "gotype", Binary: "/proc/self/exe"}, "%s", "<nil>"},
		{word(8), compiler.Field{Size: 8, Show: "gotype", Binary: "/no/such/binary"}, "%s", "type@0x8"},
	}
	for _, tt := range tests {
		if got := fmt.Sprintf(tt.verb, d.Field(tt.raw, tt.f)); got != tt.want {
			t.Errorf("%v %s: %q, want %q", tt.f, tt.verb, got, tt.want)
		}
	}
}
