// Package sink formats aggregation results the way bpftrace prints its maps.
//
// The runtime reads the BPF maps, sums the per-CPU values, and hands the
// result to this package as an [Aggregation]. [WriteText] prints it in
// bpftrace's text format (the `@name[key]: value` lines and the `|@@@@|`
// histograms); [WriteJSON] prints it as a single JSON object per line.
//
// The histogram bucket numbering is shared with the BPF code generator: see
// [HistBucket], [HistBounds], [LHistBucket] and [LHistBounds].
package sink

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"
)

// Kind is the aggregation function that produced an [Aggregation].
type Kind int

// The aggregation functions.
const (
	// Count counts events; the value is Row.Count.
	Count Kind = iota
	// Sum adds up values; the value is Row.Sum.
	Sum
	// Avg averages values; the value is Row.Sum / Row.Count.
	Avg
	// Min keeps the smallest value; the value is Row.Min, set when Row.Count > 0.
	Min
	// Max keeps the largest value; the value is Row.Max, set when Row.Count > 0.
	Max
	// Stats keeps count, sum, min and max (Row.Count, Row.Sum, Row.Min, Row.Max).
	Stats
	// Hist is a power-of-two histogram; counts are in Row.Buckets (see HistBucket).
	Hist
	// LHist is a linear histogram; counts are in Row.Buckets (see LHistBucket).
	LHist
)

var kindNames = [...]string{
	Count: "count",
	Sum:   "sum",
	Avg:   "avg",
	Min:   "min",
	Max:   "max",
	Stats: "stats",
	Hist:  "hist",
	LHist: "lhist",
}

// String returns the name of the aggregation function as written in a
// script: "count", "sum", "avg", "min", "max", "stats", "hist" or "lhist".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Aggregation is the content of one aggregation map, ready to be printed.
type Aggregation struct {
	// Name is the map name without the leading '@': it is printed as
	// "@"+Name, so an empty Name prints as bpftrace's anonymous map "@".
	Name string
	// Kind is the aggregation function.
	Kind Kind
	// KeyNames holds the source text of each by() key, e.g. ["comm", "pid"].
	// It is empty for a keyless aggregation, which has at most one Row.
	KeyNames []string
	// Rows holds one entry per distinct key, in any order; the writers
	// sort them.
	Rows []Row
	// LHist describes the buckets when Kind is LHist.
	LHist LHistSpec
	// Top, when > 0, keeps only the Top rows with the largest values
	// (largest total count for histograms).
	Top int
	// Time, when set, is when a periodic (every()) print was taken; JSON
	// shows it as "time".
	Time time.Time
}

// LHistSpec gives the range and bucket width of a linear histogram, as in
// lhist(value, Min, Max, Step).
type LHistSpec struct{ Min, Max, Step int64 }

// Row is the value of an aggregation for one key.
//
// Which fields are meaningful depends on the Kind: Count uses Count; Sum
// uses Sum; Avg uses Sum and Count; Min and Max use Min or Max, which are
// only set when Count > 0 (an unset value prints as 0); Stats uses all four;
// Hist and LHist use Buckets.
type Row struct {
	// Key holds one value per Aggregation.KeyNames entry.
	Key []Value
	// Count is the number of events.
	Count int64
	// Sum is the total of the values.
	Sum int64
	// Min is the smallest value seen.
	Min int64
	// Max is the largest value seen.
	Max int64
	// Buckets holds histogram counts indexed as described by HistBucket
	// and LHistBucket. It may be shorter than the full range; missing
	// buckets count as zero.
	Buckets []uint64
}

// Value is one key component: an int64, a uint64, a string or a Stack.
// Other types are printed with fmt's %v verb (and encoded as-is in JSON).
type Value = any

// Stack is a symbolized stack trace used as a key, as kstack/ustack are in
// bpftrace.
type Stack struct {
	// Frames holds the symbolized frames, innermost first.
	Frames []string
}

// HistBuckets is the number of buckets of a power-of-two histogram
// (indexes 0 through 65).
const HistBuckets = 66

