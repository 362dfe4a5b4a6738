package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// TestParseFlags: every flag value that makes no sense is a clear error
// before anything runs; good ones parse to what they say.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		err  string // "" for none; else a part of the message
	}{
		{[]string{"-e", "x"}, ""},
		{[]string{"-e", ""}, "-e: the program is empty"},
		{[]string{"-e", " \n"}, "-e: the program is empty"},
		{[]string{"-e", "x", "f.ebt"}, "not both"},
		{[]string{"a.ebt", "b.ebt"}, ""}, // b.ebt is a parameter of a.ebt
		{[]string{"-e", "x", "--", "1"}, ""},
		{[]string{"-l", "x", "--", "f.ebt", "1"}, "takes no parameters"},
		{[]string{""}, "the script file name is empty"},

		{[]string{"-e", "x", "-c", "true"}, ""},
		{[]string{"-e", "x", "-c", ""}, "-c: the command is empty"},
		{[]string{"-e", "x", "-c", " \t"}, "-c: the command is empty"},
		{[]string{"-e", "x", "-c", "sh -c 'x"}, "unterminated single quote"},
		{[]string{"-e", "x", "-p", "1"}, ""},
		{[]string{"-e", "x", "-p", "0"}, "-p 0: a process id is a positive number"},
		{[]string{"-e", "x", "-p", "-5"}, "-p -5: a process id is a positive number"},
		{[]string{"-e", "x", "-p", "abc"}, "not a process id"},
		{[]string{"-e", "x", "-p", "4294967296"}, "process id out of range"},
		{[]string{"-e", "x", "-p", "99999999999999999999"}, "process id out of range"},
		{[]string{"-e", "x", "-p", "1", "-c", "true"}, "either -c CMD or -p PID"},

		{[]string{"-e", "x", "--duration", "5s"}, ""},
		{[]string{"-e", "x", "--duration", "0s"}, "--duration 0s: the duration must be positive"},
		{[]string{"-e", "x", "--duration", "0"}, "--duration 0s: the duration must be positive"},
		{[]string{"-e", "x", "--duration", "-1s"}, "--duration -1s: the duration must be positive"},
		{[]string{"-e", "x", "--duration", "5"}, "not a duration"},
		{[]string{"-e", "x", "--duration", "soon"}, "not a duration"},
		{[]string{"-e", "x", "--duration", "999999999h"}, "not a duration"},

		{[]string{"-e", "x", "--buffer", "65536"}, ""},
		{[]string{"-e", "x", "--buffer", "4294967296"}, "size out of range"},
		{[]string{"-e", "x", "--buffer", "2147483648"}, "size out of range"},
		{[]string{"-e", "x", "--buffer", "1073741824"}, ""},
		{[]string{"-e", "x", "--buffer", "536870912"}, ""},
		{[]string{"-e", "x", "--buffer", "1000"}, "power of two"},
		{[]string{"-e", "x", "--buffer", "0"}, "power of two"},
		{[]string{"-e", "x", "--buffer", "-4096"}, "power of two"},
		{[]string{"-e", "x", "--buffer", "12288"}, "power of two"},
		{[]string{"-e", "x", "--buffer", "1M"}, "not a size"},

		{[]string{"-e", "x", "-f", "json"}, ""},
		{[]string{"-e", "x", "-f", "xml"}, `-f "xml": the output format is text or json`},
		{[]string{"-e", "x", "--dump", "asm"}, ""},
		{[]string{"-e", "x", "--dump", ""}, `--dump "": dump ast or asm`},
		{[]string{"-e", "x", "--dump", "ir"}, `--dump "ir": dump ast or asm`},

		{[]string{"-l"}, ""},
		{[]string{"-lv", "sched:*"}, ""},
		{[]string{"-l", "x", "-e", "y"}, "does not go with -e"},
		{[]string{"-l", "x", "-c", "true"}, "does not go with -c"},
		{[]string{"-l", "x", "f.ebt"}, "does not run f.ebt"},
		{[]string{"-v", "-e", "x"}, "-v goes with -l"},

		{[]string{"f.ebt", "--watch"}, ""},
		{[]string{"--watch", "-e", "x"}, "--watch needs a script FILE"},
		{[]string{"--watch", "f.ebt", "--dump", "asm"}, "does not go with --dump"},
		{[]string{"--nosuchflag"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("parseFlags(%q): %v", tt.args, err)
		case tt.err != "" && err == nil:
			t.Errorf("parseFlags(%q): no error, want %q", tt.args, tt.err)
		case tt.err != "" && !strings.Contains(err.Error(), tt.err):
			t.Errorf("parseFlags(%q): %v, want %q", tt.args, err, tt.err)
		}
	}
}

// TestParseFlagsValues: what the flags set, and -h.
func TestParseFlagsValues(t *testing.T) {
	c, err := parseFlags([]string{"x.ebt", "-c", "ls -l", "--duration", "1m30s", "--buffer", "8192", "-f", "json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.file != "x.ebt" || c.cmd != "ls -l" || c.duration != 90*time.Second || c.buffer != 8192 || c.format != "json" {
		t.Errorf("parsed %+v", c)
	}
	// Parameters: the words after the script, flags between them
	// parsed; after -- none is a flag.
	for _, tt := range []struct {
		args         []string
		file, params string
	}{
		{[]string{"opensnoop", "1234", "-c", "ls", "name=x"}, "opensnoop", "1234 name=x"},
		{[]string{"x.ebt", "--", "-5", "-c"}, "x.ebt", "-5 -c"},
		{[]string{"--", "x.ebt", "7"}, "x.ebt", "7"},
		{[]string{"-e", "p", "--", "7", "-p"}, "", "7 -p"},
	} {
		c, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Errorf("parseFlags(%q): %v", tt.args, err)
			continue
		}
		if c.file != tt.file || strings.Join(c.params, " ") != tt.params {
			t.Errorf("parseFlags(%q): file %q params %q, want %q %q", tt.args, c.file, c.params, tt.file, tt.params)
		}
	}
	var help strings.Builder
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, w := range []string{"usage:", "-c command", "every process it starts", "-p PID", "not the processes it starts", "128+N", "CAP_BPF"} {
		if !strings.Contains(help.String(), w) {
			t.Errorf("-h does not say %q:\n%s", w, help.String())
		}
	}
}

// FuzzParseFlags: no command line makes parseFlags panic, and what it
// accepts is within range.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"-e\x00x", "--buffer\x004294967296", "-p\x00-1", "--duration\x00-1s", "-c\x00", "-l", "-lv\x00x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseFlags(strings.Split(s, "\x00"), io.Discard)
		if err != nil {
			return
		}
		if c.pid < 0 || c.duration < 0 || c.buffer < 0 || c.buffer > maxBuffer {
			t.Errorf("parseFlags(%q) accepted %+v", s, c)
		}
	})
}
