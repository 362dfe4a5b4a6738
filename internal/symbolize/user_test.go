package symbolize

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// elfSymbol returns the value of the function name in the .symtab of path.
func elfSymbol(t *testing.T, path, name string) uint64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("%s: no symbol %s", path, name)
	return 0
}

// TestUserC builds testdata/cprog.c as a PIE and as a non-PIE executable,
// runs it, and resolves its function work, libc's getppid and main's
// return address in libc through the child's /proc/PID/maps.
func TestUserC(t *testing.T) {
	gcc := needTool(t, "gcc")
	src, err := filepath.Abs("testdata/cprog.c")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		pie   bool
	}{
		{"pie", []string{"-fPIE", "-pie"}, true},
		{"no-pie", []string{"-fno-pie", "-no-pie"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "cprog")
			run(t, dir, nil, gcc, append(append([]string{"-O0", "-g"}, tc.flags...), "-o", bin, src)...)
			c := startChild(t, bin)
			work, getppid, ret := c.hex(t, 0), c.hex(t, 1), c.hex(t, 2)
			if getppid == 0 {
				t.Fatal("the child could not find getppid in libc")
			}
			workSym := elfSymbol(t, bin, "work")
			if !tc.pie && work != workSym {
				t.Errorf("non-PIE: &work = %#x, ELF symbol %#x", work, workSym)
			}
			if tc.pie && work == workSym {
				t.Errorf("PIE: &work = %#x is not relocated", work)
			}

			u := NewUser()
			defer u.Close()
			if err := u.Snapshot(c.pid); err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct {
				addr uint64
				want string
			}{
				{work, "work+0"},
				{work + 3, "work+3"},
				{getppid, "getppid+0"},
				{getppid + 2, "getppid+2"},
				{1, "0x1"},
			} {
				if got := u.Symbolize(c.pid, f.addr); got != f.want {
					t.Errorf("Symbolize(%d, %#x) = %q, want %q", c.pid, f.addr, got, f.want)
				}
			}
			if name, off, ok := u.Resolve(c.pid, getppid); name != "getppid" || off != 0 || !ok {
				t.Errorf("Resolve(getppid) = %q, %d, %v", name, off, ok)
			}
			// main returns into __libc_start_call_main, a static function
			// that only libc's separate debug file (libc6-dbg) names.
			got := u.Symbolize(c.pid, ret)
			t.Logf("main returns to %#x = %s", ret, got)
			switch {
			case strings.HasPrefix(got, "__libc_start_call_main+"):
			case strings.HasPrefix(got, "0x"):
				t.Logf("main's return address %#x: %s (no debug symbols for libc?)", ret, got)
			default:
				t.Errorf("main's return address %#x = %q, want __libc_start_call_main+N", ret, got)
			}
			if got := u.SymbolizeExe(bin, workSym+3); got != "work+3" {
				t.Errorf("SymbolizeExe(%s, %#x) = %q, want work+3", bin, workSym+3, got)
			}

			// A second User snapshots the process, which then exits and
			// whose binary is deleted: its stacks are printed afterwards.
			u2 := NewUser()
			defer u2.Close()
			if err := u2.Snapshot(c.pid); err != nil {
				t.Fatal(err)
			}
			if !u2.Known(c.pid) {
				t.Error("Known after Snapshot = false")
			}
			c.kill()
			if err := os.Remove(bin); err != nil {
				t.Fatal(err)
			}
			if got := u2.Symbolize(c.pid, work+3); got != "work+3" {
				t.Errorf("after exit and deletion: Symbolize(work+3) = %q, want work+3", got)
			}
			if got := u2.Symbolize(c.pid, getppid); got != "getppid+0" {
				t.Errorf("after exit: Symbolize(getppid) = %q, want getppid+0", got)
			}
			u2.Forget(c.pid)
			if u2.Known(c.pid) {
				t.Error("Known after Forget = true")
			}
			if got, want := u2.Symbolize(c.pid, work+3), "0x"; !strings.HasPrefix(got, want) {
				t.Errorf("after Forget: Symbolize(work+3) = %q, want 0x…", got)
			}
			// A User that never saw the process cannot resolve it.
			if got := NewUser().Symbolize(c.pid, work); !strings.HasPrefix(got, "0x") {
				t.Errorf("unknown exited pid: Symbolize = %q, want 0x…", got)
			}
		})
	}
}

