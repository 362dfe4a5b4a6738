package goroutine

import (
	"bytes"
	"encoding/binary"
	"errors"
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

	"github.com/ebpftrace/ebpftrace/internal/symbolize"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// go119 is Debian's Go 1.19 (golang-1.19-go), which Makefile deps and
// .ci/run install.
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
	name string
	// goCmd is the go command: "" for the one running the tests, a path,
	// or "goN.M.P" for a toolchain the go command fetches (GOTOOLCHAIN).
	goCmd string
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

// toolchainVariants are variants built by the toolchains named in
// GOROUTINE_TEST_TOOLCHAINS (e.g. "go1.17.13,go1.21.0"), which the go
// command fetches; none without the variable.
func toolchainVariants() []variant {
	var out []variant
	for _, v := range strings.Split(os.Getenv("GOROUTINE_TEST_TOOLCHAINS"), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, variant{v + "-dwarf", v, nil}, variant{v + "-stripped", v, []string{"-ldflags=-s -w"}})
		}
	}
	return out
}

// build builds examples/<example> (or, when example is a path, that
// folder) with v into dir and returns the binary. Other toolchains build
// a copy of the sources in a module of their own: the project's go.mod
// names a Go version they cannot parse.
func build(t testing.TB, example string, v variant, dir string) string {
	t.Helper()
	src := example
	if !filepath.IsAbs(src) {
		var err error
		if src, err = filepath.Abs(filepath.Join("..", "..", "examples", example)); err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Base(src)
	out := filepath.Join(dir, name+"-"+v.name)
	goCmd, env := "go", []string{"GOWORK=off", "CGO_ENABLED=0", "GOFLAGS="}
	args := []string{"build", "-o", out}
	switch {
	case v.goCmd == "":
		args = append(args, "-buildvcs=false")
	case filepath.IsAbs(v.goCmd):
		if _, err := os.Stat(v.goCmd); err != nil {
			t.Skipf("%s is not installed (apt-get install golang-1.19-go; make deps does)", v.goCmd)
		}
		goCmd = v.goCmd
		env = append(env, "GOTOOLCHAIN=local", "GOPROXY=off", "GO111MODULE=on")
	default:
		// GOENV=off: the go.env GOFLAGS of a newer Go may name flags an
		// old toolchain does not know.
		env = append(env, "GOTOOLCHAIN="+v.goCmd, "GOENV=off", "GO111MODULE=on")
	}
	if v.goCmd != "" {
		mod := filepath.Join(dir, name+"-src-"+v.name)
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
		if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module "+name+"\n\ngo 1.17\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		src = mod
	}
	cmd := exec.Command(goCmd, append(append(args, v.flags...), ".")...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return out
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
	rb, err := ebpf.NewMap(&ebpf.MapSpec{Name: "ebt_test_rb", Type: ebpf.RingBuf, MaxEntries: 1 << 22})
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
// ring buffer, and tail-call the next slot (as in stdlib/http).
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

// event is a decoded goroutine.blocked event.
type event struct {
	Start, Duration, Goid uint64
	Stack                 uint64 // pid << 32 | stack id
	ReasonID              uint64
	Reason                string
}

// StackID is the event's stack id (negative: no stack).
func (e event) StackID() int32 { return int32(uint32(e.Stack)) }

// StackPID is the pid the stack belongs to.
func (e event) StackPID() int { return int(e.Stack >> 32) }

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
		case pack.Unsigned, pack.UStack:
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
		Stack: vals["stack"], ReasonID: vals["reason_id"], Reason: strs["reason"],
	}
}

// readUntil collects events until done says it has what it needs or the
// bound passes, then keeps reading briefly so that extra events are seen
// too.
func (tr *tracer) readUntil(t testing.TB, done func([]event) bool) []event {
	t.Helper()
	var out []event
	deadline := time.Now().Add(20 * time.Second)
	finished := false
	for {
		if !finished && done(out) {
			finished = true
			if d := time.Now().Add(300 * time.Millisecond); d.Before(deadline) {
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

// frames returns the function names of a stack the helper captured,
// innermost first, inlined functions included (marked " (inlined)", as
// the runtime prints them), read from the helper's stack map and
// symbolized in the stack's process.
func (tr *tracer) frames(t testing.TB, u *symbolize.User, e event) []string {
	t.Helper()
	if e.StackID() < 0 {
		return nil
	}
	var pcs [pack.StackDepth]uint64
	if err := tr.helper.Collection.Maps[pack.StackMap].Lookup(uint32(e.StackID()), &pcs); err != nil {
		t.Errorf("stack %d: %v", e.StackID(), err)
		return nil
	}
	var out []string
	for i, pc := range pcs {
		if pc == 0 {
			break
		}
		at := pc
		if i > 0 {
			at-- // a return address: the call is the byte before
		}
		fr := u.Frames(e.StackPID(), at)
		if fr == nil {
			out = append(out, "?")
			continue
		}
		for _, f := range fr {
			name := f.Func
			if f.Inlined {
				name += " (inlined)"
			}
			out = append(out, name)
		}
	}
	return out
}
