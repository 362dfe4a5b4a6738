package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/internal/shellwords"
)

// -c CMD must not run a single instruction of CMD before every probe is
// attached. The child is started under ptrace (PTRACE_TRACEME), so the
// kernel stops it right after its execve, already the command, with its
// final pid and comm; once the probes are attached the tracer detaches and
// the command runs. A ptrace stop, unlike SIGSTOP, is not undone by the
// SIGCONT the kernel sends to orphaned process groups. ptrace requests must
// come from the thread that started the child, so run() locks the main
// goroutine to its thread.

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
	cmd := exec.Command(path, words[1:]...)
	cmd.Args[0] = words[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// If the tracer dies, so does the command it was told to run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &childProcess{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	// Wait for the stop at the exec (without reaping the child).
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(c.pid, &ws, unix.WALL, nil)
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
	if err := unix.PtraceDetach(c.pid); err != nil {
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

// followToExit lets the child run, still traced, until it exits, so that
// its memory maps can be read just before it goes (PTRACE_EVENT_EXIT):
// user stacks in aggregations are printed after the command has exited.
// Signals are passed on; job-control stops are not (the child keeps
// running). It returns when the child has exited, or kills it when ctx
// ends first. It must run on the thread that started the child.
func (c *childProcess) followToExit(ctx context.Context, beforeExit func()) error {
	if err := unix.PtraceSetOptions(c.pid, unix.PTRACE_O_TRACEEXIT); err != nil {
		return fmt.Errorf("trace the child's exit: %w", err)
	}
	if err := unix.PtraceCont(c.pid, 0); err != nil {
		return fmt.Errorf("start the child: %w", err)
	}
	stops := make(chan unix.WaitStatus, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(stops)
		for {
			var ws unix.WaitStatus
			_, err := unix.Wait4(c.pid, &ws, unix.WALL, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return
			}
			select {
			case stops <- ws:
			case <-quit:
				return
			}
			if ws.Exited() || ws.Signaled() {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			c.cmd.Process.Kill()
			return nil
		case ws, ok := <-stops:
			if !ok || ws.Exited() || ws.Signaled() {
				close(c.done)
				return nil
			}
			if !ws.Stopped() {
				continue
			}
			sig := ws.StopSignal()
			switch {
			case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXIT:
				beforeExit()
				sig = 0
			case sig == unix.SIGTRAP, sig == unix.SIGSTOP, sig == unix.SIGTSTP, sig == unix.SIGTTIN, sig == unix.SIGTTOU:
				sig = 0
			}
			if err := unix.PtraceCont(c.pid, int(sig)); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("continue the child: %w", err)
			}
		}
	}
}
