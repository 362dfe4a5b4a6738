package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func writeText(s string) func(io.Writer) (int, error) {
	return func(w io.Writer) (int, error) { return io.WriteString(w, s) }
}

// TestHistoryFileWrite: the history replaces a regular file of this
// user's (mode 0600, through a rename), is created where none is, and
// leaves alone a symbolic link (and its target), another user's file and
// what is not a regular file.
func TestHistoryFileWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "history")
	if err := writeHistoryFile(path, writeText("a\n")); err != nil {
		t.Fatal(err)
	}
	st1, err := os.Stat(path)
	if err != nil || st1.Mode().Perm() != 0o600 {
		t.Fatalf("new history file: %v, mode %v", err, st1.Mode())
	}
	os.Chmod(path, 0o644)
	if err := writeHistoryFile(path, writeText("a\nb\n")); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(path)
	if b, _ := os.ReadFile(path); string(b) != "a\nb\n" || st2.Mode().Perm() != 0o600 || os.SameFile(st1, st2) {
		t.Errorf("rewritten history %q, mode %v, same file %v: want a new file of mode 0600", b, st2.Mode(), os.SameFile(st1, st2))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "state", ".history.*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// A link to a file: neither written through nor replaced.
	target := filepath.Join(dir, "precious")
	os.WriteFile(target, []byte("keep me\n"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(target, link)
	err = writeHistoryFile(link, writeText("x\n"))
	if err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("writing through a link: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the link's target became %q", b)
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced")
	}
	if err := readHistoryFile(link, func(io.Reader) (int, error) { t.Error("read through a link"); return 0, nil }); err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Errorf("reading through a link: %v", err)
	}

	// Not a regular file.
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o600)
	if err := writeHistoryFile(fifo, writeText("x\n")); err == nil || !strings.Contains(err.Error(), "is a FIFO, not a regular file") {
		t.Errorf("a FIFO as history: %v", err)
	}
	if err := readHistoryFile(fifo, func(io.Reader) (int, error) { return 0, nil }); err == nil || !strings.Contains(err.Error(), "is a FIFO") {
		t.Errorf("reading a FIFO as history: %v", err)
	}
	if err := writeHistoryFile(dir, writeText("x\n")); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory as history: %v", err)
	}

	// Another user's file.
	if os.Geteuid() == 0 {
		other := filepath.Join(dir, "other")
		os.WriteFile(other, []byte("theirs\n"), 0o644)
		os.Chown(other, 65534, 65534)
		if err := writeHistoryFile(other, writeText("x\n")); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("another user's history file: %v", err)
		}
		if b, _ := os.ReadFile(other); string(b) != "theirs\n" {
			t.Errorf("another user's file became %q", b)
		}
	}
}

// TestREPLHistoryLink runs the REPL with its history file a symbolic link
// to a file: it says once that it keeps no history, and the file stays as
// it was.
func TestREPLHistoryLink(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	os.WriteFile(target, []byte("keep me\n"), 0o644)
	link := filepath.Join(dir, "history")
	os.Symlink(target, link)
	p := startTmuxREPL(t, dir, link, "")
	for _, in := range []string{"n := 1", ":dump", "m := n + 1"} {
		p.typeText(in)
		p.keys("Enter")
	}
	p.typeText(":quit")
	p.keys("Enter")
	p.waitFor("the REPL to end", func(string) bool { return p.dead() })
	screen := p.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", p.target)
	if n := strings.Count(screen, "history not kept: "+link+" is a symbolic link"); n != 1 {
		t.Errorf("the link is reported %d times, want once:\n%s", n, screen)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Errorf("the history was written through the link: %q", b)
	}
}
