package goroutine

import (
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/internal/symbolize"
)

// debianPrometheus is Debian bookworm's prometheus 2.42: a stripped
// go1.19.8 server, the kind of binary a distribution ships.
const debianPrometheus = "/usr/bin/prometheus"

// TestPrometheus traces Debian's packaged prometheus while it serves
// requests: the wait reasons it reports are the names go1.19.8 gives
// their numbers (read from the binary's own code, stripped as it is),
// the network reads show as "IO wait" with stacks through the poller
// to net/http, and the server's goroutines wait in select and on
// channels as well.
func TestPrometheus(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat(debianPrometheus); err != nil {
		t.Skipf("%s is not installed (apt-get install prometheus; make deps does)", debianPrometheus)
	}
	dir := t.TempDir()
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

	tr := newTracer(t, Blocked(), debianPrometheus)
	t.Logf("prometheus: %s, facts: %s", tr.target.GoVersion, tr.target.FactsFrom)
	b, err := gobin.Open(debianPrometheus)
	if err != nil {
		t.Fatal(err)
	}
	tab, _ := waitReasonTableFor(t, b)
	b.Close()
	if err := tr.helper.Attach(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	u := symbolize.NewUser()
	defer u.Close()
	if err := u.Snapshot(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// New connections each time, so the server's connection goroutines
	// wait for requests on fresh sockets.
	client := &nethttp.Client{Transport: &nethttp.Transport{DisableKeepAlives: true}}
	for i := 0; i < 10; i++ {
		for _, path := range []string{"/-/healthy", "/api/v1/query?query=up", "/api/v1/status/buildinfo"} {
			resp, err := client.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	want := []string{"IO wait", "select", "chan receive"}
	events := tr.readUntil(t, func(evs []event) bool {
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Reason] = true
		}
		for _, r := range want {
			if !seen[r] {
				return false
			}
		}
		return true
	})
	reasons := map[string]int{}
	netStacks := 0
	for _, e := range events {
		reasons[e.Reason]++
		if name := tab[uint8(e.ReasonID)]; name != e.Reason || name == "" {
			t.Errorf("reason %d is %q; go1.19 names it %q", e.ReasonID, e.Reason, name)
		}
		if e.Reason == "IO wait" {
			frames := tr.frames(t, u, e)
			if slices.Contains(frames, "runtime.netpollblock") && slices.ContainsFunc(frames, func(f string) bool { return strings.HasPrefix(f, "net/http.") }) {
				netStacks++
			}
		}
	}
	for _, r := range want {
		if reasons[r] == 0 {
			t.Errorf("no %q event among %v", r, reasons)
		}
	}
	if netStacks == 0 {
		t.Error("no IO wait stack through runtime.netpollblock to net/http")
	}
	t.Logf("%d events by reason: %v; %d IO waits in net/http", len(events), reasons, netStacks)
}

// waitReasonTableFor returns the table of b's Go version.
func waitReasonTableFor(t *testing.T, b *gobin.Binary) (map[uint8]string, string) {
	t.Helper()
	// A fake binary of the same version without code or symbols gets
	// the table.
	fake := &gobin.Binary{Path: b.Path, IsGo: true, GoVersion: b.GoVersion, Stripped: true}
	m, src, err := fake.WaitReasonSource()
	if err != nil {
		t.Fatal(err)
	}
	return m, src
}
