package sink

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/compiler/agg"
)

// The kinds, as the tables below name them.
var (
	Count = kind("count")
	Sum   = kind("sum")
	Avg   = kind("avg")
	Min   = kind("min")
	Max   = kind("max")
	Stats = kind("stats")
	Hist  = kind("hist")
	LHist = kind("lhist")
)

func kind(name string) *agg.Kind {
	k, ok := agg.Lookup(name)
	if !ok {
		panic("no kind " + name)
	}
	return k
}

// HistBuckets is the number of buckets of hist.
var HistBuckets = Hist.Buckets(agg.Params{})

// names is a Resolver for these tests: addresses below len(frameNames)
// are named by it, others "f<address>". Field is not used here.
type names struct{}

// frameNames are the names st gives addresses.
var frameNames = []string{"", "do_sys_openat2+1", "__x64_sys_openat+85", "do_syscall_64+91",
	"f1", "f2", "main", "std::vector<int>::push_back", "a", "b"}

// st is a stack of the named frames.
func st(frames ...string) Stack {
	s := Stack{PCs: []uint64{}}
	for _, f := range frames {
		for i, n := range frameNames {
			if n == f {
				s.PCs = append(s.PCs, uint64(i))
			}
		}
	}
	return s
}

func (names) Field([]byte, compiler.Field) Value { return nil }
func (names) Frames(s Stack) []string {
	var out []string
	for _, pc := range s.PCs {
		out = append(out, names{}.Name(Symbol{Addr: pc}))
	}
	return out
}
func (names) Name(s Symbol) string {
	if s.Addr < uint64(len(frameNames)) {
		return frameNames[s.Addr]
	}
	return fmt.Sprintf("f%d", s.Addr)
}

// histRow returns a Hist row counting the given values.
func histRow(key []Value, values ...int64) Row {
	r := Row{Key: key}
	for _, v := range values {
		i := agg.HistBucket(v)
		for len(r.Buckets) <= i {
			r.Buckets = append(r.Buckets, 0)
		}
		r.Buckets[i]++
	}
	return r
}

// lhistRow returns an LHist row counting the given values.
func lhistRow(s agg.Params, key []Value, values ...int64) Row {
	r := Row{Key: key, Value: agg.Value{Buckets: make([]uint64, LHist.Buckets(s))}}
	for _, v := range values {
		r.Buckets[agg.LHistBucket(v, s)]++
	}
	return r
}

// bucketsAt returns a bucket slice holding counts from index first on.
func bucketsAt(first int, counts ...uint64) []uint64 {
	return append(make([]uint64, first), counts...)
}

func keys(vs ...Value) []Value { return vs }

type textTest struct {
	name string
	agg  Snapshot
	want string
}

func runTextTests(t *testing.T, tests []textTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteText(&buf, &tt.agg); err != nil {
				t.Fatalf("WriteText: %v", err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("WriteText mismatch\n--- got ---\n%s--- want ---\n%s--- got (quoted) ---\n%q", got, tt.want, got)
			}
		})
	}
}

