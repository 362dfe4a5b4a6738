package symbolize

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKernelLive resolves do_syscall_64 with the real /proc/kallsyms.
func TestKernelLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: /proc/kallsyms shows zero addresses to other users")
	}
	k := NewKernel()
	start := time.Now()
	if err := k.Load(); err != nil {
		t.Skipf("kallsyms unusable: %v", err)
	}
	t.Logf("%d kernel symbols loaded in %v", k.Len(), time.Since(start))
	addr, ok := k.Lookup("do_syscall_64")
	if !ok {
		t.Fatal("no do_syscall_64 in kallsyms")
	}
	for _, tc := range []struct {
		addr uint64
		want string
	}{
		{addr, "do_syscall_64+0"},
		{addr + 5, "do_syscall_64+5"},
		{1, "0x1"},
	} {
		if got := k.Symbolize(tc.addr); got != tc.want {
			t.Errorf("Symbolize(%#x) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if name, off, ok := k.Resolve(addr + 114); name != "do_syscall_64" || off != 114 || !ok {
		t.Errorf("Resolve(do_syscall_64+114) = %q, %d, %v", name, off, ok)
	}
	if _, ok := k.Lookup("no_such_symbol_anywhere"); ok {
		t.Error("Lookup of a missing symbol succeeded")
	}
}

// TestKernelParse checks kallsyms parsing on a small file: modules,
// aliases, unsorted lines.
func TestKernelParse(t *testing.T) {
	text := "ffffffff81000000 T _stext\n" +
		"ffffffff81000000 t startup_64\n" +
		"ffffffff81001000 t __pfx_do_one\n" +
		"ffffffff81001010 t do_one\n" +
		"ffffffff81001010 T do_one_alias\n" +
		"ffffffff81002000 W weak_fn\n" +
		"ffffffffc0a01000 t ext4_fill_super\t[ext4]\n" +
		"ffffffff81003000 T late_sorted\n" +
		"0000000000000000 A fixed_percpu_data\n"
	path := filepath.Join(t.TempDir(), "kallsyms")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	k := newKernelFile(path)
	if err := k.Load(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr uint64
		want string
	}{
		{0xffffffff81000000, "_stext+0"}, // global wins over local
		{0xffffffff81000fff, "_stext+4095"},
		{0xffffffff81001005, "__pfx_do_one+5"},
		{0xffffffff81001012, "do_one_alias+2"}, // T before t
		{0xffffffff81002001, "weak_fn+1"},
		{0xffffffff81003008, "late_sorted+8"},
		{0xffffffffc0a01010, "ext4_fill_super+16"}, // no [ext4]
		{0x10, "0x10"}, // below the text
		{0x7f0000001000, "0x7f0000001000"},
	} {
		if got := k.Symbolize(tc.addr); got != tc.want {
			t.Errorf("Symbolize(%#x) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	for name, want := range map[string]uint64{
		"do_one":          0xffffffff81001010,
		"startup_64":      0xffffffff81000000,
		"ext4_fill_super": 0xffffffffc0a01000,
	} {
		if got, ok := k.Lookup(name); !ok || got != want {
			t.Errorf("Lookup(%s) = %#x, %v, want %#x", name, got, ok, want)
		}
	}
	if k.Len() != 9 {
		t.Errorf("Len = %d, want 9", k.Len())
	}
}

// TestKernelErrors checks hidden addresses, malformed and missing files.
func TestKernelErrors(t *testing.T) {
	dir := t.TempDir()
	hidden := filepath.Join(dir, "hidden")
	os.WriteFile(hidden, []byte("0000000000000000 T _stext\n0000000000000000 T do_syscall_64\n"), 0o644)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("xyz T foo\n"), 0o644)
	for _, tc := range []struct {
		path   string
		hidden bool
	}{
		{hidden, true},
		{bad, false},
		{filepath.Join(dir, "missing"), false},
	} {
		k := newKernelFile(tc.path)
		err := k.Load()
		if err == nil {
			t.Errorf("%s: Load succeeded", tc.path)
		}
		if errors.Is(err, ErrKallsymsHidden) != tc.hidden {
			t.Errorf("%s: Load = %v, hidden = %v", tc.path, err, tc.hidden)
		}
		if got := k.Symbolize(0xffffffff81000010); got != "0xffffffff81000010" {
			t.Errorf("%s: Symbolize = %q", tc.path, got)
		}
	}
}

// BenchmarkKallsyms measures reading and sorting /proc/kallsyms.
func BenchmarkKallsyms(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for b.Loop() {
		if err := NewKernel().Load(); err != nil {
			b.Skip(err)
		}
	}
}

// BenchmarkKernelSymbolize measures one lookup.
func BenchmarkKernelSymbolize(b *testing.B) {
	k := NewKernel()
	if err := k.Load(); err != nil {
		b.Skip(err)
	}
	addr, _ := k.Lookup("do_syscall_64")
	for b.Loop() {
		k.Symbolize(addr + 114)
	}
}
