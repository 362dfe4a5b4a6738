package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebpftrace/ebpftrace/runtime/sink/otlp/otlptest"
)

// The exporters end to end: a real Prometheus scrapes --metrics, go tool
// pprof reads --pprof, a real OTLP receiver gets --otlp's spans.

// testPrograms are the programs in testdata/, built once per test binary.
var testPrograms sync.Map

// testProgram builds testdata/name (once) and returns its path.
func testProgram(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(bin.dir, "testdata-"+name)
	once, _ := testPrograms.LoadOrStore(name, &sync.Once{})
	once.(*sync.Once).Do(func() {
		b, err := exec.Command("go", "build", "-buildvcs=false", "-o", out, "./testdata/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("build testdata/%s: %v\n%s", name, err, b)
		}
	})
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("testdata/%s was not built", name)
	}
	return out
}

// tracer is ebpftrace running in the background.
type tracer struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	lines  []string // stderr
	seen   *sync.Cond
	done   chan struct{}
}

// startTracer runs ebpftrace with args and waits for its "Attached" line.
func startTracer(t *testing.T, args ...string) *tracer {
	t.Helper()
	tr := &tracer{cmd: exec.Command(bin.ebpftrace, args...), done: make(chan struct{})}
	tr.seen = sync.NewCond(&tr.mu)
	tr.cmd.Stdout = &tr.stdout
	pipe, err := tr.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if tr.cmd.ProcessState == nil {
			tr.cmd.Process.Kill()
			tr.cmd.Wait()
		}
	})
	go func() {
		defer close(tr.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			tr.mu.Lock()
			tr.lines = append(tr.lines, sc.Text())
			tr.seen.Broadcast()
			tr.mu.Unlock()
		}
		tr.mu.Lock()
		tr.seen.Broadcast()
		tr.mu.Unlock()
	}()
	tr.waitLine(t, "Attached")
	return tr
}

