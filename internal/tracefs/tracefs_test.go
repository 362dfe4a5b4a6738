package tracefs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeSystem is a temporary directory standing in for /sys/kernel plus a
// fake /proc/self/mounts and a fake mount(2).
type fakeSystem struct {
	t      *testing.T
	dir    string
	calls  []string         // "fstype target" of each mount call
	result map[string]error // mount result by fstype; nil = success
	finder finder
}

func newFakeSystem(t *testing.T, mounts string) *fakeSystem {
	t.Helper()
	s := &fakeSystem{t: t, dir: t.TempDir(), result: map[string]error{}}
	for _, d := range []string{"tracing", "debug"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mountsFile := filepath.Join(s.dir, "mounts")
	mounts = strings.ReplaceAll(mounts, "$DIR", s.dir)
	if err := os.WriteFile(mountsFile, []byte(mounts), 0o644); err != nil {
		t.Fatal(err)
	}
	s.finder = finder{
		mountsFile: mountsFile,
		tracingDir: filepath.Join(s.dir, "tracing"),
		debugDir:   filepath.Join(s.dir, "debug"),
		mount:      s.mount,
	}
	return s
}

// mount simulates mount(2): on success it populates the mount point the
// way the kernel would.
func (s *fakeSystem) mount(source, target, fstype string, flags uintptr, data string) error {
	s.calls = append(s.calls, fstype+" "+target)
	if source != "nodev" || flags != 0 || data != "" {
		s.t.Errorf("mount(%q, %q, %q, %d, %q): unexpected arguments", source, target, fstype, flags, data)
	}
	if err := s.result[fstype]; err != nil {
		return err
	}
	events := filepath.Join(target, "events")
	if fstype == "debugfs" {
		events = filepath.Join(target, "tracing", "events")
	}
	return os.MkdirAll(events, 0o755)
}

func (s *fakeSystem) mkdir(rel string) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Join(s.dir, rel), 0o755); err != nil {
		s.t.Fatal(err)
	}
}

func TestDirExistingTracefs(t *testing.T) {
	s := newFakeSystem(t, "sysfs /sys sysfs rw 0 0\nnodev $DIR/other\\040dir tracefs rw 0 0\nnodev $DIR/tracing tracefs rw 0 0\n")
	s.mkdir("tracing/events")
	s.mkdir("other dir/events")
	got, err := s.finder.dir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.dir, "tracing"); got != want {
		t.Errorf("dir() = %q, want %q (the canonical mount first)", got, want)
	}
	if len(s.calls) != 0 {
		t.Errorf("mount called: %q", s.calls)
	}
}

func TestDirExistingTracefsEscaped(t *testing.T) {
	s := newFakeSystem(t, "nodev $DIR/other\\040dir tracefs rw 0 0\n")
	s.mkdir("other dir/events")
	got, err := s.finder.dir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.dir, "other dir"); got != want {
		t.Errorf("dir() = %q, want %q", got, want)
	}
}

func TestDirExistingDebugfs(t *testing.T) {
	s := newFakeSystem(t, "debugfs $DIR/debug debugfs rw 0 0\n")
	s.mkdir("debug/tracing/events")
	got, err := s.finder.dir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.dir, "debug", "tracing"); got != want {
		t.Errorf("dir() = %q, want %q", got, want)
	}
	if len(s.calls) != 0 {
		t.Errorf("mount called: %q", s.calls)
	}
}

func TestDirMountsTracefs(t *testing.T) {
	s := newFakeSystem(t, "sysfs /sys sysfs rw 0 0\n")
	got, err := s.finder.dir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.dir, "tracing"); got != want {
		t.Errorf("dir() = %q, want %q", got, want)
	}
	if want := []string{"tracefs " + filepath.Join(s.dir, "tracing")}; !slices.Equal(s.calls, want) {
		t.Errorf("mount calls = %q, want %q", s.calls, want)
	}
}

func TestDirFallsBackToDebugfs(t *testing.T) {
	s := newFakeSystem(t, "")
	s.finder.mountsFile = filepath.Join(s.dir, "no-such-mounts-file")
	s.result["tracefs"] = unix.ENODEV
	got, err := s.finder.dir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.dir, "debug", "tracing"); got != want {
		t.Errorf("dir() = %q, want %q", got, want)
	}
	want := []string{"tracefs " + filepath.Join(s.dir, "tracing"), "debugfs " + filepath.Join(s.dir, "debug")}
	if !slices.Equal(s.calls, want) {
		t.Errorf("mount calls = %q, want %q", s.calls, want)
	}
}

