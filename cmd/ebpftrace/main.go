// Command ebpftrace traces Linux with chains of Go expressions compiled
// straight to eBPF. See README.md and docs/LANGUAGE.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
	"github.com/ebpftrace/ebpftrace/internal/tracefs"
	"github.com/ebpftrace/ebpftrace/scripts"
)

const usage = `ebpftrace: trace Linux with chains of Go expressions compiled to eBPF

usage:
  ebpftrace -e 'PROGRAM' [options]   run a one-liner
  ebpftrace [options] FILE.ebt       run a script (--watch: reload it on change)
  ebpftrace [options] TOOL           run a ready tool (ebpftrace -l scripts lists them)
  ebpftrace                          interactive REPL (on a terminal)
  ebpftrace -l[v] ['PATTERN']        list probes: tracepoint:cat:name, rawtracepoint:name,
                                     kprobe:fn, uprobe:BIN:fn (globs); -v adds their fields

examples:
  ebpftrace -e 'tracepoint("raw_syscalls:sys_enter").by(comm).count()'
  ebpftrace -e 'tracepoint("syscalls:sys_enter_openat").print("%s %s", comm, str(args.filename))'
  ebpftrace -c 'dd if=/dev/zero of=/dev/null bs=4k count=100' \
      -e 'tracepoint("syscalls:sys_exit_read").hist(args.ret)'
  ebpftrace -e 'uprobe("/srv/api", "main.handle").latency(uretprobe("/srv/api", "main.handle")).hist(elapsed)'

docs: README.md, docs/TUTORIAL.md, docs/LANGUAGE.md

options:
`

// config is the parsed command line.
type config struct {
	program  string
	file     string
	cmd      string
	pid      int
	format   string
	list     string
	listSet  bool
	verbose  bool
	dump     string
	duration time.Duration
	watch    bool
	buffer   int
}

