package http

import (
	"fmt"
	"io"
	nethttp "net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowSleep is how long the example's /slow route sleeps in the tests.
const slowSleep = 50 * time.Millisecond

// request is a batch of identical requests and the status each gets.
type request struct {
	method, path string
	n            int
	status       int
}

// plan is what every server test sends: every route of the example, with
// distinct counts so a mix-up shows.
var plan = []request{
	{"GET", "/fast", 5, 200},
	{"POST", "/fast", 2, 200},
	{"GET", "/slow", 2, 200},
	{"GET", "/missing", 3, 404},
	{"GET", "/fail", 4, 500},
	{"GET", "/implicit", 2, 200},
	{"GET", "/spawn", 2, 200},
	{"GET", "/async", 3, 202},
	{"DELETE", "/nowhere", 1, 404},
}

// concurrent is a batch of requests sent at once, on separate connections.
const concurrent = 8

// response is what the client saw.
type response struct {
	status int
	proto  int
	body   string
	goid   uint64
}

// do sends req n times (sequentially) and returns the responses.
func do(t *testing.T, c *nethttp.Client, base string, r request) []response {
	t.Helper()
	var out []response
	for i := 0; i < r.n; i++ {
		out = append(out, send(t, c, r.method, base+r.path))
	}
	return out
}

func send(t *testing.T, c *nethttp.Client, method, url string) response {
	req, err := nethttp.NewRequest(method, url, nil)
	if err != nil {
		t.Error(err)
		return response{}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return response{}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	g, _ := strconv.ParseUint(resp.Header.Get("X-Goid"), 10, 64)
	return response{status: resp.StatusCode, proto: resp.ProtoMajor, body: string(body), goid: g}
}

// TestServer traces examples/httpserver built every way (Go 1.26 and
// 1.19; DWARF, stripped, PIE, -trimpath) over HTTP/1.1, HTTP/2 with TLS
// and, for Go 1.24+, unencrypted HTTP/2, and checks every event.
func TestServer(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	protos := []struct {
		name   string
		major  int
		scheme string
		args   []string
		tr     func() *nethttp.Transport
		h2c    bool
	}{
		{"http1", 1, "http", nil, func() *nethttp.Transport { return &nethttp.Transport{} }, false},
		{"h2-tls", 2, "https", []string{"-tls-cert", certFile, "-tls-key", keyFile}, func() *nethttp.Transport {
			return &nethttp.Transport{TLSClientConfig: tlsConfig(pool), ForceAttemptHTTP2: true}
		}, false},
		{"h2c", 2, "http", []string{"-h2c"}, func() *nethttp.Transport {
			tr := &nethttp.Transport{}
			tr.Protocols = new(nethttp.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
			return tr
		}, true},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			bin := build(t, "httpserver", v, dir)
			for _, p := range protos {
				if p.h2c && strings.HasPrefix(v.name, "go1.19") {
					continue // Server.Protocols is new in Go 1.24
				}
				t.Run(p.name, func(t *testing.T) {
					args := append([]string{"-slow", slowSleep.String()}, p.args...)
					traceServer(t, bin, p.scheme, p.major, p.tr, args)
				})
			}
		})
	}
}

func traceServer(t *testing.T, bin, scheme string, major int, newTransport func() *nethttp.Transport, args []string) {
	srv, addr := startServer(t, bin, args...)
	base := scheme + "://" + addr
	client := &nethttp.Client{Transport: newTransport()}
	defer client.CloseIdleConnections()

	// Untraced, each route once: the traced answers must be the same.
	before := map[string]response{}
	for _, r := range plan {
		before[r.method+" "+r.path] = send(t, client, r.method, base+r.path)
	}

	tr := newTracer(t, Server(), bin)
	if err := tr.helper.Attach(srv.Process.Pid); err != nil {
		t.Fatal(err)
	}

	var got []response
	wantCount := map[string]int{}
	for _, r := range plan {
		rs := do(t, client, base, r)
		got = append(got, rs...)
		wantCount[key(r.method, r.path, uint64(r.status))] += r.n
		for _, resp := range rs {
			b := before[r.method+" "+r.path]
			if resp.status != b.status || resp.body != b.body || resp.proto != major {
				t.Errorf("%s %s traced: %d %q (HTTP/%d); untraced: %d %q", r.method, r.path, resp.status, resp.body, resp.proto, b.status, b.body)
			}
		}
	}
	// Concurrent requests: each on its own connection and goroutine.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < concurrent; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &nethttp.Client{Transport: newTransport()}
			defer c.CloseIdleConnections()
			resp := send(t, c, "GET", base+"/slow")
			mu.Lock()
			got = append(got, resp)
			mu.Unlock()
		}()
	}
	wg.Wait()
	wantCount[key("GET", "/slow", 200)] += concurrent
	total := 0
	for _, n := range wantCount {
		total += n
	}

	events := tr.read(t, total)
	gotCount := map[string]int{}
	eventGoids, respGoids := map[uint64]int{}, map[uint64]int{}
	for _, e := range events {
		gotCount[key(e.Method, e.Path, e.Status)]++
		eventGoids[e.Goid]++
		if e.Goid == 0 {
			t.Errorf("event with goid 0: %+v", e)
		}
		if e.Path == "/slow" && e.Duration < uint64(slowSleep) {
			t.Errorf("/slow took %v, less than its sleep of %v", time.Duration(e.Duration), slowSleep)
		}
		if e.Proto != uint64(major) {
			t.Errorf("event proto %d, want %d: %+v", e.Proto, major, e)
		}
		if e.Host != addr {
			t.Errorf("event host %q, want %q", e.Host, addr)
		}
	}
	for _, r := range got {
		respGoids[r.goid]++
	}
	if !reflect.DeepEqual(gotCount, wantCount) {
		t.Errorf("events by method, path, status:\n got %v\nwant %v", sorted(gotCount), sorted(wantCount))
	}
	// The goid of each event is the handler's own (X-Goid), request by
	// request: the multisets agree.
	if !reflect.DeepEqual(eventGoids, respGoids) {
		t.Errorf("event goids %v, handler goids %v", eventGoids, respGoids)
	}
	t.Logf("%d events from %s (%s)", len(events), tr.target.GoVersion, tr.target.FactsFrom)
}

// sorted renders a count map in a stable order.
func sorted(m map[string]int) string {
	var ks []string
	for k, n := range m {
		ks = append(ks, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
