package gobin

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ebpftrace/ebpftrace/internal/procmaps"
)

// A toolchain builds test programs: the go command running the tests,
// and Debian's golang-1.19-go (/usr/lib/go-1.19), which gives a pre-1.20
// build with DWARF (`make deps` installs it).
type toolchain struct{ goCmd, version string }

var toolchains = sync.OnceValue(func() []toolchain {
	var out []toolchain
	for _, c := range []string{filepath.Join(runtime.GOROOT(), "bin", "go"), "/usr/lib/go-1.19/bin/go"} {
		v, err := exec.Command(c, "env", "GOVERSION").Output()
		if err == nil {
			out = append(out, toolchain{c, strings.TrimSpace(string(v))})
		}
	}
	return out
})

var (
	typesMu    sync.Mutex
	typesBuilt = map[string]string{}
)

// buildTypes builds testdata/typesprog with tc and flags, once per test
// run.
func buildTypes(t *testing.T, tc toolchain, name string, flags ...string) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("test programs are built for linux/amd64")
	}
	typesMu.Lock()
	defer typesMu.Unlock()
	key := tc.version + "-" + name
	if p, ok := typesBuilt[key]; ok {
		return p
	}
	out := filepath.Join(buildDir, "typesprog-"+key)
	args := append([]string{"build", "-o", out}, flags...)
	cmd := exec.Command(tc.goCmd, append(args, ".")...)
	cmd.Dir = filepath.Join("testdata", "typesprog")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0", "GOROOT=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s build %v: %v\n%s", tc.version, flags, err, msg)
	}
	typesBuilt[key] = out
	return out
}

type layoutDesc struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Size   int64  `json:"size"`
	Elem   string `json:"elem"`
	Key    string `json:"key"`
	Len    int64  `json:"len"`
	Addr   uint64 `json:"addr"`
	Iface  bool   `json:"iface"`
	Fields []struct {
		Name     string `json:"name"`
		Offset   int64  `json:"offset"`
		Type     string `json:"type"`
		Embedded bool   `json:"embedded"`
	} `json:"fields"`
}

// runLayout runs a typesprog build with "layout": what its runtime says
// about its types, and the process, still running, for its maps.
func runLayout(t *testing.T, path string) (descs, dyns []layoutDesc, pid int) {
	t.Helper()
	cmd := exec.Command(path, "layout")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "ready" {
			return descs, dyns, cmd.Process.Pid
		}
		var d layoutDesc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		if d.Addr != 0 {
			dyns = append(dyns, d)
		} else {
			descs = append(descs, d)
		}
	}
	t.Fatalf("%s layout ended early: %v", path, sc.Err())
	return nil, nil, 0
}

// reflectKinds maps reflect.Kind names to TypeKind.
var reflectKinds = map[string]TypeKind{
	"struct": GoStruct, "int16": GoInt16, "bool": GoBool, "map": GoMap, "slice": GoSlice,
	"array": GoArray, "ptr": GoPointer, "string": GoString, "int": GoInt,
}

