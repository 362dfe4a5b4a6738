package goroutine

import (
	"bufio"
	"fmt"
	"io"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// interleave measures op on the process pid three ways: untraced;
// "helper", the goroutine.blocked helper attached with no chain (the cost
// of its two uprobe hits per park alone); "traced", the helper with a
// chain that copies each event into a ring buffer, which this process
// reads and drops (the least a user's program adds). It runs b.N ops
// each way, in rounds of round ops that take turns, attaching and
// detaching between rounds (untimed), so that the load of a shared
// machine weighs on the three alike. It reports each way's mean ns per op
// and the slowdowns in percent; ns/op is the traced one.
func interleave(b *testing.B, bin string, pid, round int, op func(b *testing.B, n int)) {
	target, err := Blocked().Open(bin)
	if err != nil {
		b.Fatal(err)
	}
	bare, err := target.Load()
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	tr := newTracer(b, Blocked(), bin)
	go func() {
		for {
			if _, err := tr.rd.Read(); err != nil {
				return
			}
		}
	}()
	helpers := []*pack.Helper{nil, bare, tr.helper}
	var spent [3]time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		for m, h := range helpers {
			if h != nil {
				b.StopTimer()
				if err := h.Attach(pid); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			t0 := time.Now()
			op(b, n)
			spent[m] += time.Since(t0)
			if h != nil {
				b.StopTimer()
				if err := h.Detach(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	per := func(m int) float64 { return float64(spent[m].Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(0), "untraced-ns/op")
	b.ReportMetric(per(1), "helper-ns/op")
	b.ReportMetric(per(2), "ns/op")
	b.ReportMetric(100*(per(1)/per(0)-1), "helper-slowdown-%")
	b.ReportMetric(100*(per(2)/per(0)-1), "traced-slowdown-%")
}

// BenchmarkHandoff measures a goroutine-heavy program: two goroutines
// passing a token over unbuffered channels (testdata/handoff, GOMAXPROCS
// 1), one gopark per op, without and with the helper (two uprobe hits
// per park).
//
//	go test -run '^$' -bench Handoff -benchtime 20000x ./stdlib/goroutine/
func BenchmarkHandoff(b *testing.B) {
	needRoot(b)
	src, err := filepath.Abs(filepath.Join("testdata", "handoff"))
	if err != nil {
		b.Fatal(err)
	}
	bin := build(b, src, variants[0], b.TempDir())
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { in.Close(); cmd.Process.Kill(); cmd.Wait() }()
	out := bufio.NewReader(r)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("handoff printed %q, %v", line, err)
	}
	interleave(b, bin, cmd.Process.Pid, 2000, func(b *testing.B, n int) {
		fmt.Fprintf(in, "%d\n", n)
		if line, err := out.ReadString('\n'); err != nil || line != "ok\n" {
			b.Fatalf("handoff printed %q, %v", line, err)
		}
	})
}

// BenchmarkHTTPServer measures examples/httpserver on loopback (GET
// /fast on one keep-alive connection) without and with the helper. A
// request parks the server's goroutines about once: the connection's
// goroutine waiting for the next request (IO wait) or for net/http's
// background read to stop (sync.Cond.Wait).
//
//	go test -run '^$' -bench HTTPServer -benchtime 4000x ./stdlib/goroutine/
func BenchmarkHTTPServer(b *testing.B) {
	needRoot(b)
	bin := build(b, "httpserver", variants[0], b.TempDir())
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		b.Fatalf("httpserver printed %q, %v", line, err)
	}
	url := "http://" + addr + "/fast"
	c := &nethttp.Client{Transport: &nethttp.Transport{}}
	defer c.CloseIdleConnections()
	interleave(b, bin, cmd.Process.Pid, 200, func(b *testing.B, n int) {
		for i := 0; i < n; i++ {
			resp, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
