package agg

import (
	"strconv"

	"github.com/cilium/ebpf/asm"
)

// hist is a power-of-two histogram with 66 buckets:
//
//	0:       v < 0
//	1:       v == 0
//	k >= 2:  2^(k-2) <= v < 2^(k-1)
//
// so 1 goes to 2, 2 and 3 to 3, 1024…2047 to 12; bucket 65 holds
// [2^63, 2^64), reachable only by values counted unsigned.
const histBuckets = 66

func init() {
	Register(&Kind{
		Name: "hist", Usage: "hist(x)", Doc: "power-of-two histogram of x",
		Value: true, Words: 2,
		Buckets: func(Params) int { return histBuckets },
		Bucket: func(e Emitter, _ Params) {
			done := e.Label("bucket")
			e.Emit(asm.Mov.Imm(asm.R0, 0),
				asm.JSLT.Imm(asm.R1, 0, done), asm.Mov.Imm(asm.R0, 1), asm.JEq.Imm(asm.R1, 0, done), asm.Mov.Imm(asm.R0, 2))
			for _, k := range []int32{32, 16, 8, 4, 2, 1} {
				next := e.Label("log2")
				e.Emit(asm.Mov.Reg(asm.R2, asm.R1), asm.RSh.Imm(asm.R2, k), asm.JEq.Imm(asm.R2, 0, next),
					asm.Mov.Reg(asm.R1, asm.R2), asm.Add.Imm(asm.R0, k))
				e.Mark(next)
			}
			e.Mark(done)
		},
		Update:       histUpdate,
		Decode:       bucketValue,
		Merge:        func(dst *Value, src Value, _ bool) { mergeBuckets(dst, src) },
		Order:        func(v *Value) int64 { return int64(v.Total()) },
		BucketLabel:  func(i int, _ Params) string { return histLabel(i) },
		BucketBounds: func(i int, _ Params) (string, string) { return histBounds(i) },
		Metric:       Histogram,
	})
}

// HistBucket is the bucket of v, as the kernel code computes it.
func HistBucket(v int64) int {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return 1
	}
	n := 0
	for u := uint64(v); u != 0; u >>= 1 {
		n++
	}
	return n + 1
}

// histLabel is bpftrace's label of bucket i: "(..., 0)", "[0]", "[1]",
// "[2, 4)", …, "[512, 1K)", "[1K, 2K)".
func histLabel(i int) string {
	switch i {
	case 0:
		return "(..., 0)"
	case 1:
		return "[0]"
	case 2:
		return "[1]"
	}
	return "[" + pow2Label(i-2) + ", " + pow2Label(i-1) + ")"
}

// pow2Label is 2^p as bpftrace prints a bound: the largest power of 1024
// becomes a K, M, G, T, P or E suffix (2^10 "1K", 2^19 "512K").
func pow2Label(p int) string {
	s := strconv.FormatUint(1<<(p%10), 10)
	if d := p / 10; d > 0 {
		s += string("KMGTPE"[d-1])
	}
	return s
}

// histBounds are the exact bounds of bucket i; bucket 65 ends at 2^64.
func histBounds(i int) (lo, hi string) {
	switch i {
	case 0:
		return "", "0"
	case 1:
		return "0", "1"
	case 65:
		return strconv.FormatUint(1<<63, 10), "18446744073709551616"
	}
	return strconv.FormatUint(1<<(i-2), 10), strconv.FormatUint(1<<(i-1), 10)
}