func main() {
	// ptrace requests for -c must come from the thread that started the
	// child (see child.go).
	runtime.LockOSThread()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("ebpftrace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.program, "e", "", "run this `program`")
	fs.StringVar(&c.cmd, "c", "", "run `command` (split like a shell does), trace only it, and stop when it exits")
	fs.IntVar(&c.pid, "p", 0, "trace only process `PID`")
	fs.StringVar(&c.format, "f", "text", "output `format`: text or json (one object a line)")
	fs.StringVar(&c.list, "l", "", "list probes matching `pattern`: a glob, optionally kind:glob (tracepoint:syscalls:*, rawtracepoint:*, kprobe:do_sys_*)")
	fs.BoolVar(&c.verbose, "v", false, "with -l: show each probe's fields or parameters with their types")
	fs.StringVar(&c.dump, "dump", "", "show the parsed program (`ast`) or the generated eBPF (asm) and exit")
	fs.DurationVar(&c.duration, "duration", 0, "run for `d` (e.g. 5s), then print and exit")
	fs.IntVar(&c.buffer, "buffer", 0, "event ring buffer size in `bytes` (a power of two, at least 4096; default 1 MiB)")
	fs.BoolVar(&c.watch, "watch", false, "with a script FILE: reload it when it changes, keeping the counts of unchanged aggregations")
	fs.Usage = func() {
		io.WriteString(stderr, usage)
		fs.PrintDefaults()
	}
	// -lv is -l -v; -l may come without a pattern.
	for i, a := range args {
		if a == "-lv" || a == "-vl" {
			args = append(append(append([]string{}, args[:i]...), "-v", "-l"), args[i+1:]...)
			break
		}
	}
	for i, a := range args {
		if (a == "-l" || a == "--l") && (i+1 == len(args) || strings.HasPrefix(args[i+1], "-")) {
			args = append(append(append([]string{}, args[:i]...), "-l", "*"), args[i+1:]...)
			break
		}
	}
	// Flags may follow the script file: `ebpftrace x.ebt -c cmd`.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "l" {
			c.listSet = true
		}
	})
	switch {
	case len(rest) > 1:
		return nil, fmt.Errorf("one script file at a time (got %s)", strings.Join(rest, " "))
	case len(rest) == 1 && c.program != "":
		return nil, errors.New("give either -e PROGRAM or a script FILE, not both")
	case len(rest) == 1:
		c.file = rest[0]
	}
	if c.format != "text" && c.format != "json" {
		return nil, fmt.Errorf("-f %s: the output format is text or json", c.format)
	}
	if c.dump != "" && c.dump != "ast" && c.dump != "asm" {
		return nil, fmt.Errorf("--dump %s: dump ast or asm", c.dump)
	}
	if c.cmd != "" && c.pid != 0 {
		return nil, errors.New("give either -c CMD or -p PID, not both")
	}
	if c.buffer != 0 && (c.buffer < 4096 || c.buffer&(c.buffer-1) != 0) {
		return nil, fmt.Errorf("--buffer %d: the ring buffer size is a power of two of at least 4096", c.buffer)
	}
	if c.watch && c.file == "" {
		return nil, errors.New("--watch needs a script FILE")
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 2
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

	var child *childProcess
	pid := c.pid
	if c.cmd != "" && c.dump == "" {
		child, err = startChild(c.cmd)
		if err != nil {
			fmt.Fprintf(stderr, "ebpftrace: -c: %v\n", err)
			return 1
		}
		defer child.kill()
		pid = child.pid
	}
	if pid != 0 && c.dump == "" {
		if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
			fmt.Fprintf(stderr, "ebpftrace: -p %d: no such process\n", pid)
			return 1
		}
	}

	env := newEnv(pid)
	env.RingBufSize = c.buffer
	if child != nil {
		env.CPID = child.pid
	}
	p, err := compiler.Compile(prog, env)
	if err != nil {
		fmt.Fprint(stderr, dsl.Render(err, src))
		return 1
	}
	warnCompiled(p, stderr)
	if c.dump == "asm" {
		dumpAsm(stdout, p)
		return 0
	}

	opts := outputOptions(c.format, stdout, stderr)
	sess, err := start(p, opts)
	if err != nil {
		fmt.Fprint(stderr, dsl.Render(err, src))
		return 1
	}
	fmt.Fprintf(stderr, "Attached %d probe%s\n", sess.Attached(), plural(sess.Attached()))
	warnSkipped(sess, stderr)

	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	if c.pid != 0 {
		// Like -c: stop when the traced process exits.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			if waitExit(ctx, c.pid) {
				cancel()
			}
		}()
	}
	if c.watch {
		if child != nil {
			if err := child.release(); err != nil {
				sess.Close()
				fmt.Fprintf(stderr, "ebpftrace: -c: %v\n", err)
				return 1
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			go func() {
				child.wait()
				cancel()
			}()
		}
		versionEnv := func() *compiler.Env {
			e := newEnv(pid)
			e.StartNs = env.StartNs // elapsed keeps counting from the first start
			e.RingBufSize = env.RingBufSize
			e.CPID = env.CPID
			return e
		}
		return watch(ctx, c.file, []byte(src.Text), sess, versionEnv, opts, stderr)
	}
	if child != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		if sess.UsesUserSymbols() {
			// Keep the child traced so its maps can be read as it exits;
			// ptrace calls stay on this thread, the session runs beside.
			errc := make(chan error, 1)
			go func() { errc <- sess.Run(ctx) }()
			err := child.followToExit(ctx, func() { sess.RememberProcess(child.pid) })
			cancel()
			if runErr := <-errc; runErr != nil || err != nil {
				fmt.Fprintf(stderr, "ebpftrace: %v\n", errors.Join(runErr, err))
				return 1
			}
			return 0
		}
		if err := child.release(); err != nil {
			sess.Close()
			fmt.Fprintf(stderr, "ebpftrace: -c: %v\n", err)
			return 1
		}
		go func() {
			child.wait()
			cancel()
		}()
	}
	if err := sess.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 1
	}
	return 0
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// readProgram returns the program text from -e, a file, or standard input
// when it is not a terminal.
func readProgram(c *config) (*dsl.Source, error) {
	switch {
	case c.program != "":
		return &dsl.Source{Name: "<input>", Text: c.program}, nil
	case c.file != "":
		b, err := os.ReadFile(c.file)
		if err != nil {
			// A ready tool by name: `ebpftrace execsnoop`.
			if s, ok := scripts.Get(c.file); ok && !strings.Contains(c.file, "/") {
				return &dsl.Source{Name: "scripts/" + s.Name + ".ebt", Text: s.Text}, nil
			}
			return nil, err
		}
		return &dsl.Source{Name: c.file, Text: string(b)}, nil
	}
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice == 0 {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("read the program from standard input: %w", err)
		}
		return &dsl.Source{Name: "<stdin>", Text: string(b)}, nil
	}
	return nil, errNoProgram
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
		StartNs:     monotonicNow(),
		KernelBTF:   sync.OnceValues(btf.LoadKernelSpec),
	}
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
