package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

var sinkKinds = map[compiler.AggKind]sink.Kind{
	compiler.AggCount: sink.Count, compiler.AggSum: sink.Sum, compiler.AggAvg: sink.Avg,
	compiler.AggMin: sink.Min, compiler.AggMax: sink.Max, compiler.AggStats: sink.Stats,
	compiler.AggHist: sink.Hist, compiler.AggLHist: sink.LHist,
}

// cpuValues is one map value per possible CPU.
type cpuValues [][]byte

func word(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }

// merge folds the per-CPU values of one key into a row (see
// compiler.Aggregation for the layouts).
func merge(a *compiler.Aggregation, vals cpuValues, row *sink.Row) {
	less := func(x, y uint64) bool {
		if a.Signed {
			return int64(x) < int64(y)
		}
		return x < y
	}
	for _, v := range vals {
		if len(v) < a.ValueSize {
			continue
		}
		switch a.Kind {
		case compiler.AggCount:
			row.Count += int64(word(v, 0))
		case compiler.AggSum:
			row.Sum += int64(word(v, 0))
		case compiler.AggAvg:
			row.Sum += int64(word(v, 0))
			row.Count += int64(word(v, 1))
		case compiler.AggMin, compiler.AggMax:
			if word(v, 1) == 0 {
				continue
			}
			x := word(v, 0)
			if row.Count == 0 || (a.Kind == compiler.AggMin && less(x, uint64(row.Min))) || (a.Kind == compiler.AggMax && less(uint64(row.Max), x)) {
				row.Min, row.Max = int64(x), int64(x)
			}
			row.Count = 1
		case compiler.AggStats:
			n := word(v, 0)
			if n == 0 {
				continue
			}
			lo, hi := word(v, 2), word(v, 3)
			if row.Count == 0 || less(lo, uint64(row.Min)) {
				row.Min = int64(lo)
			}
			if row.Count == 0 || less(uint64(row.Max), hi) {
				row.Max = int64(hi)
			}
			row.Count += int64(n)
			row.Sum += int64(word(v, 1))
		}
	}
	if a.Kind == compiler.AggMin {
		row.Max = row.Min
	}
	if a.Kind == compiler.AggMax {
		row.Min = row.Max
	}
}

func sumWord0(vals cpuValues) uint64 {
	var n uint64
	for _, v := range vals {
		if len(v) >= 8 {
			n += word(v, 0)
		}
	}
	return n
}

// readAggregation reads an aggregation map into the sink's form.
func readAggregation(a *compiler.Aggregation, m *ebpf.Map, dec *decoder) (*sink.Aggregation, error) {
	out := &sink.Aggregation{Name: a.Name, Kind: sinkKinds[a.Kind], Top: a.Top}
	for _, k := range a.Keys {
		out.KeyNames = append(out.KeyNames, k.Name)
	}
	if a.Kind == compiler.AggLHist {
		out.LHist = sink.LHistSpec{Min: a.LHist.Min, Max: a.LHist.Max, Step: a.LHist.Step}
	}
	bucketed := a.Kind == compiler.AggHist || a.Kind == compiler.AggLHist
	if a.Array {
		if bucketed {
			row := sink.Row{}
			any := false
			for i := uint32(0); i < m.MaxEntries(); i++ {
				var vals cpuValues
				if err := m.Lookup(i, &vals); err != nil {
					return nil, fmt.Errorf("read %s: %w", a.Map, err)
				}
				n := sumWord0(vals)
				row.Buckets = append(row.Buckets, n)
				any = any || n > 0
			}
			if any {
				out.Rows = append(out.Rows, row)
			}
			return out, nil
		}
		var vals cpuValues
		if err := m.Lookup(uint32(0), &vals); err != nil {
			return nil, fmt.Errorf("read %s: %w", a.Map, err)
		}
		row := sink.Row{}
		merge(a, vals, &row)
		out.Rows = append(out.Rows, row)
		return out, nil
	}
	rows := map[string]*sink.Row{}
	var order []string
	var key []byte
	var vals cpuValues
	it := m.Iterate()
	for it.Next(&key, &vals) {
		userKey := key
		if bucketed {
			userKey = key[:len(key)-8]
		}
		id := string(userKey)
		row, ok := rows[id]
		if !ok {
			row = &sink.Row{}
			for _, f := range a.Keys {
				row.Key = append(row.Key, sinkValue(dec.field(userKey, f)))
			}
			rows[id] = row
			order = append(order, id)
		}
		if bucketed {
			b := binary.LittleEndian.Uint64(key[len(key)-8:])
			if b > math.MaxInt16 {
				continue
			}
			for len(row.Buckets) <= int(b) {
				row.Buckets = append(row.Buckets, 0)
			}
			row.Buckets[b] += sumWord0(vals)
			continue
		}
		merge(a, vals, row)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", a.Map, err)
	}
	for _, id := range order {
		out.Rows = append(out.Rows, *rows[id])
	}
	return out, nil
}

// clearAggregation empties an aggregation after every() printed it.
func clearAggregation(a *compiler.Aggregation, m *ebpf.Map) error {
	if a.Array {
		n, err := ebpf.PossibleCPU()
		if err != nil {
			return err
		}
		zero := make(cpuValues, n)
		for i := range zero {
			zero[i] = make([]byte, a.ValueSize)
		}
		for i := uint32(0); i < m.MaxEntries(); i++ {
			if err := m.Update(i, zero, ebpf.UpdateExist); err != nil {
				return err
			}
		}
		return nil
	}
	var keys [][]byte
	var key []byte
	var vals cpuValues
	it := m.Iterate()
	for it.Next(&key, &vals) {
		keys = append(keys, append([]byte(nil), key...))
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return it.Err()
}
