package gomodule

import (
	"debug/dwarf"
	"debug/elf"
	"debug/gosym"
	"slices"
	"strings"
	"testing"
)

func openTable(t *testing.T, path string, useSymtab bool) (*elf.File, *Table) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tab, err := Open(f, useSymtab)
	if err != nil {
		t.Fatal(err)
	}
	return f, tab
}

// twinOf names the unstripped build with the same layout.
func twinOf(v variant) string {
	switch v.name {
	case "stripped":
		return "default"
	case "pie-stripped":
		return "pie"
	}
	return ""
}

// TestFuncsAgainstSymtab checks, for every toolchain and build, the
// functions recovered from the pclntab without .symtab against the
// symbol table of the unstripped twin (same addresses), and the text
// start against the runtime.text symbol.
func TestFuncsAgainstSymtab(t *testing.T) {
	for _, tc := range toolchains() {
		for _, v := range variants {
			t.Run(tc.version+"/"+v.name, func(t *testing.T) {
				path := buildInl(t, tc, v)
				_, tab := openTable(t, path, false)
				ref := path
				if tw := twinOf(v); tw != "" {
					ref = buildInl(t, tc, variant{name: tw, flags: variantFlags(tw)})
				} else if v.name == "external-stripped" {
					t.Logf("no twin for %s; functions checked only for order", v.name)
					ref = ""
				}
				text, how := tab.TextStart()
				md := tab.Moduledata()
				if md == nil {
					t.Fatal("moduledata not found")
				}
				t.Logf("pclntab at %#x: magic %#x, %d funcs, text %#x from %s; moduledata at %#x (%s), types %#x-%#x, gofunc %#x, %d typelinks, %d itabs",
					tab.Addr(), tab.Header().Magic, tab.NumFuncs(), text, how, md.Addr, md.How, md.Types, md.Etypes, md.Gofunc, md.NTypelinks, md.NItablinks)
				funcs := tab.Funcs()
				if len(funcs) != tab.NumFuncs() || len(funcs) < 500 {
					t.Errorf("Funcs: %d of %d decoded", len(funcs), tab.NumFuncs())
				}
				for i := 1; i < len(funcs); i++ {
					if funcs[i].Entry < funcs[i-1].End {
						t.Fatalf("%s at %#x overlaps %s ending %#x", funcs[i].Name, funcs[i].Entry, funcs[i-1].Name, funcs[i-1].End)
					}
				}
				if ref == "" {
					return
				}
				rf, err := elf.Open(ref)
				if err != nil {
					t.Fatal(err)
				}
				defer rf.Close()
				syms, err := rf.Symbols()
				if err != nil {
					t.Fatal(err)
				}
				type key struct {
					name string
					addr uint64
				}
				at := map[string]uint64{}
				has := map[key]bool{}
				addrs := map[uint64]string{}
				for _, s := range syms {
					if elf.ST_TYPE(s.Info) == elf.STT_FUNC || s.Name == "runtime.text" {
						at[s.Name] = s.Value
						has[key{s.Name, s.Value}] = true
						addrs[s.Value] = s.Name
					}
				}
				if text != at["runtime.text"] {
					t.Errorf("text start %#x (%s), runtime.text is %#x", text, how, at["runtime.text"])
				}
				bad, renamed := 0, 0
				for _, fn := range funcs {
					n := ELFName(fn.Name)
					switch {
					case has[key{n, fn.Entry}], has[key{n + ".abi0", fn.Entry}]:
					case addrs[fn.Entry] != "":
						// Same function, spelled differently by the
						// symbol table of an older linker.
						if renamed++; renamed <= 3 {
							t.Logf("%s at %#x is %s in the symbol table", fn.Name, fn.Entry, addrs[fn.Entry])
						}
					default:
						if bad++; bad <= 5 {
							t.Errorf("%s: pclntab entry %#x is no function symbol's address", fn.Name, fn.Entry)
						}
					}
				}
				if fn, ok := tab.FuncAt(at["main.work"] + 3); !ok || fn.Name != "main.work" || fn.Entry != at["main.work"] {
					t.Errorf("FuncAt(main.work+3) = %+v, %v", fn, ok)
				}
			})
		}
	}
}