// waitLine returns the first stderr line starting with prefix, waiting
// for it at most 30s.
func (tr *tracer) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timer := time.AfterFunc(30*time.Second, func() {
		tr.mu.Lock()
		tr.seen.Broadcast()
		tr.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(30 * time.Second)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for {
		for _, l := range tr.lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		select {
		case <-tr.done:
			t.Fatalf("ebpftrace ended without a %q line:\n%s", prefix, strings.Join(tr.lines, "\n"))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line in 30s:\n%s", prefix, strings.Join(tr.lines, "\n"))
		}
		tr.seen.Wait()
	}
}

// stop sends SIGINT and waits for ebpftrace to print and exit.
func (tr *tracer) stop(t *testing.T) result {
	t.Helper()
	tr.cmd.Process.Signal(syscall.SIGINT)
	err := tr.cmd.Wait()
	<-tr.done
	r := result{stdout: tr.stdout.String(), stderr: strings.Join(tr.lines, "\n"), code: tr.cmd.ProcessState.ExitCode()}
	if err != nil {
		t.Fatalf("ebpftrace: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return r
}

// unusedAddr is a 127.0.0.1 address nothing listens on (a moment ago).
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// promServer is Debian's Prometheus, run by the test with its own
// configuration and storage in a temporary directory.
type promServer struct{ url string }

func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	path, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("skipped: no prometheus (apt-get install prometheus, or make deps)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ebpftrace\n    static_configs:\n      - targets: ['%s']\n", target)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := unusedAddr(t)
	cmd := exec.Command(path, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	p := &promServer{url: "http://" + addr}
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("prometheus not ready in 30s:\n%s", logs.String())
		}
	}
}

// query runs an instant PromQL query; ok is false when it has no result.
func (p *promServer) query(t *testing.T, q string) (v float64, ok bool) {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "success" {
		t.Fatalf("query %s: %s", q, body.Error)
	}
	if len(body.Data.Result) != 1 {
		return 0, false
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	return v, err == nil
}

// await queries q until it answers want (or anything, when want is NaN),
// for 30s at most.
func (p *promServer) await(t *testing.T, q string, want float64) float64 {
	t.Helper()
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		v, ok := p.query(t, q)
		if ok && (v == want || math.IsNaN(want)) {
			return v
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("prometheus: %s = %v (%v), want %v", q, v, ok, want)
		}
	}
}

// A real Prometheus scrapes --metrics while ebpftrace traces a count of
// system calls and the latency of a Go function: the count is exact, and
// histogram_quantile's P99 falls in the bucket that holds the 99th
// percentile of what ebpftrace itself prints at exit.
func TestMetricsPrometheus(t *testing.T) {
	needRoot(t)
	naps := testProgram(t, "naps")
	// A copy of syscaller with a name of its own: other tests (and other
	// users of the machine) run syscaller at the same time.
	caller := filepath.Join(t.TempDir(), "metricscaller")
	data, err := os.ReadFile(bin.syscaller)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caller, data, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := fmt.Sprintf(`tracepoint("syscalls:sys_enter_getppid").filter(comm == "metricscaller").count().export("getppid_calls")
uprobe(%[1]q, "main.nap").by(comm).count().export("naps")
uprobe(%[1]q, "main.nap").latency(uretprobe(%[1]q, "main.nap")).hist(elapsed).export("nap_duration")`, naps)
	tr := startTracer(t, "--metrics", "127.0.0.1:0", "-e", prog)
	addr := strings.TrimSuffix(strings.TrimPrefix(tr.waitLine(t, "Serving metrics at "), "Serving metrics at http://"), "/metrics")
	prom := startPrometheus(t, addr)

	if out, err := exec.Command(caller, "getppid", "1000").CombinedOutput(); err != nil {
		t.Fatalf("syscaller: %v\n%s", err, out)
	}
	var args []string
	for i := range 20 {
		args = append(args, fmt.Sprintf("%dms", 3+i%5)) // 3ms…7ms
	}
	if out, err := exec.Command(naps, args...).CombinedOutput(); err != nil {
		t.Fatalf("naps: %v\n%s", err, out)
	}

	prom.await(t, "getppid_calls_total", 1000)
	prom.await(t, `naps_total{comm="testdata-naps"}`, 20)
	prom.await(t, "nap_duration_seconds_count", 20)
	p99 := prom.await(t, "histogram_quantile(0.99, nap_duration_seconds_bucket)", math.NaN())
	// The sum of the naps' durations: the 100 ms they slept, and not
	// much more (a nap is a sleep and a return).
	if sum := prom.await(t, "nap_duration_seconds_sum", math.NaN()); sum < 0.1 || sum > 0.1+20*0.02 {
		t.Errorf("nap_duration_seconds_sum = %gs, want the 100 ms of the 20 naps and less than 20 ms more each", sum)
	}
	r := tr.stop(t)

	// The terminal output goes on alongside: the same histogram, printed.
	lo, hi := percentileBucket(t, r.stdout, 0.99)
	if p99 <= lo/1e9 || p99 > hi/1e9 {
		t.Errorf("P99 %gs is outside the bucket [%g, %g) ns that holds the 99th percentile of:\n%s", p99, lo, hi, r.stdout)
	}
	if !strings.Contains(r.stdout, "@getppid_calls: 1000\n") && !strings.Contains(r.stdout, "@count: 1000\n") {
		t.Errorf("the text output lacks the count:\n%s", r.stdout)
	}
	t.Logf("histogram_quantile(0.99, nap_duration_seconds_bucket) = %g", p99)
}

// percentileBucket reads the bars of the first histogram in text and
// returns the bounds, in its unit, of the bucket holding quantile q.
func percentileBucket(t *testing.T, text string, q float64) (lo, hi float64) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\[(\d+[KMG]?), (\d+[KMG]?)\)\s+(\d+) \|`)
	type bucket struct {
		lo, hi float64
		n      int
	}
	var bs []bucket
	total := 0
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[3])
		bs = append(bs, bucket{unitNumber(m[1]), unitNumber(m[2]), n})
		total += n
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].lo < bs[j].lo })
	rank, seen := q*float64(total), 0
	for _, b := range bs {
		seen += b.n
		if float64(seen) >= rank && b.n > 0 {
			return b.lo, b.hi
		}
	}
	t.Fatalf("no histogram in:\n%s", text)
	return 0, 0
}

// unitNumber reads a bpftrace bucket bound: 512, 4K, 8M, 1G.
func unitNumber(s string) float64 {
	mult := 1.0
	switch s[len(s)-1] {
	case 'K':
		mult = 1 << 10
	case 'M':
		mult = 1 << 20
	case 'G':
		mult = 1 << 30
	}
	n, _ := strconv.ParseFloat(strings.TrimRight(s, "KMG"), 64)
	return n * mult
}

// profile(99).by(ustack).count() with --pprof is a CPU profile: go tool
// pprof names the hot function and the function inlined into its loop.
func TestPprofProfile(t *testing.T) {
	needRoot(t)
	hot := testProgram(t, "hot")
	file := filepath.Join(t.TempDir(), "cpu.pb.gz")
	r := trace(t, "", "--pprof", file, "-c", hot+" 1500ms", "-e", "profile(99).by(ustack).count()").mustSucceed(t)
	if !strings.Contains(r.stderr, "--pprof: wrote "+file) || !strings.Contains(r.stdout, "@count[") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", file).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	// The loop is step's code inlined into hot: most samples are there.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Type: cpu$`),
		regexp.MustCompile(`(?m)^ +\S+s +\S+% +\S+% +\S+s +\S+% +main\.step \(inline\)$`),
		regexp.MustCompile(`(?m)^ +\S+s +\S+% +\S+% +\S+s +\S+% +main\.hot$`),
	} {
		if !want.Match(out) {
			t.Errorf("go tool pprof -top lacks %s:\n%s", want, out)
		}
	}
	// With -lines, the inlined frame has step's own line.
	out, err = exec.Command("go", "tool", "pprof", "-top", "-lines", file).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -lines: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`main\.step \S*testdata/hot/main\.go:14 \(inline\)`).Match(out) {
		t.Errorf("go tool pprof -top -lines lacks main.step at main.go:14:\n%s", out)
	}
}

