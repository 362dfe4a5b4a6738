package gobin

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The test builds its targets from testdata once per run, on first use.
// Go builds need the go command; C builds and Go builds with external
// linking need gcc. Missing tools skip the tests that need them.

// target describes one build of a test program.
type target struct {
	name     string
	lang     string   // "go" or "c"
	args     []string // go build flags, or gcc flags
	cgo      bool     // needs gcc (external linking or C)
	stripped bool
	pie      bool
	twin     string // unstripped build with the same layout, for Go stripped builds
}

var targets = []target{
	{name: "go", lang: "go"},
	{name: "go-stripped", lang: "go", args: []string{"-ldflags=-s -w"}, stripped: true, twin: "go"},
	{name: "go-pie", lang: "go", args: []string{"-buildmode=pie"}, pie: true},
	{name: "go-pie-stripped", lang: "go", args: []string{"-buildmode=pie", "-ldflags=-s -w"}, pie: true, stripped: true, twin: "go-pie"},
	{name: "go-ext", lang: "go", args: []string{"-ldflags=-linkmode=external"}, cgo: true},
	{name: "go-ext-stripped", lang: "go", args: []string{"-ldflags=-linkmode=external -s -w"}, cgo: true, stripped: true, twin: "go-ext"},
	{name: "c", lang: "c", args: []string{"-O2", "-g", "-fPIE", "-pie"}, cgo: true, pie: true},
	{name: "c-nopie", lang: "c", args: []string{"-O2", "-g", "-no-pie", "-fcf-protection=full"}, cgo: true},
	{name: "c-stripped", lang: "c", args: []string{"-O2", "-fPIE", "-pie", "-s", "-rdynamic"}, cgo: true, pie: true, stripped: true},
}

func targetByName(name string) target {
	for _, tg := range targets {
		if tg.name == name {
			return tg
		}
	}
	panic("no target " + name)
}

var (
	buildDir  string
	buildMu   sync.Mutex
	builds    = map[string]*buildResult{}
	goCmdOnce sync.Once
	goCmd     string // path of the go command, "" if none
	goVersion string // its GOVERSION
)

type buildResult struct {
	once sync.Once
	path string
	err  error
	skip string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gobin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// findGo locates the go command and its version.
func findGo() {
	goCmdOnce.Do(func() {
		cands := []string{filepath.Join(runtime.GOROOT(), "bin", "go")}
		if p, err := exec.LookPath("go"); err == nil {
			cands = append([]string{p}, cands...)
		}
		for _, c := range cands {
			out, err := exec.Command(c, "env", "GOVERSION").Output()
			if err == nil {
				goCmd, goVersion = c, strings.TrimSpace(string(out))
				return
			}
		}
	})
}

// build returns the path of target name, building it on first use, or
// skips the test when a needed tool is missing.
func build(t *testing.T, name string) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("test targets are built for linux/amd64 only (this is %s/%s)", runtime.GOOS, runtime.GOARCH)
	}
	tg := targetByName(name)
	buildMu.Lock()
	br := builds[name]
	if br == nil {
		br = &buildResult{}
		builds[name] = br
	}
	buildMu.Unlock()
	br.once.Do(func() { br.path, br.skip, br.err = doBuild(tg) })
	if br.skip != "" {
		t.Skip(br.skip)
	}
	if br.err != nil {
		t.Fatalf("build %s: %v", name, br.err)
	}
	return br.path
}

func doBuild(tg target) (path, skip string, err error) {
	out := filepath.Join(buildDir, tg.name)
	if tg.cgo {
		if _, err := exec.LookPath("gcc"); err != nil {
			return "", "gcc is not installed; needed for " + tg.name, nil
		}
	}
	var cmd *exec.Cmd
	switch tg.lang {
	case "go":
		findGo()
		if goCmd == "" {
			return "", "the go command is not available", nil
		}
		args := append([]string{"build", "-buildvcs=false", "-trimpath=false", "-o", out}, tg.args...)
		cmd = exec.Command(goCmd, append(args, ".")...)
		cmd.Dir = filepath.Join("testdata", "goprog")
		cgo := "0"
		if tg.cgo {
			cgo = "1"
		}
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=", "CGO_ENABLED="+cgo)
	case "c":
		args := append(slices.Clone(tg.args), "-o", out, filepath.Join("testdata", "cprog", "work.c"))
		cmd = exec.Command("gcc", args...)
	}
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return out, "", nil
}

