package procmaps

import (
	"debug/elf"
	"os"
	"testing"
)

func TestParse(t *testing.T) {
	data := []byte(`55f545cdf000-55f545ce1000 r--p 00000000 fe:00 247766                     /usr/bin/sleep
55f545ce1000-55f545ce6000 r-xp 00002000 fe:00 247766                     /usr/bin/sleep
7f3a2b000000-7f3a2b021000 rw-p 00000000 00:00 0 
7f3a2b1c0000-7f3a2b1c2000 r-xp 00000000 00:00 0                          [vdso]
7f3a2b200000-7f3a2b300000 r-xp 00010000 103:02 99                        /tmp/my lib.so (deleted)
`)
	maps, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 5 {
		t.Fatalf("%d mappings, want 5", len(maps))
	}
	m := maps[1]
	if m.Start != 0x55f545ce1000 || m.End != 0x55f545ce6000 || m.Offset != 0x2000 || m.Perms != "r-xp" ||
		m.Major != 0xfe || m.Minor != 0 || m.Inode != 247766 || m.Path != "/usr/bin/sleep" || !m.Exec() || !m.IsFile() ||
		m.Range != "55f545ce1000-55f545ce6000" {
		t.Errorf("mapping 1 = %+v", m)
	}
	if maps[0].Exec() || maps[2].IsFile() || maps[2].Path != "" {
		t.Errorf("mappings 0, 2 = %+v, %+v", maps[0], maps[2])
	}
	if maps[3].Path != "[vdso]" || maps[3].IsFile() || !maps[3].Exec() {
		t.Errorf("vdso = %+v", maps[3])
	}
	if d := maps[4]; d.Path != "/tmp/my lib.so" || !d.Deleted || d.Major != 0x103 || d.Minor != 2 {
		t.Errorf("deleted = %+v", d)
	}
	for _, bad := range []string{"zz-10 r-xp 0 0:0 0", "10-20 r-xp 0 00 0", "20-10 r-xp 0 0:0 0", "10-20 r 0 0:0 0"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

// TestSelf reads this process's own maps and finds its executable and
// its load bias, checked against where a function of the test really is.
func TestSelf(t *testing.T) {
	maps, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var loads []elf.ProgHeader
	for _, p := range f.Progs {
		loads = append(loads, p.ProgHeader)
	}
	bias, ok := LoadBias(maps, exe, loads)
	if !ok {
		t.Fatalf("%s is not in this process's maps", exe)
	}
	if f.Type == elf.ET_EXEC && bias != 0 {
		t.Errorf("non-PIE executable with load bias %#x", bias)
	}
	// The ELF entry point, biased, lies in an executable mapping of exe.
	entry := f.Entry + bias
	found := false
	for _, m := range maps {
		if m.Path == exe && m.Exec() && entry >= m.Start && entry < m.End {
			found = true
		}
	}
	if !found {
		t.Errorf("entry %#x + bias %#x is in no executable mapping of %s", f.Entry, bias, exe)
	}
	if _, ok := LoadBias(maps, "/no/such/file", loads); ok {
		t.Error("LoadBias found an unmapped file")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("55f545ce1000-55f545ce6000 r-xp 00002000 fe:00 247766    /usr/bin/sleep\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		maps, err := Parse(data)
		for _, m := range maps {
			if err == nil && m.End < m.Start {
				t.Errorf("end before start: %+v", m)
			}
		}
	})
}
