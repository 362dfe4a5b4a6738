package main

// The interactive REPL: `ebpftrace` with no program on a terminal. Each
// input is a program; it runs until Ctrl-C (or -c's command exiting,
// --duration, .exit()), prints its aggregations, detaches everything and
// the prompt returns. Line editing, history and Tab completion come from
// github.com/peterh/liner.
//
// The REPL is in files of one job each: this one reads inputs and runs
// them; repl_signals.go stops a running input on Ctrl-C; repl_history.go
// keeps the history file; repl_bindings.go keeps `name := …` bindings
// and puts them before the inputs that use them; repl_commands.go has
// the :commands; repl_complete.go completes the word before the cursor.
// What the REPL needs to know of an unfinished input (does it go on,
// where do its statements end, which names does it use) comes from the
// lexer itself, through dsl.ScanPartial and dsl.Identifiers.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/peterh/liner"
	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/dsl"
)

// errNoProgram is readProgram's answer when neither -e, a file nor a
// piped standard input gives a program; run() then starts the REPL.
var errNoProgram = errors.New("no program: give -e 'PROGRAM' or a script file (see -h)")

const (
	replPrompt    = "ebpftrace> "
	replContinue  = "...> "
	replInputName = "<input>"
	replHelpIntro = `Type a chain and press Enter: it runs until Ctrl-C, then prints its
aggregations and detaches. Open brackets, or a line ending in "." or an
operator, continue on the next line (...>); Ctrl-C there drops the input.
Tab completes probes, tracepoint names, args fields, stages and built-ins;
Up and Down walk the history. A binding (name := …) is kept, and later
inputs that use the name get it.
`
	replCommandsHelp = `:help	this help
:list [-v] [PATTERN]	list probes matching a glob (kind:glob too), as -l does
:dump [PROGRAM]	show the eBPF of the last program, or of PROGRAM
:quit	leave (Ctrl-D too)
`
)

// repl is one interactive session.
type repl struct {
	c              *config
	stdout, stderr io.Writer
	ln             *liner.State
	// orig is the terminal mode before liner; raw is liner's. Chains run
	// in orig, so Ctrl-C raises SIGINT and output is cooked.
	orig, raw  liner.ModeApplier
	histPath   string
	histWarned bool // the history file's problem was said

	pending  string // lines of an unfinished input, each ending in \n
	bindings []binding
	last     *compiler.Program // the last program compiled, for :dump

	// Completion reads tracefs (and BTF) through cenv; events caches the
	// tracepoint list.
	cenv      *compiler.Env
	env       func(pid int) *compiler.Env // newEnv, but for tests
	events    []string
	eventsErr error
	argsCache map[string][]string
	kfuncs    []string // kernel functions from BTF, sorted; loaded on first use

	mu     sync.Mutex
	cancel context.CancelFunc // stops the running input; nil at the prompt
	quit   bool
}

// runREPL runs the interactive REPL until :quit, Ctrl-D or SIGTERM. The
// command line's -p, -c, -f, --duration and --dump apply to every input.
func runREPL(c *config, stdout, stderr io.Writer) int {
	if _, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS); err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", errNoProgram)
		return 2
	}
	if c.pid != 0 {
		if err := unix.Kill(c.pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
			fmt.Fprintf(stderr, "ebpftrace: -p %d: no such process\n", c.pid)
			return 1
		}
	}
	r := &repl{
		c: c, stdout: stdout, stderr: stderr,
		histPath:  historyPath(),
		cenv:      newEnv(0),
		env:       newEnv,
		argsCache: map[string][]string{},
	}
	r.orig, _ = liner.TerminalMode()
	r.ln = liner.NewLiner()
	defer r.ln.Close()
	r.raw, _ = liner.TerminalMode()
	r.ln.SetCtrlCAborts(true)
	r.ln.SetTabCompletionStyle(liner.TabPrints)
	r.ln.SetWordCompleter(r.complete)
	r.loadHistory()

	defer r.handleSignals()()

	fmt.Fprintln(stderr, "ebpftrace: type a chain and press Enter; Tab completes, :help helps, Ctrl-D leaves")
	for !r.quitting() {
		prompt := replPrompt
		if r.pending != "" {
			prompt = replContinue
		}
		r.setMode(r.raw)
		line, err := r.ln.Prompt(prompt)
		switch {
		case errors.Is(err, liner.ErrPromptAborted):
			r.pending = ""
			continue
		case errors.Is(err, io.EOF):
			fmt.Fprintln(stdout)
			return 0
		case err != nil:
			fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
			return 1
		}
		text := r.pending + line
		if r.pending == "" && strings.HasPrefix(strings.TrimSpace(line), ":") {
			r.addHistory(strings.TrimSpace(line))
			r.setMode(r.orig)
			r.command(strings.TrimSpace(line))
			continue
		}
		if needsMore(text) {
			r.pending = text + "\n"
			continue
		}
		r.pending = ""
		if strings.TrimSpace(text) == "" {
			continue
		}
		r.addHistory(historyEntry(text))
		r.setMode(r.orig)
		r.eval(text)
	}
	return 0
}