func TestWriteTextScalars(t *testing.T) {
	comm := []string{"comm"}
	runTextTests(t, []textTest{
		{
			name: "count keyless",
			agg:  Snapshot{Name: "count", Kind: Count, Rows: []Row{{Value: agg.Value{Count: 42}}}},
			want: "@count: 42\n",
		},
		{
			name: "count keyless empty",
			agg:  Snapshot{Name: "count", Kind: Count},
			want: "@count: 0\n",
		},
		{
			name: "sum keyless empty",
			agg:  Snapshot{Name: "bytes", Kind: Sum},
			want: "@bytes: 0\n",
		},
		{
			name: "anonymous map",
			agg:  Snapshot{Kind: Sum, Rows: []Row{{Value: agg.Value{Sum: -17}}}},
			want: "@: -17\n",
		},
		{
			name: "count keyed sorted ascending, ties by key",
			agg: Snapshot{Name: "count", Kind: Count, KeyNames: comm, Rows: []Row{
				{Key: keys("bash"), Value: agg.Value{Count: 12}},
				{Key: keys("zsh"), Value: agg.Value{Count: 3}},
				{Key: keys("cat"), Value: agg.Value{Count: 7}},
				{Key: keys("sshd"), Value: agg.Value{Count: 3}},
			}},
			want: `@count[sshd]: 3
@count[zsh]: 3
@count[cat]: 7
@count[bash]: 12
`,
		},
		{
			name: "count keyed empty prints nothing",
			agg:  Snapshot{Name: "count", Kind: Count, KeyNames: comm},
			want: "",
		},
		{
			name: "multi key",
			agg: Snapshot{Name: "count", Kind: Count, KeyNames: []string{"comm", "pid"}, Rows: []Row{
				{Key: keys("bash", int64(1234)), Value: agg.Value{Count: 3}},
				{Key: keys("bash", int64(99)), Value: agg.Value{Count: 3}},
				{Key: keys("cron", uint64(1)), Value: agg.Value{Count: 1}},
			}},
			want: `@count[cron, 1]: 1
@count[bash, 99]: 3
@count[bash, 1234]: 3
`,
		},
		{
			name: "integer key ties sort numerically",
			agg: Snapshot{Name: "c", Kind: Count, KeyNames: []string{"pid"}, Rows: []Row{
				{Key: keys(int64(10)), Value: agg.Value{Count: 1}},
				{Key: keys(int64(9)), Value: agg.Value{Count: 1}},
				{Key: keys(int64(-3)), Value: agg.Value{Count: 1}},
				{Key: keys(uint64(math.MaxUint64)), Value: agg.Value{Count: 1}},
			}},
			want: `@c[-3]: 1
@c[9]: 1
@c[10]: 1
@c[18446744073709551615]: 1
`,
		},
		{
			// bpftrace tests/bpftrace.cpp TEST(bpftrace, print_basic_map),
			// case basic_map_2 (bpftrace's mock map name has no '@').
			name: "bpftrace print_basic_map",
			agg: Snapshot{Name: "basic_map_2", Kind: Sum, KeyNames: []string{"k"}, Rows: []Row{
				{Key: keys(uint64(1)), Value: agg.Value{Sum: 5}},
				{Key: keys(uint64(3)), Value: agg.Value{Sum: 10}},
				{Key: keys(uint64(5)), Value: agg.Value{Sum: 4}},
				{Key: keys(uint64(7)), Value: agg.Value{Sum: 11}},
				{Key: keys(uint64(9)), Value: agg.Value{Sum: 7}},
			}},
			want: `@basic_map_2[5]: 4
@basic_map_2[1]: 5
@basic_map_2[9]: 7
@basic_map_2[3]: 10
@basic_map_2[7]: 11
`,
		},
		{
			// Same data, top = 3 (case basic_map_1).
			name: "bpftrace print_basic_map top",
			agg: Snapshot{Name: "basic_map_1", Kind: Sum, KeyNames: []string{"k"}, Top: 3, Rows: []Row{
				{Key: keys(uint64(1)), Value: agg.Value{Sum: 5}},
				{Key: keys(uint64(3)), Value: agg.Value{Sum: 10}},
				{Key: keys(uint64(5)), Value: agg.Value{Sum: 4}},
				{Key: keys(uint64(7)), Value: agg.Value{Sum: 11}},
				{Key: keys(uint64(9)), Value: agg.Value{Sum: 7}},
			}},
			want: `@basic_map_1[9]: 7
@basic_map_1[3]: 10
@basic_map_1[7]: 11
`,
		},
		{
			name: "top larger than rows",
			agg: Snapshot{Name: "c", Kind: Count, KeyNames: comm, Top: 10, Rows: []Row{
				{Key: keys("b"), Value: agg.Value{Count: 2}},
				{Key: keys("a"), Value: agg.Value{Count: 1}},
			}},
			want: "@c[a]: 1\n@c[b]: 2\n",
		},
		{
			name: "avg integer division",
			agg: Snapshot{Name: "avg", Kind: Avg, KeyNames: comm, Rows: []Row{
				{Key: keys("bash"), Value: agg.Value{Sum: 15, Count: 3}},
				{Key: keys("neg"), Value: agg.Value{Sum: -7, Count: 2}},
				{Key: keys("none"), Value: agg.Value{Sum: 0, Count: 0}},
				{Key: keys("odd"), Value: agg.Value{Sum: 20, Count: 3}},
			}},
			want: `@avg[neg]: -3
@avg[none]: 0
@avg[bash]: 5
@avg[odd]: 6
`,
		},
		{
			name: "avg keyless empty",
			agg:  Snapshot{Name: "avg", Kind: Avg},
			want: "@avg: 0\n",
		},
		{
			name: "stats keyed sorted by average",
			agg: Snapshot{Name: "stats", Kind: Stats, KeyNames: comm, Rows: []Row{
				{Key: keys("zsh"), Value: agg.Value{Count: 1, Sum: 10, Min: 10, Max: 10}},
				{Key: keys("bash"), Value: agg.Value{Count: 3, Sum: 15, Min: 1, Max: 9}},
			}},
			want: `@stats[bash]: count 3, average 5, total 15
@stats[zsh]: count 1, average 10, total 10
`,
		},
		{
			name: "stats keyless empty",
			agg:  Snapshot{Name: "stats", Kind: Stats},
			want: "@stats: count 0, average 0, total 0\n",
		},
		{
			name: "min keyed with negative and unset",
			agg: Snapshot{Name: "min", Kind: Min, KeyNames: comm, Rows: []Row{
				{Key: keys("a"), Value: agg.Value{Count: 2, Min: 7}},
				{Key: keys("b"), Value: agg.Value{Count: 1, Min: -4}},
				{Key: keys("c"), Value: agg.Value{Count: 0, Min: math.MaxInt64}}, // unset
			}},
			want: `@min[b]: -4
@min[c]: 0
@min[a]: 7
`,
		},
		{
			name: "max keyless",
			agg:  Snapshot{Name: "max", Kind: Max, Rows: []Row{{Value: agg.Value{Count: 5, Max: 4096}}}},
			want: "@max: 4096\n",
		},
		{
			name: "max keyless unset",
			agg:  Snapshot{Name: "max", Kind: Max, Rows: []Row{{Value: agg.Value{Max: math.MinInt64}}}},
			want: "@max: 0\n",
		},
	})
}

