// Package pprof writes a session's stack-keyed aggregations as a pprof
// profile (--pprof FILE), for `go tool pprof`, flame graphs and every tool
// that reads the format.
//
// Every aggregation keyed by ustack and/or kstack becomes one or two
// sample types named after it: count() gives (name, count); sum(x) gives
// (name, nanoseconds) when x is a duration (elapsed, a stdlib duration)
// and (name, count) otherwise; a histogram gives its total count; stats
// gives its count and (name_sum, …) its sum. When every count of an
// aggregation comes from profile() at one rate, it is a CPU profile: a
// (cpu, nanoseconds) column follows, each count worth the sampling
// period, and it is the default sample type, as in a Go CPU profile.
//
// A sample's stack is the kernel frames (from /proc/kallsyms) then the
// user frames (ELF symbols; for Go binaries the pclntab's functions, files
// and lines, with inlined calls as extra lines of one location, innermost
// first). Other by() keys become labels: strings as string labels, numbers
// as numeric ones, so `go tool pprof -tagfocus comm=…` works.
package pprof

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// Profile is a sink that keeps what the stack-keyed aggregations handed
// over (at exit, and at the end of each every() period, which add up) and
// writes them as one profile.
type Profile struct {
	mu    sync.Mutex
	aggs  []*compiler.Aggregation
	kept  map[string]*kept
	start time.Time
	// exes are the executables of the processes seen in stacks, read
	// while they may still run, to name their mappings.
	exes map[int]string
	// ran: a session has run (Live was called with one).
	ran bool
}

// kept is one aggregation's rows so far.
type kept struct {
	a     *compiler.Aggregation
	rows  []sink.Row
	index map[string]int
	r     sink.Resolver
}

// New checks that p has something to profile: at least one aggregation
// keyed by a stack, each of a kind whose values add up.
func New(p *compiler.Program) (*Profile, error) {
	w := &Profile{kept: map[string]*kept{}, start: time.Now(), exes: map[int]string{}}
	for _, a := range p.Aggregations {
		if !hasStack(a) {
			continue
		}
		if err := supported(a); err != nil {
			return nil, err
		}
		w.aggs = append(w.aggs, a)
	}
	if len(w.aggs) == 0 {
		return nil, fmt.Errorf("--pprof: the program has no aggregation keyed by ustack or kstack; a CPU profile is profile(99).by(ustack).count()")
	}
	return w, nil
}

func hasStack(a *compiler.Aggregation) bool {
	for _, k := range a.Keys {
		if k.Kind == compiler.FieldStack {
			return true
		}
	}
	return false
}

// supported says why a's values cannot be a profile's, if they cannot.
func supported(a *compiler.Aggregation) error {
	switch a.Kind.Name {
	case "avg", "min", "max":
		return fmt.Errorf("--pprof: @%s is %s: a profile adds its values up; by a stack, use count(), sum(x), stats(x) or a histogram", a.Name, a.Kind.Usage)
	}
	return nil
}

// Live implements sink.Live: a --watch reload brings new aggregations.
func (w *Profile) Live(src sink.Source) {
	if src == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ran = true
	w.aggs = w.aggs[:0]
	for _, a := range src.Aggregations() {
		if hasStack(a) && supported(a) == nil {
			w.aggs = append(w.aggs, a)
		}
	}
}

// Ran reports whether a session has run with w: there is a profile to
// write.
func (w *Profile) Ran() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ran
}

// Event implements sink.Sink.
func (w *Profile) Event(*sink.Event) error { return nil }

// Lost implements sink.Sink.
func (w *Profile) Lost(sink.Lost) error { return nil }

// Flush implements sink.Sink.
func (w *Profile) Flush() error { return nil }

// Aggregation implements sink.Sink: every() periods and the rest at exit
// add up.
func (w *Profile) Aggregation(snap *sink.Snapshot) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var a *compiler.Aggregation
	for _, x := range w.aggs {
		if x.Name == snap.Name {
			a = x
		}
	}
	if a == nil {
		return nil
	}
	k := w.kept[a.Name]
	if k == nil || !k.a.SameShape(a) {
		k = &kept{a: a, index: map[string]int{}}
		w.kept[a.Name] = k
	}
	k.a = a
	if snap.R != nil {
		k.r = snap.R
	}
	for _, row := range snap.Rows {
		for _, v := range row.Key {
			if st, ok := v.(sink.Stack); ok && st.PID != 0 {
				w.exe(st.PID)
			}
		}
		key := keyString(row.Key)
		i, ok := k.index[key]
		if !ok {
			i = len(k.rows)
			k.index[key] = i
			k.rows = append(k.rows, sink.Row{Key: row.Key})
		}
		a.Kind.Merge(&k.rows[i].Value, row.Value, a.Signed)
	}
	return nil
}

