package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The Go-values tests trace net/http servers with expressions typed from
// the binary: examples/httpserver built by the Go toolchain running the
// tests (with DWARF, stripped, PIE, -trimpath) and by Debian's Go 1.19,
// and Debian's packaged prometheus (a stripped go1.19.8 binary). Each
// request the test sends is checked in what ebpftrace printed.

// debianPrometheus is Debian bookworm's prometheus, built by go1.19.8
// and stripped.
const debianPrometheus = "/usr/bin/prometheus"

var httpBuilds struct {
	sync.Mutex
	built map[string]string
}

// buildHTTPServer builds examples/httpserver with goCmd ("" for the go
// command running the tests) and flags, once per variant.
func buildHTTPServer(t *testing.T, name, goCmd string, flags ...string) string {
	t.Helper()
	httpBuilds.Lock()
	defer httpBuilds.Unlock()
	if p, ok := httpBuilds.built[name]; ok {
		return p
	}
	src, err := filepath.Abs("../../examples/httpserver")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"GOWORK=off", "CGO_ENABLED=0", "GOFLAGS="}
	if goCmd != "" {
		if _, err := os.Stat(goCmd); err != nil {
			t.Skipf("skipped: %s is not installed (apt-get install golang-1.19-go)", goCmd)
		}
		// Old toolchains cannot read the project's go.mod: build a copy
		// of the sources as a module of its own.
		mod := filepath.Join(bin.dir, "httpserver-src-"+name)
		if err := os.MkdirAll(mod, 0o755); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(src, "*.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mod, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module httpserver\n\ngo 1.17\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		src = mod
		env = append(env, "GOTOOLCHAIN=local", "GOPROXY=off", "GO111MODULE=on")
	} else {
		goCmd = "go"
	}
	out := filepath.Join(bin.dir, "httpserver-"+name)
	cmd := exec.Command(goCmd, append(append([]string{"build", "-buildvcs=false", "-o", out}, flags...), ".")...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	if httpBuilds.built == nil {
		httpBuilds.built = map[string]string{}
	}
	httpBuilds.built[name] = out
	return out
}

// startHTTPServer runs a built httpserver on a free port.
func startHTTPServer(t *testing.T, path string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(path, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("httpserver: %v", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("httpserver said %q", line)
	}
	return cmd, addr
}

// rawRequest sends one HTTP/1.1 request on its own connection, exactly as
// written, and returns the response's X-Goid header ("" when none).
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?i)\r\nX-Goid: (\d+)\r\n`).FindSubmatch(resp); m != nil {
		return string(m[1])
	}
	return ""
}

// traceGoValues runs ebpftrace on prog for process pid, calls send once the
// probes are attached, stops it with SIGINT and returns what it printed.
func traceGoValues(t *testing.T, pid int, prog string, send func()) result {
	t.Helper()
	cmd := exec.Command(bin.ebpftrace, "-p", fmt.Sprint(pid), "-e", prog)
	var out strings.Builder
	cmd.Stdout = &out
	stderr := startAndWaitAttached(t, cmd)()
	send()
	// Let the last events reach the ring buffer reader.
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("ebpftrace did not stop on SIGINT; stderr:\n%s", stderr())
	}
	return result{out.String(), stderr(), cmd.ProcessState.ExitCode()}
}

// The requests the HTTP tests send, each on its own connection; Host is
// not in the Header map (Connection is), and a chunked request's
// Transfer-Encoding moves from the Header map to Request.TransferEncoding.
const (
	reqFast    = "GET /fast HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nConnection: close\r\n\r\n"
	reqChunked = "POST /slow HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nX-B: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
)

// longPath is longer than a Go string's buffer: it prints cut, with "…".
var longPath = "/" + strings.Repeat("abcdefghij", 20)

// TestGoValuesHTTP reads a net/http request's fields, a map's and a
// slice's length and a ResponseWriter's dynamic type on
// net/http.serverHandler.ServeHTTP, in builds with DWARF (args by name)
// and stripped ones (casts to the types the runtime descriptors keep).
func TestGoValuesHTTP(t *testing.T) {
	needRoot(t)
	const fn = "net/http.serverHandler.ServeHTTP"
	withDWARF := `uprobe(%q, "` + fn + `").print("%%s %%s h=%%d te=%%d rw=%%s assert=%%d goid=%%d", args.req.Method, args.req.URL.Path, len(args.req.Header), len(args.req.TransferEncoding), args.rw, (*net/http.response)(args.rw).req == args.req, goid)`
	stripped := `uprobe(%q, "` + fn + `").print("%%s %%s h=%%d te=%%d goid=%%d", (*net/http.Request)(arg3).Method, (*http.Request)(arg3).URL.Path, len((*net/http.Request)(arg3).Header), len((*net/http.Request)(arg3).TransferEncoding), goid)`
	cut := longPath[:goStrKeep] + "…"
	tests := []struct {
		name, goCmd string
		flags       []string
		prog        string
		want        func(goid []string) []string
	}{
		{"dwarf", "", nil, withDWARF, func(g []string) []string {
			return []string{
				"GET /fast h=2 te=0 rw=*net/http.response assert=1 goid=" + g[0] + "\n",
				"POST /slow h=3 te=1 rw=*net/http.response assert=1 goid=" + g[1] + "\n",
				"GET " + cut + " h=1 te=0 rw=*net/http.response assert=1 goid=" + g[2] + "\n",
			}
		}},
		{"pie-trimpath", "", []string{"-buildmode=pie", "-trimpath"}, withDWARF, nil},
		{"stripped", "", []string{"-ldflags=-s -w"}, stripped, func(g []string) []string {
			return []string{
				"GET /fast h=2 te=0 goid=" + g[0] + "\n",
				"POST /slow h=3 te=1 goid=" + g[1] + "\n",
				"GET " + cut + " h=1 te=0 goid=" + g[2] + "\n",
			}
		}},
		{"go1.19-dwarf", go119, nil, withDWARF, nil},
		{"go1.19-pie-stripped", go119, []string{"-buildmode=pie", "-ldflags=-s -w"}, stripped, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := buildHTTPServer(t, tt.name, tt.goCmd, tt.flags...)
			srv, addr := startHTTPServer(t, path)
			var goids []string
			r := traceGoValues(t, srv.Process.Pid, fmt.Sprintf(tt.prog, path), func() {
				goids = append(goids, rawRequest(t, addr, reqFast), rawRequest(t, addr, reqChunked),
					rawRequest(t, addr, "GET "+longPath+" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
			})
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			want := tt.want
			if want == nil {
				want = tests[0].want
				if strings.Contains(tt.name, "stripped") {
					want = tests[2].want
				}
			}
			wantLines(t, r, want(goids)...)
		})
	}
}

// goStrKeep is how much of a long Go string is kept before its "…".
const goStrKeep = 124

// TestGoroutinesGo119 checks goid, .latency() per goroutine and user
// stacks with the caller of a function probed at its entry, on a Go 1.19
// build and on Debian's stripped go1.19.8 prometheus.
func TestGoroutinesGo119(t *testing.T) {
	needRoot(t)
	const fn = "net/http.serverHandler.ServeHTTP"
	prog := `s := uprobe(%[1]q, "` + fn + `")
s.print("entry goid=%%d", goid)
s.latency(uretprobe(%[1]q, "` + fn + `")).by(goid).count().as("paired")
s.by(ustack).count().as("stacks")
`
	wantStack := regexp.MustCompile(`\n\s+net/http\.serverHandler\.ServeHTTP\+\d+\n\s+net/http\.\(\*conn\)\.serve\+\d+\n`)
	check := func(t *testing.T, r result, n int, goids []string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		entries := regexp.MustCompile(`entry goid=(\d+)\n`).FindAllStringSubmatch(r.stdout, -1)
		paired := regexp.MustCompile(`@paired\[(\d+)\]: 1\n`).FindAllStringSubmatch(r.stdout, -1)
		var ge, gp []string
		for _, m := range entries {
			ge = append(ge, m[1])
		}
		for _, m := range paired {
			gp = append(gp, m[1])
		}
		slices.Sort(ge)
		slices.Sort(gp)
		if len(ge) != n || !slices.Equal(ge, gp) {
			t.Errorf("want %d requests, each paired on its own goroutine: entries %v, paired %v\n%s", n, ge, gp, r.stdout)
		}
		if goids != nil {
			slices.Sort(goids)
			if !slices.Equal(ge, goids) {
				t.Errorf("goids %v, the handlers said %v", ge, goids)
			}
		}
		if !wantStack.MatchString(r.stdout) || !strings.Contains(r.stdout, fmt.Sprintf("]: %d\n", n)) {
			t.Errorf("want a stack of ServeHTTP called by (*conn).serve, %d times:\n%s", n, r.stdout)
		}
	}
	t.Run("go1.19-httpserver", func(t *testing.T) {
		path := buildHTTPServer(t, "go1.19-stripped", go119, "-ldflags=-s -w")
		srv, addr := startHTTPServer(t, path)
		var goids []string
		r := traceGoValues(t, srv.Process.Pid, fmt.Sprintf(prog, path), func() {
			for range 4 {
				goids = append(goids, rawRequest(t, addr, reqFast))
			}
		})
		check(t, r, 4, goids)
	})
	t.Run("prometheus", func(t *testing.T) {
		if _, err := os.Stat(debianPrometheus); err != nil {
			t.Skipf("skipped: %s is not installed (apt-get install prometheus)", debianPrometheus)
		}
		dir := t.TempDir()
		cfg := filepath.Join(dir, "prometheus.yml")
		// No scrape configs: prometheus sends itself no requests.
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
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		ready := "GET /-/ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
		for i := 0; ; i++ {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				io.WriteString(c, ready)
				b, _ := io.ReadAll(c)
				c.Close()
				if strings.HasPrefix(string(b), "HTTP/1.1 200") {
					break
				}
			}
			if i == 200 {
				t.Fatal("prometheus did not become ready")
			}
			time.Sleep(50 * time.Millisecond)
		}
		r := traceGoValues(t, cmd.Process.Pid, fmt.Sprintf(prog, debianPrometheus)+
			fmt.Sprintf(`uprobe(%q, "`+fn+`").print("path %%s", (*net/http.Request)(arg3).URL.Path)`, debianPrometheus), func() {
			for range 3 {
				rawRequest(t, addr, "GET /-/healthy HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
			}
		})
		check(t, r, 3, nil)
		if strings.Count(r.stdout, "path /-/healthy\n") != 3 {
			t.Errorf("want 3 lines \"path /-/healthy\":\n%s", r.stdout)
		}
	})
}

// TestCValues: a C function's parameters and result typed from DWARF
// (gcc -g): struct fields through pointers, a negative int result; and
// without DWARF, the conversions that say what the register holds.
func TestCValues(t *testing.T) {
	needRoot(t)
	needWorker(t)
	withG := filepath.Join(bin.dir, "worker-g")
	if out, err := exec.Command("gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", withG, "../../examples/cworker/worker.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc -g: %v\n%s", err, out)
	}
	r := trace(t, "", "-c", withG+" jobs 3", "-e", fmt.Sprintf(`uretprobe(%[1]q, "job_status").print("ret %%d %%u", retval, retval)
uprobe(%[1]q, "job_status").print("job %%d %%s %%d base=%%d prev=%%s", args.j.id, str(args.j.name), args.j.prio, args.base, str(args.j.next.name))`, withG)).mustSucceed(t)
	wantLines(t, r, "job 0 even 100 base=0 prev=\nret -100 4294967196\n", "job 1 odd 101 base=0 prev=even\nret -101 4294967195\n",
		"job 2 even 102 base=0 prev=odd\nret -102 4294967194\n")
	r = trace(t, "", "-c", bin.worker+" jobs 1", "-e", fmt.Sprintf(`uretprobe(%q, "job_status").print("ret %%d %%d %%x %%u", retval, int32(retval), uint32(retval), int32(retval))`, bin.worker)).mustSucceed(t)
	wantLines(t, r, "ret 4294967196 -100 ffffff9c 4294967196\n")
}

// TestListGo: -lv on Go binaries gives each parameter's type and
// registers (results on uretprobe), says what to do without DWARF, lists
// a generic function once, and a mistyped name suggests the real one.
func TestListGo(t *testing.T) {
	needRoot(t)
	dw := buildHTTPServer(t, "dwarf", "")
	st := buildHTTPServer(t, "stripped", "", "-ldflags=-s -w")
	r := trace(t, "", "-lv", "uprobe:"+dw+":net/http.serverHandler.ServeHTTP").mustSucceed(t)
	wantLines(t, r, "uprobe:"+dw+":net/http.serverHandler.ServeHTTP\n    sh net/http.serverHandler  // rax\n    rw net/http.ResponseWriter  // rbx rcx; prints its dynamic type's name; read the value it holds as one: (*T)(args.rw)\n    req *net/http.Request  // rdi\n")
	r = trace(t, "", "-lv", "uretprobe:"+dw+":net/http.(*conn).readRequest").mustSucceed(t)
	wantLines(t, r, "    w (retval) *net/http.response  // rax\n    err error  // rbx rcx;")
	r = trace(t, "", "-lv", "uprobe:"+st+":net/http.serverHandler.ServeHTTP").mustSucceed(t)
	if !strings.Contains(r.stderr, "has no DWARF") || !strings.Contains(r.stderr, "(*net/http.Request)(arg3)") {
		t.Errorf("-lv on a stripped binary: stderr %q", r.stderr)
	}
	r = trace(t, "", "-l", "uprobe:"+dw+":crypto/ecdsa.parseRawPrivateKey*").mustSucceed(t)
	if !regexp.MustCompile(`^uprobe:\S+:crypto/ecdsa\.parseRawPrivateKey\[\*\]\n    // generic: \d+ instantiations, this pattern probes them all\n$`).MatchString(r.stdout) {
		t.Errorf("generic instantiations are not listed once:\n%s", r.stdout)
	}
	r = trace(t, "", "-l", "uprobe:"+dw+":net/http.serverHandler.ServeHTP")
	if r.code == 0 || !strings.Contains(r.stderr, "did you mean net/http.serverHandler.ServeHTTP") {
		t.Errorf("a mistyped name: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestGo118: goid and the caller frame on Debian's go-md2man, a stripped
// go1.18.3 binary: main.main runs on goroutine 1, called by runtime.main.
func TestGo118(t *testing.T) {
	needRoot(t)
	const md2man = "/usr/bin/go-md2man"
	if _, err := os.Stat(md2man); err != nil {
		t.Skipf("skipped: %s is not installed (apt-get install go-md2man)", md2man)
	}
	in := filepath.Join(t.TempDir(), "x.md")
	os.WriteFile(in, []byte("# x\n"), 0o644)
	r := trace(t, "", "-c", md2man+" -in "+in+" -out "+in+".1", "-e", fmt.Sprintf(`uprobe(%[1]q, "main.main").print("goid %%d", goid)
uprobe(%[1]q, "main.main").by(ustack).count()`, md2man)).mustSucceed(t)
	wantLines(t, r, "goid 1\n", "        main.main+", "\n        runtime.main+")
}