func variantFlags(name string) []string {
	for _, v := range variants {
		if v.name == name {
			return v.flags
		}
	}
	return nil
}

// dwarfInline is what DWARF says about a PC: the names of the inlined
// subroutines that contain it, innermost first, with their call lines.
type dwarfInline struct {
	names     []string
	callLines []int
}

// dwarfInlines indexes the DW_TAG_inlined_subroutine entries under the
// subprogram fn: for each PC of fn, the chain of inlined calls.
func dwarfInlines(t *testing.T, d *dwarf.Data, fn string) (lo, hi uint64, at func(pc uint64) dwarfInline) {
	t.Helper()
	names := map[dwarf.Offset]string{}
	type inl struct {
		ranges   [][2]uint64
		name     dwarf.Offset
		callLine int
		depth    int
	}
	var inls []inl
	r := d.Reader()
	depth := 0
	inFn := false
	fnDepth := 0
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			if inFn && depth < fnDepth {
				inFn = false
			}
			continue
		}
		if n, ok := e.Val(dwarf.AttrName).(string); ok && e.Tag == dwarf.TagSubprogram {
			names[e.Offset] = n
			if n == fn {
				if rs, _ := d.Ranges(e); len(rs) > 0 {
					lo, hi = rs[0][0], rs[0][1]
					inFn, fnDepth = true, depth+1
				}
			}
		}
		if inFn && e.Tag == dwarf.TagInlinedSubroutine {
			rs, _ := d.Ranges(e)
			origin, _ := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
			line, _ := e.Val(dwarf.AttrCallLine).(int64)
			in := inl{name: origin, callLine: int(line), depth: depth}
			for _, rg := range rs {
				in.ranges = append(in.ranges, [2]uint64{rg[0], rg[1]})
			}
			inls = append(inls, in)
		}
		if e.Children {
			depth++
		}
	}
	if hi == 0 {
		t.Fatalf("no DWARF subprogram %s", fn)
	}
	return lo, hi, func(pc uint64) dwarfInline {
		var chain []inl
		for _, in := range inls {
			for _, rg := range in.ranges {
				if pc >= rg[0] && pc < rg[1] {
					chain = append(chain, in)
				}
			}
		}
		slices.SortFunc(chain, func(a, b inl) int { return b.depth - a.depth }) // innermost first
		var out dwarfInline
		for _, in := range chain {
			out.names = append(out.names, names[in.name])
			out.callLines = append(out.callLines, in.callLine)
		}
		return out
	}
}

