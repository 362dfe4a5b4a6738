package agg

import (
	"strconv"

	"github.com/cilium/ebpf/asm"
)

func init() {
	Register(&Kind{
		Name: "count", Usage: "count()", Doc: "count events",
		Words:  1,
		Update: func(e Emitter, _ asm.Register, _ bool) { IncWord(e, 0) },
		Decode: func(raw []byte, _ int) Value { return Value{Count: int64(Word(raw, 0))} },
		Merge:  func(dst *Value, src Value, _ bool) { dst.Count += src.Count },
		Order:  func(v *Value) int64 { return v.Count },
		Text:   func(v *Value) string { return strconv.FormatInt(v.Count, 10) },
		Fields: func(v *Value) []Field { return value(v, v.Count) },
		Metric: Counter,
	})
}