func TestWriteTextStackKey(t *testing.T) {
	stack := st("do_sys_openat2+1", "__x64_sys_openat+85", "do_syscall_64+91")
	runTextTests(t, []textTest{
		{
			// bpftrace prints a kstack key as a newline and one line per
			// frame indented by 8 spaces (BPFtrace::get_stack, indent 8).
			name: "stack key",
			agg: Snapshot{R: names{}, Name: "count", Kind: Count, KeyNames: []string{"kstack"}, Rows: []Row{
				{Key: keys(stack), Value: agg.Value{Count: 5}},
			}},
			want: `@count[
        do_sys_openat2+1
        __x64_sys_openat+85
        do_syscall_64+91
]: 5
`,
		},
		{
			name: "stack key in tuple",
			agg: Snapshot{R: names{}, Name: "count", Kind: Count, KeyNames: []string{"comm", "kstack"}, Rows: []Row{
				{Key: keys("bash", st("f1", "f2")), Value: agg.Value{Count: 2}},
			}},
			want: "@count[bash, \n        f1\n        f2\n]: 2\n",
		},
		{
			name: "empty stack",
			agg: Snapshot{R: names{}, Name: "count", Kind: Count, KeyNames: []string{"kstack"}, Rows: []Row{
				{Key: keys(Stack{}), Value: agg.Value{Count: 1}},
			}},
			want: "@count[\n]: 1\n",
		},
		{
			name: "stack key hist",
			agg: Snapshot{R: names{}, Name: "h", Kind: Hist, KeyNames: []string{"ustack"}, Rows: []Row{
				histRow(keys(st("main")), 1),
			}},
			want: `@h[
        main
]:
[1]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
	})
}

func TestWriteTextHist(t *testing.T) {
	runTextTests(t, []textTest{
		{
			// bpftrace tests/runtime/outputs/hist.txt, from
			// begin { @=hist(-1); @=hist(2); @=hist(3); @=hist(7); @=hist(20); }
			name: "bpftrace runtime hist.txt",
			agg:  Snapshot{Kind: Hist, Rows: []Row{histRow(nil, -1, 2, 3, 7, 20)}},
			want: `@:
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0]                    0 |                                                    |
[1]                    0 |                                                    |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 16)                0 |                                                    |
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |

`,
		},
		{
			// bpftrace tests/runtime/outputs/hist_2_values.txt, from
			// begin { @=hist(3);@=hist(20);}
			name: "bpftrace runtime hist_2_values.txt",
			agg:  Snapshot{Kind: Hist, Rows: []Row{histRow(nil, 3, 20)}},
			want: `@:
[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 8)                 0 |                                                    |
[8, 16)                0 |                                                    |
[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			// Real output pasted in bpftrace's tools/runqlat.bt.
			name: "bpftrace tools/runqlat.bt sample",
			agg: Snapshot{Name: "usecs", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: bucketsAt(1,
				1, 11, 16, 43, 134, 220, 117, 84, 10, 2, 5, 5, 5, 4, 1, 2, 0, 1, 0, 0, 1)}}}},
			want: `@usecs:
[0]                    1 |                                                    |
[1]                   11 |@@                                                  |
[2, 4)                16 |@@@                                                 |
[4, 8)                43 |@@@@@@@@@@                                          |
[8, 16)              134 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                     |
[16, 32)             220 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[32, 64)             117 |@@@@@@@@@@@@@@@@@@@@@@@@@@@                         |
[64, 128)             84 |@@@@@@@@@@@@@@@@@@@                                 |
[128, 256)            10 |@@                                                  |
[256, 512)             2 |                                                    |
[512, 1K)              5 |@                                                   |
[1K, 2K)               5 |@                                                   |
[2K, 4K)               5 |@                                                   |
[4K, 8K)               4 |                                                    |
[8K, 16K)              1 |                                                    |
[16K, 32K)             2 |                                                    |
[32K, 64K)             0 |                                                    |
[64K, 128K)            1 |                                                    |
[128K, 256K)           0 |                                                    |
[256K, 512K)           0 |                                                    |
[512K, 1M)             1 |                                                    |

`,
		},
		{
			// Real output pasted in bpftrace's tools/biolatency-kp.bt.
			name: "bpftrace tools/biolatency-kp.bt sample",
			agg: Snapshot{Name: "usecs", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: bucketsAt(10,
				2, 10, 426, 230, 9, 128, 68, 0, 0, 10, 0, 0)}}}},
			want: `@usecs:
[256, 512)             2 |                                                    |
[512, 1K)             10 |@                                                   |
[1K, 2K)             426 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[2K, 4K)             230 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@                        |
[4K, 8K)               9 |@                                                   |
[8K, 16K)            128 |@@@@@@@@@@@@@@@                                     |
[16K, 32K)            68 |@@@@@@@@                                            |
[32K, 64K)             0 |                                                    |
[64K, 128K)            0 |                                                    |
[128K, 256K)          10 |@                                                   |

`,
		},
		{
			// A count wider than the 8-column field pushes the bar right,
			// as std::setw(8) does not truncate.
			name: "bar truncation and wide count",
			agg: Snapshot{Name: "h", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: bucketsAt(2,
				1, 3, 0, 123456789)}}}},
			want: `@h:
[1]                    1 |                                                    |
[2, 4)                 3 |                                                    |
[4, 8)                 0 |                                                    |
[8, 16)         123456789 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			name: "bar lengths",
			agg:  Snapshot{Name: "h", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: bucketsAt(1, 1, 3, 2)}}}},
			want: `@h:
