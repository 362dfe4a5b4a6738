package http

import (
	"io"
	nethttp "net/http"
	"testing"
)

// BenchmarkServer measures the example server's requests per second on
// loopback (one keep-alive connection, GET /fast) without and with the
// http.server helper attached, with a chain that copies each event to a
// ring buffer (read and dropped). The per-request cost of tracing is the
// difference of ns/op.
//
//	go test -run '^$' -bench Server ./stdlib/http/
func BenchmarkServer(b *testing.B) {
	needRoot(b)
	bin := build(b, "httpserver", variants[0], b.TempDir())
	for _, traced := range []bool{false, true} {
		name := "untraced"
		if traced {
			name = "traced"
		}
		b.Run(name, func(b *testing.B) {
			srv, addr := startServer(b, bin)
			if traced {
				tr := newTracer(b, Server(), bin)
				if err := tr.helper.Attach(srv.Process.Pid); err != nil {
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
			c := &nethttp.Client{Transport: &nethttp.Transport{}}
			defer c.CloseIdleConnections()
			url := "http://" + addr + "/fast"
			b.ResetTimer()
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
}
