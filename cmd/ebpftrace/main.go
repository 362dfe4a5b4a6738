// Command ebpftrace traces Linux with chains of Go expressions compiled
// straight to eBPF. See README.md and docs/LANGUAGE.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/tracefs"
	"github.com/ebpftrace/ebpftrace/scripts"
)

func main() {
	// ptrace requests for -c must come from the thread that stopped the
	// command (see child.go).
	runtime.LockOSThread()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ebpftrace: %v (ebpftrace -h shows the options)\n", err)
		return 2
	}
	if needsPrivileges(c) {
		if ok, err := havePrivileges(); err != nil || !ok {
			fmt.Fprintf(stderr, "ebpftrace: %v\n", errPrivileges)
			return 1
		}
	}
	if c.listSet {
		return listProbesVerbose(c.list, c.verbose, stdout, stderr)
	}
	src, err := readProgram(c)
	if errors.Is(err, errNoProgram) {
		return runREPL(c, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 2
	}
	prog, err := dsl.Parse(src.Name, src.Text)
	if err != nil {
		fmt.Fprint(stderr, dsl.Render(err, src))
		return 1
	}
	if c.dump == "ast" {
		fmt.Fprint(stdout, dsl.Dump(prog))
		return 0
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()

	var child *command
	if c.cmd != "" && c.dump == "" {
		child, err = newCommand(c.cmd, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "ebpftrace: -c: %v\n", err)
			return 1
		}
		// Kills the command if it still runs, and removes its cgroup,
		// however run returns.
		defer child.close()
	}
	if c.pid != 0 && c.dump == "" {
		if err := unix.Kill(c.pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
			fmt.Fprintf(stderr, "ebpftrace: -p %d: no such process\n", c.pid)
			return 1
		}
	}

	newScopedEnv := func() *compiler.Env {
		e := newEnv(c.pid)
		e.RingBufSize = c.buffer
		e.Spans = c.exports.otlp != ""
		e.Params = c.params
		if child != nil {
			child.scope(e)
		}
		return e
	}
	env := newScopedEnv()
	p, err := compiler.Compile(prog, env)
	var perr *compiler.ParamError
	if errors.As(err, &perr) {
		// A mistake on the command line: its usage, as for flags.
		fmt.Fprintf(stderr, "ebpftrace: %v\n%s", perr, perr.UsageText())
		return 2
	}
	if err != nil {
		fmt.Fprint(stderr, dsl.Render(err, src))
		return 1
	}
	warnCompiled(p, stderr)
	if c.dump == "asm" {
		dumpAsm(stdout, p)
		return 0
	}

	out, err := openOutputs(c.exports, c.format, c.duration, p, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 1
	}
	defer func(ctx context.Context) { code = out.close(ctx, code) }(ctx)
	opts := out.opts
	sess, err := start(p, opts)
	if err != nil {
		fmt.Fprint(stderr, dsl.Render(err, src))
		return 1
	}
	fmt.Fprintf(stderr, "Attached %d probe%s\n", sess.Attached(), plural(sess.Attached()))
	warnSkipped(sess, stderr)
	if c.pid != 0 && sess.UsesUserSymbols() {
		// Its maps now, so that its stacks are named even if it exits
		// before they print.
		sess.RememberProcess(c.pid)
	}

	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.pid != 0 {
		// Like -c: stop when the traced process exits.
		go func() {
			if waitExit(ctx, c.pid) {
				cancel()
			}
		}()
	}
	if child != nil && sess.UsesUserSymbols() && !c.watch {
		// Keep the command traced so its maps can be read as it exits;
		// ptrace calls stay on this thread, the session runs beside.
		child.onPID = sess.SetCommandPID
		if err := child.start(true); err != nil {
			sess.Close()
			fmt.Fprintf(stderr, "ebpftrace: -c: %v\n", err)
			return 1
		}
		errc := make(chan error, 1)
		go func() { errc <- sess.Run(ctx) }()
		err := child.followToExit(ctx, func() { sess.RememberProcess(child.pid) })
		cancel()
		if runErr := <-errc; runErr != nil || err != nil {
			fmt.Fprintf(stderr, "ebpftrace: %v\n", errors.Join(runErr, err))
			return 1
		}
		return exitStatus(child, 0)
	}
	if child != nil {
		child.onPID = sess.SetCommandPID
		if err := child.start(false); err != nil {
			sess.Close()
			fmt.Fprintf(stderr, "ebpftrace: -c: %v\n", err)
			return 1
		}
		go func() {
			child.wait()
			cancel()
		}()
	}
	if c.watch {
		versionEnv := func() *compiler.Env {
			e := newScopedEnv()
			e.StartNs = env.StartNs // elapsed keeps counting from the first start
			return e
		}
		return exitStatus(child, watch(ctx, c.file, []byte(src.Text), sess, versionEnv, opts, stderr))
	}
	if err := sess.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 1
	}
	return exitStatus(child, 0)
}

