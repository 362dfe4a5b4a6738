// Package procmaps reads /proc/PID/maps: which files a process has mapped
// where. The compiler uses it to find the libraries a traced process
// loaded, the symbolizer to turn stack addresses into file offsets, and
// readers of Go runtime data to find a PIE's load bias.
package procmaps

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mapping is one line of a maps file:
//
//	55f545ce1000-55f545ce6000 r-xp 00002000 fe:00 247766    /usr/bin/sleep
type Mapping struct {
	// Start and End delimit the mapping, [Start, End).
	Start, End uint64
	// Perms is the permission field, e.g. "r-xp".
	Perms string
	// Offset is the file offset mapped at Start.
	Offset uint64
	// Major and Minor are the device of the mapped file.
	Major, Minor uint32
	// Inode is the mapped file's inode, 0 for anonymous memory and
	// pseudo-files such as [vdso] and [stack].
	Inode uint64
	// Path is the mapped file's path as the kernel printed it (in the
	// process's mount namespace), without the " (deleted)" suffix, or a
	// pseudo-name such as "[vdso]"; empty for anonymous memory.
	Path string
	// Deleted reports that the file was deleted (or replaced) after it was
	// mapped.
	Deleted bool
	// Range is the "start-end" text of the line, the name of the mapping
	// under /proc/PID/map_files.
	Range string
}

// Exec reports an executable mapping.
func (m Mapping) Exec() bool { return len(m.Perms) >= 3 && m.Perms[2] == 'x' }

// IsFile reports a mapping of a file (as opposed to anonymous memory,
// [stack], [vdso], ...).
func (m Mapping) IsFile() bool { return m.Inode != 0 }

// Read reads /proc/PID/maps.
func Read(pid int) ([]Mapping, error) {
	return ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
}

// ReadFile reads a maps file by path (e.g. under another procfs mount).
func ReadFile(path string) ([]Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("procmaps: %w", err)
	}
	maps, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("procmaps: %s: %w", path, err)
	}
	return maps, nil
}

// Parse parses the lines of a maps file. A malformed line is an error
// naming it; paths may contain spaces.
func Parse(data []byte) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		var f [5]string
		rest := line
		for i := range f {
			rest = strings.TrimLeft(rest, " ")
			j := strings.IndexByte(rest, ' ')
			if j < 0 {
				j = len(rest)
			}
			f[i], rest = rest[:j], rest[j:]
		}
		path := strings.TrimLeft(rest, " ")
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		maj, mnr, ok2 := strings.Cut(f[3], ":")
		dmaj, err4 := strconv.ParseUint(maj, 16, 32)
		dmin, err5 := strconv.ParseUint(mnr, 16, 32)
		ino, err6 := strconv.ParseUint(f[4], 10, 64)
		if !ok || !ok2 || len(f[1]) < 4 || errors.Join(err1, err2, err3, err4, err5, err6) != nil || end < start {
			return nil, fmt.Errorf("malformed maps line %q", line)
		}
		m := Mapping{
			Start: start, End: end, Perms: f[1], Offset: off,
			Major: uint32(dmaj), Minor: uint32(dmin), Inode: ino,
			Path: path, Range: f[0],
		}
		if p, ok := strings.CutSuffix(path, " (deleted)"); ok {
			m.Path, m.Deleted = p, true
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// LoadBias returns the difference between the run-time addresses of the
// file mapped at path and its ELF virtual addresses (0 for a non-PIE
// executable), from the first of maps that maps path and the file's
// PT_LOAD program headers loads: a run-time address is vaddr + bias. ok
// is false when path is not mapped or no PT_LOAD segment covers the
// mapping's file offset.
func LoadBias(maps []Mapping, path string, loads []elf.ProgHeader) (bias uint64, ok bool) {
	for _, m := range maps {
		if m.Path != path || !m.IsFile() {
			continue
		}
		for _, p := range loads {
			if p.Type != elf.PT_LOAD {
				continue
			}
			// The kernel maps from the page holding p_offset, and p_vaddr
			// and p_offset are congruent modulo the page size.
			pageOff := p.Off &^ 0xfff
			if m.Offset >= pageOff && m.Offset < p.Off+p.Filesz {
				vaddr := p.Vaddr - (p.Off - m.Offset)
				return m.Start - vaddr, true
			}
		}
	}
	return 0, false
}