[0]                    1 |@@@@@@@@@@@@@@@@@                                   |
[1]                    3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                  |

`,
		},
		{
			name: "M G and E labels",
			agg: Snapshot{Name: "h", Kind: Hist, Rows: []Row{
				histRow(nil, 1<<20, 1<<30+5, math.MaxInt64),
			}},
			want: "@h:\n" +
				"[1M, 2M)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[2M, 4M)               0 |                                                    |\n" +
				"[4M, 8M)               0 |                                                    |\n" +
				"[8M, 16M)              0 |                                                    |\n" +
				"[16M, 32M)             0 |                                                    |\n" +
				"[32M, 64M)             0 |                                                    |\n" +
				"[64M, 128M)            0 |                                                    |\n" +
				"[128M, 256M)           0 |                                                    |\n" +
				"[256M, 512M)           0 |                                                    |\n" +
				"[512M, 1G)             0 |                                                    |\n" +
				"[1G, 2G)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"[2G, 4G)               0 |                                                    |\n" +
				"[4G, 8G)               0 |                                                    |\n" +
				"[8G, 16G)              0 |                                                    |\n" +
				"[16G, 32G)             0 |                                                    |\n" +
				"[32G, 64G)             0 |                                                    |\n" +
				"[64G, 128G)            0 |                                                    |\n" +
				"[128G, 256G)           0 |                                                    |\n" +
				"[256G, 512G)           0 |                                                    |\n" +
				"[512G, 1T)             0 |                                                    |\n" +
				"[1T, 2T)               0 |                                                    |\n" +
				"[2T, 4T)               0 |                                                    |\n" +
				"[4T, 8T)               0 |                                                    |\n" +
				"[8T, 16T)              0 |                                                    |\n" +
				"[16T, 32T)             0 |                                                    |\n" +
				"[32T, 64T)             0 |                                                    |\n" +
				"[64T, 128T)            0 |                                                    |\n" +
				"[128T, 256T)           0 |                                                    |\n" +
				"[256T, 512T)           0 |                                                    |\n" +
				"[512T, 1P)             0 |                                                    |\n" +
				"[1P, 2P)               0 |                                                    |\n" +
				"[2P, 4P)               0 |                                                    |\n" +
				"[4P, 8P)               0 |                                                    |\n" +
				"[8P, 16P)              0 |                                                    |\n" +
				"[16P, 32P)             0 |                                                    |\n" +
				"[32P, 64P)             0 |                                                    |\n" +
				"[64P, 128P)            0 |                                                    |\n" +
				"[128P, 256P)           0 |                                                    |\n" +
				"[256P, 512P)           0 |                                                    |\n" +
				"[512P, 1E)             0 |                                                    |\n" +
				"[1E, 2E)               0 |                                                    |\n" +
				"[2E, 4E)               0 |                                                    |\n" +
				"[4E, 8E)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n" +
				"\n",
		},
		{
			name: "last bucket 65",
			agg: Snapshot{Name: "h", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: func() []uint64 {
				b := make([]uint64, HistBuckets)
				b[64], b[65] = 2, 1
				return b
			}()}}}},
			want: `@h:
