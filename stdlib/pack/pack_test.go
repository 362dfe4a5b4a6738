package pack

import (
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpftrace/ebpftrace/bpf"
	"github.com/ebpftrace/ebpftrace/internal/gobin"
)

// schema is the http helper's event, restated here so the pack's checks
// are tested on a real helper.
func schema() *Schema {
	return &Schema{Type: "http_event", Size: 240, Fields: []Field{
		{Name: "start", Offset: 0, Size: 8, Kind: Unsigned, Doc: "d"},
		{Name: "status", Offset: 24, Size: 4, Kind: Unsigned, Doc: "d"},
		{Name: "path", Offset: 48, Size: 128, Kind: String, Doc: "d"},
	}}
}

func TestSchemaCheck(t *testing.T) {
	spec, err := bpf.HTTP()
	if err != nil {
		t.Fatal(err)
	}
	if err := schema().Check(spec); err != nil {
		t.Fatal(err)
	}
	if f, ok := schema().Field("path"); !ok || f.Kind != String {
		t.Errorf("Field(path) = %+v, %v", f, ok)
	}
	if got := strings.Join(schema().Names(), ","); got != "start,status,path" {
		t.Errorf("Names() = %s", got)
	}
	for _, tc := range []struct {
		name   string
		change func(*Schema)
		want   string
	}{
		{"offset", func(s *Schema) { s.Fields[1].Offset = 28 }, "status: offset 28"},
		{"size", func(s *Schema) { s.Fields[2].Size = 64 }, "path: offset 48 size 64"},
		{"member", func(s *Schema) { s.Fields[0].Name = "begin" }, "no member begin"},
		{"struct size", func(s *Schema) { s.Size = 256 }, "size 256"},
		{"type", func(s *Schema) { s.Type = "other_event" }, "not struct other_event"},
	} {
		s := schema()
		tc.change(s)
		if err := s.Check(spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestNewSpec(t *testing.T) {
	for _, tc := range []struct {
		name     string
		programs []string
		consts   map[string]uint64
		want     string // error substring; "" = success
	}{
		{"client", []string{"http_client_start", "http_client_end"}, map[string]uint64{"go_g_goid": 160, "cli_req_reg": 3}, ""},
		{"unknown program", []string{"nope"}, nil, "no program nope"},
		{"unknown constant", []string{"http_client_end"}, map[string]uint64{"nope": 1}, "no constant nope"},
		{"32-bit overflow", []string{"http_client_end"}, map[string]uint64{"cli_req_reg": 1 << 32}, "does not fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := bpf.HTTP()
			if err != nil {
				t.Fatal(err)
			}
			spec, err = NewSpec(spec, tc.programs, tc.consts)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("NewSpec = %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(spec.Programs) != 2 || spec.Maps["http_status"] != nil || spec.Maps[EventMap] == nil || spec.Maps[ChainMap] == nil || spec.Maps["http_inflight"] == nil {
				t.Errorf("programs %d, maps %v", len(spec.Programs), spec.Maps)
			}
			var g uint64
			var r uint32
			if err := spec.Variables["go_g_goid"].Get(&g); err != nil || g != 160 {
				t.Errorf("go_g_goid = %d, %v", g, err)
			}
			if err := spec.Variables["cli_req_reg"].Get(&r); err != nil || r != 3 {
				t.Errorf("cli_req_reg = %d, %v", r, err)
			}
		})
	}
}

func TestGoMinor(t *testing.T) {
	b, err := gobin.Open("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	defer b.Close()
	if _, err := GoMinor(b); err == nil || !strings.Contains(err.Error(), "not a Go program") {
		t.Errorf("GoMinor(/bin/true) = %v", err)
	}
	for _, tc := range []struct {
		v     string
		minor int
		ok    bool
	}{{"go1.19.8", 19, true}, {"go1.26rc1", 26, true}, {"devel go1.27-abc", 27, true}, {"go1.16", 0, false}, {"", 0, false}} {
		b.IsGo, b.GoVersion = true, tc.v
		m, err := GoMinor(b)
		if (err == nil) != tc.ok || m != tc.minor {
			t.Errorf("GoMinor(%q) = %d, %v", tc.v, m, err)
		}
	}
}

// TestLoadWith: a replacement map the helper has is used; one it lacks is
// ignored; an incompatible one is an error that unloads everything.
func TestLoadWith(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root (CAP_BPF)")
	}
	stacks, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.StackTrace, KeySize: 4, ValueSize: 8 * StackDepth, MaxEntries: StackEntries})
	if err != nil {
		t.Fatal(err)
	}
	defer stacks.Close()
	small, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.StackTrace, KeySize: 4, ValueSize: 8 * StackDepth, MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	for _, tc := range []struct {
		name string
		spec func() (*ebpf.CollectionSpec, error)
		m    *ebpf.Map
		want string // error substring; "" = success
	}{
		{"goroutine", bpf.Goroutine, stacks, ""},
		{"http lacks it", bpf.HTTP, stacks, ""},
		{"incompatible", bpf.Goroutine, small, "incompatible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := tc.spec()
			if err != nil {
				t.Fatal(err)
			}
			tgt := &Target{Source: "test", Path: "/bin/true", Spec: spec}
			h, err := tgt.LoadWith(map[string]*ebpf.Map{StackMap: tc.m})
			if tc.want != "" {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
					t.Fatalf("LoadWith = %v, want an error containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if m := h.Collection.Maps[StackMap]; spec.Maps[StackMap] != nil {
				a, _ := m.Info()
				b, _ := tc.m.Info()
				ida, _ := a.ID()
				idb, _ := b.ID()
				if ida != idb {
					t.Errorf("the helper's %s is map %d, not the replacement %d", StackMap, ida, idb)
				}
			}
		})
	}
}

func TestEvents(t *testing.T) {
	s := &Schema{Type: "x_event", Fields: []Field{
		{Name: EventField, Offset: 0, Size: 16, Kind: String, Values: []string{"start", "step", "end"}},
	}, DefaultEvents: []string{"end"}}
	for _, tc := range []struct {
		names []string
		mask  uint32
		err   string
	}{
		{[]string{"end"}, 4, ""},
		{[]string{"start", "step"}, 3, ""},
		{nil, 0, ""},
		{[]string{"stop"}, 0, `no x_event event "stop"; the events are start, step, end`},
	} {
		m, err := s.EventMask(tc.names...)
		if m != tc.mask || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("EventMask(%v) = %#x, %v", tc.names, m, err)
		}
	}
	if _, err := schema().EventMask("end"); err == nil || !strings.Contains(err.Error(), "no lifecycle events") {
		t.Errorf("http's EventMask = %v", err)
	}
	// A target whose helper lacks the constant says so.
	spec, err := bpf.HTTP()
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{Source: "x.y", Spec: spec, Schema: s}
	if err := tg.SelectEvents("end"); err == nil || !strings.Contains(err.Error(), "x.y: the helper has no constant "+EventsConstant) {
		t.Errorf("SelectEvents = %v", err)
	}
}