// open builds and opens target name.
func open(t *testing.T, name string) *Binary {
	t.Helper()
	b, err := Open(build(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// mainFuncs are the functions of testdata/goprog that Funcs must find.
var mainFuncs = []string{
	"main.(*Counter).Inc", "main.Counter.Get", "main.add", "main.classify", "main.divmod",
	"main.fib", "main.greet", "main.lookup", "main.main", "main.many", "main.mixed", "main.pick",
	"main.square", "main.sum", "main.unused",
}

func TestOpen(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			b := open(t, tg.name)
			isGo := tg.lang == "go"
			if b.IsGo != isGo {
				t.Errorf("IsGo = %v, want %v", b.IsGo, isGo)
			}
			wantVersion, wantModule := "", ""
			if isGo {
				wantVersion, wantModule = goVersion, "example.com/gobintest"
			}
			if b.GoVersion != wantVersion {
				t.Errorf("GoVersion = %q, want %q", b.GoVersion, wantVersion)
			}
			if b.ModulePath != wantModule {
				t.Errorf("ModulePath = %q, want %q", b.ModulePath, wantModule)
			}
			if b.Stripped != tg.stripped {
				t.Errorf("Stripped = %v, want %v", b.Stripped, tg.stripped)
			}
			if b.HasDWARF == tg.stripped {
				t.Errorf("HasDWARF = %v, want %v", b.HasDWARF, !tg.stripped)
			}
			if b.PIE != tg.pie {
				t.Errorf("PIE = %v, want %v", b.PIE, tg.pie)
			}
			if b.Machine != elf.EM_X86_64 {
				t.Errorf("Machine = %v", b.Machine)
			}
			if isGo {
				if v, ok := b.ModuleVersion("example.com/gobintest"); !ok || v != "(devel)" {
					t.Errorf(`ModuleVersion(main) = %q, %v; want "(devel)", true`, v, ok)
				}
				if _, ok := b.ModuleVersion("google.golang.org/grpc"); ok {
					t.Error("ModuleVersion(grpc) found a module that is not in the build")
				}
			}
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("\x7fE"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, append([]byte("\x7fELF"), make([]byte, 60)...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing"), "no such file"},
		{text, "not an ELF file"},
		{short, "not an ELF file"},
		{dir, "is a directory"},
		{bad, "malformed ELF file"},
	} {
		b, err := Open(tc.path)
		if err == nil {
			b.Close()
			t.Errorf("Open(%s) succeeded", tc.path)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("Open(%s) = %v; want an error naming the file and saying %q", tc.path, err, tc.want)
		}
	}
}

// nmFuncs runs go tool nm on path: name -> address of text symbols.
func nmFuncs(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	findGo()
	out, err := exec.Command(goCmd, "tool", "nm", path).Output()
	if err != nil {
		t.Fatalf("go tool nm %s: %v", path, err)
	}
	m := map[string]uint64{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 3 || (f[1] != "T" && f[1] != "t") {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		m[strings.Join(f[2:], " ")] = a
	}
	return m
}

func TestFuncsGo(t *testing.T) {
	for _, name := range []string{"go", "go-stripped", "go-pie", "go-pie-stripped", "go-ext", "go-ext-stripped"} {
		t.Run(name, func(t *testing.T) {
			tg := targetByName(name)
			b := open(t, name)
			fs, err := b.Funcs("main.*")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Func{}
			for i, f := range fs {
				if i > 0 && (fs[i-1].Name > f.Name || fs[i-1].Name == f.Name && fs[i-1].Addr >= f.Addr) {
					t.Errorf("not sorted and deduplicated: %s@%#x after %s@%#x", f.Name, f.Addr, fs[i-1].Name, fs[i-1].Addr)
				}
				if !strings.HasPrefix(f.Name, "main.") {
					t.Errorf("Funcs(main.*) returned %s", f.Name)
				}
				got[f.Name] = f
			}
			for _, n := range mainFuncs {
				if _, ok := got[n]; !ok {
					t.Errorf("Funcs(main.*) misses %s", n)
				}
			}
			src, _ := b.FuncSources()
			wantSrc := SourceSymtab
			if tg.stripped {
				wantSrc = SourceGopclntab
			}
			if len(src) == 0 || src[0] != wantSrc {
				t.Errorf("FuncSources = %v, want %s first", src, wantSrc)
			}

			// Addresses agree with go tool nm on the unstripped build of the
			// same layout (the twin for stripped builds).
			ref := name
			if tg.twin != "" {
				ref = tg.twin
			}
			nm := nmFuncs(t, build(t, ref))
			text := b.ELF().Section(".text")
			for _, n := range mainFuncs {
				f := got[n]
				if nm[n] == 0 || f.Addr != nm[n] {
					t.Errorf("%s: Addr = %#x, go tool nm (%s) says %#x", n, f.Addr, ref, nm[n])
				}
				// Independent offset: through the .text section header.
				if want := f.Addr - text.Addr + text.Offset; f.Offset != want {
					t.Errorf("%s: Offset = %#x, want %#x", n, f.Offset, want)
				}
				if f.Size == 0 {
					t.Errorf("%s: Size = 0", n)
				}
			}
			if !tg.pie && got["main.add"].Offset != got["main.add"].Addr-0x400000 {
				t.Errorf("non-PIE main.add: Offset %#x, Addr %#x: want Addr-0x400000", got["main.add"].Offset, got["main.add"].Addr)
			}
		})
	}
}

// TestPclntabMatchesSymtab checks every function recovered from
// .gopclntab of a stripped build against the symbol table of its twin:
// this verifies runtime.text, which Go 1.26 no longer stores in
// pcHeader.textStart.
func TestPclntabMatchesSymtab(t *testing.T) {
	for _, name := range []string{"go-stripped", "go-pie-stripped", "go-ext-stripped"} {
		t.Run(name, func(t *testing.T) {
			tg := targetByName(name)
			b := open(t, name)
			twin := open(t, tg.twin)
			all, err := b.Funcs("")
			if err != nil {
				t.Fatal(err)
			}
			ref, err := twin.Funcs("")
			if err != nil {
				t.Fatal(err)
			}
			type key struct {
				name string
				addr uint64
			}
			inSymtab := map[key]bool{}
			for _, f := range ref {
				inSymtab[key{f.Name, f.Addr}] = true
			}
			bad, abi0 := 0, 0
			for _, f := range all {
				switch {
				case inSymtab[key{f.Name, f.Addr}]:
				case inSymtab[key{f.Name + ".abi0", f.Addr}]:
					abi0++ // an assembly function; see Func
					if g, err := twin.Func(f.Name); err != nil || g.Addr != f.Addr && !inSymtab[key{f.Name, g.Addr}] {
						t.Errorf("twin.Func(%s) = %+v, %v; want the .abi0 symbol at %#x", f.Name, g, err, f.Addr)
					}
				default:
					if bad++; bad <= 5 {
						t.Errorf("%s: pclntab address %#x is not in the symbol table", f.Name, f.Addr)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d functions disagree", bad, len(all))
			}
			t.Logf("%s: %d of %d .gopclntab functions are .abi0 in .symtab", name, abi0, len(all))

			text, src, err := b.GoTextStart()
			if err != nil {
				t.Fatal(err)
			}
			want, wsrc, err := twin.GoTextStart()
			if err != nil {
				t.Fatal(err)
			}
			if src != TextFromModuledata || wsrc != TextFromSymtab || text != want {
				t.Errorf("GoTextStart = %#x (%s), twin %#x (%s); want the same address, from moduledata", text, src, want, wsrc)
			}
			sec := b.ELF().Section(".text").Addr
			hdr := make([]byte, 32)
			if _, err := b.ELF().Section(".gopclntab").ReadAt(hdr, 0); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d functions from .gopclntab; runtime.text %#x, .text section %#x, pcHeader.textStart %#x",
				name, len(all), text, sec, b.ELF().ByteOrder.Uint64(hdr[24:]))
			if minor, _ := goMinor(b.GoVersion); minor >= 26 && b.ELF().ByteOrder.Uint64(hdr[24:]) != 0 {
				t.Logf("note: pcHeader.textStart is no longer zero in %s", b.GoVersion)
			}
			if tg.cgo && sec == text {
				t.Logf("note: external linking put runtime.text at the start of .text")
			}
		})
	}
}

func TestFunc(t *testing.T) {
	b := open(t, "go-stripped")
	f, err := b.Func("main.add")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "main.add" || f.Addr == 0 || f.Offset == 0 {
		t.Errorf("Func(main.add) = %+v", f)
	}
	for _, tc := range []struct{ query, want string }{
		{"main.ad", "main.add"},
		{"main.gret", "main.greet"},
		{"add", "main.add"},
		{"main.(*Counter).inc", "main.(*Counter).Inc"},
	} {
		_, err := b.Func(tc.query)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Func(%q) error %v does not wrap ErrNotFound", tc.query, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Func(%q) error %q does not suggest %s", tc.query, err, tc.want)
		}
	}
	_, err = b.Func("zzzzzzzzzzzzzzzzzzzzzz")
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("Func(nonsense) = %v; want a plain not-found error", err)
	}
	// The suggestions are typed, for a caller's "did you mean" hint.
	_, err = b.Func("main.gret")
	var nf *NotFoundError
	if !errors.As(err, &nf) || len(nf.Nearest) == 0 || nf.Nearest[0] != "main.greet" || nf.Name != "main.gret" {
		t.Errorf("Func(main.gret) = %#v; want a *NotFoundError with main.greet first", err)
	}
	// '?' is a wildcard, as in the kernel's uprobe globs.
	if fs, err := b.Funcs("main.ad?"); err != nil || len(fs) != 1 || fs[0].Name != "main.add" {
		t.Errorf("Funcs(main.ad?) = %v, %v", fs, err)
	}
}

// objdumpRETs counts RET instructions of fn with go tool objdump.
func objdumpRETs(t *testing.T, path, fn string) int {
	t.Helper()
	findGo()
	out, err := exec.Command(goCmd, "tool", "objdump", "-s", "^"+regexp.QuoteMeta(fn)+"$", path).Output()
	if err != nil {
		t.Fatalf("go tool objdump: %v", err)
	}
	n := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[len(f)-1] == "RET" {
			n++
		}
	}
	return n
}

func TestReturnOffsetsGo(t *testing.T) {
	for _, name := range []string{"go", "go-stripped", "go-pie", "go-ext-stripped"} {
		t.Run(name, func(t *testing.T) {
			b := open(t, name)
			data, err := os.ReadFile(b.Path)
			if err != nil {
				t.Fatal(err)
			}
			ref := build(t, name)
			if tg := targetByName(name); tg.twin != "" {
				ref = build(t, tg.twin)
			}
			for _, tc := range []struct {
				fn   string
				want int // expected RET count, 0 = take objdump's
			}{
				{"main.add", 1},
				{"main.fib", 0},
				{"main.classify", 0},
				{"main.(*Counter).Inc", 0},
				{"main.greet", 0},
				{"main.main", 0},
				{"runtime.gopark", 1},
				{"net/http.serverHandler.ServeHTTP", -1}, // not linked in: must be a clean miss
			} {
				f, err := b.Func(tc.fn)
				if tc.want < 0 {
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("Func(%s) = %v, want ErrNotFound", tc.fn, err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				offs, err := b.ReturnOffsets(f)
				if err != nil {
					t.Fatalf("ReturnOffsets(%s): %v", tc.fn, err)
				}
				want := tc.want
				if n := objdumpRETs(t, ref, tc.fn); want == 0 {
					want = n
				} else if n != want {
					t.Errorf("%s: go tool objdump counts %d RETs, expected %d", tc.fn, n, want)
				}
				if len(offs) != want || want == 0 {
					t.Errorf("%s: %d RETs %#x, want %d", tc.fn, len(offs), offs, want)
				}
				for _, o := range offs {
					if o < f.Offset || o >= f.Offset+f.Size {
						t.Errorf("%s: RET offset %#x outside [%#x, %#x)", tc.fn, o, f.Offset, f.Offset+f.Size)
					} else if data[o] != 0xc3 {
						t.Errorf("%s: byte at RET offset %#x is %#x, want 0xc3", tc.fn, o, data[o])
					}
				}
				t.Logf("%s: %d RET(s)", tc.fn, len(offs))
			}
		})
	}
}

// TestReturnOffsetsAllGoFuncs decodes every function of a Go binary,
// compiled and assembly alike; only the zero-size markers runtime.text and
// runtime.etext fail.
func TestReturnOffsetsAllGoFuncs(t *testing.T) {
	b := open(t, "go")
	fs, err := b.Funcs("")
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	rets := 0
	for _, f := range fs {
		offs, err := b.ReturnOffsets(f)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		rets += len(offs)
	}
	t.Logf("%d functions, %d RETs, %d not decodable", len(fs), rets, len(failed))
	for _, e := range failed {
		t.Log(e)
	}
	for _, e := range failed {
		if !strings.Contains(e, "size is unknown") {
			t.Errorf("decoding failed: %s", e)
		}
	}
}

// objdumpReturns runs GNU objdump on path and returns the addresses of its
// near return instructions.
func objdumpReturns(t *testing.T, path string) map[uint64]bool {
	t.Helper()
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("GNU objdump (binutils) is not installed")
	}
	out, err := exec.Command(objdump, "-d", "--no-show-raw-insn", path).Output()
	if err != nil {
		t.Fatalf("objdump -d %s: %v", path, err)
	}
	rets := map[uint64]bool{}
	for line := range strings.Lines(string(out)) {
		addr, insn, ok := strings.Cut(strings.TrimSpace(line), ":\t")
		if !ok {
			continue
		}
		a, err := strconv.ParseUint(addr, 16, 64)
		if err != nil {
			continue
		}
		f := strings.Fields(insn)
		for len(f) > 1 && (f[0] == "repz" || f[0] == "rep" || f[0] == "bnd" || f[0] == "notrack") {
			f = f[1:]
		}
		if len(f) > 0 && (f[0] == "ret" || f[0] == "retq") {
			rets[a] = true
		}
	}
	return rets
}

// TestReturnOffsetsMatchObjdump compares the RETs of every function with
// GNU objdump's disassembly: linear decoding must neither miss a RET nor
// find one inside another instruction.
func TestReturnOffsetsMatchObjdump(t *testing.T) {
	for _, name := range []string{"go", "go-ext", "c", "c-nopie"} {
		t.Run(name, func(t *testing.T) {
			b := open(t, name)
			want := objdumpReturns(t, b.Path)
			fs, err := b.Funcs("")
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			checked, rets := 0, 0
			for _, f := range fs {
				offs, err := b.ReturnOffsets(f)
				if err != nil {
					failed = append(failed, f.Name)
					if f.Size != 0 { // size-0 symbols: runtime.text, crt's frame_dummy, _init …
						t.Errorf("%s: %v", f.Name, err)
					}
					continue
				}
				checked++
				got := map[uint64]bool{}
				for _, o := range offs {
					got[f.Addr+o-f.Offset] = true
				}
				rets += len(got)
				for a := range want {
					if a >= f.Addr && a < f.Addr+f.Size && !got[a] {
						t.Errorf("%s: objdump has a RET at %#x that ReturnOffsets misses", f.Name, a)
					}
				}
				for a := range got {
					if !want[a] {
						t.Errorf("%s: ReturnOffsets has a RET at %#x that objdump does not", f.Name, a)
					}
				}
			}
			t.Logf("%s: %d functions checked, %d RETs; not decodable: %v", name, checked, rets, failed)
		})
	}
}

func TestReturnOffsetsErrors(t *testing.T) {
	b := open(t, "go")
	if _, err := b.ReturnOffsets(Func{Name: "x", Addr: 0x401000}); err == nil || !strings.Contains(err.Error(), "size") {
		t.Errorf("zero size: %v", err)
	}
	if _, err := b.ReturnOffsets(Func{Name: "x", Addr: 0x10, Size: 4}); err == nil || !strings.Contains(err.Error(), "PT_LOAD") {
		t.Errorf("unmapped address: %v", err)
	}
	// Undecodable bytes stop decoding with an error.
	// vzeroupper (2- and 3-byte VEX), vzeroall, then ret: x86asm alone
	// reads VZEROUPPER one byte too long.
	pcs, err := returnPCs([]byte{0xc5, 0xf8, 0x77, 0xc4, 0xe1, 0x78, 0x77, 0xc5, 0xfc, 0x77, 0xc3})
	if err != nil || !slices.Equal(pcs, []int{10}) {
		t.Errorf("returnPCs(vzeroupper; vzeroupper; vzeroall; ret) = %v, %v; want [10]", pcs, err)
	}
	for _, code := range [][]byte{{0x90, 0x0f, 0xff}, {0x90, 0x06}, {0x90, 0xf3, 0x0f, 0x1e, 0xfa}} {
		if _, err := returnPCs(code); err == nil || !strings.Contains(err.Error(), "+0x1") {
			t.Errorf("returnPCs(% x) = %v; want an error at +0x1", code, err)
		}
	}
	pcs, err = returnPCs([]byte{0xf3, 0x0f, 0x1e, 0xfa, 0x31, 0xc0, 0xc3, 0xf3, 0xc3, 0xc2, 0x08, 0x00, 0xcb})
	if err != nil || !slices.Equal(pcs, []int{6, 7, 9}) {
		t.Errorf("returnPCs(endbr64; xor; ret; rep ret; ret 8; lret) = %v, %v; want [6 7 9]", pcs, err)
	}
}

func TestC(t *testing.T) {
	for _, name := range []string{"c", "c-nopie", "c-stripped"} {
		t.Run(name, func(t *testing.T) {
			tg := targetByName(name)
			b := open(t, name)
			if b.IsGo || b.GoVersion != "" || b.BuildInfo != nil {
				t.Errorf("IsGo %v, GoVersion %q", b.IsGo, b.GoVersion)
			}
			fs, err := b.Funcs("work")
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 || fs[0].Name != "work" {
				t.Fatalf("Funcs(work) = %+v", fs)
			}
			f := fs[0]
			src, _ := b.FuncSources()
			wantSrc := SourceSymtab
			if tg.stripped {
				wantSrc = SourceDynsym
			}
			if !slices.Equal(src, []FuncSource{wantSrc}) {
				t.Errorf("FuncSources = %v, want [%s]", src, wantSrc)
			}
			text := b.ELF().Section(".text")
			if want := f.Addr - text.Addr + text.Offset; f.Offset != want {
				t.Errorf("Offset = %#x, want %#x", f.Offset, want)
			}
			if !tg.pie && f.Offset != f.Addr-0x400000 {
				t.Errorf("non-PIE: Offset %#x, Addr %#x", f.Offset, f.Addr)
			}
			data, err := os.ReadFile(b.Path)
			if err != nil {
				t.Fatal(err)
			}
			endbr := bytes.HasPrefix(data[f.Offset:], endbr64)
			offs, err := b.ReturnOffsets(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(offs) == 0 {
				t.Fatal("no RET found in work")
			}
			for _, o := range offs {
				if data[o] != 0xc3 && !(data[o] == 0xf3 && data[o+1] == 0xc3) {
					t.Errorf("byte at RET offset %#x is %#x", o, data[o])
				}
			}
			t.Logf("work: %d RET(s), ENDBR64 at entry: %v", len(offs), endbr)
			if tg.name == "c-nopie" && !endbr {
				t.Error("-fcf-protection=full build has no ENDBR64 at the entry of work")
			}
			if _, err := b.Params("work"); err == nil || !strings.Contains(err.Error(), "not a Go binary") {
				t.Errorf("Params on C: %v", err)
			}
			if _, err := b.GoidOffset(); err == nil {
				t.Error("GoidOffset on a C binary succeeded")
			}
		})
	}
}

// p builds an expected Param compactly.
func p(name, typ string, kind ParamKind, size int, regs ...int) Param {
	return Param{Name: name, Type: typ, Kind: kind, Size: size, Regs: regs}
}

// stack builds an expected stack-assigned Param.
func stack(name, typ string, kind ParamKind, size, off int) Param {
	return Param{Name: name, Type: typ, Kind: kind, Size: size, OnStack: true, StackOffset: off}
}

// fp builds an expected Param in floating-point registers.
func fp(name, typ string, size int, regs ...int) Param {
	return Param{Name: name, Type: typ, Kind: KindFloat, Size: size, FloatRegs: regs}
}

func TestParams(t *testing.T) {
	tests := []struct {
		fn              string
		params, results []Param
	}{
		{"main.add",
			[]Param{p("a", "int", KindInt, 8, 0), p("b", "int", KindInt, 8, 1)},
			[]Param{p("~r0", "int", KindInt, 8, 0)}},
		{"main.greet",
			[]Param{p("name", "string", KindString, 16, 0, 1), p("n", "int", KindInt, 8, 2)},
			[]Param{p("~r0", "string", KindString, 16, 0, 1)}},
		{"main.fib",
			[]Param{p("n", "int", KindInt, 8, 0)},
			[]Param{p("~r0", "int", KindInt, 8, 0)}},
		{"main.(*Counter).Inc",
			[]Param{p("c", "*main.Counter", KindPointer, 8, 0), p("delta", "int", KindInt, 8, 1), p("label", "string", KindString, 16, 2, 3)},
			[]Param{p("~r0", "int", KindInt, 8, 0), p("~r1", "error", KindInterface, 16, 1, 2)}},
		{"main.Counter.Get", // a value receiver: the struct's words split
			[]Param{p("c", "main.Counter", KindOther, 24, 0, 1, 2)},
			[]Param{p("~r0", "int", KindInt, 8, 0)}},
		{"main.divmod",
			[]Param{p("x", "int", KindInt, 8, 0), p("y", "int", KindInt, 8, 1)},
			[]Param{p("q", "int", KindInt, 8, 0), p("r", "int", KindInt, 8, 1), p("err", "error", KindInterface, 16, 2, 3)}},
		{"main.mixed", // floats in X registers, an array and a struct that no longer fits on the stack
			[]Param{
				fp("f", "float64", 8, 0),
				p("ok", "bool", KindBool, 1, 0),
				p("buf", "[]uint8", KindSlice, 24, 1, 2, 3),
				stack("arr", "[2]int", KindOther, 16, 0),
				p("x", "uint8", KindUint, 1, 4),
				p("err", "error", KindInterface, 16, 5, 6),
				p("p", "*main.Counter", KindPointer, 8, 7),
				stack("pr", "main.Pair", KindOther, 32, 16),
			},
			[]Param{fp("~r0", "float64", 8, 0), stack("~r1", "[2]int", KindOther, 16, 48), p("~r2", "bool", KindBool, 1, 0)}},
		{"main.many", // nine ints fill the registers; the rest go on the stack
			[]Param{
				p("a", "int", KindInt, 8, 0), p("b", "int", KindInt, 8, 1), p("c", "int", KindInt, 8, 2),
				p("d", "int", KindInt, 8, 3), p("e", "int", KindInt, 8, 4), p("f", "int", KindInt, 8, 5),
				p("g", "int", KindInt, 8, 6), p("h", "int", KindInt, 8, 7), p("i", "int", KindInt, 8, 8),
				stack("s", "string", KindString, 16, 0), stack("j", "int", KindInt, 8, 16),
			},
			[]Param{p("~r0", "int", KindInt, 8, 0)}},
		{"main.unused", // a blank parameter still takes its registers
			[]Param{p("a", "int", KindInt, 8, 0), p("~p1", "string", KindString, 16, 1, 2), p("c", "int", KindInt, 8, 3)},
			[]Param{p("~r0", "int", KindInt, 8, 0)}},
		{"main.sum",
			[]Param{p("xs", "[]int", KindSlice, 24, 0, 1, 2)},
			[]Param{p("total", "int", KindInt, 8, 0)}},
		{"main.square", // inlined elsewhere: abstract entry + out-of-line copy
			[]Param{p("x", "int", KindInt, 8, 0)},
			[]Param{p("~r0", "int", KindInt, 8, 0)}},
		{"main.lookup", // DWARF lists the blank result "~r0" twice
			[]Param{p("key", "string", KindString, 16, 0, 1)},
			[]Param{p("~r0", "*main.Counter", KindPointer, 8, 0), p("err", "error", KindInterface, 16, 1, 2)}},
		{"main.pick",
			[]Param{p("a", "int", KindInt, 8, 0), p("~p1", "string", KindString, 16, 1, 2), fp("b", "float64", 8, 0)},
			[]Param{p("r", "int", KindInt, 8, 0)}},
	}
	for _, name := range []string{"go", "go-pie"} {
		b := open(t, name)
		for _, tc := range tests {
			t.Run(name+"/"+tc.fn, func(t *testing.T) {
				params, err := b.Params(tc.fn)
				if err != nil {
					t.Fatal(err)
				}
				results, err := b.Results(tc.fn)
				if err != nil {
					t.Fatal(err)
				}
				comparePar(t, "param", params, tc.params)
				comparePar(t, "result", results, tc.results)
			})
		}
	}
}

func comparePar(t *testing.T, what string, got, want []Param) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d %ss, want %d:\n got %s\nwant %s", len(got), what, len(want), fmtParams(got), fmtParams(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Type != w.Type || g.Kind != w.Kind || g.Size != w.Size ||
			!slices.Equal(g.Regs, w.Regs) || !slices.Equal(g.FloatRegs, w.FloatRegs) ||
			g.OnStack != w.OnStack || g.StackOffset != w.StackOffset {
			t.Errorf("%s %d:\n got %s\nwant %s", what, i, fmtParams(got[i:i+1]), fmtParams(want[i:i+1]))
		}
		if n := len(g.Regs) + len(g.FloatRegs); n != len(g.Pieces) {
			t.Errorf("%s %s: %d pieces for %d registers", what, g.Name, len(g.Pieces), n)
		}
	}
}

func fmtParams(ps []Param) string {
	var s []string
	for _, p := range ps {
		loc := fmt.Sprintf("regs %v fregs %v", p.Regs, p.FloatRegs)
		if p.OnStack {
			loc = fmt.Sprintf("stack+%d", p.StackOffset)
		}
		s = append(s, fmt.Sprintf("{%s %s %s size %d %s}", p.Name, p.Type, p.Kind, p.Size, loc))
	}
	return strings.Join(s, " ")
}

func TestParamsPieces(t *testing.T) {
	b := open(t, "go")
	ps, err := b.Params("main.Counter.Get")
	if err != nil {
		t.Fatal(err)
	}
	want := []Piece{{Offset: 0, Size: 8, Reg: 0}, {Offset: 8, Size: 8, Reg: 1}, {Offset: 16, Size: 8, Reg: 2}}
	if len(ps) != 1 || !slices.Equal(ps[0].Pieces, want) {
		t.Errorf("Counter.Get receiver pieces = %+v, want %+v", ps, want)
	}
	if got := ps[0].RegNames(); !slices.Equal(got, []string{"rax", "rbx", "rcx"}) {
		t.Errorf("RegNames = %v", got)
	}
}

func TestParamsErrors(t *testing.T) {
	stripped := open(t, "go-stripped")
	_, err := stripped.Params("main.greet")
	if !errors.Is(err, ErrNoDWARF) || !strings.Contains(err.Error(), "main.greet") || strings.Count(err.Error(), "gobin:") != 1 {
		t.Errorf("Params on a stripped binary: %v; want ErrNoDWARF naming the function", err)
	} else {
		t.Log(err)
	}
	if _, err := stripped.FieldOffset("runtime.g", "goid"); !errors.Is(err, ErrNoDWARF) || strings.Count(err.Error(), "gobin:") != 1 {
		t.Errorf("FieldOffset on a stripped binary: %v", err)
	}
	b := open(t, "go")
	_, err = b.Params("main.gret")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "main.greet") {
		t.Errorf("Params(main.gret) = %v; want ErrNotFound suggesting main.greet", err)
	}
	fs, err := b.DWARFFuncs("main.*")
	if err != nil || !slices.Contains(fs, "main.greet") || !slices.Contains(fs, "main.square") {
		t.Errorf("DWARFFuncs(main.*) = %v, %v", fs, err)
	}
}

// TestParamsRuntime assigns every function DWARF describes, to find types
// the ABI code cannot handle.
func TestParamsRuntime(t *testing.T) {
	b := open(t, "go")
	fs, err := b.DWARFFuncs("")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fs {
		if _, err := b.Params(fn); err != nil {
			t.Errorf("Params(%s): %v", fn, err)
		}
	}
	t.Logf("%d functions in DWARF", len(fs))
	// runtime.gopark(unlockf, lock, reason waitReason, traceReason, traceskip): reason in CL (RCX).
	ps, err := b.Params("runtime.gopark")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) < 3 || ps[2].Name != "reason" || !slices.Equal(ps[2].Regs, []int{2}) || ps[2].Size != 1 {
		t.Errorf("runtime.gopark params = %s; want reason (1 byte) in RCX", fmtParams(ps))
	}
	// runtime.ready(gp *g, traceskip int, next bool): gp in RAX.
	if ps, err := b.Params("runtime.ready"); err != nil || len(ps) == 0 || ps[0].Name != "gp" || !slices.Equal(ps[0].Regs, []int{0}) {
		t.Errorf("runtime.ready params = %s, %v", fmtParams(ps), err)
	}
}

