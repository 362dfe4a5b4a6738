package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ebpftrace/ebpftrace/internal/shellwords"
)

const usage = `ebpftrace: trace Linux with chains of Go expressions compiled to eBPF

usage:
  ebpftrace -e 'PROGRAM' [options]   run a one-liner
  ebpftrace [options] FILE.ebt [PARAMS]  run a script (--watch: reload it on change);
                                     PARAMS in order or name=value (after -- for -e)
  ebpftrace [options] TOOL [PARAMS]  run a ready tool (ebpftrace -l scripts lists them)
  ebpftrace                          interactive REPL (on a terminal)
  ebpftrace -l[v] ['PATTERN']        list probes: tracepoint:cat:name, rawtracepoint:name,
                                     kprobe:fn, uprobe:BIN:fn, http.server… (globs);
                                     -v adds their fields

examples:
  ebpftrace -e 'tracepoint("raw_syscalls:sys_enter").by(comm).count()'
  ebpftrace -e 'tracepoint("syscalls:sys_enter_openat").print("%s %s", comm, str(args.filename))'
  ebpftrace -c 'dd if=/dev/zero of=/dev/null bs=4k count=100' \
      -e 'tracepoint("syscalls:sys_exit_read").hist(args.ret)'
  ebpftrace -e 'uprobe("/srv/api", "main.handle").latency(uretprobe("/srv/api", "main.handle")).hist(elapsed)'

-c CMD traces the command from its own exec on, and every process it starts
(children, their children…); -p PID traces that one process. With -c the
exit status is the command's (its exit code, or 128+N when signal N ended
it), unless ebpftrace stopped first (Ctrl-C, --duration, exit()).
Loading probes needs root, or CAP_BPF and CAP_PERFMON.

docs: README.md, docs/TUTORIAL.md, docs/LANGUAGE.md

options:
`

// maxBuffer is the largest --buffer: a ring buffer is locked kernel
// memory, and the kernel takes no more than 2 GiB.
const maxBuffer = 1 << 30

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
	exports  exportFlags // --metrics, --pprof, --otlp (output.go)
	// params are the script's parameters: the words after FILE.ebt (or
	// after --), given to the compiler as they are.
	params []string
}

// durationFlag is a flag.Value for --duration whose error says what a
// duration looks like (flag's own says "parse error").
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration: give a number and a unit, e.g. 5s, 250ms, 2m")
	}
	*f.d = d
	return nil
}

// intFlag is a flag.Value for a decimal integer that says whether it is
// not a number or out of range.
type intFlag struct {
	p    *int
	what string
}

func (f intFlag) String() string {
	if f.p == nil || *f.p == 0 {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f intFlag) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) || err == nil && (n > math.MaxInt32 || n < math.MinInt32) {
		return fmt.Errorf("%s out of range", f.what)
	}
	if err != nil {
		return fmt.Errorf("not a %s (a decimal number)", f.what)
	}
	*f.p = int(n)
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("ebpftrace", flag.ContinueOnError)
	// Errors are returned and printed once by run(); usage only on -h.
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.program, "e", "", "run this `program`")
	fs.StringVar(&c.cmd, "c", "", "run `command` (split like a shell does) and trace it and every process it starts, from its exec until it exits")
	fs.Var(intFlag{&c.pid, "process id"}, "p", "trace only the process `PID` (not the processes it starts), until it exits")
	fs.StringVar(&c.format, "f", "text", "output `format`: text or json (one object a line)")
	fs.StringVar(&c.list, "l", "", "list probes matching `pattern`: a glob, optionally kind:glob (tracepoint:syscalls:*, rawtracepoint:*, kprobe:do_sys_*)")
	fs.BoolVar(&c.verbose, "v", false, "with -l: show each probe's fields or parameters with their types")
	fs.StringVar(&c.dump, "dump", "", "show the parsed program (`ast`) or the generated eBPF (asm) and exit")
	fs.Var(durationFlag{&c.duration}, "duration", "run for `d` (e.g. 5s), then print and exit")
	fs.Var(intFlag{&c.buffer, "size"}, "buffer", "event ring buffer size in `bytes` (a power of two from a page to 1 GiB; default 1 MiB)")
	fs.BoolVar(&c.watch, "watch", false, "with a script FILE: reload it when it changes, keeping the counts of unchanged aggregations")
	c.exports.define(fs)
	fs.Usage = func() {}
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
	// Flags may follow the script file: `ebpftrace x.ebt -c cmd`; after
	// `--` every word is the script's.
	var rest []string
	dashes := false
	for {
		n := len(args)
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				io.WriteString(stderr, usage)
				fs.SetOutput(stderr)
				fs.PrintDefaults()
			}
			return nil, err
		}
		if used := n - fs.NArg(); used > 0 && args[used-1] == "--" {
			rest, dashes = append(rest, fs.Args()...), true
			break
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c.listSet = set["l"]
	if err := c.check(set, rest, dashes); err != nil {
		return nil, err
	}
	return c, nil
}