// setMode puts the terminal in mode m: liner's raw mode at the prompt,
// the mode ebpftrace started in while an input runs.
func (r *repl) setMode(m liner.ModeApplier) {
	if m != nil {
		m.ApplyMode()
	}
}

// eval runs one input: a program of one or more statements.
func (r *repl) eval(text string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.running(cancel)
	defer r.running(nil)

	if r.c.dump == "ast" {
		src := &dsl.Source{Name: replInputName, Text: text}
		prog, err := dsl.Parse(src.Name, text)
		if err != nil {
			fmt.Fprint(r.stderr, dsl.Render(err, src))
			return
		}
		fmt.Fprint(r.stdout, dsl.Dump(prog))
		return
	}
	if onlyBindings(text) {
		r.bind(text)
		return
	}

	var child *command
	env := r.env(r.c.pid)
	env.Spans = r.c.exports.otlp != ""
	if r.c.cmd != "" && r.c.dump == "" {
		var err error
		child, err = newCommand(r.c.cmd, r.stderr)
		if err != nil {
			fmt.Fprintf(r.stderr, "ebpftrace: -c: %v\n", err)
			return
		}
		defer child.close()
		child.scope(env)
	}
	p, alone := r.compile(text, env)
	if p == nil {
		return
	}
	r.last = p
	if r.c.dump == "asm" {
		r.remember(alone, text)
		dumpAsm(r.stdout, p)
		return
	}
	// Each input is a run of its own for the exporters too: metrics are
	// served while it runs, the profile and the spans are done when it
	// ends, and the prompt comes back at once.
	out, err := openOutputs(r.c.exports, r.c.format, r.c.duration, p, r.stdout, r.stderr)
	if err != nil {
		fmt.Fprintf(r.stderr, "ebpftrace: %v\n", err)
		return
	}
	out.linger = false
	defer out.close(ctx, 0)
	sess, err := start(p, out.opts)
	if err != nil {
		fmt.Fprint(r.stderr, r.render(err, p.Source.Text, text))
		return
	}
	r.remember(alone, text)
	fmt.Fprintf(r.stderr, "Attached %d probe%s; Ctrl-C stops\n", sess.Attached(), plural(sess.Attached()))
	if r.c.duration > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, r.c.duration)
		defer stop()
	}
	if child != nil {
		child.onPID = sess.SetCommandPID
		if err := child.start(false); err != nil {
			sess.Close()
			fmt.Fprintf(r.stderr, "ebpftrace: -c: %v\n", err)
			return
		}
		go func() {
			child.wait()
			cancel()
		}()
	}
	if err := sess.Run(ctx); err != nil {
		fmt.Fprintf(r.stderr, "ebpftrace: %v\n", err)
	}
}

// needsMore reports an input that goes on on the next line, as the
// lexer sees it (dsl.Partial.NeedsMore).
func needsMore(text string) bool { return dsl.ScanPartial(text).NeedsMore() }
