package main

// The interactive REPL: `ebpftrace` with no program on a terminal. Each
// input is a program; it runs until Ctrl-C (or -c's command exiting,
// --duration, .exit()), prints its aggregations, detaches everything and
// the prompt returns. Line editing, history and Tab completion come from
// github.com/peterh/liner.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"

	"github.com/peterh/liner"
	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf/btf"

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

// replCommands are the names of the REPL's commands, for completion and
// suggestions.
var replCommands = []string{":help", ":list", ":dump", ":quit"}

// binding is a `name := …` statement kept from an earlier input.
type binding struct {
	name  string
	text  string // the statement as typed
	chain bool   // it binds a chain (else a value)
}

// repl is one interactive session.
type repl struct {
	c              *config
	stdout, stderr io.Writer
	ln             *liner.State
	// orig is the terminal mode before liner; raw is liner's. Chains run
	// in orig, so Ctrl-C raises SIGINT and output is cooked.
	orig, raw liner.ModeApplier
	histPath  string

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

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer func() {
		signal.Stop(sigs)
		close(sigs)
	}()
	go func() {
		for sig := range sigs {
			r.signal(sig)
		}
	}()

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

// quitting reports that :quit or SIGTERM asked the REPL to end.
func (r *repl) quitting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.quit
}

// signal stops the running input on SIGINT and SIGTERM; SIGTERM also ends
// the REPL, at once when nothing runs (nothing is attached then).
func (r *repl) signal(sig os.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sig == syscall.SIGTERM {
		r.quit = true
	}
	if r.cancel != nil {
		fmt.Fprintln(r.stderr) // after the ^C the terminal echoed
		r.cancel()
		return
	}
	if sig == syscall.SIGTERM {
		r.setMode(r.orig)
		os.Exit(0)
	}
}

// running registers (or, with nil, clears) the cancel of the input being
// run, so that Ctrl-C stops it.
func (r *repl) running(cancel context.CancelFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancel = cancel
}

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

func (r *repl) loadHistory() {
	if r.histPath == "" {
		return
	}
	f, err := os.Open(r.histPath)
	if err != nil {
		return
	}
	defer f.Close()
	r.ln.ReadHistory(f)
}

// addHistory adds an entry and saves the history at once, so that it
// survives however the session ends.
func (r *repl) addHistory(entry string) {
	r.ln.AppendHistory(entry)
	if r.histPath == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(r.histPath), 0o700); err != nil {
		return
	}
	f, err := os.OpenFile(r.histPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	r.ln.WriteHistory(f)
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

// stripLineComment drops a // comment from a line, outside strings.
func stripLineComment(l string) string {
	var quote byte
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case quote != 0 && c == '\\' && quote != '`':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '/' && i+1 < len(l) && l[i+1] == '/':
			return l[:i]
		}
	}
	return l
}

// command runs a :command.
func (r *repl) command(line string) {
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case ":help", ":h", ":?":
		r.help()
	case ":list", ":l":
		verbose := false
		if rest, ok := strings.CutPrefix(arg, "-v"); ok && (rest == "" || rest[0] == ' ') {
			verbose, arg = true, strings.TrimSpace(rest)
		}
		if arg == "" {
			arg = "*"
		}
		listProbesVerbose(arg, verbose, r.stdout, r.stderr)
	case ":dump", ":d":
		if arg == "" {
			if r.last == nil {
				fmt.Fprintln(r.stderr, "nothing compiled yet: run a chain first, or give one: :dump tracepoint(\"syscalls:sys_enter_read\").count()")
				return
			}
			dumpAsm(r.stdout, r.last)
			return
		}
		if p, _ := r.compile(arg, r.env(r.c.pid)); p != nil {
			r.last = p
			dumpAsm(r.stdout, p)
		}
	case ":quit", ":q", ":exit":
		r.mu.Lock()
		r.quit = true
		r.mu.Unlock()
	default:
		msg := fmt.Sprintf("unknown command %s", name)
		if hint := dsl.DidYouMean(name, replCommands); hint != "" {
			msg += "; " + hint
		}
		fmt.Fprintln(r.stderr, msg+" (:help lists them)")
	}
}

// rawArgN matches the names of the raw arguments, arg0…arg9.
var rawArgN = regexp.MustCompile(`^arg[0-9]$`)

