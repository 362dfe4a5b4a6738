package tracefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ebpftrace/ebpftrace/internal/match"
)

// eventDir returns events/<category>/<name> under the root after checking
// that neither component can escape it.
func (fsys *FS) eventDir(category, name string) (string, error) {
	for _, c := range [...]string{category, name} {
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\x00") {
			return "", fmt.Errorf("tracefs: invalid tracepoint %q:%q", category, name)
		}
	}
	return filepath.Join(fsys.Root, "events", category, name), nil
}

// readEventFile reads events/<category>/<name>/<file>, turning a missing
// file into a "tracepoint not found" error (still matching fs.ErrNotExist).
func (fsys *FS) readEventFile(category, name, file string) ([]byte, error) {
	dir, err := fsys.eventDir(category, name)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("tracefs: tracepoint %s:%s not found: %w", category, name, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("tracefs: tracepoint %s:%s: %w (tracefs files are readable by root only by default)", category, name, err)
	default:
		return nil, fmt.Errorf("tracefs: tracepoint %s:%s: %w", category, name, err)
	}
}

// Format reads and parses events/<category>/<name>/format, e.g.
// Format("syscalls", "sys_enter_openat"). The result has Category set.
func (fsys *FS) Format(category, name string) (*Format, error) {
	data, err := fsys.readEventFile(category, name, "format")
	if err != nil {
		return nil, err
	}
	f, err := ParseFormat(string(data))
	if err != nil {
		return nil, fmt.Errorf("tracepoint %s:%s: %w", category, name, err)
	}
	f.Category = category
	return f, nil
}

// EventID returns the tracepoint's ID from events/<category>/<name>/id; it
// is the config value for a PERF_TYPE_TRACEPOINT perf event.
func (fsys *FS) EventID(category, name string) (uint64, error) {
	data, err := fsys.readEventFile(category, name, "id")
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tracefs: tracepoint %s:%s: bad id %q: %w", category, name, s, err)
	}
	return id, nil
}

// Events lists all tracepoints as sorted, de-duplicated "category:name"
// strings. It reads available_events (which the kernel does not keep
// sorted); if that file does not exist it walks events/*/*, skipping the
// "ftrace" category, whose internal events are not listed in
// available_events and cannot be attached to.
func (fsys *FS) Events() ([]string, error) {
	path := filepath.Join(fsys.Root, "available_events")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fsys.walkEvents()
	}
	if err != nil {
		return nil, fmt.Errorf("tracefs: list events: %w", err)
	}
	var events []string
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.Contains(line, ":") {
			return nil, fmt.Errorf("tracefs: list events: unexpected line %q in %s", line, path)
		}
		events = append(events, line)
	}
	slices.Sort(events)
	return slices.Compact(events), nil
}

// walkEvents lists events/<category>/<name> directories that have a format
// file.
func (fsys *FS) walkEvents() ([]string, error) {
	eventsDir := filepath.Join(fsys.Root, "events")
	cats, err := os.ReadDir(eventsDir)
	if err != nil {
		return nil, fmt.Errorf("tracefs: list events (no available_events): %w", err)
	}
	var events []string
	for _, cat := range cats {
		if !cat.IsDir() || cat.Name() == "ftrace" {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(eventsDir, cat.Name()))
		if err != nil {
			return nil, fmt.Errorf("tracefs: list events (no available_events): %w", err)
		}
		for _, ev := range entries {
			if !ev.IsDir() {
				continue
			}
			if _, err := os.Stat(filepath.Join(eventsDir, cat.Name(), ev.Name(), "format")); err != nil {
				continue
			}
			events = append(events, cat.Name()+":"+ev.Name())
		}
	}
	slices.Sort(events)
	return events, nil
}

// Match returns the sorted "category:name" events matching pattern, a glob
// with '*' and '?' (see Glob). A pattern containing ':' is matched against
// "category:name"; a pattern without ':' matches an event if it matches
// either "category:name" or the bare name, so "sched_switch" finds
// "sched:sched_switch". No match is not an error: the result is empty.
func (fsys *FS) Match(pattern string) ([]string, error) {
	// An exact "category:name" needs no listing: its directory says.
	if cat, name, ok := strings.Cut(pattern, ":"); ok && !strings.ContainsAny(pattern, "*?") && cat != "" && name != "" && !strings.ContainsAny(pattern, "/") {
		if st, err := os.Stat(filepath.Join(fsys.Root, "events", cat, name)); err == nil && st.IsDir() {
			return []string{pattern}, nil
		}
	}
	events, err := fsys.Events()
	if err != nil {
		return nil, err
	}
	qualified := strings.Contains(pattern, ":")
	var out []string
	for _, ev := range events {
		if Glob(pattern, ev) {
			out = append(out, ev)
			continue
		}
		if !qualified {
			if _, name, ok := strings.Cut(ev, ":"); ok && Glob(pattern, name) {
				out = append(out, ev)
			}
		}
	}
	return out, nil
}

// Glob reports whether s matches pattern, where '*' matches any run of
// characters (including none, and including ':') and '?' matches exactly
// one character; see match.Glob, which it is.
func Glob(pattern, s string) bool { return match.Glob(pattern, s) }
