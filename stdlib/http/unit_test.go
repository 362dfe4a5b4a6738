package http

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ebpftrace/ebpftrace/bpf"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// TestSchemaMatchesHelper compares the schema with struct http_event as
// the helper object's BTF describes it.
func TestSchemaMatchesHelper(t *testing.T) {
	spec, err := bpf.HTTP()
	if err != nil {
		t.Fatal(err)
	}
	if err := Schema().Check(spec); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"method", "path", "status", "duration", "goid", "host"} {
		if _, ok := Schema().Field(f); !ok {
			t.Errorf("schema lacks %s", f)
		}
	}
}

// TestTable checks the supported range and the goid offsets against
// internal/gobin's runtime.g table, which was checked with DWARF for Go
// 1.21 to 1.26.
func TestTable(t *testing.T) {
	for _, tc := range []struct {
		minor int
		ok    bool
	}{{16, false}, {17, true}, {20, true}, {26, true}, {27, false}} {
		if _, ok := table(tc.minor); ok != tc.ok {
			t.Errorf("table(%d) ok = %v, want %v", tc.minor, ok, tc.ok)
		}
	}
	// On a stripped binary the goid offset is gobin's: the test binary's
	// own runtime type descriptor says where it is.
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := gobin.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want, err := b.GoidOffset()
	if err != nil {
		t.Fatal(err)
	}
	b.HasDWARF = false
	minor, _ := pack.GoMinor(b)
	consts, _, err := Facts(b, minor, []string{"go_g_goid"})
	if err != nil || consts["go_g_goid"] != uint64(want) {
		t.Errorf("goid at %d (%v), gobin says %d", consts["go_g_goid"], err, want)
	}
}

// TestFactsTableMatchesDWARF reads every fact from the DWARF of the
// examples built by Go 1.26 and Go 1.19 and compares it with the table
// used for stripped binaries of the same version.
func TestFactsTableMatchesDWARF(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []variant{variants[0], variants[4]} {
		t.Run(v.name, func(t *testing.T) {
			for _, tc := range []struct {
				example string
				side    side
			}{{"httpserver", server}, {"httpclient", client}} {
				bin := build(t, tc.example, v, dir)
				b, err := gobin.Open(bin)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				minor, err := pack.GoMinor(b)
				if err != nil {
					t.Fatal(err)
				}
				got, from, err := Facts(b, minor, tc.side.constants)
				if err != nil || from != "DWARF" {
					t.Fatalf("%s: facts from %q: %v", tc.example, from, err)
				}
				tab, _ := table(minor)
				for _, c := range tc.side.constants {
					if got[c] != tab[c] {
						t.Errorf("%s %s: DWARF %d, table %d", tc.example, c, got[c], tab[c])
					}
				}
			}
		})
	}
}

// TestResolve checks the targets built for every variant of the server
// and the errors for binaries the sources cannot trace.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			bin := build(t, "httpserver", v, dir)
			tg, err := Server().Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, p := range tg.Probes {
				count[p.Program]++
				if p.Return != (p.Program == progServerEnd) {
					t.Errorf("probe %+v: Return = %v", p, p.Return)
				}
			}
			if count[progServerStart] != 1 || count[progServerEnd] < 1 || count[progWriteHeader] != 2 {
				t.Errorf("probes by program: %v", count)
			}
			var progs []string
			for name := range tg.Spec.Programs {
				progs = append(progs, name)
			}
			slices.Sort(progs)
			if want := []string{progServerEnd, progServerStart, progWriteHeader}; !slices.Equal(progs, want) {
				t.Errorf("programs %v, want %v", progs, want)
			}
			wantFrom := "DWARF"
			if strings.Contains(v.name, "stripped") {
				wantFrom = "table go1." + strings.TrimPrefix(v.name, "go1.")[:2]
			}
			if tg.FactsFrom != wantFrom {
				t.Errorf("facts from %q, want %q", tg.FactsFrom, wantFrom)
			}
		})
	}

	client := build(t, "httpclient", variants[0], dir)
	ct, err := Client().Open(client)
	if err != nil {
		t.Fatal(err)
	}
	if ct.Spec.Maps["http_status"] != nil || ct.Spec.Maps[pack.EventMap] == nil || ct.Spec.Maps[pack.ChainMap] == nil {
		t.Errorf("client maps: %v", ct.Spec.Maps)
	}

	for _, tc := range []struct {
		src  *pack.Source
		bin  string
		want string
	}{
		{Server(), "/bin/true", "is not a Go program"},
		{Server(), client, "has no net/http server"},
		{Client(), dir + "/nonexistent", "no such file"},
	} {
		_, err := tc.src.Open(tc.bin)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), tc.src.Name+": ") {
			t.Errorf("%s on %s: %v; want an error containing %q", tc.src.Name, tc.bin, err, tc.want)
		}
	}
}

// TestVersionErrors checks that unsupported Go versions are refused with
// an error naming the version.
func TestVersionErrors(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version string
		dwarf   bool
		want    []string // substrings of the error; nil = no error
	}{
		{"go1.16.15", true, []string{"go1.16.15", "Go 1.17 or newer"}},
		{"go1.27.0", false, []string{"go1.27.0", "no table", "DWARF"}},
		{"go1.19.8", false, nil},
		{"devel go1.26-abcdef", false, nil},
	} {
		b, err := gobin.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		b.GoVersion = tc.version
		b.HasDWARF = b.HasDWARF && tc.dwarf
		minor, err := pack.GoMinor(b)
		if err == nil {
			_, _, err = Facts(b, minor, server.constants)
		}
		b.Close()
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.version, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v, want it to mention %q", tc.version, err, w)
			}
		}
	}
}
