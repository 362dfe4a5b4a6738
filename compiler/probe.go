package compiler

import (
	"sort"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/internal/tracefs"
	"github.com/ebpftrace/ebpftrace/stdlib"
)

// A provider is one probe kind (ply's model): it resolves the arguments of
// its source call to concrete probes and describes each probe's context —
// program type, the `args` it offers, how raw arguments and retval read.
// Adding a probe kind means one new probe_*.go file registering a provider,
// plus its attach in the runtime.
type provider struct {
	name string
	// usage is shown in errors and :help, e.g. `tracepoint("cat:name")`.
	usage  string
	expand func(env *Env, call *dsl.Call) ([]*target, error)
}

// target is one concrete probe a chain compiles to.
type target struct {
	name     string // e.g. "tracepoint:syscalls:sys_enter_openat"
	attach   Attach
	progType ebpf.ProgramType
	// args are the fields of `args`, in order; nil when the probe has none.
	// argsFn, when set, computes them on first use (kernel BTF is loaded
	// only if a chain reads args).
	args    []*argField
	argsFn  func() ([]*argField, error)
	argsErr error
	// retval is how `retval` reads, on return probes; nil elsewhere.
	retval *argField
	// attachType and attachTo go into the program spec (fentry/fexit).
	attachType ebpf.AttachType
	attachTo   string
	// fallback is compiled too and attached when this target cannot be
	// (kprobe ↔ fentry).
	fallback *target
	// seeAlso names tracepoints that see the same event, for the error
	// when the probe cannot attach.
	seeAlso []string
	// argOffs are the context offsets of arg0…argN (u64 slots of a raw
	// tracepoint, saved registers of a kprobe or uprobe); nil when the
	// probe has no raw arguments.
	argOffs []int
	// userPtrs: the addresses the probe sees point into user memory:
	// pointer args of syscalls, anything of a user probe.
	userPtrs bool
	// goidOff is the offset of goid in the runtime's g on Go binaries,
	// -1 elsewhere (and 0 for probes that are not user probes).
	goidOff int
	// noPIDFilter: the probe does not run in the traced process (begin,
	// end, interval), so -p/-c must not filter it.
	noPIDFilter bool
	// pidAttach: the attachment itself can be limited to the -p process
	// (uprobes), so the program need not check the pid again.
	pidAttach bool
	// std is set on the targets of stdlib sources (probe_stdlib.go).
	std *stdTarget
	// skipped, on the first target of a glob, are the matches that could
	// not be probed; the program warns about them.
	skipped []*dsl.Error
	// bin is the traced binary of a user probe, whose types casts and
	// args use; nil elsewhere.
	bin *gobin.Binary
	// vaddrs are the virtual addresses (in the file) of each attach
	// offset, from which a PIE's load bias is computed (gotypes.go).
	vaddrs []uint64
	// isGo marks a user probe on a Go binary; goidErr says why its goid
	// is unknown when goidOff is -1.
	isGo    bool
	goidErr error
	// atEntry: the probe fires before the function pushed a frame (its
	// entry, or a Go function's RET), so a frame-pointer walk misses the
	// caller, whose return address is at [RSP].
	atEntry bool
	// funcName is what `func` reads: the probed function (kprobes,
	// uprobes, fentry); "" where a probe has no function.
	funcName string
	// rawFromArgs: the typed args are the raw argument slots themselves
	// (raw tracepoints), so their number bounds arg0…argN.
	rawFromArgs bool
	// usdt, on USDT probes, says where each argN is at the probe site.
	usdt *usdtSite
}

// argField is one field of `args`.
type argField struct {
	name    string
	typ     *Type
	off     int  // offset in the context
	dataLoc bool // __data_loc: a u32 (len<<16 | offset) locating the bytes
	// gv, when set, locates a value typed from the binary's debug
	// information (gotypes.go); typ was made from its type.
	gv *goVal
	// unreadable, when set, is why the field cannot be read.
	unreadable string
	// slot: the context holds the value as a 64-bit word (registers, raw
	// tracepoint and fentry arguments); read 8 bytes and narrow.
	slot bool
	// event: the field is in a stdlib helper's event, not in the context;
	// values, when set, are the only strings it holds.
	event  bool
	values []string
	// bytes: a string-typed field that is raw bytes (an IPv6 address),
	// copied whole rather than up to a NUL.
	bytes bool
}

