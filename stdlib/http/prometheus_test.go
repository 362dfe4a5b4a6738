package http

import (
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// debianPrometheus is Debian bookworm's prometheus 2.42: a stripped
// go1.19.8 net/http server, the kind of binary a distribution ships.
const debianPrometheus = "/usr/bin/prometheus"

// TestPrometheus traces Debian's packaged prometheus and checks exact
// counts by path and status.
func TestPrometheus(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat(debianPrometheus); err != nil {
		t.Skipf("%s is not installed (apt-get install prometheus; make deps does)", debianPrometheus)
	}
	dir := t.TempDir()
	// No scrape configs: prometheus then sends itself no requests.
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(debianPrometheus, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	ready := false
	for i := 0; i < 200 && !ready; i++ {
		if resp, err := nethttp.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		}
		if !ready {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatal("prometheus did not become ready")
	}

	tr := newTracer(t, Server(), debianPrometheus)
	t.Logf("prometheus: %s, facts from %s, %d probes", tr.target.GoVersion, tr.target.FactsFrom, len(tr.target.Probes))
	if err := tr.helper.Attach(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	reqs := []struct {
		path   string
		n      int
		status int
	}{
		{"/-/healthy", 5, 200},
		{"/api/v1/status/buildinfo", 3, 200},
		{"/api/v1/query?query=up", 2, 200},
		{"/api/v1/query", 4, 400}, // no query
		{"/no/such/page", 2, 404},
	}
	want := map[string]int{}
	for _, r := range reqs {
		for i := 0; i < r.n; i++ {
			resp, err := nethttp.Get(base + r.path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != r.status {
				t.Fatalf("GET %s: %d, want %d", r.path, resp.StatusCode, r.status)
			}
		}
		path, _, _ := strings.Cut(r.path, "?")
		want[key("GET", path, uint64(r.status))] += r.n
	}
	total := 0
	for _, n := range want {
		total += n
	}
	got := map[string]int{}
	for _, e := range tr.read(t, total) {
		got[key(e.Method, e.Path, e.Status)]++
		if e.Goid == 0 || e.Proto != 1 || e.Host != addr {
			t.Errorf("event %+v", e)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prometheus events:\n got %v\nwant %v", sorted(got), sorted(want))
	}
}
