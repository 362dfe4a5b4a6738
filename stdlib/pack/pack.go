// Package pack defines what a stdlib probe pack is: the event schema the
// compiler types a source's fields against, the Target a source resolves
// a binary to (a helper CollectionSpec with its load-time constants set,
// and where to attach its programs), and the contract between a helper
// and the programs the compiler generates for the user's chain.
//
// # The contract
//
// A helper's programs are uprobes (BPF_PROG_TYPE_KPROBE). When a unit of
// work finishes (an HTTP request, say) the helper writes the finished
// event into EventMap, a BPF_MAP_TYPE_PERCPU_ARRAY with one entry whose
// value is the event (laid out as the Schema says), and tail-calls slot 0
// of ChainMap, a BPF_MAP_TYPE_PROG_ARRAY of ChainSlots slots. The compiler
// puts one program per user chain at slots 0..k-1 (kprobe programs too,
// since a program array only calls programs of its owner's type); each
// looks up key 0 of EventMap, reads the fields it needs at their schema
// offsets, and ends, on every path, by tail-calling the next slot. An
// empty slot 0 means nothing runs. The helper and the chain run in one
// invocation on one CPU, so the chain reads the event its helper wrote
// (on fully preemptible kernels see the caveat in stdlib/README.md); the
// chain's context (pt_regs at the helper's probe) is the helper's, so pid,
// tid, comm and ustack work in the chain as in any uprobe.
//
// A field of kind UStack is a user stack the helper captured itself
// (where a goroutine parked, say, rather than where the helper's last
// probe fired): a ustack-shaped value whose id indexes the helper's
// StackMap, which has the compiler's stack map's dimensions so that a
// runtime can load the helper with its own map in its place
// (Target.LoadWith).
// # Lifecycle events
//
// A source whose events are the steps of a longer unit of work (a gRPC
// stream: start, send, recv, close_send, end) has an EventField whose
// Values name the steps, and its helper a 32-bit EventsConstant: it hands
// the chain only the events whose bit is set. The compiler sets it with
// Target.SelectEvents to what its chains read (Schema.DefaultEvents when
// they do not name the field), before Load; see stdlib/README.md.
package pack

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// The names of the contract's maps in every helper object.
const (
	// EventMap holds the finished event (per-CPU array, one entry, key 0).
	EventMap = "ebt_std_event"
	// ChainMap is the program array of the user's chain programs.
	ChainMap = "ebt_std_chain"
	// ChainSlots is the number of slots in ChainMap.
	ChainSlots = 16
	// StackMap is the stack trace map (BPF_MAP_TYPE_STACK_TRACE) a helper
	// whose events carry a UStack field keeps the stacks in. It has the
	// dimensions of the compiler's own stack map (StackDepth frames of 8
	// bytes, StackEntries entries, 4-byte keys, no flags), so a runtime
	// can give the helper its program's map instead (Target.LoadWith)
	// and read every stack id from one map.
	StackMap = "ebt_std_stacks"
	// StackDepth is the number of frames a StackMap value holds.
	StackDepth = 127
	// StackEntries is the number of stacks a StackMap holds.
	StackEntries = 16384
	// EventField is the schema field that names the step of a unit of
	// work an event is, in a source with lifecycle events (grpc's start,
	// send, recv, close_send, end); its Values list them.
	EventField = "event"
	// EventsConstant is the helper's load-time constant (a 32-bit mask)
	// that says which lifecycle events are handed to the chain: bit i
	// selects the EventField's Values[i]. Target.SelectEvents sets it.
	EventsConstant = "ebt_std_events"
)

// Kind is how a schema field is read.
type Kind int

// Field kinds.
const (
	// Unsigned is a little-endian unsigned integer of Size bytes.
	Unsigned Kind = iota + 1
	// Signed is a little-endian two's-complement integer of Size bytes.
	Signed
	// String is a fixed-size byte array of Size bytes holding a string
	// that ends at its first NUL; helpers always write the NUL, so the
	// longest string is Size-1 bytes (longer ones are cut).
	String
	// UStack is a user stack of the traced process, 8 bytes laid out as
	// the compiler's ustack value: the stack id in StackMap in the low 32
	// bits (a failed capture gives a negative id, i.e. bit 31 set) and the
	// pid in the high 32. A chain can use it wherever ustack goes (a by()
	// key, print, --pprof) once the stack ids are read from StackMap.
	UStack
)