func TestDirPermissionError(t *testing.T) {
	s := newFakeSystem(t, "sysfs /sys sysfs rw 0 0\n")
	s.result["tracefs"] = unix.EPERM
	s.result["debugfs"] = unix.EPERM
	_, err := s.finder.dir()
	if err == nil {
		t.Fatal("dir() succeeded, want error")
	}
	if !errors.Is(err, unix.EPERM) {
		t.Errorf("errors.Is(err, EPERM) = false for %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"mount -t tracefs nodev " + filepath.Join(s.dir, "tracing") + ": operation not permitted",
		"mount -t debugfs nodev " + filepath.Join(s.dir, "debug") + ": operation not permitted",
		"root or CAP_SYS_ADMIN",
		"run as root: mount -t tracefs nodev " + filepath.Join(s.dir, "tracing"),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\ndoes not contain %q", msg, want)
		}
	}
}

func TestDirDebugfsWithoutTracing(t *testing.T) {
	// debugfs already mounted but without tracing/, and tracefs cannot be
	// mounted: debugfs must not be mounted a second time.
	s := newFakeSystem(t, "debugfs $DIR/debug debugfs rw 0 0\n")
	s.result["tracefs"] = unix.ENODEV
	_, err := s.finder.dir()
	if err == nil {
		t.Fatal("dir() succeeded, want error")
	}
	if !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "does not support tracefs") {
		t.Errorf("err = %v", err)
	}
	if want := []string{"tracefs " + filepath.Join(s.dir, "tracing")}; !slices.Equal(s.calls, want) {
		t.Errorf("mount calls = %q, want %q", s.calls, want)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:         "/plain",
		`/a\040b`:        "/a b",
		`/tab\011x\134y`: "/tab\tx\\y",
		`/short\04`:      `/short\04`,
		`/bad\089`:       `/bad\089`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRealTracefs runs against the live kernel. It needs root, and it
// mounts tracefs at /sys/kernel/tracing when it is not mounted yet (the
// mount is left in place).
func TestRealTracefs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to find or mount tracefs")
	}
	fsys, err := Open()
	if err != nil {
		t.Skipf("skipping: cannot find or mount tracefs: %v", err)
	}
	t.Logf("tracefs root: %s", fsys.Root)

	raw, err := os.ReadFile(filepath.Join(fsys.Root, "events", "syscalls", "sys_enter_openat", "format"))
	if err != nil {
		t.Skipf("skipping: no syscalls:sys_enter_openat (CONFIG_FTRACE_SYSCALLS?): %v", err)
	}
	wantOffset := -1
	for line := range strings.SplitSeq(string(raw), "\n") {
		if strings.Contains(line, " filename;") {
			for attr := range strings.SplitSeq(line, ";") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(attr), "offset:"); ok {
					n, err := strconv.Atoi(v)
					if err != nil {
						t.Fatalf("bad offset in %q: %v", line, err)
					}
					wantOffset = n
				}
			}
		}
	}
	if wantOffset < 0 {
		t.Fatalf("no filename field in format file:\n%s", raw)
	}

	f, err := fsys.Format("syscalls", "sys_enter_openat")
	if err != nil {
		t.Fatal(err)
	}
	fl, ok := f.Field("filename")
	if !ok {
		t.Fatalf("no filename field in %+v", f)
	}
	if fl.Offset != wantOffset || fl.Size != 8 || !fl.IsPointer || !fl.IsString || fl.Type != "const char *" {
		t.Errorf("filename = %+v, want offset %d, size 8, const char * string pointer", fl, wantOffset)
	}
	id, err := fsys.EventID("syscalls", "sys_enter_openat")
	if err != nil {
		t.Fatal(err)
	}
	if id != f.ID {
		t.Errorf("EventID = %d, format says ID %d", id, f.ID)
	}

	m, err := fsys.Match("syscalls:sys_enter_open*")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m, "syscalls:sys_enter_openat") {
		t.Errorf("Match(syscalls:sys_enter_open*) = %q, want it to contain syscalls:sys_enter_openat", m)
	}
	m, err = fsys.Match("sched_switch")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m, "sched:sched_switch") {
		t.Errorf("Match(sched_switch) = %q, want it to contain sched:sched_switch", m)
	}

	// Every listed event should parse.
	events, err := fsys.Events()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(events) {
		t.Error("Events() not sorted")
	}
	for _, ev := range events {
		cat, name, _ := strings.Cut(ev, ":")
		if _, err := fsys.Format(cat, name); err != nil {
			t.Errorf("Format(%s): %v", ev, err)
		}
	}
	t.Logf("%d events, all formats parsed", len(events))
}
