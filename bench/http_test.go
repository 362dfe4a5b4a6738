package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkHTTPServer is what tracing costs a Go net/http server:
// requests a second over loopback (4 clients with keep-alive, /fast)
// untraced, under `http.server(bin).by(path, status).hist(duration)`, and
// under bpftrace with a pair of uprobes keeping a histogram of durations
// per thread: ServeHTTP's entry and (*response).finishRequest's entry,
// which follows each handler. (The same pair as ebpftrace's, ServeHTTP's
// entry and RETs, is not possible: Debian's bpftrace 0.17 cannot place a
// uprobe inside a function — "compiled without (k|u)probe offset support"
// — and a uretprobe would crash the Go program.) A request costs three
// uprobe hits under ebpftrace (entry, WriteHeader, RET) and two under
// bpftrace; each is a trap into the kernel (~21 µs in this VM), which is
// what the figures mostly show.
func BenchmarkHTTPServer(b *testing.B) {
	needRoot(b)
	ebpftrace, _ := build(b)
	srv := filepath.Join(filepath.Dir(ebpftrace), "httpserver")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", srv, "../examples/httpserver").CombinedOutput(); err != nil {
		b.Fatalf("go build httpserver: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	server := exec.Command(srv, "-addr", addr)
	if err := server.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	url := "http://" + addr + "/fast"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for i := 0; ; i++ {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			b.Fatal("the server did not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	const requests = 2000
	load := func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range requests / 4 {
						resp, err := client.Get(url)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				})
			}
			wg.Wait()
			total += time.Since(start)
		}
		rate := float64(requests*b.N) / total.Seconds()
		b.ReportMetric(rate, "req/s")
		if base, ok := recorded("http/untraced"); ok && base > 0 {
			b.ReportMetric(rate/base, "x-untraced")
		}
		record("http/"+b.Name(), rate)
	}
	b.Run("untraced", func(b *testing.B) {
		load(b)
		rate, _ := recorded("http/" + b.Name())
		record("http/untraced", rate)
	})
	b.Run("ebpftrace", func(b *testing.B) {
		stop := traceServer(b, "Attached", ebpftrace, "-p", fmt.Sprint(server.Process.Pid), "-e", fmt.Sprintf(`http.server(%q).by(path, status).hist(duration)`, srv))
		defer stop()
		load(b)
	})
	b.Run("bpftrace", func(b *testing.B) {
		bt := needBpftrace(b)
		prog := fmt.Sprintf(`uprobe:%s:"net/http.serverHandler.ServeHTTP" { @s[tid] = nsecs; } `+
			`uprobe:%s:"net/http.(*response).finishRequest" /@s[tid]/ { @h = hist(nsecs - @s[tid]); delete(@s[tid]); }`, srv, srv)
		stop := traceServer(b, "Attaching", bt, "-p", fmt.Sprint(server.Process.Pid), "-e", prog)
		defer stop()
		load(b)
	})
}

// traceServer starts a tracer and waits until it says it attached (on
// stderr for ebpftrace, stdout for bpftrace); stop interrupts it.
func traceServer(b *testing.B, ready, path string, args ...string) (stop func()) {
	b.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	for i := 0; !strings.Contains(out.String(), ready); i++ {
		if i == 500 {
			cmd.Process.Kill()
			b.Fatalf("%s did not attach:\n%s", path, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	return func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}
}
