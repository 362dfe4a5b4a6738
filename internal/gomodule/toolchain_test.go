package gomodule

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// toolchain is a go command that builds the test programs.
type toolchain struct {
	goCmd   string
	version string // e.g. "go1.19.8"
}

// toolchains returns the Go toolchains on this machine: the one running
// the tests and Debian's golang-1.19-go (/usr/lib/go-1.19), which builds
// the pre-1.20 pclntab layout with DWARF.
var toolchains = sync.OnceValue(func() []toolchain {
	var out []toolchain
	for _, c := range []string{filepath.Join(runtime.GOROOT(), "bin", "go"), "/usr/lib/go-1.19/bin/go"} {
		v, err := exec.Command(c, "env", "GOVERSION").Output()
		if err != nil {
			continue
		}
		out = append(out, toolchain{c, strings.TrimSpace(string(v))})
	}
	return out
})

// variant is one way of building.
type variant struct {
	name  string
	flags []string
	cgo   bool
}

var variants = []variant{
	{name: "default"},
	{name: "stripped", flags: []string{"-ldflags=-s -w"}},
	{name: "pie", flags: []string{"-buildmode=pie"}},
	{name: "pie-stripped", flags: []string{"-buildmode=pie", "-ldflags=-s -w"}},
	{name: "external-stripped", flags: []string{"-ldflags=-linkmode=external -s -w"}, cgo: true},
}

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// buildInl builds testdata/inl with tc in variant v, once per test run.
func buildInl(t testing.TB, tc toolchain, v variant) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("test programs are built for amd64")
	}
	if v.cgo {
		if _, err := exec.LookPath("gcc"); err != nil {
			t.Skip("gcc is not installed; needed for external linking")
		}
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	key := tc.version + "/" + v.name
	if p, ok := built[key]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "gomodule-test-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, tc.version+"-"+v.name)
	args := append([]string{"build", "-o", out}, v.flags...)
	cmd := exec.Command(tc.goCmd, append(args, ".")...)
	cmd.Dir = filepath.Join("testdata", "inl")
	cgo := "0"
	if v.cgo {
		cgo = "1"
	}
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED="+cgo, "GOROOT=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s build %v: %v\n%s", tc.version, v.flags, err, msg)
	}
	built[key] = out
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}
