package agg

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// stats keeps count, sum, min, max.
func init() {
	Register(&Kind{
		Name: "stats", Usage: "stats(x)", Doc: "count, average and total of x",
		Value: true, Words: 4,
		Update: func(e Emitter, v asm.Register, signed bool) {
			e.Emit(asm.LoadMem(asm.R3, asm.R0, 0, asm.DWord))
			SetExtreme(e, true, signed, 16, v, asm.R3)
			SetExtreme(e, false, signed, 24, v, asm.R3)
			IncWord(e, 0)
			AddWord(e, 8, v)
		},
		Decode: func(raw []byte, _ int) Value {
			return Value{Count: int64(Word(raw, 0)), Sum: int64(Word(raw, 1)), Min: int64(Word(raw, 2)), Max: int64(Word(raw, 3))}
		},
		Merge: func(dst *Value, src Value, signed bool) {
			if src.Count == 0 {
				return
			}
			if dst.Count == 0 || Less(src.Min, dst.Min, signed) {
				dst.Min = src.Min
			}
			if dst.Count == 0 || Less(dst.Max, src.Max, signed) {
				dst.Max = src.Max
			}
			dst.Count += src.Count
			dst.Sum += src.Sum
		},
		Order: func(v *Value) int64 { return v.avg() },
		Text: func(v *Value) string {
			return fmt.Sprintf("count %d, average %d, total %d", v.Count, v.avg(), v.Sum)
		},
		Fields: func(v *Value) []Field {
			return []Field{{"count", v.Count}, {"sum", v.Sum}, {"avg", v.avg()}, {"min", v.extreme(true)}, {"max", v.extreme(false)}}
		},
		Metric: Summary,
	})
}
