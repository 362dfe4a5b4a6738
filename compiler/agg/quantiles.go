package agg

import (
	"fmt"
	"math"
	"strconv"
)

// quantiles keeps a power-of-two histogram, as hist does, and shows the
// count with the median, 90th and 99th percentiles estimated from it (each
// interpolated linearly inside its bucket, so within a factor of two).
// Exported, it is a Prometheus histogram, for exact quantiles in PromQL.
func init() {
	hist, _ := Lookup("hist")
	Register(&Kind{
		Name: "quantiles", Usage: "quantiles(x)", Doc: "count, p50, p90 and p99 of x (from a power-of-two histogram)",
		Value: true, Words: hist.Words,
		Buckets: hist.Buckets, Bucket: hist.Bucket, Update: hist.Update, Decode: hist.Decode, Merge: hist.Merge,
		Order: func(v *Value) int64 { return int64(v.Total()) },
		Text: func(v *Value) string {
			return fmt.Sprintf("count %d, p50 %s, p90 %s, p99 %s", v.Total(),
				quantileText(v, 0.5), quantileText(v, 0.9), quantileText(v, 0.99))
		},
		Fields: func(v *Value) []Field {
			return []Field{{"count", int64(v.Total())}, {"p50", Quantile(v, 0.5)}, {"p90", Quantile(v, 0.9)}, {"p99", Quantile(v, 0.99)}}
		},
		BucketLabel: hist.BucketLabel, BucketBounds: hist.BucketBounds,
		Metric: Histogram,
	})
}

// Quantile estimates the q-quantile of the values a power-of-two
// histogram counted: the bucket holding it, and a linear guess inside.
func Quantile(v *Value, q float64) int64 {
	total := v.Total()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range v.Buckets {
		if c == 0 {
			continue
		}
		if seen+float64(c) < rank {
			seen += float64(c)
			continue
		}
		lo, hi := histBounds(i)
		l, _ := strconv.ParseFloat(lo, 64)
		h, _ := strconv.ParseFloat(hi, 64)
		if lo == "" {
			return 0 // negative values: the bucket has no lower bound
		}
		return int64(math.Round(l + (h-l)*(rank-seen)/float64(c)))
	}
	return 0
}

func quantileText(v *Value, q float64) string { return strconv.FormatInt(Quantile(v, q), 10) }
