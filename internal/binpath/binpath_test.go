package binpath

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLdConfDirs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "ld.so.conf"), []byte("# comment\n/opt/first\ninclude conf.d/*.conf\n\n/opt/last # trailing\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "b.conf"), []byte("/opt/b\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "a.conf"), []byte("/opt/a1\n/opt/a2\n"), 0o644)
	got := ldConfDirs(filepath.Join(dir, "ld.so.conf"), 0)
	want := []string{"/opt/first", "/opt/a1", "/opt/a2", "/opt/b", "/opt/last"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ldConfDirs = %q, want %q", got, want)
	}
}

func TestResolve(t *testing.T) {
	if p, err := Resolve("sh", 0); err != nil || !filepath.IsAbs(p) {
		t.Errorf("sh on PATH: %q, %v", p, err)
	}
	if _, err := Resolve("/no/such/file", 0); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing path: %v", err)
	}
	if _, err := Resolve("no-such-command-or-library", 0); err == nil {
		t.Error("a name that is nothing resolved")
	}
	libc, err := Resolve("libc", 0)
	if err != nil {
		t.Skipf("skipped: no libc found here: %v", err)
	}
	if !strings.Contains(filepath.Base(libc), "libc.so") || !isELF(libc) {
		t.Errorf("libc resolved to %q", libc)
	}
	// A soname resolves to the same file.
	if p, err := Resolve("libc.so.6", 0); err != nil || filepath.Base(p) != filepath.Base(libc) {
		t.Errorf("libc.so.6: %q, %v (libc is %q)", p, err, libc)
	}
}
