package symbolize

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpftrace/ebpftrace/internal/procmaps"
)

// refreshEvery limits how often Resolve re-reads the maps of a live
// process for an address that none of its known mappings contains (a
// library loaded after the last read).
const refreshEvery = 200 * time.Millisecond

// User resolves user-space addresses of processes. It remembers each
// process's executable mappings (from /proc/PID/maps, read at Snapshot or
// at the first Resolve) so that stacks can be printed after the process
// has exited, and caches the symbols of each mapped file once, keyed by
// (device, inode) — or by name for mappings without an inode. A User is
// safe for concurrent use; call Close to release the files it holds open.
type User struct {
	procfs string // "/proc"
	tmp    string // where JIT perf maps are written: "/tmp"

	mu    sync.Mutex
	procs map[int]*process
	files map[fileKey]*mappedFile
}

// fileKey identifies a mapped file: device (major<<32|minor) and inode,
// or path when the inode is 0 ("[vdso]").
type fileKey struct {
	dev, ino uint64
	path     string
}

// mapping is one executable mapping of /proc/PID/maps.
type mapping struct {
	start, end, off uint64
	key             fileKey
	path            string // as printed, without " (deleted)"
	deleted         bool
	text            string // "start-end" as printed, the /proc/PID/map_files name
}

// isFile reports a mapping of a file (as opposed to anonymous memory,
// [stack], [vdso], ...).
func (m *mapping) isFile() bool { return m.key.ino != 0 }

// process is what User remembers about one pid.
type process struct {
	maps     []mapping // executable mappings, sorted by start
	readAt   time.Time
	perf     *symTable // /tmp/perf-PID.map, if any
	perfSize int64     // size of the perf map when read; -1: not read yet
}

// mappedFile is one mapped ELF file. handle is opened while a process that
// maps the file is alive (through /proc/PID/map_files, which also works
// for deleted files and other mount namespaces) and closed once the
// symbols are read.
type mappedFile struct {
	path   string
	handle *os.File
	loaded bool
	info   *elfInfo
	err    error
}

// NewUser returns an empty User.
func NewUser() *User {
	return &User{
		procfs: "/proc",
		tmp:    "/tmp",
		procs:  map[int]*process{},
		files:  map[fileKey]*mappedFile{},
	}
}

// Snapshot reads /proc/PID/maps now and remembers the process's
// executable mappings, merged with those remembered before (mappings the
// new read does not overlap are kept, so addresses in libraries unloaded
// meanwhile still resolve). It also opens each mapped file not seen
// before, so that its symbols can be read after the process has exited,
// even if the file is deleted. Call it while the process runs, e.g. for a
// -c child or when an event from a new pid arrives; it costs one read of
// the maps file plus one open per new file.
func (u *User) Snapshot(pid int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, err := u.snapshot(pid)
	return err
}

// Known reports whether the mappings of pid are remembered (by Snapshot
// or a Resolve), so that a caller can skip repeated Snapshots.
func (u *User) Known(pid int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.procs[pid] != nil
}

// Forget drops what is remembered about pid's mappings (the symbols of
// its files stay cached). Call it when a pid may be reused by another
// program.
func (u *User) Forget(pid int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.procs, pid)
}

// Close closes the files opened by Snapshot whose symbols have not been
// read. The User stays usable; those files are then read by path.
func (u *User) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var errs []error
	for _, b := range u.files {
		if b.handle != nil {
			errs = append(errs, b.handle.Close())
			b.handle = nil
		}
	}
	return errors.Join(errs...)
}