// Each traced call of nap becomes one span at a real OTLP receiver, over
// gRPC and HTTP, lasting at least the nap asked for and at most what
// nap's caller measured around the call.
func TestOTLPSpans(t *testing.T) {
	needRoot(t)
	naps := testProgram(t, "naps")
	rcv, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Stop()
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 5 * time.Millisecond}
	var args []string
	for _, d := range want {
		args = append(args, d.String())
	}
	prog := fmt.Sprintf(`uprobe(%[1]q, "main.nap").latency(uretprobe(%[1]q, "main.nap")).hist(elapsed)`, naps)
	sent := 0
	for _, endpoint := range []string{rcv.GRPCAddr, "http://" + rcv.HTTPAddr} {
		r := trace(t, "", "--otlp", endpoint, "-c", naps+" "+strings.Join(args, " "), "-e", prog).mustSucceed(t)
		if !strings.Contains(r.stderr, fmt.Sprintf("--otlp: %d spans sent to %s", len(want), endpoint)) {
			t.Errorf("stderr lacks the report:\n%s", r.stderr)
		}
		measured := regexp.MustCompile(`nap \S+ took (\d+) ns`).FindAllStringSubmatch(r.stdout, -1)
		if len(measured) != len(want) {
			t.Fatalf("naps printed:\n%s", r.stdout)
		}
		spans := rcv.Wait(sent+len(want), 10*time.Second)[sent:]
		sent += len(want)
		if len(spans) != len(want) {
			t.Fatalf("%s: %d spans for %d calls:\n%s", endpoint, len(spans), len(want), otlptest.Dump(spans))
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].Start.Before(spans[j].Start) })
		for i, s := range spans {
			took, _ := strconv.ParseInt(measured[i][1], 10, 64)
			if s.Name != "main.nap" || s.Duration() < want[i] || s.Duration() > time.Duration(took) {
				t.Errorf("%s: span %d %q lasts %s; nap(%s) took %s by its caller's clock", endpoint, i, s.Name, s.Duration(), want[i], time.Duration(took))
			}
			if s.Attrs["thread.name"] != "testdata-naps" || s.Attrs["goid"] == nil || s.Attrs["process.pid"] == nil {
				t.Errorf("%s: span %d attributes %v", endpoint, i, s.Attrs)
			}
		}
		if endpoint == rcv.GRPCAddr {
			t.Logf("the receiver's dump of the first span:\n%s", otlptest.Dump(spans[:1]))
		}
	}
}

