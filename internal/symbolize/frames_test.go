package symbolize

import (
	"debug/elf"
	"debug/gosym"
	"os"
	"testing"

	"github.com/ebpftrace/ebpftrace/internal/gomodule"
)

// TestFramesDebian names PCs of Debian's stripped prometheus (go1.19.8,
// the pre-1.20 pclntab and inline tree layouts) through FramesExe: the
// innermost file:line and the function whose code holds the PC agree with
// debug/gosym (what go tool addr2line prints), and PCs inside inlined
// code give more than one frame.
func TestFramesDebian(t *testing.T) {
	const path = "/usr/bin/prometheus"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s is not installed (apt-get install prometheus)", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := gomodule.Open(f, false)
	if err != nil {
		t.Fatal(err)
	}
	pcln, _, _ := gomodule.FindPclntab(f)
	text, _ := tab.TextStart()
	gt, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, text))
	if err != nil {
		t.Fatal(err)
	}
	u := NewUser()
	defer u.Close()
	fn := gt.LookupFunc("net/http.(*conn).serve")
	if fn == nil {
		t.Fatal("no net/http.(*conn).serve in prometheus")
	}
	inlined := 0
	for pc := fn.Entry; pc < fn.End; pc += 3 {
		fr := u.FramesExe(path, pc)
		file, line, g := gt.PCToLine(pc)
		if line < 0 {
			file, line = "", 0
		}
		if len(fr) == 0 || fr[0].File != file || fr[0].Line != line || fr[len(fr)-1].Func != g.Name || fr[len(fr)-1].Inlined {
			t.Fatalf("%#x: %+v; gosym %s:%d in %s", pc, fr, file, line, g.Name)
		}
		if len(fr) > 1 {
			inlined++
		}
	}
	if inlined == 0 {
		t.Error("no PC of net/http.(*conn).serve shows inlined frames")
	}
	t.Logf("net/http.(*conn).serve: %d of %d PCs have inlined frames", inlined, (fn.End-fn.Entry)/3)
}
