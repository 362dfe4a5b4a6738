// Package scripts holds ebpftrace's ready tools, .ebt files that the binary
// carries: `ebpftrace execsnoop` runs scripts/execsnoop.ebt, `ebpftrace -l
// scripts` lists them. Each starts with a header comment: its name and what
// it shows, what it prints, how to run it.
package scripts

import (
	"embed"
	"sort"
	"strings"
)

//go:embed *.ebt
var files embed.FS

// Script is one ready tool.
type Script struct {
	Name    string // file name without .ebt
	Summary string // the first header line, after "name: "
	Text    string
}

// All returns the scripts sorted by name.
func All() []Script {
	entries, _ := files.ReadDir(".")
	var out []Script
	for _, e := range entries {
		s, ok := Get(e.Name())
		if ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns the script called name ("execsnoop" or "execsnoop.ebt").
func Get(name string) (Script, bool) {
	name = strings.TrimSuffix(name, ".ebt")
	b, err := files.ReadFile(name + ".ebt")
	if err != nil {
		return Script{}, false
	}
	text := string(b)
	first, _, _ := strings.Cut(text, "\n")
	summary := strings.TrimSpace(strings.TrimPrefix(first, "//"))
	summary = strings.TrimSpace(strings.TrimPrefix(summary, name+":"))
	return Script{Name: name, Summary: summary, Text: text}, true
}
