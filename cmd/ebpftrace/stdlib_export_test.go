package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebpftrace/ebpftrace/runtime/sink/otlp/otlptest"
)

// TestHTTPP99Prometheus: the http-p99 tool on the example server, scraped
// by a real Prometheus: exact request counts, and the P99 of the slow
// route in the bucket of its sleeps.
func TestHTTPP99Prometheus(t *testing.T) {
	needRoot(t)
	srv := goBuild(t, "httpserver", "../../examples/httpserver")
	base, pid := startServer(t, srv, "-slow", "40ms")
	tr := startTracer(t, "-p", fmt.Sprint(pid), "--metrics", "127.0.0.1:0", "http-p99")
	addr := strings.TrimSuffix(strings.TrimPrefix(tr.waitLine(t, "Serving metrics at "), "Serving metrics at http://"), "/metrics")
	prom := startPrometheus(t, addr)
	for range 5 {
		request(t, "GET", base+"/slow")
	}
	for range 7 {
		request(t, "GET", base+"/fast")
	}
	prom.await(t, `http_request_duration_seconds_count{path="/slow",status="200"}`, 5)
	prom.await(t, `http_request_duration_seconds_count{path="/fast",status="200"}`, 7)
	p99 := prom.await(t, `histogram_quantile(0.99, http_request_duration_seconds_bucket{path="/slow"})`, math.NaN())
	tr.stop(t)
	// 40 ms is in [2^25, 2^26) ns.
	if lo, hi := float64(1<<25)/1e9, float64(1<<26)/1e9; p99 <= lo || p99 > hi {
		t.Errorf("P99 of /slow is %gs, outside (%g, %g]", p99, lo, hi)
	}
}

// TestStdlibSpans: with --otlp, one span per HTTP request and per gRPC
// call, named and with attributes as OpenTelemetry's semantic conventions
// say, lasting what the handlers slept.
func TestStdlibSpans(t *testing.T) {
	needRoot(t)
	rcv, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Stop()

	srv := goBuild(t, "httpserver", "../../examples/httpserver")
	base, pid := startServer(t, srv, "-slow", "30ms")
	tr := traceInBackground(t, "--otlp", rcv.GRPCAddr, "-p", fmt.Sprint(pid), "-e", `http.server().count()`)
	request(t, "GET", base+"/slow")
	request(t, "GET", base+"/missing")
	tr.stop()
	spans := rcv.Wait(2, 10*time.Second)
	if len(spans) != 2 {
		t.Fatalf("%d spans for 2 requests:\n%s", len(spans), otlptest.Dump(spans))
	}
	for _, s := range spans {
		path := s.Attrs["url.path"]
		want := map[string]any{"http.request.method": "GET", "url.path": path}
		switch path {
		case "/slow":
			want["http.response.status_code"] = int64(200)
			if s.Duration() < 30*time.Millisecond {
				t.Errorf("/slow's span lasts %s, less than its 30 ms sleep", s.Duration())
			}
		case "/missing":
			want["http.response.status_code"] = int64(404)
		default:
			t.Errorf("a span for %v:\n%s", path, otlptest.Dump([]otlptest.Span{s}))
		}
		for k, v := range want {
			if s.Attrs[k] != v {
				t.Errorf("span %s: %s = %v, want %v:\n%s", s.Name, k, s.Attrs[k], v, otlptest.Dump([]otlptest.Span{s}))
			}
		}
		if s.Name != "GET" {
			t.Errorf("an HTTP server span is named after its method (no route known), not %q", s.Name)
		}
	}

	server, client := buildGRPC(t)
	addr := freeAddr(t)
	gs := exec.Command(server, "-addr", addr, "-sleep", "25ms")
	if err := gs.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { gs.Process.Kill(); gs.Wait() }()
	time.Sleep(300 * time.Millisecond)
	tr = traceInBackground(t, "--otlp", rcv.GRPCAddr, "-p", fmt.Sprint(gs.Process.Pid), "-e", `grpc.server().count()`)
	if b, err := exec.Command(client, "-addr", addr, "-only", "echo,lookup").CombinedOutput(); err != nil {
		t.Fatalf("client: %v\n%s", err, b)
	}
	tr.stop()
	all := rcv.Wait(2+12, 10*time.Second)[2:]
	n := map[string]int{}
	for _, s := range all {
		if s.Attrs["rpc.system"] != "grpc" || s.Attrs["rpc.service"] != "ebt.demo.Demo" || s.Name != "ebt.demo.Demo/"+fmt.Sprint(s.Attrs["rpc.method"]) {
			t.Errorf("span %q attributes %v", s.Name, s.Attrs)
		}
		n[fmt.Sprint(s.Attrs["rpc.method"], " ", s.Attrs["rpc.grpc.status_code"])]++
		if s.Attrs["rpc.method"] == "Echo" && s.Duration() < 25*time.Millisecond {
			t.Errorf("Echo's span lasts %s, less than its 25 ms sleep", s.Duration())
		}
	}
	// Echo ×7 (OK = 0), Lookup ×2 known and ×3 unknown (NotFound = 5).
	if n["Echo 0"] != 7 || n["Lookup 0"] != 2 || n["Lookup 5"] != 3 {
		t.Errorf("spans by method and code: %v", n)
	}
}

// TestGoroutineProfile: --pprof of goroutine.blocked on examples/blocker,
// read by go tool pprof -top: the blocking functions are there.
func TestGoroutineProfile(t *testing.T) {
	needRoot(t)
	blocker := goBuild(t, "blocker", "../../examples/blocker")
	prof := filepath.Join(t.TempDir(), "blocked.pb.gz")
	r := trace(t, "", "--pprof", prof, "-c", blocker+" -n 3 -d 20ms", "-e", `goroutine.blocked().by(stack).sum(duration)`).mustSucceed(t)
	if _, err := os.Stat(prof); err != nil {
		t.Fatalf("no profile: %v\n%s", err, r.stderr)
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", prof).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	for _, fn := range []string{"main.blockOnChan", "main.blockOnMutex", "main.blockOnSleep", "main.blockOnSocket", "runtime.gopark"} {
		if !strings.Contains(string(out), fn) {
			t.Errorf("pprof -top lacks %s:\n%s", fn, out)
		}
	}
}
