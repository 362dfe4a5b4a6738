package http

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// TestClient traces examples/httpclient (Go 1.26 and 1.19, with DWARF
// and stripped) requesting examples/httpserver over HTTP/1.1 and HTTP/2
// with TLS, and checks method, path, host, status and proto of every
// round trip.
func TestClient(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	server := build(t, "httpserver", variants[0], dir)
	_, plainAddr := startServer(t, server)
	_, tlsAddr := startServer(t, server, "-tls-cert", certFile, "-tls-key", keyFile)
	for _, v := range []variant{variants[0], variants[1], variants[4], variants[5]} {
		t.Run(v.name, func(t *testing.T) {
			bin := build(t, "httpclient", v, dir)
			for _, p := range []struct {
				name  string
				base  string
				major uint64
				args  []string
			}{
				{"http1", "http://" + plainAddr, 1, nil},
				{"h2-tls", "https://" + tlsAddr, 2, []string{"-insecure"}},
			} {
				t.Run(p.name, func(t *testing.T) {
					host := strings.TrimPrefix(strings.TrimPrefix(p.base, "https://"), "http://")
					traceClient(t, bin, p.base, host, p.major, p.args)
				})
			}
		})
	}
}

func traceClient(t *testing.T, bin, base, host string, major uint64, args []string) {
	const n = 3
	paths := map[string]uint64{"/fast": 200, "/missing": 404, "/fail": 500, "/async": 202}
	args = append(args, "-wait", "-n", "3", "-method", "PUT")
	for p := range paths {
		args = append(args, base+p)
	}
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "waiting\n" {
		t.Fatalf("client printed %q, %v", line, err)
	}

	tr := newTracer(t, Client(), bin)
	if err := tr.helper.Attach(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "go\n")
	rest, _ := io.ReadAll(out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v\n%s", err, rest)
	}

	want := map[string]int{}
	for p, st := range paths {
		want[key("PUT", p, st)] = n
	}
	events := tr.read(t, n*len(paths))
	got := map[string]int{}
	for _, e := range events {
		got[key(e.Method, e.Path, e.Status)]++
		if e.Host != host || e.Proto != major || e.Goid == 0 {
			t.Errorf("event %+v: want host %s, proto %d, a goid", e, host, major)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("client events:\n got %v\nwant %v\nclient printed:\n%s", sorted(got), sorted(want), rest)
	}
}