// Resolve returns the function of process pid that contains addr, and
// addr's offset from the function's start. The process's mappings are
// those remembered (see Snapshot), or read now if the process is alive.
// Addresses outside file mappings are looked up in /tmp/perf-PID.map, the
// map JIT compilers write.
func (u *User) Resolve(pid int, addr uint64) (name string, off uint64, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.procs[pid]
	if p == nil {
		var err error
		if p, err = u.snapshot(pid); err != nil {
			return "", 0, false
		}
	}
	m := p.find(addr)
	if m == nil && time.Since(p.readAt) > refreshEvery {
		p.readAt = time.Now() // also throttles retries for an exited process
		if q, err := u.snapshot(pid); err == nil {
			p, m = q, q.find(addr)
		}
	}
	if m != nil && (m.isFile() || m.path == "[vdso]") {
		b := u.file(pid, m)
		info := u.load(b)
		if info == nil {
			return "", 0, false
		}
		va, ok := info.vaddr(addr - m.start + m.off)
		if !ok {
			return "", 0, false
		}
		s, ok := info.syms.lookup(va)
		if !ok {
			return "", 0, false
		}
		return s.name, va - s.addr, true
	}
	if s, ok := u.perfLookup(pid, p, addr); ok {
		return s.name, addr - s.addr, true
	}
	return "", 0, false
}

// Inlined returns the Go functions inlined at the user address addr of
// process pid, innermost first, not counting the function the code is
// in (what Resolve names). For a return address, pass the address minus
// one: the call instruction is what was inlined.
func (u *User) Inlined(pid int, addr uint64) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.procs[pid]
	if p == nil {
		return nil
	}
	m := p.find(addr)
	if m == nil || !m.isFile() {
		return nil
	}
	info := u.load(u.file(pid, m))
	if info == nil || info.inline == nil {
		return nil
	}
	va, ok := info.vaddr(addr - m.start + m.off)
	if !ok {
		return nil
	}
	return info.inline.Inlined(va)
}

// Frame is one source-level frame of a user address, as a profile
// (pprof) needs it.
type Frame struct {
	// Func is the function name.
	Func string
	// File and Line are the source position; "" and 0 when unknown
	// (binaries other than Go have none here).
	File string
	Line int
	// Inlined reports a function inlined into the next frame's function.
	Inlined bool
}

// Frames returns the source frames at the user address addr of process
// pid, innermost first: for Go binaries (stripped ones too, Go 1.16 to
// 1.26) the functions inlined there, then the function whose code holds
// addr, each with file and line from the pclntab; for other binaries one
// frame named as Resolve names it. For a return address, pass the address
// minus one, so that the call's position is given. Nil when addr cannot
// be resolved.
func (u *User) Frames(pid int, addr uint64) []Frame {
	u.mu.Lock()
	p := u.procs[pid]
	if p == nil {
		p, _ = u.snapshot(pid)
	}
	var m *mapping
	if p != nil {
		m = p.find(addr)
	}
	var info *elfInfo
	var va uint64
	ok := false
	if m != nil && m.isFile() {
		if info = u.load(u.file(pid, m)); info != nil {
			va, ok = info.vaddr(addr - m.start + m.off)
		}
	}
	u.mu.Unlock()
	if ok && info.inline != nil {
		if fr := goFrames(info, va); fr != nil {
			return fr
		}
	}
	name, _, ok := u.Resolve(pid, addr)
	if !ok {
		return nil
	}
	return []Frame{{Func: name}}
}

// FramesExe is Frames for the ELF virtual address vaddr of the file at
// path (see ResolveExe).
func (u *User) FramesExe(path string, vaddr uint64) []Frame {
	name, _, ok := u.ResolveExe(path, vaddr) // loads and caches the file
	if !ok {
		return nil
	}
	u.mu.Lock()
	var info *elfInfo
	for _, b := range u.files {
		if b.path == path && b.info != nil {
			info = b.info
		}
	}
	u.mu.Unlock()
	if info != nil && info.inline != nil {
		if fr := goFrames(info, vaddr); fr != nil {
			return fr
		}
	}
	return []Frame{{Func: name}}
}

// goFrames converts the pclntab's frames.
func goFrames(info *elfInfo, va uint64) []Frame {
	gf := info.inline.Frames(va)
	if gf == nil {
		return nil
	}
	out := make([]Frame, len(gf))
	for i, f := range gf {
		out[i] = Frame{Func: f.Func, File: f.File, Line: f.Line, Inlined: f.Inlined}
	}
	return out
}

// Symbolize returns "name+off" (offset in decimal) for the user address
// addr of process pid, or "0x…" when it cannot be resolved.
func (u *User) Symbolize(pid int, addr uint64) string {
	name, off, ok := u.Resolve(pid, addr)
	return format(name, off, ok, addr)
}

