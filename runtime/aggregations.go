package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// cpuValues is one map value per possible CPU.
type cpuValues [][]byte

// Snapshot reads the aggregation named name as it is now, CPUs merged,
// with what earlier --watch versions counted added. It may be called at
// any time from any goroutine (a metrics scrape does).
func (s *Session) Snapshot(name string) (*sink.Snapshot, error) {
	for _, a := range s.prog.Aggregations {
		if a.Name == name {
			return s.snapshot(a)
		}
	}
	return nil, fmt.Errorf("no aggregation @%s", name)
}

// Aggregations lists the program's aggregations.
func (s *Session) Aggregations() []*compiler.Aggregation { return s.prog.Aggregations }

// snapshot reads aggregation a: one row per key, the key decoded as data
// (stacks as addresses), the per-CPU values merged by the kind.
func (s *Session) snapshot(a *compiler.Aggregation) (*sink.Snapshot, error) {
	out := &sink.Snapshot{Name: a.Name, Kind: a.Kind, Params: a.Params, Top: a.Top, Export: a.Export, Duration: a.Duration, R: s.dec}
	for _, k := range a.Keys {
		out.KeyNames = append(out.KeyNames, k.Name)
	}
	m := s.l.maps[a.Map]
	k := a.Kind
	if a.Array {
		row := sink.Row{}
		for i := uint32(0); i < m.MaxEntries(); i++ {
			var vals cpuValues
			if err := m.Lookup(i, &vals); err != nil {
				return nil, fmt.Errorf("read %s: %w", a.Map, err)
			}
			for _, v := range vals {
				k.Merge(&row.Value, k.Decode(v, int(i)), a.Signed)
			}
		}
		if !k.Histogram() || row.Total() > 0 {
			out.Rows = append(out.Rows, row)
		}
	} else {
		rows := map[string]int{}
		var key []byte
		var vals cpuValues
		it := m.Iterate()
		for it.Next(&key, &vals) {
			userKey, bucket := key, 0
			if k.Histogram() {
				userKey = key[:len(key)-8]
				b := binary.LittleEndian.Uint64(key[len(key)-8:])
				if b > math.MaxInt16 {
					continue
				}
				bucket = int(b)
			}
			i, ok := rows[string(userKey)]
			if !ok {
				i = len(out.Rows)
				rows[string(userKey)] = i
				row := sink.Row{}
				for _, f := range a.Keys {
					row.Key = append(row.Key, s.dec.Field(userKey, f))
				}
				out.Rows = append(out.Rows, row)
			}
			for _, v := range vals {
				k.Merge(&out.Rows[i].Value, k.Decode(v, bucket), a.Signed)
			}
		}
		if err := it.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", a.Map, err)
		}
	}
	s.addCarried(a, out)
	return out, nil
}

// emitAggregation hands a snapshot of a to the sinks; a non-zero at is
// the end of an every() period.
func (s *Session) emitAggregation(a *compiler.Aggregation, at time.Time) error {
	snap, err := s.snapshot(a)
	if err != nil {
		return err
	}
	snap.Time = at
	return s.toSinks(func(k sink.Sink) error { return k.Aggregation(snap) })
}

// isEmpty reports whether a has nothing to show (an every() aggregation
// just cleared).
func (s *Session) isEmpty(a *compiler.Aggregation) bool {
	snap, err := s.snapshot(a)
	if err != nil {
		return false
	}
	for _, r := range snap.Rows {
		if r.Total() != 0 || r.Sum != 0 {
			return false
		}
	}
	return true
}

// clearAggregation empties an aggregation after every() showed it.
func (s *Session) clearAggregation(a *compiler.Aggregation) error {
	s.cmu.Lock()
	delete(s.carried, a)
	s.cmu.Unlock()
	m := s.l.maps[a.Map]
	if a.Array {
		n, err := ebpf.PossibleCPU()
		if err != nil {
			return err
		}
		zero := make(cpuValues, n)
		for i := range zero {
			zero[i] = make([]byte, a.Kind.ValueSize())
		}
		for i := uint32(0); i < m.MaxEntries(); i++ {
			if err := m.Update(i, zero, ebpf.UpdateExist); err != nil {
				return fmt.Errorf("clear @%s: %w", a.Name, err)
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
			return fmt.Errorf("clear @%s: %w", a.Name, err)
		}
	}
	return it.Err()
}

// Lost counts what the kernel could not deliver so far.
func (s *Session) Lost() sink.Lost {
	return sink.Lost{Events: s.lost(compiler.LostEvents), Updates: s.lost(compiler.LostUpdates)}
}

// lost sums a per-CPU count of lost work (compiler.LostEvents, LostUpdates).
func (s *Session) lost(slot uint32) uint64 {
	if s.prog.Drops == "" {
		return 0
	}
	var vals cpuValues
	if err := s.l.maps[s.prog.Drops].Lookup(slot, &vals); err != nil {
		return 0
	}
	var n uint64
	for _, v := range vals {
		n += agg.Word(v, 0)
	}
	return n
}
