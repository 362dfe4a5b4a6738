package gobin

import (
	"cmp"
	"debug/elf"
	"fmt"
	"slices"
	"strings"
)

// Func is a function of the binary.
type Func struct {
	// Name is the symbol name, e.g. "main.add", "net/http.(*Transport).roundTrip"
	// or "malloc".
	Name string
	// Addr is the function's entry as an ELF virtual address (st_value).
	Addr uint64
	// Size is the function's length in bytes. For functions recovered from
	// .gopclntab it runs to the next function's entry and so includes the
	// alignment padding (INT3 bytes) after the code.
	Size uint64
	// Offset is the file offset of the entry, the offset a uprobe attaches
	// to: Addr - PT_LOAD.p_vaddr + PT_LOAD.p_offset of the segment that
	// holds Addr.
	Offset uint64
}

// Symbol is an ELF symbol of any type (function, object, ...).
type Symbol struct {
	Name string
	// Addr is the symbol's ELF virtual address; Size its st_size.
	Addr, Size uint64
	// Type is the symbol type, e.g. elf.STT_FUNC or elf.STT_OBJECT.
	Type elf.SymType
}

// FuncSource names where Funcs found the functions of a binary.
type FuncSource string

// The sources of function lists, in the order they are tried.
const (
	SourceSymtab    FuncSource = ".symtab"
	SourceGopclntab FuncSource = ".gopclntab"
	SourceDynsym    FuncSource = ".dynsym"
)

// symbolCache holds the function list and symbol table read once.
type symbolCache struct {
	funcs  []Func       // sorted by name, then address; deduplicated
	source []FuncSource // sources that contributed
	syms   []Symbol     // all defined symbols of .symtab, else .dynsym, sorted by name
	err    error
}

// Funcs returns the functions whose names match pattern, sorted by name
// (then address) and without duplicates. In pattern a '*' matches any run
// of characters (including '/' and '.'), every other character matches
// itself; "" and "*" match everything.
//
// Functions come from .symtab (STT_FUNC symbols) when the file has one.
// Without .symtab, a Go binary's functions come from .gopclntab (which
// stripping keeps) plus any defined .dynsym functions; a C binary's from
// .dynsym. Undefined (imported) symbols and GNU ifunc resolvers are left
// out. Functions from .gopclntab are named as in .symtab, except that
// assembly functions never carry the ".abi0" suffix (see Func), and their
// Size includes the padding up to the next function.
func (b *Binary) Funcs(pattern string) ([]Func, error) {
	sc, err := b.symbols()
	if err != nil {
		return nil, err
	}
	if pattern == "" || pattern == "*" {
		return slices.Clone(sc.funcs), nil
	}
	var out []Func
	for _, f := range sc.funcs {
		if globMatch(pattern, f.Name) {
			out = append(out, f)
		}
	}
	return out, nil
}

// FuncSources tells where the function list of Funcs came from: one or
// more of ".symtab", ".gopclntab", ".dynsym".
func (b *Binary) FuncSources() ([]FuncSource, error) {
	sc, err := b.symbols()
	if err != nil {
		return nil, err
	}
	return slices.Clone(sc.source), nil
}

// abi0Suffix marks Go assembly functions in .symtab (see Func).
const abi0Suffix = ".abi0"

// Func returns the function named exactly name. When several functions
// share the name (C static functions of different files) the one with the
// lowest address is returned; use Funcs for all of them.
//
// Go assembly (ABI0) functions are named "pkg.F.abi0" in .symtab when the
// linker also saw an ABIInternal "pkg.F", but "pkg.F" in .gopclntab, so
// Func also tries the name with ".abi0" added or removed.
//
// On a miss the error wraps ErrNotFound and lists the nearest names (edit
// distance at most 3, or the same name under another package).
func (b *Binary) Func(name string) (Func, error) {
	sc, err := b.symbols()
	if err != nil {
		return Func{}, err
	}
	find := func(n string) (Func, bool) {
		i, ok := slices.BinarySearchFunc(sc.funcs, n, func(f Func, n string) int { return strings.Compare(f.Name, n) })
		if !ok {
			return Func{}, false
		}
		return sc.funcs[i], true
	}
	if f, ok := find(name); ok {
		return f, nil
	}
	// .symtab calls an assembly (ABI0) function "pkg.F.abi0" when an
	// ABIInternal "pkg.F" was linked too; .gopclntab calls it "pkg.F".
	alias := name + abi0Suffix
	if base, ok := strings.CutSuffix(name, abi0Suffix); ok {
		alias = base
	}
	if f, ok := find(alias); ok {
		return f, nil
	}
	names := make([]string, 0, len(sc.funcs))
	for _, f := range sc.funcs {
		names = append(names, f.Name)
	}
	msg := fmt.Sprintf("gobin: %s: function %q: %v", b.Path, name, ErrNotFound)
	if near := nearest(name, names, 3, 5); len(near) > 0 {
		msg += "; did you mean " + strings.Join(near, ", ") + "?"
	}
	return Func{}, &notFoundError{msg}
}

