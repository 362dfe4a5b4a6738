// Package tracefs finds (or mounts) the kernel's tracefs file system and
// reads tracepoint metadata from it: the list of available events, event
// IDs, and the binary layout of each event record as described by
// events/<category>/<name>/format.
//
// The package keeps no global state: Open locates tracefs each time it is
// called and returns an FS value that carries the root directory.
package tracefs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Default locations used by Dir and Open.
const (
	// DefaultTracingDir is where modern kernels expect tracefs to be mounted.
	DefaultTracingDir = "/sys/kernel/tracing"
	// DefaultDebugDir is where debugfs is conventionally mounted; tracefs is
	// then reachable (and automounted by the kernel) at DefaultDebugDir/tracing.
	DefaultDebugDir = "/sys/kernel/debug"
)

// FS is a tracefs instance rooted at Root, e.g. "/sys/kernel/tracing".
// The zero value is not useful; use Open, or set Root directly (tests point
// it at a copy of a tracefs tree).
type FS struct {
	// Root is the tracefs mount point; it contains events/ and
	// available_events.
	Root string
}

// Open finds tracefs, mounting it when it is not mounted yet (see Dir), and
// returns an FS rooted there. A mount made by Open is left in place.
func Open() (*FS, error) {
	root, err := Dir()
	if err != nil {
		return nil, err
	}
	return &FS{Root: root}, nil
}

// Dir returns the tracefs root directory, mounting tracefs when it is absent.
//
// It first looks for an existing mount in /proc/self/mounts: a tracefs mount,
// or a debugfs mount with a tracing/ directory. Failing that it runs the
// equivalent of "mount -t tracefs nodev /sys/kernel/tracing" and, if that
// fails, mounts debugfs at /sys/kernel/debug and uses its tracing/
// directory. Mounting requires root (CAP_SYS_ADMIN); the returned error
// says what was tried, why it failed, and which command the user can run.
func Dir() (string, error) {
	return defaultFinder().dir()
}

// mountFunc has the signature of unix.Mount.
type mountFunc func(source, target, fstype string, flags uintptr, data string) error

// finder holds the paths and the mount call used by Dir, so tests can
// substitute them without touching the real system.
type finder struct {
	mountsFile string // normally /proc/self/mounts
	tracingDir string // normally /sys/kernel/tracing
	debugDir   string // normally /sys/kernel/debug
	mount      mountFunc
}

func defaultFinder() finder {
	return finder{
		mountsFile: "/proc/self/mounts",
		tracingDir: DefaultTracingDir,
		debugDir:   DefaultDebugDir,
		mount:      unix.Mount,
	}
}

// mountEntry is one line of /proc/self/mounts.
type mountEntry struct {
	dir, fstype string
}

