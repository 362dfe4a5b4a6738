package pack

import (
	"debug/elf"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/ebpftrace/ebpftrace/internal/gobin"
)

// Source is a probe source a pack provides, such as http.server.
type Source struct {
	// Name is how the user calls it: "http.server".
	Name string
	// Doc is a one-line description.
	Doc string
	// Versions says which binaries it supports, for help and listings,
	// e.g. "Go 1.17+ with DWARF; stripped: go1.17 to go1.26".
	Versions string
	// Schema is the layout of the events it produces.
	Schema *Schema
	// Resolve inspects a binary and returns what to load and attach for
	// it. It returns an error, naming the binary and why, when the source
	// cannot trace it (not Go, an unsupported Go version, no net/http…).
	Resolve func(b *gobin.Binary) (*Target, error)
}

// Open resolves the source for the binary at path.
func (s *Source) Open(path string) (*Target, error) {
	b, err := gobin.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	defer b.Close()
	t, err := s.Resolve(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	return t, nil
}

// Probe is one uprobe of a helper program.
type Probe struct {
	// Program is the helper program's name in Target.Spec.
	Program string
	// Func is the probed function, e.g. "net/http.serverHandler.ServeHTTP".
	Func string
	// Offset is the file offset in Target.Path to attach to (a uprobe's
	// "address"): the function's body past its stack check for an entry,
	// a RET instruction for a return.
	Offset uint64
	// Return reports a probe on a RET instruction (never a uretprobe,
	// which crashes Go programs).
	Return bool
}

// Target is a source resolved for one binary.
type Target struct {
	// Source is the source's name, e.g. "http.server".
	Source string
	// Path is the binary's path as given.
	Path string
	// GoVersion is the binary's Go version, e.g. "go1.19.8".
	GoVersion string
	// FactsFrom says where the struct offsets and argument registers came
	// from: "DWARF" or "table go1.19" (stripped binaries).
	FactsFrom string
	// Spec is the helper object with only this source's programs and the
	// maps they use; its load-time constants are set.
	Spec *ebpf.CollectionSpec
	// Constants are the values set in Spec, by variable name.
	Constants map[string]uint64
	// Probes says where each program of Spec attaches.
	Probes []Probe
	// Schema is the layout of the events in the EventMap.
	Schema *Schema
}

// SelectEvents chooses the lifecycle events the helper hands to the
// chain programs (Schema.Events; by default Schema.DefaultEvents): the
// union of what every chain on the target reads. It sets the helper's
// EventsConstant in Spec, so it is called before Load. Events nobody
// selected cost no chain run; a chain that wants fewer than were selected
// must still test the event field itself.
func (t *Target) SelectEvents(names ...string) error {
	mask, err := t.Schema.EventMask(names...)
	if err != nil {
		return fmt.Errorf("%s: %w", t.Source, err)
	}
	v := t.Spec.Variables[EventsConstant]
	if v == nil {
		return fmt.Errorf("%s: the helper has no constant %s", t.Source, EventsConstant)
	}
	if err := v.Set(mask); err != nil {
		return fmt.Errorf("%s: set %s: %w", t.Source, EventsConstant, err)
	}
	if t.Constants != nil {
		t.Constants[EventsConstant] = uint64(mask)
	}
	return nil
}

// NewSpec finishes a helper spec for one source: it keeps only the named
// programs and the maps they reference (the contract's maps always stay),
// and sets the load-time constants. Every constant must exist in spec;
// its value is stored in the variable's own size.
func NewSpec(spec *ebpf.CollectionSpec, programs []string, constants map[string]uint64) (*ebpf.CollectionSpec, error) {
	for _, p := range programs {
		if spec.Programs[p] == nil {
			return nil, fmt.Errorf("helper has no program %s", p)
		}
	}
	for name := range spec.Programs {
		if !slices.Contains(programs, name) {
			delete(spec.Programs, name)
		}
	}
	used := map[string]bool{EventMap: true, ChainMap: true}
	for _, p := range spec.Programs {
		for _, ins := range p.Instructions {
			if ref := ins.Reference(); ref != "" && ins.OpCode.Class() == asm.LdClass {
				used[ref] = true
			}
		}
	}
	for name, m := range spec.Maps {
		// Data sections (.rodata holds the constants) are maps too.
		if !used[name] && !strings.HasPrefix(m.Name, ".") && !strings.HasPrefix(name, ".") {
			delete(spec.Maps, name)
		}
	}
	for name, v := range constants {
		vs := spec.Variables[name]
		if vs == nil {
			return nil, fmt.Errorf("helper has no constant %s", name)
		}
		var err error
		switch vs.Size() {
		case 4:
			if v > 1<<32-1 {
				return nil, fmt.Errorf("constant %s = %d does not fit in 32 bits", name, v)
			}
			err = vs.Set(uint32(v))
		case 8:
			err = vs.Set(v)
		default:
			err = fmt.Errorf("unsupported size %d", vs.Size())
		}
		if err != nil {
			return nil, fmt.Errorf("helper constant %s: %w", name, err)
		}
	}
	return spec, nil
}

// GoMinor checks that b is a Go program built with Go 1.17 or newer (the
// first with the register ABI on amd64, which the helpers read) for
// x86-64, and returns its minor version (19 for go1.19.8).
func GoMinor(b *gobin.Binary) (int, error) {
	if !b.IsGo {
		return 0, fmt.Errorf("%s is not a Go program (no Go build information or .gopclntab)", b.Path)
	}
	var minor int
	v := b.GoVersion
	if i := strings.Index(v, "go1."); i >= 0 {
		v = v[i+len("go1."):]
		for len(v) > 0 && v[0] >= '0' && v[0] <= '9' {
			minor = minor*10 + int(v[0]-'0')
			v = v[1:]
		}
	}
	if minor == 0 {
		return 0, fmt.Errorf("%s: unknown Go version %q", b.Path, b.GoVersion)
	}
	if minor < 17 {
		return 0, fmt.Errorf("%s was built by %s; Go 1.17 or newer is needed (the register ABI)", b.Path, b.GoVersion)
	}
	if b.Machine != elf.EM_X86_64 {
		return 0, fmt.Errorf("%s is for %v; the stdlib helpers support x86-64 only", b.Path, b.Machine)
	}
	return minor, nil
}

// FuncProbes returns the probes of a Go function: entry (past the stack
// check, so a stack growth does not fire it twice) for the program entry,
// and every RET for the program ret. An empty program name skips that
// side. A missing function is an error wrapping gobin.ErrNotFound.
func FuncProbes(b *gobin.Binary, fn, entry, ret string) ([]Probe, error) {
	f, err := b.Func(fn)
	if err != nil {
		return nil, err
	}
	var out []Probe
	if entry != "" {
		off, err := b.BodyOffset(f)
		if err != nil {
			return nil, err
		}
		out = append(out, Probe{Program: entry, Func: fn, Offset: off})
	}
	if ret != "" {
		rets, err := b.ReturnOffsets(f)
		if err != nil {
			return nil, err
		}
		if len(rets) == 0 {
			return nil, fmt.Errorf("%s: %s has no RET instruction", b.Path, fn)
		}
		for _, off := range rets {
			out = append(out, Probe{Program: ret, Func: fn, Offset: off, Return: true})
		}
	}
	return out, nil
}

// IsNotFound reports an error about a missing function, type or field.
func IsNotFound(err error) bool { return errors.Is(err, gobin.ErrNotFound) }
