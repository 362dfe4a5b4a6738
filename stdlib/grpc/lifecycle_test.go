package grpc

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// lifecycleVariants are the builds the lifecycle tests run on: the
// newest and the oldest grpc-go, with and without DWARF.
var lifecycleVariants = []variant{v185DWARF, v166Stripped, v156Stripped}

// TestLifecycle selects every event and follows one bidi stream (the
// client's chat step: six messages, each answered before the next, sent
// and received on different goroutines on both sides) on the server and
// on the client: every step is there, once, in an order that respects
// causality, with counters that add up.
func TestLifecycle(t *testing.T) {
	needRoot(t)
	for _, v := range lifecycleVariants {
		t.Run(v.name, func(t *testing.T) {
			srvBin, cliBin := build(t, "server", v), build(t, "client", v)
			srv, addr := startServer(t, srvBin)
			t.Run("server", func(t *testing.T) {
				tr := newTracer(t, Server(), srvBin, Events...)
				if err := tr.helper.Attach(srv.Process.Pid); err != nil {
					t.Fatal(err)
				}
				runClient(t, cliBin, addr, "-only", "chat")
				evs := tr.read(t, 15)
				checkStream(t, evs, 6)
				// The handler's receiving goroutine hands each message
				// over before the handler sends it back, and reads the
				// client's end of stream after the last one.
				for k := 1; k <= 6; k++ {
					before(t, evs, find(evs, "recv", k), find(evs, "send", k))
				}
				before(t, evs, find(evs, "recv", 6), find(evs, "close_send", 0))
			})
			t.Run("client", func(t *testing.T) {
				tr := newTracer(t, Client(), cliBin, Events...)
				c := startWaitingClient(t, cliBin, addr, "-only", "chat")
				if err := tr.helper.Attach(c.cmd.Process.Pid); err != nil {
					t.Fatal(err)
				}
				c.run(t)
				evs := tr.read(t, 15)
				checkStream(t, evs, 6)
				// The client sends a message once it has the reply to the
				// previous one, and closes its side after the last reply.
				// (A reply may be seen before the RET of the SendMsg that
				// sent its request: the send event is at the RET.)
				for k := 1; k < 6; k++ {
					before(t, evs, find(evs, "recv", k), find(evs, "send", k+1))
				}
				before(t, evs, find(evs, "send", 6), find(evs, "close_send", 0))
				before(t, evs, find(evs, "recv", 6), find(evs, "close_send", 0))
			})
		})
	}
}

// checkStream checks the events of one bidi Chat stream that sent and
// received n messages: one start first, one end last, n sends and n
// receives whose counters count up, one close_send, all with the same
// stream ID, method and kind; status and code only on the end.
func checkStream(t *testing.T, evs []event, n int) {
	t.Helper()
	var seq []string
	for _, e := range evs {
		seq = append(seq, fmt.Sprintf("%s(s%d,r%d)", e.Event, e.Sent, e.Received))
	}
	t.Logf("events: %s", strings.Join(seq, " "))
	if len(evs) != 2*n+3 {
		t.Fatalf("%d events, want %d", len(evs), 2*n+3)
	}
	if evs[0].Event != "start" || evs[len(evs)-1].Event != "end" {
		t.Errorf("first %s, last %s; want start and end", evs[0].Event, evs[len(evs)-1].Event)
	}
	count := map[string]int{}
	end := evs[len(evs)-1]
	for _, e := range evs {
		count[e.Event]++
		if e.Stream != evs[0].Stream || e.Method != mChat || e.Kind != "bidi" || e.Start != evs[0].Start {
			t.Errorf("event of another stream, method or kind: %v (first: %v)", e, evs[0])
		}
		if e.Goid == 0 || e.Duration > end.Duration {
			t.Errorf("goid 0, or later than the end: %v", e)
		}
		switch e.Event {
		case "end":
			if e.Status != "OK" || e.Code != 0 || e.Sent != uint64(n) || e.Received != uint64(n) {
				t.Errorf("end: %v", e)
			}
		case "send":
			if e.Sent != uint64(count["send"]) {
				t.Errorf("send #%d says sent=%d", count["send"], e.Sent)
			}
		case "recv":
			if e.Received != uint64(count["recv"]) {
				t.Errorf("recv #%d says received=%d", count["recv"], e.Received)
			}
		}
		if e.Event != "end" && (e.Status != "" || e.Code != 0) {
			t.Errorf("status on a %s event: %v", e.Event, e)
		}
	}
	if want := map[string]int{"start": 1, "send": n, "recv": n, "close_send": 1, "end": 1}; !reflect.DeepEqual(count, want) {
		t.Errorf("events %v, want %v", count, want)
	}
}

// find returns the index of the k-th (from 1) event of type name; k 0 is
// the first.
func find(evs []event, name string, k int) int {
	seen := 0
	for i, e := range evs {
		if e.Event == name {
			seen++
			if seen == k || k == 0 {
				return i
			}
		}
	}
	return -1
}

// before checks that event i arrived before event j.
func before(t *testing.T, evs []event, i, j int) {
	t.Helper()
	if i < 0 || j < 0 || i >= j {
		t.Errorf("events %d and %d out of order", i, j)
	}
}

// TestSelectEvents checks that only the selected events reach the chain:
// start and end of unary RPCs; close_send, which only the kinds where the
// client streams have (client_stream, bidi), on both sides.
func TestSelectEvents(t *testing.T) {
	needRoot(t)
	for _, v := range lifecycleVariants {
		t.Run(v.name, func(t *testing.T) {
			srvBin, cliBin := build(t, "server", v), build(t, "client", v)
			srv, addr := startServer(t, srvBin)

			tr := newTracer(t, Server(), srvBin, "start", "end")
			if err := tr.helper.Attach(srv.Process.Pid); err != nil {
				t.Fatal(err)
			}
			runClient(t, cliBin, addr, "-only", "echo,lookup")
			evs := tr.read(t, 24)
			byStream := map[uint64][]string{}
			for _, e := range evs {
				byStream[e.Stream] = append(byStream[e.Stream], e.Event)
			}
			if len(evs) != 24 || len(byStream) != 12 {
				t.Errorf("%d events of %d streams, want 24 of 12", len(evs), len(byStream))
			}
			for s, seq := range byStream {
				if !reflect.DeepEqual(seq, []string{"start", "end"}) {
					t.Errorf("stream %d: %v", s, seq)
				}
			}
			tr.helper.Close()

			for _, src := range []struct {
				name string
				tr   *tracer
			}{{"server", newTracer(t, Server(), srvBin, "close_send")}, {"client", newTracer(t, Client(), cliBin, "close_send")}} {
				t.Run(src.name, func(t *testing.T) {
					if src.name == "server" {
						if err := src.tr.helper.Attach(srv.Process.Pid); err != nil {
							t.Fatal(err)
						}
						runClient(t, cliBin, addr, "-only", "sum,count,chat,abort")
					} else {
						c := startWaitingClient(t, cliBin, addr, "-only", "sum,count,chat,abort")
						if err := src.tr.helper.Attach(c.cmd.Process.Pid); err != nil {
							t.Fatal(err)
						}
						c.run(t)
					}
					got := map[string]int{}
					for _, e := range src.tr.read(t, 5) {
						got[e.Event+" "+e.Method+" "+e.Kind]++
					}
					want := map[string]int{"close_send " + mSum + " client_stream": 4, "close_send " + mChat + " bidi": 1}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("got %s\nwant %s", sorted(got), sorted(want))
					}
				})
			}
		})
	}
}
