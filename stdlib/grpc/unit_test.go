package grpc

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/bpf"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// TestSchemaMatchesHelper compares the schema with struct grpc_event as
// the helper object's BTF describes it, and the value lists with the
// helper's.
func TestSchemaMatchesHelper(t *testing.T) {
	spec, err := bpf.GRPC()
	if err != nil {
		t.Fatal(err)
	}
	s := Schema()
	if err := s.Check(spec); err != nil {
		t.Fatal(err)
	}
	if got := s.Events(); !slices.Equal(got, Events) {
		t.Errorf("Events() = %v", got)
	}
	// The default selection is the helper's default constant.
	var def uint32
	if err := spec.Variables[pack.EventsConstant].Get(&def); err != nil {
		t.Fatal(err)
	}
	if m, err := s.EventMask(s.DefaultEvents...); err != nil || m != def {
		t.Errorf("default events %v = mask %#x (%v); the helper's default is %#x", s.DefaultEvents, m, err, def)
	}
	if m, err := s.EventMask("start", "end"); err != nil || m != 1|1<<4 {
		t.Errorf("EventMask(start, end) = %#x, %v", m, err)
	}
	if _, err := s.EventMask("receive"); err == nil || !strings.Contains(err.Error(), "close_send") {
		t.Errorf("EventMask(receive) = %v, want an error listing the events", err)
	}
	for name, want := range map[string]string{"event": "close_send", "kind": "client_stream", "status": "FailedPrecondition", "method": "/p.S/M"} {
		f, ok := s.Field(name)
		if !ok || len(want) >= f.Size {
			t.Errorf("field %s (%+v) cannot hold %q", name, f, want)
		}
	}
	if len(Codes) != 17 || Codes[5] != "NotFound" || Codes[16] != "Unauthenticated" {
		t.Errorf("Codes = %v", Codes)
	}
}

// TestSelectEventsSpec checks that SelectEvents sets the helper's
// constant and refuses unknown events, and that http's targets, which have
// no lifecycle events, refuse it.
func TestSelectEventsSpec(t *testing.T) {
	spec, err := bpf.GRPC()
	if err != nil {
		t.Fatal(err)
	}
	tg := &pack.Target{Source: "grpc.server", Spec: spec, Schema: Schema(), Constants: map[string]uint64{}}
	if err := tg.SelectEvents("recv", "end"); err != nil {
		t.Fatal(err)
	}
	var m uint32
	if err := spec.Variables[pack.EventsConstant].Get(&m); err != nil || m != 1<<2|1<<4 || tg.Constants[pack.EventsConstant] != uint64(m) {
		t.Errorf("mask %#x (%v), constants %v", m, err, tg.Constants)
	}
	if err := tg.SelectEvents("finish"); err == nil || !strings.HasPrefix(err.Error(), "grpc.server: ") {
		t.Errorf("SelectEvents(finish) = %v", err)
	}
	noEvents := &pack.Target{Source: "http.server", Spec: spec, Schema: &pack.Schema{Type: "http_event"}}
	if err := noEvents.SelectEvents("end"); err == nil || !strings.Contains(err.Error(), "no lifecycle events") {
		t.Errorf("SelectEvents on a schema without events = %v", err)
	}
}

// TestTable checks that the rows cover v1.33 to v1.85 without gaps or
// overlaps and name a function for every probe.
func TestTable(t *testing.T) {
	next := table[0].first
	for _, r := range table {
		if r.first != next || r.last < r.first {
			t.Errorf("row %s: expected it to start at v1.%d", r.String(), next)
		}
		next = r.last + 1
		if r.streamingFn == "" || r.writeFn == "" || r.writeStatusFn == "" {
			t.Errorf("row %s lacks a function", r.String())
		}
		if (r.unaryFn == "") != (r.streamingFn == fnProcessRPC) {
			t.Errorf("row %s: processRPC replaces processUnaryRPC", r.String())
		}
		if (r.bindFn == "") != (r.first < 37) {
			t.Errorf("row %s: newClientStreamWithParams exists from v1.37", r.String())
		}
		vals := r.values()
		for _, s := range []side{server, client} {
			for _, c := range s.constants {
				if _, ok := vals[c]; !ok && c != "go_g_goid" && !strings.HasPrefix(c, "hash_") {
					t.Errorf("row %s has no value for %s", r.String(), c)
				}
			}
		}
	}
	if table[0].first != 33 || table[len(table)-1].last != 85 {
		t.Errorf("table covers v1.%d to v1.%d", table[0].first, table[len(table)-1].last)
	}
}

