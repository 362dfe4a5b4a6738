package runtime

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/internal/symbolize"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// decoder turns the bytes of a record or map key into data (numbers,
// strings, stack addresses), and names stacks and symbols through the
// symbol tables: it is the session's sink.Resolver.
type decoder struct {
	probes []string  // Program.ProbeNames
	stacks *ebpf.Map // nil when the program has no kstack/ustack
	kernel *symbolize.Kernel
	user   *symbolize.User
	// wallMinusMono turns CLOCK_MONOTONIC (bpf_ktime_get_ns) into wall time.
	wallMinusMono time.Duration

	// Go binaries whose interface values are shown by their dynamic
	// type's name, and the names found (goTypeName).
	mu      sync.Mutex
	bins    map[string]*gobin.Binary
	goTypes map[goTypeKey]string
	// users caches uid → user name (`username`).
	users sync.Map
}

func newDecoder(probes []string, stacks *ebpf.Map) *decoder {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	now := time.Now()
	return &decoder{
		probes: probes, stacks: stacks, kernel: symbolize.NewKernel(), user: symbolize.NewUser(),
		wallMinusMono: time.Duration(now.UnixNano() - ts.Nano()),
	}
}

// Field decodes one field of a record or key.
func (d *decoder) Field(b []byte, f compiler.Field) sink.Value {
	if f.Offset+f.Size > len(b) {
		return nil
	}
	raw := b[f.Offset : f.Offset+f.Size]
	if f.Kind == compiler.FieldString {
		if f.Show == "ipv6" && len(raw) >= 16 {
			return netip.AddrFrom16([16]byte(raw[:16])).Unmap()
		}
		if i := bytes.IndexByte(raw, 0); i >= 0 {
			raw = raw[:i]
		}
		return string(raw)
	}
	u := binary.LittleEndian.Uint64(raw)
	switch f.Show {
	case "ksym":
		return sink.Symbol{Addr: u}
	case "usym":
		return sink.Symbol{PID: int(binary.LittleEndian.Uint64(raw[8:])), Addr: u}
	case "ipv4":
		return netip.AddrFrom4([4]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
	case "probe":
		if u < uint64(len(d.probes)) {
			return d.probes[u]
		}
	case "username":
		return d.userName(uint32(u))
	case "kstack":
		return d.stack(int32(u), 0)
	case "ustack":
		s := d.stack(int32(u), int(u>>32))
		// Taken at a function's entry: the walk starts at the caller's
		// caller, so the caller's return address comes second.
		if len(raw) >= 16 && len(s.PCs) > 0 {
			if caller := binary.LittleEndian.Uint64(raw[8:]); caller != 0 {
				s.PCs = append(s.PCs[:1], append([]uint64{caller}, s.PCs[1:]...)...)
			}
		}
		return s
	case "bool":
		return goBool(u != 0)
	case "gotype":
		return d.goTypeName(f.Binary, u)
	}
	if layout, ok := strings.CutPrefix(f.Show, "strftime:"); ok {
		return time.Unix(0, 0).Add(time.Duration(u) + d.wallMinusMono).Format(layout)
	}
	switch {
	case f.Time:
		return time.Unix(0, 0).Add(time.Duration(u) + d.wallMinusMono)
	case f.Hex:
		return sink.Hex(u)
	case f.Signed:
		return int64(u)
	default:
		return u
	}
}

// stack reads a stack's addresses by id; pid is 0 for kernel stacks.
func (d *decoder) stack(id int32, pid int) sink.Stack {
	s := sink.Stack{PID: pid, PCs: []uint64{}}
	if d.stacks == nil || id < 0 {
		return s
	}
	var raw []byte
	if err := d.stacks.Lookup(uint32(id), &raw); err != nil {
		return s
	}
	for i := 0; i+8 <= len(raw); i += 8 {
		addr := binary.LittleEndian.Uint64(raw[i:])
		if addr == 0 {
			break
		}
		s.PCs = append(s.PCs, addr)
	}
	return s
}

// Frames names a stack's frames, as bpftrace prints them.
func (d *decoder) Frames(s sink.Stack) []string {
	var out []string
	for i, addr := range s.PCs {
		if s.PID == 0 {
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
		for _, fn := range d.user.Inlined(s.PID, at) {
			out = append(out, fn+" (inlined)")
		}
		out = append(out, d.user.Symbolize(s.PID, addr))
	}
	return out
}

// Name names the function at a symbol's address (usym shows no offset).
func (d *decoder) Name(s sink.Symbol) string {
	if s.PID == 0 {
		name, _, ok := d.kernel.Resolve(s.Addr)
		if !ok {
			return fmt.Sprintf("0x%x", s.Addr)
		}
		return name
	}
	name := d.user.Symbolize(s.PID, s.Addr)
	if i := strings.LastIndexByte(name, '+'); i > 0 {
		return name[:i]
	}
	return name
}

// SourceFrames names each PC of a stack with its source frames (pprof):
// kernel PCs by their kallsyms function, user PCs through the binary's
// symbols and, for Go, the pclntab's files, lines and inlined calls.
func (d *decoder) SourceFrames(s sink.Stack) [][]sink.Frame {
	out := make([][]sink.Frame, len(s.PCs))
	for i, addr := range s.PCs {
		if s.PID == 0 {
			name, _, ok := d.kernel.Resolve(addr)
			if !ok {
				name = ""
			}
			out[i] = []sink.Frame{{Func: name}}
			continue
		}
		// Past the first frame addresses are return addresses: the call
		// is the byte before.
		at := addr
		if i > 0 {
			at--
		}
		fr := d.user.Frames(s.PID, at)
		if len(fr) == 0 {
			out[i] = []sink.Frame{{}}
			continue
		}
		fs := make([]sink.Frame, len(fr))
		for j, f := range fr {
			fs[j] = sink.Frame{Func: f.Func, File: f.File, Line: f.Line, Inlined: f.Inlined}
		}
		out[i] = fs
	}
	return out
}

// goBool is a Go or C bool: true or false, 1 or 0 with %d.
type goBool bool

func (b goBool) Format(f fmt.State, verb rune) {
	switch verb {
	case 'v', 's', 't':
		fmt.Fprintf(f, fmt.FormatString(f, 'v'), bool(b))
		return
	case 'q':
		fmt.Fprintf(f, fmt.FormatString(f, 'q'), fmt.Sprint(bool(b)))
		return
	}
	n := 0
	if b {
		n = 1
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), n)
}

// goTypeName names the Go type whose runtime descriptor is at addr in
// the file bin: the dynamic type of an interface value, "<nil>" for 0.
// An address the binary does not describe (a type made by reflect) is
// shown as such.
func (d *decoder) goTypeName(bin string, addr uint64) string {
	if addr == 0 {
		return "<nil>"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := goTypeKey{bin, addr}
	if n, ok := d.goTypes[key]; ok {
		return n
	}
	name := fmt.Sprintf("type@%#x", addr)
	if d.bins == nil {
		d.bins = map[string]*gobin.Binary{}
		d.goTypes = map[goTypeKey]string{}
	}
	b, ok := d.bins[bin]
	if !ok {
		b, _ = gobin.Open(bin)
		d.bins[bin] = b
	}
	if b != nil {
		if n, err := b.RuntimeTypeName(addr); err == nil {
			name = n
		}
	}
	if len(d.goTypes) < 1<<16 {
		d.goTypes[key] = name
	}
	return name
}

type goTypeKey struct {
	bin  string
	addr uint64
}

// userName names a uid from the password database, as `id -un` does; a
// uid without a name shows as the number.
func (d *decoder) userName(uid uint32) string {
	if n, ok := d.users.Load(uid); ok {
		return n.(string)
	}
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	d.users.Store(uid, name)
	return name
}
