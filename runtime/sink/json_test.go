package sink

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ebpftrace/ebpftrace/compiler/agg"
)

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name string
		agg  Snapshot
		want string
	}{
		{
			name: "count keyed",
			agg: Snapshot{Name: "count", Kind: Count, KeyNames: []string{"comm"}, Rows: []Row{
				{Key: keys("bash"), Value: agg.Value{Count: 12}},
				{Key: keys("cat"), Value: agg.Value{Count: 3}},
			}},
			want: `{"type":"aggregation","name":"count","kind":"count","keys":["comm"],"rows":[{"key":["cat"],"value":3},{"key":["bash"],"value":12}]}`,
		},
		{
			name: "count keyless empty",
			agg:  Snapshot{Name: "n", Kind: Count},
			want: `{"type":"aggregation","name":"n","kind":"count","keys":[],"rows":[{"key":[],"value":0}]}`,
		},
		{
			name: "keyed empty",
			agg:  Snapshot{Name: "n", Kind: Sum, KeyNames: []string{"pid"}},
			want: `{"type":"aggregation","name":"n","kind":"sum","keys":["pid"],"rows":[]}`,
		},
		{
			name: "multi key top",
			agg: Snapshot{Name: "s", Kind: Sum, KeyNames: []string{"comm", "pid"}, Top: 1, Rows: []Row{
				{Key: keys("a", int64(1)), Value: agg.Value{Sum: 10}},
				{Key: keys("b", uint64(2)), Value: agg.Value{Sum: 20}},
			}},
			want: `{"type":"aggregation","name":"s","kind":"sum","keys":["comm","pid"],"rows":[{"key":["b",2],"value":20}]}`,
		},
		{
			name: "avg",
			agg: Snapshot{Name: "lat", Kind: Avg, KeyNames: []string{"comm"}, Rows: []Row{
				{Key: keys("bash"), Value: agg.Value{Count: 3, Sum: 16}},
			}},
			want: `{"type":"aggregation","name":"lat","kind":"avg","keys":["comm"],"rows":[{"key":["bash"],"value":5,"count":3,"sum":16}]}`,
		},
		{
			name: "stats",
			agg: Snapshot{Name: "st", Kind: Stats, Rows: []Row{
				{Value: agg.Value{Count: 2, Sum: 12, Min: 0, Max: 12}},
			}},
			want: `{"type":"aggregation","name":"st","kind":"stats","keys":[],"rows":[{"key":[],"count":2,"sum":12,"avg":6,"min":0,"max":12}]}`,
		},
		{
			name: "min max value",
			agg:  Snapshot{Name: "m", Kind: Min, Rows: []Row{{Value: agg.Value{Count: 1, Min: -3}}}},
			want: `{"type":"aggregation","name":"m","kind":"min","keys":[],"rows":[{"key":[],"value":-3}]}`,
		},
		{
			name: "hist",
			agg: Snapshot{Name: "h", Kind: Hist, Rows: []Row{
				histRow(nil, -1, 0, 1, 2, 3, 5, 1500),
			}},
			want: `{"type":"aggregation","name":"h","kind":"hist","keys":[],"rows":[{"key":[],"buckets":[` +
				`{"min":null,"max":0,"count":1},{"min":0,"max":1,"count":1},{"min":1,"max":2,"count":1},` +
				`{"min":2,"max":4,"count":2},{"min":4,"max":8,"count":1},{"min":1024,"max":2048,"count":1}]}]}`,
		},
		{
			name: "hist top buckets",
			agg: Snapshot{Name: "h", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: func() []uint64 {
				b := make([]uint64, HistBuckets)
				b[64], b[65] = 1, 2
				return b
			}()}}}},
			want: `{"type":"aggregation","name":"h","kind":"hist","keys":[],"rows":[{"key":[],"buckets":[` +
				`{"min":4611686018427387904,"max":9223372036854775808,"count":1},` +
				`{"min":9223372036854775808,"max":18446744073709551616,"count":2}]}]}`,
		},
		{
			name: "hist all zero",
			agg:  Snapshot{Name: "h", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: []uint64{0, 0}}}}},
			want: `{"type":"aggregation","name":"h","kind":"hist","keys":[],"rows":[{"key":[],"buckets":[]}]}`,
		},
		{
			name: "lhist under and overflow",
			agg: Snapshot{Name: "l", Kind: LHist, Params: agg.Params{Min: 0, Max: 100, Step: 10}, KeyNames: []string{"comm"}, Rows: []Row{
				lhistRow(agg.Params{Min: 0, Max: 100, Step: 10}, keys("zsh"), -1, 55, 100, 100),
				lhistRow(agg.Params{Min: 0, Max: 100, Step: 10}, keys("sh"), 0),
			}},
			want: `{"type":"aggregation","name":"l","kind":"lhist","keys":["comm"],"rows":[` +
				`{"key":["sh"],"buckets":[{"min":0,"max":10,"count":1}]},` +
				`{"key":["zsh"],"buckets":[{"min":null,"max":0,"count":1},{"min":50,"max":60,"count":1},{"min":100,"max":null,"count":2}]}]}`,
		},
		{
			name: "stack key and html characters",
			agg: Snapshot{R: names{}, Name: "c", Kind: Count, KeyNames: []string{"ustack", "kstack"}, Rows: []Row{
				{Key: keys(st("std::vector<int>::push_back", "main"), Stack{}), Value: agg.Value{Count: 1}},
			}},
			want: `{"type":"aggregation","name":"c","kind":"count","keys":["ustack","kstack"],"rows":[{"key":[["std::vector<int>::push_back","main"],[]],"value":1}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteJSON(&buf, &tt.agg); err != nil {
				t.Fatalf("WriteJSON: %v", err)
			}
			if got, want := buf.String(), tt.want+"\n"; got != want {
				t.Errorf("WriteJSON mismatch\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// jsonDoc mirrors the documented JSON schema for decoding in tests.
type jsonDoc struct {
	Type string   `json:"type"`
	Name string   `json:"name"`
	Kind string   `json:"kind"`
	Keys []string `json:"keys"`
	Rows []struct {
		Key     []any  `json:"key"`
		Value   *int64 `json:"value"`
		Count   *int64 `json:"count"`
		Sum     *int64 `json:"sum"`
		Avg     *int64 `json:"avg"`
		Min     *int64 `json:"min"`
		Max     *int64 `json:"max"`
		Buckets []struct {
			Min   *json.Number `json:"min"`
			Max   *json.Number `json:"max"`
			Count uint64       `json:"count"`
		} `json:"buckets"`
	} `json:"rows"`
}

func TestWriteJSONRoundTrip(t *testing.T) {
	aggs := []*Snapshot{
		{Name: "count", Kind: Count, KeyNames: []string{"comm", "pid"}, Rows: []Row{
			{Key: keys("bash", int64(-1)), Value: agg.Value{Count: 7}},
			{Key: keys("sshd", uint64(math.MaxUint64)), Value: agg.Value{Count: 2}},
			{Key: keys("cron", int64(math.MinInt64)), Value: agg.Value{Count: math.MaxInt64}},
		}},
		{R: names{}, Name: "st", Kind: Stats, KeyNames: []string{"kstack"}, Rows: []Row{
			{Key: keys(st("a", "b")), Value: agg.Value{Count: 4, Sum: -10, Min: -9, Max: 3}},
		}},
		{Name: "lat", Kind: LHist, Params: agg.Params{Min: 0, Max: 4096, Step: 1024}, KeyNames: []string{"comm"}, Rows: []Row{
			lhistRow(agg.Params{Min: 0, Max: 4096, Step: 1024}, keys("x\"y\n"), -1, 1, 2000, 5000),
		}},
		{Name: "h", Kind: Hist, Rows: []Row{histRow(nil, 0, 4, 4, 1<<40, math.MaxInt64)}},
	}
	for _, a := range aggs {
		t.Run(a.Name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteJSON(&buf, a); err != nil {
				t.Fatal(err)
			}
			line := buf.String()
			if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
				t.Fatalf("output is not exactly one line: %q", line)
			}
			dec := json.NewDecoder(strings.NewReader(line))
			dec.UseNumber()
			dec.DisallowUnknownFields()
			var doc jsonDoc
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("decode %s: %v", line, err)
			}
			if doc.Type != "aggregation" || doc.Name != a.Name || doc.Kind != a.Kind.String() || !slices.Equal(doc.Keys, a.KeyNames) || doc.Keys == nil {
				t.Errorf("header = %q %q %q %v", doc.Type, doc.Name, doc.Kind, doc.Keys)
			}
			rows := sortedRows(a)
			if len(doc.Rows) != len(rows) {
				t.Fatalf("got %d rows, want %d", len(doc.Rows), len(rows))
			}
			for i, r := range rows {
				got := doc.Rows[i]
				if len(got.Key) != len(r.Key) {
					t.Fatalf("row %d: key %v, want %v", i, got.Key, r.Key)
				}
				for j, k := range r.Key {
					want := jsonKeyForTest(k)
					if g := keyString(got.Key[j]); g != want {
						t.Errorf("row %d key %d = %s, want %s", i, j, g, want)
					}
				}
				switch a.Kind {
				case Count:
					if got.Value == nil || *got.Value != r.Count {
						t.Errorf("row %d value = %v, want %d", i, got.Value, r.Count)
					}
				case Stats:
					if *got.Count != r.Count || *got.Sum != r.Sum || *got.Avg != r.Sum/r.Count || *got.Min != r.Min || *got.Max != r.Max {
						t.Errorf("row %d stats = %d %d %d %d %d", i, *got.Count, *got.Sum, *got.Avg, *got.Min, *got.Max)
					}
				case Hist, LHist:
					var nonEmpty int
					for bi, c := range r.Buckets {
						if c == 0 {
							continue
						}
						if nonEmpty >= len(got.Buckets) {
							t.Fatalf("row %d: missing bucket %d", i, bi)
						}
						gb := got.Buckets[nonEmpty]
						nonEmpty++
						if gb.Count != c {
							t.Errorf("row %d bucket %d count = %d, want %d", i, bi, gb.Count, c)
						}
						lo, hi := a.Kind.BucketBounds(bi, a.Params)
						if (gb.Min == nil) != (lo == "") || gb.Min != nil && string(*gb.Min) != lo {
							t.Errorf("row %d bucket %d: min %v, want %q", i, bi, gb.Min, lo)
						}
						if (gb.Max == nil) != (hi == "") || gb.Max != nil && string(*gb.Max) != hi {
							t.Errorf("row %d bucket %d: max %v, want %q", i, bi, gb.Max, hi)
						}
					}
					if nonEmpty != len(got.Buckets) {
						t.Errorf("row %d: %d buckets, want %d", i, len(got.Buckets), nonEmpty)
					}
				}
			}
		})
	}
}

// jsonKeyForTest is the canonical JSON of a key value as WriteJSON should
// encode it.
func jsonKeyForTest(v Value) string {
	if s, ok := v.(Stack); ok {
		v = names{}.Frames(s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// keyString re-encodes a decoded key value.
func keyString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
