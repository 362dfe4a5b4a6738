package compiler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// software("page-faults", 100) and hardware("cache-misses", 1000) fire on
// every CPU once per that many events of a perf counter (bpftrace's
// software:page-faults:100), or at a rate given as a string such as
// "99hz". Without the second argument the period is bpftrace's default for
// the counter. With -p/-c the program keeps only the process's events;
// the counter still counts every task on the CPU, so with a period above
// 1 the process's share is sampled, not counted.
func init() {
	register(&provider{name: "software", usage: `software("page-faults"[, period])`, expand: expandPerf(AttachSoftware, softwareEvents)})
	register(&provider{name: "hardware", usage: `hardware("cache-misses"[, period])`, expand: expandPerf(AttachHardware, hardwareEvents)})
}

// perfCounter is one counter a software or hardware probe can name.
type perfCounter struct {
	names  []string // the name, then aliases
	config uint64
	period uint64 // default period
}

var softwareEvents = []perfCounter{
	{[]string{"cpu-clock", "cpu"}, unix.PERF_COUNT_SW_CPU_CLOCK, 1000000},
	{[]string{"task-clock"}, unix.PERF_COUNT_SW_TASK_CLOCK, 1000000},
	{[]string{"page-faults", "faults"}, unix.PERF_COUNT_SW_PAGE_FAULTS, 100},
	{[]string{"context-switches", "cs"}, unix.PERF_COUNT_SW_CONTEXT_SWITCHES, 1000},
	{[]string{"cpu-migrations"}, unix.PERF_COUNT_SW_CPU_MIGRATIONS, 1},
	{[]string{"minor-faults"}, unix.PERF_COUNT_SW_PAGE_FAULTS_MIN, 100},
	{[]string{"major-faults"}, unix.PERF_COUNT_SW_PAGE_FAULTS_MAJ, 1},
	{[]string{"alignment-faults"}, unix.PERF_COUNT_SW_ALIGNMENT_FAULTS, 1},
	{[]string{"emulation-faults"}, unix.PERF_COUNT_SW_EMULATION_FAULTS, 1},
	{[]string{"dummy"}, unix.PERF_COUNT_SW_DUMMY, 1},
}

var hardwareEvents = []perfCounter{
	{[]string{"cpu-cycles", "cycles"}, unix.PERF_COUNT_HW_CPU_CYCLES, 1000000},
	{[]string{"instructions"}, unix.PERF_COUNT_HW_INSTRUCTIONS, 1000000},
	{[]string{"cache-references"}, unix.PERF_COUNT_HW_CACHE_REFERENCES, 1000000},
	{[]string{"cache-misses"}, unix.PERF_COUNT_HW_CACHE_MISSES, 1000000},
	{[]string{"branch-instructions", "branches"}, unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS, 100000},
	{[]string{"branch-misses"}, unix.PERF_COUNT_HW_BRANCH_MISSES, 100000},
	{[]string{"bus-cycles"}, unix.PERF_COUNT_HW_BUS_CYCLES, 100000},
	{[]string{"frontend-stalls"}, unix.PERF_COUNT_HW_STALLED_CYCLES_FRONTEND, 1000000},
	{[]string{"backend-stalls"}, unix.PERF_COUNT_HW_STALLED_CYCLES_BACKEND, 1000000},
	{[]string{"ref-cycles"}, unix.PERF_COUNT_HW_REF_CPU_CYCLES, 1000000},
}

// PerfEventNames lists the counters software or hardware probes name.
func PerfEventNames(kind string) []string {
	events := softwareEvents
	if kind == "hardware" {
		events = hardwareEvents
	}
	var out []string
	for _, e := range events {
		out = append(out, e.names...)
	}
	sort.Strings(out)
	return out
}

func expandPerf(kind AttachKind, events []perfCounter) func(*Env, *dsl.Call) ([]*target, error) {
	return func(env *Env, call *dsl.Call) ([]*target, error) {
		if err := wantArgs(call, 1, 2); err != nil {
			return nil, err
		}
		name, err := stringArg(call, 0, "a counter name")
		if err != nil {
			return nil, err
		}
		var ev *perfCounter
		for i := range events {
			for _, n := range events[i].names {
				if n == name {
					ev = &events[i]
				}
			}
		}
		if ev == nil {
			e := dsl.Errorf(call.Args[0].Position(), "unknown %s event %q", kind, name)
			e.Hint = dsl.DidYouMean(name, PerfEventNames(string(kind)))
			if e.Hint == "" {
				e.Hint = "the events: " + strings.Join(PerfEventNames(string(kind)), ", ")
			}
			return nil, e
		}
		t := &target{progType: ebpf.PerfEvent, attach: Attach{Kind: kind, PerfConfig: ev.config, PerfPeriod: ev.period}}
		t.name = fmt.Sprintf("%s:%s:%d", kind, ev.names[0], ev.period)
		if len(call.Args) == 2 {
			switch a := call.Args[1].(type) {
			case *dsl.IntLit:
				if a.Value == 0 {
					return nil, dsl.Errorf(a.Pos, "the period must be at least 1 (the probe fires once every that many events)")
				}
				t.attach.PerfPeriod = a.Value
				t.name = fmt.Sprintf("%s:%s:%d", kind, ev.names[0], a.Value)
			case *dsl.StringLit:
				hz, ok := parseHz(a.Value)
				if !ok {
					return nil, dsl.Errorf(a.Pos, "%q is not a rate: write a period (every N events) as a number, or a rate such as \"99hz\"", a.Value)
				}
				t.attach.PerfPeriod, t.attach.Frequency = 0, hz
				t.name = fmt.Sprintf("%s:%s:%dhz", kind, ev.names[0], hz)
			default:
				return nil, dsl.Errorf(call.Args[1].Position(), "%s's second argument is a period (an integer constant) or a rate such as \"99hz\"", call.Name)
			}
		}
		return []*target{t}, nil
	}
}

// parseHz reads a rate, "99hz" or "99Hz", between 1 and 100000.
func parseHz(s string) (uint64, bool) {
	n, ok := strings.CutSuffix(strings.ToLower(s), "hz")
	if !ok {
		return 0, false
	}
	hz, err := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
	return hz, err == nil && hz >= 1 && hz <= 100000
}