// TestFramesAgainstDWARF checks Frames at every PC of main.work against
// the DWARF of the same build: the inlined calls (DW_TAG_inlined_subroutine
// ranges, innermost first), their call lines (DW_AT_call_line = the line
// of the next frame), and the innermost line against the DWARF line
// table. The stripped twin must give the same frames (found through
// moduledata.gofunc instead of the go:func.* symbol).
func TestFramesAgainstDWARF(t *testing.T) {
	for _, tc := range toolchains() {
		for _, pair := range [][2]string{{"default", "stripped"}, {"pie", "pie-stripped"}} {
			t.Run(tc.version+"/"+pair[0], func(t *testing.T) {
				path := buildInl(t, tc, variant{name: pair[0], flags: variantFlags(pair[0])})
				spath := buildInl(t, tc, variant{name: pair[1], flags: variantFlags(pair[1])})
				f, tab := openTable(t, path, true)
				_, stab := openTable(t, spath, false)
				d, err := f.DWARF()
				if err != nil {
					t.Fatal(err)
				}
				lines := dwarfLines(t, d)
				lo, hi, inlinedAt := dwarfInlines(t, d, "main.work")
				deepest := 0
				for pc := lo; pc < hi; pc++ {
					frames := tab.Frames(pc)
					if len(frames) == 0 {
						t.Fatalf("%#x: no frames", pc)
					}
					if last := frames[len(frames)-1]; last.Func != "main.work" || last.Inlined {
						t.Errorf("%#x: outermost frame %+v, want main.work", pc, last)
					}
					want := inlinedAt(pc)
					var got []string
					for _, fr := range frames[:len(frames)-1] {
						got = append(got, fr.Func)
					}
					if !slices.Equal(got, want.names) {
						t.Errorf("%#x: inlined %v, DWARF says %v", pc, got, want.names)
						continue
					}
					for i, cl := range want.callLines {
						if frames[i+1].Line != cl {
							t.Errorf("%#x: frame %d (%s) at line %d, DWARF call line %d", pc, i+1, frames[i+1].Func, frames[i+1].Line, cl)
						}
					}
					if l, ok := lines[pc]; ok && (frames[0].Line != l.line || frames[0].File != l.file) {
						t.Errorf("%#x: innermost %s:%d, DWARF line table %s:%d", pc, frames[0].File, frames[0].Line, l.file, l.line)
					}
					if !strings.HasSuffix(frames[0].File, "/main.go") {
						t.Errorf("%#x: file %q", pc, frames[0].File)
					}
					deepest = max(deepest, len(got))
					if sf := stab.Frames(pc); !slices.Equal(sf, frames) {
						t.Errorf("%#x: stripped build gives %+v, unstripped %+v", pc, sf, frames)
					}
				}
				if deepest < 3 {
					t.Errorf("main.work has at most %d inlined frames at a PC; want outer, middle, inner", deepest)
				}
				if got := tab.Frames(0); got != nil {
					t.Errorf("Frames(0) = %v", got)
				}
			})
		}
	}
}

type fileLine struct {
	file string
	line int
}

// dwarfLines maps each address that starts a line-table row to its
// position.
func dwarfLines(t *testing.T, d *dwarf.Data) map[uint64]fileLine {
	t.Helper()
	out := map[uint64]fileLine{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		lr, err := d.LineReader(e)
		if err != nil || lr == nil {
			r.SkipChildren()
			continue
		}
		var le dwarf.LineEntry
		for lr.Next(&le) == nil {
			if !le.EndSequence && le.File != nil {
				out[le.Address] = fileLine{le.File.Name, le.Line}
			}
		}
		r.SkipChildren()
	}
	return out
}

// TestLinesAgainstGosym compares, over all of the runtime package's
// code, the innermost file:line and the physical function of Frames with
// debug/gosym (which knows no inlining), for Go versions whose pcHeader
// gosym can use.
func TestLinesAgainstGosym(t *testing.T) {
	for _, tc := range toolchains() {
		t.Run(tc.version, func(t *testing.T) {
			path := buildInl(t, tc, variants[0])
			f, tab := openTable(t, path, true)
			pcln, _, _ := FindPclntab(f)
			text, _ := tab.TextStart()
			gt, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, text))
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, fn := range tab.Funcs() {
				if !strings.HasPrefix(fn.Name, "runtime.") {
					continue
				}
				for pc := fn.Entry; pc < fn.End; pc += 7 {
					frames := tab.Frames(pc)
					file, line, gf := gt.PCToLine(pc)
					if len(frames) == 0 || gf == nil {
						t.Fatalf("%#x: frames %v, gosym func %v", pc, frames, gf)
					}
					if line < 0 {
						line = 0 // no position: gosym says -1
					}
					if frames[0].File != file || frames[0].Line != line || frames[len(frames)-1].Func != gf.Name {
						t.Fatalf("%#x: %s:%d in %s, gosym %s:%d in %s", pc, frames[0].File, frames[0].Line, frames[len(frames)-1].Func, file, line, gf.Name)
					}
					checked++
				}
			}
			t.Logf("%d PCs agree with debug/gosym", checked)
		})
	}
}
