// Package agg holds the aggregation kinds (count, sum, avg, min, max,
// stats, hist, lhist). A kind is one record that owns everything about it:
// the size of its per-CPU value, the kernel code that updates a value, how
// the values of several CPUs (or of an older --watch version) merge, and
// how a merged value reads to the sinks. The compiler generates with it,
// the runtime merges with it and the sinks render with it, so the per-CPU
// byte layout is written down once, here.
//
// Adding a kind is one file: a Kind passed to Register in an init function.
package agg

import (
	"encoding/binary"
	"sort"

	"github.com/cilium/ebpf/asm"
)

// Kind is one aggregation function.
type Kind struct {
	// Name is the stage name (`.count()`), and the default name of the
	// aggregation it makes.
	Name  string
	Usage string // how it is written, e.g. "hist(x)"
	Doc   string // one line for help and completion
	// Value says whether the stage takes a value to aggregate (all but
	// count). Params is how many integer constants follow it (lhist's
	// min, max and step).
	Value  bool
	Params int
	// Words is the number of 8-byte words in one CPU's value of one key
	// (or one bucket).
	Words int
	// CheckParams validates the constants; nil when Params is 0.
	CheckParams func(p Params) (arg int, msg string)
	// Buckets, for histograms, is the number of buckets; nil otherwise.
	// The bucket is the index of a keyless map and the last 8 bytes of
	// the key of a keyed one.
	Buckets func(p Params) int
	// Bucket emits the code that puts the bucket of the value in R1 into
	// R0 (histograms). R1 and R2 are scratch.
	Bucket func(e Emitter, p Params)
	// Update emits the code that folds the value in register v into this
	// CPU's value at R0 (for histograms, the value of the value's bucket).
	// R1–R3 are scratch; v is not R0–R3.
	Update func(e Emitter, v asm.Register, signed bool)
	// Decode reads one CPU's raw value (Words words) of bucket b.
	Decode func(raw []byte, b int) Value
	// Merge folds src into dst: one CPU's value into the total, or the
	// total of an older --watch version into the new one.
	Merge func(dst *Value, src Value, signed bool)
	// Order is the number rows are sorted by (ascending, as bpftrace).
	Order func(v *Value) int64
	// Text is the value as bpftrace prints it after "@name[key]: ". A
	// histogram without Text is printed by the sink as bucket bars, with
	// BucketLabel.
	Text func(v *Value) string
	// Fields are the numbers a row shows in JSON, in order; a histogram
	// without Fields shows its buckets, with BucketBounds.
	Fields func(v *Value) []Field
	// BucketLabel is bpftrace's text label of bucket i ("[1K, 2K)").
	BucketLabel func(i int, p Params) string
	// BucketBounds are the exact bounds of bucket i as decimal numbers,
	// lo inclusive and hi exclusive; "" for an open end.
	BucketBounds func(i int, p Params) (lo, hi string)
	// Metric is how an exporter publishes it.
	Metric Metric
}

// Metric is the kind of Prometheus metric an aggregation becomes.
type Metric int

// Metric kinds.
const (
	Counter Metric = iota
	Gauge
	Histogram
	Summary
)

// Params are the integer constants after the value (lhist(x, min, max, step)).
type Params struct{ Min, Max, Step int64 }

// Value is an aggregation's merged value under one key.
type Value struct {
	// Count is the number of events; for min and max, 1 once a value was
	// seen (their kernel value keeps only a "set" flag).
	Count    int64
	Sum      int64
	Min, Max int64
	// Buckets are a histogram's counts by bucket index.
	Buckets []uint64
}

// Field is one named number of a value, for JSON.
type Field struct {
	Name  string
	Value int64
}

// Emitter is what kernel code is generated into: the compiler's
// instruction stream with its labels.
type Emitter interface {
	Emit(ins ...asm.Instruction)
	// Label returns a fresh jump target name.
	Label(what string) string
	// Mark places label on the next instruction emitted.
	Mark(label string)
}

// Histogram reports whether k keeps one value per bucket.
func (k *Kind) Histogram() bool { return k.Buckets != nil }

// ValueSize is the size in bytes of one CPU's value.
func (k *Kind) ValueSize() int { return 8 * k.Words }

func (k *Kind) String() string { return k.Name }

var kinds = map[string]*Kind{}