// TestUserVDSO resolves an address in this process's vDSO.
func TestUserVDSO(t *testing.T) {
	maps, err := readMaps("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	var vdso *mapping
	for i := range maps {
		if maps[i].path == "[vdso]" {
			vdso = &maps[i]
		}
	}
	if vdso == nil {
		t.Skip("no vDSO")
	}
	img, err := selfVDSO("/proc")
	if err != nil {
		t.Fatal(err)
	}
	info, err := readELF(strings.NewReader(string(img)), "[vdso]")
	if err != nil {
		t.Fatal(err)
	}
	var addr uint64
	var want string
	for _, s := range info.syms.syms {
		if strings.Contains(s.name, "clock_gettime") {
			addr, want = s.addr, s.name
			break
		}
	}
	if want == "" {
		t.Skipf("no clock_gettime in the vDSO: %v", info.syms.syms)
	}
	va, _ := info.vaddr(0)
	got := NewUser().Symbolize(os.Getpid(), vdso.start+addr-va+1)
	if got != want+"+1" {
		t.Errorf("vDSO: got %q, want %q", got, want+"+1")
	}
}

// TestParseMaps checks which mappings are kept and how they are keyed.
func TestParseMaps(t *testing.T) {
	text := `55f545cdf000-55f545ce1000 r--p 00000000 fe:00 247766                     /usr/bin/sleep
55f545ce1000-55f545ce6000 r-xp 00002000 fe:00 247766                     /usr/bin/sleep
7f0000000000-7f0000001000 r-xp 00000000 00:00 0 
7f0000002000-7f0000003000 r-xp 00001000 103:02 12 /tmp/my prog (deleted)
7ffd1c3f2000-7ffd1c3f4000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`
	maps, err := parseMaps([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{
		{start: 0x55f545ce1000, end: 0x55f545ce6000, off: 0x2000, key: fileKey{dev: 0xfe << 32, ino: 247766}, path: "/usr/bin/sleep", text: "55f545ce1000-55f545ce6000"},
		{start: 0x7f0000000000, end: 0x7f0000001000, key: fileKey{}, text: "7f0000000000-7f0000001000"},
		{start: 0x7f0000002000, end: 0x7f0000003000, off: 0x1000, key: fileKey{dev: 0x103<<32 | 2, ino: 12}, path: "/tmp/my prog", deleted: true, text: "7f0000002000-7f0000003000"},
		{start: 0x7ffd1c3f2000, end: 0x7ffd1c3f4000, key: fileKey{path: "[vdso]"}, path: "[vdso]", text: "7ffd1c3f2000-7ffd1c3f4000"},
		{start: 0xffffffffff600000, end: 0xffffffffff601000, key: fileKey{path: "[vsyscall]"}, path: "[vsyscall]", text: "ffffffffff600000-ffffffffff601000"},
	}
	if len(maps) != len(want) {
		t.Fatalf("got %d mappings, want %d: %+v", len(maps), len(want), maps)
	}
	for i := range want {
		if maps[i] != want[i] {
			t.Errorf("mapping %d = %+v, want %+v", i, maps[i], want[i])
		}
	}
	if _, err := parseMaps([]byte("zz-10 r-xp 0 0:0 0\n")); err == nil {
		t.Error("malformed line accepted")
	}
}

// TestSymTable checks lookups with sizes, aliases and gaps.
func TestSymTable(t *testing.T) {
	tab := newSymTable([]candidate{
		{symbol{0x1000, 0x10, "__GI_getppid"}, 2},
		{symbol{0x1000, 0x10, "getppid"}, 1},
		{symbol{0x1000, 0, "__getppid"}, 2},
		{symbol{0x2000, 0x20, "malloc"}, 0},
		{symbol{0x2000, 0x20, "__libc_malloc"}, 0},
		{symbol{0x3000, 0, "_start"}, 0},
		{symbol{0x4000, 0x8, "last"}, 0},
	})
	for _, tc := range []struct {
		addr uint64
		want string
	}{
		{0xfff, "0xfff"},
		{0x1000, "getppid+0"},
		{0x100f, "getppid+15"},
		{0x1010, "0x1010"}, // past getppid's size
		{0x2005, "malloc+5"},
		{0x3fff, "_start+4095"}, // no size: up to the next symbol
		{0x4007, "last+7"},
		{0x4008, "0x4008"},
	} {
		s, ok := tab.lookup(tc.addr)
		if got := format(s.name, tc.addr-s.addr, ok, tc.addr); got != tc.want {
			t.Errorf("lookup(%#x) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if n := tab.len(); n != 4 {
		t.Errorf("len = %d, want 4 (one per address)", n)
	}
}

// TestPerfMap resolves JIT frames through /tmp/perf-PID.map.
func TestPerfMap(t *testing.T) {
	tab := parsePerfMap([]byte("7f0000001000 20 LazyCompile:~foo /app.js:1\n0x7f0000001000 0x10 LazyCompile:*foo /app.js:1\nbad line\n7f0000002000 8 stub\n"))
	for _, tc := range []struct {
		addr uint64
		want string
	}{
		{0x7f0000001004, "LazyCompile:*foo /app.js:1+4"}, // the later entry wins
		{0x7f0000002007, "stub+7"},
		{0x7f0000002008, "0x7f0000002008"},
	} {
		s, ok := tab.lookup(tc.addr)
		if got := format(s.name, tc.addr-s.addr, ok, tc.addr); got != tc.want {
			t.Errorf("lookup(%#x) = %q, want %q", tc.addr, got, tc.want)
		}
	}

	// Through a User: an address in no mapping of a live process.
	dir := t.TempDir()
	u := NewUser()
	u.tmp = dir
	pid := os.Getpid()
	if err := os.WriteFile(filepath.Join(dir, "perf-"+strconv.Itoa(pid)+".map"), []byte("10000 100 jitted_fn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := u.Symbolize(pid, 0x10010); got != "jitted_fn+16" {
		t.Errorf("perf map frame = %q, want jitted_fn+16", got)
	}
}
