package prometheus

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	prom "github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

// metricDef is how one aggregation is published: made once per program,
// used at every scrape.
type metricDef struct {
	name string // the family name (_total included for counters)
	kind agg.Metric
	desc *prom.Desc
	// minDesc and maxDesc are stats()'s extra gauges.
	minDesc, maxDesc *prom.Desc
	// labels names each key; order lists key indexes by label name
	// (the order Prometheus keeps labels in).
	labels []string
	order  []int
	signed bool
	// per is how many of a value's units make one published unit (1e9:
	// ns to seconds); a division, so that 18e6 ns is 0.018 s exactly.
	per float64
	// bounds are the `le` of each bucket, in the published unit; +Inf for the open one.
	bounds []float64
	// pow2 histograms publish a range of buckets that grows with the
	// values seen; others publish every bucket.
	pow2 bool
}

func newMetricDef(a *compiler.Aggregation) *metricDef {
	m := &metricDef{kind: a.Kind.Metric, signed: a.Signed, per: 1}
	base := a.Export
	if base == "" {
		base = DefaultPrefix + sanitize(a.Name)
	}
	unit := ""
	if a.Duration {
		m.per = 1e9
		unit = " in seconds"
		if !strings.HasSuffix(base, "_seconds") {
			base += "_seconds"
		}
	}
	m.name = base
	if m.kind == agg.Counter && !strings.HasSuffix(base, "_total") {
		m.name += "_total"
	}
	help := fmt.Sprintf("ebpftrace @%s: %s%s, at %s", a.Name, a.Kind.Usage, unit, a.Pos)
	m.desc = prom.NewDesc(m.name, help, nil, nil)
	if m.kind == agg.Summary {
		m.minDesc = prom.NewDesc(base+"_min", "smallest value of "+help, nil, nil)
		m.maxDesc = prom.NewDesc(base+"_max", "largest value of "+help, nil, nil)
	}
	if a.Kind.Histogram() {
		n := a.Kind.Buckets(a.Params)
		m.bounds = make([]float64, n)
		for i := range n {
			_, hi := a.Kind.BucketBounds(i, a.Params)
			b := math.Inf(1)
			if v, err := strconv.ParseFloat(hi, 64); err == nil && hi != "" {
				b = v / m.per
			}
			m.bounds[i] = b
		}
		m.pow2 = a.Kind.Params == 0
	}
	m.labels = labelNames(a.Keys)
	m.order = make([]int, len(m.labels))
	for i := range m.order {
		m.order[i] = i
	}
	sort.Slice(m.order, func(i, j int) bool { return m.labels[m.order[i]] < m.labels[m.order[j]] })
	return m
}

// cumulative reports whether the metric only grows, so that every()
// periods add up.
func (m *metricDef) cumulative() bool { return m.kind == agg.Counter || m.kind == agg.Histogram }

// labelNames names the label of each key after what it reads: the name
// of a value or bound value (comm, route), the field of a selector
// (args.fd → fd), the argument of a function (str(args.filename) →
// filename). Names Prometheus reserves get a key_ prefix; a name taken by
// an earlier key becomes the whole expression's.
func labelNames(keys []compiler.Field) []string {
	out := make([]string, len(keys))
	taken := map[string]bool{}
	for i, k := range keys {
		name := sanitize(shortKey(k.Name))
		if name == "le" || name == "quantile" || strings.HasPrefix(name, "__") {
			name = "key_" + strings.TrimLeft(name, "_")
		}
		if taken[name] {
			name = sanitize(k.Name)
		}
		for n := 2; taken[name]; n++ {
			name = fmt.Sprintf("%s_%d", sanitize(k.Name), n)
		}
		taken[name] = true
		out[i] = name
	}
	return out
}

// shortKey is the name inside a key expression's text.
func shortKey(text string) string {
	e, err := dsl.ParseExpr("", text)
	if err != nil {
		return text
	}
	for {
		switch x := e.(type) {
		case *dsl.Ident:
			return x.Name
		case *dsl.Selector:
			return x.Sel
		case *dsl.Call:
			if len(x.Args) == 0 {
				return x.Name
			}
			e = x.Args[0]
		case *dsl.Index:
			e = x.X
		case *dsl.Paren:
			e = x.X
		case *dsl.Unary:
			e = x.X
		default:
			return text
		}
	}
}

