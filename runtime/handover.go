package runtime

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/compiler"
)

// sameShape reports whether two aggregations hold the same kind of values
// under the same keys, so the values of one can be added into the other.
func sameShape(a, b *compiler.Aggregation) bool {
	if a.Name != b.Name || a.Kind != b.Kind || a.Array != b.Array || a.KeySize != b.KeySize ||
		a.ValueSize != b.ValueSize || a.LHist != b.LHist || len(a.Keys) != len(b.Keys) {
		return false
	}
	for i := range a.Keys {
		x, y := a.Keys[i], b.Keys[i]
		if x.Offset != y.Offset || x.Size != y.Size || x.Kind != y.Kind || x.Show != y.Show || x.Signed != y.Signed {
			return false
		}
	}
	return true
}

// handOverAggregations adds from's aggregation values into to's
// aggregations of the same name and shape, CPU by CPU.
func handOverAggregations(from, to *Session) error {
	var errs []error
	for _, a := range from.prog.Aggregations {
		for _, b := range to.prog.Aggregations {
			if sameShape(a, b) {
				errs = append(errs, addMap(a, from.l.maps[a.Map], to.l.maps[b.Map]))
				break
			}
		}
	}
	return errors.Join(errs...)
}

func addMap(a *compiler.Aggregation, src, dst *ebpf.Map) error {
	var key []byte
	var vals cpuValues
	type entry struct {
		key  []byte
		vals cpuValues
	}
	var entries []entry
	it := src.Iterate()
	for it.Next(&key, &vals) {
		entries = append(entries, entry{append([]byte(nil), key...), vals})
		vals = nil
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read @%s: %w", a.Name, err)
	}
	for _, e := range entries {
		var cur cpuValues
		if err := dst.Lookup(e.key, &cur); err == nil && len(cur) == len(e.vals) {
			for i := range cur {
				combine(a, cur[i], e.vals[i])
			}
		} else {
			cur = e.vals
		}
		if err := dst.Update(e.key, cur, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("carry @%s over: %w", a.Name, err)
		}
	}
	return nil
}

// combine adds one CPU's value src into dst (layouts in compiler.Aggregation).
func combine(a *compiler.Aggregation, dst, src []byte) {
	put := func(b []byte, i int, v uint64) {
		for k := 0; k < 8; k++ {
			b[8*i+k] = byte(v >> (8 * k))
		}
	}
	less := func(x, y uint64) bool {
		if a.Signed {
			return int64(x) < int64(y)
		}
		return x < y
	}
	switch a.Kind {
	case compiler.AggCount, compiler.AggSum, compiler.AggHist, compiler.AggLHist:
		put(dst, 0, word(dst, 0)+word(src, 0))
	case compiler.AggAvg:
		put(dst, 0, word(dst, 0)+word(src, 0))
		put(dst, 1, word(dst, 1)+word(src, 1))
	case compiler.AggMin, compiler.AggMax:
		if word(src, 1) == 0 {
			return
		}
		x, y := word(src, 0), word(dst, 0)
		if word(dst, 1) == 0 || (a.Kind == compiler.AggMin && less(x, y)) || (a.Kind == compiler.AggMax && less(y, x)) {
			put(dst, 0, x)
		}
		put(dst, 1, 1)
	case compiler.AggStats:
		if word(src, 0) == 0 {
			return
		}
		had := word(dst, 0) != 0
		if !had || less(word(src, 2), word(dst, 2)) {
			put(dst, 2, word(src, 2))
		}
		if !had || less(word(dst, 3), word(src, 3)) {
			put(dst, 3, word(src, 3))
		}
		put(dst, 0, word(dst, 0)+word(src, 0))
		put(dst, 1, word(dst, 1)+word(src, 1))
	}
}
