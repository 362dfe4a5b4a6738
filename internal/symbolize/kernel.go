package symbolize

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
)

// ErrKallsymsHidden is returned by Kernel.Load when /proc/kallsyms shows
// every address as 0, which the kernel does for readers without
// CAP_SYSLOG (kernel.kptr_restrict).
var ErrKallsymsHidden = errors.New("symbolize: /proc/kallsyms addresses are hidden (run as root or lower kernel.kptr_restrict)")

// Kernel resolves kernel addresses with /proc/kallsyms. The file is read
// on first use and its symbols are kept sorted by address. A Kernel is
// safe for concurrent use.
type Kernel struct {
	path string

	once sync.Once
	err  error
	syms []ksym // sorted by address; aliases in file order
	text uint64 // lowest address of a text (t, T) symbol
}

// ksym is one line of kallsyms. name points into the single string that
// holds the whole file, so parsing allocates nothing per line.
type ksym struct {
	addr uint64
	name string
	typ  byte // 'T', 't', 'W', 'D', ...
}

// NewKernel returns a Kernel that reads /proc/kallsyms on first use.
func NewKernel() *Kernel { return &Kernel{path: "/proc/kallsyms"} }

// newKernelFile returns a Kernel that reads a kallsyms-format file.
func newKernelFile(path string) *Kernel { return &Kernel{path: path} }

// Load reads kallsyms now if it has not been read yet and reports why it
// cannot be used, e.g. ErrKallsymsHidden. Resolve and Lookup call it.
func (k *Kernel) Load() error {
	k.once.Do(func() {
		k.syms, k.err = loadKallsyms(k.path)
		k.text = ^uint64(0)
		for _, s := range k.syms {
			if s.typ == 't' || s.typ == 'T' {
				k.text = min(k.text, s.addr)
			}
		}
	})
	return k.err
}

// Len returns the number of symbols read from kallsyms.
func (k *Kernel) Len() int {
	if k.Load() != nil {
		return 0
	}
	return len(k.syms)
}

// Resolve returns the kernel symbol that contains addr (the last symbol at
// or below it) and addr's offset from its start. Addresses below the
// kernel text (user addresses, absolute per-CPU symbols) do not resolve. Of several names at one
// address, a global one (T) is preferred. Module symbols are named
// without their "[module]" suffix, as bpftrace prints them.
func (k *Kernel) Resolve(addr uint64) (name string, off uint64, ok bool) {
	if k.Load() != nil || addr < k.text {
		return "", 0, false
	}
	i, found := slices.BinarySearchFunc(k.syms, addr, func(s ksym, a uint64) int { return cmp.Compare(s.addr, a) })
	if !found {
		// i is the first symbol above addr: step back to the symbols
		// just below it, then to the first of their group of aliases.
		i--
		if i < 0 {
			return "", 0, false
		}
		for i > 0 && k.syms[i-1].addr == k.syms[i].addr {
			i--
		}
	}
	// Of the aliases, the first global one, else the first weak one,
	// else the first.
	best := i
	for j := i; j < len(k.syms) && k.syms[j].addr == k.syms[i].addr; j++ {
		if kbind(k.syms[j].typ) < kbind(k.syms[best].typ) {
			best = j
		}
	}
	s := k.syms[best]
	return s.name, addr - s.addr, true
}

// Symbolize returns "name+off" (offset in decimal) for addr, or "0x…" when
// kallsyms is unavailable or addr is below every symbol.
func (k *Kernel) Symbolize(addr uint64) string {
	name, off, ok := k.Resolve(addr)
	return format(name, off, ok, addr)
}

// Lookup returns the address of the kernel symbol name (the lowest one if
// several symbols share the name).
func (k *Kernel) Lookup(name string) (addr uint64, ok bool) {
	if k.Load() != nil {
		return 0, false
	}
	for _, s := range k.syms {
		if s.name == name {
			return s.addr, true
		}
	}
	return 0, false
}

// loadKallsyms reads and parses a kallsyms file: lines of
// "ffffffff8225a650 T do_syscall_64" or
// "ffffffffc0a01000 t ext4_fill_super\t[ext4]".
func loadKallsyms(path string) ([]ksym, error) {
	text, err := readProcFile(path, 8<<20)
	if err != nil {
		return nil, fmt.Errorf("symbolize: %w", err)
	}
	syms, err := parseKallsyms(text)
	if err != nil {
		return nil, fmt.Errorf("symbolize: %s: %w", path, err)
	}
	return syms, nil
}

// readProcFile reads a file whose size stat does not tell (procfs) into a
// string, with large reads into a buffer sized for hint bytes, so that
// the ~5 MB of kallsyms are copied once rather than regrown repeatedly.
func readProcFile(path string, hint int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var sb strings.Builder
	sb.Grow(hint)
	chunk := make([]byte, 1<<20)
	for {
		n, err := f.Read(chunk)
		sb.Write(chunk[:n])
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// parseKallsyms parses the text of a kallsyms file and sorts the symbols
// by address (stably, so aliases stay in file order; Resolve picks among
// them).
func parseKallsyms(text string) ([]ksym, error) {
	syms := make([]ksym, 0, len(text)/40)
	nonzero := false
	sorted := true
	line := 0
	for i := 0; i < len(text); {
		line++
		// Address: hex digits up to the first space.
		var addr uint64
		a := i
		for ; i < len(text) && text[i] != ' '; i++ {
			c := text[i]
			switch {
			case c >= '0' && c <= '9':
				c -= '0'
			case c >= 'a' && c <= 'f':
				c -= 'a' - 10
			case c >= 'A' && c <= 'F':
				c -= 'A' - 10
			default:
				return nil, fmt.Errorf("line %d: bad address", line)
			}
			addr = addr<<4 | uint64(c)
		}
		if i == a || i+3 >= len(text) || text[i+2] != ' ' {
			return nil, fmt.Errorf("line %d: malformed line", line)
		}
		typ := text[i+1]
		// Name: up to a tab (before "[module]") or the end of the line.
		n := i + 3
		i = n
		for i < len(text) && text[i] != '\n' && text[i] != '\t' {
			i++
		}
		name := text[n:i]
		if i < len(text) && text[i] == '\t' {
			if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(text)
			}
		}
		i++ // the newline
		if name == "" {
			return nil, fmt.Errorf("line %d: no name", line)
		}
		if addr != 0 {
			nonzero = true
		}
		if k := len(syms); k > 0 && syms[k-1].addr > addr {
			sorted = false
		}
		syms = append(syms, ksym{addr: addr, name: name, typ: typ})
	}
	if len(syms) > 0 && !nonzero {
		return nil, ErrKallsymsHidden
	}
	if !sorted {
		slices.SortStableFunc(syms, func(a, b ksym) int { return cmp.Compare(a.addr, b.addr) })
	}
	return syms, nil
}

// kbind ranks a kallsyms type letter: global (upper case) 0, weak 1,
// local (lower case) 2.
func kbind(t byte) int {
	switch {
	case t == 'W' || t == 'w' || t == 'V' || t == 'v':
		return 1
	case t >= 'A' && t <= 'Z':
		return 0
	}
	return 2
}
