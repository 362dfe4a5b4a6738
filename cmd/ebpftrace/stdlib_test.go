package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// background is an ebpftrace run alongside the test: started, attached,
// then interrupted.
type background struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    bytes.Buffer
	stderr func() string
}

// traceInBackground starts ebpftrace with args and waits until it attached.
func traceInBackground(t *testing.T, args ...string) *background {
	t.Helper()
	b := &background{t: t, cmd: exec.Command(bin.ebpftrace, args...)}
	b.cmd.Stdout = &b.out
	b.stderr = startAndWaitAttached(t, b.cmd)()
	t.Cleanup(func() { b.cmd.Process.Kill() })
	return b
}

// stop interrupts ebpftrace and returns its standard output.
func (b *background) stop() string {
	b.t.Helper()
	b.cmd.Process.Signal(syscall.SIGINT)
	if err := b.cmd.Wait(); err != nil {
		b.t.Fatalf("%v\n%s", err, b.stderr())
	}
	return b.out.String()
}

// freeAddr is a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// goBuild builds a package of the repository into the test's directory.
func goBuild(t *testing.T, name, pkg string, flags ...string) string {
	t.Helper()
	out := filepath.Join(bin.dir, name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	args := append(append([]string{"build", "-buildvcs=false", "-o", out}, flags...), pkg)
	if b, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// go119 is Debian's Go 1.19 (golang-1.19-go): older Go toolchains cannot
// be downloaded here, a distribution's can.
const go119 = "/usr/lib/go-1.19/bin/go"

// goBuild119 builds examples/<example> with Go 1.19, from a copy of its
// sources in a module of their own (the project's go.mod names a Go
// version Go 1.19 cannot read). It returns "" when Go 1.19 is missing.
func goBuild119(t *testing.T, name, example string, flags ...string) string {
	t.Helper()
	out := filepath.Join(bin.dir, name)
	if _, err := os.Stat(go119); err != nil {
		return ""
	}
	if _, err := os.Stat(out); err == nil {
		return out
	}
	mod := filepath.Join(bin.dir, name+"-src")
	os.MkdirAll(mod, 0o755)
	files, _ := filepath.Glob(filepath.Join("../../examples", example, "*.go"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(mod, filepath.Base(f)), data, 0o644)
	}
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module "+example+"\n\ngo 1.17\n"), 0o644)
	cmd := exec.Command(go119, append(append([]string{"build", "-buildvcs=false", "-o", out}, flags...), ".")...)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go1.19 build %s: %v\n%s", example, err, b)
	}
	return out
}

// startServer runs examples/httpserver on a free port until the test ends.
func startServer(t *testing.T, path string, args ...string) (base string, pid int) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(path, append([]string{"-addr", addr}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base = "http://" + addr
	for range 200 {
		if resp, err := http.Get(base + "/fast"); err == nil {
			resp.Body.Close()
			return base, cmd.Process.Pid
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s did not answer", path)
	return "", 0
}

// request sends one request and returns the status and body.
func request(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// The handler's goroutine id changes from request to request.
	return resp.StatusCode, regexp.MustCompile(`goid \d+`).ReplaceAllString(string(body), "goid N")
}

// TestHTTPServer: http.server on the example server, built with DWARF and
// stripped, traced with -p: exact counts by method, path and status, the
// slow route in its histogram bucket, and the answers unchanged.
func TestHTTPServer(t *testing.T) {
	needRoot(t)
	builds := map[string]string{
		"dwarf":               goBuild(t, "httpserver", "../../examples/httpserver"),
		"stripped":            goBuild(t, "httpserver-stripped", "../../examples/httpserver", "-ldflags=-s -w", "-trimpath"),
		"pie-trimpath":        goBuild(t, "httpserver-pie", "../../examples/httpserver", "-buildmode=pie", "-trimpath"),
		"go1.19-dwarf":        goBuild119(t, "httpserver-119", "httpserver"),
		"go1.19-pie-stripped": goBuild119(t, "httpserver-119-stripped", "httpserver", "-buildmode=pie", "-ldflags=-s -w"),
	}
	routes := []struct {
		method, path string
		n, status    int
	}{
		{"GET", "/fast", 5, 200}, {"GET", "/missing", 3, 404}, {"POST", "/fail", 2, 500}, {"GET", "/slow", 2, 200},
	}
	for name, srv := range builds {
		t.Run(name, func(t *testing.T) {
			if srv == "" {
				t.Skipf("skipped: %s is not installed (apt-get install golang-1.19-go; make deps does)", go119)
			}
			base, pid := startServer(t, srv, "-slow", "40ms")
			untraced := map[string]string{}
			for _, r := range routes {
				_, body := request(t, r.method, base+r.path)
				untraced[r.path] = body
			}
			tr := traceInBackground(t, "-p", fmt.Sprint(pid), "-e", fmt.Sprintf(`http.server(%q).by(method, path, status).count()
http.server(%q).filter(path == "/slow").hist(duration).as("slow")`, srv, srv))
			for _, r := range routes {
				for range r.n {
					status, body := request(t, r.method, base+r.path)
					if status != r.status || body != untraced[r.path] {
						t.Errorf("%s %s under tracing: %d %q, untraced %q", r.method, r.path, status, body, untraced[r.path])
					}
				}
			}
			out := tr.stop()
			for _, r := range routes {
				want := fmt.Sprintf("@count[%s, %s, %d]: %d\n", r.method, r.path, r.status, r.n)
				if !strings.Contains(out, want) {
					t.Errorf("want %q in:\n%s", want, out)
				}
			}
			// 40 ms is in [32M, 64M) ns.
			if !strings.Contains(out, "@slow:\n[32M, 64M)             2 |") {
				t.Errorf("the two slow requests are not in [32M, 64M):\n%s", out)
			}
		})
	}
}

// TestHTTPClient: http.client on the example client, which requests URLs
// of a server in the test.
func TestHTTPClient(t *testing.T) {
	needRoot(t)
	client := goBuild(t, "httpclient", "../../examples/httpclient")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			w.WriteHeader(http.StatusGone)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	cmd := exec.Command(client, "-n", "3", "-wait", srv.URL+"/ok", srv.URL+"/gone")
	stdin, _ := cmd.StdinPipe()
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	tr := traceInBackground(t, "-p", fmt.Sprint(cmd.Process.Pid), "-e", fmt.Sprintf(`http.client(%q).by(method, host, path, status).count()`, client))
	stdin.Write([]byte("go\n"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("httpclient: %v\n%s", err, out.String())
	}
	got := tr.stop()
	for _, want := range []string{
		fmt.Sprintf("@count[GET, %s, /ok, 200]: 3\n", host),
		fmt.Sprintf("@count[GET, %s, /gone, 410]: 3\n", host),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in:\n%s", want, got)
		}
	}
}

// TestHTTPDebianServer: Debian's prometheus, a stripped go1.19.8 server,
// traced the same way: exact counts by path.
func TestHTTPDebianServer(t *testing.T) {
	needRoot(t)
	const prom = "/usr/bin/prometheus"
	if _, err := os.Stat(prom); err != nil {
		t.Skipf("skipped: %s is not installed (apt-get install prometheus; make deps does)", prom)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\n"), 0o644)
	addr := freeAddr(t)
	cmd := exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/-/ready"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if i == 200 {
			t.Fatal("prometheus did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tr := traceInBackground(t, "-p", fmt.Sprint(cmd.Process.Pid), "-e", fmt.Sprintf(`http.server(%q).by(path, status).count()`, prom))
	for range 4 {
		request(t, "GET", base+"/-/healthy")
	}
	for range 3 {
		request(t, "GET", base+"/api/v1/query") // no query: 400
	}
	out := tr.stop()
	for _, want := range []string{"@count[/-/healthy, 200]: 4", "@count[/api/v1/query, 400]: 3"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}

// TestStdlibErrors: what a stdlib source cannot trace is said at its place.
func TestStdlibErrors(t *testing.T) {
	needRoot(t)
	tests := []struct{ prog, want string }{
		{`http.server("/bin/true").count()`, "<input>:1:13: /bin/true is not a Go program"},
		{`http.server().count()`, `<input>:1:13: http.server needs the Go program to watch: http.server("/path/to/binary"), or -p PID, or -c CMD`},
		{`http.sever("/bin/true").count()`, "did you mean http.server?"},
		{`http.server("/nonexistent").count()`, "/nonexistent: no such file"},
	}
	for _, tt := range tests {
		r := trace(t, "", "-e", tt.prog)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "^") {
			t.Errorf("%s: status %d, stderr:\n%s\nwant %q with a caret", tt.prog, r.code, r.stderr, tt.want)
		}
	}
}

// TestHTTPTop: the ready tool on the example server: counts and the
// percentiles of the slow route in the power of two its sleeps fall in.
func TestHTTPTop(t *testing.T) {
	needRoot(t)
	srv := goBuild(t, "httpserver", "../../examples/httpserver")
	base, pid := startServer(t, srv, "-slow", "40ms")
	tr := traceInBackground(t, "-p", fmt.Sprint(pid), "http-top")
	for range 4 {
		request(t, "GET", base+"/fast")
	}
	for range 2 {
		request(t, "GET", base+"/slow")
	}
	out := tr.stop()
	if !strings.Contains(out, "@requests_us[GET, /fast, 200]: count 4, p50 ") {
		t.Errorf("no line for the 4 fast requests:\n%s", out)
	}
	m := regexp.MustCompile(`@requests_us\[GET, /slow, 200\]: count 2, p50 (\d+), p90 \d+, p99 (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no line for the 2 slow requests:\n%s", out)
	}
	var p50, p99 int
	fmt.Sscan(m[1], &p50)
	fmt.Sscan(m[2], &p99)
	// 40 ms = 40000 µs, in [32768, 65536).
	if p50 < 32768 || p50 >= 65536 || p99 < p50 || p99 >= 65536 {
		t.Errorf("p50 %d µs, p99 %d µs: not in the bucket of 40 ms", p50, p99)
	}
}

// TestHTTP2Server: net/http's own HTTP/2 (unencrypted, Go 1.24+) is traced
// the same way: status, path and method of each stream.
func TestHTTP2Server(t *testing.T) {
	needRoot(t)
	srv := goBuild(t, "httpserver", "../../examples/httpserver")
	base, pid := startServer(t, srv, "-h2c")
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	tr := traceInBackground(t, "-p", fmt.Sprint(pid), "-e", fmt.Sprintf(`http.server(%q).by(method, path, status, args.proto).count()`, srv))
	for _, path := range []string{"/fast", "/fast", "/missing"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s answered over HTTP/%d", path, resp.ProtoMajor)
		}
	}
	out := tr.stop()
	for _, want := range []string{"@count[GET, /fast, 200, 2]: 2\n", "@count[GET, /missing, 404, 2]: 1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}
