package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// buildGRPC builds examples/grpc's server and client (a module of its
// own, with grpc-go) into the test's directory.
func buildGRPC(t *testing.T) (server, client string) {
	t.Helper()
	server, client = filepath.Join(bin.dir, "grpcserver"), filepath.Join(bin.dir, "grpcclient")
	for out, pkg := range map[string]string{server: "./server", client: "./client"} {
		if _, err := os.Stat(out); err == nil {
			continue
		}
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", out, pkg)
		cmd.Dir = "../../examples/grpc"
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	return server, client
}

// TestGRPC: grpc.server and grpc.client on examples/grpc, whose client
// makes a known plan of calls of every kind: exact counts by method, kind
// and status on both sides, messages received, and the lifecycle of the
// one bidi stream that succeeds, in order.
func TestGRPC(t *testing.T) {
	needRoot(t)
	server, client := buildGRPC(t)
	addr := freeAddr(t)
	srv := exec.Command(server, "-addr", addr, "-sleep", "20ms")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	time.Sleep(300 * time.Millisecond)

	cli := exec.Command(client, "-addr", addr, "-wait")
	stdin, _ := cli.StdinPipe()
	stdout, _ := cli.StdoutPipe()
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	defer cli.Process.Kill()
	out := bufio.NewReader(stdout)
	if line, _ := out.ReadString('\n'); !strings.HasPrefix(line, "ready") {
		t.Fatalf("client: %q", line)
	}
	onServer := traceInBackground(t, "-p", fmt.Sprint(srv.Process.Pid), "-e", fmt.Sprintf(`grpc.server(%q).by(method, kind, status).count()
grpc.server(%q).by(method).sum(received).as("received")
grpc.server(%q).filter(method == "/ebt.demo.Demo/Chat").print("%%d %%s", stream, event)`, server, server, server))
	onClient := traceInBackground(t, "-p", fmt.Sprint(cli.Process.Pid), "-e", fmt.Sprintf(`grpc.client(%q).by(method, kind, status).count()`, client))
	io.WriteString(stdin, "go\n")
	io.Copy(io.Discard, out)
	cli.Wait()
	gotServer, gotClient := onServer.stop(), onClient.stop()
	const chat = "/ebt.demo.Demo/Chat"
	for _, want := range []string{
		"@count[/ebt.demo.Demo/Echo, unary, OK]: 7\n",
		"@count[/ebt.demo.Demo/Lookup, unary, OK]: 2\n",
		"@count[/ebt.demo.Demo/Lookup, unary, NotFound]: 3\n",
		"@count[/ebt.demo.Demo/Sum, client_stream, OK]: 4\n",
		"@count[/ebt.demo.Demo/Count, server_stream, OK]: 5\n",
		"@count[" + chat + ", bidi, OK]: 1\n",
		"@count[" + chat + ", bidi, Aborted]: 1\n",
		"@received[/ebt.demo.Demo/Sum]: 12\n", // 4 streams of 3 numbers
	} {
		if !strings.Contains(gotServer, want) {
			t.Errorf("server: want %q in:\n%s", want, gotServer)
		}
		if strings.HasPrefix(want, "@count") && !strings.Contains(gotClient, want) {
			t.Errorf("client: want %q in:\n%s", want, gotClient)
		}
	}
	// The successful chat: start, six receives and sends interleaved,
	// the client's end of stream, end; each stream's events in order.
	events := map[string][]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\d+) (\w+)$`).FindAllStringSubmatch(gotServer, -1) {
		events[m[1]] = append(events[m[1]], m[2])
	}
	found := false
	for _, ev := range events {
		if len(ev) == 0 || ev[0] != "start" || ev[len(ev)-1] != "end" {
			t.Errorf("a chat stream's events do not run from start to end: %v", ev)
			continue
		}
		n := map[string]int{}
		for _, e := range ev {
			n[e]++
		}
		if n["recv"] == 6 && n["send"] == 6 && n["close_send"] == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("no chat stream with 6 recv, 6 send, 1 close_send: %v", events)
	}
}

// TestGRPCErrors: a lifecycle event that does not exist is an error at
// its place, with the events there are.
func TestGRPCErrors(t *testing.T) {
	needRoot(t)
	server, _ := buildGRPC(t)
	r := trace(t, "", "-e", fmt.Sprintf(`grpc.server(%q).filter(event == "recieve").count()`, server))
	if r.code == 0 || !strings.Contains(r.stderr, `event is never "recieve": its values are start, send, recv, close_send, end`) || !strings.Contains(r.stderr, "^") {
		t.Errorf("status %d:\n%s", r.code, r.stderr)
	}
}

// TestGRPCDebianServer: Debian's etcd 3.4 (stripped go1.19.8, grpc-go
// v1.33) traced with -p while Debian's etcdctl calls it: exact counts by
// method and status.
func TestGRPCDebianServer(t *testing.T) {
	needRoot(t)
	const etcd, etcdctl = "/usr/bin/etcd", "/usr/bin/etcdctl"
	for _, b := range []string{etcd, etcdctl} {
		if _, err := os.Stat(b); err != nil {
			t.Skipf("skipped: %s is not installed (apt-get install etcd-server etcd-client; make deps does)", b)
		}
	}
	dir := t.TempDir()
	client, peer := freeAddr(t), freeAddr(t)
	cmd := exec.Command(etcd, "--name", "ebt", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "ebt=http://"+peer, "--logger", "zap", "--log-level", "error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ctl := func(args ...string) error {
		c := exec.Command(etcdctl, append([]string{"--endpoints=" + client}, args...)...)
		c.Env = append(os.Environ(), "ETCDCTL_API=3")
		return c.Run()
	}
	for i := 0; ctl("endpoint", "health") != nil; i++ {
		if i == 100 {
			t.Fatal("etcd did not become healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	tr := traceInBackground(t, "-p", fmt.Sprint(cmd.Process.Pid), "-e", fmt.Sprintf(`grpc.server(%q).filter(method != "/etcdserverpb.Maintenance/Status").by(method, status).count()`, etcd))
	for range 3 {
		ctl("put", "ebt-key", "value")
	}
	for range 2 {
		ctl("get", "ebt-key")
	}
	for range 2 {
		ctl("lease", "revoke", "1234") // no such lease: NotFound
	}
	out := tr.stop()
	for _, want := range []string{
		"@count[/etcdserverpb.KV/Put, OK]: 3\n",
		"@count[/etcdserverpb.KV/Range, OK]: 2\n",
		"@count[/etcdserverpb.Lease/LeaseRevoke, NotFound]: 2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}

// TestGRPCStreamsScript: the ready tool on examples/grpc.
func TestGRPCStreamsScript(t *testing.T) {
	needRoot(t)
	server, client := buildGRPC(t)
	addr := freeAddr(t)
	srv := exec.Command(server, "-addr", addr, "-sleep", "20ms")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	time.Sleep(300 * time.Millisecond)
	tr := traceInBackground(t, "-p", fmt.Sprint(srv.Process.Pid), "grpc-streams")
	if b, err := exec.Command(client, "-addr", addr, "-only", "echo,sum").CombinedOutput(); err != nil {
		t.Fatalf("client: %v\n%s", err, b)
	}
	out := tr.stop()
	m := regexp.MustCompile(`@rpcs_us\[/ebt.demo.Demo/Echo, unary, OK\]: count 7, p50 (\d+),`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no Echo line:\n%s", out)
	}
	var p50 int
	fmt.Sscan(m[1], &p50)
	if p50 < 16384 { // 20 ms sleeps: in [16384, 32768) µs
		t.Errorf("Echo's median is %d µs, less than its 20 ms sleep", p50)
	}
	for _, want := range []string{"@rpcs_us[/ebt.demo.Demo/Sum, client_stream, OK]: count 4,", "@received[/ebt.demo.Demo/Sum]: 12\n", "@sent[/ebt.demo.Demo/Sum]: 4\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}