// TestMinorOf checks version parsing.
func TestMinorOf(t *testing.T) {
	for _, tc := range []struct {
		v     string
		minor int
		ok    bool
	}{{"v1.85.0", 85, true}, {"1.33.3", 33, true}, {"v1.86.0-dev", 86, true}, {"v1.7.5", 7, true},
		{"v2.0.0", 0, false}, {"", 0, false}, {"(devel)", 0, false}, {"v1.x", 0, false}} {
		if m, ok := minorOf(tc.v); m != tc.minor || ok != tc.ok {
			t.Errorf("minorOf(%q) = %d, %v", tc.v, m, ok)
		}
	}
}

// TestVersion finds grpc-go's version in build information and, for
// Debian's etcd (no module information), in the user agent string; and
// refuses programs without grpc-go and versions outside the table,
// naming the version.
func TestVersion(t *testing.T) {
	open := func(t *testing.T, path string) *gobin.Binary {
		b, err := gobin.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	b := open(t, build(t, "server", v185Stripped))
	if v, err := Version(b); err != nil || v.String != "v1.85.0" || v.Minor != 85 || v.From != "build info" {
		t.Errorf("Version = %+v, %v", v, err)
	}
	// Without module information, the user agent string of a program
	// that dials says the same; one that only serves has none.
	bi := b.BuildInfo
	b.BuildInfo = nil
	if _, err := Version(b); err == nil || !strings.Contains(err.Error(), "uses grpc-go but does not say which version") {
		t.Errorf("Version of a server without build info = %v", err)
	}
	b.BuildInfo = bi
	c := open(t, build(t, "client", v185Stripped))
	c.BuildInfo = nil
	if v, err := Version(c); err != nil || v.String != "v1.85.0" || v.From != "user agent" {
		t.Errorf("Version of a client without build info = %+v, %v", v, err)
	}
	for _, dep := range bi.Deps {
		if dep.Path == grpcPkg {
			old := dep.Version
			for _, tc := range []struct{ v, want string }{
				{"v1.32.0", "grpc-go v1.32.0 (build info); the grpc pack knows v1.33 to v1.85"},
				{"v1.86.0", "grpc-go v1.86.0 (build info)"},
			} {
				dep.Version = tc.v
				_, err := Server().Resolve(b)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("grpc-go %s: %v; want an error containing %q", tc.v, err, tc.want)
				}
			}
			dep.Version = old
		}
	}
	if _, err := os.Stat(debianEtcd); err == nil {
		if v, err := Version(open(t, debianEtcd)); err != nil || v.String != "v1.33.3" || v.From != "user agent" {
			t.Errorf("etcd: Version = %+v, %v", v, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Version(open(t, self)); !errors.Is(err, errNoGRPC) {
		t.Errorf("Version(test binary) = %v, want %v", err, errNoGRPC)
	}
}

// TestResolveErrors checks the errors for binaries a source cannot
// trace: each names the source and the binary, and says why.
func TestResolveErrors(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		src  *pack.Source
		bin  string
		want string
	}{
		{Server(), "/bin/true", "is not a Go program"},
		{Client(), self, "does not use grpc-go"},
		{Server(), filepath.Join(t.TempDir(), "none"), "no such file"},
	}
	if _, err := os.Stat(debianEtcdctl); err == nil {
		cases = append(cases, struct {
			src  *pack.Source
			bin  string
			want string
		}{Server(), debianEtcdctl, "has no gRPC server (google.golang.org/grpc.(*Server).handleStream not found)"})
	}
	for _, tc := range cases {
		_, err := tc.src.Open(tc.bin)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), tc.src.Name+": ") {
			t.Errorf("%s on %s: %v; want an error containing %q", tc.src.Name, tc.bin, err, tc.want)
		}
	}
}

// TestResolve checks the targets: programs, probes (entries and RETs),
// and where the facts came from.
func TestResolve(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for _, tc := range []struct {
				src      *pack.Source
				prog     string
				programs []string
			}{{Server(), "server", server.programs}, {Client(), "client", client.programs}} {
				tg, err := tc.src.Open(build(t, tc.prog, v))
				if err != nil {
					t.Fatal(err)
				}
				count := map[string]int{}
				for _, p := range tg.Probes {
					count[p.Program]++
					ret := strings.HasSuffix(p.Program, "_end") || p.Program == progClientCreated
					if p.Program == progClientEnd {
						ret = false // finish's entry
					}
					if p.Return != ret {
						t.Errorf("probe %+v: Return = %v", p, p.Return)
					}
				}
				var progs []string
				for name := range tg.Spec.Programs {
					progs = append(progs, name)
					if count[name] == 0 {
						t.Errorf("%s: program %s is attached nowhere", tc.src.Name, name)
					}
				}
				slices.Sort(progs)
				want := slices.Clone(tc.programs)
				if v.modfile == "" {
					// v1.85 has no processUnaryRPC (processRPC serves all).
					want = slices.DeleteFunc(want, func(p string) bool { return p == progServerUnary })
				}
				slices.Sort(want)
				if !slices.Equal(progs, want) {
					t.Errorf("%s: programs %v, want %v", tc.src.Name, progs, want)
				}
				wantFrom := "offsets from DWARF, registers from DWARF"
				if strings.Contains(v.name, "stripped") {
					wantFrom = "offsets from runtime type descriptors, registers from the v1."
				}
				if !strings.Contains(tg.FactsFrom, wantFrom) || strings.Contains(tg.FactsFrom, "(table") {
					t.Errorf("%s: facts from %q, want %q and nothing from the table", tc.src.Name, tg.FactsFrom, wantFrom)
				}
			}
		})
	}
}