// fields returns the args fields, computing them on first use.
func (t *target) fields() []*argField {
	if t.argsFn != nil {
		t.args, t.argsErr = t.argsFn()
		t.argsFn = nil
	}
	return t.args
}

func (t *target) arg(name string) *argField {
	for _, a := range t.fields() {
		if a.name == name {
			return a
		}
	}
	return nil
}

func (t *target) argNames() []string {
	var n []string
	for _, a := range t.fields() {
		n = append(n, a.name)
	}
	return n
}

// Tracepoints is what the compiler needs of tracefs; tests may fake it.
type Tracepoints interface {
	Match(pattern string) ([]string, error)
	Format(category, name string) (*tracefs.Format, error)
	Events() ([]string, error)
}

// Env is the host the program is compiled for.
type Env struct {
	// Tracepoints may be nil when the program uses none.
	Tracepoints Tracepoints
	// Exe is the executable of the -p process or the -c command, for the
	// sources that watch one program (http.server()); "" with neither.
	Exe string
	// PID, when non-zero, limits every probe that runs in process context
	// to that process (-p), and with FollowForks to it and the processes
	// it starts. CgroupID, when set, takes precedence.
	PID int
	// CgroupID, when non-zero, limits every probe that runs in process
	// context to the tasks of that cgroup v2, as the kernel's
	// bpf_get_current_cgroup_id() names it: a -c command run in a cgroup
	// made for it, and everything it starts. Uprobes then attach to every
	// process of their binary and filter in the program.
	CgroupID uint64
	// FollowForks extends PID to every process that PID and its
	// descendants start once the program is attached (-c where no cgroup
	// can be made): the program keeps a map of traced pids, filled from
	// sched:sched_process_fork and emptied at sched:sched_process_free.
	FollowForks bool
	// StartNs is CLOCK_MONOTONIC at start; `elapsed` counts from it.
	StartNs uint64
	// RingBufSize is the event ring buffer's size in bytes, a power of
	// two of at least a page; 0 means the default (1 MiB).
	RingBufSize int
	// KernelBTF returns the running kernel's BTF; it is called only when
	// a chain needs kernel types, and may be nil.
	KernelBTF func() (*btf.Spec, error)
	// Spans makes every chain that has a start and an end (.latency(), a
	// stdlib event with start and duration) send a span record per event
	// (--otlp).
	Spans bool
	// Command says a -c command runs; `cpid` reads its pid, which the
	// runtime learns only once the command is started (after the probes
	// attach) and keeps in the control word's second half.
	Command bool
	// Params are the script's parameters as the command line gives
	// them, in order ("1234") or by name ("pid=1234"); see params.go.
	Params []string
}

var providers = map[string]*provider{}

func register(p *provider) { providers[p.name] = p }

// lookupProvider finds a probe source: a kernel or user probe kind, or a
// stdlib pack's source.
func lookupProvider(name string) (*provider, bool) {
	if p, ok := providers[name]; ok {
		return p, true
	}
	return stdlibProvider(name)
}

// providerNames lists the probe sources, for suggestions and completion.
func providerNames() []string {
	n := stdlib.Names()
	for k := range providers {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// stringArg returns argument i of a source call, which must be a string literal.
func stringArg(call *dsl.Call, i int, what string) (string, error) {
	if i >= len(call.Args) {
		return "", dsl.Errorf(call.RParen, "%s needs %s", call.Name, what)
	}
	s, ok := call.Args[i].(*dsl.StringLit)
	if !ok {
		return "", dsl.Errorf(call.Args[i].Position(), "%s: %s must be a string literal", call.Name, what)
	}
	return s.Value, nil
}

// wantArgs checks the number of arguments of a source call.
func wantArgs(call *dsl.Call, min, max int) error {
	n := len(call.Args)
	if n < min {
		return dsl.Errorf(call.RParen, "%s takes %s", call.Name, argCount(min, max))
	}
	if n > max {
		return dsl.Errorf(call.Args[max].Position(), "%s takes %s", call.Name, argCount(min, max))
	}
	return nil
}

func argCount(min, max int) string {
	switch {
	case min == max && min == 0:
		return "no arguments"
	case min == max && min == 1:
		return "one argument"
	case min == max:
		return strconv.Itoa(min) + " arguments"
	default:
		return strconv.Itoa(min) + " to " + strconv.Itoa(max) + " arguments"
	}
}
