package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// runCgroups are the cgroups v2 a -c command runs in, made for the run
// as children of the cgroup ebpftrace itself is in (so the command keeps
// the limits it would have had) and removed when it ends:
//
//	ebpftrace-XXXX/start  frozen: the command is cloned into it and stops
//	                      before its first instruction
//	ebpftrace-XXXX/run    the command, from the entry of its execve on,
//	                      and everything it starts
//
// The probes keep to run's id, which bpf_get_current_cgroup_id() returns
// for every task in it; what Go's child code does between the clone and
// the execve happens in start, unseen.
type runCgroups struct {
	top, start, run string // directories in the cgroup2 file system
	parent          string // the cgroup ebpftrace is in, where leftovers go
	runID           uint64
	startFD         int // start's open directory, for CLONE_INTO_CGROUP
}

// newRunCgroups makes the cgroups of a run. The error says why they
// cannot be made (no cgroup2 mounted, not permitted, a kernel without
// CLONE_INTO_CGROUP); the caller then follows the command by pid.
func newRunCgroups() (*runCgroups, error) {
	if !kernelAtLeast(5, 7) {
		return nil, errors.New("starting a process in a cgroup needs Linux 5.7")
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	mnt, root, ok := cgroup2Mount(bytes.NewReader(mountinfo))
	if !ok {
		return nil, errors.New("cgroup2 is not mounted")
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	parent, err := ownCgroupDir(string(self), mnt, root)
	if err != nil {
		return nil, err
	}
	// The pid in the name says whose it is, should one be left behind
	// (ebpftrace killed by SIGKILL).
	top, err := os.MkdirTemp(parent, fmt.Sprintf("ebpftrace-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("create a cgroup: %w", err)
	}
	g := &runCgroups{top: top, parent: parent, startFD: -1}
	fail := func(err error) (*runCgroups, error) {
		g.remove()
		return nil, err
	}
	for _, d := range []*string{&g.start, &g.run} {
		name := "start"
		if d == &g.run {
			name = "run"
		}
		*d = filepath.Join(top, name)
		if err := os.Mkdir(*d, 0o755); err != nil {
			*d = ""
			return fail(fmt.Errorf("create a cgroup: %w", err))
		}
		// A threaded subtree takes no processes.
		if t, err := os.ReadFile(filepath.Join(*d, "cgroup.type")); err == nil && strings.TrimSpace(string(t)) != "domain" {
			return fail(fmt.Errorf("%s is a %s cgroup, which takes no process", *d, strings.TrimSpace(string(t))))
		}
	}
	if err := freeze(g.start, true); err != nil {
		return fail(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(g.run, &st); err != nil {
		return fail(err)
	}
	g.runID = st.Ino // a cgroup2 directory's inode number is the cgroup's id
	if g.startFD, err = unix.Open(g.start, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return fail(fmt.Errorf("open %s: %w", g.start, err))
	}
	return g, nil
}

// kernelAtLeast reports whether the running kernel is at least major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// cgroup2Mount finds the cgroup2 file system in a mountinfo table: where
// it is mounted, and which cgroup is its root there ("/" unless a
// container mounts a subtree).
func cgroup2Mount(mountinfo io.Reader) (mountpoint, root string, ok bool) {
	sc := bufio.NewScanner(mountinfo)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional…] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		return unescapeMountinfo(fields[4]), unescapeMountinfo(fields[3]), true
	}
	return "", "", false
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroupDir is the directory of the cgroup v2 that /proc/self/cgroup
// (its text) names, under the cgroup2 mount at mnt whose root is root.
func ownCgroupDir(procCgroup, mnt, root string) (string, error) {
	for _, line := range strings.Split(procCgroup, "\n") {
		path, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(root, "/"))
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
			return "", fmt.Errorf("ebpftrace's cgroup %s is outside the cgroup2 mount at %s", path, mnt)
		}
		return filepath.Join(mnt, rel), nil
	}
	return "", errors.New("ebpftrace is in no cgroup v2")
}

// freeze freezes or thaws the cgroup at dir.
func freeze(dir string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte(v), 0); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("this kernel has no cgroup freezer (cgroup.freeze, Linux 5.2)")
		}
		return fmt.Errorf("freeze the cgroup: %w", err)
	}
	return nil
}

// procs lists the processes in the cgroup at dir.
func procs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// enter moves process pid into the cgroup at dir.
func enter(dir string, pid int) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("move process %d to %s: %w", pid, dir, err)
	}
	return nil
}

// kill ends every process in the cgroups (cgroup.kill, Linux 5.14; else
// one by one).
func (g *runCgroups) kill() {
	for _, d := range []string{g.start, g.run} {
		if d == "" || os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0) == nil {
			continue
		}
		pids, _ := procs(d)
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// remove moves what still runs in the cgroups (processes the command
// left behind) back to ebpftrace's own cgroup, and removes them. It is
// safe to call more than once.
func (g *runCgroups) remove() error {
	if g == nil {
		return nil
	}
	if g.startFD >= 0 {
		unix.Close(g.startFD)
		g.startFD = -1
	}
	var errs []error
	for _, d := range []*string{&g.start, &g.run, &g.top} {
		if *d == "" {
			continue
		}
		if err := removeCgroup(*d, g.parent); err != nil {
			errs = append(errs, err)
			continue
		}
		*d = ""
	}
	return errors.Join(errs...)
}

// removeCgroup empties the cgroup at dir into parent and removes it.
func removeCgroup(dir, parent string) error {
	var err error
	// A process exiting as we look may keep the cgroup busy for a moment.
	for try := 0; try < 50; try++ {
		pids, _ := procs(dir)
		for _, pid := range pids {
			_ = enter(parent, pid) // out of a frozen cgroup, it thaws
		}
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("remove the cgroup %s: %w", dir, err)
}
