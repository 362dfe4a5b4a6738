package symbolize

import (
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ebpftrace/ebpftrace/internal/gomodule"
)

// findPclntab and goTextStart find the pclntab and the text start as
// the symbolizer does (through package gomodule).
func findPclntab(f *elf.File) ([]byte, uint64, bool) {
	d, a, err := gomodule.FindPclntab(f)
	return d, a, err == nil
}

func goTextStart(f *elf.File, _ []byte, _ uint64, useSymtab bool) (uint64, string) {
	tab, err := gomodule.Open(f, useSymtab)
	if err != nil {
		return 0, err.Error()
	}
	return tab.TextStart()
}

// Word indexes of runtime.moduledata fields (Go 1.16 to 1.26).
const (
	mdPcHeader  = 0
	mdPclntable = 13
	mdMinpc     = 20
	mdMaxpc     = 21
	mdText      = 22
	mdEtext     = 23
)

// goBuild describes one way of building testdata/goprog.
type goBuild struct {
	name     string
	flags    []string
	stripped bool
	cgo      bool // external linking: needs gcc
}

var goBuilds = []goBuild{
	{name: "default"},
	{name: "stripped", flags: []string{"-ldflags=-s -w"}, stripped: true},
	{name: "pie", flags: []string{"-buildmode=pie"}},
	{name: "pie-stripped", flags: []string{"-buildmode=pie", "-ldflags=-s -w"}, stripped: true},
	{name: "external", flags: []string{"-ldflags=-linkmode=external"}, cgo: true},
	{name: "external-stripped", flags: []string{"-ldflags=-linkmode=external -s -w"}, stripped: true, cgo: true},
	{name: "external-pie-stripped", flags: []string{"-buildmode=pie", "-ldflags=-linkmode=external -s -w"}, stripped: true, cgo: true},
}

// goBinaries builds testdata/goprog in every goBuilds way, once per test
// binary run.
type goBinaries struct {
	once sync.Once
	dir  string
	errs map[string]string
}

var builtGo goBinaries

// goBinary returns the path of the goprog build b, skipping the test if
// the tools it needs are missing.
func goBinary(t *testing.T, b goBuild) string {
	t.Helper()
	goTool := needTool(t, "go")
	if b.cgo {
		needTool(t, "gcc")
	}
	src, err := filepath.Abs("testdata/goprog")
	if err != nil {
		t.Fatal(err)
	}
	builtGo.once.Do(func() {
		builtGo.errs = map[string]string{}
		dir, err := tempDirOutsideTest()
		if err != nil {
			builtGo.errs[""] = err.Error()
			return
		}
		builtGo.dir = dir
		for _, b := range goBuilds {
			args := append([]string{"build", "-o", filepath.Join(dir, b.name)}, b.flags...)
			cmd := exec.Command(goTool, append(args, ".")...)
			cmd.Dir = src
			cmd.Env = append(cmd.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				builtGo.errs[b.name] = err.Error() + "\n" + string(out)
			}
		}
	})
	if e := builtGo.errs[""]; e != "" {
		t.Fatal(e)
	}
	if e := builtGo.errs[b.name]; e != "" {
		t.Fatalf("go build %v: %s", b.flags, e)
	}
	return filepath.Join(builtGo.dir, b.name)
}

// TestUserGo runs goprog built in each way and resolves main.work from
// its printed entry PC: from .symtab when present, else from .gopclntab
// with the text start found in moduledata (Go 1.26 leaves
// pcHeader.textStart 0).
func TestUserGo(t *testing.T) {
	for _, b := range goBuilds {
		t.Run(b.name, func(t *testing.T) {
			bin := goBinary(t, b)
			c := startChild(t, bin, "sleep")
			pc := c.dec(t, 0)
			u := NewUser()
			defer u.Close()
			if err := u.Snapshot(c.pid); err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				addr uint64
				want string
			}{
				{pc, "main.work+0"},
				{pc + 4, "main.work+4"},
			} {
				if got := u.Symbolize(c.pid, f.addr); got != f.want {
					t.Errorf("Symbolize(%#x) = %q, want %q", f.addr, got, f.want)
				}
			}
			// Source frames, as a profile needs them: main.work's entry
			// is on a line of its body.
			first := sourceLine(t, "testdata/goprog/main.go", "func work(")
			last := sourceLine(t, "testdata/goprog/main.go", "func main(") - 1
			if fr := u.Frames(c.pid, pc); len(fr) != 1 || fr[0].Func != "main.work" || fr[0].Line < first || fr[0].Line > last || !strings.HasSuffix(fr[0].File, "/main.go") || fr[0].Inlined {
				t.Errorf("Frames(main.work) = %+v; want main.work at main.go:%d-%d", fr, first, last)
			}
			// Which symbol source was used.
			u.mu.Lock()
			for _, fl := range u.files {
				if fl.info != nil && fl.path == bin {
					t.Logf("sources %v, Go text start %#x (%s)", fl.info.sources, fl.info.goText, fl.info.goTextHow)
					if want := !b.stripped; hasSource(fl.info.sources, ".symtab") != want {
						t.Errorf("sources %v: .symtab used = %v, want %v", fl.info.sources, !want, want)
					}
				}
			}
			u.mu.Unlock()
		})
	}
}

