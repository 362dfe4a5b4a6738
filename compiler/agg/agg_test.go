package agg

import (
	"math"
	"strconv"
	"testing"
)

func kind(t *testing.T, name string) *Kind {
	t.Helper()
	k, ok := Lookup(name)
	if !ok {
		t.Fatalf("no kind %s", name)
	}
	return k
}

func TestHistBucket(t *testing.T) {
	tests := []struct {
		v    int64
		want int
	}{
		{math.MinInt64, 0}, {-5, 0}, {-1, 0}, {0, 1}, {1, 2}, {2, 3}, {3, 3}, {4, 4}, {7, 4}, {8, 5},
		{1023, 11}, {1024, 12}, {2047, 12}, {2048, 13}, {1 << 20, 22}, {1<<62 - 1, 63}, {1 << 62, 64}, {math.MaxInt64, 64},
	}
	for _, tt := range tests {
		if got := HistBucket(tt.v); got != tt.want {
			t.Errorf("HistBucket(%d) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestLHistBucket(t *testing.T) {
	dec := Params{Min: 0, Max: 100, Step: 10}
	neg := Params{Min: -20, Max: 20, Step: 10}
	huge := Params{Min: math.MinInt64, Max: math.MaxInt64 - 3, Step: 1 << 62}
	tests := []struct {
		p    Params
		v    int64
		want int
	}{
		{dec, math.MinInt64, 0}, {dec, -1, 0}, {dec, 0, 1}, {dec, 9, 1}, {dec, 10, 2}, {dec, 99, 10}, {dec, 100, 11}, {dec, math.MaxInt64, 11},
		{neg, -21, 0}, {neg, -20, 1}, {neg, -11, 1}, {neg, -10, 2}, {neg, -1, 2}, {neg, 0, 3}, {neg, 19, 4}, {neg, 20, 5},
		{huge, math.MinInt64, 1}, {huge, -1, 2}, {huge, 0, 3}, {huge, math.MaxInt64, 4},
	}
	for _, tt := range tests {
		if got := LHistBucket(tt.v, tt.p); got != tt.want {
			t.Errorf("LHistBucket(%d, %+v) = %d, want %d", tt.v, tt.p, got, tt.want)
		}
	}
}

// Every bucket's bounds hold exactly the values the bucket function puts
// in it, for both histograms.
func TestBucketBoundsAgree(t *testing.T) {
	hist := kind(t, "hist")
	for i := 2; i < 64; i++ {
		lo, hi := hist.BucketBounds(i, Params{})
		var l, h int64
		if _, err := parse(lo, &l); err != nil {
			t.Fatal(err)
		}
		if _, err := parse(hi, &h); err != nil {
			t.Fatal(err)
		}
		if HistBucket(l) != i || HistBucket(h-1) != i || HistBucket(h) != i+1 {
			t.Errorf("hist bucket %d is [%s, %s) but the bucket function disagrees", i, lo, hi)
		}
	}
	lhist := kind(t, "lhist")
	p := Params{Min: -20, Max: 20, Step: 10}
	for i := 1; i <= 4; i++ {
		lo, hi := lhist.BucketBounds(i, p)
		var l, h int64
		if _, err := parse(lo, &l); err != nil {
			t.Fatal(err)
		}
		if _, err := parse(hi, &h); err != nil {
			t.Fatal(err)
		}
		if LHistBucket(l, p) != i || LHistBucket(h-1, p) != i || LHistBucket(h, p) != i+1 {
			t.Errorf("lhist bucket %d is [%s, %s) but the bucket function disagrees", i, lo, hi)
		}
	}
	if lo, hi := lhist.BucketBounds(0, p); lo != "" || hi != "-20" {
		t.Errorf("lhist underflow bucket [%q, %q)", lo, hi)
	}
	if lo, hi := lhist.BucketBounds(5, p); lo != "20" || hi != "" {
		t.Errorf("lhist overflow bucket [%q, %q)", lo, hi)
	}
}

func TestLabels(t *testing.T) {
	hist, lhist := kind(t, "hist"), kind(t, "lhist")
	for i, want := range map[int]string{0: "(..., 0)", 1: "[0]", 2: "[1]", 3: "[2, 4)", 11: "[512, 1K)", 12: "[1K, 2K)", 22: "[1M, 2M)"} {
		if got := hist.BucketLabel(i, Params{}); got != want {
			t.Errorf("hist label %d = %q, want %q", i, got, want)
		}
	}
	k := Params{Min: 0, Max: 5 * 1024, Step: 1024}
	for i, want := range map[int]string{0: "(..., 0)", 1: "[0, 1K)", 2: "[1K, 2K)", 6: "[5K, ...)"} {
		if got := lhist.BucketLabel(i, k); got != want {
			t.Errorf("lhist label %d = %q, want %q", i, got, want)
		}
	}
	if got := lhist.BucketLabel(2, Params{Min: 0, Max: 4, Step: 1}); got != "[1]" {
		t.Errorf("lhist step-1 label = %q, want [1]", got)
	}
}

// Merge is what both the per-CPU fold and a --watch hand-over use: it must
// not depend on the order values arrive in, and must respect signedness.
func TestMerge(t *testing.T) {
	tests := []struct {
		kind   string
		signed bool
		vals   []Value
		want   Value
	}{
		{"count", false, []Value{{Count: 2}, {Count: 3}}, Value{Count: 5}},
		{"sum", true, []Value{{Sum: -2}, {Sum: 7}}, Value{Sum: 5}},
		{"avg", true, []Value{{Sum: 10, Count: 2}, {Sum: 2, Count: 1}}, Value{Sum: 12, Count: 3}},
		{"min", true, []Value{{}, {Count: 1, Min: 3, Max: 3}, {Count: 1, Min: -4, Max: -4}}, Value{Count: 1, Min: -4, Max: -4}},
		{"min", false, []Value{{Count: 1, Min: 3, Max: 3}, {Count: 1, Min: -4, Max: -4}}, Value{Count: 1, Min: 3, Max: 3}},
		{"max", true, []Value{{Count: 1, Min: -9, Max: -9}, {}, {Count: 1, Min: -2, Max: -2}}, Value{Count: 1, Min: -2, Max: -2}},
		{"stats", true, []Value{{Count: 2, Sum: 5, Min: -1, Max: 6}, {}, {Count: 1, Sum: 9, Min: 9, Max: 9}}, Value{Count: 3, Sum: 14, Min: -1, Max: 9}},
	}
	for _, tt := range tests {
		k := kind(t, tt.kind)
		for _, reverse := range []bool{false, true} {
			var got Value
			for i := range tt.vals {
				v := tt.vals[i]
				if reverse {
					v = tt.vals[len(tt.vals)-1-i]
				}
				k.Merge(&got, v, tt.signed)
			}
			if got.Count != tt.want.Count || got.Sum != tt.want.Sum || got.Min != tt.want.Min || got.Max != tt.want.Max {
				t.Errorf("%s (signed %v, reversed %v): %+v, want %+v", tt.kind, tt.signed, reverse, got, tt.want)
			}
		}
	}
	// A bucket's raw value is its count, then the sum of its values.
	h := kind(t, "hist")
	var got Value
	h.Merge(&got, h.Decode([]byte{2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0}, 3), false)
	h.Merge(&got, h.Decode([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1), false)
	h.Merge(&got, h.Decode([]byte{5, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0}, 3), false)
	if len(got.Buckets) != 4 || got.Buckets[1] != 1 || got.Buckets[3] != 7 || got.Total() != 8 || got.Sum != 17 {
		t.Errorf("hist merge: %v, sum %d", got.Buckets, got.Sum)
	}
}

func parse(s string, v *int64) (int, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	*v = n
	return len(s), err
}

func TestQuantile(t *testing.T) {
	var v Value
	add := func(x int64, n int) {
		b := HistBucket(x)
		for len(v.Buckets) <= b {
			v.Buckets = append(v.Buckets, 0)
		}
		v.Buckets[b] += uint64(n)
	}
	add(100, 90)   // [64, 128)
	add(5000, 9)   // [4K, 8K)
	add(100000, 1) // [64K, 128K)
	for _, tt := range []struct {
		q      float64
		lo, hi int64
	}{{0.5, 64, 128}, {0.85, 64, 128}, {0.95, 4096, 8192}, {0.999, 65536, 131072}} {
		if got := Quantile(&v, tt.q); got < tt.lo || got >= tt.hi {
			t.Errorf("quantile %v = %d, want in [%d, %d)", tt.q, got, tt.lo, tt.hi)
		}
	}
	if got := Quantile(&Value{}, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %d", got)
	}
}