// With the endpoint down, ebpftrace traces on (the histogram is printed)
// and says at exit how many spans it dropped.
func TestOTLPEndpointDown(t *testing.T) {
	needRoot(t)
	naps := testProgram(t, "naps")
	down := unusedAddr(t)
	prog := fmt.Sprintf(`uprobe(%[1]q, "main.nap").latency(uretprobe(%[1]q, "main.nap")).hist(elapsed)`, naps)
	r := trace(t, "", "--otlp", down, "-c", naps+" 1ms 2ms 3ms", "-e", prog).mustSucceed(t)
	if !strings.Contains(r.stdout, "@hist:\n") {
		t.Errorf("no histogram:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`ebpftrace: --otlp: 0 spans sent to ` + regexp.QuoteMeta(down) + `; 3 dropped \(.+\)`).MatchString(r.stderr) {
		t.Errorf("stderr lacks the dropped spans:\n%s", r.stderr)
	}
}

// Mistakes with the exporters are reported before anything is attached.
func TestExportErrors(t *testing.T) {
	needRoot(t) // tracefs
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--pprof", "x.pb.gz", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`}, "--pprof: the program has no aggregation keyed by ustack or kstack"},
		{[]string{"--pprof", "/no/such/dir/x.pb.gz", "-e", `profile(99).by(kstack).count()`}, "--pprof /no/such/dir/x.pb.gz: no directory /no/such/dir"},
		{[]string{"--pprof", "x.pb.gz", "-e", `profile(99).by(kstack).max(cpu)`}, "--pprof: @max is max(x): a profile adds its values up"},
		{[]string{"--otlp", "127.0.0.1:4317", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`}, "--otlp: the program has no chain with a start and an end"},
		{[]string{"--otlp", "ftp://x", "-e", `tracepoint("syscalls:sys_enter_openat").latency(tracepoint("syscalls:sys_exit_openat")).count()`}, "--otlp ftp://x: unknown scheme ftp"},
		{[]string{"--metrics", "256.0.0.1:1", "-e", `tracepoint("syscalls:sys_enter_getppid").count()`}, "--metrics 256.0.0.1:1:"},
		{[]string{"-e", `tracepoint("syscalls:sys_enter_getppid").by(kstack).count().export("calls")`}, "kstack cannot be a label of metric calls"},
	}
	for _, tt := range tests {
		r := trace(t, "", tt.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "Attached") {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// When tracing ends on its own (here the -c command exits), ebpftrace
// keeps serving the final values until it is stopped, so the last scrape
// sees them; with -f json the output goes on alongside.
func TestMetricsAfterTheCommand(t *testing.T) {
	needRoot(t)
	tr := startTracer(t, "--metrics", "127.0.0.1:0", "-f", "json", "-c", bin.syscaller+" getppid 77",
		"-e", `tracepoint("syscalls:sys_enter_getppid").count()`)
	addr := strings.TrimSuffix(strings.TrimPrefix(tr.waitLine(t, "Serving metrics at "), "Serving metrics at "), "/metrics")
	tr.waitLine(t, "ebpftrace: tracing ended; serving the final metrics at "+addr)
	resp, err := http.Get(addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), "\nebpftrace_count_total 77\n") {
		t.Errorf("/metrics after the command:\n%s", body)
	}
	r := tr.stop(t)
	if !strings.Contains(r.stdout, `"type":"aggregation","name":"count"`) {
		t.Errorf("no JSON aggregation:\n%s", r.stdout)
	}
}
