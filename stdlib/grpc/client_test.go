package grpc

import (
	"testing"
)

// TestClient traces examples/grpc's client built every way while it calls
// every method of the (untraced) server, and checks every event and that
// its output is the same as untraced.
func TestClient(t *testing.T) {
	needRoot(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			traceClient(t, build(t, "server", v), build(t, "client", v))
		})
	}
}

// traceClient checks the client's events for one run of it.
func traceClient(t *testing.T, srvBin, cliBin string) {
	_, addr := startServer(t, srvBin)
	before := runClient(t, cliBin, addr)

	tr := newTracer(t, Client(), cliBin)
	t.Logf("%s: %s, %d probes", tr.target.GoVersion, tr.target.FactsFrom, len(tr.target.Probes))
	c := startWaitingClient(t, cliBin, addr)
	if err := tr.helper.Attach(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if after := c.run(t); after != before {
		t.Errorf("client output traced:\n%s\nuntraced:\n%s", after, before)
	}
	events := tr.read(t, total(clientPlan))
	checkEnds(t, events, clientPlan)
	for _, ev := range events {
		if ev.Pid != uint64(c.cmd.Process.Pid) {
			t.Errorf("event from pid %d, not the client's %d: %v", ev.Pid, c.cmd.Process.Pid, ev)
		}
	}
}
