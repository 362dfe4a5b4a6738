package sink

import (
	"math"
	"testing"
)

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{Count, "count"},
		{Sum, "sum"},
		{Avg, "avg"},
		{Min, "min"},
		{Max, "max"},
		{Stats, "stats"},
		{Hist, "hist"},
		{LHist, "lhist"},
		{Kind(42), "Kind(42)"},
		{Kind(-1), "Kind(-1)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.k), got, tt.want)
		}
	}
}

func TestHistBucket(t *testing.T) {
	tests := []struct {
		v    int64
		want int
	}{
		{math.MinInt64, 0},
		{-5, 0},
		{-1, 0},
		{0, 1},
		{1, 2},
		{2, 3},
		{3, 3},
		{4, 4},
		{7, 4},
		{8, 5},
		{1023, 11},
		{1024, 12},
		{2047, 12},
		{2048, 13},
		{1 << 20, 22},
		{1<<62 - 1, 63},
		{1 << 62, 64},
		{math.MaxInt64, 64},
	}
	for _, tt := range tests {
		if got := HistBucket(tt.v); got != tt.want {
			t.Errorf("HistBucket(%d) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestHistBounds(t *testing.T) {
	tests := []struct {
		i      int
		lo, hi int64
	}{
		{0, math.MinInt64, 0},
		{1, 0, 1},
		{2, 1, 2},
		{3, 2, 4},
		{4, 4, 8},
		{11, 512, 1024},
		{12, 1024, 2048},
		{63, 1 << 61, 1 << 62},
		{64, 1 << 62, math.MaxInt64},
		{65, math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		lo, hi := HistBounds(tt.i)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("HistBounds(%d) = [%d, %d), want [%d, %d)", tt.i, lo, hi, tt.lo, tt.hi)
		}
	}
	// Every bucket that int64 values reach contains its bounds.
	for i := 0; i <= 64; i++ {
		lo, hi := HistBounds(i)
		if HistBucket(lo) != i || HistBucket(hi-1) != i {
			t.Errorf("bucket %d: HistBucket(%d) = %d, HistBucket(%d) = %d", i, lo, HistBucket(lo), hi-1, HistBucket(hi-1))
		}
		if i < 64 && HistBucket(hi) != i+1 {
			t.Errorf("bucket %d: HistBucket(%d) = %d, want %d", i, hi, HistBucket(hi), i+1)
		}
	}
}

func TestHistBoundsPanics(t *testing.T) {
	for _, i := range []int{-1, HistBuckets} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HistBounds(%d) did not panic", i)
				}
			}()
			HistBounds(i)
		}()
	}
}

func TestLHistBucket(t *testing.T) {
	dec := LHistSpec{Min: 0, Max: 100, Step: 10}
	uneven := LHistSpec{Min: 0, Max: 25, Step: 10}
	neg := LHistSpec{Min: -20, Max: 20, Step: 10}
	huge := LHistSpec{Min: math.MinInt64, Max: math.MaxInt64, Step: 1 << 62}
	tests := []struct {
		s    LHistSpec
		v    int64
		want int
	}{
		{dec, math.MinInt64, 0},
		{dec, -5, 0},
		{dec, -1, 0},
		{dec, 0, 1},
		{dec, 1, 1},
		{dec, 2, 1},
		{dec, 3, 1},
		{dec, 4, 1},
		{dec, 9, 1},
		{dec, 10, 2},
		{dec, 99, 10},
		{dec, 100, 11},
		{dec, 1023, 11},
		{dec, 1024, 11},
		{dec, math.MaxInt64, 11},
		{uneven, 19, 2},
		{uneven, 20, 3},
		{uneven, 24, 3},
		{uneven, 25, 3},
		{neg, -21, 0},
		{neg, -20, 1},
		{neg, -11, 1},
		{neg, -10, 2},
		{neg, -1, 2},
		{neg, 0, 3},
		{neg, 19, 4},
		{neg, 20, 5},
		{huge, math.MinInt64, 1},
		{huge, -1, 2},
		{huge, 0, 3},
		{huge, math.MaxInt64 - 1, 4},
		{huge, math.MaxInt64, 4},
		{LHistSpec{Min: 0, Max: 10, Step: 0}, 5, 0},
		{LHistSpec{Min: 10, Max: 0, Step: 1}, 5, 0},
	}
	for _, tt := range tests {
		if got := LHistBucket(tt.v, tt.s); got != tt.want {
			t.Errorf("LHistBucket(%d, %+v) = %d, want %d", tt.v, tt.s, got, tt.want)
		}
	}
}

func TestLHistSpecBuckets(t *testing.T) {
	tests := []struct {
		s     LHistSpec
		want  int
		valid bool
	}{
		{LHistSpec{0, 100, 10}, 12, true},
		{LHistSpec{0, 10, 2}, 7, true},
		{LHistSpec{0, 25, 10}, 4, true},
		{LHistSpec{-20, 20, 10}, 6, true},
		{LHistSpec{math.MinInt64, math.MaxInt64, 1 << 62}, 5, true},
		{LHistSpec{0, 10, 0}, 0, false},
		{LHistSpec{0, 10, -1}, 0, false},
		{LHistSpec{10, 10, 1}, 0, false},
		{LHistSpec{10, 0, 1}, 0, false},
	}
	for _, tt := range tests {
		if got := tt.s.Buckets(); got != tt.want {
			t.Errorf("%+v.Buckets() = %d, want %d", tt.s, got, tt.want)
		}
		if err := tt.s.Validate(); (err == nil) != tt.valid {
			t.Errorf("%+v.Validate() = %v, want valid=%v", tt.s, err, tt.valid)
		}
	}
}

func TestLHistBounds(t *testing.T) {
	s := LHistSpec{Min: 0, Max: 100, Step: 10}
	tests := []struct {
		i      int
		lo, hi int64
	}{
		{0, math.MinInt64, 0},
		{1, 0, 10},
		{2, 10, 20},
		{10, 90, 100},
		{11, 100, math.MaxInt64},
	}
	for _, tt := range tests {
		lo, hi := LHistBounds(tt.i, s)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("LHistBounds(%d) = [%d, %d), want [%d, %d)", tt.i, lo, hi, tt.lo, tt.hi)
		}
	}
	for _, s := range []LHistSpec{{0, 100, 10}, {-20, 20, 10}, {0, 25, 10}, {math.MinInt64, math.MaxInt64, 1 << 62}} {
		for i := range s.Buckets() {
			lo, hi := LHistBounds(i, s)
			if lo >= hi {
				continue // empty underflow bucket when Min is math.MinInt64
			}
			if got := LHistBucket(lo, s); i > 0 && got != i {
				t.Errorf("%+v: LHistBucket(lo=%d) = %d, want %d", s, lo, got, i)
			}
			if got := LHistBucket(hi-1, s); got != i {
				t.Errorf("%+v: LHistBucket(hi-1=%d) = %d, want %d", s, hi-1, got, i)
			}
		}
	}
}