// TestTypesAgainstReflect checks the type graph built from DWARF against
// what the program's own runtime says about the same types (reflect:
// kind, size, fields with offsets and embedding, element, key, length),
// for each toolchain, non-PIE and PIE; and RuntimeTypeName on the type
// words of interface values read in the running process, with and
// without DWARF.
func TestTypesAgainstReflect(t *testing.T) {
	tcs := toolchains()
	if len(tcs) == 0 {
		t.Skip("the go command is not available")
	}
	for _, tc := range tcs {
		for _, v := range []struct {
			name  string
			flags []string
		}{
			{"default", nil},
			{"pie", []string{"-buildmode=pie"}},
			{"pie-stripped", []string{"-buildmode=pie", "-ldflags=-s -w"}},
		} {
			t.Run(tc.version+"/"+v.name, func(t *testing.T) {
				path := buildTypes(t, tc, v.name, v.flags...)
				b, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				descs, dyns, pid := runLayout(t, path)
				// With DWARF or, stripped, from the runtime type
				// descriptors: the same answers.
				for _, d := range descs {
					checkType(t, b, d)
				}
				if b.HasDWARF {
					checkTypeNames(t, b)
				} else if _, err := b.TypeByName("main.NoSuchType"); !errors.Is(err, ErrNoDWARF) || !strings.Contains(err.Error(), "still work") {
					t.Errorf("TypeByName(main.NoSuchType) without DWARF: %v; want ErrNoDWARF saying what still works", err)
				}
				// Dynamic types from the running process's interface words.
				bias := uint64(0)
				if b.PIE {
					maps, err := procmaps.Read(pid)
					if err != nil {
						t.Fatal(err)
					}
					var loads []elf.ProgHeader
					for _, p := range b.ELF().Progs {
						loads = append(loads, p.ProgHeader)
					}
					var ok bool
					if bias, ok = procmaps.LoadBias(maps, path, loads); !ok {
						t.Fatalf("%s not in the maps of %d", path, pid)
					}
				}
				rtChecked := 0
				for _, d := range dyns {
					got, err := b.RuntimeTypeName(d.Addr - bias)
					if err != nil || got != d.Name {
						t.Errorf("RuntimeTypeName(%#x - bias %#x) = %q, %v; want %q (iface %v)", d.Addr, bias, got, err, d.Name, d.Iface)
					}
					if ty, err := b.TypeByRuntimeAddr(d.Addr - bias); err != nil || ty.Name != d.Name || ty.RuntimeAddr != d.Addr-bias && ty.Kind != GoPointer {
						t.Errorf("TypeByRuntimeAddr(%#x) = %v, %v; want %s", d.Addr-bias, ty, err, d.Name)
					}
					if b.HasDWARF {
						if ty, err := b.TypeByName(d.Name); err != nil || ty.RuntimeAddr != d.Addr-bias {
							t.Errorf("%s: DWARF runtime type %v (%v), the process uses %#x", d.Name, ty, err, d.Addr-bias)
						} else if ty.RuntimeAddr != 0 {
							rtChecked++
						}
					}
				}
				il, err := b.InterfaceLayout()
				ml, err2 := b.MapLayout()
				if err != nil || err2 != nil || il.DataOffset != 8 || il.ItabType != 8 || ml.CountOffset != 0 || ml.CountSize != 8 {
					t.Errorf("InterfaceLayout %+v, %v; MapLayout %+v, %v", il, err, ml, err2)
				}
				if minor, _ := goMinor(b.GoVersion); ml.Swiss != (minor >= 24) {
					t.Errorf("%s: MapLayout.Swiss = %v", b.GoVersion, ml.Swiss)
				}
				t.Logf("%d types, %d dynamic types (%d DWARF runtime type addresses) checked; interface layout from %s, map layout from %s", len(descs), len(dyns), rtChecked, il.Source, ml.Source)
			})
		}
	}
}

func checkType(t *testing.T, b *Binary, d layoutDesc) {
	t.Helper()
	ty, err := b.TypeByName(d.Name)
	if err != nil {
		t.Errorf("TypeByName(%s): %v", d.Name, err)
		return
	}
	if ty.Name != d.Name || ty.Kind != reflectKinds[d.Kind] || ty.Size != d.Size {
		t.Errorf("%s: name %q kind %v size %d; reflect: kind %s size %d", d.Name, ty.Name, ty.Kind, ty.Size, d.Kind, d.Size)
	}
	if d.Elem != "" && (ty.Elem == nil || ty.Elem.Name != d.Elem) {
		t.Errorf("%s: elem %v, reflect %s", d.Name, ty.Elem, d.Elem)
	}
	if d.Key != "" && (ty.Key == nil || ty.Key.Name != d.Key) {
		t.Errorf("%s: key %v, reflect %s", d.Name, ty.Key, d.Key)
	}
	if d.Len != ty.Len {
		t.Errorf("%s: len %d, reflect %d", d.Name, ty.Len, d.Len)
	}
	if len(ty.Fields) != len(d.Fields) {
		t.Errorf("%s: %d fields, reflect %d", d.Name, len(ty.Fields), len(d.Fields))
		return
	}
	for i, f := range d.Fields {
		g := ty.Fields[i]
		if g.Name != f.Name || g.Offset != f.Offset || g.Type.Name != f.Type || g.Embedded != f.Embedded {
			t.Errorf("%s field %d: {%s %d %s %v}, reflect {%s %d %s %v}", d.Name, i, g.Name, g.Offset, g.Type.Name, g.Embedded, f.Name, f.Offset, f.Type, f.Embedded)
		}
	}
}