func keyString(key []sink.Value) string {
	var b strings.Builder
	for _, v := range key {
		fmt.Fprintf(&b, "%T:%v\x00", v, v)
	}
	return b.String()
}

// exe remembers the executable of pid, once.
func (w *Profile) exe(pid int) {
	if _, ok := w.exes[pid]; ok {
		return
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		exe = ""
	}
	w.exes[pid] = exe
}

// column is one sample type and how a row fills it.
type column struct {
	vt    *profile.ValueType
	value func(v *sink.Row) int64
}

// columns are the sample types of one aggregation.
func columns(a *compiler.Aggregation, cpuName string) []column {
	unit := "count"
	if a.Duration {
		unit = "nanoseconds"
	}
	count := func(r *sink.Row) int64 { return int64(r.Total()) }
	var cs []column
	switch {
	case a.Kind.Name == "stats":
		cs = []column{
			{&profile.ValueType{Type: a.Name, Unit: "count"}, func(r *sink.Row) int64 { return r.Count }},
			{&profile.ValueType{Type: a.Name + "_sum", Unit: unit}, func(r *sink.Row) int64 { return r.Sum }},
		}
	case a.Kind.Value && !a.Kind.Histogram():
		cs = []column{{&profile.ValueType{Type: a.Name, Unit: unit}, func(r *sink.Row) int64 { return r.Sum }}}
	default:
		cs = []column{{&profile.ValueType{Type: a.Name, Unit: "count"}, count}}
	}
	if p := a.SamplePeriod; p > 0 && !a.Kind.Value {
		cs = append(cs, column{&profile.ValueType{Type: cpuName, Unit: "nanoseconds"}, func(r *sink.Row) int64 { return count(r) * int64(p) }})
	}
	return cs
}

// Build makes the profile of what was handed over so far.
func (w *Profile) Build() (*profile.Profile, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	p := &profile.Profile{TimeNanos: w.start.UnixNano(), DurationNanos: now.Sub(w.start).Nanoseconds()}
	b := &builder{p: p, locs: map[locKey]*profile.Location{}, funcs: map[funcKey]*profile.Function{}, maps: map[int]*profile.Mapping{}, exes: w.exes}

	sampled := 0
	for _, a := range w.aggs {
		if a.SamplePeriod > 0 && !a.Kind.Value {
			sampled++
		}
	}
	type part struct {
		k     *kept
		first int
		cols  []column
	}
	var parts []part
	for _, a := range w.aggs {
		k := w.kept[a.Name]
		if k == nil {
			k = &kept{a: a}
		}
		cpu := "cpu"
		if sampled > 1 {
			cpu = a.Name + "_cpu"
		}
		cs := columns(a, cpu)
		parts = append(parts, part{k, len(p.SampleType), cs})
		for _, c := range cs {
			p.SampleType = append(p.SampleType, c.vt)
			if c.vt.Unit == "nanoseconds" && a.SamplePeriod > 0 && p.PeriodType == nil {
				// A CPU profile: show time first, as Go's do.
				p.PeriodType = &profile.ValueType{Type: c.vt.Type, Unit: "nanoseconds"}
				p.Period = int64(a.SamplePeriod)
				p.DefaultSampleType = c.vt.Type
			}
		}
	}
	// pprof takes the first mapping for the main binary: the traced
	// programs' come before the kernel's.
	for _, pt := range parts {
		for _, row := range pt.k.rows {
			for _, v := range row.Key {
				if st, ok := v.(sink.Stack); ok && st.PID != 0 {
					b.mapping(st.PID)
				}
			}
		}
	}
	for _, pt := range parts {
		frames, _ := pt.k.r.(sink.FrameResolver)
		for i := range pt.k.rows {
			row := &pt.k.rows[i]
			s := &profile.Sample{Value: make([]int64, len(p.SampleType))}
			for j, c := range pt.cols {
				s.Value[pt.first+j] = c.value(row)
			}
			var kernel, user []sink.Stack
			for ki, f := range pt.k.a.Keys {
				if ki >= len(row.Key) {
					break
				}
				switch v := row.Key[ki].(type) {
				case sink.Stack:
					if v.PID == 0 {
						kernel = append(kernel, v)
					} else {
						user = append(user, v)
					}
				default:
					b.label(s, f.Name, v, pt.k.r)
				}
			}
			for _, st := range append(kernel, user...) {
				s.Location = append(s.Location, b.stack(st, frames)...)
			}
			p.Sample = append(p.Sample, s)
		}
	}
	if err := p.CheckValid(); err != nil {
		return nil, fmt.Errorf("build the profile: %w", err)
	}
	return p, nil
}