func TestGoidOffset(t *testing.T) {
	b := open(t, "go")
	minor, ok := goMinor(b.GoVersion)
	if !ok {
		t.Fatalf("cannot parse %q", b.GoVersion)
	}
	stripped := open(t, "go-stripped")
	for _, field := range GFields {
		fromDWARF, err := b.FieldOffset("runtime.g", field)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.GFieldOffset(field)
		if err != nil || got != fromDWARF {
			t.Errorf("GFieldOffset(%s) = %d, %v; DWARF says %d", field, got, err, fromDWARF)
		}
		fromTable, err := stripped.GFieldOffset(field)
		if tab, known := gFieldTable[minor]; known {
			if err != nil || fromTable != fromDWARF || tab[field] != fromDWARF {
				t.Errorf("%s: table gives %d (%v) for runtime.g.%s; DWARF says %d", b.GoVersion, fromTable, err, field, fromDWARF)
			}
		} else if err == nil {
			t.Errorf("%s is not in the table, but the stripped build got %d", b.GoVersion, fromTable)
		}
		t.Logf("%s runtime.g.%s = %d", b.GoVersion, field, fromDWARF)
	}
	goid, err := b.GoidOffset()
	if want, _ := b.FieldOffset("runtime.g", "goid"); err != nil || goid != want {
		t.Errorf("GoidOffset = %d, %v; want %d", goid, err, want)
	}
	if _, err := b.FieldOffset("runtime.g", "nosuchfield"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FieldOffset(nosuchfield) = %v", err)
	}
	if off, err := b.FieldOffset("runtime.g", "sched.sp"); err != nil || off == 0 {
		t.Errorf("FieldOffset(runtime.g, sched.sp) = %d, %v", off, err)
	}
	if off, err := b.FieldOffset("main.Pair", "C"); err != nil || off != 16 {
		t.Errorf("FieldOffset(main.Pair, C) = %d, %v; want 16", off, err)
	}

	// The table: versions outside it are an error without DWARF.
	for _, tc := range []struct {
		version string
		want    int
	}{
		{"go1.21.0", 152}, {"go1.22.12", 152}, {"go1.23.0", 160}, {"go1.24.4", 160},
		{"go1.25.0", 152}, {"go1.26.8", 152}, {"go1.26rc1", 152}, {"devel go1.26-abcdef", 152},
		{"go1.17.13", 152}, {"go1.18.3", 152}, {"go1.19.8", 152}, {"go1.20.14", 152},
		{"go1.16.15", -1}, {"go1.27.0", -1}, {"", -1},
	} {
		fake := &Binary{Path: "fake", IsGo: true, GoVersion: tc.version}
		got, err := fake.GoidOffset()
		switch {
		case tc.want < 0 && err == nil:
			t.Errorf("%q: GoidOffset = %d, want an error", tc.version, got)
		case tc.want >= 0 && (err != nil || got != tc.want):
			t.Errorf("%q: GoidOffset = %d, %v; want %d", tc.version, got, err, tc.want)
		}
	}
}