// ResolveExe returns the function of the ELF file at path (an executable
// or shared library) that contains the ELF virtual address vaddr — not a
// run-time address: for a PIE or a library, subtract the load bias
// first. It serves binaries whose process is gone and was never
// snapshotted; the file's symbols are cached as for Resolve.
func (u *User) ResolveExe(path string, vaddr uint64) (name string, off uint64, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	fh, err := os.Open(path)
	if err != nil {
		return "", 0, false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(fh.Fd()), &st); err != nil {
		fh.Close()
		return "", 0, false
	}
	key := fileKey{dev: uint64(unix.Major(st.Dev))<<32 | uint64(unix.Minor(st.Dev)), ino: st.Ino}
	b := u.files[key]
	if b == nil {
		b = &mappedFile{path: path}
		u.files[key] = b
	}
	if !b.loaded && b.handle == nil {
		b.handle = fh
	} else {
		fh.Close()
	}
	info := u.load(b)
	if info == nil {
		return "", 0, false
	}
	s, ok := info.syms.lookup(vaddr)
	if !ok {
		return "", 0, false
	}
	return s.name, vaddr - s.addr, true
}

// SymbolizeExe is ResolveExe formatted like Symbolize.
func (u *User) SymbolizeExe(path string, vaddr uint64) string {
	name, off, ok := u.ResolveExe(path, vaddr)
	return format(name, off, ok, vaddr)
}

// snapshot reads pid's maps and merges them into what is remembered.
// u.mu is held.
func (u *User) snapshot(pid int) (*process, error) {
	maps, err := readMaps(fmt.Sprintf("%s/%d/maps", u.procfs, pid))
	if err != nil {
		return nil, err
	}
	p := u.procs[pid]
	if p == nil {
		p = &process{perfSize: -1}
		u.procs[pid] = p
	}
	for _, old := range p.maps {
		overlaps := slices.ContainsFunc(maps, func(m mapping) bool { return m.start < old.end && old.start < m.end })
		if !overlaps {
			maps = append(maps, old)
		}
	}
	slices.SortFunc(maps, func(a, b mapping) int { return cmp.Compare(a.start, b.start) })
	p.maps = maps
	p.readAt = time.Now()
	for i := range p.maps {
		if p.maps[i].isFile() {
			u.file(pid, &p.maps[i])
		}
	}
	return p, nil
}

// find returns the remembered mapping that contains addr.
func (p *process) find(addr uint64) *mapping {
	i, found := slices.BinarySearchFunc(p.maps, addr, func(m mapping, a uint64) int { return cmp.Compare(m.start, a) })
	if !found {
		i--
	}
	if i < 0 || addr >= p.maps[i].end {
		return nil
	}
	return &p.maps[i]
}

// file returns the cache entry of the file of mapping m of pid, and
// opens the file if it has not been read yet. u.mu is held.
func (u *User) file(pid int, m *mapping) *mappedFile {
	b := u.files[m.key]
	if b == nil {
		b = &mappedFile{path: m.path}
		u.files[m.key] = b
	}
	if !b.loaded && b.handle == nil && m.isFile() {
		b.handle = u.open(pid, m)
	}
	return b
}