[4E, 8E)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[8E, 16E)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |

`,
		},
		{
			name: "keyed hist sorted by total count, blank line after each",
			agg: Snapshot{Name: "us", Kind: Hist, KeyNames: []string{"comm"}, Rows: []Row{
				histRow(keys("curl"), -5, 0, 300, 1500, 1600),
				histRow(keys("bpftrace"), 2),
				histRow(keys("bash"), 8, 9),
			}},
			want: `@us[bpftrace]:
[2, 4)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@us[bash]:
[8, 16)                2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@us[curl]:
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[1]                    0 |                                                    |
[2, 4)                 0 |                                                    |
[4, 8)                 0 |                                                    |
[8, 16)                0 |                                                    |
[16, 32)               0 |                                                    |
[32, 64)               0 |                                                    |
[64, 128)              0 |                                                    |
[128, 256)             0 |                                                    |
[256, 512)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[512, 1K)              0 |                                                    |
[1K, 2K)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			name: "keyed hist top",
			agg: Snapshot{Name: "us", Kind: Hist, KeyNames: []string{"comm"}, Top: 1, Rows: []Row{
				histRow(keys("bash"), 8, 9),
				histRow(keys("bpftrace"), 2),
			}},
			want: `@us[bash]:
[8, 16)                2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			name: "keyless hist with only zero buckets",
			agg:  Snapshot{Name: "h", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: make([]uint64, 5)}}}},
			want: "@h:\n\n",
		},
		{
			name: "keyless hist without rows prints nothing",
			agg:  Snapshot{Name: "h", Kind: Hist},
			want: "",
		},
		{
			name: "keyed hist without rows prints nothing",
			agg:  Snapshot{Name: "h", Kind: Hist, KeyNames: []string{"comm"}},
			want: "",
		},
	})
}

func TestWriteTextLHist(t *testing.T) {
	k1024 := agg.Params{Min: 0, Max: 5 * 1024, Step: 1024}
	runTextTests(t, []textTest{
		{
			// bpftrace tests/runtime/outputs/lhist.txt, from begin {
			// @=lhist(2,0,10,2); @=lhist(3,0,10,2); @=lhist(7,0,10,2);
			// @=lhist(-1,0,10,2); @=lhist(11,0,10,2); exit()}
			name: "bpftrace runtime lhist.txt",
			agg: Snapshot{Kind: LHist, Params: agg.Params{Min: 0, Max: 10, Step: 2}, Rows: []Row{
				lhistRow(agg.Params{Min: 0, Max: 10, Step: 2}, nil, 2, 3, 7, -1, 11),
			}},
			want: `@:
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[0, 2)                 0 |                                                    |
[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, 6)                 0 |                                                    |
[6, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[8, 10)                0 |                                                    |
[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |

`,
		},
		{
			// bpftrace tests/output.cpp TEST(TextOutput, lhist_suffix).
			name: "bpftrace lhist_suffix",
			agg: Snapshot{Name: "mymap", Kind: LHist, Params: k1024, Rows: []Row{
				{Value: agg.Value{Buckets: []uint64{0, 1, 1, 1, 1, 1, 0}}},
			}},
			want: `@mymap:
[0, 1K)                1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[1K, 2K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[2K, 3K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[3K, 4K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4K, 5K)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			// bpftrace tests/output.cpp TEST(TextOutput, lhist_no_suffix):
			// a step that is not a multiple of 1024 never gets suffixes.
			name: "bpftrace lhist_no_suffix",
			agg: Snapshot{Name: "mymap", Kind: LHist, Params: agg.Params{Min: 610000, Max: 670000, Step: 10000}, Rows: []Row{
				{Value: agg.Value{Buckets: []uint64{0, 1, 1, 1, 1, 1, 1, 0}}},
			}},
			want: `@mymap:
[610000, 620000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[620000, 630000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[630000, 640000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[640000, 650000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[650000, 660000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[660000, 670000)       1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			// bpftrace tests/output.cpp TEST(TextOutput, lhist_overflow_only).
			name: "bpftrace lhist_overflow_only",
			agg: Snapshot{Name: "mymap", Kind: LHist, Params: agg.Params{Min: 0, Max: 100, Step: 10}, Rows: []Row{
				{Value: agg.Value{Buckets: []uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}},
			}},
			want: `@mymap:
[100, ...)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			// bpftrace tests/output.cpp TEST(TextOutput, lhist_underflow_only).
			name: "bpftrace lhist_underflow_only",
			agg: Snapshot{Name: "mymap", Kind: LHist, Params: agg.Params{Min: 10, Max: 110, Step: 10}, Rows: []Row{
				{Value: agg.Value{Buckets: []uint64{1}}},
			}},
			want: `@mymap:
(..., 10)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			// bpftrace tests/bpftrace.cpp TEST(bpftrace, print_lhist_map),
			// case lhist_map_1: keys sorted by total count.
			name: "bpftrace print_lhist_map",
			agg: Snapshot{Name: "lhist_map_1", Kind: LHist, Params: k1024, KeyNames: []string{"k"}, Rows: []Row{
				{Key: keys(uint64(0)), Value: agg.Value{Buckets: []uint64{0, 10, 20, 30, 40, 50, 0}}},
				{Key: keys(uint64(1)), Value: agg.Value{Buckets: []uint64{0, 2, 2, 2, 2, 2, 0}}},
			}},
			want: `@lhist_map_1[1]:
[0, 1K)                2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[1K, 2K)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[2K, 3K)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[3K, 4K)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4K, 5K)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

@lhist_map_1[0]:
[0, 1K)               10 |@@@@@@@@@@                                          |
[1K, 2K)              20 |@@@@@@@@@@@@@@@@@@@@                                |
[2K, 3K)              30 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                     |
[3K, 4K)              40 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@           |
[4K, 5K)              50 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			// Same, top = 1 (case lhist_map_2).
			name: "bpftrace print_lhist_map top",
			agg: Snapshot{Name: "lhist_map_2", Kind: LHist, Params: k1024, KeyNames: []string{"k"}, Top: 1, Rows: []Row{
				{Key: keys(uint64(0)), Value: agg.Value{Buckets: []uint64{0, 10, 20, 30, 40, 50, 0}}},
				{Key: keys(uint64(1)), Value: agg.Value{Buckets: []uint64{0, 2, 2, 2, 2, 2, 0}}},
			}},
			want: `@lhist_map_2[0]:
[0, 1K)               10 |@@@@@@@@@@                                          |
[1K, 2K)              20 |@@@@@@@@@@@@@@@@@@@@                                |
[2K, 3K)              30 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                     |
[3K, 4K)              40 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@           |
[4K, 5K)              50 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			name: "lhist under and overflow with decimal labels",
			agg: Snapshot{Name: "ms", Kind: LHist, Params: agg.Params{Min: 0, Max: 100, Step: 10}, Rows: []Row{
				lhistRow(agg.Params{Min: 0, Max: 100, Step: 10}, nil, -5, 0, 9, 10, 55, 99, 100, 1000, 1000),
			}},
			want: `@ms:
(..., 0)               1 |@@@@@@@@@@@@@@@@@                                   |
[0, 10)                2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                  |
[10, 20)               1 |@@@@@@@@@@@@@@@@@                                   |
[20, 30)               0 |                                                    |
[30, 40)               0 |                                                    |
[40, 50)               0 |                                                    |
[50, 60)               1 |@@@@@@@@@@@@@@@@@                                   |
[60, 70)               0 |                                                    |
[70, 80)               0 |                                                    |
[80, 90)               0 |                                                    |
[90, 100)              1 |@@@@@@@@@@@@@@@@@                                   |
[100, ...)             3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			name: "lhist negative range",
			agg: Snapshot{Name: "d", Kind: LHist, Params: agg.Params{Min: -20, Max: 20, Step: 10}, Rows: []Row{
				lhistRow(agg.Params{Min: -20, Max: 20, Step: 10}, nil, -15, 5, 5),
			}},
			want: `@d:
[-20, -10)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
[-10, 0)               0 |                                                    |
[0, 10)                2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			// With step 1 every in-range bucket holds a single value and
			// bpftrace (>= 0.24, text.cpp single_value) prints "[v]".
			name: "lhist step 1",
			agg: Snapshot{Name: "n", Kind: LHist, Params: agg.Params{Min: 0, Max: 4, Step: 1}, Rows: []Row{
				lhistRow(agg.Params{Min: 0, Max: 4, Step: 1}, nil, 1, 3, 4),
			}},
			want: `@n:
[1]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[2]                    0 |                                                    |
[3]                    1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[4, ...)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
		{
			name: "lhist M suffix",
			agg: Snapshot{Name: "sz", Kind: LHist, Params: agg.Params{Min: 0, Max: 3 << 20, Step: 512 << 10}, Rows: []Row{
				lhistRow(agg.Params{Min: 0, Max: 3 << 20, Step: 512 << 10}, nil, -1, 600<<10, 3<<20),
			}},
			want: `@sz:
(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[0, 512K)              0 |                                                    |
[512K, 1M)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
[1M, 1536K)            0 |                                                    |
[1536K, 2M)            0 |                                                    |
[2M, 2560K)            0 |                                                    |
[2560K, 3M)            0 |                                                    |
[3M, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|

`,
		},
	})
}

