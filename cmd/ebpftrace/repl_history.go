package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/dsl"
)

// The REPL's history file. ebpftrace runs as root, and the file's path
// comes from the environment ($EBPFTRACE_HISTORY, $XDG_STATE_HOME,
// $HOME), perhaps another user's: so it is never read or written through
// a symbolic link, only a regular file owned by the effective user is
// used, and it is replaced whole (a temporary file in the same directory,
// mode 0600, renamed over it) rather than truncated in place.

// maxHistory bounds what is read of a history file.
const maxHistory = 1 << 20

// historyPath is where the REPL keeps its history: $EBPFTRACE_HISTORY,
// else $XDG_STATE_HOME/ebpftrace/history, else ~/.ebpftrace_history.
func historyPath() string {
	if p := os.Getenv("EBPFTRACE_HISTORY"); p != "" {
		return p
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ebpftrace", "history")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".ebpftrace_history")
	}
	return ""
}

// loadHistory reads the history file, if there is a usable one.
func (r *repl) loadHistory() {
	if r.histPath == "" {
		return
	}
	err := readHistoryFile(r.histPath, r.ln.ReadHistory)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.historyProblem(err)
	}
}

// addHistory adds an entry and saves the history at once, so that it
// survives however the session ends.
func (r *repl) addHistory(entry string) {
	r.ln.AppendHistory(entry)
	if r.histPath == "" {
		return
	}
	if err := writeHistoryFile(r.histPath, r.ln.WriteHistory); err != nil {
		r.historyProblem(err)
	}
}

// historyProblem says, once a session, why the history file is not used.
func (r *repl) historyProblem(err error) {
	if r.histWarned {
		return
	}
	r.histWarned = true
	fmt.Fprintf(r.stderr, "ebpftrace: history not kept: %v (set EBPFTRACE_HISTORY to another file)\n", err)
}

// checkHistoryFile reports why st, the file at path, is not one to keep
// history in.
func checkHistoryFile(path string, st fs.FileInfo) error {
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is %s, not a regular file", path, fileKind(st.Mode()))
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to this user (uid %d)", path, sys.Uid, os.Geteuid())
	}
	return nil
}

// readHistoryFile hands the history file at path to read, if it is a
// regular file of this user's (not followed if it is a link).
func readHistoryFile(path string, read func(io.Reader) (int, error)) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("%s is a symbolic link", path)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkHistoryFile(path, st); err != nil {
		return err
	}
	_, err = read(io.LimitReader(f, maxHistory))
	return err
}

// writeHistoryFile replaces the history file at path with what write
// writes: into a new file of mode 0600 in the same directory, renamed
// over path, so that nothing is written through a link and a crash
// leaves the old file or the new one. An existing path that is not a
// regular file of this user's is left alone.
func writeHistoryFile(path string, write func(io.Writer) (int, error)) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if st, err := os.Lstat(path); err == nil {
		if err := checkHistoryFile(path, st); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write the history: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a failure; the rename took it otherwise
	if _, err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write the history: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the history: %w", err)
	}
	// Rename replaces a link put there since the check, never its target.
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write the history: %w", err)
	}
	return nil
}

// historyEntry puts a multi-line input on one line (history is one entry
// a line). The lines of an input are joined where a newline is a blank:
// inside brackets, after "." or an operator, or before a leading ".".
func historyEntry(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(stripLineComment(l))
		if l == "" {
			continue
		}
		if b.Len() > 0 && !strings.HasSuffix(b.String(), ".") && !strings.HasPrefix(l, ".") &&
			!strings.HasSuffix(b.String(), "(") && !strings.HasPrefix(l, ")") {
			b.WriteByte(' ')
		}
		b.WriteString(l)
	}
	return b.String()
}

// stripLineComment drops a // comment that ends a line, as the lexer
// finds it (not one inside a string).
func stripLineComment(l string) string {
	if p := dsl.ScanPartial(l); p.Comment && !p.Block {
		return l[:p.CommentStart]
	}
	return l
}
