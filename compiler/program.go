package compiler

import (
	"time"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// Program is a compiled ebpftrace program: the BPF programs and maps to load,
// where to attach each program, and the layout of everything the kernel side
// hands back (event records and aggregation maps), so that the runtime can
// decode it without knowing the source.
type Program struct {
	Source *dsl.Source
	// Spec holds every BPF program and map. Program and map names start
	// with "ebt_" so that `bpftool prog` shows which are ours.
	Spec   *ebpf.CollectionSpec
	Probes []*Probe
	// Events maps the id in the first 4 bytes of a ring buffer record to
	// the layout of that record.
	Events       map[uint32]*Event
	Aggregations []*Aggregation
	// RingBuf and Drops name the event ring buffer and the per-CPU
	// counters of lost work (slots LostEvents and LostUpdates).
	RingBuf string
	Drops   string
	// Control names a one-word array every probe reads first: writing a
	// non-zero word stops them all at once ("" when there are none).
	Control string
	// Helpers are the stdlib helpers the chains of stdlib sources need.
	Helpers []*Helper
	// Warnings are what the program does not trace as written: matches of
	// a glob that cannot be probed, skipped.
	Warnings []*dsl.Error
	// ProbeNames are the names the `probe` value indexes.
	ProbeNames []string
	// Stacks names the stack trace map kstack/ustack ids index; "" if none.
	Stacks string
	// StartNs is CLOCK_MONOTONIC when the program was compiled; `elapsed`
	// counts from it.
	StartNs uint64
}

// Probe is one BPF program and the place it attaches to.
type Probe struct {
	// Name is the probe as the user sees it, e.g.
	// "tracepoint:syscalls:sys_enter_openat".
	Name string
	// Program names the ProgramSpec in Program.Spec.
	Program string
	Attach  Attach
	// Pos is the probe source call in the program text.
	Pos dsl.Pos
	// Fallback, when set, is the same chain compiled for another probe
	// kind (kprobe ↔ fentry); the runtime loads and attaches it only if
	// this one cannot attach.
	Fallback *Probe
	// SeeAlso names tracepoints that see the same event, for the error
	// when neither this probe nor its fallback can attach.
	SeeAlso []string
	// Helper and Slot place a chain of a stdlib source (AttachStdlib) in
	// its helper's program array.
	Helper *Helper
	Slot   int
	// Internal marks a probe the user did not write (the programs that
	// follow forks for Env.FollowForks): it is attached like the others
	// but not counted among the user's probes.
	Internal bool
}

// AttachKind says how the runtime attaches a probe.
type AttachKind string

// Attach kinds; one per provider.
const (
	AttachBegin         AttachKind = "begin"
	AttachEnd           AttachKind = "end"
	AttachInterval      AttachKind = "interval"
	AttachProfile       AttachKind = "profile"
	AttachTracepoint    AttachKind = "tracepoint"
	AttachRawTracepoint AttachKind = "rawtracepoint"
	AttachKprobe        AttachKind = "kprobe"
	AttachKretprobe     AttachKind = "kretprobe"
	AttachFentry        AttachKind = "fentry"
	AttachFexit         AttachKind = "fexit"
	AttachUprobe        AttachKind = "uprobe"
	AttachUretprobe     AttachKind = "uretprobe"
	// AttachUSDT is a uprobe on a USDT probe site, with the probe's
	// semaphore (RefCtrOffset) when it has one.
	AttachUSDT AttachKind = "usdt"
	// AttachSoftware and AttachHardware are perf events of a software or
	// hardware counter (PerfConfig), on every CPU.
	AttachSoftware AttachKind = "software"
	AttachHardware AttachKind = "hardware"
	// AttachStdlib: the program is a chain of a stdlib source; Probe.Helper
	// and Probe.Slot say where it goes. The runtime attaches the helper.
	AttachStdlib AttachKind = "stdlib"
)

// Attach is what the runtime needs to attach one program.
type Attach struct {
	Kind AttachKind
	// Target is the kernel-side name: "syscalls:sys_enter_openat" for a
	// tracepoint, "sys_enter" for a raw tracepoint.
	Target string
	// Period is the interval of interval() and the sampling period of
	// profile(); Frequency is profile's rate in Hz when given as a number.
	Period    time.Duration
	Frequency uint64
	// Symbol and Offsets place a uprobe: file offsets in Target, the
	// function's entry, or each of its RET instructions on a Go return
	// probe. PID limits it to one process (-p).
	Symbol  string
	Offsets []uint64
	PID     int
	// Cookies, when set, are the BPF cookies of each of Offsets (the
	// offset's address in the file, from which a program attached at
	// several places computes a PIE's load bias).
	Cookies []uint64
	// RefCtrOffset is the file offset of a USDT probe's semaphore, which
	// the kernel increments while the probe is attached; 0 for none.
	RefCtrOffset uint64
	// PerfConfig is the counter of a software or hardware perf event
	// (PERF_COUNT_SW_*, PERF_COUNT_HW_*); PerfPeriod fires the probe
	// every that many events, unless Frequency asks for a rate in Hz.
	PerfConfig uint64
	PerfPeriod uint64
}

// EventKind says what a ring buffer record is.
type EventKind int

const (
	// EventPrint is a print() stage's record.
	EventPrint EventKind = iota
	// EventExit asks the runtime to stop (exit() stage).
	EventExit
	// EventSpan is a unit of work with a start and a duration, for
	// --otlp (span.go): Fields are "start" (monotonic ns, Time), then
	// "duration" (ns), then the attributes.
	EventSpan
)

// Event is the layout of one kind of ring buffer record. Each record starts
// with its uint32 id, then 4 bytes of padding, then the fields.
type Event struct {
	ID    uint32
	Kind  EventKind
	Probe string
	// Format is the Go format of print(fmt, …); empty for the default line
	// print(), whose fields are printed name=value.
	Format string
	Fields []Field
	Size   int
	Pos    dsl.Pos
	// Span is the name of an EventSpan's spans.
	Span string
	// Schema, on the spans of a stdlib source, names each span and gives
	// its semantic-convention attributes (pack.Schema.Span).
	Schema *pack.Schema
}

// FieldKind is how the runtime decodes a field of a record or key.
type FieldKind int

// Field kinds.
const (
	FieldInt FieldKind = iota
	FieldString
	FieldStack
)

// Field is one value inside an event record or map key.
type Field struct {
	Name   string // source text of the expression, or the args field name
	Offset int
	Size   int // bytes in the record (8 for ints, the buffer for strings)
	Kind   FieldKind
	Signed bool
	Hex    bool
	// Time marks the nsecs timestamp of a default print() line.
	Time bool
	// Show says how to present the value: "" as it is, "ksym"/"usym"
	// (an address as a symbol; usym carries the pid in the next 8 bytes),
	// "ipv4"/"ipv6" (ntop), "kstack"/"ustack" (a stack id; ustack's high
	// 32 bits are the pid; a 16-byte ustack has the caller's return
	// address in its second word, to show as the second frame), "probe"
	// (an index into Program.ProbeNames, which `func` shares), "bool" (a
	// Go or C bool: true or false), "gotype" (the address, in Binary's
	// file, of a Go interface's dynamic type's runtime descriptor, shown
	// as the type's name; 0 is nil), "username" (a uid, shown as the
	// user's name), "strftime:LAYOUT" (CLOCK_MONOTONIC ns, shown as
	// wall-clock time in Go's time layout LAYOUT).
	Show string
	// Binary is the traced binary a "gotype" value belongs to.
	Binary string
}

// Aggregation describes one aggregation map. Values are per-CPU, laid out
// as Kind says (package agg owns the layouts); the runtime merges CPUs
// with Kind.Merge. Histogram buckets are the last 8 bytes of the key of a
// hash map, or the index of an array when the aggregation has no by() keys.
type Aggregation struct {
	Name string // "@"+Name is shown; the stage name unless .as() renamed it
	// Named: the name was given (.as() or a binding). Aggregations given
	// the same name share one map; unnamed ones of the same kind are told
	// apart as count, count_1, …
	Named  bool
	Kind   *agg.Kind
	Params agg.Params
	Map    string
	// Array is true for aggregations without by() keys: a per-CPU array
	// with one slot, or one slot per bucket for histograms.
	Array   bool
	Keys    []Field
	KeySize int
	// Signed says the aggregated values are signed (min/max compare so).
	Signed bool
	Every  time.Duration
	Top    int
	// Export is the metric name given by .export(); "" when not exported.
	Export string
	// Duration says the aggregated values are nanoseconds of time (the
	// value is `elapsed` or a duration field, or the export name ends in
	// _seconds), so exporters can publish seconds.
	Duration bool
	// SamplePeriod, when every update comes from profile() probes of one
	// rate, is the CPU time each count stands for (a CPU profile).
	SamplePeriod time.Duration
	Pos          dsl.Pos
}

// SameShape reports whether a and b hold the same kind of values under
// keys of the same types, so that one can stand for the other.
func (a *Aggregation) SameShape(b *Aggregation) bool {
	if a.Kind != b.Kind || a.Params != b.Params || a.Array != b.Array || a.KeySize != b.KeySize || len(a.Keys) != len(b.Keys) {
		return false
	}
	for i, x := range a.Keys {
		y := b.Keys[i]
		if x.Offset != y.Offset || x.Size != y.Size || x.Kind != y.Kind || x.Signed != y.Signed || x.Show != y.Show {
			return false
		}
	}
	return true
}