func TestWriteTextErrors(t *testing.T) {
	tests := []struct {
		name string
		agg  *Snapshot
	}{
		{"nil", nil},
		{"no kind", &Snapshot{Name: "x"}},
		{"key length", &Snapshot{Name: "x", Kind: Count, KeyNames: []string{"a", "b"}, Rows: []Row{{Key: keys("a"), Value: agg.Value{Count: 1}}}}},
		{"keyless with key", &Snapshot{Name: "x", Kind: Count, Rows: []Row{{Key: keys("a"), Value: agg.Value{Count: 1}}}}},
		{"keyless two rows", &Snapshot{Name: "x", Kind: Count, Rows: []Row{{Value: agg.Value{Count: 1}}, {Value: agg.Value{Count: 2}}}}},
		{"hist too many buckets", &Snapshot{Name: "x", Kind: Hist, Rows: []Row{{Value: agg.Value{Buckets: make([]uint64, HistBuckets+1)}}}}},
		{"lhist too many buckets", &Snapshot{Name: "x", Kind: LHist, Params: agg.Params{Min: 0, Max: 10, Step: 5}, Rows: []Row{{Value: agg.Value{Buckets: make([]uint64, 5)}}}}},
		{"lhist zero step", &Snapshot{Name: "x", Kind: LHist, Params: agg.Params{Min: 0, Max: 10, Step: 0}}},
		{"lhist max <= min", &Snapshot{Name: "x", Kind: LHist, Params: agg.Params{Min: 10, Max: 10, Step: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteText(&buf, tt.agg); err == nil {
				t.Errorf("WriteText succeeded, want error")
			}
			if err := WriteJSON(&buf, tt.agg); err == nil {
				t.Errorf("WriteJSON succeeded, want error")
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %q on error", buf.String())
			}
		})
	}
}

func TestWriteTextDoesNotReorderInput(t *testing.T) {
	a := &Snapshot{Name: "c", Kind: Count, KeyNames: []string{"k"}, Rows: []Row{
		{Key: keys("b"), Value: agg.Value{Count: 2}},
		{Key: keys("a"), Value: agg.Value{Count: 1}},
	}}
	if err := WriteText(&bytes.Buffer{}, a); err != nil {
		t.Fatal(err)
	}
	if a.Rows[0].Key[0] != "b" {
		t.Errorf("WriteText reordered the caller's rows")
	}
}

func TestCompareValues(t *testing.T) {
	// Each value sorts strictly before the next one.
	ordered := []Value{
		int64(math.MinInt64), int32(-2), int(-1), uint8(0), int16(1), uint(2),
		uint32(3), int8(4), uint16(5), int64(6), uint64(math.MaxUint64),
		"", "a", "b",
		Stack{}, st("a"), st("b"),
		1.5, true, // other types: by fmt text
	}
	for i := range ordered {
		for j := range ordered {
			got := compareValues(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("compareValues(%#v, %#v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	if c := compareKeys(keys("a"), keys("a", int64(1))); c != -1 {
		t.Errorf("shorter key compares %d, want -1", c)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

func TestWriteErrorsPropagate(t *testing.T) {
	a := &Snapshot{Name: "c", Kind: Count}
	if err := WriteText(failWriter{}, a); err == nil {
		t.Error("WriteText ignored the writer error")
	}
	if err := WriteJSON(failWriter{}, a); err == nil {
		t.Error("WriteJSON ignored the writer error")
	}
}

func TestWriteTextOtherKeyTypes(t *testing.T) {
	runTextTests(t, []textTest{{
		name: "fallback formatting",
		agg: Snapshot{Name: "c", Kind: Count, KeyNames: []string{"a", "b"}, Rows: []Row{
			{Key: keys(int32(-7), true), Value: agg.Value{Count: 1}},
		}},
		want: "@c[-7, true]: 1\n",
	}})
}
