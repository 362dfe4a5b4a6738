package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	goruntime "runtime"
	"runtime/debug"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/internal/shellwords"
)

// -c CMD traces the command, from its own execve on, and every process
// it starts, as perf record/stat and strace -f do; no instruction of CMD
// runs before every probe is attached, and nothing ebpftrace does to
// start it is traced.
//
// The probes are attached first, keeping (in the kernel, through
// bpf_get_current_cgroup_id) to a cgroup v2 made for the run that is
// still empty (cgroup.go). The command is then cloned (CLONE_INTO_CGROUP)
// into a sibling cgroup created frozen: cgroup_post_fork arms the freezer
// trap before the child is first woken, so it stops on its way out of
// clone, before its first user instruction. ebpftrace seizes it there
// with ptrace, thaws it, and steps it from system call to system call
// through what Go's child code does before the exec (resetting signal
// handlers, the parent-death signal with its getppid, dup'ing the
// standard files), which is not the command's and is not seen. At the
// entry of its execve the child moves into the traced cgroup and is let
// go: the command's sys_enter_execve and sched_process_exec are its first
// events. (The probes must be attached before the child enters execve:
// the kernel decides at a system call's entry whether its tracepoint
// fires.)
//
// Go's forkExec clones with CLONE_VFORK|CLONE_VM, as a raw system call:
// until the exec, the goroutine in cmd.Start keeps its P and cannot be
// preempted, so a garbage collection that stops the world would wait for
// a child that waits for us, and with one P nothing else would run. The
// collector is off for those few milliseconds, there are at least two
// Ps, and nothing else is done in them.
//
// Where no cgroup can be made (no cgroup2 mounted, read-only, an old
// kernel), the child is started under PTRACE_TRACEME before the probes
// are compiled: the kernel stops it right after its execve, with its
// final pid and comm, and the probes follow that pid and the processes
// it starts through a map the kernel fills on fork
// (compiler.Env.FollowForks). The command's own exec is not seen then,
// which a warning says.
//
// ptrace requests must come from the thread that stopped the child:
// run() locks the main goroutine to its thread.

// command is the -c command: prepared, then started (in a cgroup) or
// released (followed by pid) once the probes are attached.
type command struct {
	path  string
	words []string
	cmd   *exec.Cmd
	pid   int
	// onPID, when set, learns the pid once the command exists and before
	// it runs any code of its own (the session's cpid).
	onPID func(pid int) error
	cg    *runCgroups // nil when followed by pid
	// started receives cmd.Start's result, which comes once the command
	// has exec'd (or failed to) in cgroup mode.
	started chan error
	// reaper says who waits for the command's end: nobody yet (close
	// does), cmd.Wait in a goroutine, or followToExit.
	reaper reaper
	// done is closed once the command has exited; status is then its
	// exit status (the code, or 128+signal as a shell has it).
	done   chan struct{}
	status int
	killed bool // ebpftrace ended it
}

type reaper int

const (
	reapOnClose reaper = iota
	reapByWait
	reapByFollow
)

// resolveCommand splits a -c command line like a shell and finds its
// program, with an error that says what is wrong with it.
func resolveCommand(cmdline string) (path string, words []string, err error) {
	words, err = shellwords.Split(cmdline)
	if err != nil {
		return "", nil, err
	}
	if len(words) == 0 {
		return "", nil, errors.New("the command is empty")
	}
	name := words[0]
	path, err = exec.LookPath(name)
	if err == nil {
		return path, words, nil
	}
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return "", nil, fmt.Errorf("%s: command not found", name)
	case errors.Is(err, syscall.EISDIR):
		return "", nil, fmt.Errorf("%s: is a directory, not a program", name)
	case errors.Is(err, fs.ErrNotExist):
		return "", nil, fmt.Errorf("%s: no such file", name)
	case errors.Is(err, fs.ErrPermission):
		if st, serr := os.Stat(name); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 == 0 {
			return "", nil, fmt.Errorf("%s: not executable (mode %v)", name, st.Mode().Perm())
		}
		return "", nil, fmt.Errorf("%s: not executable: permission denied", name)
	}
	return "", nil, fmt.Errorf("%s: %w", name, err)
}