// Register adds a kind; it is called from init functions.
func Register(k *Kind) {
	if _, dup := kinds[k.Name]; dup {
		panic("agg: kind " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

// Lookup returns the kind named name.
func Lookup(name string) (*Kind, bool) {
	k, ok := kinds[name]
	return k, ok
}

// Names lists the kinds, sorted.
func Names() []string {
	var out []string
	for n := range kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Word is the i-th little-endian 8-byte word of raw.
func Word(raw []byte, i int) uint64 {
	if len(raw) < 8*(i+1) {
		return 0
	}
	return binary.LittleEndian.Uint64(raw[8*i:])
}

// Less compares two values as the aggregated numbers' signedness says.
func Less(x, y int64, signed bool) bool {
	if signed {
		return x < y
	}
	return uint64(x) < uint64(y)
}

// IncWord emits: word at R0+off += 1.
func IncWord(e Emitter, off int16) {
	e.Emit(asm.LoadMem(asm.R2, asm.R0, off, asm.DWord), asm.Add.Imm(asm.R2, 1), asm.StoreMem(asm.R0, off, asm.R2, asm.DWord))
}

// AddWord emits: word at R0+off += r.
func AddWord(e Emitter, off int16, r asm.Register) {
	e.Emit(asm.LoadMem(asm.R2, asm.R0, off, asm.DWord), asm.Add.Reg(asm.R2, r), asm.StoreMem(asm.R0, off, asm.R2, asm.DWord))
}

// SetExtreme emits: store rv at R0+off when register set is 0 (nothing
// seen yet) or rv beats the value there.
func SetExtreme(e Emitter, isMin, signed bool, off int16, rv, set asm.Register) {
	store := e.Label("extreme")
	keep := e.Label("keep")
	e.Emit(asm.JEq.Imm(set, 0, store), asm.LoadMem(asm.R2, asm.R0, off, asm.DWord))
	var j asm.JumpOp
	switch {
	case isMin && signed:
		j = asm.JSLE
	case isMin:
		j = asm.JLE
	case signed:
		j = asm.JSGE
	default:
		j = asm.JGE
	}
	e.Emit(j.Reg(asm.R2, rv, keep))
	e.Mark(store)
	e.Emit(asm.StoreMem(asm.R0, off, rv, asm.DWord))
	e.Mark(keep)
}

// StoreDW stores a sign-extended 32-bit immediate as 8 bytes at dst+off.
// asm.StoreImm refuses DWord, but BPF_ST|BPF_MEM|BPF_DW is a valid insn.
func StoreDW(dst asm.Register, off int16, v int64) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off, Constant: v}
}

// value is the Fields of a kind that shows one number.
func value(v *Value, x int64) []Field { return []Field{{"value", x}} }

// avg is Sum/Count truncated toward zero, as bpftrace's integer average.
func (v *Value) avg() int64 {
	if v.Count == 0 {
		return 0
	}
	return v.Sum / v.Count
}

// extreme returns Min (or Max) when set, else 0.
func (v *Value) extreme(isMin bool) int64 {
	switch {
	case v.Count == 0:
		return 0
	case isMin:
		return v.Min
	}
	return v.Max
}

// Total is the sum of a histogram's buckets, else the count.
func (v *Value) Total() uint64 {
	if v.Buckets == nil {
		return uint64(v.Count)
	}
	var t uint64
	for _, c := range v.Buckets {
		t += c
	}
	return t
}

// histUpdate is a histogram bucket's update: one more event, and its
// value added to the bucket's sum (exporters publish the sum of every
// value; a bucket's bounds alone cannot give it).
func histUpdate(e Emitter, v asm.Register, _ bool) {
	IncWord(e, 0)
	AddWord(e, 8, v)
}

// mergeBuckets adds src's buckets and sum into dst's.
func mergeBuckets(dst *Value, src Value) {
	dst.Sum += src.Sum
	for len(dst.Buckets) < len(src.Buckets) {
		dst.Buckets = append(dst.Buckets, 0)
	}
	for i, c := range src.Buckets {
		dst.Buckets[i] += c
	}
}

// bucketValue is a histogram's raw value of bucket b: its count, and the
// sum of the values it counted.
func bucketValue(raw []byte, b int) Value {
	v := Value{Buckets: make([]uint64, b+1), Sum: int64(Word(raw, 1))}
	v.Buckets[b] = Word(raw, 0)
	return v
}