// help prints the commands, and the sources, stages, values and functions
// of the language with one line each.
func (r *repl) help() {
	w := tabwriter.NewWriter(r.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprint(w, replHelpIntro)
	section := func(title string, docs []compiler.Doc, prefix string) {
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, d := range docs {
			switch {
			case rawArgN.MatchString(d.Name) && d.Name != "arg0":
				continue
			case d.Name == "arg0":
				d.Usage, d.Doc = "arg0…arg9", strings.Replace(d.Doc, "argument 0", "arguments", 1)
			}
			usage := strings.ReplaceAll(d.Usage, " or ", " or "+prefix)
			fmt.Fprintf(w, "  %s%s\t%s\n", prefix, usage, d.Doc)
		}
	}
	fmt.Fprint(w, "\nCommands:\n")
	for _, l := range strings.Split(strings.TrimSpace(replCommandsHelp), "\n") {
		fmt.Fprintf(w, "  %s\n", l)
	}
	section("Probe sources", compiler.SourceDocs(), "")
	section("Stages", compiler.StageDocs(), ".")
	section("Values", compiler.ValueDocs(), "")
	section("Functions", compiler.FuncDocs(), "")
	if len(r.bindings) > 0 {
		fmt.Fprint(w, "\nBindings:\n")
		for _, b := range r.bindings {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(b.text, "\n", " "))
		}
	}
	w.Flush()
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

	var child *childProcess
	pid := r.c.pid
	if r.c.cmd != "" && r.c.dump == "" {
		var err error
		child, err = startChild(r.c.cmd)
		if err != nil {
			fmt.Fprintf(r.stderr, "ebpftrace: -c: %v\n", err)
			return
		}
		defer child.kill()
		pid = child.pid
	}
	env := r.env(pid)
	if child != nil {
		env.CPID = child.pid
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
	sess, err := start(p, outputOptions(r.c.format, r.stdout, r.stderr))
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
		if err := child.release(); err != nil {
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

// onlyBindings reports an input that parses to bindings only.
func onlyBindings(text string) bool {
	prog, err := dsl.Parse(replInputName, text)
	if err != nil || len(prog.Statements) == 0 {
		return false
	}
	for _, st := range prog.Statements {
		if st.Name == "" {
			return false
		}
	}
	return true
}

// bind keeps the bindings of an input that has nothing else; nothing runs.
// Bound chains are compiled to check them.
func (r *repl) bind(text string) {
	prog, _ := dsl.Parse(replInputName, text)
	var names []string
	chains := false
	for _, st := range prog.Statements {
		names = append(names, st.Name)
		chains = chains || st.Chain != nil
	}
	if chains {
		p, _ := r.compile(text, r.env(r.c.pid))
		if p == nil {
			return
		}
		r.last = p
	}
	r.remember(prog, text)
	fmt.Fprintf(r.stderr, "bound %s (kept for later inputs)\n", strings.Join(names, ", "))
}

// compile parses text, puts before it the earlier bindings it uses, and
// compiles the whole. Errors are printed against text as typed, and give a
// nil program. The second result is text parsed alone.
func (r *repl) compile(text string, env *compiler.Env) (*compiler.Program, *dsl.Program) {
	src := &dsl.Source{Name: replInputName, Text: text}
	alone, err := dsl.Parse(src.Name, text)
	if err != nil {
		fmt.Fprint(r.stderr, dsl.Render(err, src))
		return nil, nil
	}
	full := r.prefixFor(text, alone) + text
	prog, err := dsl.Parse(src.Name, full)
	if err != nil {
		fmt.Fprint(r.stderr, r.render(err, full, text))
		return nil, alone
	}
	p, err := compiler.Compile(prog, env)
	if err != nil {
		fmt.Fprint(r.stderr, r.render(err, full, text))
		return nil, alone
	}
	return p, alone
}

// render renders an error of the program full, which is text after the
// bindings put before it: places in text are shown as the user typed them.
func (r *repl) render(err error, full, text string) string {
	src := &dsl.Source{Name: replInputName, Text: text}
	prefix := full[:len(full)-len(text)]
	if n := strings.Count(prefix, "\n"); n > 0 {
		shift := func(e *dsl.Error) {
			if e.Pos.Line > n {
				e.Pos.Line -= n
				e.Pos.Offset -= len(prefix)
				e.Source = src
			}
		}
		var list dsl.ErrorList
		var one *dsl.Error
		switch {
		case errors.As(err, &list):
			for _, e := range list {
				shift(e)
			}
		case errors.As(err, &one):
			shift(one)
		}
	}
	return dsl.Render(err, &dsl.Source{Name: replInputName, Text: full})
}

// prefixFor is the earlier bindings that text uses (directly or through
// other bindings), one a line, in the order they were made; names that
// text binds itself are left out.
func (r *repl) prefixFor(text string, alone *dsl.Program) string {
	defined := map[string]bool{}
	for _, st := range alone.Statements {
		if st.Name != "" {
			defined[st.Name] = true
		}
	}
	need := identifiers(text)
	used := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, b := range r.bindings {
			if used[b.name] || defined[b.name] || !need[b.name] {
				continue
			}
			used[b.name], changed = true, true
			for id := range identifiers(b.text) {
				need[id] = true
			}
		}
	}
	var b strings.Builder
	for _, bd := range r.bindings {
		if used[bd.name] {
			b.WriteString(bd.text + "\n")
		}
	}
	return b.String()
}

// remember keeps the bindings of an input that compiled; a name bound
// again replaces its earlier binding.
func (r *repl) remember(alone *dsl.Program, text string) {
	if alone == nil {
		return
	}
	ends := scanInput(text).starts
	for _, st := range alone.Statements {
		if st.Name == "" {
			continue
		}
		end := len(text)
		for _, s := range ends {
			if s > st.Pos.Offset {
				end = s
				break
			}
		}
		stmt := strings.TrimRight(strings.TrimSpace(text[st.Pos.Offset:end]), "; \t\r\n")
		r.bindings = slices.DeleteFunc(r.bindings, func(b binding) bool { return b.name == st.Name })
		r.bindings = append(r.bindings, binding{name: st.Name, text: stmt, chain: st.Chain != nil})
	}
}

// lexState is what scanning an input, perhaps unfinished, finds.
type lexState struct {
	opens   []int // offsets of the brackets still open
	str     int   // offset after the quote of an unfinished string; -1 outside one
	raw     bool  // the unfinished string is a `raw` one
	block   bool  // inside an unfinished /* comment
	comment bool  // inside a comment at the end (block or //)
	stmt    int   // offset where the last statement starts
	starts  []int // offsets where each statement after the first starts
	last    byte  // the last byte outside blanks, strings and comments; 0 if none
}

// scanInput follows text as the lexer would, far enough to know which
// brackets, strings and comments are open at its end and where statements
// start (after ";" or a newline that ends an operand, outside brackets,
// unless the next line starts with "." or "->").
func scanInput(text string) lexState {
	st := lexState{str: -1}
	brk := -1 // a newline that ends the statement unless the next line continues it
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			continue
		case c == '\n':
			if len(st.opens) == 0 && brk < 0 && endsOperand(st.last) {
				brk = i + 1
			}
			continue
		case c == '/' && i+1 < len(text) && text[i+1] == '/':
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				st.comment = true
				i = len(text)
				continue
			}
			i += j - 1
			continue
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				st.comment, st.block = true, true
				i = len(text)
				continue
			}
			i += 2 + j + 1
			continue
		}
		if brk >= 0 {
			if c != '.' && !(c == '-' && i+1 < len(text) && text[i+1] == '>') {
				st.stmt = brk
				st.starts = append(st.starts, brk)
			}
			brk = -1
		}
		switch c {
		case '"', '\'':
			j := i + 1
			for j < len(text) && text[j] != c && text[j] != '\n' {
				if text[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(text) {
				st.str = i + 1
				st.last = c
				return st
			}
			if text[j] == '\n' {
				j-- // an unfinished string; the parser says so
			}
			i = j
		case '`':
			j := strings.IndexByte(text[i+1:], '`')
			if j < 0 {
				st.str, st.raw, st.last = i+1, true, c
				return st
			}
			i += 1 + j
		case '(', '[', '{':
			st.opens = append(st.opens, i)
		case ')', ']', '}':
			if len(st.opens) > 0 {
				st.opens = st.opens[:len(st.opens)-1]
			}
		case ';':
			if len(st.opens) == 0 {
				st.stmt = i + 1
				st.starts = append(st.starts, i+1)
			}
		}
		st.last = c
	}
	if brk >= 0 {
		st.stmt = brk
	}
	return st
}

