package runtime

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/internal/symbolize"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// decoder turns the bytes of a record or map key into Go values: numbers,
// strings, and — through the stack map and symbol tables — stacks and
// symbols.
type decoder struct {
	probes []string  // Program.ProbeNames
	stacks *ebpf.Map // nil when the program has no kstack/ustack
	kernel *symbolize.Kernel
	user   *symbolize.User
}

func newDecoder(probes []string, stacks *ebpf.Map) *decoder {
	return &decoder{probes: probes, stacks: stacks, kernel: symbolize.NewKernel(), user: symbolize.NewUser()}
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

func (h hexInt) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%q", fmt.Sprintf("0x%x", uint64(h)))), nil
}

// stack is a symbolized stack: printed one frame a line, as bpftrace does.
type stack []string

func (s stack) String() string {
	var b strings.Builder
	b.WriteString("\n")
	for _, f := range s {
		b.WriteString("        " + f + "\n")
	}
	return b.String()
}

// field decodes one field.
func (d *decoder) field(b []byte, f compiler.Field) any {
	if f.Offset+f.Size > len(b) {
		return nil
	}
	raw := b[f.Offset : f.Offset+f.Size]
	if f.Kind == compiler.FieldString {
		if f.Show == "ipv6" && len(raw) >= 16 {
			return netip.AddrFrom16([16]byte(raw[:16])).Unmap().String()
		}
		if i := bytes.IndexByte(raw, 0); i >= 0 {
			raw = raw[:i]
		}
		return string(raw)
	}
	u := binary.LittleEndian.Uint64(raw)
	switch f.Show {
	case "ksym":
		name, _, ok := d.kernel.Resolve(u)
		if !ok {
			return fmt.Sprintf("0x%x", u)
		}
		return name
	case "usym":
		pid := int(binary.LittleEndian.Uint64(raw[8:]))
		return trimOffset(d.user.Symbolize(pid, u))
	case "ipv4":
		return netip.AddrFrom4([4]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)}).String()
	case "probe":
		if u < uint64(len(d.probes)) {
			return d.probes[u]
		}
	case "kstack":
		return d.stack(int32(u), 0)
	case "ustack":
		return d.stack(int32(u), int(u>>32))
	}
	switch {
	case f.Hex:
		return hexInt(u)
	case f.Signed:
		return int64(u)
	default:
		return u
	}
}

// trimOffset turns "sym+12" into "sym" (usym shows the symbol only).
func trimOffset(s string) string {
	if i := strings.LastIndexByte(s, '+'); i > 0 {
		return s[:i]
	}
	return s
}

// stack reads and symbolizes a stack by id; pid is 0 for kernel stacks.
func (d *decoder) stack(id int32, pid int) stack {
	if d.stacks == nil || id < 0 {
		return nil
	}
	var raw []byte
	if err := d.stacks.Lookup(uint32(id), &raw); err != nil {
		return nil
	}
	var out stack
	for i := 0; i+8 <= len(raw); i += 8 {
		addr := binary.LittleEndian.Uint64(raw[i:])
		if addr == 0 {
			break
		}
		if pid == 0 {
			out = append(out, d.kernel.Symbolize(addr))
			continue
		}
		// Go code inlined at this address comes first, innermost first.
		// Past the first frame addresses are return addresses: the call
		// is the byte before.
		at := addr
		if i > 0 {
			at--
		}
		for _, fn := range d.user.Inlined(pid, at) {
			out = append(out, fn+" (inlined)")
		}
		out = append(out, d.user.Symbolize(pid, addr))
	}
	return out
}

// sinkValue converts a decoded value to what the sink prints.
func sinkValue(v any) sink.Value {
	switch v := v.(type) {
	case hexInt:
		return fmt.Sprintf("0x%x", uint64(v))
	case stack:
		return sink.Stack{Frames: v}
	}
	return v
}
