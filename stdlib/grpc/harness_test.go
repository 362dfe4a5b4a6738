package grpc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// go119 is Debian's Go 1.19 (golang-1.19-go); Makefile deps and .ci/run
// install it.
const go119 = "/usr/lib/go-1.19/bin/go"

// needRoot skips a test that loads BPF programs when it cannot.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading and attaching BPF programs needs root (CAP_BPF, CAP_PERFMON)")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("the stdlib helpers are built for amd64 only")
	}
}

// variant is one way of building examples/grpc: a grpc-go version (the
// go.mod file pinning it), a Go toolchain and build flags.
type variant struct {
	name    string
	goCmd   string // "" = the go command running the tests
	modfile string // "" = go.mod (the current grpc-go)
	flags   []string
	dir     string // "" = examples/grpc; else a copy with a go.mod of its own
}

var strip = []string{"-ldflags=-s -w"}

var (
	v185DWARF    = variant{name: "grpc1.85-go1.26-dwarf"}
	v185Stripped = variant{name: "grpc1.85-go1.26-stripped-pie-trimpath", flags: []string{"-ldflags=-s -w", "-buildmode=pie", "-trimpath"}}
	v166DWARF    = variant{name: "grpc1.66-go1.26-dwarf", modfile: "go.v1.66.mod"}
	v166Stripped = variant{name: "grpc1.66-go1.26-stripped", modfile: "go.v1.66.mod", flags: strip}
	v156DWARF    = variant{name: "grpc1.56-go1.19-dwarf", goCmd: go119, modfile: "go.v1.56.mod"}
	v156Stripped = variant{name: "grpc1.56-go1.19-stripped", goCmd: go119, modfile: "go.v1.56.mod", flags: strip}
)

// variants are the builds the tracing tests run on: current and older
// grpc-go, Go 1.26 and 1.19, DWARF and stripped.
var variants = []variant{v185DWARF, v185Stripped, v166Stripped, v156DWARF, v156Stripped}

// builds caches the binaries built for this test process.
var builds struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// build builds examples/grpc/<prog> ("server" or "client") as v says and
// returns the binary, once per test process. The examples are a module of
// their own (examples/grpc/go.mod); their dependencies come from the
// module proxy, or the module cache when it has them.
func build(t testing.TB, prog string, v variant) string {
	t.Helper()
	builds.Lock()
	defer builds.Unlock()
	key := prog + "-" + v.name
	if bin, ok := builds.bins[key]; ok {
		return bin
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "ebt-grpc-test-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	src, err := filepath.Abs(filepath.Join("..", "..", "examples", "grpc"))
	if err != nil {
		t.Fatal(err)
	}
	if v.dir != "" {
		src = v.dir
	}
	goCmd, env := "go", []string{"GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly"}
	if v.goCmd != "" {
		if _, err := os.Stat(v.goCmd); err != nil {
			t.Skipf("%s is not installed (apt-get install golang-1.19-go; make deps does)", v.goCmd)
		}
		goCmd = v.goCmd
		env = append(env, "GOTOOLCHAIN=local")
	}
	out := filepath.Join(builds.dir, key)
	args := []string{"build", "-buildvcs=false", "-o", out}
	if v.modfile != "" {
		args = append(args, "-modfile="+v.modfile)
	}
	args = append(append(args, v.flags...), "./"+prog)
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	builds.bins[key] = out
	return out
}

// echoSleep is how long the example server's Echo sleeps in the tests.
const echoSleep = 20 * time.Millisecond

// startServer runs examples/grpc's server and returns its process and
// address once it listens.
func startServer(t testing.TB, bin string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-sleep", echoSleep.String())
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
		t.Fatalf("%s: no address line: %v", bin, err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("%s printed %q", bin, line)
	}
	return cmd, addr
}

// runClient runs examples/grpc's client to completion and returns what
// it printed.
func runClient(t testing.TB, bin, addr string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	return string(out)
}

// waitingClient is a client started with -wait: it has dialled and waits
// for go() before its first call, so a tracer can attach to its pid.
type waitingClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bytes.Buffer
}

func startWaitingClient(t testing.TB, bin, addr string, args ...string) *waitingClient {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", addr, "-wait"}, args...)...)
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
	rd := bufio.NewReader(stdout)
	if line, err := rd.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("%s: %q, %v; want ready", bin, line, err)
	}
	c := &waitingClient{cmd: cmd, stdin: stdin, out: new(bytes.Buffer)}
	go io.Copy(c.out, rd)
	return c
}

// run lets the client make its calls and returns what it printed.
func (c *waitingClient) run(t testing.TB) string {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	// cmd.Wait waits for the stdout copy too.
	return c.out.String()
}

// goidRE finds the server goroutines the client prints with -goids.
var goidRE = regexp.MustCompile(` goid=(\d+)`)

// withoutGoids removes them, for comparing two runs' output.
func withoutGoids(s string) string { return goidRE.ReplaceAllString(s, "") }

// tracer is a helper loaded with a test chain at slot 0 that copies every
// event, followed by the pid of the process it came from, into a ring
// buffer.
type tracer struct {
	target *pack.Target
	helper *pack.Helper
	rd     *ringbuf.Reader
}

