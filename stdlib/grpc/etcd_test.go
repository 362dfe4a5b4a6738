package grpc

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// Debian bookworm's etcd 3.4 (etcd-server, etcd-client): stripped go1.19.8
// binaries built with grpc-go v1.33.3 and without module information, the
// kind of gRPC programs a distribution ships.
const (
	debianEtcd    = "/usr/bin/etcd"
	debianEtcdctl = "/usr/bin/etcdctl"
)

// etcdCall is one etcdctl command, run n times, the RPC it makes and its
// status.
type etcdCall struct {
	args           []string
	n              int
	method, status string
	sent, received int // as the server sees them
}

var etcdPlan = []etcdCall{
	{[]string{"put", "ebt-key", "value"}, 3, "/etcdserverpb.KV/Put", "OK", 1, 1},
	{[]string{"get", "ebt-key"}, 2, "/etcdserverpb.KV/Range", "OK", 1, 1},
	{[]string{"lease", "revoke", "1234"}, 2, "/etcdserverpb.Lease/LeaseRevoke", "NotFound", 0, 1},
	{[]string{"del", "ebt-key"}, 1, "/etcdserverpb.KV/DeleteRange", "OK", 1, 1},
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// etcdctl runs etcdctl against endpoint and returns its pid, what it
// printed on stdout and whether it succeeded; failing commands (the
// unknown lease) are expected.
func etcdctl(t *testing.T, endpoint string, args ...string) (int, string, bool) {
	t.Helper()
	cmd := exec.Command(debianEtcdctl, append([]string{"--endpoints=" + endpoint}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.Process.Pid, out.String(), err == nil
}

// TestEtcd traces Debian's etcd while Debian's etcdctl calls it, on both
// sides at once (the client system-wide: etcdctl processes are short), and
// checks exact counts by method and status, and that etcdctl prints the
// same as untraced.
func TestEtcd(t *testing.T) {
	needRoot(t)
	for _, bin := range []string{debianEtcd, debianEtcdctl} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install etcd-server etcd-client; make deps does)", bin)
		}
	}
	dir := t.TempDir()
	client, peer := freeAddr(t), freeAddr(t)
	cmd := exec.Command(debianEtcd, "--name", "ebt", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "ebt=http://"+peer, "--logger", "zap", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		if _, _, ready = etcdctl(t, client, "endpoint", "health"); !ready {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatal("etcd did not become healthy")
	}

	run := func() (pids map[uint64]bool, out string) {
		pids = map[uint64]bool{}
		for _, c := range etcdPlan {
			for i := 0; i < c.n; i++ {
				pid, o, ok := etcdctl(t, client, c.args...)
				pids[uint64(pid)] = true
				out += fmt.Sprintf("%s ok=%v\n%s", c.args, ok, o)
			}
		}
		return pids, out
	}
	_, before := run()

	srv := newTracer(t, Server(), debianEtcd)
	cli := newTracer(t, Client(), debianEtcdctl)
	t.Logf("etcd: %s, %s, %d probes; etcdctl: %d probes", srv.target.GoVersion, srv.target.FactsFrom, len(srv.target.Probes), len(cli.target.Probes))
	if err := srv.helper.Attach(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := cli.helper.Attach(0); err != nil {
		t.Fatal(err)
	}
	pids, after := run()
	if after != before {
		t.Errorf("etcdctl printed, traced:\n%s\nuntraced:\n%s", after, before)
	}

	want, totalRPCs := map[string]int{}, 0
	for _, c := range etcdPlan {
		want[rpcKey(c.method, "unary", c.status)] += c.n
		totalRPCs += c.n
	}
	got := map[string]int{}
	for _, e := range srv.read(t, totalRPCs) {
		got[rpcKey(e.Method, e.Kind, e.Status)]++
		for _, c := range etcdPlan {
			if c.method == e.Method && (e.Sent != uint64(c.sent) || e.Received != uint64(c.received)) {
				t.Errorf("server: sent %d received %d, want %d and %d: %v", e.Sent, e.Received, c.sent, c.received, e)
			}
		}
		if e.Goid == 0 || e.Pid != uint64(cmd.Process.Pid) {
			t.Errorf("server event %v", e)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("etcd server RPCs:\n got %s\nwant %s", sorted(got), sorted(want))
	}

	got = map[string]int{}
	for _, e := range cli.read(t, totalRPCs) {
		if !pids[e.Pid] {
			continue // another process running etcdctl
		}
		got[rpcKey(e.Method, e.Kind, e.Status)]++
		for _, c := range etcdPlan {
			if c.method == e.Method && (e.Sent != 1 || e.Received != uint64(c.sent)) {
				t.Errorf("client: sent %d received %d: %v", e.Sent, e.Received, e)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("etcdctl client RPCs:\n got %s\nwant %s", sorted(got), sorted(want))
	}
}