func TestWaitReasons(t *testing.T) {
	b := open(t, "go")
	fromSym, src, err := b.WaitReasonSource()
	if err != nil || src != WaitReasonsFromSymbol {
		t.Fatalf("WaitReasonSource = %s, %v; want the symbol", src, err)
	}
	minor, _ := goMinor(b.GoVersion)
	fromTable, err := waitReasonTable(minor)
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(fromSym, fromTable) {
		t.Errorf("runtime.waitReasonStrings of %s differs from the table:\nsymbol %v\ntable  %v", b.GoVersion, fromSym, fromTable)
	}
	// Every build finds the same array: through the symbol, or through
	// waitReason.String's code when stripped (PIE: through relocations).
	for _, tc := range []struct{ name, src string }{
		{"go-stripped", WaitReasonsFromCode}, {"go-pie", WaitReasonsFromSymbol}, {"go-pie-stripped", WaitReasonsFromCode},
		{"go-ext", WaitReasonsFromSymbol}, {"go-ext-stripped", WaitReasonsFromCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := open(t, tc.name)
			m, src, err := o.WaitReasonSource()
			if err != nil || src != tc.src || !mapsEqual(m, fromSym) {
				t.Errorf("WaitReasonSource = %s, %v; want %s and the non-PIE build's names; got %v", src, err, tc.src, m)
			}
		})
	}
	code, err := b.waitReasonsFromCode()
	if err != nil || !mapsEqual(code, fromSym) {
		t.Errorf("waitReasonsFromCode = %v, %v; want the symbol's", code, err)
	}
	if fromSym[0] != "" || len(fromSym) < 30 {
		t.Errorf("WaitReasons = %v", fromSym)
	}
	rev := map[string]uint8{}
	for v, s := range fromSym {
		rev[s] = v
	}
	t.Logf("%s: %d wait reasons; chan receive = %d, select = %d, sync.Mutex.Lock = %d, IO wait = %d",
		b.GoVersion, len(fromSym), rev["chan receive"], rev["select"], rev["sync.Mutex.Lock"], rev["IO wait"])
	for minor := 17; minor <= 26; minor++ {
		m, err := waitReasonTable(minor)
		if err != nil {
			t.Error(err)
			continue
		}
		// The values are dense: 0..len-1 all named.
		for v := 0; v < len(m); v++ {
			if _, ok := m[uint8(v)]; !ok {
				t.Errorf("go1.%d: value %d missing among %d", minor, v, len(m))
			}
		}
	}
	if _, err := waitReasonTable(16); err == nil {
		t.Error("waitReasonTable(16) succeeded")
	}
	for _, tc := range []struct {
		minor int
		v     uint8
		name  string
	}{{17, 21, "timer goroutine (idle)"}, {19, 18, "semacquire"}, {20, 21, "sync.Mutex.Lock"}, {21, 14, "chan receive"}, {26, 19, "chan receive"}, {21, 0, ""}} {
		m, err := waitReasonTable(tc.minor)
		if err != nil || m[tc.v] != tc.name {
			t.Errorf("waitReasonTable(%d)[%d] = %q, %v; want %q", tc.minor, tc.v, m[tc.v], err, tc.name)
		}
	}
}

