package tracefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testFS is a copy of a few files of a real tracefs tree.
var testFS = &FS{Root: filepath.Join("testdata", "tracefs")}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "sched:sched_switch", true},
		{"sched:*", "sched:sched_switch", true},
		{"sched:*", "syscalls:sys_enter_open", false},
		{"*:sched_switch", "sched:sched_switch", true},
		{"*switch", "sched:sched_switch", true},
		{"sys_enter_open*", "sys_enter_openat", true},
		{"sys_enter_open*", "sys_enter_open", true},
		{"sys_enter_open*", "sys_exit_open", false},
		{"sys_enter_open?", "sys_enter_open", false},
		{"sys_enter_open?", "sys_enter_openx", true},
		{"sys_enter_open??", "sys_enter_openat", true},
		{"?", "é", true},
		{"a*b*c", "a__b__b__c", true},
		{"a*b*c", "a__b__b__", false},
		{"a**", "a", true},
		{"*a*", "bbb", false},
		{"*_*_*", "sys_enter_openat", true},
		{"abc", "abd", false},
		{"[a]", "a", false}, // no character classes
		{"[a]", "[a]", true},
	}
	for _, tt := range tests {
		if got := Glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestFSFormat(t *testing.T) {
	f, err := testFS.Format("syscalls", "sys_enter_openat")
	if err != nil {
		t.Fatal(err)
	}
	if f.Category != "syscalls" || f.Name != "sys_enter_openat" || f.ID != 782 {
		t.Errorf("got %s:%s id %d", f.Category, f.Name, f.ID)
	}
	if fl, ok := f.Field("filename"); !ok || fl.Offset != 24 || !fl.IsString {
		t.Errorf("filename = %+v, %v", fl, ok)
	}

	_, err = testFS.Format("syscalls", "sys_enter_nope")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "syscalls:sys_enter_nope not found") {
		t.Errorf("missing tracepoint: err = %v", err)
	}
	for _, bad := range [][2]string{{"..", "x"}, {"syscalls", "../sched"}, {"", "x"}, {"a/b", "c"}} {
		if _, err := testFS.Format(bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), "invalid tracepoint") {
			t.Errorf("Format(%q, %q): err = %v, want invalid tracepoint", bad[0], bad[1], err)
		}
	}
}

func TestFSEventID(t *testing.T) {
	id, err := testFS.EventID("sched", "sched_switch")
	if err != nil || id != 372 {
		t.Errorf("EventID = %d, %v; want 372", id, err)
	}
	if _, err := testFS.EventID("ftrace", "kernel_stack"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("EventID without id file: err = %v", err)
	}
}

var wantTestEvents = []string{
	"bridge:br_fdb_add",
	"dma:dma_map_sg",
	"raw_syscalls:sys_enter",
	"sched:sched_process_exec",
	"sched:sched_switch",
	"syscalls:sys_enter_execve",
	"syscalls:sys_enter_landlock_create_ruleset",
	"syscalls:sys_enter_open",
	"syscalls:sys_enter_openat",
	"syscalls:sys_enter_openat2",
	"syscalls:sys_exit_execve",
	"syscalls:sys_exit_openat",
}

func TestFSEvents(t *testing.T) {
	got, err := testFS.Events()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantTestEvents) {
		t.Errorf("Events() =\n%q\nwant\n%q", got, wantTestEvents)
	}
}

// TestFSEventsWalk checks the fallback used when available_events is
// missing: it must give the same list (ftrace:* is skipped).
func TestFSEventsWalk(t *testing.T) {
	root := t.TempDir()
	abs, err := filepath.Abs(filepath.Join(testFS.Root, "events"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, filepath.Join(root, "events")); err != nil {
		t.Fatal(err)
	}
	got, err := (&FS{Root: root}).Events()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantTestEvents) {
		t.Errorf("Events() =\n%q\nwant\n%q", got, wantTestEvents)
	}

	if _, err := (&FS{Root: t.TempDir()}).Events(); err == nil {
		t.Error("Events() on an empty directory: want error")
	}
}

func TestFSMatch(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string
	}{
		{"syscalls:sys_enter_open*", []string{"syscalls:sys_enter_open", "syscalls:sys_enter_openat", "syscalls:sys_enter_openat2"}},
		{"sys_enter_open?", nil},
		{"sys_enter_open??", []string{"syscalls:sys_enter_openat"}},
		{"sched_switch", []string{"sched:sched_switch"}},
		{"sched:*", []string{"sched:sched_process_exec", "sched:sched_switch"}},
		{"sched*", []string{"sched:sched_process_exec", "sched:sched_switch"}},
		{"sys_enter", []string{"raw_syscalls:sys_enter"}},
		{"*:sys_enter", []string{"raw_syscalls:sys_enter"}},
		{"sched_switch:*", nil},
		{"*", wantTestEvents},
	}
	for _, tt := range tests {
		got, err := testFS.Match(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}
