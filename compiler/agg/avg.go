package agg

import (
	"strconv"

	"github.com/cilium/ebpf/asm"
)

// avg keeps sum, count.
func init() {
	Register(&Kind{
		Name: "avg", Usage: "avg(x)", Doc: "average of x",
		Value: true, Words: 2,
		Update: func(e Emitter, v asm.Register, _ bool) {
			AddWord(e, 0, v)
			IncWord(e, 8)
		},
		Decode: func(raw []byte, _ int) Value {
			return Value{Sum: int64(Word(raw, 0)), Count: int64(Word(raw, 1))}
		},
		Merge: func(dst *Value, src Value, _ bool) {
			dst.Sum += src.Sum
			dst.Count += src.Count
		},
		Order:  func(v *Value) int64 { return v.avg() },
		Text:   func(v *Value) string { return strconv.FormatInt(v.avg(), 10) },
		Fields: func(v *Value) []Field { return []Field{{"value", v.avg()}, {"count", v.Count}, {"sum", v.Sum}} },
		Metric: Gauge,
	})
}