// endsOperand: a newline after this byte ends a statement (Go's rule).
func endsOperand(c byte) bool {
	return isIdentByte(c) || c != 0 && strings.IndexByte(")]}\"'`", c) >= 0
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// needsMore reports an input that goes on on the next line: brackets,
// a raw string or a comment are open, or the last line ends in "." or an
// operator.
func needsMore(text string) bool {
	st := scanInput(text)
	if st.str >= 0 && !st.raw {
		return false // a "string" does not go on: the parser says it is unfinished
	}
	if len(st.opens) > 0 || st.raw || st.block {
		return true
	}
	return st.last != 0 && strings.IndexByte(".+-*/%&|^<>=!,:", st.last) >= 0
}

// identifiers lists the names text uses outside strings and comments,
// except those after "." or "->" (fields and stages).
func identifiers(text string) map[string]bool {
	ids := map[string]bool{}
	var prev byte // the last byte before the name, blanks skipped
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		case c == '/' && i+1 < len(text) && text[i+1] == '/':
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				return ids
			}
			i += j
			continue
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				return ids
			}
			i += 2 + j + 1
			continue
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(text) && text[j] != c {
				if text[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j
		case isIdentByte(c) && !(c >= '0' && c <= '9'):
			j := i
			for j < len(text) && isIdentByte(text[j]) {
				j++
			}
			if prev != '.' && prev != '>' {
				ids[text[i:j]] = true
			}
			i = j - 1
		}
		prev = c
	}
	return ids
}