// sourceLine returns the number of the first line of file that starts
// with prefix.
func sourceLine(t *testing.T, file, prefix string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for l := range strings.Lines(string(data)) {
		n++
		if strings.HasPrefix(l, prefix) {
			return n
		}
	}
	t.Fatalf("%s has no line starting with %q", file, prefix)
	return 0
}

func hasSource(srcs []string, s string) bool {
	for _, x := range srcs {
		if x == s {
			return true
		}
	}
	return false
}

// TestGoTextStart checks, on the unstripped builds, that the text start
// found without .symtab equals the runtime.text symbol, and that every
// stripped build gets the runtime.text of its unstripped twin. It logs
// pcHeader.textStart, which Go 1.26 sets to 0.
func TestGoTextStart(t *testing.T) {
	runtimeText := map[string]uint64{}
	for _, b := range goBuilds {
		t.Run(b.name, func(t *testing.T) {
			bin := goBinary(t, b)
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pcln, addr, ok := findPclntab(f)
			if !ok {
				t.Fatal("no pclntab")
			}
			text, how := goTextStart(f, pcln, addr, false)
			hdr := binary.LittleEndian.Uint64(pcln[8+2*8:])
			textSect := f.Section(".text").Addr
			t.Logf("text start %#x from %s; pcHeader.textStart %#x; .text section %#x", text, how, hdr, textSect)

			twin := strings.TrimSuffix(b.name, "-stripped")
			if b.name == "stripped" {
				twin = "default"
			}
			if !b.stripped {
				rt := elfSymbol(t, bin, "runtime.text")
				runtimeText[b.name] = rt
				if text != rt {
					t.Errorf("text start %#x (%s), want runtime.text %#x", text, how, rt)
				}
			}
			if rt, ok := runtimeText[twin]; ok && text != rt {
				t.Errorf("text start %#x (%s), want %#x, runtime.text of %s", text, how, rt, twin)
			}

			// main.work through debug/gosym with that text start, and
			// with what the header says.
			work := func(start uint64) uint64 {
				tab, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, start))
				if err != nil {
					t.Fatal(err)
				}
				fn := tab.LookupFunc("main.work")
				if fn == nil {
					t.Fatal("no main.work in pclntab")
				}
				return fn.Entry
			}
			if !b.stripped {
				if got, want := work(text), elfSymbol(t, bin, "main.work"); got != want {
					t.Errorf("gosym main.work = %#x, want %#x", got, want)
				}
				if hdr == 0 {
					t.Logf("with pcHeader.textStart (0), gosym puts main.work at %#x", work(hdr))
				}
			}
		})
	}
}

// TestGoWithoutSections resolves main.work in copies of the stripped
// builds whose section headers are removed (as sstrip does): the pclntab
// is then found by its magic and runtime.moduledata by scanning the
// writable segments for a pointer to it.
func TestGoWithoutSections(t *testing.T) {
	for _, b := range goBuilds {
		if !b.stripped {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			bin := goBinary(t, b)
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			pcln, addr, ok := findPclntab(f)
			if !ok {
				t.Fatal("no pclntab")
			}
			text, _ := goTextStart(f, pcln, addr, false)
			tab, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, text))
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			work := tab.LookupFunc("main.work").Entry

			data, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint64(data[0x28:], 0) // e_shoff
			binary.LittleEndian.PutUint16(data[0x3c:], 0) // e_shnum
			binary.LittleEndian.PutUint16(data[0x3e:], 0) // e_shstrndx
			cp := filepath.Join(t.TempDir(), "nosections")
			if err := os.WriteFile(cp, data, 0o755); err != nil {
				t.Fatal(err)
			}
			g, err := elf.Open(cp)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			pcln2, addr2, ok := findPclntab(g)
			if !ok || addr2 != addr {
				t.Fatalf("pclntab found by magic at %#x (ok %v), want %#x", addr2, ok, addr)
			}
			text2, how := goTextStart(g, pcln2, addr2, false)
			if text2 != text {
				t.Errorf("text start %#x (%s), want %#x", text2, how, text)
			}
			t.Logf("text start %#x from %s", text2, how)
			u := NewUser()
			if got := u.SymbolizeExe(cp, work+4); got != "main.work+4" {
				t.Errorf("SymbolizeExe(main.work+4) = %q (text start %#x from %s)", got, text2, how)
			}
		})
	}
}

// TestGoModuledataRelocations zeroes the pointers of runtime.moduledata
// in a copy of the stripped PIE build, as an external linker may leave
// them, so that they are read from the RELATIVE relocations' addends.
func TestGoModuledataRelocations(t *testing.T) {
	bin := goBinary(t, goBuilds[3])
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	md := f.Section(".go.module")
	pcln, addr, _ := findPclntab(f)
	want, _ := goTextStart(f, pcln, addr, false)
	f.Close()
	if md == nil {
		t.Skip("no .go.module section")
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{mdPcHeader, mdPclntable, mdMinpc, mdMaxpc, mdText, mdEtext} {
		binary.LittleEndian.PutUint64(data[md.Offset+uint64(w*8):], 0)
	}
	cp := filepath.Join(t.TempDir(), "zeroed")
	if err := os.WriteFile(cp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	g, err := elf.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got, how := goTextStart(g, pcln, addr, false); got != want || !strings.HasPrefix(how, "moduledata") {
		t.Errorf("text start %#x from %s, want %#x from moduledata", got, how, want)
	}
}
