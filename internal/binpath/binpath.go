// Package binpath finds the file a probe on a program or library names:
// a path, a command on PATH, or a library name resolved as the dynamic
// loader (or the traced process's own maps) would.
package binpath

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebpftrace/ebpftrace/internal/procmaps"
)

// Resolve finds the file a probe names: a path, a library name (libc,
// libssl.so.3) as the traced process pid (0: none) or the dynamic loader
// would find it, or a command on PATH.
func Resolve(name string, pid int) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%s: no such file", name)
		}
		return filepath.Abs(name)
	}
	if strings.HasPrefix(name, "lib") {
		if p := findLibrary(name, pid); p != "" {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	if p := findLibrary("lib"+name, pid); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("%q is not a file, a command on PATH or a library", name)
}

// defaultLibDirs are where the dynamic loader looks after ld.so.conf's
// directories (its built-in defaults on x86-64).
var defaultLibDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// libDirs lists the dynamic loader's search directories: LD_LIBRARY_PATH,
// /etc/ld.so.conf with its includes, then the defaults.
func libDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, ldConfDirs("/etc/ld.so.conf", 0)...)
	return append(dirs, defaultLibDirs...)
}

// ldConfDirs reads an ld.so.conf file: directories, and `include` globs.
func ldConfDirs(path string, depth int) []string {
	b, err := os.ReadFile(path)
	if err != nil || depth > 4 {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "include "):
			pattern := strings.TrimSpace(strings.TrimPrefix(line, "include "))
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(path), pattern)
			}
			matches, _ := filepath.Glob(pattern)
			sort.Strings(matches)
			for _, m := range matches {
				dirs = append(dirs, ldConfDirs(m, depth+1)...)
			}
		default:
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// findLibrary resolves "libc" or "libc.so.6": first among the libraries
// process pid has mapped, then in the loader's directories. Only ELF files
// count (libc.so is often a linker script).
func findLibrary(name string, pid int) string {
	match := func(base string) bool {
		return base == name || strings.HasPrefix(base, name+".so") || strings.HasPrefix(base, name+"-")
	}
	if pid != 0 {
		if maps, err := procmaps.Read(pid); err == nil {
			for _, m := range maps {
				if base := filepath.Base(m.Path); strings.HasPrefix(m.Path, "/") && match(base) && strings.Contains(base, ".so") {
					return m.Path
				}
			}
		}
	}
	var found []string
	for _, dir := range libDirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if match(e.Name()) && strings.Contains(e.Name(), ".so") && isELF(filepath.Join(dir, e.Name())) {
				found = append(found, filepath.Join(dir, e.Name()))
			}
		}
		if len(found) > 0 {
			break
		}
	}
	if len(found) == 0 {
		return ""
	}
	// Prefer the soname (libc.so.6) over libc.so and longer versions.
	sort.Slice(found, func(i, j int) bool { return len(found[i]) < len(found[j]) })
	for _, f := range found {
		if strings.Count(filepath.Base(f), ".") >= 2 {
			if p, err := filepath.EvalSymlinks(f); err == nil {
				return p
			}
			return f
		}
	}
	return found[0]
}

func isELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