// newTracer resolves src for bin, selects the given lifecycle events
// (none: the default), loads its helper and puts the test chain in slot
// 0. Nothing is attached yet.
func newTracer(t testing.TB, src *pack.Source, bin string, events ...string) *tracer {
	t.Helper()
	target, err := src.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if events != nil {
		if err := target.SelectEvents(events...); err != nil {
			t.Fatal(err)
		}
	}
	h, err := target.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	rb, err := ebpf.NewMap(&ebpf.MapSpec{Name: "ebt_test_rb", Type: ebpf.RingBuf, MaxEntries: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.Close() })
	prog := chainProgram(t, h.Event, rb, target.Schema.Size, h.Chain, 1)
	t.Cleanup(func() { prog.Close() })
	if err := h.SetChain(0, prog); err != nil {
		t.Fatal(err)
	}
	rd, err := ringbuf.NewReader(rb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	return &tracer{target: target, helper: h, rd: rd}
}

// chainProgram is what the compiler would generate for a chain, reduced
// to the contract (as in stdlib/http's harness): look up key 0 of the
// event map, copy the event into a ring buffer record followed by the
// pid, and tail-call the next slot.
func chainProgram(t testing.TB, event, rb *ebpf.Map, size int, chain *ebpf.Map, next int) *ebpf.Program {
	t.Helper()
	ldEvent := asm.LoadMapPtr(asm.R1, 0)
	ldRB := asm.LoadMapPtr(asm.R1, 0)
	ldChain := asm.LoadMapPtr(asm.R2, 0)
	for _, a := range []struct {
		ins *asm.Instruction
		m   *ebpf.Map
	}{{&ldEvent, event}, {&ldRB, rb}, {&ldChain, chain}} {
		if err := a.ins.AssociateMap(a.m); err != nil {
			t.Fatal(err)
		}
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // ctx, for the tail call
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		ldEvent,
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "next"),
		asm.Mov.Reg(asm.R7, asm.R0),
		ldRB,
		asm.Mov.Imm(asm.R2, int32(size+8)),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "next"),
		asm.Mov.Reg(asm.R8, asm.R0),
	}
	for off := 0; off < size; off += 8 {
		insns = append(insns,
			asm.LoadMem(asm.R1, asm.R7, int16(off), asm.DWord),
			asm.StoreMem(asm.R8, int16(off), asm.R1, asm.DWord))
	}
	insns = append(insns,
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.StoreMem(asm.R8, int16(size), asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("next"),
		ldChain,
		asm.Mov.Imm(asm.R3, int32(next)),
		asm.FnTailCall.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "ebt_test_chain", Type: ebpf.Kprobe, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// event is a decoded grpc event and the pid it came from.
type event struct {
	Start, Duration, Goid, Stream uint64
	Sent, Received, Code          uint64
	Event, Kind, Status, Method   string
	Pid                           uint64
}

func (e event) String() string {
	return fmt.Sprintf("%s %s %s %s code=%d sent=%d recv=%d stream=%d goid=%d dur=%v pid=%d",
		e.Event, e.Method, e.Kind, e.Status, e.Code, e.Sent, e.Received, e.Stream, e.Goid, time.Duration(e.Duration), e.Pid)
}

// decode reads an event through the schema, as the compiler's code would.
func decode(t testing.TB, s *pack.Schema, b []byte) event {
	t.Helper()
	if len(b) < s.Size+8 {
		t.Fatalf("record of %d bytes, the event has %d and the pid 8", len(b), s.Size)
	}
	vals := map[string]uint64{}
	strs := map[string]string{}
	for _, f := range s.Fields {
		raw := b[f.Offset : f.Offset+f.Size]
		switch f.Kind {
		case pack.String:
			if i := bytes.IndexByte(raw, 0); i >= 0 {
				raw = raw[:i]
			}
			strs[f.Name] = string(raw)
			if f.Values != nil && !containsStr(f.Values, strs[f.Name]) {
				t.Errorf("field %s = %q, not one of %v", f.Name, strs[f.Name], f.Values)
			}
		case pack.Unsigned:
			switch f.Size {
			case 4:
				vals[f.Name] = uint64(binary.LittleEndian.Uint32(raw))
			case 8:
				vals[f.Name] = binary.LittleEndian.Uint64(raw)
			default:
				t.Fatalf("field %s: size %d", f.Name, f.Size)
			}
		default:
			t.Fatalf("field %s: kind %v", f.Name, f.Kind)
		}
	}
	return event{
		Start: vals["start"], Duration: vals["duration"], Goid: vals["goid"], Stream: vals["stream"],
		Sent: vals["sent"], Received: vals["received"], Code: vals["code"],
		Event: strs["event"], Kind: strs["kind"], Status: strs["status"], Method: strs["method"],
		Pid: binary.LittleEndian.Uint64(b[s.Size:]),
	}
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// read collects events until it has want of them or the bound passes,
// then keeps reading briefly so that any extra event is seen too.
func (tr *tracer) read(t testing.TB, want int) []event {
	t.Helper()
	var out []event
	deadline := time.Now().Add(20 * time.Second)
	for {
		if len(out) >= want {
			// Extra events would arrive right behind the expected ones.
			d := time.Now().Add(300 * time.Millisecond)
			if d.Before(deadline) {
				deadline = d
			}
		}
		tr.rd.SetDeadline(deadline)
		rec, err := tr.rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, decode(t, tr.target.Schema, rec.RawSample))
	}
}

// rpcKey names a group of RPCs.
func rpcKey(method, kind, status string) string { return method + " " + kind + " " + status }

// sorted renders a count map in a stable order.
func sorted[V any](m map[string]V) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
