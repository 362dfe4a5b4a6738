package sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// WriteJSON prints a as exactly one line holding one JSON object:
//
//	{"type":"aggregation","name":"count","kind":"count","keys":["comm"],
//	 "rows":[{"key":["bash"],"value":12}]}
//
// "name" is Aggregation.Name (without '@'), "kind" is Kind.String() and
// "keys" is KeyNames (always an array). Each row has "key", an array with
// one element per key name (empty when keyless); integers and strings are
// JSON numbers and strings, a Stack is an array of frame strings. The
// other row fields depend on the kind:
//
//	count, sum, min, max: "value"
//	avg:                  "value" (the integer average), "count", "sum"
//	stats:                "count", "sum", "avg", "min", "max"
//	hist, lhist:          "buckets": [{"min":4,"max":8,"count":3}, …]
//
// Histogram buckets list only the non-empty buckets, in index order; "min"
// is inclusive and "max" exclusive, matching the [min, max) text labels,
// and the open ends of the underflow and overflow buckets are null.
//
// Rows are sorted and cut to Top as by WriteText, and a keyless scalar
// aggregation without data gets one zero row. The line is written with a
// single Write call; nothing is written if a is malformed.
func WriteJSON(w io.Writer, a *Aggregation) error {
	if err := validate(a); err != nil {
		return err
	}
	out := jsonAggregation{
		Type: "aggregation",
		Name: a.Name,
		Kind: a.Kind.String(),
		Keys: a.KeyNames,
		Rows: []jsonRow{},
	}
	if !a.Time.IsZero() {
		out.Time = a.Time.Format(time.RFC3339Nano)
	}
	if out.Keys == nil {
		out.Keys = []string{}
	}
	for _, r := range sortedRows(a) {
		out.Rows = append(out.Rows, makeJSONRow(a, r))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("sink: @%s: %w", a.Name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

type jsonAggregation struct {
	Type string    `json:"type"`
	Name string    `json:"name"`
	Kind string    `json:"kind"`
	Keys []string  `json:"keys"`
	Rows []jsonRow `json:"rows"`
	Time string    `json:"time,omitempty"`
}

type jsonRow struct {
	Key     []any         `json:"key"`
	Value   *int64        `json:"value,omitempty"`
	Count   *int64        `json:"count,omitempty"`
	Sum     *int64        `json:"sum,omitempty"`
	Avg     *int64        `json:"avg,omitempty"`
	Min     *int64        `json:"min,omitempty"`
	Max     *int64        `json:"max,omitempty"`
	Buckets *[]jsonBucket `json:"buckets,omitempty"`
}

type jsonBucket struct {
	Min   *json.Number `json:"min"`
	Max   *json.Number `json:"max"`
	Count uint64       `json:"count"`
}

func ptr[T any](v T) *T { return &v }

func makeJSONRow(a *Aggregation, r *Row) jsonRow {
	jr := jsonRow{Key: make([]any, len(r.Key))}
	for i, v := range r.Key {
		switch v.(type) {
		case Stack, *Stack:
			f := stackFrames(v)
			if f == nil {
				f = []string{}
			}
			jr.Key[i] = f
		default:
			jr.Key[i] = v
		}
	}
	switch a.Kind {
	case Count, Sum, Min, Max:
		jr.Value = ptr(r.value(a.Kind))
	case Avg:
		jr.Value = ptr(r.avg())
		jr.Count = ptr(r.Count)
		jr.Sum = ptr(r.Sum)
	case Stats:
		jr.Count = ptr(r.Count)
		jr.Sum = ptr(r.Sum)
		jr.Avg = ptr(r.avg())
		jr.Min = ptr(r.minValue())
		jr.Max = ptr(r.maxValue())
	case Hist, LHist:
		buckets := []jsonBucket{}
		for i, c := range r.Buckets {
			if c == 0 {
				continue
			}
			var lo, hi *json.Number
			if a.Kind == Hist {
				lo, hi = histJSONBounds(i)
			} else {
				lo, hi = lhistJSONBounds(i, a.LHist)
			}
			buckets = append(buckets, jsonBucket{Min: lo, Max: hi, Count: c})
		}
		jr.Buckets = &buckets
	}
	return jr
}

// histJSONBounds returns the exact bounds of power-of-two bucket i, nil for
// the open lower end of bucket 0. Unlike HistBounds it does not saturate:
// bucket 65 ends at 2^64.
func histJSONBounds(i int) (lo, hi *json.Number) {
	num := func(s string) *json.Number { return ptr(json.Number(s)) }
	switch i {
	case 0:
		return nil, num("0")
	case 1:
		return num("0"), num("1")
	case 65:
		return num(strconv.FormatUint(1<<63, 10)), num("18446744073709551616")
	}
	return num(strconv.FormatUint(1<<(i-2), 10)), num(strconv.FormatUint(1<<(i-1), 10))
}

// lhistJSONBounds returns the bounds of linear bucket i, nil for the open
// ends of the underflow and overflow buckets.
func lhistJSONBounds(i int, s LHistSpec) (lo, hi *json.Number) {
	num := func(v int64) *json.Number { return ptr(json.Number(strconv.FormatInt(v, 10))) }
	n := s.n()
	switch {
	case i == 0:
		return nil, num(s.Min)
	case int64(i) == n+1:
		return num(s.lhistEdge(n)), nil
	}
	return num(s.lhistEdge(int64(i) - 1)), num(s.lhistEdge(int64(i)))
}
