package grpc

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example's methods.
const (
	mEcho    = "/ebt.demo.Demo/Echo"
	mLookup  = "/ebt.demo.Demo/Lookup"
	mSum     = "/ebt.demo.Demo/Sum"
	mCount   = "/ebt.demo.Demo/Count"
	mChat    = "/ebt.demo.Demo/Chat"
	mMissing = "/ebt.demo.Demo/Missing"
)

// expect is a group of RPCs the example client makes (see its doc) and
// what each of them sends and receives, as the traced side sees it; -1 is
// not checked.
type expect struct {
	method, kind, status string
	n                    int
	sent, received       int
}

// serverPlan is what the server sees of one run of the client.
var serverPlan = []expect{
	{mEcho, "unary", "OK", 7, 1, 1},
	{mLookup, "unary", "OK", 2, 1, 1},
	{mLookup, "unary", "NotFound", 3, 0, 1},
	{mSum, "client_stream", "OK", 4, 1, 3},
	{mCount, "server_stream", "OK", 5, 2, 1},
	{mChat, "bidi", "OK", 1, 6, 6},
	{mChat, "bidi", "Aborted", 1, 0, 1},
	// The server has no such method: it answers from the headers alone.
	{mMissing, "unknown", "Unimplemented", 1, 0, 0},
}

// clientPlan is what the client sees of its run. Whether Missing's
// request leaves before the server's answer arrives is a race.
var clientPlan = []expect{
	{mEcho, "unary", "OK", 7, 1, 1},
	{mLookup, "unary", "OK", 2, 1, 1},
	{mLookup, "unary", "NotFound", 3, 1, 0},
	{mSum, "client_stream", "OK", 4, 3, 1},
	{mCount, "server_stream", "OK", 5, 1, 2},
	{mChat, "bidi", "OK", 1, 6, 6},
	{mChat, "bidi", "Aborted", 1, 1, 0},
	{mMissing, "unary", "Unimplemented", 1, -1, 0},
}

// total is the number of RPCs in a plan.
func total(plan []expect) int {
	n := 0
	for _, e := range plan {
		n += e.n
	}
	return n
}

// checkEnds compares end events with a plan: counts by method, kind and
// status exact, message counts of every RPC, and what every event must
// hold.
func checkEnds(t *testing.T, events []event, plan []expect) {
	t.Helper()
	want, got := map[string]int{}, map[string]int{}
	for _, e := range plan {
		want[rpcKey(e.method, e.kind, e.status)] += e.n
	}
	streams := map[uint64]bool{}
	for _, ev := range events {
		k := rpcKey(ev.Method, ev.Kind, ev.Status)
		got[k]++
		if ev.Event != "end" {
			t.Errorf("not an end event (only end events are selected by default): %v", ev)
		}
		if ev.Goid == 0 || ev.Start == 0 || ev.Stream == 0 {
			t.Errorf("event without goid, start or stream: %v", ev)
		}
		if streams[ev.Stream] {
			t.Errorf("stream ID %d seen twice: %v", ev.Stream, ev)
		}
		streams[ev.Stream] = true
		if Codes[ev.Code] != ev.Status {
			t.Errorf("code %d is not status %s: %v", ev.Code, ev.Status, ev)
		}
		if ev.Method == mEcho && ev.Duration < uint64(echoSleep) {
			t.Errorf("Echo took %v, less than its sleep of %v", time.Duration(ev.Duration), echoSleep)
		}
		for _, p := range plan {
			if rpcKey(p.method, p.kind, p.status) != k {
				continue
			}
			if (p.sent >= 0 && ev.Sent != uint64(p.sent)) || (p.received >= 0 && ev.Received != uint64(p.received)) {
				t.Errorf("sent %d received %d, want %d and %d: %v", ev.Sent, ev.Received, p.sent, p.received, ev)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RPCs by method, kind, status:\n got %s\nwant %s", sorted(got), sorted(want))
	}
}

// TestServer traces examples/grpc's server built every way (grpc-go
// v1.85, v1.66 and v1.56; Go 1.26 and 1.19; DWARF, stripped, PIE) while
// the client calls every method, and checks every event and that the
// client's output is the same as untraced.
func TestServer(t *testing.T) {
	needRoot(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			traceServer(t, build(t, "server", v), build(t, "client", v))
		})
	}
}

// traceServer checks the server's events for one run of the client.
func traceServer(t *testing.T, srvBin, cliBin string) {
	srv, addr := startServer(t, srvBin)
	before := runClient(t, cliBin, addr)

	tr := newTracer(t, Server(), srvBin)
	t.Logf("%s: %s, %d probes", tr.target.GoVersion, tr.target.FactsFrom, len(tr.target.Probes))
	if err := tr.helper.Attach(srv.Process.Pid); err != nil {
		t.Fatal(err)
	}
	after := runClient(t, cliBin, addr, "-goids")
	if withoutGoids(after) != before {
		t.Errorf("client output traced:\n%s\nuntraced:\n%s", after, before)
	}
	events := tr.read(t, total(serverPlan))
	checkEnds(t, events, serverPlan)

	// The goid of each RPC is its handler's (the x-goid trailer): the
	// multisets agree.
	var handlerGoids, eventGoids []uint64
	for _, m := range goidRE.FindAllStringSubmatch(after, -1) {
		g, _ := strconv.ParseUint(m[1], 10, 64)
		handlerGoids = append(handlerGoids, g)
	}
	for _, ev := range events {
		if ev.Method != mMissing {
			eventGoids = append(eventGoids, ev.Goid)
		}
	}
	sort.Slice(handlerGoids, func(i, j int) bool { return handlerGoids[i] < handlerGoids[j] })
	sort.Slice(eventGoids, func(i, j int) bool { return eventGoids[i] < eventGoids[j] })
	if !reflect.DeepEqual(handlerGoids, eventGoids) {
		t.Errorf("event goids %v, handler goids %v", eventGoids, handlerGoids)
	}
	if strings.Count(after, "goid=") != total(serverPlan)-1 {
		t.Errorf("the client printed %d goids:\n%s", strings.Count(after, "goid="), after)
	}
}
