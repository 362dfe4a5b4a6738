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
func Resolve(name string, pid int) (string, error) { return ResolveFor(name, pid, "") }

// ResolveFor is Resolve for a process that may not exist yet: exe, when
// not "", is the program it will run, whose libraries are found as its
// loader will find them (a -c command is started after the probes attach).
func ResolveFor(name string, pid int, exe string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%s: no such file", name)
		}
		return filepath.Abs(name)
	}
	if strings.HasPrefix(name, "lib") {
		if p := findLibrary(name, pid, exe); p != "" {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	if p := findLibrary("lib"+name, pid, exe); p != "" {
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
func findLibrary(name string, pid int, exe string) string {
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
		if p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == "" {
			exe = p
		}
	}
	// A -c command is stopped before the loader maps its libraries (or not
	// started yet): those its executable needs are found as the loader
	// will find them (its RUNPATH included).
	if exe != "" {
		for _, lib := range NeededLibraries(exe, pid) {
			if base := filepath.Base(lib); match(base) && strings.Contains(base, ".so") {
				return lib
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

// ProcessBinaries lists the files process pid runs code from: its
// executable, the files it maps executable (libraries, the loader), and
// the libraries its executable needs that are not mapped yet (a -c
// command is stopped before the loader maps them). Libraries it will
// dlopen later are not known.
func ProcessBinaries(pid int) ([]string, error) {
	maps, err := procmaps.Read(pid)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	add := func(path string) {
		if path == "" || seen[path] {
			return
		}
		seen[path] = true
		out = append(out, path)
	}
	// A path in the maps is in the process's mount namespace; through
	// /proc/PID/root when it is not the same file here.
	local := func(path string) string {
		if _, err := os.Stat(path); err == nil {
			return path
		}
		return fmt.Sprintf("/proc/%d/root%s", pid, path)
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	exe = strings.TrimSuffix(exe, " (deleted)")
	if exe != "" {
		add(local(exe))
	}
	for _, m := range maps {
		if m.IsFile() && m.Exec() && !m.Deleted && strings.HasPrefix(m.Path, "/") {
			add(local(m.Path))
		}
	}
	if exe != "" {
		for _, lib := range NeededLibraries(local(exe), pid) {
			add(lib)
		}
	}
	return out, nil
}

// NeededLibraries resolves the DT_NEEDED libraries of an ELF file and
// theirs, as the dynamic loader would find them: RPATH/RUNPATH (with
// $ORIGIN), then the loader's directories.
func NeededLibraries(path string, pid int) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string, int)
	walk = func(file string, depth int) {
		f, err := elf.Open(file)
		if err != nil || depth > 8 {
			return
		}
		libs, _ := f.ImportedLibraries()
		var dirs []string
		for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
			vals, _ := f.DynString(tag)
			for _, v := range vals {
				for _, d := range filepath.SplitList(v) {
					dirs = append(dirs, strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", filepath.Dir(file)))
				}
			}
		}
		f.Close()
		for _, lib := range libs {
			p := ""
			if strings.Contains(lib, "/") {
				p = lib
			} else {
				for _, d := range append(dirs, libDirs()...) {
					if c := filepath.Join(d, lib); isELF(c) {
						p = c
						break
					}
				}
			}
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
			walk(p, depth+1)
		}
	}
	walk(path, 0)
	return out
}
