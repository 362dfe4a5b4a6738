package http

import (
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// TestAttachAllOrNothing makes the last probe fail to attach: Attach
// returns the error and no probe it attached before stays (a request then
// produces no event), and the server keeps serving.
func TestAttachAllOrNothing(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	bin := build(t, "httpserver", variants[0], dir)
	srv, addr := startServer(t, bin)
	tr := newTracer(t, Server(), bin)
	// Keep the good probes first, so several are attached before the
	// failure.
	tr.target.Probes = append(tr.target.Probes, pack.Probe{Program: "no_such_program", Func: fnServe, Offset: 1})
	err := tr.helper.Attach(srv.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), "no_such_program") {
		t.Fatalf("Attach = %v, want an error naming the bad probe", err)
	}
	resp, err := nethttp.Get("http://" + addr + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if events := tr.read(t, 0); len(events) != 0 {
		t.Errorf("%d events after a failed Attach: %+v", len(events), events)
	}
	// The same helper attaches fine once the bad probe is gone.
	tr.target.Probes = tr.target.Probes[:len(tr.target.Probes)-1]
	if err := tr.helper.Attach(srv.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if resp, err = nethttp.Get("http://" + addr + "/missing"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if events := tr.read(t, 1); len(events) != 1 || events[0].Status != 404 {
		t.Errorf("events %+v, want one 404", events)
	}
	if err := tr.helper.Detach(); err != nil {
		t.Fatal(err)
	}
}