// Symbol returns the defined symbol (of any type) named name, from
// .symtab, else .dynsym. Go data symbols such as runtime.waitReasonStrings
// are only in .symtab.
func (b *Binary) Symbol(name string) (Symbol, error) {
	sc, err := b.symbols()
	if err != nil {
		return Symbol{}, err
	}
	i, ok := slices.BinarySearchFunc(sc.syms, name, func(s Symbol, n string) int { return strings.Compare(s.Name, n) })
	if !ok {
		return Symbol{}, fmt.Errorf("gobin: %s: symbol %q: %w", b.Path, name, ErrNotFound)
	}
	return sc.syms[i], nil
}

// notFoundError is a message that wraps ErrNotFound.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

// symbols loads the function list once.
func (b *Binary) symbols() (*symbolCache, error) {
	b.mu.Lock()
	sc := b.syms
	b.mu.Unlock()
	if sc != nil {
		return sc, sc.err
	}
	sc = b.loadSymbols()
	b.mu.Lock()
	if b.syms == nil {
		b.syms = sc
	}
	sc = b.syms
	b.mu.Unlock()
	return sc, sc.err
}

func (b *Binary) loadSymbols() *symbolCache {
	sc := &symbolCache{}
	var funcs []Func
	add := func(syms []elf.Symbol, src FuncSource) {
		n := 0
		for _, s := range syms {
			if s.Section == elf.SHN_UNDEF || s.Value == 0 {
				continue
			}
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
				off, err := b.fileOffset(s.Value)
				if err != nil {
					continue // e.g. a symbol of a section that is not loaded
				}
				funcs = append(funcs, Func{Name: s.Name, Addr: s.Value, Size: s.Size, Offset: off})
				n++
			}
		}
		if n > 0 {
			sc.source = append(sc.source, src)
		}
	}
	symtab, errSym := b.elf.Symbols()
	dynsym, _ := b.elf.DynamicSymbols()
	switch {
	case errSym == nil && len(symtab) > 0:
		add(symtab, SourceSymtab)
		sc.syms = defined(symtab)
	default:
		if b.IsGo && pclntabSection(b.elf) != nil {
			pf, err := b.pclntabFuncs()
			if err != nil {
				sc.err = err
				return sc
			}
			funcs = append(funcs, pf...)
			sc.source = append(sc.source, SourceGopclntab)
		}
		add(dynsym, SourceDynsym)
		sc.syms = defined(dynsym)
	}
	slices.SortFunc(funcs, func(x, y Func) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), cmp.Compare(x.Addr, y.Addr))
	})
	// Deduplicate equal (name, address) pairs, keeping the largest size.
	out := funcs[:0]
	for _, f := range funcs {
		if n := len(out); n > 0 && out[n-1].Name == f.Name && out[n-1].Addr == f.Addr {
			out[n-1].Size = max(out[n-1].Size, f.Size)
			continue
		}
		out = append(out, f)
	}
	sc.funcs = slices.Clip(out)
	if len(sc.funcs) == 0 {
		sc.err = fmt.Errorf("gobin: %s: no function symbols (no .symtab, .dynsym or .gopclntab functions)", b.Path)
	}
	return sc
}

// defined returns the defined, named symbols sorted by name.
func defined(syms []elf.Symbol) []Symbol {
	var out []Symbol
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF || s.Name == "" {
			continue
		}
		out = append(out, Symbol{Name: s.Name, Addr: s.Value, Size: s.Size, Type: elf.ST_TYPE(s.Info)})
	}
	slices.SortStableFunc(out, func(x, y Symbol) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// globMatch reports whether name matches pattern, where '*' matches any
// run of characters and every other character matches itself.
func globMatch(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// nearest returns up to limit names within edit distance maxDist of name,
// closest first, plus names whose part after the package qualifier equals
// name (so "add" suggests "main.add").
func nearest(name string, names []string, maxDist, limit int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, n := range names {
		if len(n) >= len(name)+1 && strings.HasSuffix(n, name) && strings.ContainsAny(n[len(n)-len(name)-1:len(n)-len(name)], "./") {
			cs = append(cs, cand{n, 0})
			continue
		}
		if d := editDistance(name, n, maxDist); d <= maxDist {
			cs = append(cs, cand{n, d})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Or(cmp.Compare(a.d, b.d), strings.Compare(a.name, b.name)) })
	cs = slices.CompactFunc(cs, func(a, b cand) bool { return a.name == b.name })
	var out []string
	for i := 0; i < len(cs) && i < limit; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, or a value
// above limit as soon as it is known to exceed limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
			rowMin = min(rowMin, c)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