// complete is liner's completer: it replaces the word before the cursor
// with one of the candidates that fit where it stands.
func (r *repl) complete(line string, pos int) (head string, items []string, tail string) {
	runes := []rune(line)
	pos = min(max(pos, 0), len(runes))
	before, after := string(runes[:pos]), string(runes[pos:])
	text := r.pending + before
	if r.pending == "" {
		trimmed := strings.TrimLeft(before, " \t")
		switch {
		case strings.HasPrefix(trimmed, ":list "):
			prefix := strings.TrimLeft(trimmed[len(":list "):], " ")
			if rest, ok := strings.CutPrefix(prefix, "-v "); ok {
				prefix = strings.TrimLeft(rest, " ")
			}
			return before[:len(before)-len(prefix)], r.tracepointItems(prefix, ""), after
		case strings.HasPrefix(trimmed, ":dump "):
			text = strings.TrimLeft(trimmed[len(":dump "):], " ")
		case strings.HasPrefix(trimmed, ":"):
			for _, c := range replCommands {
				if strings.HasPrefix(c, trimmed) {
					items = append(items, c)
				}
			}
			return before[:len(before)-len(trimmed)], items, after
		}
	}
	items, word := r.candidates(text, after)
	return before[:len(before)-len(word)], items, after
}

// assignPrefix matches the start of a binding, `name :=`.
var assignPrefix = regexp.MustCompile(`^\s*[A-Za-z_]\w*\s*:=\s*`)

