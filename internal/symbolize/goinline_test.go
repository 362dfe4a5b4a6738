package symbolize

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ebpftrace/ebpftrace/internal/gomodule"
)

// TestGoInlined builds a program where the compiler inlines a() into
// work() and checks that the PCs of the inlined code name main.a, in the
// normal and the stripped build (found through moduledata.gofunc there).
func TestGoInlined(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("skipped: no go command")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module inl\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import "syscall"

//go:noinline
func b() int { return syscall.Getppid() }

func a() int { return b() + 1 }

//go:noinline
func work(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += a()
	}
	return s
}

func main() { println(work(3)) }
`), 0o644)
	plain, stripped := filepath.Join(dir, "plain"), filepath.Join(dir, "stripped")
	for out, flags := range map[string]string{plain: "", stripped: "-s -w"} {
		cmd := exec.Command("go", "build", "-ldflags="+flags, "-o", out, ".")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
	}
	inline := func(path string, useSymtab bool) *gomodule.Table {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		tab, err := gomodule.Open(f, useSymtab)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return tab
	}
	gp, gs := inline(plain, true), inline(stripped, false)
	f, _ := elf.Open(plain)
	defer f.Close()
	syms, _ := f.Symbols()
	var work, gofunc elf.Symbol
	for _, s := range syms {
		switch s.Name {
		case "main.work":
			work = s
		case "go:func.*":
			gofunc = s
		}
	}
	if md := gs.Moduledata(); md == nil || md.Gofunc != gofunc.Value {
		t.Errorf("moduledata.gofunc of the stripped build %+v, go:func.* is at %#x", md, gofunc.Value)
	}
	u := NewUser()
	defer u.Close()
	found := 0
	for pc := work.Value; pc < work.Value+work.Size; pc++ {
		got := gp.Inlined(pc)
		if !slices.Equal(got, gs.Inlined(pc)) {
			t.Errorf("%#x: %v in the plain build, %v stripped", pc, got, gs.Inlined(pc))
		}
		if len(got) > 0 {
			if !slices.Equal(got, []string{"main.a"}) {
				t.Errorf("%#x: inlined %v, want [main.a]", pc, got)
			}
			found++
			// The exported Frames: main.a (line 8, its body) inlined into
			// main.work at the call on line 14.
			for _, path := range []string{plain, stripped} {
				fr := u.FramesExe(path, pc)
				if len(fr) != 2 || fr[0].Func != "main.a" || !fr[0].Inlined || fr[0].Line != 8 ||
					fr[1].Func != "main.work" || fr[1].Inlined || fr[1].Line != 14 || !strings.HasSuffix(fr[1].File, "/main.go") {
					t.Errorf("%s: FramesExe(%#x) = %+v; want main.a:8 inlined into main.work:14", path, pc, fr)
				}
			}
		}
	}
	if found == 0 {
		t.Error("no PC of main.work shows main.a inlined")
	}
	if got := gp.Inlined(work.Value); len(got) != 0 {
		t.Errorf("the entry of main.work shows %v inlined", got)
	}
}
