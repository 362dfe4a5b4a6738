package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/internal/shellwords"
)

// -c CMD must not run a single instruction of CMD before every probe is
// attached. The child is this binary again in shim mode: it resolves the
// command, stops itself with SIGSTOP, and once the tracer has attached and
// sent SIGCONT it execs the command, keeping its pid, which the probes
// already filter on.
const shimEnv = "EBPFTRACE_EXEC_SHIM"

func isChildShim() bool { return os.Getenv(shimEnv) != "" }

// runChildShim is main in shim mode: os.Args[1] is the resolved path,
// os.Args[2:] the command's argv.
func runChildShim() {
	if len(os.Args) < 3 {
		os.Exit(127)
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if len(kv) < len(shimEnv) || kv[:len(shimEnv)] != shimEnv {
			env = append(env, kv)
		}
	}
	_ = unix.Kill(os.Getpid(), unix.SIGSTOP)
	err := syscall.Exec(os.Args[1], os.Args[2:], env)
	fmt.Fprintf(os.Stderr, "ebpftrace: -c: exec %s: %v\n", os.Args[1], err)
	os.Exit(127)
}

// childProcess is the -c command, stopped until release.
type childProcess struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{}
}

func startChild(cmdline string) (*childProcess, error) {
	words, err := shellwords.Split(cmdline)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	path, err := exec.LookPath(words[0])
	if err != nil {
		return nil, fmt.Errorf("%s: command not found", words[0])
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{path}, words...)...)
	cmd.Env = append(os.Environ(), shimEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// If the tracer dies, so does the command it was told to run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childProcess{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	// Wait until the shim has stopped itself (without reaping it).
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(c.pid, &ws, unix.WUNTRACED, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			cmd.Process.Kill()
			return nil, fmt.Errorf("wait for the child to start: %w", err)
		}
		break
	}
	if !ws.Stopped() {
		return nil, fmt.Errorf("the child exited before it started (status %v)", ws)
	}
	return c, nil
}

// release lets the command run; wait returns once it has exited.
func (c *childProcess) release() error {
	if err := unix.Kill(c.pid, unix.SIGCONT); err != nil {
		return fmt.Errorf("start the child: %w", err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	return nil
}

func (c *childProcess) wait() { <-c.done }

// kill ends the command if it is still running when the tracer stops.
func (c *childProcess) kill() {
	select {
	case <-c.done:
	default:
		c.cmd.Process.Kill()
	}
}
