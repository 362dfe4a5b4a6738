package goroutine

import (
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/bpf"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// TestSchemaMatchesHelper compares the schema with struct goroutine_event
// in the helper's BTF.
func TestSchemaMatchesHelper(t *testing.T) {
	spec, err := bpf.Goroutine()
	if err != nil {
		t.Fatal(err)
	}
	if err := Schema().Check(spec); err != nil {
		t.Fatal(err)
	}
	// The stack map is shaped like the compiler's, so a runtime can
	// replace it with its own.
	ms := spec.Maps[pack.StackMap]
	if ms == nil || ms.Type != ebpf.StackTrace || ms.KeySize != 4 || ms.ValueSize != 8*pack.StackDepth ||
		ms.MaxEntries != pack.StackEntries || ms.Flags != 0 {
		t.Errorf("%s = %+v", pack.StackMap, ms)
	}
	if f, ok := Schema().Field("stack"); !ok || f.Kind != pack.UStack || f.Size != 8 {
		t.Errorf("stack field %+v", f)
	}
	if f, ok := Schema().Field("reason"); !ok || f.Kind != pack.String || f.Size != reasonSize {
		t.Errorf("reason field %+v", f)
	}
}

// TestResolve resolves the source for the example built every way, and
// for binaries it must refuse. It needs no privileges.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			bin := build(t, "blocker", v, dir)
			tgt, err := Blocked().Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			b, err := gobin.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			fn, err := b.Func(fnPark)
			if err != nil {
				t.Fatal(err)
			}
			frame, _ := b.FrameOffset(fn)
			// The park probe sits on the one-byte NOP after the frame
			// setup and MOVQ g.m, DX (Go 1.21+: SUBQ $n, SP first).
			park, err := parkOffset(b, fn)
			if err != nil {
				t.Fatal(err)
			}
			code, _ := b.ReadAt(fn.Addr+(frame-fn.Offset), int(park-frame)+1)
			if park <= frame || park > frame+8 || code[len(code)-1] != 0x90 {
				t.Errorf("park probe at +%#x, frame set up at +%#x: % x", park-fn.Offset, frame-fn.Offset, code)
			}
			rets, _ := b.ReturnOffsets(fn)
			if len(tgt.Probes) != 1+len(rets) || len(rets) != 1 {
				t.Errorf("probes %+v; gopark has RETs %v", tgt.Probes, rets)
			}
			for _, p := range tgt.Probes {
				switch {
				case p.Program == progPark && (p.Offset != park || p.Return):
					t.Errorf("park probe %+v, want offset %#x", p, park)
				case p.Program == progResume && (p.Offset != rets[0] || !p.Return):
					t.Errorf("resume probe %+v, want offset %#x", p, rets[0])
				}
			}
			want, err := b.WaitReasons()
			if err != nil {
				t.Fatal(err)
			}
			got := ReasonNames(tgt)
			if len(got) != len(want) {
				t.Errorf("%d reason names, the binary has %d", len(got), len(want))
			}
			for v, name := range want {
				if got[v] != name {
					t.Errorf("reason %d: %q, want %q", v, got[v], name)
				}
			}
			goid, _ := b.GoidOffset()
			if tgt.Constants["go_g_goid"] != uint64(goid) || tgt.Constants["park_reason_reg"] != regRCX {
				t.Errorf("constants %v; goid offset %d", tgt.Constants, goid)
			}
			if len(tgt.Spec.Programs) != 2 {
				t.Errorf("programs %v", tgt.Spec.Programs)
			}
			t.Logf("%s: %s; park +%#x", tgt.GoVersion, tgt.FactsFrom, park-fn.Offset)
		})
	}
	for _, tc := range []struct{ path, want string }{
		{"/bin/true", "is not a Go program"},
		{"/nonexistent", "no such file"},
		{"/usr/bin/go-md2man", ""}, // Debian's go1.18.3, stripped: resolves
	} {
		if _, err := os.Stat(tc.path); err != nil && tc.want == "" {
			continue
		}
		_, err := Blocked().Open(tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "goroutine.blocked: ")):
			t.Errorf("%s: error %v, want one containing %q", tc.path, err, tc.want)
		}
	}
}

// TestReasonRegister: DWARF, then gopark's code, then the signature.
func TestReasonRegister(t *testing.T) {
	for _, tc := range []struct {
		path string
		from string
	}{
		{"/usr/bin/prometheus", "gopark's store of CL into g.waitreason"},
		{"/usr/bin/go-md2man", "gopark's store of CL into g.waitreason"},
	} {
		if _, err := os.Stat(tc.path); err != nil {
			t.Logf("%s is not installed (make deps installs it)", tc.path)
			continue
		}
		b, err := gobin.Open(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		reg, from, err := reasonRegister(b, 19)
		b.Close()
		if err != nil || reg != regRCX || from != tc.from {
			t.Errorf("%s: register %d from %q (%v)", tc.path, reg, from, err)
		}
	}
	// A binary whose gopark cannot be read: the signature for known
	// versions, an error for others.
	b, err := gobin.Open("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	defer b.Close()
	b.IsGo = true
	if reg, from, err := reasonRegister(b, 21); err != nil || reg != regRCX || from != "signature go1.21" {
		t.Errorf("go1.21 without code: %d %q %v", reg, from, err)
	}
	if _, _, err := reasonRegister(b, 27); err == nil || !strings.Contains(err.Error(), "cannot tell which register") {
		t.Errorf("go1.27 without code: %v", err)
	}
}

// TestSetReasons: names are NUL-padded and cut to fit the map's values.
func TestSetReasons(t *testing.T) {
	spec, err := bpf.Goroutine()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 40)
	if err := setReasons(spec, map[uint8]string{0: "", 2: "IO wait", 255: long}); err != nil {
		t.Fatal(err)
	}
	got := ReasonNames(&pack.Target{Spec: spec})
	if len(got) != 3 || got[0] != "" || got[2] != "IO wait" || got[255] != long[:reasonSize-1] {
		t.Errorf("ReasonNames = %q", got)
	}
	delete(spec.Maps, reasonsMap)
	if err := setReasons(spec, nil); err == nil {
		t.Error("setReasons without the map succeeded")
	}
}
