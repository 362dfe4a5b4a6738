package gomodule

import (
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"os"
	"strings"
	"testing"
)

// debianBinaries are Go programs of Debian bookworm packages, built by
// older Go releases than the one running the tests; stripped, so only
// what the pclntab and moduledata give is there. `make deps` installs
// them.
var debianBinaries = []struct{ path, pkg string }{
	{"/usr/bin/prometheus", "prometheus"}, // go1.19.8
	{"/usr/bin/etcd", "etcd-server"},      // go1.19.8
	{"/usr/bin/go-md2man", "go-md2man"},   // go1.18.3
}

// debianBinary opens one, or skips saying which package to install.
func debianBinary(t *testing.T, path, pkg string) *elf.File {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s is not installed (apt-get install %s)", path, pkg)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestDebianBinaries checks the pclntab reader on Debian's Go programs:
// the text start found through moduledata equals pcHeader.textStart,
// which Go 1.18–1.25 still fill in; file:line and the physical function
// at sampled PCs equal debug/gosym's (what go tool objdump and
// addr2line print); and every inlined frame names a function of the
// binary, in the source file that function's own copy is in.
func TestDebianBinaries(t *testing.T) {
	for _, db := range debianBinaries {
		t.Run(db.pkg, func(t *testing.T) {
			f := debianBinary(t, db.path, db.pkg)
			bi, err := buildinfo.ReadFile(db.path)
			if err != nil {
				t.Fatal(err)
			}
			tab, err := Open(f, false)
			if err != nil {
				t.Fatal(err)
			}
			md := tab.Moduledata()
			text, how := tab.TextStart()
			if md == nil || !strings.HasPrefix(how, "moduledata") {
				t.Fatalf("%s: moduledata %v, text start from %s", bi.GoVersion, md, how)
			}
			if h := tab.Header(); text != h.TextStart {
				t.Errorf("moduledata.text %#x, pcHeader.textStart %#x", text, h.TextStart)
			}
			funcs := tab.Funcs()
			if len(funcs) != tab.NumFuncs() {
				t.Errorf("decoded %d of %d functions", len(funcs), tab.NumFuncs())
			}
			pcln, _, _ := FindPclntab(f)
			gt, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, text))
			if err != nil {
				t.Fatal(err)
			}
			// File of each function's own (out-of-line) copy.
			fileOf := map[string]string{}
			for _, fn := range funcs {
				if fr := tab.Frames(fn.Entry); len(fr) == 1 {
					fileOf[fn.Name] = fr[0].File
				}
			}
			checked, inlinedPCs, inlinedChecked, maxDepth := 0, 0, 0, 0
			for i, fn := range funcs {
				if i%7 != 0 {
					continue
				}
				for pc := fn.Entry; pc < fn.End; pc += 5 {
					frames := tab.Frames(pc)
					file, line, gf := gt.PCToLine(pc)
					if line < 0 {
						file, line = "", 0
					}
					if len(frames) == 0 || gf == nil || frames[0].File != file || frames[0].Line != line || frames[len(frames)-1].Func != gf.Name {
						t.Fatalf("%#x: frames %+v; gosym %s:%d in %v", pc, frames, file, line, gf)
					}
					checked++
					if len(frames) > 1 {
						inlinedPCs++
						maxDepth = max(maxDepth, len(frames)-1)
						for _, fr := range frames[:len(frames)-1] {
							if want, ok := fileOf[fr.Func]; ok {
								inlinedChecked++
								if fr.File != want {
									t.Fatalf("%#x: inlined %s in %s, its own copy is in %s", pc, fr.Func, fr.File, want)
								}
							}
						}
					}
				}
			}
			if inlinedPCs == 0 {
				t.Error("no PC shows an inlined frame")
			}
			t.Logf("%s (%s): %d functions; %d PCs agree with debug/gosym; %d show inlined calls (up to %d deep), %d inlined frames in the file of their function's own copy",
				db.path, bi.GoVersion, len(funcs), checked, inlinedPCs, maxDepth, inlinedChecked)
		})
	}
}

// FuzzTable decodes a mutated copy of a real pclntab: nothing may panic.
func FuzzTable(f *testing.F) {
	tc := toolchains()
	if len(tc) == 0 {
		f.Skip("no go command")
	}
	path := buildInl(f, tc[0], variants[0])
	ef, err := elf.Open(path)
	if err != nil {
		f.Fatal(err)
	}
	defer ef.Close()
	pcln, addr, err := FindPclntab(ef)
	if err != nil {
		f.Fatal(err)
	}
	im := NewImage(ef)
	f.Add(uint32(0), byte(0), uint32(100))
	f.Add(uint32(8), byte(0xff), uint32(0x1000))
	f.Add(uint32(64), byte(0x80), uint32(7))
	f.Fuzz(func(t *testing.T, at uint32, b byte, pcOff uint32) {
		d := append([]byte(nil), pcln...)
		d[int(at)%len(d)] = b
		d[int(at*7+13)%len(d)] ^= b
		tab, err := newTable(im, d, addr, nil)
		if err != nil {
			return
		}
		text, _ := tab.TextStart()
		for _, fn := range tab.Funcs()[:min(50, tab.NumFuncs())] {
			tab.Frames(fn.Entry + uint64(pcOff)%64)
		}
		tab.Frames(text + uint64(pcOff))
		tab.FuncAt(text + uint64(pcOff))
	})
}