// check refuses flag values and combinations that make no sense, before
// anything is done.
func (c *config) check(set map[string]bool, rest []string, dashes bool) error {
	switch {
	case c.program != "" && dashes:
		c.params = rest
	case len(rest) > 0 && c.program != "":
		return errors.New("give either -e PROGRAM or a script FILE, not both (parameters of -e go after --)")
	case len(rest) > 0 && rest[0] == "":
		return errors.New("the script file name is empty")
	case len(rest) > 0:
		c.file, c.params = rest[0], rest[1:]
	}
	if len(c.params) > 0 && c.listSet {
		return fmt.Errorf("-l lists probes and exits: it takes no parameters (got %s)", strings.Join(c.params, " "))
	}
	if set["e"] && strings.TrimSpace(c.program) == "" {
		return errors.New("-e: the program is empty")
	}
	if set["c"] {
		words, err := shellwords.Split(c.cmd)
		if err != nil {
			return fmt.Errorf("-c %q: %v", c.cmd, err)
		}
		if len(words) == 0 {
			return errors.New("-c: the command is empty")
		}
	}
	if set["p"] && c.pid <= 0 {
		return fmt.Errorf("-p %d: a process id is a positive number", c.pid)
	}
	if set["c"] && set["p"] {
		return errors.New("give either -c CMD or -p PID, not both")
	}
	if c.format != "text" && c.format != "json" {
		return fmt.Errorf("-f %q: the output format is text or json", c.format)
	}
	if set["dump"] && c.dump != "ast" && c.dump != "asm" {
		return fmt.Errorf("--dump %q: dump ast or asm", c.dump)
	}
	if set["duration"] && c.duration <= 0 {
		return fmt.Errorf("--duration %v: the duration must be positive", c.duration)
	}
	if set["buffer"] {
		page := os.Getpagesize()
		if c.buffer < page || c.buffer > maxBuffer || c.buffer&(c.buffer-1) != 0 {
			return fmt.Errorf("--buffer %d: the ring buffer size is a power of two from %d (a page) to %d (1 GiB)", c.buffer, page, maxBuffer)
		}
	}
	if c.listSet {
		for _, f := range []string{"e", "c", "p", "dump", "duration", "watch", "buffer", "f"} {
			if set[f] {
				return fmt.Errorf("-l lists probes and exits: it does not go with -%s", f)
			}
		}
		if c.file != "" {
			return fmt.Errorf("-l lists probes and exits: it does not run %s", c.file)
		}
	}
	if set["v"] && !c.listSet {
		return errors.New("-v goes with -l (list probes with their fields)")
	}
	if c.watch && c.file == "" {
		return errors.New("--watch needs a script FILE")
	}
	if c.watch && c.dump != "" {
		return errors.New("--watch reloads a running script; it does not go with --dump")
	}
	return nil
}
