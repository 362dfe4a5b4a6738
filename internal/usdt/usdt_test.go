package usdt

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ebpftrace/ebpftrace/internal/match"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		spec string
		want Arg
		err  string
	}{
		{"-4@%esi", Arg{Kind: ArgReg, Size: 4, Signed: true, Reg: "esi", RegOff: 104, IndexOff: -1}, ""},
		{"8@%rax", Arg{Kind: ArgReg, Size: 8, Reg: "rax", RegOff: 80, IndexOff: -1}, ""},
		{"1@%r8b", Arg{Kind: ArgReg, Size: 1, Reg: "r8b", RegOff: 72, IndexOff: -1}, ""},
		{"-1@%dil", Arg{Kind: ArgReg, Size: 1, Signed: true, Reg: "dil", RegOff: 112, IndexOff: -1}, ""},
		{"-4@-20(%rbp)", Arg{Kind: ArgMem, Size: 4, Signed: true, Reg: "rbp", RegOff: 32, Offset: -20, IndexOff: -1}, ""},
		{"8@(%rsp)", Arg{Kind: ArgMem, Size: 8, Reg: "rsp", RegOff: 152, IndexOff: -1}, ""},
		{"2@0x10(%rdi)", Arg{Kind: ArgMem, Size: 2, Reg: "rdi", RegOff: 112, Offset: 16, IndexOff: -1}, ""},
		{"-4@-1204(%rbp,%rax,4)", Arg{Kind: ArgMem, Size: 4, Signed: true, Reg: "rbp", RegOff: 32, Offset: -1204, Index: "rax", IndexOff: 80, Scale: 4}, ""},
		{"8@(%rbx,%rcx)", Arg{Kind: ArgMem, Size: 8, Reg: "rbx", RegOff: 40, Index: "rcx", IndexOff: 88, Scale: 1}, ""},
		{"-4@$7", Arg{Kind: ArgConst, Size: 4, Signed: true, Offset: 7, IndexOff: -1}, ""},
		{"8@$-1", Arg{Kind: ArgConst, Size: 8, Offset: -1, IndexOff: -1}, ""},
		{"8@$18446744073709551615", Arg{Kind: ArgConst, Size: 8, Offset: -1, IndexOff: -1}, ""},
		{"3@%rax", Arg{}, "size 3"},
		{"%rax", Arg{}, "no SIZE@"},
		{"8@%xmm0", Arg{}, "unknown register %xmm0"},
		{"8@foo(%rip)", Arg{}, "symbolic or RIP-relative"},
		{"8@8(%rbp,%rax,3)", Arg{}, "scale"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			args, err := ParseArgs(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want an error with %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Text = tt.spec
			if len(args) != 1 || !reflect.DeepEqual(args[0], tt.want) {
				t.Errorf("got %+v, want %+v", args, tt.want)
			}
		})
	}
	args, err := ParseArgs(" -8@%rdx  8@16(%rdi) -4@$7 ")
	if err != nil || len(args) != 3 {
		t.Errorf("three specs: %v %v", args, err)
	}
}

// TestReadExample builds the C example with <sys/sdt.h> and reads its
// notes: sites, semaphores, arguments, in the program and its library.
func TestReadExample(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("skipped: no gcc")
	}
	if _, err := os.Stat("/usr/include/x86_64-linux-gnu/sys/sdt.h"); err != nil {
		if _, err := os.Stat("/usr/include/sys/sdt.h"); err != nil {
			t.Skip("skipped: no <sys/sdt.h> (apt-get install systemtap-sdt-dev)")
		}
	}
	dir := t.TempDir()
	src := "../../examples/cusdt/"
	for _, args := range [][]string{
		{"-O2", "-shared", "-fPIC", "-o", filepath.Join(dir, "libebtusdt.so"), src + "lib.c"},
		{"-O2", "-o", filepath.Join(dir, "usdt"), src + "usdt.c", "-L" + dir, "-lebtusdt"},
	} {
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	probes, err := Read(filepath.Join(dir, "usdt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Names(probes); !reflect.DeepEqual(got, []string{"ebt:args", "ebt:guarded"}) {
		t.Fatalf("probes %v", got)
	}
	for _, p := range probes {
		if p.Semaphore == 0 || p.SemaphoreOffset == 0 || p.Offset == 0 || p.ArgsErr != nil {
			t.Errorf("%s: %+v", p.FullName(), p)
		}
	}
	args := Match(probes, "ebt:ar*", match.Glob)
	if len(args) != 1 || len(args[0].Args) != 8 || args[0].Args[7].Kind != ArgConst || args[0].Args[7].Offset != 7 {
		t.Errorf("ebt:args: %+v", args)
	}
	if m := Match(probes, "guarded", match.Glob); len(m) != 1 {
		t.Errorf("a name alone matches in any provider: %v", m)
	}
	lib, err := Read(filepath.Join(dir, "libebtusdt.so"))
	if err != nil || len(lib) != 1 || lib[0].FullName() != "ebtlib:fire" || lib[0].Semaphore != 0 || len(lib[0].Args) != 2 {
		t.Errorf("library: %+v %v", lib, err)
	}
}

// TestReadPython reads Debian's python3.11, whose probes have semaphores.
func TestReadPython(t *testing.T) {
	probes, err := Read("/usr/bin/python3.11")
	if os.IsNotExist(err) {
		t.Skip("skipped: no /usr/bin/python3.11")
	}
	if err != nil {
		t.Fatal(err)
	}
	m := Match(probes, "python:function__entry", match.Glob)
	if len(m) != 1 || m[0].Semaphore == 0 || len(m[0].Args) != 3 || m[0].Args[2].Size != 4 || !m[0].Args[2].Signed {
		t.Errorf("python:function__entry: %+v", m)
	}
}

func TestNoNotes(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	probes, err := Read(exe)
	if err != nil || len(probes) != 0 {
		t.Errorf("a Go test binary has no USDT probes: %v %v", probes, err)
	}
}