// TestTableMatchesDWARF reads every fact from the DWARF of the examples
// built with each grpc-go version the tests have, and compares it with
// the table used for stripped binaries.
func TestTableMatchesDWARF(t *testing.T) {
	for _, v := range []variant{v185DWARF, v166DWARF, v156DWARF} {
		t.Run(v.name, func(t *testing.T) {
			for _, tc := range []struct {
				prog string
				side side
			}{{"server", server}, {"client", client}} {
				compareWithTable(t, build(t, tc.prog, v), tc.side, "DWARF", nil)
			}
		})
	}
}

// TestTableMatchesEtcd compares the table with what Debian's stripped
// etcd and etcdctl (grpc-go v1.33.3) say in their runtime type
// descriptors. Their genproto predates protoc-gen-go's APIv2, so
// rpc/status.Status.Code is at 0 there, not 40: that is why the pack
// reads it from the binary when it can.
func TestTableMatchesEtcd(t *testing.T) {
	for _, tc := range []struct {
		bin  string
		side side
	}{{debianEtcd, server}, {debianEtcdctl, client}} {
		if _, err := os.Stat(tc.bin); err != nil {
			t.Skipf("%s is not installed (make deps installs it)", tc.bin)
		}
		compareWithTable(t, tc.bin, tc.side, "runtime type descriptors", map[string]uint64{"spb_code": 0})
	}
}

// compareWithTable resolves the facts of one side of bin and compares
// them with its row of the table; differ gives the values known to
// differ from the table.
func compareWithTable(t *testing.T, bin string, s side, from string, differ map[string]uint64) {
	t.Helper()
	b, err := gobin.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v, err := Version(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rowFor(b, v)
	if err != nil {
		t.Fatal(err)
	}
	got, gotFrom, err := Facts(b, r, s.constants)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(gotFrom, "offsets from "+from) || strings.Contains(gotFrom, "(table") {
		t.Errorf("%s %s: facts from %q", bin, s.name, gotFrom)
	}
	tab := r.values()
	for _, c := range s.constants {
		want, ok := tab[c]
		if d, known := differ[c]; known {
			want = d
		}
		if ok && got[c] != want {
			t.Errorf("%s %s (%s, row %s): %s = %d, the table says %d", bin, s.name, v.String, r.String(), c, got[c], want)
		}
	}
	for _, h := range []string{"hash_status_error", "hash_error_string"} {
		if slices.Contains(s.constants, h) && got[h] == 0 {
			t.Errorf("%s: %s not found", bin, h)
		}
	}
}

// TestHelperLoadsForEveryRow loads each side's programs with the values
// of every row of the table (and with every event selected): the
// verifier prunes branches on load-time constants, so each combination
// must be checked, including rows no test binary exercises.
func TestHelperLoadsForEveryRow(t *testing.T) {
	needRoot(t)
	for _, r := range table {
		for _, s := range []side{server, client} {
			t.Run(r.String()+"/"+s.name, func(t *testing.T) {
				vals := r.values()
				consts := map[string]uint64{"go_g_goid": 152, "hash_status_error": 0x76aa44ac, "hash_error_string": 0x70cc2da0}
				for _, c := range s.constants {
					if v, ok := vals[c]; ok {
						consts[c] = v
					}
				}
				consts[pack.EventsConstant] = 1<<len(Events) - 1
				spec, err := bpf.GRPC()
				if err != nil {
					t.Fatal(err)
				}
				spec, err = pack.NewSpec(spec, s.programs, consts)
				if err != nil {
					t.Fatal(err)
				}
				coll, err := ebpf.NewCollection(spec)
				if err != nil {
					var ve *ebpf.VerifierError
					if errors.As(err, &ve) {
						t.Fatalf("%+v", ve)
					}
					t.Fatal(err)
				}
				coll.Close()
			})
		}
	}
}