// checkTypeNames checks the other spellings of type names and the link
// from parameters to types.
func checkTypeNames(t *testing.T, b *Binary) {
	t.Helper()
	req, err := b.TypeByName("net/http.Request")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"http.Request", " net/http.Request "} {
		if got, err := b.TypeByName(n); err != nil || got != req {
			t.Errorf("TypeByName(%q) = %v, %v; want the net/http.Request type", n, got, err)
		}
	}
	for _, n := range []string{"*http.Request", "*net/http.Request"} {
		if p, err := b.TypeByName(n); err != nil || p.Kind != GoPointer || p.Elem != req || p.Name != "*net/http.Request" {
			t.Errorf("TypeByName(%q) = %+v, %v", n, p, err)
		}
	}
	if a, err := b.TypeByName("any"); err != nil || a.Kind != GoInterface || !a.EmptyInterface {
		t.Errorf("TypeByName(any) = %+v, %v", a, err)
	}
	if e, err := b.TypeByName("error"); err != nil || e.Kind != GoInterface || e.EmptyInterface || !e.Named() {
		t.Errorf("TypeByName(error) = %+v, %v", e, err)
	}
	var nf *NotFoundError
	if _, err := b.TypeByName("net/http.Requst"); !errors.As(err, &nf) || !slices.Contains(nf.Nearest, "net/http.Request") {
		t.Errorf("TypeByName(net/http.Requst) = %v; want a NotFoundError suggesting net/http.Request", err)
	}
	// Fields navigate: args.r.URL.Path.
	u, _ := req.Field("URL")
	if u.Type == nil || u.Type.Name != "*net/url.URL" || u.Type.Elem == nil {
		t.Fatalf("Request.URL = %+v", u)
	}
	if p, ok := u.Type.Elem.Field("Path"); !ok || p.Type.Kind != GoString {
		t.Errorf("url.URL.Path = %+v, %v", p, ok)
	}
	// Parameters are linked to their types.
	ps, err := b.Params("main.handle")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"net/http.ResponseWriter", "*net/http.Request", "*main.Outer", "main.Level", "main.Flag", "main.Box[string]", "net/http.Header", "map[int]string"}
	if len(ps) != len(want) {
		t.Fatalf("Params(main.handle) = %s", fmtParams(ps))
	}
	for i, p := range ps {
		if p.GoType == nil || p.GoType.Name != want[i] || p.GoType.Name != p.Type {
			t.Errorf("param %d GoType %v, want %s", i, p.GoType, want[i])
		}
	}
	if ps[1].GoType.Elem != req {
		t.Error("the *http.Request parameter's element is not the net/http.Request type")
	}
	if ps[0].GoType.Kind != GoInterface || ps[0].GoType.EmptyInterface || ps[0].GoType.DirectIface() || !ps[1].GoType.DirectIface() {
		t.Errorf("ResponseWriter %+v", ps[0].GoType)
	}
	if ps[6].GoType.Kind != GoMap || ps[6].GoType.Key.Kind != GoString || ps[6].GoType.Elem.Kind != GoSlice || ps[6].GoType.PkgPath() != "net/http" {
		t.Errorf("http.Header = %+v", ps[6].GoType)
	}
	if ps[3].GoType.Kind != GoInt16 || !ps[3].GoType.Kind.IsSigned() || ps[4].GoType.Kind != GoBool {
		t.Errorf("Level %+v, Flag %+v", ps[3].GoType, ps[4].GoType)
	}
	rs, err := b.Results("main.handle")
	if err != nil || len(rs) != 1 || rs[0].GoType.Name != "error" {
		t.Errorf("Results(main.handle) = %s, %v", fmtParams(rs), err)
	}
	// Every type reachable from every parameter of every function builds.
	fs, _ := b.DWARFFuncs("")
	n := 0
	for _, fn := range fs {
		ps, err := b.Params(fn)
		if err != nil {
			t.Errorf("Params(%s): %v", fn, err)
			continue
		}
		for _, p := range ps {
			if p.GoType == nil {
				t.Errorf("%s %s: no GoType", fn, p.Name)
			}
			n++
		}
	}
	t.Logf("%d parameters of %d functions typed", n, len(fs))
}