// sanitize makes s a valid metric or label name: other characters become
// _, runs of _ collapse, and a leading digit gets a _ before it.
func sanitize(s string) string {
	var b strings.Builder
	under := false
	for _, c := range s {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok || c == '_' {
			if !under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = true
			continue
		}
		under = false
		b.WriteRune(c)
	}
	out := strings.TrimRight(b.String(), "_")
	if out == "" {
		return "value"
	}
	if out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}

// sample is one published series: a prom.Metric that writes itself from
// values kept in slabs shared by the whole scrape.
type sample struct {
	desc   *prom.Desc
	labels []*dto.LabelPair
	kind   agg.Metric
	value  float64
	count  uint64
	sum    float64
	bucket []*dto.Bucket
	// The dto values live here so that a row costs no allocation of its
	// own beyond what the registry makes.
	counter dto.Counter
	gauge   dto.Gauge
	summary dto.Summary
	hist    dto.Histogram
}

func (s *sample) Desc() *prom.Desc { return s.desc }

func (s *sample) Write(out *dto.Metric) error {
	out.Label = s.labels
	switch s.kind {
	case agg.Counter:
		s.counter.Value = &s.value
		out.Counter = &s.counter
	case agg.Summary:
		s.summary.SampleCount, s.summary.SampleSum = &s.count, &s.sum
		out.Summary = &s.summary
	case agg.Histogram:
		s.hist.SampleCount, s.hist.SampleSum, s.hist.Bucket = &s.count, &s.sum, s.bucket
		out.Histogram = &s.hist
	default:
		s.gauge.Value = &s.value
		out.Gauge = &s.gauge
	}
	return nil
}

// collect sends one sample per row (three for stats).
func (m *metricDef) collect(ch chan<- prom.Metric, st *aggState, rows []sink.Row, r sink.Resolver) {
	if len(m.labels) == 0 && len(rows) == 0 {
		rows = []sink.Row{{}} // a keyless metric exists before its first event
	}
	per := 1
	if m.kind == agg.Summary {
		per = 3
	}
	samples := make([]sample, len(rows)*per)
	labels := m.labelSlab(rows, r)
	first, last := 0, -1
	if m.kind == agg.Histogram {
		first, last = m.bucketRange(st, rows)
	}
	nb := max(last-first+1, 0)
	var counts []uint64
	var buckets []dto.Bucket
	var bucketPtrs []*dto.Bucket
	if nb > 0 {
		counts = make([]uint64, len(rows)*nb)
		buckets = make([]dto.Bucket, len(rows)*nb)
		bucketPtrs = make([]*dto.Bucket, len(rows)*nb)
	}
	k := len(m.labels)
	for i := range rows {
		v := &rows[i].Value
		ls := labels[i*k : (i+1)*k]
		s := &samples[i*per]
		s.desc, s.labels, s.kind = m.desc, ls, m.kind
		switch m.kind {
		case agg.Counter:
			s.value = float64(v.Count) // count()
			if st.a.Kind.Value {
				s.value = m.num(v.Sum) / m.per // sum(x)
			}
		case agg.Histogram:
			s.count, s.sum = v.Total(), m.num(v.Sum)/m.per
			var cum uint64
			for b := 0; b < first && b < len(v.Buckets); b++ {
				cum += v.Buckets[b]
			}
			for j := 0; j < nb; j++ {
				idx := first + j
				if idx < len(v.Buckets) {
					cum += v.Buckets[idx]
				}
				c := &counts[i*nb+j]
				*c = cum
				bk := &buckets[i*nb+j]
				bk.CumulativeCount, bk.UpperBound = c, &m.bounds[idx]
				bucketPtrs[i*nb+j] = bk
			}
			s.bucket = bucketPtrs[i*nb : (i+1)*nb]
		case agg.Summary:
			s.count, s.sum = uint64(v.Count), m.num(v.Sum)/m.per
			if v.Count > 0 {
				mn, mx := &samples[i*per+1], &samples[i*per+2]
				mn.desc, mn.labels, mn.kind, mn.value = m.minDesc, ls, agg.Gauge, m.num(v.Min)/m.per
				mx.desc, mx.labels, mx.kind, mx.value = m.maxDesc, ls, agg.Gauge, m.num(v.Max)/m.per
				ch <- mn
				ch <- mx
			}
		default:
			if v.Count == 0 {
				continue // no value yet: no gauge
			}
			s.value = m.gaugeValue(st.a.Kind, v) / m.per
		}
		ch <- s
	}
}

