package grpc

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkServer measures unary RPCs per second (the client's lookup
// step: 5 sequential RPCs on one connection) against examples/grpc's
// server (grpc-go v1.85), untraced and traced with the default selection
// (end events to a chain that copies them to a ring buffer).
//
// On this machine (a Firecracker VM with 2 vCPUs shared with other work,
// where one uprobe hit costs about 21 µs, see bench/README.md), with
// -benchtime 200x: 6 800 RPCs/s untraced, 2 600 traced: about 230 µs
// more per RPC for its 8 uprobe hits on the server.
func BenchmarkServer(b *testing.B) {
	needRoot(b)
	srvBin, cliBin := build(b, "server", v185DWARF), build(b, "client", v185DWARF)
	for _, traced := range []bool{false, true} {
		name := "untraced"
		if traced {
			name = "traced"
		}
		b.Run(name, func(b *testing.B) {
			srv, addr := startServer(b, srvBin)
			var tr *tracer
			if traced {
				tr = newTracer(b, Server(), srvBin)
				if err := tr.helper.Attach(srv.Process.Pid); err != nil {
					b.Fatal(err)
				}
			}
			runClient(b, cliBin, addr, "-only", "lookup") // connect, warm up
			b.ResetTimer()
			start := time.Now()
			runClient(b, cliBin, addr, "-only", "lookup", "-n", strconv.Itoa(b.N))
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(5*b.N)/elapsed.Seconds(), "RPCs/s")
			if traced {
				if got := len(tr.read(b, 5*b.N+5)); got != 5*b.N+5 {
					b.Errorf("%d events, want %d", got, 5*b.N+5)
				}
			}
		})
	}
}