// TestGFieldsFromCode checks the runtime.g offsets read from
// runtime.gopark's code against DWARF (builds of each toolchain) and
// against the per-version table (the stripped builds and Debian's
// prometheus, etcd and go-md2man, go1.19.8 and go1.18.3).
func TestGFieldsFromCode(t *testing.T) {
	var paths []string
	for _, tc := range toolchains() {
		paths = append(paths, buildTypes(t, tc, "default"), buildTypes(t, tc, "pie-stripped", "-buildmode=pie", "-ldflags=-s -w"))
	}
	paths = append(paths, "/usr/bin/prometheus", "/usr/bin/etcd", "/usr/bin/go-md2man")
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s is not installed (make deps installs prometheus, etcd-server, go-md2man)", path)
			}
			b, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			got, err := b.GFieldsFromCode()
			if err != nil {
				t.Fatal(err)
			}
			// Go 1.26's gopark reads the status differently; the wait
			// reason store is in every release.
			if _, ok := got["waitreason"]; !ok {
				t.Errorf("found %v; want waitreason", got)
			}
			minor, _ := goMinor(b.GoVersion)
			for field, off := range got {
				if b.HasDWARF {
					if d, err := b.FieldOffset("runtime.g", field); err != nil || d != off {
						t.Errorf("%s: runtime.g.%s from code %d, DWARF %d (%v)", b.GoVersion, field, off, d, err)
					}
				}
				if tab, ok := gFieldTable[minor]; !ok || tab[field] != off {
					t.Errorf("%s: runtime.g.%s from code %d, table %d", b.GoVersion, field, off, tab[field])
				}
			}
			// The runtime's own type descriptor of runtime.g, against
			// DWARF and the table.
			ix, err := b.runtimeTypes()
			if err != nil {
				t.Fatal(err)
			}
			g, ok := ix.lookup("runtime.g", 0)
			if !ok {
				t.Fatal("no runtime.g type descriptor")
			}
			for _, field := range GFields {
				f, ok := g.Field(field)
				if tab, known := gFieldTable[minor]; !ok || !known || int(f.Offset) != tab[field] {
					t.Errorf("%s: runtime.g.%s: descriptor %d (%v), table %d", b.GoVersion, field, f.Offset, ok, tab[field])
				}
				if b.HasDWARF {
					if d, err := b.FieldOffset("runtime.g", field); err != nil || int64(d) != f.Offset {
						t.Errorf("%s: runtime.g.%s: descriptor %d, DWARF %d", b.GoVersion, field, f.Offset, d)
					}
				}
			}
			goid, src, err := b.GFieldSource("goid")
			want := "DWARF"
			if !b.HasDWARF {
				want = "runtime type descriptor"
			}
			if err != nil || src != want {
				t.Errorf("GFieldSource(goid) = %d, %q, %v; want from %s", goid, src, err, want)
			}
			t.Logf("%s (%s, DWARF %v): from gopark's code %v; runtime.g descriptor agrees with the table; goid %d from %s", path, b.GoVersion, b.HasDWARF, got, goid, src)
		})
	}
}

// TestStrippedDebian checks what works on Debian's stripped prometheus
// (go1.19.8): TypeByName fails saying what still works, and every itab
// the linker built names its dynamic type (RuntimeTypeName on the type
// word of each itab in moduledata.itablinks).
func TestStrippedDebian(t *testing.T) {
	const path = "/usr/bin/prometheus"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s is not installed (apt-get install prometheus)", path)
	}
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Types from the runtime type descriptors, checked against the
	// offsets other tracers use for net/http (GO-PROBES.md §1: beyla's
	// and OpenTelemetry's offset tables).
	req, err := b.TypeByName("*http.Request")
	if err != nil || req.Elem == nil {
		t.Fatalf("TypeByName(*http.Request) on stripped prometheus: %v, %v", req, err)
	}
	for _, c := range []struct {
		typ   *Type
		field string
		off   int64
		kind  TypeKind
	}{
		{req.Elem, "Method", 0, GoString}, {req.Elem, "URL", 16, GoPointer}, {req.Elem, "Header", 56, GoMap}, {req.Elem, "ContentLength", 88, GoInt64},
	} {
		if f, ok := c.typ.Field(c.field); !ok || f.Offset != c.off || f.Type.Kind != c.kind {
			t.Errorf("%s.%s = %+v, %v; want offset %d, kind %v", c.typ.Name, c.field, f, ok, c.off, c.kind)
		}
	}
	if u, _ := req.Elem.Field("URL"); u.Type != nil && u.Type.Elem != nil {
		host, _ := u.Type.Elem.Field("Host")
		path, _ := u.Type.Elem.Field("Path")
		if host.Offset != 40 || path.Offset != 56 || u.Type.Elem.Name != "net/url.URL" {
			t.Errorf("url.URL: Host %+v, Path %+v", host, path)
		}
	}
	if resp, err := b.TypeByName("net/http.Response"); err != nil {
		t.Error(err)
	} else if f, _ := resp.Field("StatusCode"); f.Offset != 16 {
		t.Errorf("Response.StatusCode at %d, want 16", f.Offset)
	}
	if h, err := b.TypeByName("http.Header"); err != nil || h.Kind != GoMap || h.Key.Kind != GoString || h.Elem.Name != "[]string" {
		t.Errorf("http.Header = %+v, %v", h, err)
	}
	if _, err := b.Params("net/http.serverHandler.ServeHTTP"); !errors.Is(err, ErrNoDWARF) {
		t.Errorf("Params on stripped prometheus: %v", err)
	}
	tab, err := b.module()
	if err != nil {
		t.Fatal(err)
	}
	md := tab.Moduledata()
	il, _ := b.InterfaceLayout()
	named, pkgPaths := 0, 0
	for i := uint64(0); i < md.NItablinks; i++ {
		itab, err := b.ReadPointer(md.Itablinks + 8*i)
		if err != nil {
			t.Fatal(err)
		}
		typ, err := b.ReadPointer(itab + uint64(il.ItabType))
		if err != nil {
			t.Fatal(err)
		}
		name, err := b.RuntimeTypeName(typ)
		if err != nil || name == "" {
			t.Fatalf("itab %d at %#x: type %#x: %q, %v", i, itab, typ, name, err)
		}
		named++
		if strings.Contains(name, "/") {
			pkgPaths++
		}
		if name == "*net/http.response" || name == "net/http.HandlerFunc" {
			t.Logf("itab %#x: %s", itab, name)
		}
	}
	if named < 100 || pkgPaths == 0 {
		t.Errorf("%d itab types named, %d with package paths", named, pkgPaths)
	}
	t.Logf("%s: %d itabs, each dynamic type named (%d with a package path)", path, named, pkgPaths)
}