// TestWaitReasonsDebian reads the wait reasons of Debian's stripped Go
// programs (prometheus and etcd: go1.19.8; go-md2man: go1.18.3) from
// their code, and checks the table against them.
func TestWaitReasonsDebian(t *testing.T) {
	for _, path := range []string{"/usr/bin/prometheus", "/usr/bin/etcd", "/usr/bin/go-md2man"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s is not installed (make deps installs prometheus, etcd-server, go-md2man)", path)
			}
			b, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			m, src, err := b.WaitReasonSource()
			if err != nil || src != WaitReasonsFromCode {
				t.Fatalf("WaitReasonSource = %s, %v", src, err)
			}
			minor, _ := goMinor(b.GoVersion)
			tab, err := waitReasonTable(minor)
			if err != nil || !mapsEqual(m, tab) {
				t.Errorf("%s: code gives %v\ntable %v (%v)", b.GoVersion, m, tab, err)
			}
		})
	}
}

func mapsEqual(a, b map[uint8]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestReadPointerPIE(t *testing.T) {
	// runtime.firstmoduledata's first word points at .gopclntab; in a PIE
	// it is also the target of an R_X86_64_RELATIVE relocation.
	b := open(t, "go-pie")
	s, err := b.Symbol("runtime.firstmoduledata")
	if err != nil {
		t.Fatal(err)
	}
	v, err := b.ReadPointer(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if want := b.ELF().Section(".gopclntab").Addr; v != want {
		t.Errorf("ReadPointer(firstmoduledata) = %#x, want %#x", v, want)
	}
	if _, ok := b.image().Relocated(s.Addr); !ok {
		t.Error("no RELATIVE relocation at runtime.firstmoduledata in a PIE")
	}
	if _, err := b.Symbol("runtime.nosuchsymbol"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Symbol(nosuch) = %v", err)
	}
}

// TestOtherToolchains repeats the version-dependent checks with other Go
// toolchains, named in GOBIN_TEST_TOOLCHAINS (e.g.
// "go1.21.0,go1.23.0,go1.25.0"); the go command fetches them as needed
// (GOTOOLCHAIN). Without the variable the test skips.
func TestOtherToolchains(t *testing.T) {
	list := os.Getenv("GOBIN_TEST_TOOLCHAINS")
	if list == "" {
		t.Skip("set GOBIN_TEST_TOOLCHAINS=go1.21.0,go1.23.0,... to check other Go versions")
	}
	findGo()
	if goCmd == "" {
		t.Skip("the go command is not available")
	}
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		t.Run(v, func(t *testing.T) {
			dir := t.TempDir()
			paths := map[string]string{}
			for _, variant := range []struct {
				name  string
				flags []string
			}{
				{"normal", nil},
				{"stripped", []string{"-ldflags=-s -w"}},
			} {
				out := filepath.Join(dir, variant.name)
				args := []string{"build", "-o", out}
				if m, _ := goMinor(v); m >= 18 {
					args = append(args, "-buildvcs=false") // new in Go 1.18
				}
				args = append(args, variant.flags...)
				cmd := exec.Command(goCmd, append(args, ".")...)
				cmd.Dir = filepath.Join("testdata", "goprog")
				cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+v, "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0")
				if msg, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
				}
				paths[variant.name] = out
			}
			b, err := Open(paths["normal"])
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			s, err := Open(paths["stripped"])
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if b.GoVersion != v || s.GoVersion != v {
				t.Errorf("GoVersion = %q, %q; want %q", b.GoVersion, s.GoVersion, v)
			}

			// runtime.g offsets: DWARF against the table.
			var line []string
			for _, field := range GFields {
				d, err := b.FieldOffset("runtime.g", field)
				if err != nil {
					t.Fatal(err)
				}
				tab, err := s.GFieldOffset(field)
				if err != nil || tab != d {
					t.Errorf("runtime.g.%s: DWARF %d, table %d (%v)", field, d, tab, err)
				}
				line = append(line, fmt.Sprintf("%s=%d", field, d))
			}

			// .gopclntab functions against the symbol table.
			// (Go 1.17's stripped builds give no text start: its pclntab
			// has none; functions come from the pclntab's own entries.)
			text, src, err := s.GoTextStart()
			if err != nil {
				t.Error(err)
			} else if want, _, _ := b.GoTextStart(); text != want {
				t.Errorf("GoTextStart = %#x (%s), want %#x", text, src, want)
			}
			sf, err := s.Funcs("main.*")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range sf {
				g, err := b.Func(f.Name)
				if err != nil || g.Addr != f.Addr || g.Offset != f.Offset {
					t.Errorf("%s: stripped %#x/%#x, symtab %#x/%#x (%v)", f.Name, f.Addr, f.Offset, g.Addr, g.Offset, err)
				}
			}
			hdr := make([]byte, 32)
			s.ELF().Section(".gopclntab").ReadAt(hdr, 0)

			// Wait reasons: runtime.waitReasonStrings against the table.
			fromSym, err := b.WaitReasons()
			if err != nil {
				t.Fatal(err)
			}
			fromCode, wsrc, err := s.WaitReasonSource()
			if err != nil || wsrc != WaitReasonsFromCode || !mapsEqual(fromSym, fromCode) {
				t.Errorf("wait reasons: symbol %v\n%s %v (%v)", fromSym, wsrc, fromCode, err)
			}
			minor, _ := goMinor(v)
			fromTab, err := waitReasonTable(minor)
			if err != nil || !mapsEqual(fromSym, fromTab) {
				t.Errorf("wait reasons: symbol %v\ntable %v (%v)", fromSym, fromTab, err)
			}

			// Parameters and RETs.
			ps, err := b.Params("main.greet")
			if err != nil || len(ps) != 2 || !slices.Equal(ps[0].Regs, []int{0, 1}) || !slices.Equal(ps[1].Regs, []int{2}) {
				t.Errorf("Params(main.greet) = %s, %v", fmtParams(ps), err)
			}
			rs, err := b.Results("main.lookup")
			if err != nil || len(rs) != 2 || !slices.Equal(rs[1].Regs, []int{1, 2}) {
				t.Errorf("Results(main.lookup) = %s, %v", fmtParams(rs), err)
			}
			ps, err = b.Params("main.(*Counter).Inc")
			if err != nil || len(ps) != 3 || ps[0].Name != "c" {
				t.Errorf("Params(main.(*Counter).Inc) = %s, %v", fmtParams(ps), err)
			}
			all, err := b.DWARFFuncs("")
			if err != nil {
				t.Fatal(err)
			}
			for _, fn := range all {
				if _, err := b.Params(fn); err != nil {
					t.Errorf("Params(%s): %v", fn, err)
				}
			}
			gp, _ := s.Func("runtime.gopark")
			rets, err := s.ReturnOffsets(gp)
			if err != nil {
				t.Error(err)
			}
			checkFrameOffset(t, s, gp)
			fa, _ := s.Func("main.add")
			addRets, err := s.ReturnOffsets(fa)
			if err != nil || len(addRets) != 1 {
				t.Errorf("main.add RETs %v, %v", addRets, err)
			}
			t.Logf("%s: runtime.g %s; runtime.text %#x (%s), pcHeader.textStart %#x; gopark RETs %d; %d wait reasons",
				v, strings.Join(line, " "), text, src, s.ELF().ByteOrder.Uint64(hdr[24:]), len(rets), len(fromSym))
		})
	}
}

