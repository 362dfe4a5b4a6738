package symbolize

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// child is a test program that printed one line and now waits.
type child struct {
	cmd  *exec.Cmd
	pid  int
	line []string // the fields of the first line it printed
}

// startChild runs path with args, reads the first line it prints, and
// registers its killing for the end of the test.
func startChild(t *testing.T, path string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid}
	t.Cleanup(c.kill)
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		s.Scan()
		lines <- s.Text()
	}()
	select {
	case l := <-lines:
		c.line = strings.Fields(l)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s printed nothing", path)
	}
	return c
}

// kill kills the child and waits for it, so that its /proc entry is gone.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// hex parses field i of the child's line, printed with %p ("0x…").
func (c *child) hex(t *testing.T, i int) uint64 {
	t.Helper()
	if i >= len(c.line) {
		t.Fatalf("child printed %q, want at least %d fields", c.line, i+1)
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(c.line[i], "0x"), 16, 64)
	if err != nil {
		t.Fatalf("field %d of %q: %v", i, c.line, err)
	}
	return v
}

// dec parses field i of the child's line as a decimal number.
func (c *child) dec(t *testing.T, i int) uint64 {
	t.Helper()
	if i >= len(c.line) {
		t.Fatalf("child printed %q, want at least %d fields", c.line, i+1)
	}
	v, err := strconv.ParseUint(c.line[i], 10, 64)
	if err != nil {
		t.Fatalf("field %d of %q: %v", i, c.line, err)
	}
	return v
}

// needTool skips the test when a command is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// run runs a command and fails the test with its output on error.
func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestMain removes the directory of the shared Go test builds.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtGo.dir != "" {
		os.RemoveAll(builtGo.dir)
	}
	os.Exit(code)
}

// tempDirOutsideTest makes a directory that outlives one test; TestMain
// removes it.
func tempDirOutsideTest() (string, error) {
	return os.MkdirTemp("", "symbolize-test-")
}
