package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/ebpftrace/ebpftrace/compiler"
	"github.com/ebpftrace/ebpftrace/internal/binpath"
	"github.com/ebpftrace/ebpftrace/internal/match"
	"github.com/ebpftrace/ebpftrace/internal/usdt"
)

// listUSDT lists the USDT probes of a binary: usdt:BIN[:PROVIDER:NAME],
// one line per probe (however many sites it has); -v adds where each
// argument is and its width.
func listUSDT(rest string, verbose bool, stdout, stderr io.Writer) int {
	binName, glob, _ := strings.Cut(rest, ":")
	if glob == "" {
		glob = "*"
	}
	if binName == "" {
		fmt.Fprintln(stderr, "ebpftrace: -l usdt:BIN:PATTERN needs a binary, e.g. -l 'usdt:/usr/bin/python3:*'")
		return 1
	}
	path, err := binpath.Resolve(binName, 0)
	if err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 1
	}
	probes, err := usdt.Read(path)
	if err != nil {
		fmt.Fprintf(stderr, "ebpftrace: %v\n", err)
		return 1
	}
	if glob != "*" && !strings.Contains(glob, ":") {
		glob = "*:" + glob // a pattern without a provider matches the names
	}
	matched := usdt.Match(probes, glob, match.Glob)
	if len(matched) == 0 {
		if len(probes) == 0 {
			fmt.Fprintf(stderr, "ebpftrace: %s has no USDT probes (no .note.stapsdt section)\n", path)
		} else {
			fmt.Fprintf(stderr, "ebpftrace: %s has no USDT probe matching %q\n", path, glob)
		}
		return 1
	}
	sites := map[string][]usdt.Probe{}
	for _, p := range matched {
		sites[p.FullName()] = append(sites[p.FullName()], p)
	}
	for _, name := range usdt.Names(matched) {
		fmt.Fprintf(stdout, "usdt:%s:%s\n", path, name)
		if !verbose {
			continue
		}
		ps := sites[name]
		p := ps[0]
		extra := ""
		if len(ps) > 1 {
			extra = fmt.Sprintf(", %d sites (arguments as at the first)", len(ps))
		}
		if p.Semaphore != 0 {
			fmt.Fprintf(stdout, "    semaphore at %#x%s\n", p.Semaphore, extra)
		} else if extra != "" {
			fmt.Fprintf(stdout, "    %s\n", extra[2:])
		}
		if p.ArgsErr != nil {
			fmt.Fprintf(stdout, "    arguments %q: %v\n", p.ArgsText, p.ArgsErr)
			continue
		}
		for i, a := range p.Args {
			typ := fmt.Sprintf("int%d", a.Size*8)
			if !a.Signed {
				typ = "u" + typ
			}
			fmt.Fprintf(stdout, "    %s arg%d (%s)\n", typ, i, argPlace(a))
		}
	}
	return 0
}

// argPlace says where a USDT argument is, as the note wrote it.
func argPlace(a usdt.Arg) string {
	_, op, _ := strings.Cut(a.Text, "@")
	return op
}

// listPerf lists the counters of software:GLOB or hardware:GLOB.
func listPerf(kind, glob string, stdout, stderr io.Writer) int {
	if glob == "" {
		glob = "*"
	}
	n := 0
	for _, name := range compiler.PerfEventNames(kind) {
		if match.Glob(glob, name) {
			fmt.Fprintf(stdout, "%s:%s\n", kind, name)
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(stderr, "ebpftrace: no %s event matches %q\n", kind, glob)
		return 1
	}
	return 0
}