func (f finder) dir() (string, error) {
	var attempts []error

	mounts, err := readMounts(f.mountsFile)
	if err != nil {
		attempts = append(attempts, fmt.Errorf("list mounts: %w", err))
	}

	// 1. An existing tracefs mount; prefer the canonical location.
	var tracefsDirs, debugfsDirs []string
	for _, m := range mounts {
		switch m.fstype {
		case "tracefs":
			if m.dir == f.tracingDir {
				tracefsDirs = append([]string{m.dir}, tracefsDirs...)
			} else {
				tracefsDirs = append(tracefsDirs, m.dir)
			}
		case "debugfs":
			debugfsDirs = append(debugfsDirs, m.dir)
		}
	}
	for _, d := range tracefsDirs {
		if err := checkRoot(d); err != nil {
			attempts = append(attempts, fmt.Errorf("tracefs mounted at %s is not usable: %w", d, err))
			continue
		}
		return d, nil
	}
	// 2. An existing debugfs mount with tracing/ (the kernel automounts
	// tracefs there on first access).
	debugMounted := false
	for _, d := range debugfsDirs {
		if d == f.debugDir {
			debugMounted = true
		}
		root := filepath.Join(d, "tracing")
		if err := checkRoot(root); err != nil {
			attempts = append(attempts, fmt.Errorf("debugfs mounted at %s has no usable tracing/: %w", d, err))
			continue
		}
		return root, nil
	}

	// 3. Mount tracefs at /sys/kernel/tracing.
	if err := f.mount("nodev", f.tracingDir, "tracefs", 0, ""); err != nil {
		attempts = append(attempts, mountFailure("tracefs", f.tracingDir, err))
	} else if err := checkRoot(f.tracingDir); err != nil {
		attempts = append(attempts, fmt.Errorf("mounted tracefs at %s but it is not usable: %w", f.tracingDir, err))
	} else {
		return f.tracingDir, nil
	}

	// 4. Mount debugfs at /sys/kernel/debug and use its tracing/ directory.
	// Skipped when debugfs is already mounted there: step 2 checked it.
	notFound := &notFoundError{tracingDir: f.tracingDir, debugDir: f.debugDir}
	if debugMounted {
		notFound.attempts = attempts
		return "", notFound
	}
	if err := f.mount("nodev", f.debugDir, "debugfs", 0, ""); err != nil {
		notFound.attempts = append(attempts, mountFailure("debugfs", f.debugDir, err))
		return "", notFound
	}
	root := filepath.Join(f.debugDir, "tracing")
	if err := checkRoot(root); err != nil {
		notFound.attempts = append(attempts, fmt.Errorf("mounted debugfs at %s but it has no usable tracing/: %w", f.debugDir, err))
		return "", notFound
	}
	return root, nil
}

// checkRoot reports whether dir looks like a usable tracefs root: it must
// have an events/ directory that the caller can access.
func checkRoot(dir string) error {
	st, err := os.Stat(filepath.Join(dir, "events"))
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%w (tracefs is only accessible to root by default)", err)
		}
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", filepath.Join(dir, "events"))
	}
	return nil
}

// mountFailure describes a failed mount(2) call, with the equivalent shell
// command and a hint derived from the errno.
func mountFailure(fstype, dir string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		hint = " (mounting needs root or CAP_SYS_ADMIN)"
	case errors.Is(err, unix.ENODEV):
		hint = fmt.Sprintf(" (this kernel does not support %s)", fstype)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		hint = " (the mount point does not exist)"
	case errors.Is(err, unix.EBUSY):
		hint = " (the mount point is busy)"
	}
	return fmt.Errorf("mount -t %s nodev %s: %w%s", fstype, dir, err, hint)
}

// notFoundError is returned by Dir when tracefs can be neither found nor
// mounted. It unwraps to every underlying failure, so errors.Is(err,
// unix.EPERM) works.
type notFoundError struct {
	attempts   []error
	tracingDir string
	debugDir   string
}

func (e *notFoundError) Error() string {
	var b strings.Builder
	b.WriteString("tracefs: no usable tracefs mount found and mounting one failed")
	for _, a := range e.attempts {
		b.WriteString("; ")
		b.WriteString(a.Error())
	}
	fmt.Fprintf(&b, "; to fix, run as root: mount -t tracefs nodev %s (or: mount -t debugfs nodev %s)",
		e.tracingDir, e.debugDir)
	if errors.Is(e, unix.EPERM) || errors.Is(e, unix.EACCES) {
		b.WriteString(", and run this program as root (in a container: privileged, or with CAP_SYS_ADMIN)")
	}
	return b.String()
}

func (e *notFoundError) Unwrap() []error { return e.attempts }

// readMounts parses a /proc/mounts style file.
func readMounts(path string) ([]mountEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var mounts []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		mounts = append(mounts, mountEntry{dir: unescapeMount(fields[1]), fstype: fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return mounts, nil
}

// unescapeMount decodes the octal escapes (\040 for space, etc.) that the
// kernel uses for mount points in /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