// gaugeValue is what a gauge shows: the exact average (the text output's
// is truncated to an integer), the minimum or the maximum.
func (m *metricDef) gaugeValue(k *agg.Kind, v *agg.Value) float64 {
	switch k.Name {
	case "avg":
		return m.num(v.Sum) / float64(v.Count)
	case "min":
		return m.num(v.Min)
	case "max":
		return m.num(v.Max)
	}
	return float64(k.Order(v))
}

// num reads a 64-bit word as the aggregated values' signedness says.
func (m *metricDef) num(x int64) float64 {
	if m.signed {
		return float64(x)
	}
	return float64(uint64(x))
}

// bucketRange returns the bucket indexes to publish, first to last
// (last < first: none), growing st's range for power-of-two histograms.
func (m *metricDef) bucketRange(st *aggState, rows []sink.Row) (first, last int) {
	last = len(m.bounds) - 1
	for last >= 0 && math.IsInf(m.bounds[last], 1) {
		last--
	}
	if !m.pow2 {
		return 0, last
	}
	for i := range rows {
		for b, c := range rows[i].Buckets {
			if c == 0 {
				continue
			}
			if st.lo > st.hi {
				st.lo, st.hi = b, b
			}
			st.lo, st.hi = min(st.lo, b), max(st.hi, b)
		}
	}
	if st.lo > st.hi {
		return 0, -1
	}
	// One empty bucket below the smallest value gives histogram_quantile
	// the lower bound of the first bucket that counts.
	return max(st.lo-1, 0), min(st.hi, last)
}

// labelSlab makes every row's label pairs, sorted by name, in one
// allocation per scrape.
func (m *metricDef) labelSlab(rows []sink.Row, r sink.Resolver) []*dto.LabelPair {
	k := len(m.labels)
	if k == 0 {
		return nil
	}
	pairs := make([]dto.LabelPair, len(rows)*k)
	ptrs := make([]*dto.LabelPair, len(rows)*k)
	values := make([]string, len(rows)*k)
	for i := range rows {
		for j, key := range m.order {
			n := i*k + j
			if key < len(rows[i].Key) {
				values[n] = labelValue(rows[i].Key[key], r)
			}
			pairs[n].Name, pairs[n].Value = &m.labels[key], &values[n]
			ptrs[n] = &pairs[n]
		}
	}
	return ptrs
}

// labelValue is a key component as label text.
func labelValue(v sink.Value, r sink.Resolver) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return strings.ToValidUTF8(v, "\uFFFD")
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case sink.Hex:
		return "0x" + strconv.FormatUint(uint64(v), 16)
	case sink.Symbol:
		if r != nil {
			return strings.ToValidUTF8(r.Name(v), "\uFFFD")
		}
		return "0x" + strconv.FormatUint(v.Addr, 16)
	case netip.Addr:
		return v.String()
	}
	return strings.ToValidUTF8(fmt.Sprint(v), "\uFFFD")
}

// rowSet is the sum of every() periods (or the last one) by key.
type rowSet struct {
	rows  []sink.Row
	index map[string]int
	r     sink.Resolver
}

func newRowSet() *rowSet { return &rowSet{index: map[string]int{}} }

// add merges snap's rows into the set.
func (s *rowSet) add(snap *sink.Snapshot, signed bool) {
	if snap.R != nil {
		s.r = snap.R
	}
	for _, row := range snap.Rows {
		k := keyString(row.Key)
		i, ok := s.index[k]
		if !ok {
			i = len(s.rows)
			s.index[k] = i
			s.rows = append(s.rows, sink.Row{Key: row.Key})
		}
		snap.Kind.Merge(&s.rows[i].Value, row.Value, signed)
	}
}

// replace makes snap's rows the set (gauges show the last period).
func (s *rowSet) replace(snap *sink.Snapshot) {
	if snap.R != nil {
		s.r = snap.R
	}
	s.rows = append(s.rows[:0], snap.Rows...)
	clear(s.index)
}

// keyString identifies a key by its values.
func keyString(key []sink.Value) string {
	var b strings.Builder
	for _, v := range key {
		fmt.Fprintf(&b, "%T:%v\x00", v, v)
	}
	return b.String()
}
