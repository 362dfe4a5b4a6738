package stdlib

import (
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	if got, want := Names(), []string{"goroutine.blocked", "grpc.client", "grpc.server", "http.client", "http.server"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if got := Packs(); !slices.Equal(got, []string{"goroutine", "grpc", "http"}) {
		t.Errorf("Packs() = %v", got)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"http.server", true}, {"http.client", true}, {"goroutine.blocked", true}, {"http.serve", false}, {"grpc.server", true}, {"grpc.serve", false}} {
		s, ok := Lookup(tc.name)
		if ok != tc.ok || (ok && s.Name != tc.name) {
			t.Errorf("Lookup(%q) = %v, %v", tc.name, s, ok)
		}
	}
	// Every source is complete: a schema whose fields fit, and a resolver.
	for _, s := range Sources() {
		if s.Doc == "" || s.Versions == "" || s.Schema == nil || s.Resolve == nil {
			t.Errorf("%s is incomplete: %+v", s.Name, s)
			continue
		}
		end := 0
		for _, f := range s.Schema.Fields {
			if f.Offset < end || f.Offset+f.Size > s.Schema.Size || f.Doc == "" || f.Kind == 0 {
				t.Errorf("%s field %+v overlaps, overflows %d bytes or lacks a doc or kind", s.Name, f, s.Schema.Size)
			}
			end = f.Offset + f.Size
		}
	}
}
