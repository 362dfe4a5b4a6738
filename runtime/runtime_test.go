package runtime_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/runtime"
	"github.com/ebpftrace/ebpftrace/runtime/sink"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: loading BPF programs needs root (CAP_BPF, CAP_PERFMON); run the tests as root")
	}
}

// runOnce compiles src, runs its begin()/end() probes and returns stdout.
func runOnce(t *testing.T, src string, json bool) string {
	t.Helper()
	p, err := dsl.Parse("", src)
	if err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	prog, err := compiler.Compile(p, &compiler.Env{})
	if err != nil {
		t.Fatalf("compile %q: %s", src, dsl.Render(err, p.Source))
	}
	var out bytes.Buffer
	var k sink.Sink = sink.NewText(&out)
	if json {
		k = sink.NewJSON(&out)
	}
	s, err := runtime.Start(prog, runtime.Options{Sinks: []sink.Sink{k}})
	if err != nil {
		t.Fatalf("start %q: %s", src, dsl.Render(err, p.Source))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("run %q: %v", src, err)
	}
	return out.String()
}

// TestExpressions evaluates expressions in the kernel (a begin() probe run
// with BPF_PROG_TEST_RUN) and compares them with Go's answers.
func TestExpressions(t *testing.T) {
	needRoot(t)
	tests := []struct{ expr, want string }{
		{"1 + 2 * 3", "7"},
		{"(1 + 2) * 3", "9"},
		{"7 / 2", "3"},
		{"-7 / 2", "-3"},
		{"7 / -2", "-3"},
		{"-7 / -2", "3"},
		{"7 % 3", "1"},
		{"-7 % 3", "-1"},
		{"7 % -3", "1"},
		{"5 / 0", "0"},
		{"10 - 20", "-10"},
		{"1 << 40", "1099511627776"},
		{"-16 >> 2", "-4"},
		{"0xff &^ 0x0f", "240"},
		{"0xf0 | 0x0f ^ 0xff", "0"}, // Go: | and ^ bind alike, left to right
		{"^0", "-1"},
		{"-(5)", "-5"},
		{"!0", "1"},
		{"!5", "0"},
		{"3 > 2 && 2 > 1", "1"},
		{"1 > 2 || 0 != 0", "0"},
		{"1 > 2 || 2 >= 2", "1"},
		{"-1 < 0", "1"},
		{"0x7fffffffffffffff", "9223372036854775807"},
		{"1_000_000 * 3", "3000000"},
		{"0b101 + 0o17", "20"},
		{"'a'", "97"},
		{`"abc" == "abc"`, "1"},
		{`"abc" != "abd"`, "1"},
		{`"ab" == "abc"`, "0"},
		{`comm == "runtime.test"`, "1"},
		{`comm != "runtime.test"`, "0"},
		{"true && !false", "1"},
		{"1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10", "55"},
		{"((1 + 2) * (3 + 4)) * ((5 + 6) * (7 + 8))", "3465"},
		{"cond(1 > 2, 5, -7)", "-7"},
		{"cond(comm == \"runtime.test\", 1, 2) + cond(0, 10, 20)", "21"},
		{`strings.HasPrefix(comm, "runtime")`, "1"},
		{`strings.HasPrefix(comm, "time")`, "0"},
		{`strings.HasPrefix(comm, "")`, "1"},
		{`strings.HasPrefix(comm, comm)`, "1"},
		{`strings.HasPrefix(comm, "runtime.test.x")`, "0"},
		{`strings.HasPrefix("runtime", comm)`, "0"},
		{`strings.HasPrefix(comm, comm[:4])`, "1"},
		{`strings.HasSuffix(comm, ".test")`, "1"},
		{`strings.HasSuffix(comm, "runtime.test")`, "1"},
		{`strings.HasSuffix(comm, "xruntime.test")`, "0"},
		{`strings.HasSuffix(comm, "runtime")`, "0"},
		{`strings.Contains(comm, "time.t")`, "1"},
		{`strings.Contains(comm, "r")`, "1"},
		{`strings.Contains(comm, "st")`, "1"},
		{`strings.Contains(comm, "tests")`, "0"},
		{`strings.Contains(comm, "")`, "1"},
		{`comm[:7] == "runtime"`, "1"},
		{`comm[8:] == "test"`, "1"},
		{`comm[:3] == "ru"`, "0"},
		{`comm[:2] == "rx"[:2]`, "0"},
		{`[]int{10, -20, 30}[1]`, "-20"},
		{`[]int{10, -20, 30}[3]`, "0"},
		{`len([]string{"a", "b"})`, "2"},
	}
	var exprs []string
	for _, tt := range tests {
		exprs = append(exprs, tt.expr)
	}
	// One program, many values: exercises register spilling too.
	src := `begin().print("` + strings.Repeat("%d|", len(exprs)) + `", ` + strings.Join(exprs, ", ") + `)`
	got := strings.Split(strings.TrimSuffix(runOnce(t, src, false), "|\n"), "|")
	if len(got) != len(tests) {
		t.Fatalf("got %d values, want %d: %q", len(got), len(tests), got)
	}
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, got[i], tt.want)
		}
	}
}

func TestFormats(t *testing.T) {
	needRoot(t)
	tests := []struct{ src, want string }{
		{`begin().print("%x %X %o %b %c %q %v", 255, 255, 8, 5, 65, "hi", 42)`, "ff FF 10 101 A \"hi\" 42\n"},
		{`begin().print("[%5d|%-5d|%05d]", 42, 42, 42)`, "[   42|42   |00042]\n"},
		{`begin().print("%v %s %x", hex(255), hex(4096), hex(255))`, "0xff 0x1000 ff\n"},
		{`begin().print("%llu %ld %u %i %%", 1, -2, 3, 4)`, "1 -2 3 4 %\n"},
		{`begin().print("%s|%10s|%-6s|", comm, "x", "ab")`, "runtime.test|         x|ab    |\n"},
		{`begin().print("no newline needed")`, "no newline needed\n"},
		{"begin().print(\"tab\\there\\n\")", "tab\there\n"},
		{`x := 40; begin().print("%d", x + 2)`, "42\n"},
		{`begin().print("%s|%s|%s", cond(1, "yes", comm), cond(0, "yes", comm), cond(2 > 1, comm[:3], "no"))`, "yes|runtime.test|run\n"},
		{`s := []string{"zero", "one", "two"}; begin().print("%s|%s|%s|", s[0], s[2], s[3])`, "zero|two||\n"},
		{`begin().print("%s|%s|%s", comm[:7], comm[8:], comm[3:7])`, "runtime|test|time\n"},
		// .with() binds once, for the stages after it.
		{`begin().with(x := 40, s := comm[:7], t := cond(x > 1, "big", "small")).filter(strings.HasPrefix(s, "run")).print("%d %s %s", x + 2, s, t)`, "42 runtime big\n"},
		{`begin().with(a := 1).with(b := a + 1, c := b * 10).print("%d %d %d", a, b, c)`, "1 2 20\n"},
	}
	for _, tt := range tests {
		if got := runOnce(t, tt.src, false); got != tt.want {
			t.Errorf("%s\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
}

func TestBeginEndAggregations(t *testing.T) {
	needRoot(t)
	got := runOnce(t, `begin().sum(40)
begin().sum(2)
end().print("bye")
begin().by("k").count()`, false)
	want := "bye\n@sum: 40\n@sum_1: 2\n@count[k]: 1\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
