package runtime

import (
	"fmt"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// A --watch reload hands what the old version counted to the new one by
// meaning, not by bytes: keys are compared decoded (a probe name, not its
// index, which depends on compile order; a stack by its addresses, not by
// its id in the old version's stack map). The new version keeps the
// carried rows in user space and adds them to every snapshot.

// handOver gives from's aggregations to to's aggregations of the same
// name, kind and key types.
func handOver(from, to *Session) {
	for _, a := range from.prog.Aggregations {
		b := to.aggregationLike(a)
		if b == nil {
			continue
		}
		snap, err := from.snapshot(a)
		if err != nil {
			continue
		}
		to.carry(b, snap.Rows)
	}
}

// aggregationLike finds the aggregation that continues a: same name, kind
// and parameters, keys of the same kinds.
func (s *Session) aggregationLike(a *compiler.Aggregation) *compiler.Aggregation {
	for _, b := range s.prog.Aggregations {
		if b.Name != a.Name || b.Kind != a.Kind || b.Params != a.Params || b.Signed != a.Signed || len(b.Keys) != len(a.Keys) {
			continue
		}
		same := true
		for i := range a.Keys {
			x, y := a.Keys[i], b.Keys[i]
			same = same && x.Kind == y.Kind && x.Show == y.Show && x.Signed == y.Signed
		}
		if same {
			return b
		}
	}
	return nil
}

// meaning is a key as data, comparable across versions.
func meaning(key []sink.Value) string { return fmt.Sprintf("%#v", key) }

// carry adds rows counted by an earlier version to a.
func (s *Session) carry(a *compiler.Aggregation, rows []sink.Row) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	c := s.carried[a]
	if c == nil {
		c = map[string]sink.Row{}
		s.carried[a] = c
	}
	for _, r := range rows {
		m := meaning(r.Key)
		old, ok := c[m]
		if !ok {
			old = sink.Row{Key: r.Key}
		}
		a.Kind.Merge(&old.Value, r.Value, a.Signed)
		c[m] = old
	}
}

// addCarried merges the rows carried over from earlier versions into a
// snapshot of a.
func (s *Session) addCarried(a *compiler.Aggregation, snap *sink.Snapshot) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	c := s.carried[a]
	if len(c) == 0 {
		return
	}
	at := map[string]int{}
	for i, r := range snap.Rows {
		at[meaning(r.Key)] = i
	}
	for m, r := range c {
		if i, ok := at[m]; ok {
			a.Kind.Merge(&snap.Rows[i].Value, r.Value, a.Signed)
			continue
		}
		if a.Array && len(snap.Rows) > 0 {
			a.Kind.Merge(&snap.Rows[0].Value, r.Value, a.Signed)
			continue
		}
		row := sink.Row{Key: r.Key}
		a.Kind.Merge(&row.Value, r.Value, a.Signed)
		snap.Rows = append(snap.Rows, row)
	}
}
