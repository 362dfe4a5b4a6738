package agg

import (
	"strconv"

	"github.com/cilium/ebpf/asm"
)

// lhist is a linear histogram of n = (max-min)/step buckets plus one
// below and one above:
//
//	0:          v < min
//	i in 1..n:  min+(i-1)*step <= v < min+i*step
//	n+1:        v >= max
func init() {
	Register(&Kind{
		Name: "lhist", Usage: "lhist(x, min, max, step)", Doc: "linear histogram of x",
		Value: true, Params: 3, Words: 2,
		CheckParams: func(p Params) (int, string) {
			switch {
			case p.Step <= 0:
				return 2, "lhist's step must be positive"
			case p.Max <= p.Min:
				return 1, "lhist's max must be larger than its min"
			case (uint64(p.Max)-uint64(p.Min))/uint64(p.Step) > 1000:
				return 2, "lhist would have " + strconv.FormatUint((uint64(p.Max)-uint64(p.Min))/uint64(p.Step), 10) + " buckets; at most 1000"
			case (uint64(p.Max)-uint64(p.Min))%uint64(p.Step) != 0:
				return 2, "lhist's max - min must be a multiple of step"
			}
			return 0, ""
		},
		Buckets: func(p Params) int { return int(p.n()) + 2 },
		Bucket: func(e Emitter, p Params) {
			done := e.Label("bucket")
			e.Emit(asm.Mov.Imm(asm.R0, 0))
			MovImm(e, asm.R2, p.Min)
			e.Emit(asm.JSLT.Reg(asm.R1, asm.R2, done))
			MovImm(e, asm.R0, p.n()+1)
			MovImm(e, asm.R2, p.Max)
			e.Emit(asm.JSGE.Reg(asm.R1, asm.R2, done))
			MovImm(e, asm.R2, p.Min)
			e.Emit(asm.Sub.Reg(asm.R1, asm.R2))
			MovImm(e, asm.R2, p.Step)
			e.Emit(asm.Div.Reg(asm.R1, asm.R2), asm.Add.Imm(asm.R1, 1), asm.Mov.Reg(asm.R0, asm.R1))
			e.Mark(done)
		},
		Update:       histUpdate,
		Decode:       bucketValue,
		Merge:        func(dst *Value, src Value, _ bool) { mergeBuckets(dst, src) },
		Order:        func(v *Value) int64 { return int64(v.Total()) },
		BucketLabel:  lhistLabel,
		BucketBounds: lhistBounds,
		Metric:       Histogram,
	})
}

// n is the number of in-range buckets; Max-Min may overflow int64 but
// fits in a uint64.
func (p Params) n() int64 { return int64((uint64(p.Max) - uint64(p.Min)) / uint64(p.Step)) }

// edge is Min+i*Step for 0 <= i <= n; it lies in [Min, Max], so wrapping
// arithmetic gives the exact value.
func (p Params) edge(i int64) int64 { return int64(uint64(p.Min) + uint64(i)*uint64(p.Step)) }

// LHistBucket is the bucket of v, as the kernel code computes it.
func LHistBucket(v int64, p Params) int {
	switch {
	case v < p.Min:
		return 0
	case v >= p.Max:
		return int(p.n()) + 1
	}
	return int((uint64(v)-uint64(p.Min))/uint64(p.Step)) + 1
}

// lhistLabel is bpftrace's label of bucket i: "(..., min)", "[lo, hi)",
// "[max, ...)"; with step 1 the in-range buckets print as "[lo]".
func lhistLabel(i int, p Params) string {
	n := p.n()
	switch {
	case i == 0:
		return "(..., " + lhistNumber(p.Min, p.Step) + ")"
	case int64(i) == n+1:
		return "[" + lhistNumber(p.edge(n), p.Step) + ", ...)"
	}
	lo, hi := p.edge(int64(i)-1), p.edge(int64(i))
	if p.Step == 1 {
		return "[" + lhistNumber(lo, p.Step) + "]"
	}
	return "[" + lhistNumber(lo, p.Step) + ", " + lhistNumber(hi, p.Step) + ")"
}

// lhistNumber formats a bound as bpftrace's lhist_index_label: when step
// is a multiple of 1024, multiples of 1M and 1K get an M or K suffix.
func lhistNumber(v, step int64) string {
	const kilo, mega = 1024, 1024 * 1024
	switch {
	case step%kilo != 0 || v == 0:
	case v%mega == 0:
		return strconv.FormatInt(v/mega, 10) + "M"
	case v%kilo == 0:
		return strconv.FormatInt(v/kilo, 10) + "K"
	}
	return strconv.FormatInt(v, 10)
}

// lhistBounds are the bounds of bucket i; the open ends are "".
func lhistBounds(i int, p Params) (lo, hi string) {
	n := p.n()
	num := func(v int64) string { return strconv.FormatInt(v, 10) }
	switch {
	case i == 0:
		return "", num(p.Min)
	case int64(i) == n+1:
		return num(p.edge(n)), ""
	}
	return num(p.edge(int64(i) - 1)), num(p.edge(int64(i)))
}

// MovImm emits r = x, with a 64-bit load when x does not fit in 32 bits.
func MovImm(e Emitter, r asm.Register, x int64) {
	if x >= -1<<31 && x < 1<<31 {
		e.Emit(asm.Mov.Imm(r, int32(x)))
	} else {
		e.Emit(asm.LoadImm(r, x, asm.DWord))
	}
}