func (k Kind) String() string {
	switch k {
	case Unsigned:
		return "unsigned"
	case Signed:
		return "signed"
	case String:
		return "string"
	case UStack:
		return "ustack"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Field is one field of an event.
type Field struct {
	// Name is what the user writes in a chain, e.g. "status".
	Name string
	// Offset and Size locate the field in the event, in bytes.
	Offset, Size int
	// Kind says how to read it.
	Kind Kind
	// Doc is a one-line description for help and completion.
	Doc string
	// Values lists the only values a String field takes, when it names
	// one of a few things (grpc's event and kind), for checks such as
	// `event == "recv"` and for completion; nil for free strings.
	Values []string
}

// Schema is the layout of a helper's event, the value of EventMap.
type Schema struct {
	// Type is the C struct's name in the helper, e.g. "http_event".
	Type string
	// Size is the struct's size in bytes.
	Size int
	// Fields are the fields a chain can read, in offset order.
	Fields []Field
	// DefaultEvents are the lifecycle events a chain gets when it does
	// not select any (grpc: "end"), for a schema with an EventField; nil
	// otherwise.
	DefaultEvents []string
	// Span, when set, names the span of an event sent over OTLP and gives
	// its OpenTelemetry semantic-convention attributes, from the event's
	// fields (field returns a field's value: a string or a uint64/int64).
	Span func(field func(name string) any) (name string, attrs []Attr)
}

// Attr is one span attribute: a string or an integer value.
type Attr struct {
	Key   string
	Value any
}

// Field returns the field called name.
func (s *Schema) Field(name string) (Field, bool) {
	i := slices.IndexFunc(s.Fields, func(f Field) bool { return f.Name == name })
	if i < 0 {
		return Field{}, false
	}
	return s.Fields[i], true
}

// Names returns the field names in schema order.
func (s *Schema) Names() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	return out
}

// Events returns the names of the schema's lifecycle events, the Values
// of its EventField in bit order; nil when every event is the same kind
// of thing (http: one per request).
func (s *Schema) Events() []string {
	f, ok := s.Field(EventField)
	if !ok {
		return nil
	}
	return f.Values
}

// EventMask returns the EventsConstant value that selects the named
// events: bit i for Events()[i].
func (s *Schema) EventMask(names ...string) (uint32, error) {
	evs := s.Events()
	if evs == nil {
		return 0, fmt.Errorf("%s has no lifecycle events to select", s.Type)
	}
	var mask uint32
	for _, n := range names {
		i := slices.Index(evs, n)
		if i < 0 {
			return 0, fmt.Errorf("no %s event %q; the events are %s", s.Type, n, strings.Join(evs, ", "))
		}
		mask |= 1 << i
	}
	return mask, nil
}

// Check compares the schema with the helper's own description of its
// event: the BTF of EventMap's value in spec. A field of the schema must
// be a member of the C struct with the same name, offset and size, and
// the struct must have Size bytes.
func (s *Schema) Check(spec *ebpf.CollectionSpec) error {
	ms := spec.Maps[EventMap]
	if ms == nil {
		return fmt.Errorf("schema %s: the helper has no map %s", s.Type, EventMap)
	}
	st, ok := btf.UnderlyingType(ms.Value).(*btf.Struct)
	if !ok || st.Name != s.Type {
		return fmt.Errorf("schema %s: %s's value is %v, not struct %s", s.Type, EventMap, ms.Value, s.Type)
	}
	if int(st.Size) != s.Size {
		return fmt.Errorf("schema %s: size %d, the helper's struct has %d", s.Type, s.Size, st.Size)
	}
	var errs []string
	for _, f := range s.Fields {
		cname := f.Name
		i := slices.IndexFunc(st.Members, func(m btf.Member) bool { return m.Name == cname })
		if i < 0 {
			errs = append(errs, fmt.Sprintf("%s: no member %s", f.Name, cname))
			continue
		}
		m := st.Members[i]
		size, err := btf.Sizeof(m.Type)
		if err != nil {
			return fmt.Errorf("schema %s: member %s: %w", s.Type, cname, err)
		}
		if int(m.Offset.Bytes()) != f.Offset || size != f.Size {
			errs = append(errs, fmt.Sprintf("%s: offset %d size %d, the helper has %d and %d", f.Name, f.Offset, f.Size, m.Offset.Bytes(), size))
		}
	}
	if errs != nil {
		return fmt.Errorf("schema %s does not match the helper: %s", s.Type, strings.Join(errs, "; "))
	}
	return nil
}