// open opens the file of mapping m: through /proc/PID/map_files (needs
// root; works for deleted files and other mount namespaces), through
// /proc/PID/root, or by its path if that still names the same inode.
func (u *User) open(pid int, m *mapping) *os.File {
	if f, err := os.Open(fmt.Sprintf("%s/%d/map_files/%s", u.procfs, pid, m.text)); err == nil {
		return f
	}
	if m.deleted {
		return nil
	}
	if f, err := os.Open(fmt.Sprintf("%s/%d/root%s", u.procfs, pid, m.path)); err == nil {
		return f
	}
	f, err := os.Open(m.path)
	if err != nil {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Ino != m.key.ino {
		f.Close()
		return nil
	}
	return f
}

// load reads the symbols of b once, returning nil if b's file is not
// available (it is tried again when another live process maps it).
// u.mu is held.
func (u *User) load(b *mappedFile) *elfInfo {
	if b.loaded {
		return b.info
	}
	var r io.ReaderAt
	switch {
	case b.path == "[vdso]" && b.handle == nil:
		img, err := selfVDSO(u.procfs)
		if err != nil {
			b.loaded, b.err = true, err
			return nil
		}
		r = bytes.NewReader(img)
	case b.handle != nil:
		r = b.handle
	default:
		return nil
	}
	b.info, b.err = readELF(r, b.path)
	b.loaded = true
	if b.handle != nil {
		b.handle.Close()
		b.handle = nil
	}
	return b.info
}

// selfVDSO returns the image of this process's vDSO. The kernel maps the
// same image into every 64-bit process, so it stands for the vDSO of any
// traced process, even one that has exited.
func selfVDSO(procfs string) ([]byte, error) {
	maps, err := readMaps(procfs + "/self/maps")
	if err != nil {
		return nil, err
	}
	for _, m := range maps {
		if m.path != "[vdso]" {
			continue
		}
		mem, err := os.Open(procfs + "/self/mem")
		if err != nil {
			return nil, err
		}
		defer mem.Close()
		img := make([]byte, m.end-m.start)
		if _, err := mem.ReadAt(img, int64(m.start)); err != nil {
			return nil, fmt.Errorf("symbolize: reading the vDSO: %w", err)
		}
		return img, nil
	}
	return nil, errors.New("symbolize: no [vdso] mapping")
}

// readMaps reads the executable mappings of a /proc/PID/maps file.
func readMaps(path string) ([]mapping, error) {
	ms, err := procmaps.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("symbolize: %w", err)
	}
	return execMappings(ms), nil
}

// parseMaps parses the lines of a maps file, keeping executable mappings.
func parseMaps(data []byte) ([]mapping, error) {
	ms, err := procmaps.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("symbolize: %w", err)
	}
	return execMappings(ms), nil
}

// execMappings keeps the executable mappings, keyed by device and inode
// (or by name for those without an inode, such as [vdso]).
func execMappings(ms []procmaps.Mapping) []mapping {
	var out []mapping
	for _, pm := range ms {
		if !pm.Exec() {
			continue
		}
		m := mapping{start: pm.Start, end: pm.End, off: pm.Offset, path: pm.Path, deleted: pm.Deleted, text: pm.Range}
		if pm.IsFile() {
			m.key = fileKey{dev: uint64(pm.Major)<<32 | uint64(pm.Minor), ino: pm.Inode}
		} else {
			m.key = fileKey{path: m.path}
		}
		out = append(out, m)
	}
	return out
}

// perfLookup looks addr up in the perf map of pid (/tmp/perf-PID.map,
// written by JIT compilers such as node --perf-basic-prof), re-reading the
// file when a lookup misses and the file has grown. u.mu is held.
func (u *User) perfLookup(pid int, p *process, addr uint64) (symbol, bool) {
	if s, ok := p.perf.lookup(addr); ok {
		return s, true
	}
	for _, path := range []string{
		fmt.Sprintf("%s/perf-%d.map", u.tmp, pid),
		fmt.Sprintf("%s/%d/root%s/perf-%d.map", u.procfs, pid, u.tmp, pid),
	} {
		st, err := os.Stat(path)
		if err != nil {
			continue
		}
		if st.Size() == p.perfSize {
			break
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		p.perf, p.perfSize = parsePerfMap(data), st.Size()
		return p.perf.lookup(addr)
	}
	return symbol{}, false
}

// parsePerfMap parses "START SIZE name" lines (hexadecimal, with or
// without 0x). Later entries for the same address win, as code is
// recompiled there.
func parsePerfMap(data []byte) *symTable {
	var cands []candidate
	n := 0
	for line := range strings.Lines(string(data)) {
		line = strings.TrimRight(line, "\r\n")
		a, rest, ok1 := strings.Cut(line, " ")
		sz, name, ok2 := strings.Cut(rest, " ")
		if !ok1 || !ok2 || name == "" {
			continue
		}
		start, err1 := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 64)
		size, err2 := strconv.ParseUint(strings.TrimPrefix(sz, "0x"), 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		n--
		cands = append(cands, candidate{symbol{addr: start, size: size, name: name}, n})
	}
	return newSymTable(cands)
}
