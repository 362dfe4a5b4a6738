package http

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// go119 is Debian's Go 1.19 (golang-1.19-go), the only older toolchain
// these machines have; Makefile deps and .ci/run install it.
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

// variant is one way of building a Go program.
type variant struct {
	name  string
	goCmd string // "" = the go command running the tests
	flags []string
}

var variants = []variant{
	{"go1.26-dwarf", "", nil},
	{"go1.26-stripped", "", []string{"-ldflags=-s -w"}},
	{"go1.26-pie", "", []string{"-buildmode=pie"}},
	{"go1.26-trimpath-stripped-pie", "", []string{"-trimpath", "-buildmode=pie", "-ldflags=-s -w"}},
	{"go1.19-dwarf", go119, nil},
	{"go1.19-stripped", go119, []string{"-ldflags=-s -w"}},
	{"go1.19-pie-stripped", go119, []string{"-buildmode=pie", "-ldflags=-s -w"}},
}

// build builds examples/<example> with v into dir and returns the binary.
// Old toolchains build a copy of the sources in a module of their own:
// the project's go.mod names a Go version they cannot parse.
func build(t testing.TB, example string, v variant, dir string) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("..", "..", "examples", example))
	if err != nil {
		t.Fatal(err)
	}
	goCmd, env := "go", []string{"GOWORK=off", "CGO_ENABLED=0", "GOFLAGS="}
	if v.goCmd != "" {
		if _, err := os.Stat(v.goCmd); err != nil {
			t.Skipf("%s is not installed (apt-get install golang-1.19-go; make deps does)", v.goCmd)
		}
		goCmd = v.goCmd
		env = append(env, "GOTOOLCHAIN=local", "GOPROXY=off", "GO111MODULE=on")
		mod := filepath.Join(dir, example+"-src-"+v.name)
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
		if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module "+example+"\n\ngo 1.17\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		src = mod
	}
	out := filepath.Join(dir, example+"-"+v.name)
	args := append([]string{"build", "-buildvcs=false", "-o", out}, v.flags...)
	cmd := exec.Command(goCmd, append(args, ".")...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return out
}

// startServer runs examples/httpserver's binary with args and returns its
// process and address once it listens.
func startServer(t testing.TB, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
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

// tracer is a helper loaded with a test chain at slot 0 that copies every
// event into a ring buffer.
type tracer struct {
	target *pack.Target
	helper *pack.Helper
	rd     *ringbuf.Reader
}

// newTracer resolves src for bin, loads its helper and puts the test
// chain in slot 0. Nothing is attached yet.
func newTracer(t testing.TB, src *pack.Source, bin string) *tracer {
	t.Helper()
	target, err := src.Open(bin)
	if err != nil {
		t.Fatal(err)
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
// to the contract: look up key 0 of the event map, copy the event into a
// ring buffer, and tail-call the next slot.
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
		ldRB,
		asm.Mov.Reg(asm.R2, asm.R0),
		asm.Mov.Imm(asm.R3, int32(size)),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("next"),
		ldChain,
		asm.Mov.Imm(asm.R3, int32(next)),
		asm.FnTailCall.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "ebt_test_chain", Type: ebpf.Kprobe, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// event is a decoded http event.
type event struct {
	Start, Duration, Goid uint64
	Status, Proto         uint64
	Method, Path, Host    string
}

// decode reads an event through the schema, as the compiler's code would.
func decode(t testing.TB, s *pack.Schema, b []byte) event {
	t.Helper()
	if len(b) < s.Size {
		t.Fatalf("record of %d bytes, the event has %d", len(b), s.Size)
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
		Start: vals["start"], Duration: vals["duration"], Goid: vals["goid"],
		Status: vals["status"], Proto: vals["proto"],
		Method: strs["method"], Path: strs["path"], Host: strs["host"],
	}
}

// read collects events until it has want of them or the bound passes,
// then keeps reading briefly so that any extra event is seen too.
func (tr *tracer) read(t testing.TB, want int) []event {
	t.Helper()
	var out []event
	deadline := time.Now().Add(15 * time.Second)
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

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ebpftrace test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// tlsConfig trusts pool.
func tlsConfig(pool *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: pool} }

// key names a group of events or responses.
func key(method, path string, status uint64) string {
	return fmt.Sprintf("%s %s %d", method, path, status)
}
