package grpc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// boundaryVersions are the grpc-go releases at the edges of the table's
// rows that the ordinary tests do not build (they have v1.56, v1.66 and
// v1.85, and Debian's etcd has v1.33).
const boundaryVersions = "v1.36.0,v1.37.0,v1.40.0,v1.58.0,v1.59.0,v1.68.0,v1.69.0,v1.76.0,v1.77.0,v1.83.0,v1.84.0"

// TestVersions builds examples/grpc against each grpc-go release in
// $EBT_GRPC_VERSIONS ("boundaries" for boundaryVersions, or a comma
// list such as v1.71.0,v1.72.0), compares the DWARF facts with the table
// and traces a stripped build's server and client. It downloads every
// release and its dependencies from the module proxy, so it runs only
// when asked; facts.go says when it last passed.
func TestVersions(t *testing.T) {
	list := os.Getenv("EBT_GRPC_VERSIONS")
	if list == "" {
		t.Skip("set EBT_GRPC_VERSIONS=boundaries (or a comma list of grpc-go versions) to build and trace them")
	}
	if list == "boundaries" {
		list = boundaryVersions
	}
	needRoot(t)
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples", "grpc"))
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range strings.Split(list, ",") {
		t.Run(version, func(t *testing.T) {
			dir := moduleFor(t, examples, version)
			dwarf := variant{name: "grpc" + version + "-dwarf", dir: dir}
			stripped := variant{name: "grpc" + version + "-stripped", dir: dir, flags: strip}
			t.Run("table", func(t *testing.T) {
				compareWithTable(t, build(t, "server", dwarf), server, "DWARF", nil)
				compareWithTable(t, build(t, "client", dwarf), client, "DWARF", nil)
			})
			srv, cli := build(t, "server", stripped), build(t, "client", stripped)
			t.Run("server", func(t *testing.T) { traceServer(t, srv, cli) })
			t.Run("client", func(t *testing.T) { traceClient(t, srv, cli) })
		})
	}
}

// moduleFor copies examples/grpc's sources into a module of their own
// that requires grpc-go at version, with what that release requires.
func moduleFor(t *testing.T, examples, version string) string {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range []string{"demo", "server", "client"} {
		if err := os.MkdirAll(filepath.Join(dir, pkg), 0o755); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(examples, pkg, "*.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, pkg, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mod := "module github.com/ebpftrace/ebpftrace/examples/grpc\n\ngo 1.21\n\nrequire google.golang.org/grpc " + version + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy for grpc-go %s: %v\n%s", version, err, msg)
	}
	return dir
}