// candidates returns what can replace word, the end of text (an input up
// to the cursor); after is the rest of the line.
func (r *repl) candidates(text, after string) (items []string, word string) {
	st := scanInput(text)
	switch {
	case st.comment || st.raw:
		return nil, ""
	case st.str >= 0:
		prefix := text[st.str:]
		if text[st.str-1] != '"' {
			return nil, ""
		}
		opener := strings.TrimRight(text[:st.str-1], " \t\r\n")
		if !strings.HasSuffix(opener, "(") {
			return nil, ""
		}
		switch trailingIdent(strings.TrimRight(opener[:len(opener)-1], " \t")) {
		case "tracepoint":
			suffix := `")`
			if strings.HasPrefix(after, `"`) {
				suffix = ""
			}
			return r.tracepointItems(prefix, suffix), prefix
		case "rawtracepoint":
			return r.rawTracepointItems(prefix, after), prefix
		case "kprobe", "kretprobe", "fentry", "fexit":
			return r.kernelFuncItems(prefix, after), prefix
		}
		return nil, ""
	}
	word = trailingIdent(text)
	if word != "" && word[0] >= '0' && word[0] <= '9' {
		return nil, ""
	}
	before := strings.TrimRight(text[:len(text)-len(word)], " \t\r\n")
	depth := len(st.opens)
	if strings.HasSuffix(before, ".") || strings.HasSuffix(before, "->") {
		obj := strings.TrimRight(strings.TrimSuffix(strings.TrimSuffix(before, "."), "->"), " \t\r\n")
		id := trailingIdent(obj)
		byDot := strings.HasSuffix(strings.TrimRight(obj[:len(obj)-len(id)], " \t\r\n"), ".")
		switch {
		case id == "args" && !byDot:
			return withPrefix(r.argsFields(text[st.stmt:]), word, ""), word
		case depth == 0 && (strings.HasSuffix(obj, ")") || id != "" && !byDot && r.isChain(id)):
			for _, d := range compiler.StageDocs() {
				items = appendIf(items, word, callText(d))
			}
			return items, word
		}
		return nil, word
	}
	stmt := text[st.stmt : len(text)-len(word)]
	switch {
	case depth == 0 && strings.TrimSpace(stmt) == "":
		return r.sourceItems(word), word
	case depth == 0 && assignPrefix.MatchString(stmt) && assignPrefix.FindString(stmt) == stmt:
		return append(r.sourceItems(word), r.valueItems(word)...), word
	case depth > 0:
		return r.valueItems(word), word
	}
	return nil, word
}

// callText is what completing a stage or function inserts: `count()` for
// one without arguments, else `name(`.
func callText(d compiler.Doc) string {
	if d.MaxArgs == 0 {
		return d.Name + "()"
	}
	return d.Name + "("
}

func appendIf(items []string, prefix, s string) []string {
	if strings.HasPrefix(s, prefix) {
		items = append(items, s)
	}
	return items
}

func withPrefix(names []string, prefix, suffix string) []string {
	var out []string
	for _, n := range names {
		out = appendIf(out, prefix, n+suffix)
	}
	return out
}

// sourceItems are the probe sources (written up to their first argument)
// and the bound chains.
func (r *repl) sourceItems(word string) []string {
	var items []string
	for _, d := range compiler.SourceDocs() {
		s := d.Name
		if i := strings.IndexByte(d.Usage, '('); i >= 0 {
			switch rest := d.Usage[i+1:]; {
			case strings.HasPrefix(rest, ")"):
				s += "()"
			case strings.HasPrefix(rest, `"`):
				s += `("`
			default:
				s += "("
			}
		}
		items = appendIf(items, word, s)
	}
	for _, b := range r.bindings {
		if b.chain {
			items = appendIf(items, word, b.name)
		}
	}
	return items
}

// valueItems are the built-in values and functions and the bound values.
func (r *repl) valueItems(word string) []string {
	var items []string
	for _, d := range compiler.ValueDocs() {
		if d.Name == "args" {
			items = appendIf(items, word, "args.")
			continue
		}
		items = appendIf(items, word, d.Name)
	}
	for _, d := range compiler.FuncDocs() {
		items = appendIf(items, word, callText(d))
	}
	for _, b := range r.bindings {
		if !b.chain {
			items = appendIf(items, word, b.name)
		}
	}
	slices.Sort(items)
	return items
}

func (r *repl) isChain(name string) bool {
	return slices.ContainsFunc(r.bindings, func(b binding) bool { return b.chain && b.name == name })
}

// trailingIdent is the name (letters, digits, _) that ends s.
func trailingIdent(s string) string {
	i := len(s)
	for i > 0 && isIdentByte(s[i-1]) {
		i--
	}
	return s[i:]
}

// tracepointEvents lists the tracepoints, read once.
func (r *repl) tracepointEvents() []string {
	if r.events == nil && r.eventsErr == nil {
		r.events, r.eventsErr = r.cenv.Tracepoints.Events()
	}
	return r.events
}

