// Package stdlib is the registry of ebpftrace's prebuilt probe packs:
// sources such as http.server whose events come from a helper program
// (bpf/) instead of a kernel hook. The compiler looks a source up by name,
// resolves it for the user's binary (Source.Open), loads the Target's
// helper, and types the chain's fields against Target.Schema. See
// stdlib/pack for the contract between a helper and the chain programs,
// and README.md in this folder for how to add a pack.
package stdlib

import (
	"slices"
	"strings"

	"github.com/ebpftrace/ebpftrace/stdlib/goroutine"
	"github.com/ebpftrace/ebpftrace/stdlib/grpc"
	"github.com/ebpftrace/ebpftrace/stdlib/http"
	"github.com/ebpftrace/ebpftrace/stdlib/pack"
)

// Sources returns every source of every pack, sorted by name. Each call
// returns new values.
func Sources() []*pack.Source {
	all := []*pack.Source{
		http.Server(),
		http.Client(),
		goroutine.Blocked(),
		grpc.Server(),
		grpc.Client(),
	}
	slices.SortFunc(all, func(a, b *pack.Source) int { return strings.Compare(a.Name, b.Name) })
	return all
}

// Lookup returns the source called name, e.g. "http.server".
func Lookup(name string) (*pack.Source, bool) {
	for _, s := range Sources() {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// Names returns the sources' names, sorted, for suggestions and
// completion.
func Names() []string {
	var out []string
	for _, s := range Sources() {
		out = append(out, s.Name)
	}
	return out
}

// Packs returns the pack names (the part before the dot: "http"), sorted,
// so the compiler can tell `http.server(…)` from a selector on a value.
func Packs() []string {
	var out []string
	for _, s := range Sources() {
		p, _, _ := strings.Cut(s.Name, ".")
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