// exitStatus is ebpftrace's exit status once tracing went as it should
// (code 0): the -c command's when it ended on its own, so that scripts
// can act on it as on the command's; else code.
func exitStatus(child *command, code int) int {
	if code != 0 || child == nil {
		return code
	}
	if st, ok := child.exitStatus(); ok {
		return st
	}
	return code
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// readProgram returns the program text from -e, a file, or standard input
// when it is not a terminal. A file or standard input holds at most
// maxScript bytes; with --watch the file must be a regular file.
func readProgram(c *config) (*dsl.Source, error) {
	switch {
	case c.program != "":
		return &dsl.Source{Name: "<input>", Text: c.program}, nil
	case c.file != "":
		var b []byte
		var err error
		if c.watch {
			b, _, err = readRegular(c.file)
			if err != nil {
				return nil, fmt.Errorf("--watch: %w", err)
			}
		} else {
			b, err = readScriptFile(c.file)
		}
		if errors.Is(err, fs.ErrNotExist) {
			// A ready tool by name: `ebpftrace execsnoop`.
			if s, ok := scripts.Get(c.file); ok && !strings.Contains(c.file, "/") {
				return &dsl.Source{Name: "scripts/" + s.Name + ".ebt", Text: s.Text}, nil
			}
		}
		if err != nil {
			return nil, err
		}
		return &dsl.Source{Name: c.file, Text: string(b)}, nil
	}
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice == 0 {
		b, err := readLimited(os.Stdin, "the program on standard input")
		if err != nil {
			return nil, err
		}
		return &dsl.Source{Name: "<stdin>", Text: string(b)}, nil
	}
	return nil, errNoProgram
}

// readScriptFile reads a script. A pipe is fine (`ebpftrace <(…)`), a
// directory is not, and no more than maxScript bytes are read.
func readScriptFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a script", path)
	}
	return readLimited(f, path)
}

func monotonicNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

func dumpAsm(w io.Writer, p *compiler.Program) {
	for _, pr := range p.Probes {
		spec := p.Spec.Programs[pr.Program]
		fmt.Fprintf(w, "%s %s (%s, %d instructions):\n", pr.Program, pr.Name, spec.Type, len(spec.Instructions))
		fmt.Fprintf(w, "%v\n", spec.Instructions)
	}
}

// newEnv is the host a program compiles for: tracefs and kernel BTF are
// opened only if a chain needs them.
func newEnv(pid int) *compiler.Env {
	return &compiler.Env{
		Tracepoints: &tracefs.Lazy{},
		PID:         pid,
		Exe:         processExe(pid),
		StartNs:     monotonicNow(),
		KernelBTF:   sync.OnceValues(btf.LoadKernelSpec),
	}
}

// processExe is the executable of process pid ("" for 0): its path, or
// /proc/PID/exe when the path means nothing here (another mount
// namespace, deleted).
func processExe(pid int) string {
	if pid == 0 {
		return ""
	}
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	if p, err := os.Readlink(exe); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return exe
}

// waitExit reports true once process pid has exited, false when ctx ends
// first or the kernel cannot tell (no pidfd).
func waitExit(ctx context.Context, pid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, 200); n > 0 {
			return true
		}
	}
	return false
}