// HistBucket returns the power-of-two histogram bucket for v:
//
//	index 0:       v < 0
//	index 1:       v == 0
//	index k >= 2:  2^(k-2) <= v < 2^(k-1)
//
// So 1 goes to index 2, 2 and 3 to index 3, 4..7 to index 4, 1024..2047 to
// index 12, and math.MaxInt64 to index 64. Index 65 holds [2^63, 2^64); it
// is only reachable for values counted as unsigned by the BPF code.
func HistBucket(v int64) int {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return 1
	}
	return bits.Len64(uint64(v)) + 1
}

// HistBounds returns the range [lo, hi) of power-of-two histogram bucket i
// (see HistBucket). Bounds that do not fit in an int64 saturate: bucket 0
// is [math.MinInt64, 0), bucket 64 ends at math.MaxInt64 instead of 2^63
// and bucket 65 reports lo = hi = math.MaxInt64. It panics if i is not in
// [0, HistBuckets).
func HistBounds(i int) (lo, hi int64) {
	switch {
	case i < 0 || i >= HistBuckets:
		panic(fmt.Sprintf("sink: hist bucket %d out of range", i))
	case i == 0:
		return math.MinInt64, 0
	case i == 1:
		return 0, 1
	case i == 64:
		return 1 << 62, math.MaxInt64
	case i == 65:
		return math.MaxInt64, math.MaxInt64
	}
	return 1 << (i - 2), 1 << (i - 1)
}

// n returns the number of in-range buckets, or -1 if s is invalid.
func (s LHistSpec) n() int64 {
	if s.Step <= 0 || s.Max <= s.Min {
		return -1
	}
	// Max-Min may overflow int64 but always fits in a uint64.
	return int64((uint64(s.Max) - uint64(s.Min)) / uint64(s.Step))
}

// Validate reports whether s describes a usable linear histogram: Step
// must be positive and Max greater than Min.
func (s LHistSpec) Validate() error {
	if s.Step <= 0 {
		return fmt.Errorf("sink: lhist step %d must be positive", s.Step)
	}
	if s.Max <= s.Min {
		return fmt.Errorf("sink: lhist max %d must be greater than min %d", s.Max, s.Min)
	}
	return nil
}

// Buckets returns the number of buckets of the linear histogram: n+2, where
// n = (Max-Min)/Step is the number of in-range buckets, plus the underflow
// and overflow buckets. It returns 0 if s is invalid (see Validate).
func (s LHistSpec) Buckets() int {
	n := s.n()
	if n < 0 {
		return 0
	}
	return int(n) + 2
}

// LHistBucket returns the linear histogram bucket for v, with
// n = (Max-Min)/Step:
//
//	index 0:           v < Min
//	index i in 1..n:   Min+(i-1)*Step <= v < Min+i*Step
//	index n+1:         v >= Min+n*Step (in particular v >= Max)
//
// When Max-Min is not a multiple of Step, the values in [Min+n*Step, Max)
// also go to the overflow bucket n+1. It returns 0 if s is invalid.
func LHistBucket(v int64, s LHistSpec) int {
	n := s.n()
	if n < 0 || v < s.Min {
		return 0
	}
	if v >= s.Max {
		return int(n) + 1
	}
	i := int64((uint64(v)-uint64(s.Min))/uint64(s.Step)) + 1
	return int(min(i, n+1))
}

// LHistBounds returns the range [lo, hi) of linear histogram bucket i (see
// LHistBucket). The open ends saturate: bucket 0 is [math.MinInt64, Min)
// and bucket n+1 is [Min+n*Step, math.MaxInt64). It panics if s is invalid
// or i is not in [0, s.Buckets()).
func LHistBounds(i int, s LHistSpec) (lo, hi int64) {
	n := s.n()
	if n < 0 {
		panic("sink: invalid lhist spec")
	}
	if i < 0 || int64(i) > n+1 {
		panic(fmt.Sprintf("sink: lhist bucket %d out of range", i))
	}
	switch {
	case i == 0:
		return math.MinInt64, s.Min
	case int64(i) == n+1:
		return s.lhistEdge(n), math.MaxInt64
	}
	return s.lhistEdge(int64(i) - 1), s.lhistEdge(int64(i))
}

// lhistEdge returns Min+i*Step for 0 <= i <= n; the result lies in
// [Min, Max], so wrapping arithmetic gives the exact value.
func (s LHistSpec) lhistEdge(i int64) int64 {
	return int64(uint64(s.Min) + uint64(i)*uint64(s.Step))
}
