package compiler

import (
	"debug/elf"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/ebpftrace/ebpftrace/internal/procmaps"
)

// checkMapped reports an error when process pid (-p) does not map the
// file at path: a uprobe there, limited to that process, would never
// fire. Files are compared by device and inode, so a path through a
// symlink or another mount of the same file counts. The -c command is
// checked too, except for shared objects: it is stopped at its execve,
// before the dynamic loader maps its libraries.
func checkMapped(pid int, path string) error {
	maps, err := procmaps.Read(pid)
	if err != nil {
		return nil // gone, or not ours to read: attaching will say
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nil
	}
	major, minor := uint32((st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff), uint32(st.Dev&0xff|(st.Dev>>12)&^0xff)
	exe := ""
	for _, m := range maps {
		if m.Inode == st.Ino && m.Major == major && m.Minor == minor {
			return nil
		}
		if exe == "" && m.IsFile() {
			exe = m.Path
		}
	}
	if tracedBySelf(pid) && isSharedObject(path) {
		return nil
	}
	if p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		exe = strings.TrimSuffix(p, " (deleted)")
	}
	return fmt.Errorf("process %d (%s) does not map %s, so the probe would never fire; probe the binary it runs, or a library it loaded (see /proc/%d/maps)", pid, exe, path, pid)
}

// tracedBySelf reports that pid is ptrace-stopped by this process: the
// -c command, held at its execve until the probes are attached.
func tracedBySelf(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "TracerPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n == os.Getpid()
		}
	}
	return false
}

// isSharedObject reports an ELF file that is position independent: a
// shared library (or a PIE, which the loader does not map later).
func isSharedObject(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Type == elf.ET_DYN
}