// FuzzRuntimeTypeName decodes type descriptors at arbitrary addresses
// of the type data: errors are fine, panics are not.
func FuzzRuntimeTypeName(f *testing.F) {
	tcs := toolchains()
	if len(tcs) == 0 {
		f.Skip("no go command")
	}
	dir, err := os.MkdirTemp("", "gobin-fuzz-")
	if err != nil {
		f.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "prog")
	cmd := exec.Command(tcs[0].goCmd, "build", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "typesprog")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		f.Fatalf("%v\n%s", err, msg)
	}
	b, err := Open(out)
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	tab, err := b.module()
	if err != nil {
		f.Fatal(err)
	}
	md := tab.Moduledata()
	f.Add(uint64(0))
	f.Add(uint64(48))
	f.Fuzz(func(t *testing.T, off uint64) {
		b.RuntimeTypeName(md.Types + off%(md.Etypes-md.Types+64))
	})
}

// FuzzRuntimeTypes builds the type graph from mutated type data (the
// runtime type descriptors of a real build with bytes changed): errors
// and partial graphs are fine, panics are not.
func FuzzRuntimeTypes(f *testing.F) {
	tcs := toolchains()
	if len(tcs) == 0 {
		f.Skip("no go command")
	}
	dir, err := os.MkdirTemp("", "gobin-fuzz-")
	if err != nil {
		f.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "prog")
	cmd := exec.Command(tcs[0].goCmd, "build", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "typesprog")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		f.Fatalf("%v\n%s", err, msg)
	}
	b, err := Open(out)
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	tab, err := b.module()
	if err != nil {
		f.Fatal(err)
	}
	md := tab.Moduledata()
	data, err := b.readAt(md.Types, int(md.Etypes-md.Types))
	if err != nil {
		f.Fatal(err)
	}
	var roots []uint64
	for i := uint64(0); i < md.NTypelinks && i < 64; i++ {
		ob, _ := b.readAt(md.Typelinks+4*i, 4)
		roots = append(roots, md.Types+uint64(int32(b.elf.ByteOrder.Uint32(ob))))
	}
	f.Add(uint32(0), byte(0xff), uint32(1))
	f.Add(uint32(23), byte(25), uint32(7))
	f.Fuzz(func(t *testing.T, at uint32, v byte, stride uint32) {
		mem := append([]byte(nil), data...)
		for i := 0; i < 8; i++ {
			mem[(int(at)+i*int(stride|1)*4099)%len(mem)] ^= v
		}
		r := &rtReader{b: b, types: md.Types, etypes: md.Etypes, mem: mem, minor: 19}
		ix := &rtIndex{byName: map[string]*Type{}, byAddr: map[uint64]*Type{}}
		for _, a := range roots {
			r.build(ix, a, 0)
		}
	})
}