// newCommand prepares cmdline: it makes the cgroups the command will run
// in, or, where none can be made (said on warn), starts it now, stopped
// after its exec, to be followed by pid.
func newCommand(cmdline string, warn io.Writer) (*command, error) {
	path, words, err := resolveCommand(cmdline)
	if err != nil {
		return nil, err
	}
	c := &command{path: path, words: words, started: make(chan error, 1), done: make(chan struct{})}
	cg, why := newRunCgroups()
	if why == nil {
		c.cg = cg
		return c, nil
	}
	fmt.Fprintf(warn, "ebpftrace: -c: no cgroup for the command (%v); following it and the processes it starts by pid, from after its exec (its own exec is not seen)\n", why)
	if err := c.startTraced(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *command) newCmd() *exec.Cmd {
	cmd := exec.Command(c.path, c.words[1:]...)
	cmd.Args[0] = c.words[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd
}

// startTraced starts the command under PTRACE_TRACEME: it stops right
// after its execve.
func (c *command) startTraced() error {
	c.cmd = c.newCmd()
	// If the tracer dies, so does the command it was told to run.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", c.words[0], unwrapExec(err))
	}
	c.pid = c.cmd.Process.Pid
	c.started <- nil
	ws, err := wait4(c.pid)
	if err != nil {
		c.close()
		return fmt.Errorf("wait for the command to start: %w", err)
	}
	if !ws.Stopped() {
		c.reaped(ws)
		return fmt.Errorf("the command ended before it started (%s)", describeStatus(ws))
	}
	return nil
}

// havePID tells onPID the command's pid, before it runs any of its code.
func (c *command) havePID() error {
	if c.onPID == nil {
		return nil
	}
	return c.onPID(c.pid)
}

// scope narrows env to the command and what it starts.
func (c *command) scope(env *compiler.Env) {
	env.Exe, env.Command = c.path, true
	if c.cg != nil {
		env.CgroupID = c.cg.runID
		return
	}
	env.PID, env.FollowForks = c.pid, true
}

// start lets the command run, once every probe is attached. With follow,
// it stays traced for followToExit (which must then be called); else it
// is let go and wait tells its end.
func (c *command) start(follow bool) error {
	if c.cg != nil {
		return c.startInCgroup(follow)
	}
	if err := c.havePID(); err != nil {
		return err
	}
	if follow {
		c.reaper = reapByFollow
		return nil
	}
	if err := unix.PtraceDetach(c.pid); err != nil {
		return fmt.Errorf("start the command: %w", err)
	}
	c.reaper = reapByWait
	go c.waitExit()
	return nil
}

// startInCgroup starts the command frozen in the start cgroup, steps it
// to the entry of its execve, moves it into the traced cgroup and lets it
// go (with follow, through its execve, still traced).
func (c *command) startInCgroup(follow bool) error {
	// Until the exec, the goroutine in Start holds its P (it makes the
	// vfork as a raw system call, never handing the P over) and must not
	// be waited for: this goroutine needs another P to step the child, and
	// no garbage collection may stop the world (see above). Every return
	// below comes after the vfork is over: the child has exec'd or died.
	if n := goruntime.GOMAXPROCS(0); n < 2 {
		goruntime.GOMAXPROCS(2)
		defer goruntime.GOMAXPROCS(n)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	c.cmd = c.newCmd()
	c.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: c.cg.startFD, Pdeathsig: syscall.SIGKILL}
	go func() { c.started <- c.cmd.Start() }()
	if err := c.findChild(); err != nil {
		return err
	}
	err := c.havePID()
	if err == nil {
		err = c.stepToExec()
	}
	if err == nil {
		err = enter(c.cg.run, c.pid)
	}
	if err == nil && follow {
		err = c.throughExec()
	}
	if err != nil {
		c.close()
		return err
	}
	if follow {
		c.reaper = reapByFollow
		return nil
	}
	if err := unix.PtraceDetach(c.pid); err != nil {
		c.close()
		return fmt.Errorf("start the command: %w", err)
	}
	err = <-c.started
	c.reaper = reapByWait
	go c.waitExit()
	if err != nil {
		return fmt.Errorf("%s: %w", c.words[0], unwrapExec(err))
	}
	return nil
}

// findChild finds the child in the start cgroup: it is there, its
// freezer trap armed, before it first runs, while Start waits for its
// exec.
func (c *command) findChild() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-c.started:
			if err == nil {
				err = errors.New("it ran without stopping")
			}
			return fmt.Errorf("start the command in a cgroup: %w", err)
		default:
		}
		pids, err := procs(c.cg.start)
		if err == nil && len(pids) == 0 && time.Now().After(deadline) {
			err = errors.New("the command did not appear in its cgroup")
		}
		if err != nil {
			// Whatever started must not run untraced.
			c.cg.kill()
			<-c.started
			return fmt.Errorf("start the command in a cgroup: %w", err)
		}
		if len(pids) > 0 {
			c.pid = pids[0]
			return nil
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// stepToExec seizes the frozen child, thaws it and lets it run one
// system call at a time until it enters execve, where it stays stopped.
func (c *command) stepToExec() error {
	if err := ptrace(unix.PTRACE_SEIZE, c.pid, 0, unix.PTRACE_O_TRACESYSGOOD|unix.PTRACE_O_EXITKILL); err != nil {
		return fmt.Errorf("ptrace the command (to stop it at its exec): %w", err)
	}
	if err := unix.PtraceInterrupt(c.pid); err != nil {
		return fmt.Errorf("stop the command: %w", err)
	}
	thawed := false
	for {
		ws, err := wait4(c.pid)
		if err != nil {
			return fmt.Errorf("wait for the command to start: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			c.reaped(ws)
			return fmt.Errorf("the command ended before its exec (%s)", describeStatus(ws))
		}
		sig := 0
		switch {
		case !ws.Stopped():
			continue
		case ws.StopSignal() == unix.SIGTRAP|0x80:
			var info syscallInfo
			if err := ptraceSyscallInfo(c.pid, &info); err != nil {
				return fmt.Errorf("read the command's system call: %w", err)
			}
			if info.Op == unix.PTRACE_SYSCALL_INFO_ENTRY && info.Nr == unix.SYS_EXECVE {
				return nil
			}
		case ws.StopSignal() == unix.SIGTRAP:
			// Our interrupt, or a group stop: carry on.
		default:
			sig = int(ws.StopSignal()) // deliver it
		}
		if err := unix.PtraceSyscall(c.pid, sig); err != nil {
			return fmt.Errorf("run the command to its exec: %w", err)
		}
		if !thawed {
			if err := freeze(c.cg.start, false); err != nil {
				return err
			}
			thawed = true
		}
	}
}

// throughExec runs the child, stopped at the entry of its execve,
// through it; it stays stopped at the exit. An exec that fails is the
// error.
func (c *command) throughExec() error {
	if err := unix.PtraceSyscall(c.pid, 0); err != nil {
		return fmt.Errorf("start the command: %w", err)
	}
	for {
		ws, err := wait4(c.pid)
		if err != nil {
			return fmt.Errorf("start the command: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			c.reaped(ws)
			<-c.started
			return fmt.Errorf("the command ended in its exec (%s)", describeStatus(ws))
		}
		if ws.Stopped() && ws.StopSignal() == unix.SIGTRAP|0x80 {
			break
		}
		sig := 0
		if ws.Stopped() && ws.StopSignal() != unix.SIGTRAP {
			sig = int(ws.StopSignal()) // a signal before the exec is done: deliver it
		}
		if err := unix.PtraceSyscall(c.pid, sig); err != nil {
			return fmt.Errorf("start the command: %w", err)
		}
	}
	var info syscallInfo
	if err := ptraceSyscallInfo(c.pid, &info); err != nil {
		return fmt.Errorf("read the command's exec: %w", err)
	}
	if info.Op == unix.PTRACE_SYSCALL_INFO_EXIT && info.IsError != 0 {
		// Go's child reports the error to Start, then exits; Start reaps it.
		unix.PtraceDetach(c.pid)
		err := <-c.started
		c.finish(1)
		return fmt.Errorf("%s: %w", c.words[0], unwrapExec(err))
	}
	if err := <-c.started; err != nil {
		return fmt.Errorf("%s: %w", c.words[0], unwrapExec(err))
	}
	return nil
}

// unwrapExec drops the "fork/exec PATH:" of Start's error.
func unwrapExec(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// waitExit reaps the command through cmd.Wait and records its status.
func (c *command) waitExit() {
	c.cmd.Wait()
	status := 1
	if ps := c.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			status = shellStatus(unix.WaitStatus(ws))
		}
	}
	c.finish(status)
}

// reaped records the status of the command, reaped by wait4.
func (c *command) reaped(ws unix.WaitStatus) { c.finish(shellStatus(ws)) }

// finish records the command's end.
func (c *command) finish(status int) {
	select {
	case <-c.done:
		return
	default:
	}
	c.status = status
	close(c.done)
}

// wait returns once the command has exited.
func (c *command) wait() { <-c.done }

// exitStatus is the command's exit status, when it ended on its own.
func (c *command) exitStatus() (int, bool) {
	select {
	case <-c.done:
		return c.status, !(c.killed && c.status == 128+int(unix.SIGKILL))
	default:
		return 0, false
	}
}

// kill ends the command with SIGKILL. Once something else may reap it
// (Start has returned then), through os.Process (a pidfd), so that a
// command reaped meanwhile is not mistaken for a new process with its pid.
func (c *command) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	c.killed = true
	if c.reaper != reapOnClose {
		c.cmd.Process.Kill()
		return
	}
	unix.Kill(c.pid, unix.SIGKILL)
}

// close ends the command if it still runs (ebpftrace stopped first, or
// failed), waits for it, and removes its cgroup. Processes the command
// started and left running are left running, outside the cgroup.
func (c *command) close() {
	if c == nil {
		return
	}
	select {
	case <-c.done:
	default:
		if c.pid > 0 {
			c.kill()
			switch c.reaper {
			case reapOnClose:
				for {
					ws, err := wait4(c.pid)
					if err != nil {
						c.finish(1) // gone, status unknown
						break
					}
					if ws.Exited() || ws.Signaled() {
						c.reaped(ws)
						break
					}
				}
				if c.cmd != nil {
					<-c.started // Start returns once the child has gone
				}
			default:
				<-c.done
			}
		}
	}
	c.cg.remove()
}

// followToExit lets the command run, still traced, until it exits, so
// that its memory maps can be read just before it goes
// (PTRACE_EVENT_EXIT): user stacks in aggregations are printed after the
// command has exited. Signals are passed on; job-control stops are not
// (the command keeps running). When ctx ends first it kills the command.
// It returns once the command has exited, and must run on the thread
// that stopped it.
func (c *command) followToExit(ctx context.Context, beforeExit func()) error {
	stops := make(chan unix.WaitStatus)
	go func() {
		defer close(stops)
		for {
			ws, err := wait4(c.pid)
			if err != nil {
				c.finish(1) // reaped elsewhere: the status is unknown
				return
			}
			if ws.Exited() || ws.Signaled() {
				c.reaped(ws)
				return
			}
			stops <- ws
		}
	}()
	var errs []error
	if err := unix.PtraceSetOptions(c.pid, unix.PTRACE_O_TRACEEXIT|unix.PTRACE_O_EXITKILL); err != nil {
		errs = append(errs, fmt.Errorf("trace the command's exit: %w", err))
	}
	if err := unix.PtraceCont(c.pid, 0); err != nil {
		errs = append(errs, fmt.Errorf("start the command: %w", err))
	}
	if len(errs) > 0 {
		c.kill()
	}
	ctxDone := ctx.Done()
	for {
		select {
		case <-ctxDone:
			ctxDone = nil
			c.kill()
		case ws, ok := <-stops:
			if !ok {
				return errors.Join(errs...)
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
				errs = append(errs, fmt.Errorf("continue the command: %w", err))
				c.kill()
			}
		}
	}
}

// wait4 waits for a change of state of pid (ptrace stops included),
// across EINTR.
func wait4(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
		if !errors.Is(err, unix.EINTR) {
			return ws, err
		}
	}
}

// shellStatus is an exit status as a shell reports it: the exit code, or
// 128 plus the number of the signal that ended the process.
func shellStatus(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}

func describeStatus(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// syscallInfo is struct ptrace_syscall_info (linux/ptrace.h) up to what
// is read of it: the system call number at entry, the error flag at exit.
type syscallInfo struct {
	Op      uint8
	_       uint8
	Flags   uint16
	Arch    uint32
	IP      uint64
	SP      uint64
	Nr      uint64 // entry.nr; exit.rval
	IsError uint8  // exit.is_error (the first byte of entry.args[0])
	_       [7]uint8
	_       [5]uint64
}

func ptraceSyscallInfo(pid int, info *syscallInfo) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(pid), unsafe.Sizeof(*info), uintptr(unsafe.Pointer(info)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// ptrace makes a ptrace request with data (x/sys/unix's PtraceSeize
// passes no options).
func ptrace(req, pid int, addr, data uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), addr, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
