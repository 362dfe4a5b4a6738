package agg

import (
	"strconv"

	"github.com/cilium/ebpf/asm"
)

func init() {
	Register(&Kind{
		Name: "sum", Usage: "sum(x)", Doc: "sum of x",
		Value: true, Words: 1,
		Update: func(e Emitter, v asm.Register, _ bool) { AddWord(e, 0, v) },
		Decode: func(raw []byte, _ int) Value { return Value{Sum: int64(Word(raw, 0))} },
		Merge:  func(dst *Value, src Value, _ bool) { dst.Sum += src.Sum },
		Order:  func(v *Value) int64 { return v.Sum },
		Text:   func(v *Value) string { return strconv.FormatInt(v.Sum, 10) },
		Fields: func(v *Value) []Field { return value(v, v.Sum) },
		Metric: Counter,
	})
}