func TestBodyOffset(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("skipped: no go command")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main

//go:noinline
func grow(n int) int {
	var frame [1024]byte
	frame[n%1024] = 1
	if n == 0 {
		return 0
	}
	return grow(n-1) + int(frame[n%1024])
}

//go:nosplit
//go:noinline
func leaf(a int) int { return a + 1 }

func main() { println(grow(10), leaf(1)) }
`), 0o644)
	exe := filepath.Join(dir, "prog")
	if out, err := exec.Command("go", "build", "-o", exe, src).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	grow, err := b.Func("main.grow")
	if err != nil {
		t.Fatal(err)
	}
	body, err := b.BodyOffset(grow)
	if err != nil {
		t.Fatal(err)
	}
	if body <= grow.Offset || body > grow.Offset+24 {
		t.Errorf("body of main.grow at %#x, entry %#x: want just after the stack check", body, grow.Offset)
	}
	// What precedes the body is the conditional jump to morestack.
	code, _ := b.ReadAt(grow.Addr, int(body-grow.Offset))
	if len(code) < 2 || (code[len(code)-2] != 0x76 && code[len(code)-6] != 0x0f) {
		t.Errorf("bytes before the body % x do not end in a JBE", code)
	}
	leaf, err := b.Func("main.leaf")
	if err != nil {
		t.Fatal(err)
	}
	if off, _ := b.BodyOffset(leaf); off != leaf.Offset {
		t.Errorf("nosplit main.leaf: body %#x, want its entry %#x", off, leaf.Offset)
	}
}

// checkFrameOffset checks that FrameOffset(f) lies just after f's frame
// pointer setup, which ends in `MOVQ SP, BP` (48 89 e5) or `LEAQ
// d(SP), BP` (48 8d 6c 24 d).
func checkFrameOffset(t *testing.T, b *Binary, f Func) {
	t.Helper()
	off, err := b.FrameOffset(f)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := b.BodyOffset(f)
	if off <= body || off > body+20 {
		t.Fatalf("%s: frame offset +%d, body +%d", f.Name, off-f.Offset, body-f.Offset)
	}
	code, err := b.ReadAt(f.Addr, int(off-f.Offset))
	if err != nil {
		t.Fatal(err)
	}
	mov := bytes.HasSuffix(code, []byte{0x48, 0x89, 0xe5})
	lea := len(code) >= 5 && bytes.Equal(code[len(code)-5:len(code)-1], []byte{0x48, 0x8d, 0x6c, 0x24})
	if !mov && !lea {
		t.Errorf("%s: the bytes before the frame offset, % x, are not MOVQ SP, BP or LEAQ d(SP), BP", f.Name, code)
	}
}

func TestFrameOffset(t *testing.T) {
	for _, name := range []string{"go", "go-stripped", "go-pie-stripped"} {
		t.Run(name, func(t *testing.T) {
			b := open(t, name)
			for _, fn := range []string{"runtime.gopark", "main.main"} {
				f, err := b.Func(fn)
				if err != nil {
					t.Fatal(err)
				}
				checkFrameOffset(t, b, f)
			}
		})
	}
	for _, path := range []string{"/usr/bin/prometheus", "/usr/bin/go-md2man"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s is not installed (make deps installs it)", path)
			}
			b, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			f, err := b.Func("runtime.gopark")
			if err != nil {
				t.Fatal(err)
			}
			checkFrameOffset(t, b, f)
		})
	}
	// Assembly without a frame has no such setup.
	b := open(t, "go")
	f, err := b.Func("runtime.memmove")
	if err != nil {
		t.Fatal(err)
	}
	if off, err := b.FrameOffset(f); err == nil {
		t.Errorf("FrameOffset(runtime.memmove) = %#x, want an error", off)
	}
}