// tracepointItems completes a tracepoint name: the categories while no
// ":" is typed (or, when no category fits, the names whose event part
// does), then category:name. A single full name gets suffix.
func (r *repl) tracepointItems(prefix, suffix string) []string {
	events := r.tracepointEvents()
	var items []string
	if !strings.Contains(prefix, ":") {
		seen := map[string]bool{}
		for _, e := range events {
			cat, _, _ := strings.Cut(e, ":")
			if strings.HasPrefix(cat, prefix) && !seen[cat] {
				seen[cat] = true
				items = append(items, cat+":")
			}
		}
		if len(items) > 0 {
			return items
		}
		for _, e := range events {
			if _, name, _ := strings.Cut(e, ":"); strings.HasPrefix(name, prefix) {
				items = append(items, e)
			}
		}
	} else {
		items = withPrefix(events, prefix, "")
	}
	if len(items) == 1 {
		items[0] += suffix
	}
	return items
}

// rawTracepointItems completes a raw tracepoint: the event part of the
// tracepoint names.
func (r *repl) rawTracepointItems(prefix, after string) []string {
	seen := map[string]bool{}
	var items []string
	for _, e := range r.tracepointEvents() {
		if _, name, _ := strings.Cut(e, ":"); strings.HasPrefix(name, prefix) && !seen[name] {
			seen[name] = true
			items = append(items, name)
		}
	}
	slices.Sort(items)
	if len(items) == 1 && !strings.HasPrefix(after, `"`) {
		items[0] += `")`
	}
	return items
}

// kernelFuncItems completes kernel function names (from BTF) inside
// kprobe(" and its kin; at most 200, so a short prefix stays readable.
func (r *repl) kernelFuncItems(prefix, after string) []string {
	if r.kfuncs == nil && r.cenv != nil && r.cenv.KernelBTF != nil {
		r.kfuncs = []string{}
		if spec, err := r.cenv.KernelBTF(); err == nil {
			for t, err := range spec.All() {
				if err != nil {
					break
				}
				if f, ok := t.(*btf.Func); ok {
					r.kfuncs = append(r.kfuncs, f.Name)
				}
			}
			slices.Sort(r.kfuncs)
			r.kfuncs = slices.Compact(r.kfuncs)
		}
	}
	i, _ := slices.BinarySearch(r.kfuncs, prefix)
	var items []string
	for ; i < len(r.kfuncs) && strings.HasPrefix(r.kfuncs[i], prefix) && len(items) < 200; i++ {
		items = append(items, r.kfuncs[i])
	}
	if len(items) == 1 && !strings.HasPrefix(after, `"`) {
		items[0] += `")`
	}
	return items
}

// argsFields lists the args fields of the probe that stmt (the statement
// being typed) starts with, following bound chains back to their source.
func (r *repl) argsFields(stmt string) []string {
	src := r.sourceOf(stmt, 0)
	if src == "" {
		return nil
	}
	if f, ok := r.argsCache[src]; ok {
		return f
	}
	f, err := compiler.ProbeArgs(r.cenv, src)
	if err != nil {
		return nil
	}
	r.argsCache[src] = f
	return f
}

// sourceOf returns the text of the probe source call that stmt starts
// with, e.g. `tracepoint("syscalls:sys_enter_openat")`, or "".
func (r *repl) sourceOf(stmt string, depth int) string {
	s := strings.TrimLeft(stmt, " \t\r\n;")
	if m := assignPrefix.FindString(s); m != "" {
		s = s[len(m):]
	}
	i := 0
	for i < len(s) && (isIdentByte(s[i]) || s[i] == '.' && i+1 < len(s) && isIdentByte(s[i+1])) {
		i++
	}
	name := s[:i]
	if name == "" {
		return ""
	}
	// A bound chain: `reads.filter(…)`.
	root, _, _ := strings.Cut(name, ".")
	for _, b := range r.bindings {
		if b.name == root && b.chain && depth < 8 {
			return r.sourceOf(b.text, depth+1)
		}
	}
	rest := strings.TrimLeft(s[i:], " \t\r\n")
	if !strings.HasPrefix(rest, "(") {
		return ""
	}
	open := len(s) - len(rest)
	// The call ends where its bracket closes.
	for j := open + 1; j <= len(s); j++ {
		if st := scanInput(s[open:j]); len(st.opens) == 0 && st.str < 0 && !st.comment {
			return name + s[open:j]
		}
	}
	return ""
}
