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
)

// untracedNs keeps each benchmark's last untraced ns/op, so that its
// traced run can report the slowdown.
var untracedNs = map[string]float64{}

// modes runs f three ways, each on a fresh process from start: untraced;
// "helper", the goroutine.blocked helper attached with no chain (the
// cost of its two uprobe hits per park alone); "traced", with a chain
// that copies each event into a ring buffer, which this process reads
// and drops (what a user's program adds at least). The traced runs
// report their ns/op as a multiple of the untraced one ("x-untraced").
func modes(b *testing.B, bin string, start func(b *testing.B) int, f func(b *testing.B)) {
	for _, mode := range []string{"untraced", "helper", "traced"} {
		b.Run(mode, func(b *testing.B) {
			pid := start(b)
			switch mode {
			case "helper":
				target, err := Blocked().Open(bin)
				if err != nil {
					b.Fatal(err)
				}
				h, err := target.Load()
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { h.Close() })
				if err := h.Attach(pid); err != nil {
					b.Fatal(err)
				}
			case "traced":
				tr := newTracer(b, Blocked(), bin)
				if err := tr.helper.Attach(pid); err != nil {
					b.Fatal(err)
				}
				go func() {
					for {
						if _, err := tr.rd.Read(); err != nil {
							return
						}
					}
				}()
			}
			b.ResetTimer()
			f(b)
			b.StopTimer()
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			key := b.Name()[:strings.LastIndex(b.Name(), "/")]
			if mode == "untraced" {
				untracedNs[key] = ns
			} else if u := untracedNs[key]; u > 0 {
				b.ReportMetric(ns/u, "x-untraced")
			}
		})
	}
}

// BenchmarkHandoff measures a goroutine-heavy program: two goroutines
// passing a token over unbuffered channels (testdata/handoff, GOMAXPROCS
// 1), one gopark per op, without and with the helper (two uprobe hits
// per park).
//
//	go test -run '^$' -bench Handoff ./stdlib/goroutine/
func BenchmarkHandoff(b *testing.B) {
	needRoot(b)
	src, err := filepath.Abs(filepath.Join("testdata", "handoff"))
	if err != nil {
		b.Fatal(err)
	}
	bin := build(b, src, variants[0], b.TempDir())
	var in io.Writer
	var out *bufio.Reader
	start := func(b *testing.B) int {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		w, err := cmd.StdinPipe()
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
		b.Cleanup(func() { w.Close(); cmd.Process.Kill(); cmd.Wait() })
		in, out = w, bufio.NewReader(r)
		if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
			b.Fatalf("handoff printed %q, %v", line, err)
		}
		return cmd.Process.Pid
	}
	modes(b, bin, start, func(b *testing.B) {
		fmt.Fprintf(in, "%d\n", b.N)
		if line, err := out.ReadString('\n'); err != nil || line != "ok\n" {
			b.Fatalf("handoff printed %q, %v", line, err)
		}
	})
}

// BenchmarkHTTPServer measures examples/httpserver on loopback (GET
// /fast on one keep-alive connection) without and with the helper. Each
// request parks the server's goroutines about three times: the
// connection's goroutine waiting for the next request (IO wait), net/http's
// background read during the handler (IO wait), and the wait for that
// read to stop (sync.Cond.Wait).
//
//	go test -run '^$' -bench HTTPServer ./stdlib/goroutine/
func BenchmarkHTTPServer(b *testing.B) {
	needRoot(b)
	bin := build(b, "httpserver", variants[0], b.TempDir())
	var url string
	start := func(b *testing.B) int {
		cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		line, err := bufio.NewReader(stdout).ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		if err != nil || !ok {
			b.Fatalf("httpserver printed %q, %v", line, err)
		}
		url = "http://" + addr + "/fast"
		return cmd.Process.Pid
	}
	modes(b, bin, start, func(b *testing.B) {
		c := &nethttp.Client{Transport: &nethttp.Transport{}}
		defer c.CloseIdleConnections()
		for i := 0; i < b.N; i++ {
			resp, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
}