// Write writes the profile, gzipped, to out.
func (w *Profile) Write(out io.Writer) error {
	p, err := w.Build()
	if err != nil {
		return err
	}
	return p.Write(out)
}

// WriteFile writes the profile to path, replacing it only once complete.
func (w *Profile) WriteFile(path string) error {
	p, err := w.Build()
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	if err := p.Write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("--pprof: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pprof: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	return nil
}

// builder gives locations, functions and mappings their ids once each.
type builder struct {
	exes  map[int]string
	p     *profile.Profile
	locs  map[locKey]*profile.Location
	funcs map[funcKey]*profile.Function
	maps  map[int]*profile.Mapping
}

type locKey struct {
	pid  int
	addr uint64
}

type funcKey struct{ name, file string }

// stack returns a stack's locations, innermost first.
func (b *builder) stack(s sink.Stack, fr sink.FrameResolver) []*profile.Location {
	var named [][]sink.Frame
	out := make([]*profile.Location, 0, len(s.PCs))
	for i, pc := range s.PCs {
		if l := b.locs[locKey{s.PID, pc}]; l != nil {
			out = append(out, l)
			continue
		}
		if named == nil {
			if fr != nil {
				named = fr.SourceFrames(s)
			} else {
				named = make([][]sink.Frame, len(s.PCs))
			}
		}
		l := &profile.Location{ID: uint64(len(b.p.Location) + 1), Address: pc, Mapping: b.mapping(s.PID)}
		for _, f := range named[i] {
			name := f.Func
			if name == "" {
				name = "0x" + strconv.FormatUint(pc, 16)
			}
			l.Line = append(l.Line, profile.Line{Function: b.function(name, f.File), Line: int64(f.Line)})
		}
		if len(l.Line) == 0 {
			l.Line = []profile.Line{{Function: b.function("0x"+strconv.FormatUint(pc, 16), "")}}
		}
		b.locs[locKey{s.PID, pc}] = l
		b.p.Location = append(b.p.Location, l)
		out = append(out, l)
	}
	return out
}

func (b *builder) function(name, file string) *profile.Function {
	if f := b.funcs[funcKey{name, file}]; f != nil {
		return f
	}
	f := &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: name, SystemName: name, Filename: file}
	b.funcs[funcKey{name, file}] = f
	b.p.Function = append(b.p.Function, f)
	return f
}

// mapping is the kernel's, or one process's: the frames are named
// already, which the flags tell pprof so it does not look for binaries.
func (b *builder) mapping(pid int) *profile.Mapping {
	if m := b.maps[pid]; m != nil {
		return m
	}
	file := "[kernel.kallsyms]"
	if pid != 0 {
		file = b.exes[pid]
		if file == "" {
			file = "pid " + strconv.Itoa(pid)
		}
	}
	m := &profile.Mapping{
		ID: uint64(len(b.p.Mapping) + 1), Start: 0, Limit: math.MaxUint64, File: file,
		HasFunctions: true, HasFilenames: pid != 0, HasLineNumbers: pid != 0, HasInlineFrames: pid != 0,
	}
	b.maps[pid] = m
	b.p.Mapping = append(b.p.Mapping, m)
	return m
}

// label adds a key that is not a stack to s: numbers as numeric labels,
// the rest as text.
func (b *builder) label(s *profile.Sample, name string, v sink.Value, r sink.Resolver) {
	num := func(x int64) {
		if s.NumLabel == nil {
			s.NumLabel = map[string][]int64{}
		}
		s.NumLabel[name] = append(s.NumLabel[name], x)
	}
	str := func(x string) {
		if s.Label == nil {
			s.Label = map[string][]string{}
		}
		s.Label[name] = append(s.Label[name], x)
	}
	switch v := v.(type) {
	case int64:
		num(v)
	case uint64:
		num(int64(v))
	case string:
		str(v)
	case sink.Hex:
		str("0x" + strconv.FormatUint(uint64(v), 16))
	case sink.Symbol:
		if r != nil {
			str(r.Name(v))
		} else {
			str("0x" + strconv.FormatUint(v.Addr, 16))
		}
	case netip.Addr:
		str(v.String())
	case nil:
	default:
		str(fmt.Sprint(v))
	}
}
