package symbolize

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
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
	inline := func(path string) *goInline {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		pcln, addr, ok := findPclntab(f)
		if !ok {
			t.Fatalf("%s: no pclntab", path)
		}
		text, _ := goTextStart(f, pcln, addr, true)
		g := newGoInline(f, pcln, addr, text)
		if g == nil {
			t.Fatalf("%s: no inline table (go:func.* not found)", path)
		}
		return g
	}
	gp, gs := inline(plain), inline(stripped)
	if gp.gofunc != gs.gofunc {
		t.Errorf("go:func.* at %#x by symbol, %#x by moduledata", gp.gofunc, gs.gofunc)
	}
	f, _ := elf.Open(plain)
	defer f.Close()
	syms, _ := f.Symbols()
	var work elf.Symbol
	for _, s := range syms {
		if s.Name == "main.work" {
			work = s
		}
	}
	found := 0
	for pc := work.Value; pc < work.Value+work.Size; pc++ {
		got := gp.inlined(pc)
		if !slices.Equal(got, gs.inlined(pc)) {
			t.Errorf("%#x: %v in the plain build, %v stripped", pc, got, gs.inlined(pc))
		}
		if len(got) > 0 {
			if !slices.Equal(got, []string{"main.a"}) {
				t.Errorf("%#x: inlined %v, want [main.a]", pc, got)
			}
			found++
		}
	}
	if found == 0 {
		t.Error("no PC of main.work shows main.a inlined")
	}
	if got := gp.inlined(work.Value); len(got) != 0 {
		t.Errorf("the entry of main.work shows %v inlined", got)
	}
}
