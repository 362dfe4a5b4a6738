package agg

import (
	"strconv"

	"github.com/cilium/ebpf/asm"
)

// min and max keep the value, then a word that is non-zero once a value
// was seen.
func init() {
	Register(extremeKind(true))
	Register(extremeKind(false))
}

func extremeKind(isMin bool) *Kind {
	k := &Kind{Name: "max", Usage: "max(x)", Doc: "largest x"}
	if isMin {
		k = &Kind{Name: "min", Usage: "min(x)", Doc: "smallest x"}
	}
	k.Value, k.Words, k.Metric = true, 2, Gauge
	k.Update = func(e Emitter, v asm.Register, signed bool) {
		e.Emit(asm.LoadMem(asm.R3, asm.R0, 8, asm.DWord))
		SetExtreme(e, isMin, signed, 0, v, asm.R3)
		e.Emit(StoreDW(asm.R0, 8, 1))
	}
	k.Decode = func(raw []byte, _ int) Value {
		if Word(raw, 1) == 0 {
			return Value{}
		}
		x := int64(Word(raw, 0))
		return Value{Count: 1, Min: x, Max: x}
	}
	k.Merge = func(dst *Value, src Value, signed bool) {
		switch {
		case src.Count == 0:
		case dst.Count == 0, isMin && Less(src.Min, dst.Min, signed), !isMin && Less(dst.Max, src.Max, signed):
			dst.Min, dst.Max, dst.Count = src.Min, src.Max, 1
		}
	}
	k.Order = func(v *Value) int64 { return v.extreme(isMin) }
	k.Text = func(v *Value) string { return strconv.FormatInt(v.extreme(isMin), 10) }
	k.Fields = func(v *Value) []Field { return value(v, v.extreme(isMin)) }
	return k
}
